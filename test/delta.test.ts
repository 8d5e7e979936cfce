import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, deflateRawSync, gunzipSync, gzipSync } from 'node:zlib';
import { type Manifest, manifestKey, parseManifestJson, serializeManifest } from '@sqlitening/contract';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Agent, type AgentOptions } from '../src/agent/agent.js';
import { buildAndPublish } from '../src/action/run-action.js';
import type { BuildSettings } from '../src/action/settings.js';
import { publishSnapshot } from '../src/publish/publish.js';
import { type DeltaRecord, encodeDeltaHeader, encodePatchRecord } from '../src/wire/delta-format.js';
import { DeltaParser } from '../src/wire/delta-parser.js';
import { pageHashes } from './helpers/page-hashes.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';
import { HttpStore } from '../src/store/http-store.js';
import { DOWNLOAD_TEMP_MARK } from '../src/transfer/download.js';
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

async function publish(file: string, options: { keep?: number; deltaMaxShare?: number; bases?: string[] } = {}): Promise<Manifest> {
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
    baseFiles: options.bases,
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

async function openAgent(options: Pick<AgentOptions, 'noDelta' | 'reverifyAtStart'> & { stallTimeoutMs?: number } = {}): Promise<Agent> {
  const { stallTimeoutMs, ...rest } = options;
  agent = await Agent.open({ store: new HttpStore({ baseUrl: server.url, stallTimeoutMs }), database: live(), appGitSha: SHA_A, attempts: 1, ...rest });
  return agent;
}

/** Temp files (downloads, page-hash lists) in a folder. */
const tempsIn = (folder: string): string[] => readdirSync(folder).filter((name) => name.startsWith(DOWNLOAD_TEMP_MARK));

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

  it("prunes deltas of both formats and chunk lists with their snapshot, but the chunk list of the commit's first", async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 500, 1);
    const kept: Manifest[] = [];
    for (let revision = 1; revision <= 4; revision++) {
      const base = path.join(dir, `prune-base-${n}-${revision}.db`);
      copyFileSync(file, base);
      if (revision > 1) refresh(file, revision);
      kept.push(await publish(file, { keep: 2, bases: [base] }));
    }
    expect(kept[1]!.patches).toHaveLength(1);
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
    for (const delta of [...kept[3]!.deltas, ...kept[3]!.patches]) expect(keys).toContain(delta.key);
    expect(keys.filter((key) => key.includes('.patch-'))).toHaveLength(2);
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
    // The new page hashes are the live file's saved list now; no list of either install is left behind.
    expect(readFileSync(path.join(pod, '.sqlitening', 'chunks.bin')).equals(pageHashes(live()))).toBe(true);
    expect(tempsIn(pod)).toEqual([]);
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
      agent = await openAgent({ stallTimeoutMs: 1000 });
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
    agent = await openAgent();
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
    // Neither the refused delta's list nor the base's is left behind.
    expect(tempsIn(pod)).toEqual([]);
    expect(readFileSync(path.join(pod, '.sqlitening', 'chunks.bin')).equals(pageHashes(live()))).toBe(true);
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
    expect(saved.equals(pageHashes(live()))).toBe(true);
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
    // `pull` keeps no state: no page-hash list of the destination, its base or the new file stays.
    expect(tempsIn(pod)).toEqual([]);
    copyFileSync(target, `${target}.copy`);
    expect(manifestKey(SHA_A)).toContain(SHA_A);
  });
});

/**
 * A refresh that moves rows between pages, not only edits them in place: rows inserted in the middle of an
 * index (its pages split), rows appended (pages past the base's end), 1% of the bodies edited.
 */
