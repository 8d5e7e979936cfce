import { createHash, type Hash } from 'node:crypto';

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
  return chunkRootHash().update(hashes).digest('hex');
}

/** The root's hash, to be fed the list in order a part at a time (a list on disk: see page-hash-file.ts). */
export function chunkRootHash(): Hash {
  return createHash('sha256');
}

export function hashChunk(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}
