import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Manifest, manifestKey, serializeManifest, snapshotKey } from '@sqlitening/contract';
import { describe, expect, it } from 'vitest';
import { checkSqliteHeader } from '../src/sqlite/sqlite-header.js';
import { closedPort, runCli } from './helpers/cli.js';
import { makeContentDatabase, SHA_A } from './helpers/fixtures.js';
import { NODE24 } from './helpers/node24.js';
import { servedStore } from './helpers/served-store.js';
import { errorOf } from './helpers/trust.js';

/*
 * What a hostile or broken store can send a pod (endless, trickled or stalled bodies, files that are not
 * a database, hostile keys and sizes, redirects, escape sequences), and what the pod does: bounded reads,
 * one error model, nothing of its secrets or of another origin in what it prints.
 */

const s = servedStore('hostile-store');

/** Writes a manifest and an object into the store by hand, as a hostile or broken publisher would. */
async function plant(bytes: Buffer, overrides: Partial<Manifest['database']> = {}): Promise<Manifest> {
  const createdAt = s.clock.now();
  const sha = createHash('sha256').update(bytes).digest('hex');
  const key = snapshotKey({ gitSha: SHA_A, createdAt, sha256: sha, encoding: 'identity' });
  await mkdir(path.dirname(path.join(s.root, key)), { recursive: true });
  await writeFile(path.join(s.root, key), bytes);
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
  await writeFile(s.pointer(), serializeManifest(manifest));
  return manifest;
}

