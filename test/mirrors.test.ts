import Database from 'better-sqlite3';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { acceptManifest } from '../src/install/accept-manifest.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Heartbeat, LATEST_KEY, type Manifest, manifestKey, parseHeartbeats } from '@sqlitening/contract';
import { Agent } from '../src/agent/agent.js';
import { createHealthServer, listen } from '../src/agent/health-server.js';
import { makeHostCheck } from '../src/agent/host-check.js';
import { publishSnapshot, publishToStores, type PublishToStoresOptions } from '../src/publish/publish.js';
import { keyIdOf } from '../src/signing/keys.js';
import { readManifest } from '../src/wire/manifest-store.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';
import { HttpStore } from '../src/store/http-store.js';
import { LocalStore } from '../src/store/local-store.js';
import { type FailoverEvent, MirrorStore } from '../src/store/mirror-store.js';
import { storeSettingsFromUrl } from '../src/store/open-store.js';
import { runCli } from './helpers/cli.js';
import { type Fault, FaultServer } from './helpers/fault-server.js';
import { makeContentDatabase, SHA_A, tempFolder } from './helpers/fixtures.js';
import { S3_CREDENTIALS, type S3TestServer, startS3Server } from './helpers/s3-server.js';

/*
 * Two real stores, each a folder served over plain HTTP by a FaultServer, which makes the first one fail
 * in each way the fault tests know; publishing writes the folders, the pod reads the HTTP side.
 */

const STALL_MS = 500;
/** How long a failed store is asked last: short, so a test sees the pod go back to the first store. */
const RETRY_AFTER_MS = 200;

let dir: string;
let cleanup: () => Promise<void>;
let n = 0;
let clock = Date.now();
/** How far ahead of the real clock the mirror set's clock (when a failed store is asked first again) runs. */
let failbackAheadMs = 0;
let folders: [LocalStore, LocalStore];
let servers: [FaultServer, FaultServer];
let pod: string;
let agent: Agent | undefined;
let health: Server | undefined;
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const trustedKeys = [{ keyId: keyIdOf(publicKey), key: publicKey }];

beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('mirrors'));
});
afterAll(() => cleanup());
beforeEach(async () => {
  failbackAheadMs = 0;
  n++;
  folders = [new LocalStore(path.join(dir, `store-${n}-a`)), new LocalStore(path.join(dir, `store-${n}-b`))];
  servers = [new FaultServer(folders[0].root), new FaultServer(folders[1].root)];
  await Promise.all(servers.map((s) => s.start()));
  pod = path.join(dir, `pod-${n}`);
  await mkdir(pod);
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  if (health) await new Promise((resolve) => health!.close(resolve));
  health = undefined;
  await Promise.all(servers.map((s) => s.stop()));
});

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const live = () => path.join(pod, 'site.db');

function publishOptions(file: string, overrides: Partial<PublishToStoresOptions> = {}): PublishToStoresOptions {
  clock += 1000;
  const at = clock;
  return {
    stores: folders,
    sqlite: betterSqlite3Driver,
    database: file,
    gitSha: SHA_A,
    encoding: 'gzip',
    retention: { keep: 5, graceMs: 3_600_000 },
    check: true,
    signingKey: privateKey,
    dryRun: false,
    tempDir: dir,
    now: () => new Date(at),
    attempts: 1,
    ...overrides,
  };
}

/** A new database (`seed` changes every row) published to both stores; the manifests they got. */
async function publishBoth(seed: number): Promise<Manifest> {
  const file = path.join(dir, `build-${n}-${seed}.db`);
  makeContentDatabase(file, 300, seed);
  const result = await publishToStores(publishOptions(file, { deltaMaxShare: 0 }));
  expect(result.outcome).toBe('all');
  const [a, b] = result.stores;
  if (a?.status !== 'published' || b?.status !== 'published') throw new Error('expected both stores published');
  // One snapshot, under one key in both stores.
  expect(b.manifest.object).toEqual(a.manifest.object);
  return a.manifest;
}

