import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fromBase64, type Manifest, manifestKey, parseManifestJson, serializeManifest } from '@sqlitening/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../src/signing/keys.js';
import { chunkRoot } from '../src/wire/chunk-hashes.js';
import { pageHashesOf } from '../src/transfer/identify-file.js';
import { readText } from '../src/store/object-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { type ActionRun, runActionEntry } from './helpers/action-run.js';
import { type CliResult, runCli } from './helpers/cli.js';
import { makeContentDatabase, SHA_A, tempFolder } from './helpers/fixtures.js';
import { startS3Server, type S3TestServer } from './helpers/s3-server.js';

/*
 * The trust chain, tried as an attacker who can write to the store but does
 * not hold the signing key: every way in must end with trusting pods holding
 * only bytes the key holder signed. Publishers are the Action's dist/ under
 * Node 24 and the CLI; pods are the CLI; stores are an S3 server and folders.
 */

let s3: S3TestServer;
let dir: string;
let cleanup: () => Promise<void>;
let keyPem: string;
let pubFile: string;
let n = 0;

beforeAll(async () => {
  s3 = await startS3Server(['trust']);
  ({ dir, cleanup } = await tempFolder('trust'));
  const keys = generateSigningKeyPair();
  keyPem = keys.privateKeyPem;
  pubFile = path.join(dir, 'snapshots.pub');
  await writeFile(pubFile, keys.publicKeyPem);
  await writeFile(path.join(dir, 'snapshots.key'), keys.privateKeyPem, { mode: 0o600 });
  await mkdir(path.join(dir, 'workspace'));
});
afterAll(async () => {
  await s3?.stop();
  await cleanup?.();
});

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const errorOf = (result: CliResult): Record<string, unknown> | undefined => result.events.find((e) => e.event === 'error');
const s3Store = (prefix: string) => new S3Store({ bucket: 'trust', prefix, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true });
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The manifest inside a manifest document, signed or not (read without checking, as a person would). */
function manifestIn(text: string): Manifest {
  const document = JSON.parse(text) as { payload?: string };
  return parseManifestJson(document.payload ? new TextDecoder().decode(fromBase64(document.payload)) : text);
}
async function textOf(store: S3Store, key: string): Promise<string> {
  const read = await store.get(key);
  if (read.status !== 'ok') throw new Error(`${key}: ${read.status}`);
  return readText(read.body);
}
const isSigned = (text: string): boolean => 'payload' in (JSON.parse(text) as object);

/** The Action's dist/ under Node 24, signing, with a loader that writes one note whose body is `body`. */
async function ci(prefix: string, body: string, inputs: Record<string, string> = {}): Promise<ActionRun> {
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
  });
  // Object keys and createdAt have whole seconds; keep publishes apart.
  await wait(1100);
  return run;
}

/** A pod trusting the publisher's key: one sync of SHA_A from the S3 store. */
function podSync(pod: string, prefix: string, ...extra: string[]): Promise<CliResult> {
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
      pubFile,
      '--attempts',
      '1',
      '--json',
      ...extra,
    ],
    { env: s3.env, timeoutMs: 40_000 },
  );
}

/** The rows of the pod's live database. */
function notesOf(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT body FROM notes ORDER BY id').all() as { body: string }[]).map((r) => r.body);
  } finally {
    db.close();
  }
}

/** A database the attacker made: the same schema, their rows. */
function attackerDatabase(file: string, body: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = DELETE');
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  db.prepare('INSERT INTO notes VALUES (1, ?)').run(body);
  db.close();
}

function fresh(label: string): { prefix: string; pod: string } {
  n++;
  return { prefix: `${label}-${n}`, pod: path.join(dir, `pod-${label}-${n}`) };
}