function refreshWithInserts(file: string, revision: number): void {
  const db = new Database(file);
  db.exec('CREATE INDEX IF NOT EXISTS posts_by_title ON posts (title)');
  const insert = db.prepare('INSERT INTO posts (title, body) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < 40; i++) insert.run(`Release ${i * 50}.5 rev ${revision}`, `Notes added in revision ${revision}, number ${i}. `.repeat(15));
  })();
  db.prepare('UPDATE posts SET body = ? || body WHERE id % 100 = ?').run(`rev ${revision} `, revision % 100);
  db.close();
}

/** A snapshot file as it was at publish time: the base a later publish makes format-2 deltas from. */
function keep(file: string, name: string): string {
  const copy = path.join(dir, `${name}-${n}.db`);
  copyFileSync(file, copy);
  return copy;
}

/** The records of a stored format-2 delta. */
async function patchRecordsOf(key: string): Promise<DeltaRecord[]> {
  const records: DeltaRecord[] = [];
  await pipeline(Readable.from([gunzipSync(await readFile(path.join(root, key)))]), new DeltaParser(key, 2, () => {}), async (source) => {
    for await (const batch of source) records.push(...(batch as DeltaRecord[]));
  });
  return records;
}

describe("delta format 2: pages as patches against the pod's pages", () => {
  it('publishes a patch delta beside the format-1 one from a base whose file is given, and the agent installs it byte for byte into the live file', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    refreshWithInserts(file, 1);
    const v1 = await publish(file);
    const a = await openAgent();
    expect((await a.runOnce()).ok).toBe(true);
    const inode = statSync(live()).ino;
    for (let revision = 2; revision <= 4; revision++) {
      const base = keep(file, `base-${revision}`);
      refreshWithInserts(file, revision);
      const next = await publish(file, { bases: [base] });
      // Format 1 for every base (agents that read only it), format 2 from the base whose file was given.
      expect(next.deltas.map((d) => d.base.sha256)).toEqual(next.history.map((h) => h.sha256));
      expect(next.patches).toHaveLength(1);
      const [patch] = next.patches;
      const [whole] = next.deltas;
      expect(patch).toMatchObject({ format: 2, base: whole!.base, pages: whole!.pages, key: expect.stringMatching(/\.patch-[0-9a-f]{16}\.gz$/) });
      expect(patch!.size).toBeLessThan(whole!.size / 2);
      const result = await a.runOnce();
      expect(result.ok && result.outcome.status === 'installed' && result.outcome.method).toBe('delta');
      // In place: the same file, which connections the app holds keep reading.
      expect(result.ok && result.outcome.status === 'installed' && result.outcome.replaced).toBeNull();
      expect(statSync(live()).ino).toBe(inode);
      expect(a.state.lastInstall).toMatchObject({ method: 'delta', bytes: patch!.size, fallback: null });
      expect(sha256(live())).toBe(next.database.sha256);
      expect(readFileSync(live()).equals(readFileSync(file))).toBe(true);
      // The rows the inserts moved come from other pages: some records name pages besides their own.
      const records = await patchRecordsOf(patch!.key);
      expect(records.map((r) => r.index)).toEqual([...records.map((r) => r.index)].sort((x, y) => y - x));
      expect(records.some((r) => r.kind === 'patch' && r.dictionary.some((page) => page !== r.index))).toBe(true);
      expect(records.some((r) => r.index >= v1.database.pageCount)).toBe(true);
    }
  });

  it('sqlitening pull applies a patch delta to a copy of the destination', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    await publish(file);
    const target = path.join(pod, 'pulled.db');
    const pull = () => runCli(['pull', target, '--store', server.url, '--git-sha', SHA_A, '--json']);
    expect((await pull()).events.at(-1)).toMatchObject({ method: 'full' });
    const base = keep(file, 'base');
    refreshWithInserts(file, 2);
    const v2 = await publish(file, { bases: [base] });
    expect((await pull()).events.at(-1)).toMatchObject({ method: 'delta', bytesReceived: v2.patches[0]!.size });
    expect(sha256(target)).toBe(v2.database.sha256);
  });

  it('makes format-2 deltas from every base whose file is given, and format 1 alone from the others', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    const first = keep(file, 'v1');
    const v1 = await publish(file);
    refreshWithInserts(file, 2);
    const second = keep(file, 'v2');
    const v2 = await publish(file);
    refreshWithInserts(file, 3);
    const v3 = await publish(file, { bases: [second, first] });
    expect(v3.patches.map((p) => p.base.sha256)).toEqual([v2.database.sha256, v1.database.sha256]);
    refreshWithInserts(file, 4);
    // No file at hand: format 1 from each base, as before.
    const v4 = await publish(file);
    expect(v4.patches).toEqual([]);
    expect(v4.deltas).toHaveLength(3);
  });

  it('the Action keeps the snapshot its build starts from and publishes format-2 deltas from it', async () => {
    const workspace = path.join(dir, `workspace-${n}`);
    await mkdir(path.join(workspace, 'db'), { recursive: true });
    await writeFile(path.join(workspace, 'db', '001.sql'), 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);');
    // The first run loads 4,000 rows; each later one adds 100 and edits 2%: a scheduled refresh of the published snapshot.
    const loader = `node -e "const D=require('better-sqlite3');const d=new D(process.env.SQLITENING_DB);const n=d.prepare('SELECT count(*) c FROM notes').get().c;const i=d.prepare('INSERT INTO notes (body) VALUES (?)');for(let k=0;k<(n?100:4000);k++)i.run('note '+(n+k)+' '+require('crypto').randomBytes(80).toString('hex'));d.prepare('UPDATE notes SET body=body||? WHERE id%50=0').run(' edited '+n)"`;
    const settings: BuildSettings = {
      stores: [{ url: root }],
      migrationsDir: path.join(workspace, 'db'),
      migrateCommand: undefined,
      loaders: [loader],
      startFrom: 'published',
      database: path.join(workspace, 'site.db'),
      encoding: 'gzip',
      level: undefined,
      keep: 5,
      graceMs: 0,
      vacuum: 'never',
      vacuumThreshold: 0.25,
      publicBaseUrl: undefined,
      workingDirectory: process.cwd(),
      dryRun: false,
      signingKey: null,
      name: null,
      expiresInMs: null,
    };
    const io = { info: () => {}, commandOutput: process.stderr, sqlite: betterSqlite3Driver };
    const first = await buildAndPublish(settings, SHA_A, [store], {}, io);
    expect(first.result.manifest.patches).toEqual([]);
    // Keys have whole seconds: the second run (in this process, with no clock of its own to pass) sees a clock 1.1 s ahead.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 1100, shouldAdvanceTime: true });
    const second = await buildAndPublish(settings, SHA_A, [store], {}, io).finally(() => vi.useRealTimers());
    const { manifest } = second.result;
    expect(manifest.patches.map((p) => p.base.sha256)).toEqual([first.result.manifest.database.sha256]);
    expect(manifest.patches[0]!.size).toBeLessThan(manifest.deltas[0]!.size);
    // The kept snapshot is removed once published.
    expect((await import('node:fs')).readdirSync(workspace).filter((name) => name.startsWith('.sqlitening-base'))).toEqual([]);
  });
});

