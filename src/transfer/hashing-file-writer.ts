import * as nodeCrypto from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { HASH_BYTES } from '../wire/chunk-hashes.js';
import { reclaimReadBuffers } from '../reclaim-buffers.js';
import { type HashThreadReply, type HashThreadRequest, hashPagesInto, startHashThread } from './hash-thread.js';
import { EarlyFlush, FLUSH_EVERY_BYTES } from './early-flush.js';
import type { PageHashFile, PageHashWriter } from './page-hash-file.js';
import { sha256IsFast } from './sha256-speed.js';

/*
 * The end of a download: bytes go into a small pool of shared blocks, each
 * block is written to the file at its offset and hashed where it lies, by
 * other threads, with no copy between them:
 *
 *   stream ──copy──▶ block (SharedArrayBuffer) ──▶ write(fd, block, offset)
 *                                              └─▶ hashing threads: whole-file SHA-256 (in order, when asked),
 *                                                  and the SHA-256 of each page of the block
 *
 * A block goes back to the pool once its write and its hashes are done; when
 * the pool is empty the stream waits (backpressure), so memory stays at the
 * pool's size whatever the file's. Measured (bench/sync.js): copying each
 * block to a worker (structured clone) and the garbage it left cost more than
 * the hashing itself, and a pipeline of many small transforms cost more again.
 * Where SHA-256 is fast, one thread does all the hashing: a thread costs 9 to
 * 12 MiB of resident memory, and on two cores the store, the stream and the
 * hashes already share them (1 GiB: peak RSS 105 → 93 MiB, no slower). Where
 * it is slow and both hashes are asked for, each gets a thread.
 */

/** Bytes per block: large enough that a message per block is cheap, small enough for a small pool. */
const BLOCK_BYTES = 1024 * 1024;
/** Blocks in the pool: one filling while others are written and hashed. */
const POOL_BLOCKS = 4;
/** Below this, starting threads costs more than hashing on the stream's own thread. */
const THREADED_FROM = 32 * 1024 * 1024;

export interface WrittenFile {
  bytes: number;
  /** SHA-256 of the whole file, hex; null when not asked for (`wholeFile: false`). */
  sha256: string | null;
  /** SHA-256 of each `chunkSize` chunk, in order, in the list file given; null when not asked for. */
  chunkHashes: PageHashFile | null;
}

type HashingOptions = { chunkSize: number | null; size: number; pageHashes?: PageHashWriter | null; wholeFile?: boolean; threaded?: boolean } & {
  reclaim?: boolean;
  flushEvery?: number;
};

const send = (worker: Worker, message: HashThreadRequest): void => worker.postMessage(message);

interface Block {
  index: number;
  memory: Uint8Array;
  /** Where the hashes of the block's pages are put, one after another (empty without a chunk size). */
  hashes: Buffer;
  length: number;
  /** Write and hashes still to finish before the block can be reused. */
  pending: number;
}

/**
 * A writable stream that writes everything it receives to `handle` from
 * offset 0 and hashes it on the way (whole file, and per chunk when
 * `chunkSize` is given). Large files are hashed on other threads
 * (`threaded`); small ones here. `result()` after `finish`.
 */
export class HashingFileWriter extends Writable {
  readonly #handle: FileHandle | null;
  readonly #chunkSize: number | null;
  readonly #reclaim: boolean;
  readonly #flush: EarlyFlush | null;
  readonly #blocks: Block[];
  readonly #free: Block[];
  /** The hashing thread: the whole-file hash when asked, and the page hashes unless `#pageWorker` has them. */
  readonly #worker: Worker | null = null;
  /** A second thread for the page hashes, where SHA-256 is slow and the whole-file hash is asked for too. */
  readonly #pageWorker: Worker | null = null;
  readonly #wholeFile: boolean;
  /** Page hashes in file order, written to their file as they come (threads finish blocks in any order). */
  readonly #pageHashes: PageHashWriter | null;
  #pageHashFile: PageHashFile | null = null;
  #blockPages = 0;
  #current: Block | null = null;
  #position = 0;
  #seq = 0;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #digest: string | null | undefined;
  #stopping = false;
  // Without threads: the same work, here.
  readonly #inlineWhole: nodeCrypto.Hash | null;

