import Database from 'better-sqlite3';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  fromBase64,
  type Heartbeat,
  type Manifest,
  manifestKey,
  parseHeartbeats,
  parseManifestJson,
  serializeManifest,
  snapshotKey,
  toBase64,
} from '@sqlitening/contract';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signManifest } from '../src/signing/manifest-signature.js';
import { checkSqliteHeader } from '../src/sqlite/sqlite-header.js';
import { chunkRoot } from '../src/wire/chunk-hashes.js';
import { pageHashesOf } from '../src/transfer/identify-file.js';
import { CLI, type CliResult, closedPort, runCli } from './helpers/cli.js';
import { FaultServer } from './helpers/fault-server.js';
import { makeContentDatabase, SHA_A, tempFolder } from './helpers/fixtures.js';
import { NODE24 } from './helpers/node24.js';

let dir: string;
let cleanup: () => Promise<void>;
let root: string;
let server: FaultServer;
let pod: string;
let n = 0;

beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('hardening'));
});
afterAll(() => cleanup());
beforeEach(async () => {
  n++;
  root = path.join(dir, `store-${n}`);
  pod = path.join(dir, `pod-${n}`);
  await mkdir(root);
  await mkdir(pod);
  server = new FaultServer(root);
  await server.start();
});
afterEach(async () => {
  await server.stop();
});

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const live = (): string => path.join(pod, 'site.db');
const pointer = (): string => path.join(root, manifestKey(SHA_A));

/** Publishes a new content database for SHA_A through the CLI, signed when a key is given; returns its manifest. */
async function publish(seed: number, signingKey?: string): Promise<Manifest> {
  const file = path.join(dir, `build-${n}-${seed}.db`);
  makeContentDatabase(file, 200, seed);
  const args = ['publish', file, '--store', root, '--git-sha', SHA_A, '--grace', '0s', '--keep', '10'];
  if (signingKey) args.push('--signing-key', signingKey);
  const result = await runCli(args);
  expect(result.code, result.stderr).toBe(0);
  // Keys and createdAt have whole seconds in the key; keep publishes apart.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  return manifestOf(await readFile(pointer(), 'utf8'));
}

function manifestOf(text: string): Manifest {
  const document = JSON.parse(text) as { payload?: string };
  return parseManifestJson(document.payload ? new TextDecoder().decode(fromBase64(document.payload)) : text);
}

function sync(...extra: string[]): Promise<CliResult> {
  return runCli(['sync', '--database', live(), '--git-sha', SHA_A, '--store', server.url, '--attempts', '1', '--json', ...extra], { timeoutMs: 40_000 });
}

const errorOf = (result: CliResult): Record<string, unknown> | undefined => result.events.find((e) => e.event === 'error');

/** Writes a manifest and an object into the store by hand, as a hostile or broken publisher would. */
async function plant(bytes: Buffer, overrides: Partial<Manifest['database']> = {}): Promise<Manifest> {
  const createdAt = new Date();
  const sha = createHash('sha256').update(bytes).digest('hex');
  const key = snapshotKey({ gitSha: SHA_A, createdAt, sha256: sha, encoding: 'identity' });
  await mkdir(path.dirname(path.join(root, key)), { recursive: true });
  await writeFile(path.join(root, key), bytes);
  const manifest: Manifest = {
    format: 'sqlitening.manifest',
    version: 1,
    gitSha: SHA_A,
    createdAt: createdAt.toISOString(),
    database: { sha256: sha, size: bytes.length, pageSize: 4096, pageCount: 0, freePages: 0, userVersion: 0, sqliteVersion: '3.0.0', tables: [], ...overrides },
    object: { key, encoding: 'identity', size: bytes.length },
    builder: { tool: 'test' },
    deltas: [],
    patches: [],
    history: [],
  };
  await writeFile(pointer(), serializeManifest(manifest));
  return manifest;
}