async function openMirrorAgent(failovers: FailoverEvent[], overrides: { attempts?: number; board?: string } = {}): Promise<Agent> {
  agent = await Agent.open({
    store: new MirrorStore(
      servers.map((s) => new HttpStore({ baseUrl: s.url, stallTimeoutMs: STALL_MS })),
      { retryAfterMs: RETRY_AFTER_MS, onFailover: (event) => failovers.push(event), now: () => Date.now() + failbackAheadMs },
    ),
    database: live(),
    appGitSha: SHA_A,
    trustedKeys,
    attempts: overrides.attempts ?? 1,
    retryBaseDelayMs: 10,
    ...(overrides.board ? { board: { url: overrides.board, cluster: 'eu-west', pod: 'web-1', secret: 'cluster-secret' } } : {}),
  });
  health = createHealthServer({ report: () => agent!.report(), metrics: agent.metrics!, hostAllowed: makeHostCheck(['localhost'], ['127.0.0.0/8']) });
  await listen(health, '127.0.0.1', 0);
  return agent;
}

function get(pathname: string): Promise<{ status: number; body: string }> {
  const { port } = health!.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: pathname, headers: { host: 'localhost' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A board that records the heartbeats it gets. */
async function startBoard(): Promise<{ url: string; heartbeats: Heartbeat[]; close: () => Promise<void> }> {
  const heartbeats: Heartbeat[] = [];
  const board = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      heartbeats.push(...parseHeartbeats(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => board.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(board.address() as AddressInfo).port}`,
    heartbeats,
    close: () => new Promise((resolve) => board.close(() => resolve())),
  };
}

interface Outage {
  name: string;
  /** The reason the first store is left with. */
  reason: string;
  /** Tries per run the pod needs: a body that stalls halfway is read again, from the next store. */
  attempts?: number;
  fail(snapshot: Manifest): void | Promise<void>;
  recover(): void | Promise<void>;
}

const outages: Outage[] = [
  {
    name: 'connection refused (the first store is down)',
    reason: 'store-unreachable',
    fail: () => servers[0].stop(),
    recover: async () => {
      await servers[0].start(Number(new URL(servers[0].url).port));
    },
  },
  {
    name: 'HTTP 500 on every key',
    reason: 'store-error',
    fail: () => {
      servers[0].everyKey = { kind: 'status', status: 500 };
    },
    recover: () => {
      servers[0].everyKey = undefined;
    },
  },
  {
    name: 'no answer at all (a stall before the headers)',
    reason: 'stalled',
    fail: () => {
      servers[0].everyKey = { kind: 'hang' };
    },
    recover: () => {
      servers[0].everyKey = undefined;
    },
  },
  {
    name: 'a snapshot body that stalls halfway',
    reason: 'stalled',
    attempts: 2,
    fail: (snapshot) => void servers[0].faults.set(snapshot.object.key, { kind: 'stall' } satisfies Fault),
    recover: () => servers[0].faults.clear(),
  },
  {
    name: 'HTTP 500 on the snapshot only (the manifest from the first store, the snapshot from the second)',
    reason: 'store-error',
    fail: (snapshot) => void servers[0].faults.set(snapshot.object.key, { kind: 'status', status: 500 } satisfies Fault),
    recover: () => servers[0].faults.clear(),
  },
];

describe('a pod reading two stores', () => {
  for (const outage of outages) {
    it(`keeps installing from the second on ${outage.name}, shows it, and goes back to the first once it recovers`, async () => {
      const board = await startBoard();
      try {
        const failovers: FailoverEvent[] = [];
        const a = await openMirrorAgent(failovers, { attempts: outage.attempts, board: board.url });
        const first = { index: 0, location: servers[0].url };
        const second = { index: 1, location: servers[1].url };

        const v1 = await publishBoth(1);
        expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'installed' } });
        expect(a.state.store).toEqual(first);

        const v2 = await publishBoth(2);
        await outage.fail(v2);
        // One run: the stall timeout (or the error) moves it to the second store within the run.
        expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'installed' } });
        expect(sha256(live())).toBe(v2.database.sha256);
        expect(sha256(live())).not.toBe(v1.database.sha256);
        expect(failovers.map((f) => [f.from.index, f.reason])).toContainEqual([0, outage.reason]);
        const report = JSON.parse((await get('/healthz')).body);
        expect(report).toMatchObject({ ok: true, store: second, lastInstall: { method: 'full', store: second } });
        const metrics = (await get('/metrics')).body;
        expect(metrics).toContain(`sqlitening_sync_total{method="full",store="1",store_location="${servers[1].url}"} 1`);
        expect(metrics).toContain('sqlitening_store_index 1');
        expect(board.heartbeats.at(-1)?.store).toEqual(second);

        await outage.recover();
        failbackAheadMs += RETRY_AFTER_MS + 50; // the failed store's time out is over
        const v3 = await publishBoth(3);
        expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'installed' } });
        expect(sha256(live())).toBe(v3.database.sha256);
        expect(a.state.store).toEqual(first);
        const back = (await get('/metrics')).body;
        expect(back).toContain(`sqlitening_sync_total{method="full",store="0",store_location="${servers[0].url}"} 2`);
        expect(back).toContain('sqlitening_store_index 0');
        expect(board.heartbeats.at(-1)?.store).toEqual(first);
      } finally {
        await board.close();
      }
    });
  }

  it('installs from the second store a commit only it has (a publish that missed the first)', async () => {
    const file = path.join(dir, `only-b-${n}.db`);
    makeContentDatabase(file, 100, 9);
    const only = await publishSnapshot({ ...publishOptions(file), store: folders[1] });
    const failovers: FailoverEvent[] = [];
    const a = await openMirrorAgent(failovers);
    expect(await a.runOnce()).toMatchObject({ ok: true, outcome: { status: 'installed' } });
    expect(sha256(live())).toBe(only.manifest.database.sha256);
    expect(a.state.store?.index).toBe(1);
  });

  it('refuses, in every store, a manifest the trusted key did not sign', async () => {
    await publishBoth(1);
    const a = await openMirrorAgent([]);
    expect((await a.runOnce()).ok).toBe(true);
    // The first store fails; the second serves a manifest re-written without its signature.
    servers[0].everyKey = { kind: 'status', status: 503 };
    const v2 = await publishBoth(2);
    const unsigned = { ...v2 };
    servers[1].faults.set(manifestKey(SHA_A), { kind: 'replace', body: JSON.stringify(unsigned) });
    const result = await a.runOnce();
    expect(result).toMatchObject({ ok: false, code: 'unsigned-manifest' });
    expect(a.state.installed?.database.sha256).not.toBe(v2.database.sha256);
  });
});

describe('publishing to two stores', () => {
  /** 2,000 posts; each refresh rewrites 1% of the rows in place, so deltas stay small. */
  function refresh(file: string, revision: number): void {
    const db = new Database(file);
    db.prepare('UPDATE posts SET body = ? || body WHERE id % 100 = ?').run(`rev ${revision} `, revision % 100);
    db.close();
  }

  it("writes every store's objects before any manifest, each manifest true of its own store", async () => {
    const file = path.join(dir, `refresh-${n}.db`);
    makeContentDatabase(file, 2000, 1);
    // The first store has a history; the second is a new mirror.
    const v1 = await publishSnapshot({ ...publishOptions(file), store: folders[0] });
    refresh(file, 2);
    const steps: Array<[string, string]> = [];
    const result = await publishToStores(publishOptions(file, { onStep: (step, detail) => steps.push([step, String(detail.store)]) }));
    expect(result.outcome).toBe('all');
    const [a, b] = result.stores;
    if (a?.status !== 'published' || b?.status !== 'published') throw new Error('expected both stores published');

    // Objects everywhere, then manifests.
    const uploaded = steps.flatMap(([step], i) => (step === 'uploaded' ? [i] : []));
    const manifests = steps.flatMap(([step], i) => (step === 'manifest' ? [i] : []));
    expect(uploaded).toHaveLength(2);
    expect(manifests).toHaveLength(2);
    expect(Math.max(...uploaded)).toBeLessThan(Math.min(...manifests));

    // One object under one key; history and deltas from each store's own past.
    expect(b.manifest.object).toEqual(a.manifest.object);
    expect(a.manifest.history.map((h) => h.sha256)).toEqual([v1.manifest.database.sha256]);
    expect(a.manifest.deltas.map((d) => d.base.sha256)).toEqual([v1.manifest.database.sha256]);
    expect(b.manifest.history).toEqual([]);
    expect(b.manifest.deltas).toEqual([]);
    for (const [store, manifest] of [
      [folders[0], a.manifest],
      [folders[1], b.manifest],
    ] as const) {
      const read = await readManifest(store, manifestKey(SHA_A), { trustedKeys });
      expect(read).toMatchObject({ status: 'ok', manifest: { database: { sha256: manifest.database.sha256 } } });
      for (const key of [manifest.object.key, manifest.chunks!.key, ...manifest.deltas.map((d) => d.key)]) expect(await store.head(key)).toBeDefined();
      expect((await readManifest(store, LATEST_KEY, { trustedKeys })).status).toBe('ok');
    }

    // The same bytes again: unchanged in both (each keeps its own manifest, signed afresh).
    const again = await publishToStores(publishOptions(file));
    expect(again.stores.map((s) => s.status)).toEqual(['unchanged', 'unchanged']);
  });

  it('a mirror that missed a publish ends the next one with the same snapshot and creation time as the others, so a pod can fail over to it', async () => {
    const [fileA, fileB] = [path.join(dir, `lag-a-${n}.db`), path.join(dir, `lag-b-${n}.db`)];
    makeContentDatabase(fileA, 200, 1);
    makeContentDatabase(fileB, 200, 2);
    await publishToStores(publishOptions(fileA));
    const missed = await publishToStores(publishOptions(fileB, { stores: [folders[0]] }));
    const floor = missed.stores[0]!.status === 'failed' ? null : missed.stores[0]!.manifest.createdAt;
    // The first store's bytes changed back; the second one holds them already, under its older manifest.
    const next = await publishToStores(publishOptions(fileA));
    expect(next.stores.map((s) => s.status)).toEqual(['published', 'published']);
    const [primary, mirror] = await Promise.all(folders.map((store) => readManifest(store, manifestKey(SHA_A), { trustedKeys })));
    if (primary?.status !== 'ok' || mirror?.status !== 'ok') throw new Error('no manifest');
    expect(mirror.manifest.createdAt).toBe(primary.manifest.createdAt);
    expect(mirror.manifest.object).toEqual(primary.manifest.object);
    expect(await folders[1]!.head(mirror.manifest.object.key)).toBeDefined();
    // A pod whose floor came from the first store (the snapshot the mirror missed) takes the mirror's manifest.
    expect(() =>
      acceptManifest(
        mirror.manifest,
        { appGitSha: SHA_A, databaseName: null, floor: { gitSha: SHA_A, createdAt: floor! }, allowRollback: false, now: new Date(clock) },
        'mirror',
      ),
    ).not.toThrow();
  });

  it('goes on with the other store when one fails, and says only some got the snapshot', async () => {
    const file = path.join(dir, `partial-${n}.db`);
    makeContentDatabase(file, 200, 1);
    // The second store is a folder under a file: every write to it fails.
    const blocked = path.join(dir, `blocked-${n}`);
    await copyFile(file, blocked);
    const broken = new LocalStore(path.join(blocked, 'store'));
    const result = await publishToStores(publishOptions(file, { stores: [folders[0], broken], attempts: 2, retryBaseDelayMs: 10 }));
    expect(result.outcome).toBe('some');
    expect(result.stores.map((s) => s.status)).toEqual(['published', 'failed']);
    expect(result.stores[1]).toMatchObject({ status: 'failed', step: 'upload' });
    expect((await readManifest(folders[0], manifestKey(SHA_A), { trustedKeys })).status).toBe('ok');
  });
});

describe('the CLI with two stores', () => {
  let s3: S3TestServer;
  beforeAll(async () => {
    s3 = await startS3Server(['mirror']);
  });
  afterAll(() => s3?.stop());

  it('publishes to an S3 store (its own endpoint and credentials in its URL) and a folder, and exits 6 when only one got the snapshot', async () => {
    const db = path.join(dir, 'cli.db');
    makeContentDatabase(db, 200, 1);
    const folder = path.join(dir, `cli-folder-${n}`);
    // Credentials only under MIRROR_*: the AWS SDK's default chain has none, so the store's own are used.
    const env = { MIRROR_ACCESS_KEY_ID: S3_CREDENTIALS.AWS_ACCESS_KEY_ID, MIRROR_SECRET_ACCESS_KEY: S3_CREDENTIALS.AWS_SECRET_ACCESS_KEY };
    const s3Url = `s3://mirror/site?endpoint=${s3.endpoint}&path-style&region=us-east-1&credentials-env=MIRROR`;
    const both = await runCli(['publish', db, '--store', s3Url, '--store', folder, '--git-sha', SHA_A, '--json'], { env });
    expect(both.code).toBe(0);
    const result = both.events.at(-1);
    expect(result).toMatchObject({ command: 'publish', outcome: 'all', stores: [{ status: 'published' }, { status: 'published' }] });
    expect((await readManifest(new LocalStore(folder), manifestKey(SHA_A))).status).toBe('ok');

    // The S3 store goes away; the folder still gets the new snapshot.
    makeContentDatabase(db, 200, 2);
    const closed = `s3://mirror/site?endpoint=http://127.0.0.1:${await closedPort()}&path-style&region=us-east-1&credentials-env=MIRROR`;
    const some = await runCli(['publish', db, '--store', closed, '--store', folder, '--git-sha', SHA_A, '--attempts', '2'], { env });
    expect(some.code).toBe(6);
    expect(some.stderr).toMatch(/sqlitening: error: published in 1 of 2 stores; failed in s3:\/\/mirror\/site \(store-unreachable: /);
    expect(some.stderr).toMatch(/retry 1 in /);
    const read = await readManifest(new LocalStore(folder), manifestKey(SHA_A));
    expect(read.status === 'ok' && read.manifest.database.sha256).toBe(sha256(db));

    // Neither: the first store's failure, with its own exit code.
    const none = await runCli(['publish', db, '--store', closed, '--store', path.join(dir, 'cli.db', 'not-a-folder'), '--git-sha', SHA_A, '--attempts', '1'], {
      env,
    });
    expect(none.code).toBe(1);
  });

  it('syncs through SQLITENING_STORE naming two stores, the first of which is down, and pulls through two --store', async () => {
    await publishBoth(1);
    const down = `http://127.0.0.1:${await closedPort()}`;
    const result = await runCli(['sync', '--database', live(), '--git-sha', SHA_A, '--json'], {
      env: { SQLITENING_STORE: `${down} ${servers[1].url}` },
    });
    expect(result.code).toBe(0);
    expect(result.events.find((e) => e.event === 'store.failover')).toMatchObject({ store: 0, location: down, reason: 'store-unreachable' });
    expect(result.events.find((e) => e.event === 'agent.installed')).toMatchObject({ store: 1 });

    const target = path.join(dir, `pulled-${n}.db`);
    const pulled = await runCli(['pull', target, '--store', down, '--store', servers[1].url, '--git-sha', SHA_A, '--json']);
    expect(pulled.code).toBe(0);
    expect(pulled.events.at(-1)).toMatchObject({ command: 'pull', method: 'full', store: { index: 1, location: servers[1].url } });
    expect(sha256(target)).toBe(sha256(live()));
  });
});

describe('store URLs', () => {
  it('carry their own S3 settings, and refuse what they cannot mean', () => {
    expect(
      storeSettingsFromUrl('s3://bucket/site?endpoint=https://acc.r2.cloudflarestorage.com&region=auto&path-style=false', { forcePathStyle: true }, {}),
    ).toEqual({ url: 's3://bucket/site', endpoint: 'https://acc.r2.cloudflarestorage.com', region: 'auto', forcePathStyle: false });
    expect(storeSettingsFromUrl('s3://bucket?credentials-env=R2', {}, { R2_ACCESS_KEY_ID: 'id', R2_SECRET_ACCESS_KEY: 'secret' })).toEqual({
      url: 's3://bucket',
      credentials: { accessKeyId: 'id', secretAccessKey: 'secret', sessionToken: undefined },
    });
    expect(storeSettingsFromUrl('https://cdn.example.com/site', { endpoint: 'x' }, {})).toEqual({ url: 'https://cdn.example.com/site', endpoint: 'x' });
    expect(() => storeSettingsFromUrl('s3://bucket?endpoint=x&bogus=1', {}, {})).toThrow(/unknown parameter \?bogus/);
    expect(() => storeSettingsFromUrl('s3://bucket?credentials-env=R2', {}, {})).toThrow(/R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY .* one is not set/);
    expect(() => storeSettingsFromUrl('s3://bucket?path-style=maybe', {}, {})).toThrow(/path-style/);
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