describe('the publisher trusts only what it can verify', () => {
  it('does not re-sign a manifest a store writer planted beside the same bytes, and no pod installs their object', async () => {
    const { prefix, pod } = fresh('resign');
    const store = s3Store(prefix);
    const first = await ci(prefix, 'legit', { 'start-from': 'fresh' });
    expect(first.code, first.stdout).toBe(0);
    const legit = manifestIn(await textOf(store, manifestKey(SHA_A)));
    await mkdir(pod);
    expect((await podSync(pod, prefix)).code).toBe(0);

    // The attacker's object, with its own chunk list, named by a manifest that keeps the legit SHA-256 and is dated 2099.
    const evil = path.join(dir, `evil-${n}.db`);
    attackerDatabase(evil, 'attacker');
    const evilBytes = readFileSync(evil);
    const evilHashes = await pageHashesOf(evil, 4096);
    await store.put(`${SHA_A}/evil.db`, evilBytes);
    await store.put(`${SHA_A}/evil.chunks`, evilHashes);
    const planted: Manifest = {
      ...legit,
      createdAt: '2099-01-01T00:00:00.000Z',
      database: { ...legit.database, size: evilBytes.length },
      object: { key: `${SHA_A}/evil.db`, encoding: 'identity', size: evilBytes.length },
      chunks: { size: 4096, count: evilHashes.length / 32, root: chunkRoot(evilHashes), key: `${SHA_A}/evil.chunks` },
      deltas: [],
    };
    await store.put(manifestKey(SHA_A), Buffer.from(serializeManifest(planted)));
    expect(errorOf(await podSync(pod, prefix))?.code).toBe('unsigned-manifest');

    // CI publishes the unchanged data again: the planted manifest is replaced, never signed.
    const again = await ci(prefix, 'legit', { 'start-from': 'fresh' });
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain('ignored-current');
    const text = await textOf(store, manifestKey(SHA_A));
    expect(isSigned(text)).toBe(true);
    const resigned = manifestIn(text);
    expect(resigned.object.key).not.toBe(planted.object.key);
    expect(resigned.database.sha256).toBe(legit.database.sha256); // the same bytes, as in the attack
    expect(resigned.chunks?.root).not.toBe(planted.chunks?.root);
    expect(resigned.createdAt < '2099').toBe(true);

    // A fresh trusting pod gets the legit bytes; the old one was never given a floor of 2099.
    const newPod = path.join(dir, `pod-resign-new-${n}`);
    await mkdir(newPod);
    const installed = await podSync(newPod, prefix);
    expect(installed.code, installed.stdout).toBe(0);
    expect(sha256(path.join(newPod, 'site.db'))).toBe(resigned.database.sha256);
    expect(notesOf(path.join(newPod, 'site.db'))).toEqual(['legit']);
    const next = await ci(prefix, 'legit, corrected', { 'start-from': 'fresh' });
    expect(next.code, next.stdout).toBe(0);
    const old = await podSync(pod, prefix);
    expect(old.code, old.stdout).toBe(0);
    expect(notesOf(path.join(pod, 'site.db'))).toEqual(['legit, corrected']);
  }, 120_000);

  it('the CLI publisher, too: the same bytes again over a planted manifest publish a new signed one', async () => {
    const root = path.join(dir, `cli-resign-${++n}`);
    const legit = path.join(dir, `legit-${n}.db`);
    makeContentDatabase(legit, 50, 1);
    const publish = () =>
      runCli(['publish', legit, '--store', root, '--git-sha', SHA_A, '--signing-key', path.join(dir, 'snapshots.key'), '--grace', '0s', '--json']);
    expect((await publish()).code).toBe(0);
    const pointer = path.join(root, manifestKey(SHA_A));
    const signed = manifestIn(await readFile(pointer, 'utf8'));
    await writeFile(pointer, serializeManifest({ ...signed, createdAt: '2099-01-01T00:00:00.000Z', object: { ...signed.object, key: `${SHA_A}/evil.db` } }));
    await wait(1100);
    const again = await publish();
    expect(again.code, again.stderr).toBe(0);
    expect(again.events.find((e) => e.event === 'publish.ignored-current')).toMatchObject({ reason: 'unsigned-manifest' });
    expect(again.events.find((e) => e.event === 'result')).toMatchObject({ status: 'published' });
    const now = manifestIn(await readFile(pointer, 'utf8'));
    expect(now.object.key).not.toBe(`${SHA_A}/evil.db`);
    expect(now.createdAt < '2099').toBe(true);
  }, 60_000);

  it('refuses to build on an unsigned snapshot a store writer published, and signs nothing', async () => {
    const { prefix, pod } = fresh('from');
    const store = s3Store(prefix);
    expect((await ci(prefix, 'legit')).code).toBe(0);
    const evil = path.join(dir, `evil-from-${n}.db`);
    attackerDatabase(evil, 'attacker');
    const planted = await runCli(
      ['publish', evil, '--store', `s3://trust/${prefix}`, '--endpoint', s3.endpoint, '--path-style', '--git-sha', SHA_A, '--grace', '0s', '--json'],
      { env: s3.env },
    );
    expect(planted.code, planted.stderr).toBe(0);

    const refresh = await ci(prefix, 'legit, refreshed');
    expect(refresh.code).not.toBe(0);
    expect(refresh.stdout).toContain('refusing to build on');
    expect(refresh.stdout).toContain('not signed');
    // The store still holds the attacker's unsigned manifest, which trusting pods refuse.
    expect(isSigned(await textOf(store, manifestKey(SHA_A)))).toBe(false);
    await mkdir(pod);
    const sync = await podSync(pod, prefix);
    expect(errorOf(sync)?.code).toBe('unsigned-manifest');
    expect(existsSync(path.join(pod, 'site.db'))).toBe(false);
  }, 120_000);
});

