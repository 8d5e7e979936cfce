import { GetObjectCommand } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { manifestKey, parseManifestJson } from '@sqlitening/contract';
import { Inputs, Outputs } from '../src/action/constants.js';
import { readText } from '../src/store/object-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { LocalStore } from '../src/store/local-store.js';
import { readManifest } from '../src/wire/manifest-store.js';
import { generateSigningKeyPair } from '../src/signing/keys.js';
import { openManifest } from '../src/signing/manifest-signature.js';
import { SHA_A, SHA_B, tempFolder } from './helpers/fixtures.js';
import { ACTION_ENTRY as ENTRY, actionYml, type ActionRun, runActionEntry } from './helpers/action-run.js';
import { NODE24 } from './helpers/node24.js';
import { startS3Server, type S3TestServer } from './helpers/s3-server.js';

let s3: S3TestServer;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  s3 = await startS3Server(['action']);
  ({ dir, cleanup } = await tempFolder('action'));
  await mkdir(path.join(dir, 'workspace', 'db', 'migrations'), { recursive: true });
  await writeFile(path.join(dir, 'workspace', 'db', 'migrations', '001_notes.sql'), 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);');
});
afterAll(async () => {
  await s3?.stop();
  await cleanup?.();
});

/** Runs dist/index.js as the runner does, for the workflow's commit `sha`. */
async function runAction(inputs: Record<string, string>, sha = SHA_A): Promise<ActionRun> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    ...s3.env,
    GITHUB_ACTIONS: 'true',
    GITHUB_SHA: sha,
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REPOSITORY: 'acme/site',
    GITHUB_RUN_ID: '4242',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_WORKSPACE: path.join(dir, 'workspace'),
    RUNNER_TEMP: path.join(dir, 'workspace'),
  };
  return runActionEntry({ inputs, env, cwd: path.join(dir, 'workspace'), files: dir });
}

function storeInputs(prefix: string): Record<string, string> {
  return { store: `s3://action/${prefix}`, endpoint: s3.endpoint, 'path-style': 'true' };
}

const store = (prefix: string) => new S3Store({ bucket: 'action', prefix, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true });

