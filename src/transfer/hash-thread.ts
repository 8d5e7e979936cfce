import type * as Crypto from 'node:crypto';
import type { MessagePort, Worker } from 'node:worker_threads';
import { startThread, THREAD_LOADED_SOURCE } from '../thread-start.js';
import { HASH_BYTES } from '../wire/chunk-hashes.js';

/**
 * What the writer sends a hashing thread: the pool's blocks and each block's page-hash area once, then one
 * message per block, then `end`.
 */
export type HashThreadRequest =
  | { type: 'blocks'; blocks: SharedArrayBuffer[]; hashAreas: SharedArrayBuffer[]; whole: boolean }
  | { type: 'end' }
  | { type?: undefined; seq: number; block: number; length: number; whole: boolean; chunkSize: number | null };

/** What a hashing thread answers: a block done (`pages`: how many page hashes it left in the block's area), or the whole-file digest. */
export type HashThreadReply = { type: 'done'; seq: number; pages: number } | { type: 'digest'; digest: string };

/**
 * The body of a hashing thread: hashes blocks of the shared pool where they lie, the whole file in order
 * (when asked) and each page. It runs from its own source text (see {@link HASH_THREAD_SOURCE}), so it
 * uses nothing but its parameters and Node's globals (and code coverage tools cannot instrument it).
 */
export function runHashThread(port: MessagePort, crypto: typeof Crypto, hashBytes: number, hashPages: typeof hashPagesInto): void {
  let blocks: SharedArrayBuffer[] = [];
  let hashAreas: Buffer[] = [];
  let whole: Crypto.Hash | null = null;
  port.on('message', (m: HashThreadRequest) => {
    if (m.type === 'blocks') {
      blocks = m.blocks;
      hashAreas = m.hashAreas.map((area) => Buffer.from(area));
      whole = m.whole ? crypto.createHash('sha256') : null;
      return;
    }
    if (m.type === 'end') {
      port.postMessage({ type: 'digest', digest: whole!.digest('hex') } satisfies HashThreadReply);
      return;
    }
    const data = new Uint8Array(blocks[m.block]!, 0, m.length);
    if (m.whole) whole!.update(data);
    const pages = m.chunkSize ? hashPages(crypto, data, m.chunkSize, hashAreas[m.block]!, hashBytes) : 0;
    port.postMessage({ type: 'done', seq: m.seq, pages } satisfies HashThreadReply);
  });
}

/**
 * Puts the SHA-256 of each `chunkSize` page of `data` in `area`, one after another, and returns how many pages.
 * Each digest comes as a 32-character (binary) string, on the JavaScript heap, copied in place: no native
 * buffer per page or per block. Buffers a hashing thread made per block and handed over were freed by the other
 * thread in any order, which left the thread's allocator arena fragmented and resident after it ended, more
 * the larger the file (glibc's malloc_stats at rest: 2.5 MiB after a 64 MiB sync; 5.9 MiB, 0.7 of it in use,
 * after a 1 GiB sync; 1.9 MiB so, 0.7 MiB in use: the code caches Node kept for the built-in modules the thread
 * compiled, until the CLI started threads under V8's default flags (src/thread-start.ts); 0.13 MiB now). One-shot
 * hashing (Node 20.12+) makes no Hash object per page either: about 15% less time. A hashing thread runs it from
 * its source text: it uses nothing but its parameters (no imports, no module constants).
 */
export function hashPagesInto(crypto: typeof Crypto, data: Uint8Array, chunkSize: number, area: Buffer, hashBytes: number): number {
  const pages = Math.ceil(data.length / chunkSize);
  for (let page = 0; page < pages; page++) {
    const bytes = data.subarray(page * chunkSize, (page + 1) * chunkSize);
    if (crypto.hash) area.write(crypto.hash('sha256', bytes, 'binary'), page * hashBytes, hashBytes, 'binary');
    else
      crypto
        .createHash('sha256')
        .update(bytes)
        .digest()
        .copy(area, page * hashBytes);
  }
  return pages;
}

/**
 * The thread's program: the text of {@link runHashThread} and {@link hashPagesInto}, so that bundles (the
 * Action's dist/) need no separate worker file. Modules by `require` where Node runs the source as CommonJS (its
 * default), by import() where it runs it as a module (a host started with `--input-type=module` passes that on
 * to its workers): import() brings Node's module loader into the thread, 11 more built-in modules for it to
 * compile (`NODE_DEBUG_NATIVE=CODE_CACHE`) and about 13 ms more to start (73 vs 60 ms, under the agent's flags).
 */
const HASH_THREAD_SOURCE = `(async () => {
  const load = (name) => (typeof require === 'function' ? require(name) : import(name));
  let parentPort, workerData, crypto;
  try {
    ({ parentPort, workerData } = await load('node:worker_threads'));
    crypto = await load('node:crypto');
  } finally {
    ${THREAD_LOADED_SOURCE}
  }
  (${runHashThread.toString()})(parentPort, crypto, ${HASH_BYTES}, ${hashPagesInto.toString()});
})();`;

/**
 * Starts a hashing thread (through the host's hook, if any: src/thread-start.ts). It keeps nothing but a digest:
 * a small heap is enough, and its garbage (a short string per page, see hashPagesInto) is collected early
 * instead of growing the process.
 */
export function startHashThread(): Worker {
  return startThread(HASH_THREAD_SOURCE, { resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 } });
}
