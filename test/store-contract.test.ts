import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, ReadOnlyStoreError, UsageError } from '../src/errors.js';
import { HttpStore } from '../src/store/http-store.js';
import { LocalStore } from '../src/store/local-store.js';
import { MirrorStore } from '../src/store/mirror-store.js';
import { readText, type ObjectStore } from '../src/store/object-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { startS3Server, type S3TestServer } from './helpers/s3-server.js';

interface Backend {
  /** The store under test. */
  store: ObjectStore;
  /** Writes fixtures into the same place (the store itself when it is writable). */
  writer: ObjectStore;
}

let s3: S3TestServer;
let folder: string;
/** A port nothing listens on: the first store of the mirror set, refusing every connection. */
let deadPort: number;
beforeAll(async () => {
  s3 = await startS3Server(['contract']);
  folder = await mkdtemp(path.join(tmpdir(), 'sqlitening-local-'));
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  deadPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});
afterAll(async () => {
  await s3?.stop();
  await rm(folder, { recursive: true, force: true });
});

const s3Store = (prefix: string) =>
  new S3Store({ bucket: 'contract', prefix, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, partSize: 5 * 1024 * 1024 });

const backends: Record<string, () => Backend> = {
  local: () => {
    const store = new LocalStore(path.join(folder, 'root'));
    return { store, writer: store };
  },
  s3: () => {
    const store = s3Store('site/s3');
    return { store, writer: store };
  },
  http: () => ({ store: new HttpStore({ baseUrl: `${s3.endpoint}/contract/site/http` }), writer: s3Store('site/http') }),
  // Read as one with a store that refuses every connection first: every call fails over to the second.
  mirror: () => ({
    store: new MirrorStore([new HttpStore({ baseUrl: `http://127.0.0.1:${deadPort}/site` }), s3Store('site/mirror')], { retryAfterMs: 0 }),
    writer: s3Store('site/mirror'),
  }),
};