describe('bounded manifest reads', () => {
  it('stops an endless manifest at its size cap, with little memory', async () => {
    server.faults.set(manifestKey(SHA_A), { kind: 'endless' });
    const started = Date.now();
    const result = await sync();
    expect(result.code).toBe(1);
    expect(errorOf(result)?.code).toBe('size-mismatch');
    expect(String(errorOf(result)?.message)).toContain('larger than any valid one');
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('ends a trickled manifest at its deadline (twice the stall timeout), though bytes keep coming', async () => {
    server.faults.set(manifestKey(SHA_A), { kind: 'trickle', everyMs: 300 });
    const started = Date.now();
    const result = await sync('--stall-timeout', '1s');
    expect(errorOf(result)?.code).toBe('deadline-exceeded');
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('ends a manifest body that stops half way at the stall timeout', async () => {
    await publish(1);
    server.faults.set(manifestKey(SHA_A), { kind: 'stall' });
    const result = await sync('--stall-timeout', '1s');
    expect(errorOf(result)?.code).toBe('stalled');
  });

  it('ends a trickled snapshot download at --deadline', async () => {
    const manifest = await publish(1);
    server.faults.set(manifest.object.key, { kind: 'trickle', everyMs: 200 });
    const result = await sync('--stall-timeout', '1s', '--deadline', '2s');
    expect(errorOf(result)?.code).toBe('deadline-exceeded');
    expect(existsSync(live())).toBe(false);
    expect((await readdir(pod)).filter((f) => f.includes('download'))).toEqual([]);
  });
});

describe('files the app cannot use', () => {
  it('refuses an empty file whose hash matches, as rejected data, without retrying', async () => {
    const manifest = await plant(Buffer.alloc(0));
    const result = await sync('--attempts', '3');
    expect(result.code).toBe(3);
    expect(errorOf(result)).toMatchObject({ code: 'not-a-database', retryable: false });
    expect(existsSync(live())).toBe(false);
    expect(manifest.database.size).toBe(0);
  });

  it('refuses a WAL-mode database and leaves nothing beside the live file', async () => {
    const file = path.join(dir, `wal-${n}.db`);
    const db = new Database(file);
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1); PRAGMA journal_mode = WAL; INSERT INTO t VALUES (2);');
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    await plant(readFileSync(file));
    const result = await sync();
    expect(result.code).toBe(3);
    expect(String(errorOf(result)?.message)).toContain('WAL mode');
    expect(await readdir(pod)).not.toEqual(expect.arrayContaining([expect.stringMatching(/-(wal|shm)$/)]));
    expect((await readdir(pod)).filter((f) => /-(wal|shm|journal)$|download/.test(f))).toEqual([]);
  });

  it('refuses an uncompressed object whose size is not the database size, before downloading it', async () => {
    await plant(Buffer.alloc(8192, 0x41), { size: 4096 });
    const before = server.requests;
    const result = await sync();
    expect(errorOf(result)?.code).toBe('size-mismatch');
    expect(String(errorOf(result)?.message)).toContain('an identity object is the database');
    // The manifest only: the object, which could be any size, is not asked for.
    expect(server.requests - before).toBe(1);
    expect(existsSync(live())).toBe(false);
  });

  it('refuses a file that is not SQLite at all (exit 3, one download, not retried)', async () => {
    const manifest = await plant(Buffer.alloc(8192, 0x41));
    const before = server.requests;
    const result = await sync('--attempts', '3');
    expect(result.code).toBe(3);
    expect(errorOf(result)?.code).toBe('not-a-database');
    // One manifest read and one object download: no retries of rejected data.
    expect(server.requests - before).toBe(2);
    expect(manifest.object.size).toBe(8192);
  });

  it('checks the header: magic, page size, journal mode and size', async () => {
    const file = path.join(dir, `header-${n}.db`);
    makeContentDatabase(file, 50, 1);
    await expect(checkSqliteHeader(file, 'x')).resolves.toMatchObject({ pageSize: 4096 });
    const truncated = path.join(dir, `truncated-${n}.db`);
    await writeFile(truncated, readFileSync(file).subarray(0, 4096 * 2));
    await expect(checkSqliteHeader(truncated, 'x')).rejects.toThrow(/pages of 4096 bytes/);
  });
});

describe('rollback', () => {
  it('refuses an older manifest of the same commit, counts it, and installs it only with --allow-rollback', async () => {
    await publish(1);
    const older = await readFile(pointer(), 'utf8');
    const v2 = await publish(2);
    expect((await sync()).code).toBe(0);
    expect(sha256(live())).toBe(v2.database.sha256);
    await writeFile(pointer(), older);
    const refused = await sync();
    expect(refused.code).toBe(3);
    expect(errorOf(refused)?.code).toBe('rollback-refused');
    expect(sha256(live())).toBe(v2.database.sha256);
    const allowed = await sync('--allow-rollback');
    expect(allowed.code).toBe(0);
    expect(sha256(live())).toBe(manifestOf(older).database.sha256);
  });
});

describe('exit codes and reasons from the one error model', () => {
  it('a reset connection: exit 1, connection-reset, retryable', async () => {
    const manifest = await publish(1);
    server.faults.set(manifest.object.key, { kind: 'reset' });
    const result = await sync();
    expect(result.code).toBe(1);
    expect(errorOf(result)).toMatchObject({ code: 'connection-reset', retryable: true });
  });

  it('an object key with ../ in a manifest: exit 3', async () => {
    const manifest = await publish(1);
    await writeFile(pointer(), serializeManifest({ ...manifest, object: { ...manifest.object, key: `${SHA_A}/../../etc/passwd` } }));
    const result = await sync();
    expect(result.code).toBe(3);
  });

  it('an unwritable destination: exit 1, a disk failure', async () => {
    await publish(1);
    const notAFolder = path.join(dir, `file-${n}`);
    await writeFile(notAFolder, 'x');
    const result = await runCli(['pull', path.join(notAFolder, 'site.db'), '--store', server.url, '--git-sha', SHA_A, '--json']);
    // A disk failure (the path runs through a file): exit 1, reason from the system error.
    expect(result.code).toBe(1);
    expect(errorOf(result)?.code).toMatch(/^e(notdir|exist)$/);
  });
});

describe('smaller leaks', () => {
  it('refuses a redirect to another origin and shows nothing of what is there', async () => {
    const other = createServer((_req, res) => res.end('{"secret page": "of another server"}'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      server.faults.set(manifestKey(SHA_A), { kind: 'redirect', location: `http://localhost:${(other.address() as AddressInfo).port}/x` });
      const result = await sync();
      expect(result.code).toBe(1);
      expect(String(errorOf(result)?.message)).toContain('redirects to another origin');
      expect(result.stdout + result.stderr).not.toContain('secret page');
    } finally {
      other.close();
    }
  });

  it('never prints credentials of a store URL', async () => {
    const url = server.url.replace('http://', 'http://deploy:hunter2-password@');
    const result = await runCli(['sync', '--database', live(), '--git-sha', SHA_A, '--store', url, '--attempts', '1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not found');
    expect(result.stderr).not.toContain('hunter2');
  });

  it('keeps credentials in an ?endpoint= URL or a store query out of every message, the JSON events included', async () => {
    const port = await closedPort();
    const syncFrom = (store: string, env?: Record<string, string>) =>
      runCli(['sync', '--database', live(), '--git-sha', SHA_A, '--store', store, '--attempts', '1', '--json'], { env });
    const s3 = await syncFrom(`s3://bucket/site?endpoint=http://deploy:hunter2-password@127.0.0.1:${port}&path-style`, {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'not-a-secret',
    });
    expect(s3.code).toBe(1);
    expect(errorOf(s3)).toBeDefined();
    const http = await syncFrom(`${server.url}/?token=hunter2-password`);
    expect(errorOf(http)).toMatchObject({ code: 'not-found' });
    for (const result of [s3, http]) expect(`${result.stdout}${result.stderr}`).not.toContain('hunter2');
  });

  it('decodes zstd with a bounded window: a stream that asks for 128 MiB is refused, a normal one decoded (Node 24)', async () => {
    const input = path.join(dir, `zstd-${n}.bin`);
    await writeFile(input, Buffer.alloc(1 << 20, 'sqlitening '));
    const decode = (zstdArgs: string[]): string => {
      const frame = execFileSync('sh', ['-c', `cat "${input}" | zstd -q -c ${zstdArgs.join(' ')}`]);
      const script = `import { decompressor } from ${JSON.stringify(path.resolve('lib/wire/codec.js'))};
        import { Readable, Writable } from 'node:stream'; import { pipeline } from 'node:stream/promises';
        let bytes = 0;
        pipeline(Readable.from([Buffer.from(process.argv[1], 'base64')]), decompressor('zstd'), new Writable({ write(c, _e, cb) { bytes += c.length; cb(); } }))
          .then(() => console.log('decoded ' + bytes), (e) => console.log('refused ' + e.code));`;
      return execFileSync(NODE24, ['--input-type=module', '-e', script, frame.toString('base64')], { encoding: 'utf8' }).trim();
    };
    expect(decode(['-19'])).toBe(`decoded ${1 << 20}`);
    // Streamed from a pipe, the frame declares the whole window --long asks for: 2^27.
    expect(decode(['--long=27'])).toBe('refused ZSTD_error_frameParameter_windowTooLarge');
  });

  it('refuses a manifest that declares more than --max-size before writing anything', async () => {
    const manifest = await publish(1);
    await writeFile(pointer(), serializeManifest({ ...manifest, database: { ...manifest.database, size: 1024 ** 3 }, chunks: undefined, deltas: [] }));
    const before = server.requests;
    const result = await sync('--max-size', '256MiB');
    expect(result.code).toBe(3);
    expect(errorOf(result)?.code).toBe('snapshot-too-large');
    expect(server.requests - before).toBe(1); // the manifest only
  });

  it('refuses a database larger than the free space, before writing anything', async () => {
    const manifest = await publish(1);
    await writeFile(pointer(), serializeManifest({ ...manifest, database: { ...manifest.database, size: 2 ** 50 }, chunks: undefined, deltas: [] }));
    const result = await sync('--max-size', '2000TiB');
    expect(errorOf(result)?.code).toBe('disk-full');
    expect(result.code).toBe(1);
  });

  it('shows terminal escape sequences from a store as text', async () => {
    await mkdir(path.dirname(pointer()), { recursive: true });
    await writeFile(pointer(), '{"format": "sqlitening.manifest\u001b]0;pwned\u0007\u001b[2J"}');
    const result = await runCli(['sync', '--database', live(), '--git-sha', SHA_A, '--store', server.url, '--attempts', '1']);
    expect(result.code).toBe(3);
    expect(result.stderr).not.toContain('\u001b');
    expect(result.stderr).not.toContain('\u0007');
  });

  it('refuses board settings the board would refuse, at start', async () => {
    const result = await runCli(
      [
        'agent',
        '--database',
        live(),
        '--git-sha',
        SHA_A,
        '--store',
        server.url,
        '--board-url',
        'http://127.0.0.1:9',
        '--cluster',
        'eu west!',
        '--listen',
        '127.0.0.1:0',
      ],
      { env: { SQLITENING_BOARD_SECRET: 'a-secret-of-16-chars' } },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid --cluster');
  });
});

/** A board stand-in on 127.0.0.1 that keeps every heartbeat it receives. */
async function heartbeatReceiver(): Promise<{ url: string; received: Heartbeat[]; server: Server }> {
  const received: Heartbeat[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(...parseHeartbeats(body));
      res.writeHead(202).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`, received, server: receiver };
}

/** A running agent process with its health server on a free port. */
async function startAgent(args: string[], boardUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'agent',
      '--database',
      live(),
      '--git-sha',
      SHA_A,
      '--store',
      server.url,
      '--listen',
      '127.0.0.1:0',
      '--interval',
      '1s',
      '--jitter',
      '0',
      '--attempts',
      '1',
      '--json',
      '--board-url',
      boardUrl,
      '--cluster',
      'eu-west',
      '--pod',
      'web-1',
      ...args,
    ],
    { env: { PATH: process.env.PATH ?? '', SQLITENING_BOARD_SECRET: 'a-secret-of-16-chars' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve(`http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`);
    });
    child.on('exit', (code) => reject(new Error(`agent exited ${code}`)));
  });
  return { child, url };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the policy a manifest was accepted under', () => {
  it('is checked again when the pod starts with another: a 304 keeps nothing a fresh pod would refuse', async () => {
    const keys = path.join(dir, `keys-${n}`);
    await mkdir(keys);
    for (const name of ['a', 'b']) expect((await runCli(['keygen', path.join(keys, name)])).code).toBe(0);
    const v1 = await publish(1, path.join(keys, 'a.key'));
    expect((await sync()).code).toBe(0);
    expect(sha256(live())).toBe(v1.database.sha256);
    expect((await sync()).events.at(-1)).toMatchObject({ status: 'not-modified' });
    // Restarted trusting only b (a leaked and dropped): refused, as a fresh pod would refuse it.
    const dropped = await sync('--trust-key', path.join(keys, 'b.pub'));
    expect(errorOf(dropped)?.code).toBe('untrusted-key');
    expect(dropped.code).toBe(3);
    // A name added that the manifest does not carry: refused.
    expect(errorOf(await sync('--trust-key', path.join(keys, 'a.pub'), '--name', 'www'))?.code).toBe('wrong-database');
    // Under a policy the manifest meets: read whole once, then 304s again.
    expect((await sync('--trust-key', path.join(keys, 'a.pub'))).events.at(-1)).toMatchObject({ status: 'unchanged' });
    expect((await sync('--trust-key', path.join(keys, 'a.pub'))).events.at(-1)).toMatchObject({ status: 'not-modified' });
    expect(sha256(live())).toBe(v1.database.sha256);
  });

  it('under a new policy, a manifest naming the same SHA-256 does not keep bytes that only the dropped key vouched for', async () => {
    const keys = path.join(dir, `keys-${n}`);
    await mkdir(keys);
    for (const name of ['a', 'b']) expect((await runCli(['keygen', path.join(keys, name)])).code).toBe(0);
    const real = await publish(1, path.join(keys, 'b.key'));
    const realText = await readFile(pointer(), 'utf8');
    // Key a, later found leaked, signed other bytes under the real snapshot's SHA-256 (a signed install proves the root).
    const hostileFile = path.join(dir, `hostile-${n}.db`);
    makeContentDatabase(hostileFile, 200, 99);
    const bytes = readFileSync(hostileFile);
    const hashes = await pageHashesOf(hostileFile, 4096);
    const objectKey = `${SHA_A}/hostile.db`;
    await writeFile(path.join(root, objectKey), bytes);
    const forged: Manifest = {
      ...real,
      createdAt: new Date(Date.parse(real.createdAt) - 60_000).toISOString(),
      database: { ...real.database, size: bytes.length, pageCount: bytes.length / 4096 },
      object: { key: objectKey, encoding: 'identity', size: bytes.length },
      chunks: { size: 4096, count: bytes.length / 4096, root: chunkRoot(hashes), key: `${SHA_A}/hostile.chunks` },
      deltas: [],
      patches: [],
      history: [],
    };
    await writeFile(pointer(), signManifest(forged, createPrivateKey(readFileSync(path.join(keys, 'a.key')))));
    expect((await sync('--trust-key', path.join(keys, 'a.pub'))).code).toBe(0);
    expect(readFileSync(live()).equals(bytes)).toBe(true);
    // Key a dropped: the real manifest names the same SHA-256, but the live file is judged by its bytes.
    await writeFile(pointer(), realText);
    const after = await sync('--trust-key', path.join(keys, 'b.pub'));
    expect(after.code, after.stderr).toBe(0);
    expect(sha256(live())).toBe(real.database.sha256);
  });

  it('refuses a private key given as --trust-key, which would ship the signing key to every pod', async () => {
    const keys = path.join(dir, `keys-${n}`);
    await mkdir(keys);
    expect((await runCli(['keygen', path.join(keys, 'a')])).code).toBe(0);
    const result = await sync('--trust-key', path.join(keys, 'a.key'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('expected a public key, got a private one');
  });
});

describe('signed manifests', () => {
  it('keygen → publish signs → agent with --trust-key installs; refuses an untrusted key, a tampered byte, no signature and an older manifest', async () => {
    const keys = path.join(dir, `keys-${n}`);
    await mkdir(keys);
    for (const name of ['a', 'b', 'c']) expect((await runCli(['keygen', path.join(keys, name)])).code).toBe(0);
    expect((await runCli(['keygen', path.join(keys, 'a')])).code).toBe(2); // never overwrites a key

    const v1 = await publish(1, path.join(keys, 'a.key'));
    const v1Signed = await readFile(pointer(), 'utf8');
    expect(JSON.parse(v1Signed)).toMatchObject({ payloadType: 'application/vnd.sqlitening.manifest+json' });
    const board = await heartbeatReceiver();
    const agent = await startAgent(['--trust-key', path.join(keys, 'a.pub'), '--trust-key', path.join(keys, 'b.pub')], board.url);
    try {
      await waitFor('v1 installed', async () => (existsSync(live()) && sha256(live()) === v1.database.sha256 ? true : undefined));

      // Rotation: the next snapshot is signed with b, which the agent also trusts.
      const v2 = await publish(2, path.join(keys, 'b.key'));
      await waitFor('v2 installed', async () => (sha256(live()) === v2.database.sha256 ? true : undefined));
      const v2Signed = await readFile(pointer(), 'utf8');

      const cases: Array<[string, string]> = [
        ['untrusted-key', signManifest(v2, createPrivateKey(readFileSync(path.join(keys, 'c.key'))))],
        ['bad-signature', tamper(v2Signed)],
        ['unsigned-manifest', serializeManifest(v2)],
        ['rollback-refused', v1Signed],
      ];
      for (const [reason, text] of cases) {
        await writeFile(pointer(), text);
        const health = await waitFor(`healthz says ${reason}`, async () => {
          const body = (await (await fetch(`${agent.url}/healthz`, { headers: { accept: 'application/json' } })).json()) as {
            lastError: { code: string } | null;
          };
          return body.lastError?.code === reason ? body : undefined;
        });
        expect(health.lastError?.code).toBe(reason);
        expect(sha256(live())).toBe(v2.database.sha256);
        const metrics = await (await fetch(`${agent.url}/metrics`)).text();
        expect(metrics).toMatch(new RegExp(`sqlitening_sync_failures_total\\{reason="${reason}"\\} [1-9]`));
        await waitFor(`heartbeat says ${reason}`, async () => (board.received.at(-1)?.lastError?.startsWith(`${reason}:`) ? true : undefined));
      }
      await writeFile(pointer(), v2Signed);
    } finally {
      agent.child.kill('SIGTERM');
      await new Promise((resolve) => agent.child.once('exit', resolve));
      board.server.close();
    }

    // Rotation done: an agent that trusts only b refuses what a signed.
    await writeFile(pointer(), v1Signed);
    const onlyB = await sync('--trust-key', path.join(keys, 'b.pub'), '--allow-rollback');
    expect(errorOf(onlyB)?.code).toBe('untrusted-key');
    expect(onlyB.code).toBe(3);
  }, 120_000);
});

/** The envelope with one byte of its payload changed and the signature kept. */
function tamper(envelopeText: string): string {
  const envelope = JSON.parse(envelopeText) as { payload: string };
  const payload = fromBase64(envelope.payload);
  const text = new TextDecoder().decode(payload).replace('"rows": 200', '"rows": 201');
  expect(text).not.toBe(new TextDecoder().decode(payload));
  return JSON.stringify({ ...envelope, payload: toBase64(new TextEncoder().encode(text)) });
}
