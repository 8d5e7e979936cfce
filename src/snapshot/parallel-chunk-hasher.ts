import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { HASH_BYTES } from './chunk-hashes.js';

/*
 * Chunk hashing on other cores. A download decompresses and writes on the
 * main thread; hashing every page there too would serialise the two, and on
 * a CPU without SHA extensions hashing is the slowest part (about 3 s per
 * GiB). Blocks of whole chunks go to worker threads, in order; the bytes
 * themselves pass straight through.
 */

// Inline, so that bundles (the Action's dist/) need no separate worker file.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, buffer, chunkSize }) => {
  const data = new Uint8Array(buffer);
  const count = Math.ceil(data.length / chunkSize);
  const out = new Uint8Array(count * ${HASH_BYTES});
  for (let i = 0; i < count; i++) {
    out.set(createHash('sha256').update(data.subarray(i * chunkSize, Math.min((i + 1) * chunkSize, data.length))).digest(), i * ${HASH_BYTES});
  }
  parentPort.postMessage({ id, buffer: out.buffer }, [out.buffer]);
});
`;

/** Bytes per block sent to a worker: whole chunks, large enough to make a message worth it. */
const BLOCK_BYTES = 4 * 1024 * 1024;

export class ParallelChunkHasher extends Transform {
  readonly #chunkSize: number;
  readonly #blockBytes: number;
  readonly #workers: Worker[];
  readonly #results = new Map<number, Buffer>();
  readonly #maxInFlight: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #sent = 0;
  #received = 0;
  #turn = 0;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #ending = false;

  constructor(chunkSize: number, threads = Math.max(1, Math.min(4, availableParallelism()))) {
    super();
    this.#chunkSize = chunkSize;
    this.#blockBytes = Math.max(chunkSize, Math.floor(BLOCK_BYTES / chunkSize) * chunkSize);
    this.#maxInFlight = threads * 2;
    this.#workers = Array.from({ length: threads }, () => {
      // Ended by the stream when it ends (autoDestroy), on any error, and by hashes().
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.on('message', ({ id, buffer }: { id: number; buffer: ArrayBuffer }) => {
        this.#results.set(id, Buffer.from(buffer));
        this.#received++;
        this.#wake?.();
      });
      worker.on('error', (error) => {
        this.#failure = error;
        this.#wake?.();
      });
      worker.on('exit', (code) => {
        if (this.#ending) return;
        this.#failure ??= new Error(`a page-hashing thread exited (code ${code}) before the download ended`);
        this.#wake?.();
      });
      return worker;
    });
  }

  #post(bytes: Buffer): void {
    // A copy in a buffer of its own, moved (not copied again) to the worker.
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    const worker = this.#workers[this.#turn++ % this.#workers.length]!;
    worker.postMessage({ id: this.#sent++, buffer: copy.buffer, chunkSize: this.#chunkSize }, [copy.buffer]);
  }

  async #waitUntil(done: () => boolean): Promise<void> {
    while (!done() && !this.#failure) await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#wake = undefined;
    if (this.#failure) throw this.#failure;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes >= this.#blockBytes) {
      const data = Buffer.concat(this.#pending);
      const whole = data.length - (data.length % this.#blockBytes);
      for (let at = 0; at < whole; at += this.#blockBytes) this.#post(data.subarray(at, at + this.#blockBytes));
      const rest = data.subarray(whole);
      this.#pending = rest.length ? [rest] : [];
      this.#pendingBytes = rest.length;
    }
    // Backpressure: no more than a few blocks wait for a worker.
    this.#waitUntil(() => this.#sent - this.#received <= this.#maxInFlight).then(
      () => callback(null, chunk),
      (error: Error) => callback(error),
    );
  }

  override _flush(callback: TransformCallback): void {
    if (this.#pendingBytes > 0) this.#post(Buffer.concat(this.#pending));
    this.#pending = [];
    this.#waitUntil(() => this.#received === this.#sent).then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  #stopWorkers(): void {
    this.#ending = true;
    for (const worker of this.#workers) void worker.terminate();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#stopWorkers();
    callback(error);
  }

  /** The list of chunk hashes, once the stream has ended. Stops the workers. */
  hashes(): Buffer {
    this.#stopWorkers();
    return Buffer.concat(Array.from({ length: this.#sent }, (_, id) => this.#results.get(id)!));
  }
}
