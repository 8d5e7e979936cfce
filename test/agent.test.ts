import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Agent, type AgentOptions } from '../src/agent/agent.js';
import { type Encoding, type Manifest, manifestKey, parseHeartbeats, verifySignature } from '@sqlitening/contract';
import { LockedError } from '../src/errors.js';
import { publishSnapshot } from '../src/publish/publish.js';
import { DOWNLOAD_TEMP_MARK } from '../src/transfer/download.js';
import { HttpStore } from '../src/store/http-store.js';
import { LocalStore } from '../src/store/local-store.js';
import { CLI, runCli } from './helpers/cli.js';
import { FaultServer } from './helpers/fault-server.js';
import { SHA_A, SHA_B, makeContentDatabase, tempFolder } from './helpers/fixtures.js';
import { waitFor } from './helpers/poll.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';

let dir: string;
let cleanup: () => Promise<void>;
let server: FaultServer;
let publisher: LocalStore;
let pod: string;
let agent: Agent | undefined;
let version = 0;
let clock = Date.now();

beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('agent'));
});
afterAll(() => cleanup());
beforeEach(async () => {
  const root = path.join(dir, `store-${++version}`);
  publisher = new LocalStore(root);
  server = new FaultServer(root);
  await server.start();
  pod = path.join(dir, `pod-${version}`);
  await mkdir(pod);
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await server.stop();
});

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const live = () => path.join(pod, 'site.db');

async function publish(seed: number, options: { encoding?: Encoding; gitSha?: string } = {}): Promise<Manifest> {
  const file = path.join(dir, `build-${version}-${seed}.db`);
  makeContentDatabase(file, 300, seed);
  clock += 1000;
  const result = await publishSnapshot({
    store: publisher,
    sqlite: betterSqlite3Driver,
    database: file,
    gitSha: options.gitSha ?? SHA_A,
    encoding: options.encoding ?? 'gzip',
    retention: { keep: 100, graceMs: 3_600_000 },
    check: true,
    // These tests are about the full download; test/delta.test.ts covers deltas.
    deltaMaxShare: 0,
    dryRun: false,
    tempDir: dir,
    now: () => new Date(clock),
  });
  return result.manifest;
}

async function openAgent(overrides: Partial<AgentOptions> = {}): Promise<Agent> {
  agent = await Agent.open({
    store: new HttpStore({ baseUrl: server.url, stallTimeoutMs: 500 }),
    database: live(),
    appGitSha: SHA_A,
    attempts: 1,
    ...overrides,
  });
  return agent;
}

function integrityOk(file: string): boolean {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) === 'ok';
  } finally {
    db.close();
  }
}

describe('sync', () => {
  it("installs the commit's snapshot, then a newer one; idle polls cost one 304", async () => {
    const first = await publish(1);
    const a = await openAgent();
    expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'installed' } });
    expect(sha256(live())).toBe(first.database.sha256);

    const second = await publish(2);
    expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'installed' } });
    expect(sha256(live())).toBe(second.database.sha256);

    const before = server.requests;
    expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'not-modified' } });
    expect(server.requests - before).toBe(1);
    expect(a.state.installed?.database.sha256).toBe(second.database.sha256);
    expect(existsSync(path.join(pod, '.sqlitening', 'tasks', 'database'))).toBe(true);
  });

  it('an unchanged poll touches the database marker and leaves state.json as it was; a change writes it', async () => {
    await publish(1);
    const a = await openAgent();
    await a.runOnce();
    const stateFile = path.join(pod, '.sqlitening', 'state.json');
    const marker = path.join(pod, '.sqlitening', 'tasks', 'database');
    const written = readFileSync(stateFile, 'utf8');
    const markedAt = statSync(marker).mtimeMs;
    await new Promise((resolve) => setTimeout(resolve, 20));

    expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'not-modified' } });
    expect(readFileSync(stateFile, 'utf8')).toBe(written);
    expect(statSync(marker).mtimeMs).toBeGreaterThan(markedAt);
    // The times of the run are the agent's own, in its reports.
    const report = await a.report();
    expect(Date.parse(report.lastSuccessAt!)).toBeGreaterThan(Date.parse(JSON.parse(written).lastSuccessAt));
    expect(report.ok).toBe(true);

    server.faults.set(manifestKey(SHA_A), { kind: 'status', status: 503 });
    expect(await a.runOnce()).toMatchObject({ ok: false, code: 'store-error' });
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).lastError).toMatchObject({ code: 'store-error' });
    server.faults.clear();
    expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'not-modified' } });
    const recovered = JSON.parse(readFileSync(stateFile, 'utf8'));
    expect(recovered.lastError).toBeNull();
    expect(Date.parse(recovered.lastSuccessAt)).toBeGreaterThan(Date.parse(report.lastSuccessAt!));
  });

  it('downloads again when the live file is gone, even if the manifest is unchanged', async () => {
    const first = await publish(1);
    const a = await openAgent();
    await a.runOnce();
    const { rm } = await import('node:fs/promises');
    await rm(live());
    expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'installed' } });
    expect(sha256(live())).toBe(first.database.sha256);
  });
});