describe('rollback floors', () => {
  it('a replayed older manifest of the same bytes is no rollback: unchanged, and the floor stays where it was', async () => {
    const { prefix, pod } = fresh('replay');
    const store = s3Store(prefix);
    const texts: string[] = [];
    for (const body of ['A', 'B', 'A']) {
      const run = await ci(prefix, body, { 'start-from': 'fresh' });
      expect(run.code, run.stdout).toBe(0);
      texts.push(await textOf(store, manifestKey(SHA_A)));
    }
    const [a1, b, a2] = texts.map(manifestIn) as [Manifest, Manifest, Manifest];
    expect(a1.database.sha256).toBe(a2.database.sha256);
    await mkdir(pod);
    expect((await podSync(pod, prefix)).code).toBe(0);
    expect(notesOf(path.join(pod, 'site.db'))).toEqual(['A']);

    // The bytes it serves, named by an older manifest (another store or prefix, a mirror that lagged): unchanged.
    await store.put(manifestKey(SHA_A), Buffer.from(texts[0]!));
    const same = await podSync(pod, prefix);
    expect(same.code, same.stderr).toBe(0);
    expect(same.events.at(-1)).toMatchObject({ status: 'unchanged' });
    const state = JSON.parse(await readFile(path.join(pod, '.sqlitening', 'state.json'), 'utf8')) as { floor: { createdAt: string }; installed: Manifest };
    expect(state.floor.createdAt).toBe(a2.createdAt);
    expect(state.installed.createdAt).toBe(a2.createdAt);
    // Other bytes older than the floor: refused.
    await store.put(manifestKey(SHA_A), Buffer.from(texts[1]!));
    const replayed = await podSync(pod, prefix);
    expect(errorOf(replayed)?.code, `replay of the manifest created ${b.createdAt}`).toBe('rollback-refused');
    expect(notesOf(path.join(pod, 'site.db'))).toEqual(['A']);
  }, 120_000);

  it('a corrupt state file is an error that names itself, and nothing is reset', async () => {
    const root = path.join(dir, `state-${++n}`);
    const pod = path.join(dir, `pod-state-${n}`);
    const db = path.join(dir, `state-${n}.db`);
    makeContentDatabase(db, 50, 1);
    expect((await runCli(['publish', db, '--store', root, '--git-sha', SHA_A, '--grace', '0s'])).code).toBe(0);
    const sync = () => runCli(['sync', '--database', path.join(pod, 'site.db'), '--git-sha', SHA_A, '--store', root, '--attempts', '1', '--json']);
    await mkdir(pod);
    expect((await sync()).code).toBe(0);
    const stateFile = path.join(pod, '.sqlitening', 'state.json');
    expect(existsSync(stateFile)).toBe(true);
    await writeFile(stateFile, '{"version": 1, "installed": ');
    const result = await sync();
    expect(result.code).toBe(1);
    expect(errorOf(result)).toMatchObject({ code: 'state-corrupt' });
    expect(String(errorOf(result)?.message)).toContain(stateFile);
    expect(await readFile(stateFile, 'utf8')).toBe('{"version": 1, "installed": ');
  }, 60_000);

  it('a failed re-verification keeps the floor: an older signed manifest is still refused', async () => {
    const root = path.join(dir, `reverify-${++n}`);
    const pod = path.join(dir, `pod-reverify-${n}`);
    const pointer = path.join(root, manifestKey(SHA_A));
    const texts: string[] = [];
    for (const seed of [1, 2]) {
      const db = path.join(dir, `reverify-${n}-${seed}.db`);
      makeContentDatabase(db, 50, seed);
      const published = await runCli(['publish', db, '--store', root, '--git-sha', SHA_A, '--signing-key', path.join(dir, 'snapshots.key'), '--grace', '0s']);
      expect(published.code).toBe(0);
      texts.push(await readFile(pointer, 'utf8'));
      await wait(1100);
    }
    const live = path.join(pod, 'site.db');
    await mkdir(pod);
    const sync = (...extra: string[]) =>
      runCli(['sync', '--database', live, '--git-sha', SHA_A, '--store', root, '--trust-key', pubFile, '--attempts', '1', '--json', ...extra]);
    expect((await sync()).code).toBe(0);
    // Installed under a trusted signature, so it is re-verified by its chunk root (which finds the corruption below).
    const state = JSON.parse(await readFile(path.join(pod, '.sqlitening', 'state.json'), 'utf8')) as { installedSignedBy: string | null };
    expect(state.installedSignedBy).toEqual(expect.any(String));
    const v2 = sha256(live);
    await corruptByte(live, 2 * 4096 - 10);
    await writeFile(pointer, texts[0]!);
    const result = await sync('--reverify', '1ms');
    expect(result.events.find((e) => e.event === 'agent.reverified')).toMatchObject({ ok: false });
    expect(errorOf(result)?.code).toBe('rollback-refused');
    // The pod keeps its file (corrupt now, so the next good manifest is a full download) and never takes v1.
    await writeFile(pointer, texts[1]!);
    expect((await sync()).code).toBe(0);
    expect(sha256(live)).toBe(v2);
  }, 60_000);

  it('a pod with no state gets a floor from the signed expiry; an unchanged publish renews it', async () => {
    const root = path.join(dir, `expiry-${++n}`);
    const pointer = path.join(root, manifestKey(SHA_A));
    const db = path.join(dir, `expiry-${n}.db`);
    makeContentDatabase(db, 50, 1);
    const publish = (expiresIn: string) =>
      runCli(['publish', db, '--store', root, '--git-sha', SHA_A, '--signing-key', path.join(dir, 'snapshots.key'), '--expires-in', expiresIn, '--json']);
    expect((await publish('2s')).code).toBe(0);
    const old = await readFile(pointer, 'utf8');
    await wait(2100);
    await mkdir(path.join(dir, `pod-expiry-${n}`));
    const pull = (target: string) =>
      runCli(['sync', '--database', target, '--git-sha', SHA_A, '--store', root, '--trust-key', pubFile, '--attempts', '1', '--json']);
    const expired = await pull(path.join(dir, `pod-expiry-${n}`, 'site.db'));
    expect(errorOf(expired)?.code).toBe('manifest-expired');
    expect(existsSync(path.join(dir, `pod-expiry-${n}`, 'site.db'))).toBe(false);

    // An expired manifest is not renewed as it is (it may be an old one put back): a new one is signed.
    const fresh = await publish('1h');
    expect(fresh.events.find((e) => e.event === 'publish.ignored-current')).toMatchObject({ reason: 'mismatch' });
    expect(fresh.events.find((e) => e.event === 'result')).toMatchObject({ status: 'published' });
    const first = manifestIn(await readFile(pointer, 'utf8'));
    expect(Date.parse(first.createdAt)).toBeGreaterThan(Date.parse(manifestIn(old).createdAt));
    expect((await pull(path.join(dir, `pod-expiry-${n}`, 'site.db'))).code).toBe(0);
    // One that has not expired is renewed: the same snapshot, a later expiry.
    await wait(1100);
    const renewed = await publish('2h');
    expect(renewed.events.find((e) => e.event === 'result')).toMatchObject({ status: 'unchanged' });
    const now = manifestIn(await readFile(pointer, 'utf8'));
    expect(now.createdAt).toBe(first.createdAt);
    expect(Date.parse(now.expiresAt!)).toBeGreaterThan(Date.parse(first.expiresAt!));

    // The one-shot pull keeps no floor, but the expiry holds for it too.
    await writeFile(pointer, old);
    const pulled = await runCli(['pull', path.join(dir, `pulled-${n}.db`), '--git-sha', SHA_A, '--store', root, '--trust-key', pubFile, '--json']);
    expect(errorOf(pulled)?.code).toBe('manifest-expired');
  }, 60_000);
});

