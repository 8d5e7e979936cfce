import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestKey, parseManifestJson } from '@sqlitening/contract';
import { LocalStore } from '../src/store/local-store.js';
import type { ObjectStore } from '../src/store/object-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { CLI, closedPort, expectOneLineError, runCli } from './helpers/cli.js';
import { readManifest } from '../src/wire/manifest-store.js';
import { SHA_A, makeContentDatabase, tempFolder } from './helpers/fixtures.js';
import { startS3Server, type S3TestServer } from './helpers/s3-server.js';

let s3: S3TestServer;
let dir: string;
let cleanup: () => Promise<void>;
let db: string;
let env: Record<string, string>;
let n = 0;

beforeAll(async () => {
  s3 = await startS3Server(['cli']);
  ({ dir, cleanup } = await tempFolder('cli'));
  db = path.join(dir, 'site.db');
  makeContentDatabase(db, 100);
  env = { ...s3.env, SQLITENING_S3_ENDPOINT: s3.endpoint, SQLITENING_S3_PATH_STYLE: 'true' };
});
afterAll(async () => {
  await s3?.stop();
  await cleanup?.();
});

/** A fresh prefix per test, so "nothing published" is a check on an empty listing. */
function freshStore(): { url: string; store: S3Store } {
  const prefix = `t${++n}`;
  return {
    url: `s3://cli/${prefix}`,
    store: new S3Store({ bucket: 'cli', prefix, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true }),
  };
}

