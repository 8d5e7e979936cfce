import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

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