describe('freezes', () => {
  it('a store that answers "not modified" past the installed manifest’s expiry fails the run (manifest-expired)', async () => {
    const root = path.join(dir, `freeze-${++n}`);
    const db = path.join(dir, `freeze-${n}.db`);
    makeContentDatabase(db, 50, 1);
    const key = path.join(dir, 'snapshots.key');
    expect((await runCli(['publish', db, '--store', root, '--git-sha', SHA_A, '--signing-key', key, '--expires-in', '3s'])).code).toBe(0);
    const live = path.join(dir, `pod-freeze-${n}`, 'site.db');
    await mkdir(path.dirname(live));
    const sync = () => runCli(['sync', '--database', live, '--git-sha', SHA_A, '--store', root, '--trust-key', pubFile, '--attempts', '1', '--json']);
    expect((await sync()).code).toBe(0);
    expect((await sync()).events.find((e) => e.event === 'result')).toMatchObject({ status: 'not-modified' });
    await wait(3100);
    const frozen = await sync();
    expect(errorOf(frozen)?.code).toBe('manifest-expired');
    expect(sha256(live)).toBe(sha256(db)); // the pod keeps serving what it has
  }, 60_000);
});

describe('the manifest names its database', () => {
  it('a pod with --name refuses another database copied into its folder; the publisher does not build on it', async () => {
    const root = path.join(dir, `names-${++n}`);
    const key = path.join(dir, 'snapshots.key');
    for (const name of ['content', 'search']) {
      const db = path.join(dir, `${name}-${n}.db`);
      makeContentDatabase(db, 50, name === 'content' ? 1 : 2);
      const published = await runCli(['publish', db, '--store', path.join(root, name), '--git-sha', SHA_A, '--signing-key', key, '--name', name]);
      expect(published.code, published.stderr).toBe(0);
    }
    await cp(path.join(root, 'search', SHA_A), path.join(root, 'content', SHA_A), { recursive: true, force: true });
    const pod = path.join(dir, `pod-names-${n}`);
    await mkdir(pod);
    const sync = () =>
      runCli([
        'sync',
        '--database',
        path.join(pod, 'site.db'),
        '--git-sha',
        SHA_A,
        '--store',
        path.join(root, 'content'),
        '--trust-key',
        pubFile,
        '--name',
        'content',
        '--attempts',
        '1',
        '--json',
      ]);
    const refused = await sync();
    expect(errorOf(refused)?.code).toBe('wrong-database');
    expect(String(errorOf(refused)?.message)).toContain("'search'");
    expect(existsSync(path.join(pod, 'site.db'))).toBe(false);

    await wait(1100);
    const again = await runCli([
      'publish',
      path.join(dir, `content-${n}.db`),
      '--store',
      path.join(root, 'content'),
      '--git-sha',
      SHA_A,
      '--signing-key',
      key,
      '--name',
      'content',
      '--json',
    ]);
    expect(again.events.find((e) => e.event === 'publish.ignored-current')).toMatchObject({ reason: 'mismatch' });
    const manifest = manifestIn(await readFile(path.join(root, 'content', manifestKey(SHA_A)), 'utf8'));
    expect(manifest.name).toBe('content');
    expect(manifest.history).toEqual([]);
    expect((await sync()).code).toBe(0);
    expect(sha256(path.join(pod, 'site.db'))).toBe(sha256(path.join(dir, `content-${n}.db`)));
  }, 60_000);
});