describe('sqlitening publish (CLI)', () => {
  it('publishes with --json and reports each step as a JSON line', async () => {
    const { url, store } = freshStore();
    const result = await runCli(['publish', db, '--store', url, '--git-sha', SHA_A, '--json'], { env });
    expect(result.code).toBe(0);
    expect(result.events.map((e) => e.event).filter((e) => e !== 'progress')).toEqual([
      'start',
      'publish.checked',
      'publish.encoded',
      'publish.uploaded',
      'publish.manifest',
      'result',
    ]);
    const final = result.events.at(-1)!;
    expect(final).toMatchObject({ status: 'published', gitSha: SHA_A, manifestKey: manifestKey(SHA_A) });
    expect(await store.head(final.objectKey as string)).toBeDefined();

    const again = await runCli(['publish', db, '--store', url, '--git-sha', SHA_A], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^Unchanged \(already published\): s3:\/\/cli\/t\d+\/a{40}\//);
  });

  it('takes the commit from GITHUB_SHA, then from git rev-parse HEAD', async () => {
    const { url, store } = freshStore();
    const fromEnv = await runCli(['publish', db, '--store', url], { env: { ...env, GITHUB_SHA: SHA_A } });
    expect(fromEnv.code).toBe(0);
    expect(await store.head(manifestKey(SHA_A))).toBeDefined();

    const repo = path.join(dir, 'repo');
    await mkdir(repo);
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
    git('init', '-q');
    git('-c', 'user.email=a@b.c', '-c', 'user.name=a', 'commit', '-q', '--allow-empty', '-m', 'x');
    const head = git('rev-parse', 'HEAD');
    const fromGit = await runCli(['publish', db, '--store', url, '--json'], { env, cwd: repo });
    expect(fromGit.code).toBe(0);
    expect(fromGit.events[0]).toMatchObject({ gitSha: head, gitShaSource: 'git rev-parse HEAD' });
  });

  it('has --help on every command, with the exit codes', async () => {
    for (const args of [['--help'], ['build', '--help'], ['publish', '--help'], ['wait', '--help']]) {
      const result = await runCli(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Usage: sqlitening');
      expect(result.stdout).toContain('Exit codes:');
    }
  });
});

describe('bad input: a one-line error, a non-zero exit, nothing published', () => {
  it('unknown flag', async () => {
    const { url, store } = freshStore();
    const result = await runCli(['publish', db, '--store', url, '--git-sha', SHA_A, '--compress', 'gzip'], { env });
    expectOneLineError(result, 2, "unknown option '--compress'");
    expect(await store.list('')).toEqual([]);
  });

  it('missing store settings', async () => {
    const result = await runCli(['publish', db, '--git-sha', SHA_A], { env: { ...s3.env } });
    expectOneLineError(result, 2, 'missing store: expected s3://bucket[/prefix], file:///folder, a folder path, or http(s)://base-url');
  });

  it('malformed git sha', async () => {
    const { url, store } = freshStore();
    const result = await runCli(['publish', db, '--store', url, '--git-sha', 'deadbeef'], { env });
    expectOneLineError(result, 2, 'invalid git sha from --git-sha: expected a full commit sha (40 or 64 lowercase hex digits), got "deadbeef"');
    expect(await store.list('')).toEqual([]);
  });

  it('failing migration', async () => {
    const migrations = path.join(dir, 'bad-migrations');
    await mkdir(migrations, { recursive: true });
    await writeFile(path.join(migrations, '001_init.sql'), 'CREATE TABLE posts (id INTEGER PRIMARY KEY);');
    await writeFile(path.join(migrations, '002_broken.sql'), 'ALTER TABLE post ADD COLUMN title TEXT;');
    const output = path.join(dir, 'migrated.db');
    const result = await runCli(['build', '--migrations', migrations, '-o', output], { env });
    expectOneLineError(result, 3, 'migration 002_broken.sql failed: no such table: post');
    expect(existsSync(output)).toBe(false);
  });

  it('failing loader', async () => {
    const output = path.join(dir, 'loaded.db');
    const result = await runCli(['build', '--loader', 'echo "upstream feed returned 502" >&2; exit 4', '-o', output], { env });
    expectOneLineError(result, 3, /loader ".*" failed with exit code 4: upstream feed returned 502$/);
    expect(existsSync(output)).toBe(false);
  });

  it('store unreachable', async () => {
    const port = await closedPort();
    const result = await runCli(['publish', db, '--store', 's3://cli/x', '--git-sha', SHA_A], {
      env: { ...env, SQLITENING_S3_ENDPOINT: `http://127.0.0.1:${port}` },
    });
    expectOneLineError(result, 1, `cannot reach the store s3://cli/x at http://127.0.0.1:${port}: `);
    expect(result.stderr).toContain('(retrying may help)');
  });

  it('bucket missing', async () => {
    const result = await runCli(['publish', db, '--store', 's3://no-such-bucket/site', '--git-sha', SHA_A], { env });
    expectOneLineError(result, 1, `bucket "no-such-bucket" does not exist at ${s3.endpoint}`);
  });

  it('a manifest in the store that fails validation', async () => {
    const { url, store } = freshStore();
    const broken = { format: 'sqlitening.manifest', version: 1, gitSha: SHA_A, createdAt: 'yesterday' };
    await store.put(manifestKey(SHA_A), Buffer.from(JSON.stringify(broken)));
    const result = await runCli(['publish', db, '--store', url, '--git-sha', SHA_A], { env });
    expectOneLineError(result, 3, new RegExp(`${manifestKey(SHA_A)}: invalid manifest: createdAt: expected a UTC time .*, got "yesterday"`));
    expect((await store.list('')).map((o) => o.key)).toEqual([manifestKey(SHA_A)]);
  });

  it('a database in WAL mode, even with --no-check', async () => {
    const { url, store } = freshStore();
    const wal = path.join(dir, 'wal.db');
    makeContentDatabase(wal, 10);
    execFileSync('sqlite3', [wal, 'PRAGMA journal_mode=WAL;']);
    const result = await runCli(['publish', wal, '--store', url, '--git-sha', SHA_A, '--no-check'], { env });
    expectOneLineError(result, 3, 'journal_mode is wal; a snapshot must use rollback-journal mode: run PRAGMA journal_mode=DELETE first');
    expect(await store.list('')).toEqual([]);
  });

  it('a database with a hot journal beside it', async () => {
    const { url, store } = freshStore();
    const hot = path.join(dir, 'hot.db');
    makeContentDatabase(hot, 10);
    await writeFile(`${hot}-journal`, Buffer.alloc(512, 1));
    const result = await runCli(['publish', hot, '--store', url, '--git-sha', SHA_A], { env });
    expectOneLineError(result, 3, `${hot}-journal exists: a write is in progress or a crash was not recovered`);
    expect(await store.list('')).toEqual([]);
  });

  it('a database file that is not SQLite', async () => {
    const { url, store } = freshStore();
    const notDb = path.join(dir, 'notes.txt');
    await writeFile(notDb, 'just some text, long enough to not be empty '.repeat(100));
    const result = await runCli(['publish', notDb, '--store', url, '--git-sha', SHA_A], { env });
    expectOneLineError(result, 3, /is not a readable SQLite database: file is not a database/);
    expect(await store.list('')).toEqual([]);
  });
});

describe('a publish killed during the upload', () => {
  /** Publishes `database` with the CLI and SIGKILLs it once `when(output)` holds (plus `delayMs`); resolves with its output. */
  async function publishAndKill(database: string, url: string, when: (output: string) => boolean, delayMs = 0, childEnv = env): Promise<string> {
    const child = spawn(process.execPath, [CLI, '--json', 'publish', database, '--store', url, '--git-sha', SHA_A, '--encoding', 'identity', '--no-check'], {
      env: { PATH: process.env.PATH ?? '', ...childEnv },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let output = '';
    let armed = false;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk) => {
        output += chunk;
        if (!armed && when(output)) {
          armed = true;
          setTimeout(() => child.kill('SIGKILL'), delayMs);
        }
      });
      child.on('close', () => resolve());
    });
    return output;
  }

  const currentManifest = async (store: ObjectStore) => {
    const read = await readManifest(store, manifestKey(SHA_A));
    if (read.status !== 'ok') throw new Error('the manifest vanished');
    return read.manifest;
  };

  it('S3: killed between parts of a multipart upload, the old manifest and object stay and no new object appears', async () => {
    const { url, store } = freshStore();
    const big = path.join(dir, 'big-s3.db');
    makeContentDatabase(big, 40_000, 1);
    expect((await runCli(['publish', db, '--store', url, '--git-sha', SHA_A], { env })).code).toBe(0);
    const before = await currentManifest(store);
    const keysBefore = (await store.list('')).map((o) => o.key);

    // The first upload progress event comes after the first 16 MiB part; two more parts are pending.
    const output = await publishAndKill(big, url, (text) => text.includes('"phase":"upload"'));
    expect(output).not.toContain('"publish.manifest"');
    expect(await currentManifest(store)).toEqual(before);
    expect((await store.head(before.object.key))?.size).toBe(before.object.size);
    expect((await store.list('')).map((o) => o.key)).toEqual(keysBefore);
  });

  it('folder store: wherever the kill lands, the manifest points at a complete object', async () => {
    const root = path.join(dir, `kill-folder-${++n}`);
    const store = new LocalStore(root);
    const big = path.join(dir, 'big-local.db');
    makeContentDatabase(big, 40_000, 2);
    expect((await runCli(['publish', db, '--store', root, '--git-sha', SHA_A])).code).toBe(0);
    const before = await currentManifest(store);
    let killedBeforeManifest = 0;
    for (const delayMs of [0, 10, 40, 120, 400]) {
      const output = await publishAndKill(big, root, (text) => text.includes('"publish.encoded"'), delayMs, {});
      if (!output.includes('"publish.manifest"')) killedBeforeManifest++;
      const now = await currentManifest(store);
      expect((await store.head(now.object.key))?.size, `the manifest's object after a kill ${delayMs} ms after encoding`).toBe(now.object.size);
      if (now.database.sha256 === before.database.sha256) expect(now).toEqual(before);
    }
    expect(killedBeforeManifest).toBeGreaterThan(0);
  });
});

