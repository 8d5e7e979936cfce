import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Encoding, LATEST_KEY, manifestKey, parseManifestJson } from '@sqlitening/contract';
import { encodeSnapshot } from '../src/publish/encode.js';
import { publishSnapshot, type PublishOptions } from '../src/publish/publish.js';
import { encodingSupported } from '../src/wire/codec.js';
import { downloadSnapshot } from '../src/transfer/download.js';
import { readManifest } from '../src/wire/manifest-store.js';
import { readText, type ObjectStore } from '../src/store/object-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { SHA_A, makeContentDatabase, tempFolder } from './helpers/fixtures.js';
import { startS3Server, type S3TestServer } from './helpers/s3-server.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';

let s3: S3TestServer;
let dir: string;
let cleanup: () => Promise<void>;
let store: S3Store;
let prefixCounter = 0;

beforeAll(async () => {
  s3 = await startS3Server(['snapshots']);
  ({ dir, cleanup } = await tempFolder('publish'));
});
afterAll(async () => {
  await s3?.stop();
  await cleanup?.();
});
beforeEach(() => {
  store = new S3Store({ bucket: 'snapshots', prefix: `site-${++prefixCounter}`, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true });
});

function database(name: string, rows: number, seed: number): string {
  const file = path.join(dir, name);
  makeContentDatabase(file, rows, seed);
  return file;
}

/** `<sha>/<created>-<sha16>`: the prefix every object of one snapshot shares. */
const stem = (objectKey: string): string => objectKey.replace(/\.db(\.gz|\.br|\.zst)?$/, '');

function options(overrides: Partial<PublishOptions>): PublishOptions {
  return {
    store,
    sqlite: betterSqlite3Driver,
    database: '',
    gitSha: SHA_A,
    encoding: 'gzip',
    retention: { keep: 5, graceMs: 3_600_000 },
    check: true,
    dryRun: false,
    tempDir: dir,
    ...overrides,
  };
}