describe('what a pod verified', () => {
  it('a delta install does not reset the re-verification clock: a corrupt unchanged page is found and replaced', async () => {
    const root = path.join(dir, `clock-${++n}`);
    const live = path.join(dir, `pod-clock-${n}`, 'site.db');
    const db = path.join(dir, `clock-${n}.db`);
    makeContentDatabase(db, 2000, 1);
    const publish = () => runCli(['publish', db, '--store', root, '--git-sha', SHA_A, '--grace', '0s', '--keep', '5']);
    const sync = () => runCli(['sync', '--database', live, '--git-sha', SHA_A, '--store', root, '--reverify', '8s', '--attempts', '1', '--json']);
    expect((await publish()).code).toBe(0);
    const v1 = Buffer.from(readFileSync(db));
    await mkdir(path.dirname(live));
    expect((await sync()).code).toBe(0);
    const fullAt = Date.now();

    const update = new Database(db);
    update.prepare("UPDATE posts SET body = 'rev 2 ' || body WHERE id % 100 = 2").run();
    update.close();
    const v2 = readFileSync(db);
    // A page both versions share, corrupted on the pod's disk with its inode, size and mtime kept.
    const offset = sharedRowText(v1, v2);
    const reference = `${live}.times`;
    await writeFile(reference, '');
    execFileSync('touch', ['-r', live, reference]);
    await corruptByte(live, offset);
    execFileSync('touch', ['-r', reference, live]);

    await wait(1100);
    expect((await publish()).code).toBe(0);
    const delta = await sync();
    expect(delta.code, delta.stdout).toBe(0);
    expect(delta.events.find((e) => e.event === 'agent.installed')).toMatchObject({ method: 'delta' });
    expect(sha256(live)).not.toBe(sha256(db)); // the delta proved only its own pages

    await wait(Math.max(0, fullAt + 8_500 - Date.now()));
    const later = await sync();
    expect(later.code, later.stdout).toBe(0);
    expect(later.events.find((e) => e.event === 'agent.reverified')).toMatchObject({ ok: false });
    expect(sha256(live)).toBe(sha256(db));
  }, 60_000);

  it('refuses a manifest whose SHA-256 is wrong though its chunk root is right, rather than report that SHA-256', async () => {
    const root = path.join(dir, `identity-${++n}`);
    const db = path.join(dir, `identity-${n}.db`);
    makeContentDatabase(db, 50, 1);
    expect((await runCli(['publish', db, '--store', root, '--git-sha', SHA_A])).code).toBe(0);
    const pointer = path.join(root, manifestKey(SHA_A));
    const manifest = manifestIn(await readFile(pointer, 'utf8'));
    await writeFile(pointer, serializeManifest({ ...manifest, database: { ...manifest.database, sha256: 'f'.repeat(64) } }));
    const live = path.join(dir, `pod-identity-${n}`, 'site.db');
    await mkdir(path.dirname(live));
    const result = await runCli(['sync', '--database', live, '--git-sha', SHA_A, '--store', root, '--attempts', '1', '--json']);
    expect(errorOf(result)?.code).toBe('checksum-mismatch');
    expect(existsSync(live)).toBe(false);
  }, 60_000);
});