describe('the action, dist/index.js under Node 24', () => {
  it('is declared as a node24 action whose entry exists', () => {
    expect(actionYml.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
    expect(existsSync(ENTRY)).toBe(true);
    expect(existsSync(NODE24), 'Node 24 for the action: npm ci --prefix tools/node24').toBe(true);
  });

  it('declares exactly the inputs and outputs the code names', () => {
    expect(Object.keys(actionYml.inputs).sort()).toEqual(Object.values(Inputs).sort());
    expect(Object.keys(actionYml.outputs).sort()).toEqual(Object.values(Outputs).sort());
  });

  it('has example workflows that pass only declared inputs, and fetch every commit for git-sha: live (refresh and matrix)', async () => {
    type Step = { uses?: string; with?: Record<string, unknown> };
    const folder = 'examples/workflows';
    for (const file of await readdir(folder)) {
      const workflow = parseYaml(readFileSync(path.join(folder, file), 'utf8')) as { jobs: Record<string, { steps: Step[] }> };
      for (const job of Object.values(workflow.jobs)) {
        const ours = job.steps.filter((step) => step.uses?.startsWith('sqlitening/sqlitening@'));
        for (const step of ours) {
          expect(
            Object.keys(step.with ?? {}).filter((input) => !(input in actionYml.inputs)),
            file,
          ).toEqual([]);
          // Both live modes check each commit against the live branch's history, so both need every commit.
          const live = step.with?.['git-sha'] === 'live';
          const checkout = job.steps.find((s) => s.uses?.startsWith('actions/checkout@'));
          if (live) expect(checkout?.with?.['fetch-depth'], `${file}: git-sha: live needs every commit and branch`).toBe(0);
        }
      }
    }
  });

  it('carries no native addon (it would load on one OS and CPU only) and the licenses of what it bundles', async () => {
    const files = await readdir('dist', { recursive: true });
    expect(files.filter((file) => file.endsWith('.node'))).toEqual([]);
    const licenses = readFileSync('dist/licenses.txt', 'utf8');
    expect(licenses).toMatch(/^@aws-sdk\/client-s3\nApache-2\.0\n *Apache License\n/m);
    expect(licenses).toMatch(/^zod\nMIT\n[\s\S]*?Permission is hereby granted/m);
    expect(licenses).toMatch(/^@actions\/core\nMIT\n/m);
  });

  it('publishes to several stores, one per line (a mirror in a folder), and fails the step, outputs set, when one does not get it', async () => {
    const mirror = path.join(dir, 'mirror-store');
    const inputs = {
      ...storeInputs('mirrored'),
      store: `s3://action/mirrored\n${mirror}`,
      migrations: 'db/migrations',
      loaders: `sqlite3 "$SQLITENING_DB" "INSERT INTO notes (body) VALUES ('x')"`,
    };
    const run = await runAction(inputs);
    expect(run.code, run.stdout).toBe(0);
    const primary = await readManifest(store('mirrored'), manifestKey(SHA_A));
    const copy = await readManifest(new LocalStore(mirror), manifestKey(SHA_A));
    if (primary.status !== 'ok' || copy.status !== 'ok') throw new Error(`a store has no manifest: ${primary.status} ${copy.status}\n${run.stdout}`);
    expect(copy.manifest.object).toEqual(primary.manifest.object);
    expect(copy.manifest.createdAt).toBe(primary.manifest.createdAt);
    expect(run.summary).toMatch(/\| Store 1 \| `file:.*mirror-store`: published \|/);
    // A mirror that cannot be written (a folder under a file): the first store gets it, the step fails, naming it.
    const blocked = path.join(dir, 'blocked-mirror');
    await writeFile(blocked, 'not a folder');
    const partial = await runAction({ ...inputs, store: `s3://action/mirrored-2\n${path.join(blocked, 'store')}` });
    expect(partial.code).not.toBe(0);
    expect(partial.outputs['object-key']).toMatch(/\.db\.gz$/);
    expect(partial.stdout).toMatch(/published in 1 of 2 stores; failed in file:.*blocked-mirror/);
  }, 60_000);

  it('builds, publishes, sets every output and writes the job summary; a rerun changes nothing', async () => {
    const inputs = {
      ...storeInputs('e2e'),
      migrations: 'db/migrations',
      loaders: `sqlite3 "$SQLITENING_DB" "INSERT INTO notes (body) VALUES ('first')"\n# a comment line is skipped\nsqlite3 "$SQLITENING_DB" "INSERT INTO notes (body) VALUES ('second')"`,
      'public-base-url': 'https://snapshots.example.com/e2e/',
    };
    const first = await runAction(inputs);
    expect(first.code, first.stdout).toBe(0);
    expect(first.stdout, 'a warning from Node, such as an ExperimentalWarning for node:sqlite').not.toMatch(/^\(node:\d+\) /m);
    const manifestRead = await store('e2e').get(manifestKey(SHA_A));
    if (manifestRead.status !== 'ok') throw new Error('no manifest');
    const manifest = parseManifestJson(await readText(manifestRead.body));
    expect(first.outputs).toEqual({
      published: 'true',
      status: 'published',
      'git-sha': SHA_A,
      sha256: manifest.database.sha256,
      'object-key': manifest.object.key,
      'manifest-key': manifestKey(SHA_A),
      size: String(manifest.database.size),
      'compressed-size': String(manifest.object.size),
      'public-url': `https://snapshots.example.com/e2e/${manifest.object.key}`,
      'manifest-url': `https://snapshots.example.com/e2e/${manifestKey(SHA_A)}`,
    });
    expect(manifest.builder).toEqual({
      tool: 'sqlitening/0.1.0',
      repository: 'acme/site',
      ref: 'refs/heads/main',
      runUrl: 'https://github.com/acme/site/actions/runs/4242',
    });
    expect(manifest.database.tables).toContainEqual({ name: 'notes', rows: 2 });
    expect(first.summary).toContain('## Sqlitening: Published a new snapshot');
    expect(first.summary).toContain(`| SHA-256 | \`${manifest.database.sha256}\` |`);
    expect(first.summary).toContain('| `notes` | 2 |');
    expect(first.summary).toContain('`001_notes.sql`');

    // Same commit, same loaders: starts from the published snapshot, so the rows would double.
    // Without loaders the bytes are the same, and nothing new is published.
    const again = await runAction({ ...storeInputs('e2e'), migrations: 'db/migrations' });
    expect(again.code, again.stdout).toBe(0);
    expect(again.outputs).toMatchObject({ published: 'false', status: 'unchanged', sha256: manifest.database.sha256 });
    expect(again.summary).toContain('Unchanged: these bytes were already published');
  });

  it('signs the manifest with the signing-key input, and an agent trusting the public key reads it', async () => {
    const keys = generateSigningKeyPair();
    const result = await runAction({ ...storeInputs('signed'), migrations: 'db/migrations', 'signing-key': keys.privateKeyPem });
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).not.toContain('PRIVATE KEY');
    const read = await store('signed').get(manifestKey(SHA_A));
    if (read.status !== 'ok') throw new Error('no manifest');
    const text = await readText(read.body);
    const trusted = [{ keyId: keys.keyId, key: createPublicKey(keys.publicKeyPem) }];
    expect(openManifest(text, trusted, 'manifest')).toMatchObject({ signedBy: keys.keyId, manifest: { gitSha: SHA_A } });
    const other = generateSigningKeyPair();
    expect(() => openManifest(text, [{ keyId: other.keyId, key: createPublicKey(other.publicKeyPem) }], 'manifest')).toThrow(/not by a trusted key/);
  });

  it('refuses a signing-key input that is not an Ed25519 private key, naming the input and not the value', async () => {
    const result = await runAction({ ...storeInputs('signed-bad'), migrations: 'db/migrations', 'signing-key': 'hunter2-not-a-key' });
    expect(result.code).not.toBe(0);
    expect(result.stdout).toContain("invalid signing key in input 'signing-key'");
    expect(result.stdout).not.toContain('hunter2');
  });

  it('writes zstd under Node 24, which zstd(1) decodes to the manifest sha256', async () => {
    const result = await runAction({ ...storeInputs('zstd'), migrations: 'db/migrations', encoding: 'zstd' });
    expect(result.code, result.stdout).toBe(0);
    const object = await store('zstd').client.send(new GetObjectCommand({ Bucket: 'action', Key: `zstd/${result.outputs['object-key']}` }));
    const compressed = path.join(dir, 'snapshot.db.zst');
    await writeFile(compressed, Buffer.from(await object.Body!.transformToByteArray()));
    await promisify(execFile)('zstd', ['-d', '-f', '-q', compressed, '-o', path.join(dir, 'snapshot.db')]);
    const { stdout } = await promisify(execFile)('sha256sum', [path.join(dir, 'snapshot.db')]);
    expect(stdout.split(' ')[0]).toBe(result.outputs.sha256);
  });

  it('refreshes the snapshot of the deployed commit given as git-sha', async () => {
    const result = await runAction({ ...storeInputs('sched'), migrations: 'db/migrations', 'git-sha': SHA_B }, SHA_A);
    expect(result.code, result.stdout).toBe(0);
    expect(result.outputs['manifest-key']).toBe(manifestKey(SHA_B));
    expect(await store('sched').head(manifestKey(SHA_A))).toBeUndefined();
  });

  const invalid: Array<[string, Record<string, string>, RegExp]> = [
    ['store', { store: '' }, /Input required and not supplied: store|invalid input 'store'/],
    ['keep', { keep: 'many' }, /invalid input 'keep': expected a whole number from 1 to 1000, got "many"/],
    ['encoding', { encoding: 'lz4' }, /invalid input 'encoding': expected one of identity, gzip, br, zstd, got "lz4"/],
    ['git-sha', { 'git-sha': 'HEAD~1' }, /invalid input 'git-sha': invalid git sha from input 'git-sha'/],
    ['grace', { grace: 'soon' }, /invalid input 'grace': expected a number with a unit \(500ms, 30s, 10m, 1h, 2d\), got "soon"/],
    ['path-style', { 'path-style': 'maybe' }, /invalid input 'path-style': expected true or false \(yes or no, 1 or 0\), got "maybe"/],
    ['endpoint', { endpoint: 'minio:9000' }, /invalid input 'endpoint': expected an http\(s\):\/\/host\[:port\]\[\/path\] URL, got "minio:9000"/],
    ['start-from', { 'start-from': 'yesterday' }, /invalid input 'start-from': expected one of published, fresh, got "yesterday"/],
    ['vacuum-threshold', { 'vacuum-threshold': '2' }, /invalid input 'vacuum-threshold': expected a share from 0 to 1 .*, got "2"/],
  ];
  for (const [name, inputs, message] of invalid) {
    it(`fails the step on an invalid '${name}', naming it`, async () => {
      const result = await runAction({ ...storeInputs(`bad-${name}`), migrations: 'db/migrations', ...inputs });
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(new RegExp(`::error::${message.source}`));
      expect(await store(`bad-${name}`).list('')).toEqual([]);
    });
  }

  it('fails the step on a failing migration or loader, and publishes nothing', async () => {
    await mkdir(path.join(dir, 'workspace', 'broken'), { recursive: true });
    await writeFile(path.join(dir, 'workspace', 'broken', '001.sql'), 'CREATE TABLE t (x);\nINSERT INTO nowhere VALUES (1);');
    const migration = await runAction({ ...storeInputs('fail-m'), migrations: 'broken' });
    expect(migration.code).toBe(1);
    expect(migration.stdout).toContain('::error::migration 001.sql failed: no such table: nowhere');
    expect(await store('fail-m').list('')).toEqual([]);

    const loader = await runAction({ ...storeInputs('fail-l'), migrations: 'db/migrations', loaders: 'echo "cms token expired" >&2; exit 3' });
    expect(loader.code).toBe(1);
    expect(loader.stdout).toMatch(/::error::loader ".*" failed with exit code 3: cms token expired/);
    expect(await store('fail-l').list('')).toEqual([]);
  });
});