async function bodyBytes(store: ObjectStore, key: string): Promise<Buffer> {
  const result = await store.get(key);
  if (result.status !== 'ok') throw new Error(`expected a body for ${key}`);
  const chunks: Buffer[] = [];
  for await (const chunk of result.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

for (const [name, makeBackend] of Object.entries(backends)) {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    let writer: ObjectStore;
    beforeAll(() => {
      ({ store, writer } = makeBackend());
    });

    it('reports a missing key as NotFoundError on get and undefined on head', async () => {
      await expect(store.get('nothing/here.json')).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.head('nothing/here.json')).toBeUndefined();
    });

    it('returns what was put, with size and a stable etag', async () => {
      await writer.put('a/one.json', Buffer.from('{"n":1}'), { contentType: 'application/json', cacheControl: 'no-cache' });
      const result = await store.get('a/one.json');
      expect(result.status).toBe('ok');
      if (result.status !== 'ok') return;
      expect(await readText(result.body)).toBe('{"n":1}');
      expect(result.size).toBe(7);
      expect(result.etag).not.toBe('');
      const head = await store.head('a/one.json');
      expect(head).toMatchObject({ key: 'a/one.json', size: 7, etag: result.etag });
    });

    it('answers not-modified for the current etag, and a body once the object changes', async () => {
      await writer.put('a/poll.json', Buffer.from('first'));
      const first = await store.get('a/poll.json');
      if (first.status !== 'ok') throw new Error('expected a body');
      first.body.destroy();
      expect(await store.get('a/poll.json', { ifNoneMatch: first.etag })).toMatchObject({ status: 'not-modified' });
      await writer.put('a/poll.json', Buffer.from('second, longer'));
      const second = await store.get('a/poll.json', { ifNoneMatch: first.etag });
      expect(second.status).toBe('ok');
      if (second.status !== 'ok') return;
      expect(second.etag).not.toBe(first.etag);
      expect(await readText(second.body)).toBe('second, longer');
    });

    it('streams a body of more parts than are uploaded at once intact (part buffers are reused)', async () => {
      // 5 MiB parts, 4 in flight and one filling: 7 parts and a bit reuse most buffers.
      const data = randomBytes(7 * 5 * 1024 * 1024 + 123);
      const seen: number[] = [];
      const pieces = Array.from({ length: Math.ceil(data.length / 3_000_001) }, (_, i) => data.subarray(i * 3_000_001, (i + 1) * 3_000_001));
      await writer.put('big/blob.bin', Readable.from(pieces), {
        onProgress: (bytes) => seen.push(bytes),
      });
      const back = await bodyBytes(store, 'big/blob.bin');
      expect(back.length).toBe(data.length);
      expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
      expect(Math.max(...seen)).toBe(data.length);
    });

    it('keeps the previous object when a streamed put fails midway', async () => {
      await writer.put('a/keep.bin', Buffer.from('old content'));
      const failing = new Readable({
        read() {
          this.push(randomBytes(64 * 1024));
          this.destroy(new Error('source broke'));
        },
      });
      await expect(writer.put('a/keep.bin', failing)).rejects.toThrow();
      expect((await bodyBytes(store, 'a/keep.bin')).toString()).toBe('old content');
    });

    it('keeps the previous object when a put fails after several parts went up', async () => {
      await writer.put('a/keep.bin', Buffer.from('old content'));
      let sent = 0;
      const failing = new Readable({
        read() {
          if (sent >= 12 * 1024 * 1024) {
            this.destroy(new Error('source broke'));
            return;
          }
          sent += 1024 * 1024;
          this.push(randomBytes(1024 * 1024));
        },
      });
      await expect(writer.put('a/keep.bin', failing)).rejects.toThrow('source broke');
      expect((await bodyBytes(store, 'a/keep.bin')).toString()).toBe('old content');
    });

    it('refuses keys that could escape the root', async () => {
      await expect(store.get('../etc/passwd')).rejects.toThrow(/invalid object key/);
      await expect(store.head('a//b')).rejects.toThrow(/invalid object key/);
    });

    if (name === 'http') {
      it('refuses writes, listing and deletes with a clear error', async () => {
        await expect(store.put('x', Buffer.from('x'))).rejects.toBeInstanceOf(ReadOnlyStoreError);
        await expect(store.list('')).rejects.toThrow(/read-only/);
        await expect(store.delete('x')).rejects.toBeInstanceOf(ReadOnlyStoreError);
      });
      return;
    }
    if (name === 'mirror') {
      it('refuses writes and deletes (publishing writes to each store), and lists from the store that answers', async () => {
        await expect(store.put('x', Buffer.from('x'))).rejects.toBeInstanceOf(UsageError);
        await expect(store.delete('x')).rejects.toBeInstanceOf(UsageError);
        await writer.put('list/a.txt', Buffer.from('a'));
        expect((await store.list('list/')).map((o) => [o.key, o.size])).toEqual([['list/a.txt', 1]]);
      });
      return;
    }

    it('lists by prefix, sorted, with sizes', async () => {
      await store.put('list/b.txt', Buffer.from('bb'));
      await store.put('list/a.txt', Buffer.from('a'));
      await store.put('list/sub/c.txt', Buffer.from('ccc'));
      await store.put('listing-not/d.txt', Buffer.from('d'));
      const listed = await store.list('list/');
      expect(listed.map((o) => [o.key, o.size])).toEqual([
        ['list/a.txt', 1],
        ['list/b.txt', 2],
        ['list/sub/c.txt', 3],
      ]);
      expect(listed.every((o) => o.lastModified instanceof Date && o.etag !== '')).toBe(true);
    });

    it('deletes, and deleting a missing key is not an error', async () => {
      await store.put('gone/x.txt', Buffer.from('x'));
      await store.delete('gone/x.txt');
      expect(await store.head('gone/x.txt')).toBeUndefined();
      await expect(store.delete('gone/x.txt')).resolves.toBeUndefined();
    });
  });
}

describe('LocalStore specifics', () => {
  it('leaves no temp file behind after a failed write', async () => {
    const store = new LocalStore(path.join(folder, 'temp-check'));
    await store.put('f/x.bin', Buffer.from('ok'));
    const failing = new Readable({
      read() {
        this.destroy(new Error('broken'));
      },
    });
    await expect(store.put('f/x.bin', failing)).rejects.toThrow('broken');
    expect(await readdir(path.join(folder, 'temp-check', 'f'))).toEqual(['x.bin']);
  });
});