async function manifestText(s: ObjectStore, key: string): Promise<string> {
  const result = await s.get(key);
  if (result.status !== 'ok') throw new Error('expected a body');
  return readText(result.body);
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('publishSnapshot', () => {
  it('uploads the object, then the manifest and latest.json; the same bytes again change nothing', async () => {
    const db = database('one.db', 300, 1);
    const first = await publishSnapshot(options({ database: db, builder: { repository: 'acme/site', runUrl: 'https://github.com/acme/site/actions/runs/1' } }));
    expect(first.status).toBe('published');
    expect(first.manifest.database.sha256).toBe(sha256(db));
    expect(first.manifest.builder).toEqual({ tool: 'sqlitening/0.1.0', repository: 'acme/site', runUrl: 'https://github.com/acme/site/actions/runs/1' });
    expect(first.manifest.database.tables).toEqual([
      { name: 'posts', rows: 300 },
      { name: 'tags', rows: 300 },
    ]);
    const stored = parseManifestJson(await manifestText(store, manifestKey(SHA_A)));
    expect(stored).toEqual(first.manifest);
    expect(parseManifestJson(await manifestText(store, LATEST_KEY))).toEqual(first.manifest);
    expect((await store.head(first.objectKey))?.size).toBe(first.manifest.object.size);

    const again = await publishSnapshot(options({ database: db }));
    expect(again.status).toBe('unchanged');
    expect(again.manifest).toEqual(first.manifest);
    expect((await store.list(`${SHA_A}/`)).map((o) => o.key)).toEqual([first.manifest.chunks!.key, first.objectKey, manifestKey(SHA_A)]);
  });

  it('serves the manifest with Cache-Control: no-cache', async () => {
    await publishSnapshot(options({ database: database('cc.db', 10, 1) }));
    const response = await fetch(`${s3.endpoint}/snapshots/site-${prefixCounter}/${manifestKey(SHA_A)}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('content-type')).toBe('application/json');
  });

  it('publishes changed data as a new object and keeps the previous one within the grace period', async () => {
    const first = await publishSnapshot(options({ database: database('v1.db', 100, 1) }));
    const second = await publishSnapshot(options({ database: database('v2.db', 100, 2), now: () => new Date(Date.now() + 1000) }));
    expect(second.status).toBe('published');
    expect(second.objectKey).not.toBe(first.objectKey);
    expect((await readManifest(store, manifestKey(SHA_A))).status === 'ok').toBe(true);
    expect(parseManifestJson(await manifestText(store, manifestKey(SHA_A))).object.key).toBe(second.objectKey);
    expect(await store.head(first.objectKey)).toBeDefined();
  });

  it('prunes beyond the newest N once the grace period has passed, never the current one', async () => {
    const keys: string[] = [];
    const base = Date.now() + 60_000;
    for (let i = 0; i < 4; i++) {
      const result = await publishSnapshot(
        options({ database: database(`r${i}.db`, 50, 10 + i), retention: { keep: 2, graceMs: 0 }, now: () => new Date(base + i * 3_600_000) }),
      );
      keys.push(result.objectKey);
      if (i === 3) {
        // A snapshot goes with its chunk list and its deltas.
        expect(result.pruned).toContain(keys[1]);
        expect(result.pruned.every((key) => key.startsWith(stem(keys[1]!)))).toBe(true);
        expect(result.pruned.length).toBeGreaterThan(1);
      }
    }
    const left = (await store.list(`${SHA_A}/`)).map((o) => o.key).filter((key) => key !== manifestKey(SHA_A));
    expect(left).toContain(keys[2]);
    expect(left).toContain(keys[3]);
    // And the first snapshot's chunk list: a delta base for pods started from images that baked it.
    expect(left.every((key) => key.startsWith(stem(keys[2]!)) || key.startsWith(stem(keys[3]!)) || key === `${stem(keys[0]!)}.chunks`)).toBe(true);
    expect(left).not.toContain(keys[0]);
  });

  it('uploads again when the manifest points at an object that is gone', async () => {
    const db = database('repair.db', 20, 3);
    const first = await publishSnapshot(options({ database: db }));
    await store.delete(first.objectKey);
    const steps: string[] = [];
    const again = await publishSnapshot(options({ database: db, onStep: (step) => steps.push(step) }));
    expect(again.status).toBe('published');
    expect(steps).toContain('repair');
    expect((await store.head(again.objectKey))?.size).toBe(again.manifest.object.size);
  });

  it('writes nothing in a dry run', async () => {
    const result = await publishSnapshot(options({ database: database('dry.db', 20, 4), dryRun: true }));
    expect(result.status).toBe('dry-run');
    expect(await store.list('')).toEqual([]);
  });

  const encodings: Encoding[] = ['identity', 'gzip', 'br', 'zstd'];
  for (const encoding of encodings) {
    it.skipIf(!encodingSupported(encoding))(`round-trips through the ${encoding} encoding`, async () => {
      const db = database(`enc-${encoding}.db`, 200, 5);
      const result = await publishSnapshot(options({ database: db, encoding }));
      expect(result.manifest.object.encoding).toBe(encoding);
      if (encoding !== 'identity') expect(result.manifest.object.size).toBeLessThan(result.manifest.database.size / 2);
      const copy = path.join(dir, `back-${encoding}.db`);
      const { chunkHashes } = await downloadSnapshot({ store, manifest: result.manifest, destination: copy, keepPageHashes: true });
      expect(sha256(copy)).toBe(sha256(db));
      // The page hashes come back in a list file beside the copy, proven by the manifest's root.
      expect(path.dirname(chunkHashes!.path)).toBe(dir);
      expect(await chunkHashes!.root()).toBe(result.manifest.chunks!.root);
      await chunkHashes!.remove();
    });
  }

  it('proves a download by the chunk root alone when the manifest is signed, by both hashes when it is not', async () => {
    const db = database('proof.db', 200, 6);
    const { manifest } = await publishSnapshot(options({ database: db }));
    // What a signer would have to get wrong for the two proofs to differ: a SHA-256 that is not the file's.
    const wrongSha256 = { ...manifest, database: { ...manifest.database, sha256: 'f'.repeat(64) } };
    await expect(downloadSnapshot({ store, manifest: wrongSha256, destination: path.join(dir, 'proof-1.db') })).rejects.toMatchObject({
      code: 'checksum-mismatch',
    });
    expect((await downloadSnapshot({ store, manifest: wrongSha256, destination: path.join(dir, 'proof-2.db'), signed: true })).chunkHashes).toBeNull();
    expect(sha256(path.join(dir, 'proof-2.db'))).toBe(sha256(db));
    // The root is checked either way: a signed manifest with the wrong root installs nothing.
    const wrongRoot = { ...manifest, chunks: { ...manifest.chunks!, root: '0'.repeat(64) } };
    const refused = path.join(dir, 'proof-3.db');
    await expect(downloadSnapshot({ store, manifest: wrongRoot, destination: refused, signed: true })).rejects.toMatchObject({ code: 'checksum-mismatch' });
    expect(existsSync(refused)).toBe(false);
    // Nor does a refused download leave its page-hash list behind.
    expect(readdirSync(dir).filter((name) => name.endsWith('.hashes'))).toEqual([]);
  });
});

describe('encodeSnapshot', () => {
  it('fails with the cause, leaves no temp file and stops its threads when the temp file cannot be written', async () => {
    // Large enough for hashing threads and for the compressor to hold writes back.
    const file = path.join(dir, 'encode-fail.bin');
    writeFileSync(file, randomBytes(40 * 1024 * 1024));
    const tempDir = path.join(dir, 'no-such-folder');
    await expect(encodeSnapshot({ database: file, encoding: 'gzip', tempDir, chunkSize: 4096 })).rejects.toMatchObject({ code: 'ENOENT' });
    expect(existsSync(tempDir)).toBe(false);
    // And the same file encodes where the folder exists.
    const encoded = await encodeSnapshot({ database: file, encoding: 'gzip', tempDir: dir, chunkSize: 4096 });
    expect(encoded.sha256).toBe(sha256(file));
    await encoded.cleanup();
    expect(existsSync(encoded.encodedPath)).toBe(false);
  });
});

describe('latest.json', () => {
  it("points at the newest commit even when its bytes equal an older commit's", async () => {
    const db = database('same.db', 30, 9);
    await publishSnapshot(options({ database: db, gitSha: SHA_A, now: () => new Date(Date.UTC(2026, 0, 1)) }));
    const second = await publishSnapshot(options({ database: db, gitSha: 'd'.repeat(40), now: () => new Date(Date.UTC(2026, 0, 2)) }));
    expect(parseManifestJson(await manifestText(store, LATEST_KEY))).toEqual(second.manifest);
  });
});
