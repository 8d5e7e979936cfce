import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Manifest, manifestKey } from '@sqlitening/contract';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent/agent.js';
import { publishSnapshot } from '../src/publish/publish.js';
import { hashFileChunks } from '../src/snapshot/chunk-hashes.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';
import { HttpStore } from '../src/store/http-store.js';
import { LocalStore } from '../src/store/local-store.js';
import { runCli } from './helpers/cli.js';
import { FaultServer } from './helpers/fault-server.js';
import { makeContentDatabase, SHA_A, tempFolder } from './helpers/fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
let root: string;
let store: LocalStore;
let server: FaultServer;
let pod: string;
let agent: Agent | undefined;
let n = 0;
// Ahead of the files' mtimes, so that retention sees every snapshot as past its grace period.
let clock = Date.now() + 86_400_000;

beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('delta'));
});
afterAll(() => cleanup());
beforeEach(async () => {
  n++;
  root = path.join(dir, `store-${n}`);
  pod = path.join(dir, `pod-${n}`);
  await mkdir(pod);
  store = new LocalStore(root);
  server = new FaultServer(root);
  await server.start();
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await server.stop();
});

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const live = (): string => path.join(pod, 'site.db');

/** A content database of 2,000 posts; each refresh updates 1% of the rows in place (no VACUUM), as a scheduled load would. */
function refresh(file: string, revision: number): void {
  const db = new Database(file);
  db.prepare('UPDATE posts SET body = ? || body WHERE id % 100 = ?').run(`rev ${revision} `, revision % 100);
  db.close();
}

async function publish(file: string, options: { keep?: number; deltaMaxShare?: number } = {}): Promise<Manifest> {
  clock += 60_000;
  const result = await publishSnapshot({
    store,
    sqlite: betterSqlite3Driver,
    database: file,
    gitSha: SHA_A,
    encoding: 'gzip',
    retention: { keep: options.keep ?? 5, graceMs: 0 },
    check: true,
    deltaMaxShare: options.deltaMaxShare,
    dryRun: false,
    tempDir: dir,
    now: () => new Date(clock),
  });
  return result.manifest;
}

/** v1, then v2 and v3 refreshed from it: the usual life of a commit's data. */
async function history(): Promise<{ file: string; v1: Manifest; v2: Manifest; v3: Manifest }> {
  const file = path.join(dir, `build-${n}.db`);
  makeContentDatabase(file, 2000, 1);
  const v1 = await publish(file);
  refresh(file, 2);
  const v2 = await publish(file);
  refresh(file, 3);
  const v3 = await publish(file);
  return { file, v1, v2, v3 };
}

async function openAgent(options: { noDelta?: boolean; reverifyAtStart?: boolean } = {}): Promise<Agent> {
  agent = await Agent.open({ store: new HttpStore({ baseUrl: server.url }), database: live(), appGitSha: SHA_A, attempts: 1, ...options });
  return agent;
}

describe('publishing deltas', () => {
  it('writes one delta per kept earlier snapshot, from chunk lists alone, and records the chunk root', async () => {
    const { v1, v2, v3 } = await history();
    expect(v1.deltas).toEqual([]);
    expect(v2.deltas.map((d) => d.base.sha256)).toEqual([v1.database.sha256]);
    expect(v3.deltas.map((d) => d.base.sha256)).toEqual([v2.database.sha256, v1.database.sha256]);
    expect(v3.history.map((h) => h.sha256)).toEqual([v2.database.sha256, v1.database.sha256]);
    expect(v3.chunks).toMatchObject({ size: 4096, count: v3.database.pageCount });
    const [fromV2, fromV1] = v3.deltas;
    expect(fromV2!.pages).toBeGreaterThan(0);
    expect(fromV2!.pages).toBeLessThan(v3.database.pageCount / 4);
    expect(fromV2!.size).toBeLessThan(v3.object.size / 4);
    expect(fromV1!.pages).toBeGreaterThanOrEqual(fromV2!.pages);
    // The chunk list is named in the manifest and its hash is the root.
    const list = await readFile(path.join(root, v3.chunks!.key));
    expect(createHash('sha256').update(list).digest('hex')).toBe(v3.chunks!.root);
  });

  it('needs no earlier snapshot object: only its chunk list', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    const v1 = await publish(file);
    await rm(path.join(root, v1.object.key));
    refresh(file, 2);
    const v2 = await publish(file);
    expect(v2.deltas).toHaveLength(1);
  });

  it('skips a delta larger than the configured share of the full object', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    await publish(file);
    const other = path.join(dir, `other-${n}.db`);
    makeContentDatabase(other, 2000, 7);
    const v2 = await publish(other, { deltaMaxShare: 0.5 });
    expect(v2.deltas).toEqual([]);
  });

  it("prunes deltas and chunk lists with their snapshot, but the chunk list of the commit's first", async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 500, 1);
    const kept: Manifest[] = [];
    for (let revision = 1; revision <= 4; revision++) {
      if (revision > 1) refresh(file, revision);
      kept.push(await publish(file, { keep: 2 }));
    }
    const keys = (await store.list(`${SHA_A}/`)).map((o) => o.key);
    const second = kept[1]!.object.key.replace(/\.db\.gz$/, '');
    expect(
      keys.filter((key) => key.startsWith(second)),
      keys.join('\n'),
    ).toEqual([]);
    // The first snapshot is past the retention too, but its chunk list stays: the base for images that baked it.
    expect(keys).not.toContain(kept[0]!.object.key);
    expect(keys).toContain(kept[0]!.chunks!.key);
    expect(kept[3]!.history.map((entry) => entry.sha256)).toEqual([kept[2]!.database.sha256, kept[0]!.database.sha256]);
    expect(keys).toContain(kept[3]!.chunks!.key);
    for (const delta of kept[3]!.deltas) expect(keys).toContain(delta.key);
  });
});