describe('faults leave the live database untouched and show in health and metrics', () => {
  /** Installs v1, publishes v2, injects the fault, and expects one failed run with `reason`. */
  async function expectFault(setup: (v2: Manifest) => void | Promise<void>, reason: string, options: { encoding?: Encoding; stall?: boolean } = {}) {
    const v1 = await publish(1, options);
    const a = await openAgent();
    expect((await a.runOnce()).ok).toBe(true);
    const v2 = await publish(2, options);
    await setup(v2);
    const result = await a.runOnce();
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.code).toBe(reason);
    expect(sha256(live())).toBe(v1.database.sha256);
    expect(integrityOk(live())).toBe(true);
    expect((await readdir(pod)).filter((n) => n.startsWith(DOWNLOAD_TEMP_MARK))).toEqual([]);
    const health = await a.report();
    expect(health.lastError?.code).toBe(reason);
    expect(health.database?.sha256).toBe(v1.database.sha256);
    const metrics = await a.metrics!.registry.getSingleMetricAsString('sqlitening_sync_failures_total');
    expect(metrics).toContain(`sqlitening_sync_failures_total{reason="${reason}"} 1`);
  }

  it('truncated body', () => expectFault((v2) => void server.faults.set(v2.object.key, { kind: 'truncate' }), 'connection-reset'));
  it('one flipped byte (gzip)', () => expectFault((v2) => void server.faults.set(v2.object.key, { kind: 'flip' }), 'corrupt-body'));
  it('one flipped byte (uncompressed)', () =>
    expectFault((v2) => void server.faults.set(v2.object.key, { kind: 'flip' }), 'checksum-mismatch', { encoding: 'identity' }));
  it('wrong chunk root in the manifest', () =>
    expectFault((v2) => {
      const wrong = { ...v2, chunks: { ...v2.chunks!, root: 'f'.repeat(64) } };
      server.faults.set(manifestKey(SHA_A), { kind: 'replace', body: JSON.stringify(wrong) });
    }, 'checksum-mismatch'));
  it('HTTP 500', () => expectFault((v2) => void server.faults.set(v2.object.key, { kind: 'status', status: 500 }), 'store-error'));
  it('HTTP 503 on the manifest', () => expectFault(() => void server.faults.set(manifestKey(SHA_A), { kind: 'status', status: 503 }), 'store-error'));
  it('stalled connection', () => expectFault((v2) => void server.faults.set(v2.object.key, { kind: 'stall' }), 'stalled'));
  it('connection reset mid-body', () => expectFault((v2) => void server.faults.set(v2.object.key, { kind: 'reset' }), 'connection-reset'));
  it('a manifest of another git sha', () =>
    expectFault((v2) => {
      server.faults.set(manifestKey(SHA_A), { kind: 'replace', body: JSON.stringify({ ...v2, gitSha: SHA_B }) });
    }, 'wrong-commit'));
  it('a malformed manifest', () =>
    expectFault(
      () => void server.faults.set(manifestKey(SHA_A), { kind: 'replace', body: '{"format":"sqlitening.manifest","version":1}' }),
      'invalid-document',
    ));
  it('a body larger than the manifest says', () =>
    expectFault((v2) => void server.faults.set(v2.object.key, { kind: 'extra', bytes: 4096 }), 'size-mismatch', { encoding: 'identity' }));

  it('retries a transient failure and succeeds', async () => {
    await publish(1);
    const retries: unknown[] = [];
    const a = await openAgent({ attempts: 3, retryBaseDelayMs: 10, log: (event, fields) => event === 'retry' && retries.push(fields) });
    const v2 = await publish(2);
    server.faults.set(v2.object.key, { kind: 'status', status: 503, times: 2 });
    expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'installed' } });
    expect(retries).toMatchObject([
      { attempt: 1, reason: 'store-error' },
      { attempt: 2, reason: 'store-error' },
    ]);
    expect(sha256(live())).toBe(v2.database.sha256);
  });
});

