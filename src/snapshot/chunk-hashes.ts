import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/*
 * The chunk hash tree: one SHA-256 per fixed-size chunk of the database (a
 * chunk is one page: the unit SQLite changes and a delta carries), and a root,
 * the SHA-256 of those hashes concatenated. The root in a manifest proves
 * every byte of the file, yet after a delta only the changed chunks need
 * hashing again.
 */

export const HASH_BYTES = 32;

/** The root over a list of chunk hashes (`count` × 32 bytes). */
export function chunkRoot(hashes: Buffer): string {
  return createHash('sha256').update(hashes).digest('hex');
}

export function hashChunk(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Hashes a stream in chunks of `chunkSize` as it passes through; `hashes()` after the end. */
export class ChunkHasher extends Transform {
  readonly #chunkSize: number;
  readonly #parts: Buffer[] = [];
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(chunkSize: number) {
    super();
    this.#chunkSize = chunkSize;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null, data?: Buffer) => void): void {
    let data = chunk;
    if (this.#pendingBytes > 0) {
      data = Buffer.concat([...this.#pending, chunk]);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    const whole = data.length - (data.length % this.#chunkSize);
    for (let at = 0; at < whole; at += this.#chunkSize) this.#parts.push(hashChunk(data.subarray(at, at + this.#chunkSize)));
    if (whole < data.length) {
      this.#pending = [data.subarray(whole)];
      this.#pendingBytes = data.length - whole;
    }
    callback(null, chunk);
  }

  override _flush(callback: (error?: Error | null) => void): void {
    // A file whose size is not a multiple of the chunk size ends in a short chunk, hashed as it is.
    if (this.#pendingBytes > 0) this.#parts.push(hashChunk(Buffer.concat(this.#pending)));
    callback();
  }

  /** The list of chunk hashes, once the stream has ended. */
  hashes(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

/** The chunk hashes of a whole file, read in large blocks. */
export async function hashFileChunks(file: string, chunkSize: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const block = Buffer.alloc(Math.max(chunkSize, Math.floor((4 * 1024 * 1024) / chunkSize) * chunkSize));
    const parts: Buffer[] = [];
    for (let position = 0; ; ) {
      // Fill the block whole (a read may return less before the end), so chunk boundaries stay where they are.
      let bytesRead = 0;
      while (bytesRead < block.length) {
        const read = await handle.read(block, bytesRead, block.length - bytesRead, position + bytesRead);
        if (read.bytesRead === 0) break;
        bytesRead += read.bytesRead;
      }
      if (bytesRead === 0) break;
      for (let at = 0; at < bytesRead; at += chunkSize) parts.push(hashChunk(block.subarray(at, Math.min(at + chunkSize, bytesRead))));
      position += bytesRead;
    }
    return Buffer.concat(parts);
  } finally {
    await handle.close();
  }
}

/** A file's SHA-256 and chunk hashes, in one read: what a pod needs to know which delta, if any, applies to a file it was not told about. */
export async function identifyFile(file: string, chunkSize: number): Promise<{ sha256: string; hashes: Buffer }> {
  const whole = createHash('sha256');
  const chunks = new ChunkHasher(chunkSize);
  await pipeline(
    createReadStream(file, { highWaterMark: 4 * 1024 * 1024 }),
    chunks,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        whole.update(chunk);
        callback();
      },
    }),
  );
  return { sha256: whole.digest('hex'), hashes: chunks.hashes() };
}