/** Flips one byte of a file in place (same inode). */
async function corruptByte(file: string, offset: number): Promise<void> {
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

/** The offset of row text in a 4 KiB page (not the first) that two versions of a file share: flipping it breaks no structure. */
function sharedRowText(a: Buffer, b: Buffer): number {
  for (let page = a.length / 4096 - 1; page > 1; page--) {
    const start = page * 4096;
    if (!a.subarray(start, start + 4096).equals(b.subarray(start, start + 4096))) continue;
    const at = a.subarray(start, start + 4096).indexOf('Notes for release');
    if (at >= 0) return start + at + 1;
  }
  throw new Error('no shared page with row text');
}

describe("the build's starting point", () => {
  /** A folder store with one signed snapshot per `seed`, each published a second apart; returns their manifest texts. */
  async function signedHistory(seeds: number[], extra: string[] = []): Promise<{ root: string; texts: string[] }> {
    const root = path.join(dir, `start-${++n}`);
    const texts: string[] = [];
    for (const seed of seeds) {
      const db = path.join(dir, `start-${n}-${seed}.db`);
      makeContentDatabase(db, 50, seed);
      const published = await runCli([
        'publish',
        db,
        '--store',
        root,
        '--git-sha',
        SHA_A,
        '--signing-key',
        path.join(dir, 'snapshots.key'),
        '--grace',
        '0s',
        ...extra,
      ]);
      expect(published.code, published.stderr).toBe(0);
      texts.push(await readFile(path.join(root, manifestKey(SHA_A)), 'utf8'));
      await wait(1100);
    }
    return { root, texts };
  }
  const build = (root: string, output: string, ...extra: string[]) =>
    runCli(['build', '--from', 'published', '--store', root, '--git-sha', SHA_A, '--output', output, '--loader', 'true', '--json', ...extra]);

  it('refuses to build on an expired signed manifest a store writer put back (the signed expiry holds for CI as for pods)', async () => {
    const { root, texts } = await signedHistory([1, 2], ['--expires-in', '2s']);
    await wait(2100); // the first manifest's expiry has passed
    await writeFile(path.join(root, manifestKey(SHA_A)), texts[0]!);
    const result = await build(root, path.join(dir, `expired-${n}.db`), '--trust-key', pubFile);
    expect(errorOf(result)).toMatchObject({ code: 'manifest-expired' });
    expect(result.code).toBe(3);
    expect(existsSync(path.join(dir, `expired-${n}.db`))).toBe(false);
  }, 60_000);

  it('the Action (dist/, Node 24) refuses to start from an expired signed manifest a store writer put back', async () => {
    const { prefix } = fresh('expired-start');
    const store = s3Store(prefix);
    expect((await ci(prefix, 'old', { 'expires-in': '2s' })).code).toBe(0);
    const old = await textOf(store, manifestKey(SHA_A));
    expect((await ci(prefix, 'banned', { 'start-from': 'published', 'expires-in': '1h' })).code).toBe(0);
    await wait(2100);
    await store.put(manifestKey(SHA_A), Buffer.from(old));
    const run = await ci(prefix, 'refresh', { 'start-from': 'published', 'expires-in': '1h' });
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(/manifest.json expired at /);
    expect(await textOf(store, manifestKey(SHA_A))).toBe(old);
  }, 120_000);

  it('with several stores, starts from the newest manifest any of them proves (a writer of one store cannot roll CI back)', async () => {
    const { root, texts } = await signedHistory([1, 2]);
    const mirror = path.join(dir, `start-mirror-${n}`);
    await cp(root, mirror, { recursive: true });
    // The first store's manifest put back to the older one, still within any expiry.
    await writeFile(path.join(root, manifestKey(SHA_A)), texts[0]!);
    const output = path.join(dir, `rolled-${n}.db`);
    const result = await runCli([
      'build',
      '--from',
      'published',
      '--store',
      root,
      '--store',
      mirror,
      '--git-sha',
      SHA_A,
      '--output',
      output,
      '--loader',
      'true',
      '--trust-key',
      pubFile,
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const newest = manifestIn(texts[1]!);
    expect(result.events.find((e) => e.event === 'from-published')).toMatchObject({ key: newest.object.key, sha256: newest.database.sha256 });
  }, 60_000);

  it('publish --signing-key refuses a database built on a snapshot no trusted key proved, unless told the store is trusted', async () => {
    const { root } = await signedHistory([1]);
    const output = path.join(dir, `unproven-${n}.db`);
    const publish = (...extra: string[]) =>
      runCli(['publish', output, '--store', root, '--git-sha', SHA_A, '--signing-key', path.join(dir, 'snapshots.key'), '--grace', '0s', '--json', ...extra]);
    // Built without --trust-key: the store was trusted, so signing would vouch for whatever a writer put there.
    expect((await build(root, output)).code).toBe(0);
    const refused = await publish();
    expect(errorOf(refused)).toMatchObject({ code: 'unproven-start' });
    expect(refused.code).toBe(3);
    expect(String(errorOf(refused)?.message)).toContain('--trust-key');
    expect((await publish('--allow-unproven-start')).code).toBe(0);
    // Built with the signing key's public half as --trust-key: proven, signed.
    await wait(1100);
    const proven = await build(root, output, '--trust-key', pubFile);
    expect(proven.events.at(-1)).toMatchObject({ startedFrom: { provenBy: expect.stringMatching(/^[0-9a-f]{16}$/) } });
    expect((await publish()).code).toBe(0);
    // A fresh build leaves no record behind: nothing to refuse.
    expect((await runCli(['build', '--output', output, '--loader', 'true'])).code).toBe(0);
    expect(existsSync(`${output}.start.json`)).toBe(false);
  }, 60_000);
});
