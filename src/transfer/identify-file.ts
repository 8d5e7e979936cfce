import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { HashingFileWriter } from './hashing-file-writer.js';

/**
 * A file's SHA-256 and page (chunk) hashes, in one read: what a pod needs to check a file, or to know which
 * delta applies to one it was not told about. `wholeFile: false`: the page hashes only (`sha256` null).
 * The one way a file on disk is hashed.
 */
export async function identifyFile(file: string, chunkSize: number): Promise<{ sha256: string; hashes: Buffer }>;
export async function identifyFile(file: string, chunkSize: number, options: { wholeFile: boolean }): Promise<{ sha256: string | null; hashes: Buffer }>;
export async function identifyFile(file: string, chunkSize: number, options: { wholeFile?: boolean } = {}): Promise<{ sha256: string | null; hashes: Buffer }> {
  const { size } = await stat(file);
  const hasher = new HashingFileWriter(null, { chunkSize, size, wholeFile: options.wholeFile ?? true });
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), hasher);
  const { sha256, chunkHashes } = hasher.result();
  return { sha256, hashes: chunkHashes! };
}

/** The page hashes of a whole file. */
export async function pageHashesOf(file: string, chunkSize: number): Promise<Buffer> {
  return (await identifyFile(file, chunkSize, { wholeFile: false })).hashes;
}