describe('crashes and concurrency', () => {
  /**
   * Installs v1, publishes v2 with a body that stalls halfway, and starts the
   * CLI (`args`) on it; resolves once its temp file exists, mid-download.
   */
  async function stallSecondDownloadIn(args: string[]) {
    const v1 = await publish(1);
    const a = await openAgent();
    await a.runOnce();
    await a.stop();
    agent = undefined;
    const v2 = await publish(2, { encoding: 'identity' });
    server.faults.set(v2.object.key, { kind: 'stall' });
    const child = spawn(process.execPath, [CLI, ...args, '--database', live(), '--store', server.url, '--git-sha', SHA_A, '--stall-timeout', '1h'], {
      stdio: 'ignore',
    });
    await waitFor('the stalled download in the pod folder', async () => (await readdir(pod)).some((n) => n.startsWith(DOWNLOAD_TEMP_MARK)), 10_000);
    return { v1, v2, child };
  }

  it('kill -9 during the download: the restart removes the temp file and the next run succeeds', async () => {
    const { v1, v2, child } = await stallSecondDownloadIn(['sync']);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    // The download's temp file, and the list of page hashes written beside it as it went.
    const left = (await readdir(pod)).filter((n) => n.startsWith(DOWNLOAD_TEMP_MARK));
    expect(left).toHaveLength(2);
    expect(left.filter((n) => n.endsWith('.hashes'))).toHaveLength(1);
    expect(sha256(live())).toBe(v1.database.sha256);

    server.faults.clear();
    const restarted = await openAgent();
    expect((await readdir(pod)).filter((n) => n.startsWith(DOWNLOAD_TEMP_MARK))).toEqual([]);
    expect(await restarted.runOnce()).toMatchObject({ ok: true, outcome: { status: 'installed' } });
    expect(sha256(live())).toBe(v2.database.sha256);
  });

  it('a second agent on the same folder is refused', async () => {
    await publish(1);
    await openAgent();
    await expect(Agent.open({ store: new HttpStore({ baseUrl: server.url }), database: live(), appGitSha: SHA_A })).rejects.toBeInstanceOf(LockedError);
    const second = await runCli(['sync', '--database', live(), '--store', server.url, '--git-sha', SHA_A]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/sqlitening: error: another agent \(\d+@.*\) already manages .*; run one agent per data folder/);
  });

  it('SIGTERM during a download stops cleanly and leaves the live database whole', async () => {
    const { v1, child } = await stallSecondDownloadIn(['agent', '--listen', '127.0.0.1:0']);
    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect((await readdir(pod)).filter((n) => n.startsWith(DOWNLOAD_TEMP_MARK))).toEqual([]);
    expect(sha256(live())).toBe(v1.database.sha256);
    // The lock is free again (its file stays: see acquireLock), and no holder is recorded.
    expect(existsSync(path.join(pod, '.sqlitening', 'agent.lock.holder'))).toBe(false);
    await openAgent();
  });
});

describe('heartbeats', () => {
  it('sends a signed heartbeat after each run; a failing board never fails the sync', async () => {
    const received: Array<{ body: string; check: string }> = [];
    let answer = 204;
    const board = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', async () => {
        const check = await verifySignature({
          secret: 'cluster-secret',
          body,
          timestamp: String(req.headers['x-sqlitening-timestamp'] ?? ''),
          signature: String(req.headers['x-sqlitening-signature'] ?? ''),
        });
        received.push({ body, check });
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => board.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(board.address() as AddressInfo).port}`;
    try {
      const v1 = await publish(1);
      const a = await openAgent({ board: { url, cluster: 'eu-west', pod: 'web-1', secret: 'cluster-secret' } });
      expect((await a.runOnce()).ok).toBe(true);
      expect(received).toHaveLength(1);
      expect(received[0]!.check).toBe('ok');
      const [heartbeat] = parseHeartbeats(received[0]!.body);
      expect(heartbeat).toMatchObject({ cluster: 'eu-west', pod: 'web-1', appGitSha: SHA_A, database: { sha256: v1.database.sha256 }, lastError: null });

      answer = 500;
      expect((await a.runOnce()).ok).toBe(true);
      expect(await a.metrics!.registry.getSingleMetricAsString('sqlitening_heartbeat_failures_total')).toContain('sqlitening_heartbeat_failures_total 1');
    } finally {
      await new Promise((resolve) => board.close(resolve));
    }
  });
});

describe('pull', () => {
  it('fetches the newest snapshot over plain HTTP with no credentials, verified', async () => {
    await publish(1);
    const v2 = await publish(2, { gitSha: SHA_B });
    const target = path.join(dir, `pulled-${version}.db`);
    const result = await runCli(['pull', target, '--store', server.url, '--latest', '--json']);
    expect(result.code).toBe(0);
    expect(result.events.at(-1)).toMatchObject({ command: 'pull', gitSha: SHA_B, sha256: v2.database.sha256 });
    expect(sha256(target)).toBe(v2.database.sha256);
    const missing = await runCli(['pull', target, '--store', server.url, '--git-sha', 'c'.repeat(40)]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${'c'.repeat(40)}/manifest.json not found in ${server.url}`);
  });
});