describe('hostile and corrupt format-2 deltas fall back to the full object', () => {
  /** v1 installed on the agent, v2 published with a patch delta from it. */
  async function installedAndPatched(): Promise<{ v1: Manifest; v2: Manifest; file: string }> {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    const v1 = await publish(file);
    agent = await openAgent({ stallTimeoutMs: 1000 });
    expect((await agent.runOnce()).ok).toBe(true);
    const base = keep(file, 'base');
    refreshWithInserts(file, 2);
    const v2 = await publish(file, { bases: [base] });
    expect(v2.patches).toHaveLength(1);
    return { v1, v2, file };
  }

  /** Replaces v2's patch delta with `records` (after a true header), and the manifest's sizes with theirs, so only the records are wrong. */
  async function forge(v1: Manifest, v2: Manifest, records: Buffer[], count = records.length): Promise<void> {
    const raw = Buffer.concat([
      encodeDeltaHeader({
        format: 2,
        pageSize: 4096,
        pageCount: v2.database.pageCount,
        pages: count,
        baseSha256: v1.database.sha256,
        targetSha256: v2.database.sha256,
        basePageCount: v1.database.pageCount,
      }),
      ...records,
    ]);
    const stored = gzipSync(raw);
    const patch = v2.patches[0]!;
    await writeFile(path.join(root, patch.key), stored);
    const manifest = parseManifestJson(await readFile(path.join(root, manifestKey(SHA_A)), 'utf8'));
    manifest.patches = [{ ...patch, size: stored.length, rawSize: raw.length }];
    await writeFile(path.join(root, manifestKey(SHA_A)), serializeManifest(manifest));
  }

  const top = (v2: Manifest) => v2.database.pageCount - 1;
  /** The page a forged delta breaks, where the message must name it. */
  let badPage: number | undefined;
  beforeEach(() => {
    badPage = undefined;
  });
  const cases: Array<[string, (v1: Manifest, v2: Manifest) => Promise<void>, RegExp]> = [
    [
      'a record names a dictionary page the file does not hold',
      (v1, v2) => forge(v1, v2, [encodePatchRecord(top(v2), [v2.database.pageCount + 3], deflateRawSync(Buffer.alloc(4096)))]),
      /^corrupt-body: .*names page \d+ as dictionary/,
    ],
    [
      'a record names another page as its dictionary than the one it was made with',
      async (v1, v2) => {
        const records = await patchRecordsOf(v2.patches[0]!.key);
        const bytes = records.map((r) => {
          if (r.kind !== 'patch') throw new Error('expected patches');
          // Every record's last dictionary page is its own (or the likeliest other): point it one page lower.
          return encodePatchRecord(r.index, r.dictionary.length ? [...r.dictionary.slice(0, -1), Math.max(0, r.dictionary.at(-1)! - 1)] : [], r.patch);
        });
        await forge(v1, v2, bytes);
      },
      /^(corrupt-body|checksum-mismatch)/,
    ],
    [
      'a patch inflates past one page',
      (v1, v2) => forge(v1, v2, [encodePatchRecord(top(v2), [], deflateRawSync(Buffer.alloc(8192, 1)))]),
      /^corrupt-body: .*does not inflate to a page/,
    ],
    [
      'a patch inflates to less than a page',
      (v1, v2) => forge(v1, v2, [encodePatchRecord(top(v2), [], deflateRawSync(Buffer.alloc(4095, 1)))]),
      /^corrupt-body: .*inflates to 4095 bytes/,
    ],
    [
      'a record names more dictionary pages than deflate can use',
      (v1, v2) => forge(v1, v2, [encodePatchRecord(top(v2), [1, 2, 3, 4, 5, 6, 7, 8, 9], deflateRawSync(Buffer.alloc(4096)))]),
      /^corrupt-body: .*names 9 dictionary pages/,
    ],
    [
      'a patch claims more bytes than any page needs',
      (v1, v2) => {
        const record = encodePatchRecord(top(v2), [], Buffer.alloc(8));
        record.writeUInt32BE(0xffff_ffff, 5);
        return forge(v1, v2, [record]);
      },
      /^corrupt-body: .*a patch of 4294967295 bytes/,
    ],
    [
      'the stream is cut inside a record',
      (v1, v2) => forge(v1, v2, [encodePatchRecord(top(v2), [], deflateRawSync(Buffer.alloc(4096))).subarray(0, 12)]),
      /^invalid-document: .*ended early/,
    ],
    [
      'the stored object is truncated',
      async (_v1, v2) => {
        const key = path.join(root, v2.patches[0]!.key);
        const bytes = await readFile(key);
        await writeFile(key, bytes.subarray(0, bytes.length >> 1));
      },
      /^(corrupt-body|size-mismatch)/,
    ],
    [
      'one patch among many inflates to less than a page (it is named)',
      async (v1, v2) => {
        const records = await patchRecordsOf(v2.patches[0]!.key);
        const bad = records[2]!;
        const bytes = records.map((r) => {
          if (r.kind !== 'patch') throw new Error('expected patches');
          // Flushed like a real patch, so that inflated with the others it shifts what follows rather than ending the stream.
          const patch = r === bad ? deflateRawSync(Buffer.alloc(4095, 1), { finishFlush: zlibConstants.Z_SYNC_FLUSH }) : r.patch;
          return encodePatchRecord(r.index, r.dictionary, patch);
        });
        await forge(v1, v2, bytes);
        badPage = bad.index;
      },
      /^corrupt-body: .*: page \d+: the patch inflates to 4095 bytes, expected 4096/,
    ],
    [
      'page indexes rise instead of falling',
      (v1, v2) =>
        forge(
          v1,
          v2,
          [0, 1].map((index) => encodePatchRecord(index, [index], deflateRawSync(Buffer.alloc(4096)))),
        ),
      /out of order/,
    ],
  ];
  for (const [name, breakIt, reason] of cases) {
    it(`when ${name}`, async () => {
      const { v1, v2 } = await installedAndPatched();
      await breakIt(v1, v2);
      const result = await agent!.runOnce();
      expect(result.ok, result.ok ? '' : String(result.error)).toBe(true);
      expect(agent!.state.lastInstall?.method).toBe('full');
      expect(agent!.state.lastInstall?.fallback).toMatch(reason);
      if (badPage !== undefined) expect(agent!.state.lastInstall?.fallback).toContain(`page ${badPage}:`);
      expect(sha256(live())).toBe(v2.database.sha256);
    });
  }
});