describe('the store read back by independent clients', () => {
  it('aws CLI downloads object and manifest; sha256sum and sqlite3 agree with the manifest', async () => {
    expect(existsSync('/usr/bin/aws'), 'Debian awscli (installed by .ci/run)').toBe(true);
    const { url } = freshStore();
    const published = await runCli(['publish', db, '--store', url, '--git-sha', SHA_A, '--json'], { env });
    expect(published.code).toBe(0);
    const prefix = url.slice('s3://cli/'.length);
    const out = path.join(dir, 'aws');
    await mkdir(out, { recursive: true });
    const awsEnv = { ...process.env, ...s3.env, AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
    // Asynchronous: the S3 server runs in this process and must keep answering.
    const aws = (...args: string[]) => promisify(execFile)('/usr/bin/aws', ['--endpoint-url', s3.endpoint, ...args], { env: awsEnv });
    await aws('s3', 'cp', `s3://cli/${prefix}/${manifestKey(SHA_A)}`, path.join(out, 'manifest.json'));
    const manifest = parseManifestJson(readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    await aws('s3', 'cp', `s3://cli/${prefix}/${manifest.object.key}`, path.join(out, 'snapshot.db.gz'));
    execFileSync('gunzip', ['-f', path.join(out, 'snapshot.db.gz')]);
    const sum = execFileSync('sha256sum', [path.join(out, 'snapshot.db')], { encoding: 'utf8' }).split(' ')[0];
    expect(sum).toBe(manifest.database.sha256);
    expect(execFileSync('sqlite3', [path.join(out, 'snapshot.db'), 'PRAGMA integrity_check'], { encoding: 'utf8' }).trim()).toBe('ok');
    expect(execFileSync('sqlite3', [path.join(out, 'snapshot.db'), 'SELECT count(*) FROM posts'], { encoding: 'utf8' }).trim()).toBe('100');
  });
});