describe('the pod applies deltas', () => {
  it('installs by delta, byte-identical to the published file, and reports the method and bytes', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    const v1 = await publish(file);
    const a = await openAgent();
    expect((await a.runOnce()).ok).toBe(true);
    expect(a.state.lastInstall?.method).toBe('full');
    refresh(file, 2);
    const v2 = await publish(file);
    const result = await a.runOnce();
    expect(result.ok && result.outcome.status === 'installed' && result.outcome.method).toBe('delta');
    expect(sha256(live())).toBe(v2.database.sha256);
    expect(a.state.lastInstall).toMatchObject({ method: 'delta', bytes: v2.deltas[0]!.size, fallback: null });
    expect(v2.deltas[0]!.size).toBeLessThan(v2.object.size / 4);
    const report = await a.report();
    expect(report.lastInstall?.method).toBe('delta');
    const metrics = await a.metrics!.registry.metrics();
    const store = `store="0",store_location="${server.url}"`;
    expect(metrics).toContain(`sqlitening_sync_total{method="delta",${store}} 1`);
    expect(metrics).toContain(`sqlitening_sync_total{method="full",${store}} 1`);
    expect(metrics).toContain(`sqlitening_sync_bytes_total{method="delta",${store}} ${v2.deltas[0]!.size}`);
    expect(v1.deltas).toEqual([]);
  });

  it("installs by delta on a pod started from the commit's first snapshot (baked into an image) 24 updates later", async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    const first = await publish(file, { keep: 3 });
    const baked = path.join(dir, `baked-${n}.db`);
    copyFileSync(file, baked);
    let last = first;
    for (let revision = 2; revision <= 25; revision++) {
      refresh(file, revision);
      last = await publish(file, { keep: 3 });
    }
    expect(await store.head(first.object.key)).toBeUndefined();
    expect(last.history.at(-1)?.sha256).toBe(first.database.sha256);
    const fromFirst = last.deltas.find((delta) => delta.base.sha256 === first.database.sha256);
    expect(fromFirst).toBeDefined();
    // The image's file, and no agent state: the pod finds out which snapshot it holds.
    copyFileSync(baked, live());
    const a = await openAgent();
    const result = await a.runOnce();
    expect(result.ok && result.outcome.status === 'installed' && result.outcome.method).toBe('delta');
    expect(sha256(live())).toBe(last.database.sha256);
    expect(a.state.lastInstall).toMatchObject({ method: 'delta', bytes: fromFirst!.size });
    expect(fromFirst!.size).toBeLessThan(last.object.size / 2);
  });

  it('downloads nothing for a pod started from an image that baked the current snapshot', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    const current = await publish(file);
    copyFileSync(file, live());
    const a = await openAgent();
    const result = await a.runOnce();
    expect(result.ok && result.outcome).toMatchObject({ status: 'unchanged', bytesReceived: 0 });
    expect(a.state.installed?.database.sha256).toBe(current.database.sha256);
  });

  const fallbacks: Array<[string, (v2: Manifest) => Promise<void> | void, string]> = [
    ['the delta is missing', async (v2) => rm(path.join(root, v2.deltas[0]!.key)), 'not-found'],
    ['the delta is corrupt', (v2) => void server.faults.set(v2.deltas[0]!.key, { kind: 'flip' }), ''],
    ['the delta stalls', (v2) => void server.faults.set(v2.deltas[0]!.key, { kind: 'stall' }), 'stalled'],
  ];
  for (const [name, breakIt, reason] of fallbacks) {
    it(`falls back to the full object in the same run when ${name}`, async () => {
      const file = path.join(dir, `build-${n}.db`);
      makeContentDatabase(file, 2000, 1);
      await publish(file);
      agent = await Agent.open({
        store: new HttpStore({ baseUrl: server.url }),
        database: live(),
        appGitSha: SHA_A,
        attempts: 1,
        limits: { stallTimeoutMs: 1000, deadlineMs: 3_600_000 },
      });
      expect((await agent.runOnce()).ok).toBe(true);
      refresh(file, 2);
      const v2 = await publish(file);
      await breakIt(v2);
      const result = await agent.runOnce();
      expect(result.ok, result.ok ? '' : String(result.error)).toBe(true);
      expect(agent.state.lastInstall?.method).toBe('full');
      expect(agent.state.lastInstall?.fallback).toMatch(new RegExp(`^${reason}`));
      expect(sha256(live())).toBe(v2.database.sha256);
    });
  }

  it('falls back to the full object when the delta was made from another base', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    await publish(file);
    agent = await Agent.open({ store: new HttpStore({ baseUrl: server.url }), database: live(), appGitSha: SHA_A, attempts: 1 });
    await agent.runOnce();
    refresh(file, 2);
    const v2 = await publish(file);
    const v2Manifest = await readFile(path.join(root, manifestKey(SHA_A)));
    refresh(file, 3);
    const v3 = await publish(file);
    // v2's delta "from v1" now holds v3's delta from v2: its header names another base and target.
    await writeFile(path.join(root, v2.deltas[0]!.key), await readFile(path.join(root, v3.deltas[0]!.key)));
    await writeFile(path.join(root, manifestKey(SHA_A)), v2Manifest);
    const result = await agent.runOnce();
    expect(result.ok).toBe(true);
    expect(agent.state.lastInstall).toMatchObject({ method: 'full', fallback: expect.stringMatching(/^(checksum-mismatch|size-mismatch)/) });
    expect(sha256(live())).toBe(v2.database.sha256);
  });

  it('hashes a large full download on worker threads, and proves it by the root', async () => {
    const file = path.join(dir, `large-${n}.db`);
    const db = new Database(file);
    db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO blobs (data) VALUES (randomblob(3500))');
    db.transaction(() => {
      for (let i = 0; i < 11_000; i++) insert.run();
    })();
    db.close();
    const v1 = await publish(file);
    expect(v1.database.size).toBeGreaterThan(32 * 1024 * 1024);
    const a = await openAgent();
    expect((await a.runOnce()).ok).toBe(true);
    expect(sha256(live())).toBe(v1.database.sha256);
    const saved = await readFile(path.join(pod, '.sqlitening', 'chunks.bin'));
    expect(saved.equals(await hashFileChunks(live(), 4096))).toBe(true);
  });

  it('never trusts saved page hashes for a live file that changed since they were saved (a crash after a rename)', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    await publish(file);
    const a = await openAgent();
    await a.runOnce();
    refresh(file, 2);
    await publish(file);
    // The v2 file lands as the live file, but the state and the saved hashes still say v1, as after a crash.
    copyFileSync(file, `${live()}.new`);
    renameSync(`${live()}.new`, live());
    refresh(file, 3);
    const v3 = await publish(file);
    expect(v3.deltas.length).toBeGreaterThan(0);
    expect((await a.runOnce()).ok).toBe(true);
    expect(sha256(live())).toBe(v3.database.sha256);
    expect(a.state.lastInstall).toMatchObject({ method: 'full', fallback: expect.stringMatching(/^not-a-database/) });
  });

  it('--no-delta downloads the whole object', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    await publish(file);
    const a = await openAgent({ noDelta: true });
    await a.runOnce();
    refresh(file, 2);
    await publish(file);
    await a.runOnce();
    expect(a.state.lastInstall?.method).toBe('full');
  });

  it('re-reads the live file at start and downloads it whole when the disk corrupted it', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 500, 1);
    const v1 = await publish(file);
    const a = await openAgent();
    await a.runOnce();
    await a.stop();
    agent = undefined;
    const bytes = readFileSync(live());
    bytes[bytes.length - 100]! ^= 0xff; // a flipped bit in the last page: SQLite may not notice, the root does
    await writeFile(live(), bytes);
    // A one-shot sync trusts a check younger than --reverify (the install was one); the agent checks at its start.
    const quiet = await openAgent();
    expect((await quiet.runOnce()).ok).toBe(true);
    expect(await quiet.metrics!.registry.metrics()).not.toContain('sqlitening_reverifications_total{result=');
    await quiet.stop();
    const b = await openAgent({ reverifyAtStart: true });
    expect((await b.runOnce()).ok).toBe(true);
    expect(sha256(live())).toBe(v1.database.sha256);
    expect(await b.metrics!.registry.metrics()).toContain('sqlitening_reverifications_total{result="mismatch"} 1');
  });

  it('sqlitening pull uses a delta when the destination holds an earlier snapshot', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    await publish(file);
    const target = path.join(pod, 'pulled.db');
    const pull = () => runCli(['pull', target, '--store', server.url, '--git-sha', SHA_A, '--json']);
    expect((await pull()).events.at(-1)).toMatchObject({ method: 'full' });
    refresh(file, 2);
    const v2 = await publish(file);
    expect((await pull()).events.at(-1)).toMatchObject({ method: 'delta', bytesReceived: v2.deltas[0]!.size });
    expect(sha256(target)).toBe(v2.database.sha256);
    expect((await pull()).events.at(-1)).toMatchObject({ method: 'current', bytesReceived: 0 });
    copyFileSync(target, `${target}.copy`);
    expect(manifestKey(SHA_A)).toContain(SHA_A);
  });
});
