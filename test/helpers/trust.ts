import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fromBase64, type Manifest, parseManifestJson } from '@sqlitening/contract';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { generateSigningKeyPair } from '../../src/signing/keys.js';
import { readText } from '../../src/store/object-store.js';
import { S3Store } from '../../src/store/s3-store.js';
import { type ActionRun, runActionEntry } from './action-run.js';
import { type CliResult, runCli } from './cli.js';
import { type TestClock, testClock } from './clock.js';
import { SHA_A, tempFolder } from './fixtures.js';
import { startS3Server, type S3TestServer } from './s3-server.js';

/*
 * What the tests of the trust chain share (signatures, rollback floors, expiry, the build's starting
 * point): an attacker who can write to the store but does not hold the signing key. Publishers are the
 * Action's dist/ under Node 24 and the CLI; pods are the CLI; stores are an S3 server and folders.
 */

export const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
export const errorOf = (result: CliResult): Record<string, unknown> | undefined => result.events.find((e) => e.event === 'error');

/** The manifest inside a manifest document, signed or not (read without checking, as a person would). */
export function manifestIn(text: string): Manifest {
  const document = JSON.parse(text) as { payload?: string };
  return parseManifestJson(document.payload ? new TextDecoder().decode(fromBase64(document.payload)) : text);
}
export async function textOf(store: S3Store, key: string): Promise<string> {
  const read = await store.get(key);
  if (read.status !== 'ok') throw new Error(`${key}: ${read.status}`);
  return readText(read.body);
}
export const isSigned = (text: string): boolean => 'payload' in (JSON.parse(text) as object);

/** The rows of the pod's live database. */
export function notesOf(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT body FROM notes ORDER BY id').all() as { body: string }[]).map((r) => r.body);
  } finally {
    db.close();
  }
}

/** A database the attacker made: the same schema, their rows. */
export function attackerDatabase(file: string, body: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = DELETE');
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  db.prepare('INSERT INTO notes VALUES (1, ?)').run(body);
  db.close();
}

/** Flips one byte of a file in place (same inode). */
export async function corruptByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0x01;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** A file's temporary folder with a signing key pair (`snapshots.key`, `snapshots.pub`), an S3 server with bucket `trust`, and a clock per test. */
export interface TrustFixture {
  readonly s3: S3TestServer;
  readonly dir: string;
  readonly keyPem: string;
  /** The private key's file, as `publish --signing-key` takes it. */
  readonly keyFile: string;
  readonly pubFile: string;
  /** The current test's clock: every child process the fixture starts runs on it. */
  readonly clock: TestClock;
  /** A number for the next store and pod of this file. */
  next(): number;
  /** A new S3 prefix and pod folder (not made) named after `label`. */
  fresh(label: string): { prefix: string; pod: string; n: number };
  s3Store(prefix: string): S3Store;
  /** The CLI on the test's clock. */
  cli(args: string[], options?: Parameters<typeof runCli>[1]): Promise<CliResult>;
  /** The Action's dist/ under Node 24, signing, with a loader that writes one note whose body is `body`; then the clock moves on a second. */
  ci(prefix: string, body: string, inputs?: Record<string, string>): Promise<ActionRun>;
  /** A pod trusting the publisher's key: one sync of SHA_A from the S3 store. */
  podSync(pod: string, prefix: string, ...extra: string[]): Promise<CliResult>;
}

export function trustFixture(label: string): TrustFixture {
  let s3: S3TestServer;
  let dir = '';
  let cleanup: () => Promise<void> = async () => {};
  let keyPem = '';
  let clock = testClock();
  let n = 0;
  beforeAll(async () => {
    s3 = await startS3Server(['trust']);
    ({ dir, cleanup } = await tempFolder(label));
    const keys = generateSigningKeyPair();
    keyPem = keys.privateKeyPem;
    await writeFile(path.join(dir, 'snapshots.pub'), keys.publicKeyPem);
    await writeFile(path.join(dir, 'snapshots.key'), keys.privateKeyPem, { mode: 0o600 });
    await mkdir(path.join(dir, 'workspace'));
  });
  afterAll(async () => {
    await s3?.stop();
    await cleanup();
  });
  beforeEach(() => {
    clock = testClock();
  });
  const fixture: TrustFixture = {
    get s3() {
      return s3;
    },
    get dir() {
      return dir;
    },
    get keyPem() {
      return keyPem;
    },
    get keyFile() {
      return path.join(dir, 'snapshots.key');
    },
    get pubFile() {
      return path.join(dir, 'snapshots.pub');
    },
    get clock() {
      return clock;
    },
    next: () => ++n,
    fresh(name) {
      n++;
      return { prefix: `${name}-${n}`, pod: path.join(dir, `pod-${name}-${n}`), n };
    },
    s3Store: (prefix) => new S3Store({ bucket: 'trust', prefix, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true }),
    cli: (args, options = {}) => runCli(args, { clock, ...options }),
    async ci(prefix, body, inputs = {}) {
      const run = await runActionEntry({
        inputs: {
          store: `s3://trust/${prefix}`,
          endpoint: s3.endpoint,
          'path-style': 'true',
          // A migrate command rather than a folder: no applied-at times, so the same rows make the same bytes.
          'migrate-command': `sqlite3 "$SQLITENING_DB" "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"`,
          loaders: `sqlite3 "$SQLITENING_DB" "INSERT OR REPLACE INTO notes VALUES (1, '$NOTE_BODY')"`,
          'signing-key': keyPem,
          grace: '0s',
          keep: '10',
          ...inputs,
        },
        env: {
          PATH: process.env.PATH ?? '',
          HOME: dir,
          ...s3.env,
          NOTE_BODY: body,
          GITHUB_ACTIONS: 'true',
          GITHUB_SHA: SHA_A,
          GITHUB_WORKSPACE: path.join(dir, 'workspace'),
          RUNNER_TEMP: path.join(dir, 'workspace'),
        },
        cwd: path.join(dir, 'workspace'),
        files: dir,
        clock,
      });
      // Object keys and createdAt have whole seconds; keep publishes apart.
      clock.advance(1.1);
      return run;
    },
    podSync(pod, prefix, ...extra) {
      return runCli(
        [
          'sync',
          '--database',
          path.join(pod, 'site.db'),
          '--git-sha',
          SHA_A,
          '--store',
          `s3://trust/${prefix}`,
          '--endpoint',
          s3.endpoint,
          '--path-style',
          '--trust-key',
          path.join(dir, 'snapshots.pub'),
          '--attempts',
          '1',
          '--json',
          ...extra,
        ],
        { env: s3.env, timeoutMs: 40_000, clock },
      );
    },
  };
  return fixture;
}