describe('bounded manifest reads', () => {
  it('stops an endless manifest at its size cap, with little memory', async () => {
    s.server.faults.set(manifestKey(SHA_A), { kind: 'endless' });
    const started = Date.now();
    const result = await s.sync();
    expect(result.code).toBe(1);
    expect(errorOf(result)?.code).toBe('size-mismatch');
    expect(String(errorOf(result)?.message)).toContain('larger than any valid one');
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('ends a trickled manifest at its deadline (twice the stall timeout), though bytes keep coming', async () => {
    s.server.faults.set(manifestKey(SHA_A), { kind: 'trickle', everyMs: 300 });
    const started = Date.now();
    const result = await s.sync('--stall-timeout', '1s');
    expect(errorOf(result)?.code).toBe('deadline-exceeded');
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('ends a manifest body that stops half way at the stall timeout', async () => {
    await s.publish(1);
    s.server.faults.set(manifestKey(SHA_A), { kind: 'stall' });
    const result = await s.sync('--stall-timeout', '1s');
    expect(errorOf(result)?.code).toBe('stalled');
  });

  it('ends a trickled snapshot download at --deadline', async () => {
    const manifest = await s.publish(1);
    s.server.faults.set(manifest.object.key, { kind: 'trickle', everyMs: 200 });
    const result = await s.sync('--stall-timeout', '1s', '--deadline', '2s');
    expect(errorOf(result)?.code).toBe('deadline-exceeded');
    expect(existsSync(s.live())).toBe(false);
    expect((await readdir(s.pod)).filter((f) => f.includes('download'))).toEqual([]);
  });
});

describe('files the app cannot use', () => {
  it('refuses an empty file whose hash matches, as rejected data, without retrying', async () => {
    const manifest = await plant(Buffer.alloc(0));
    const result = await s.sync('--attempts', '3');
    expect(result.code).toBe(3);
    expect(errorOf(result)).toMatchObject({ code: 'not-a-database', retryable: false });
    expect(existsSync(s.live())).toBe(false);
    expect(manifest.database.size).toBe(0);
  });

  it('refuses a WAL-mode database and leaves nothing beside the live file', async () => {
    const file = path.join(s.dir, `wal-${s.n}.db`);
    const db = new Database(file);
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1); PRAGMA journal_mode = WAL; INSERT INTO t VALUES (2);');
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    await plant(readFileSync(file));
    const result = await s.sync();
    expect(result.code).toBe(3);
    expect(String(errorOf(result)?.message)).toContain('WAL mode');
    expect(await readdir(s.pod)).not.toEqual(expect.arrayContaining([expect.stringMatching(/-(wal|shm)$/)]));
    expect((await readdir(s.pod)).filter((f) => /-(wal|shm|journal)$|download/.test(f))).toEqual([]);
  });

  it('refuses an uncompressed object whose size is not the database size, before downloading it', async () => {
    await plant(Buffer.alloc(8192, 0x41), { size: 4096 });
    const before = s.server.requests;
    const result = await s.sync();
    expect(errorOf(result)?.code).toBe('size-mismatch');
    expect(String(errorOf(result)?.message)).toContain('an identity object is the database');
    // The manifest only: the object, which could be any size, is not asked for.
    expect(s.server.requests - before).toBe(1);
    expect(existsSync(s.live())).toBe(false);
  });

  it('refuses a file that is not SQLite at all (exit 3, one download, not retried)', async () => {
    const manifest = await plant(Buffer.alloc(8192, 0x41));
    const before = s.server.requests;
    const result = await s.sync('--attempts', '3');
    expect(result.code).toBe(3);
    expect(errorOf(result)?.code).toBe('not-a-database');
    // One manifest read and one object download: no retries of rejected data.
    expect(s.server.requests - before).toBe(2);
    expect(manifest.object.size).toBe(8192);
  });

  it('checks the header: magic, page size, journal mode and size', async () => {
    const file = path.join(s.dir, `header-${s.n}.db`);
    makeContentDatabase(file, 50, 1);
    await expect(checkSqliteHeader(file, 'x')).resolves.toMatchObject({ pageSize: 4096 });
    const truncated = path.join(s.dir, `truncated-${s.n}.db`);
    await writeFile(truncated, readFileSync(file).subarray(0, 4096 * 2));
    await expect(checkSqliteHeader(truncated, 'x')).rejects.toThrow(/pages of 4096 bytes/);
  });
});

describe('exit codes and reasons from the one error model', () => {
  it('a reset connection: exit 1, connection-reset, retryable', async () => {
    const manifest = await s.publish(1);
    s.server.faults.set(manifest.object.key, { kind: 'reset' });
    const result = await s.sync();
    expect(result.code).toBe(1);
    expect(errorOf(result)).toMatchObject({ code: 'connection-reset', retryable: true });
  });

  it('an object key with ../ in a manifest: exit 3', async () => {
    const manifest = await s.publish(1);
    await writeFile(s.pointer(), serializeManifest({ ...manifest, object: { ...manifest.object, key: `${SHA_A}/../../etc/passwd` } }));
    const result = await s.sync();
    expect(result.code).toBe(3);
  });

  it('an unwritable destination: exit 1, a disk failure', async () => {
    await s.publish(1);
    const notAFolder = path.join(s.dir, `file-${s.n}`);
    await writeFile(notAFolder, 'x');
    const result = await runCli(['pull', path.join(notAFolder, 'site.db'), '--store', s.server.url, '--git-sha', SHA_A, '--json']);
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
      s.server.faults.set(manifestKey(SHA_A), { kind: 'redirect', location: `http://localhost:${(other.address() as AddressInfo).port}/x` });
      const result = await s.sync();
      expect(result.code).toBe(1);
      expect(String(errorOf(result)?.message)).toContain('redirects to another origin');
      expect(result.stdout + result.stderr).not.toContain('secret page');
    } finally {
      other.close();
    }
  });

  it('never prints credentials of a store URL', async () => {
    const url = s.server.url.replace('http://', 'http://deploy:hunter2-password@');
    const result = await runCli(['sync', '--database', s.live(), '--git-sha', SHA_A, '--store', url, '--attempts', '1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not found');
    expect(result.stderr).not.toContain('hunter2');
  });

  it('keeps credentials in an ?endpoint= URL or a store query out of every message, the JSON events included', async () => {
    const port = await closedPort();
    const syncFrom = (store: string, env?: Record<string, string>) =>
      runCli(['sync', '--database', s.live(), '--git-sha', SHA_A, '--store', store, '--attempts', '1', '--json'], { env });
    const s3 = await syncFrom(`s3://bucket/site?endpoint=http://deploy:hunter2-password@127.0.0.1:${port}&path-style`, {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'not-a-secret',
    });
    expect(s3.code).toBe(1);
    expect(errorOf(s3)).toBeDefined();
    const http = await syncFrom(`${s.server.url}/?token=hunter2-password`);
    expect(errorOf(http)).toMatchObject({ code: 'not-found' });
    for (const result of [s3, http]) expect(`${result.stdout}${result.stderr}`).not.toContain('hunter2');
  });

  it('decodes zstd with a bounded window: a stream that asks for 128 MiB is refused, a normal one decoded (Node 24)', async () => {
    const input = path.join(s.dir, `zstd-${s.n}.bin`);
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
    const manifest = await s.publish(1);
    await writeFile(s.pointer(), serializeManifest({ ...manifest, database: { ...manifest.database, size: 1024 ** 3 }, chunks: undefined, deltas: [] }));
    const before = s.server.requests;
    const result = await s.sync('--max-size', '256MiB');
    expect(result.code).toBe(3);
    expect(errorOf(result)?.code).toBe('snapshot-too-large');
    expect(s.server.requests - before).toBe(1); // the manifest only
  });

  it('refuses a database larger than the free space, before writing anything', async () => {
    const manifest = await s.publish(1);
    await writeFile(s.pointer(), serializeManifest({ ...manifest, database: { ...manifest.database, size: 2 ** 50 }, chunks: undefined, deltas: [] }));
    const result = await s.sync('--max-size', '2000TiB');
    expect(errorOf(result)?.code).toBe('disk-full');
    expect(result.code).toBe(1);
  });

  it('shows terminal escape sequences from a store as text', async () => {
    await mkdir(path.dirname(s.pointer()), { recursive: true });
    await writeFile(s.pointer(), '{"format": "sqlitening.manifest\u001b]0;pwned\u0007\u001b[2J"}');
    const result = await runCli(['sync', '--database', s.live(), '--git-sha', SHA_A, '--store', s.server.url, '--attempts', '1']);
    expect(result.code).toBe(3);
    expect(result.stderr).not.toContain('\u001b');
    expect(result.stderr).not.toContain('\u0007');
  });

  it('refuses board settings the board would refuse, at start', async () => {
    const result = await runCli(
      [
        'agent',
        '--database',
        s.live(),
        '--git-sha',
        SHA_A,
        '--store',
        s.server.url,
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