describe('publish --base refuses a file that is not an earlier snapshot', () => {
  const cli = (file: string, base: string) => runCli(['publish', file, '--store', root, '--git-sha', SHA_A, '--grace', '0s', '--base', base, '--json']);

  it('refuses another database, a copy with one changed page, and a missing file, before anything is uploaded', async () => {
    const file = path.join(dir, `build-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    // The first snapshot has nothing to make a delta from: the base is not needed, and not looked at.
    const first = await cli(file, path.join(dir, 'no-such-file.db'));
    expect(first.code, first.stderr).toBe(0);
    expect(first.events.find((e) => e.event === 'publish.base-unused')).toBeTruthy();
    const good = keep(file, 'good');
    refreshWithInserts(file, 2);

    const other = path.join(dir, `other-${n}.db`);
    makeContentDatabase(other, 2000, 7);
    const flipped = keep(good, 'flipped');
    const bytes = readFileSync(flipped);
    bytes[4096 + 200]! ^= 0xff; // page 1, which the update changes (the posts table's root), so a delta would read it
    await writeFile(flipped, bytes);
    const before = (await store.list(`${SHA_A}/`)).map((o) => o.key).sort();
    for (const [base, message] of [
      [other, /is none of the earlier snapshots deltas are made from \(not [0-9a-f]{12}: /],
      [flipped, /is none of the earlier snapshots .*its page 1 differs from that snapshot's/],
      [path.join(dir, 'no-such-file.db'), /does not exist/],
    ] as const) {
      const refused = await cli(file, base);
      expect(refused.code, refused.stdout).toBe(2);
      expect(refused.stderr).toMatch(message);
      expect((await store.list(`${SHA_A}/`)).map((o) => o.key).sort()).toEqual(before);
    }
    const accepted = await cli(file, good);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.events.at(-1)).toMatchObject({ patches: [expect.objectContaining({ format: 2 })] });
  });
});