  /**
   * `handle` null: hash only (the publisher, which uploads a compressed copy).
   * `size`: the bytes expected (more may come); large files are hashed on other threads (`threaded` overrides).
   * `wholeFile`: also the SHA-256 of the whole file (default); without it, only the page hashes (`chunkSize` required).
   * `pageHashes`: where the page hashes go, with `chunkSize` (required then); finished with the stream, else the caller discards it.
   * `reclaim`: free consumed read buffers every block (default); a download does it by bytes received instead.
   * `flushEvery`: written bytes between early flushes to the disk (default 64 MiB).
   */
  constructor(handle: FileHandle | null, options: HashingOptions) {
    // The default (small) buffer: the pool is the buffer. A large one let a fetch body be read to its end
    // ahead of the writes, and a body that then failed did so with no one left to hear it.
    super();
    const wholeFile = options.wholeFile ?? true;
    if (!wholeFile && !options.chunkSize) throw new Error('HashingFileWriter: without the whole-file hash, a chunk size is required');
    if (!options.chunkSize !== !options.pageHashes) throw new Error('HashingFileWriter: page hashes need both a chunk size and a list to write them to');
    this.#handle = handle;
    this.#chunkSize = options.chunkSize;
    this.#reclaim = options.reclaim ?? true;
    this.#flush = handle ? new EarlyFlush(handle, options.flushEvery ?? FLUSH_EVERY_BYTES, (error) => this.#fail(error)) : null;
    const blockBytes = options.chunkSize ? Math.max(options.chunkSize, Math.floor(BLOCK_BYTES / options.chunkSize) * options.chunkSize) : BLOCK_BYTES;
    const threaded = options.threaded ?? options.size >= THREADED_FROM;
    this.#inlineWhole = wholeFile && !threaded ? nodeCrypto.createHash('sha256') : null;
    const poolBlocks = threaded ? POOL_BLOCKS : 2;
    const hashBytes = options.chunkSize ? (blockBytes / options.chunkSize) * HASH_BYTES : 0;
    const memory = (bytes: number) => new Uint8Array(threaded ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    this.#blocks = Array.from({ length: poolBlocks }, (_, index) => ({
      index,
      memory: memory(blockBytes),
      hashes: Buffer.from(memory(hashBytes).buffer),
      length: 0,
      pending: 0,
    }));
    this.#free = [...this.#blocks];
    this.#blockPages = options.chunkSize ? blockBytes / options.chunkSize : 0;
    this.#pageHashes = options.pageHashes ?? null;
    this.#wholeFile = wholeFile;
    if (threaded) {
      this.#worker = this.#startWorker(wholeFile);
      // The page hashes alone, one pass, keep up on one thread: 2 threads were 5% faster with SHA extensions
      // masked (1 GiB), for 9 MiB more. Both hashes, two passes, do not.
      if (wholeFile && options.chunkSize && !sha256IsFast()) this.#pageWorker = this.#startWorker(false);
    }
  }

  #startWorker(wholeFile: boolean): Worker {
    const worker = startHashThread();
    const shared = (pick: (block: Block) => Uint8Array) => this.#blocks.map((block) => pick(block).buffer as SharedArrayBuffer);
    send(worker, { type: 'blocks', blocks: shared((b) => b.memory), hashAreas: shared((b) => b.hashes), whole: wholeFile });
    worker.on('message', (m: HashThreadReply) => {
      if (m.type === 'digest') this.#digest = m.digest;
      else {
        const block = this.#inFlight.get(m.seq);
        if (block && m.pages > 0) this.#storeHashes(m.seq, block, m.pages);
        this.#settle(m.seq);
      }
      this.#wake?.();
    });
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', (code) => {
      if (!this.#stopping) this.#fail(new Error(`a hashing thread exited (code ${code}) before the file was written`));
    });
    return worker;
  }

  /** Which block each sequence number is in, until it is settled. */
  readonly #inFlight = new Map<number, Block>();

  #settle(seq: number): void {
    const block = this.#inFlight.get(seq);
    if (!block) return;
    block.pending--;
    if (block.pending === 0) this.#release(seq, block);
  }

  #release(seq: number, block: Block): void {
    this.#inFlight.delete(seq);
    block.length = 0;
    this.#free.push(block);
  }

  /** Puts the hashes of the first `pages` pages of block `seq` (in its hash area) in their place in the list. */
  #storeHashes(seq: number, block: Block, pages: number): void {
    if (this.#stopping) return; // a thread's late reply: the list may be closed already
    try {
      this.#pageHashes?.put(seq * this.#blockPages, block.hashes.subarray(0, pages * HASH_BYTES));
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#wake?.();
  }

  async #waitUntil(done: () => boolean): Promise<void> {
    while (!done() && !this.#failure) await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#wake = undefined;
    if (this.#failure) throw this.#failure;
  }

  /** Writes a full (or the last) block and hands it to the hashers. */
  #submit(block: Block): void {
    const seq = this.#seq++;
    const position = this.#position;
    this.#position += block.length;
    const view = block.memory.subarray(0, block.length);
    if (this.#reclaim) reclaimReadBuffers();
    this.#inFlight.set(seq, block);
    block.pending = 0;
    if (this.#handle) {
      block.pending++;
      const handle = this.#handle;
      handle.write(view, 0, view.length, position).then(({ bytesWritten }) => {
        if (bytesWritten !== view.length) this.#fail(new Error(`short write at offset ${position}: ${bytesWritten} of ${view.length} bytes`));
        else {
          this.#flush?.written(bytesWritten);
          this.#settle(seq);
        }
        this.#wake?.();
      }, this.#fail.bind(this));
    }
    if (!this.#worker) {
      this.#inlineWhole?.update(view);
      if (this.#chunkSize) {
        this.#storeHashes(seq, block, hashPagesInto(nodeCrypto, view, this.#chunkSize, block.hashes, HASH_BYTES));
      }
      if (block.pending === 0) this.#release(seq, block);
      return;
    }
    block.pending++;
    if (this.#pageWorker) {
      block.pending++;
      send(this.#worker, { seq, block: block.index, length: block.length, whole: true, chunkSize: null });
      send(this.#pageWorker, { seq, block: block.index, length: block.length, whole: false, chunkSize: this.#chunkSize });
    } else {
      send(this.#worker, { seq, block: block.index, length: block.length, whole: this.#wholeFile, chunkSize: this.#chunkSize });
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#fill(chunk).then(() => callback(), callback);
  }

  async #fill(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.#failure) throw this.#failure;
      if (!this.#current) {
        await this.#waitUntil(() => this.#free.length > 0);
        this.#current = this.#free.shift()!;
      }
      const block = this.#current;
      const take = Math.min(chunk.length - at, block.memory.length - block.length);
      block.memory.set(chunk.subarray(at, at + take), block.length);
      block.length += take;
      at += take;
      if (block.length === block.memory.length) {
        this.#current = null;
        this.#submit(block);
      }
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    const finish = async (): Promise<void> => {
      if (this.#current && this.#current.length > 0) this.#submit(this.#current);
      this.#current = null;
      await this.#waitUntil(() => this.#inFlight.size === 0);
      // The file is not closed under a flush in progress; the caller's fsync makes it durable. A flush that
      // failed fails the file: the kernel reports a write-back error once, maybe only to that call.
      await this.#flush?.settled();
      if (this.#failure) throw this.#failure;
      if (this.#worker && this.#wholeFile) {
        send(this.#worker, { type: 'end' });
        await this.#waitUntil(() => this.#digest !== undefined);
      } else {
        this.#digest = this.#inlineWhole?.digest('hex') ?? null;
      }
      if (this.#stopping) throw new Error('HashingFileWriter: destroyed before the file was written'); // its list may be gone
      if (this.#pageHashes && this.#chunkSize) this.#pageHashFile = this.#pageHashes.finish(Math.ceil(this.#position / this.#chunkSize));
      this.#stop();
    };
    finish().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#stop();
    callback(error);
  }

  #stop(): void {
    this.#stopping = true;
    void this.#worker?.terminate();
    void this.#pageWorker?.terminate();
  }

  /** What was written, once the stream has finished. */
  result(): WrittenFile {
    if (this.#digest === undefined) throw new Error('HashingFileWriter.result() before the stream finished');
    return { bytes: this.#position, sha256: this.#digest, chunkHashes: this.#pageHashFile };
  }
}
