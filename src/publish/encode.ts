import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Encoding } from '@sqlitening/contract';
import { HashingFileWriter } from '../transfer/hashing-file-writer.js';
import { PageHashWriter } from '../transfer/page-hash-file.js';
import { feedFile } from '../transfer/feed-file.js';
import { compressor } from '../wire/codec.js';

export interface EncodedSnapshot {
  sha256: string;
  /** One SHA-256 per chunk of `chunkSize` bytes (a page), concatenated. */
  chunkHashes: Buffer;
  /** Size of the SQLite file. */
  size: number;
  /** The file to upload: a compressed temp file, or the database itself for `identity`. */
  encodedPath: string;
  encodedSize: number;
  /** Removes the temp file, if one was made. */
  cleanup(): Promise<void>;
}

/**
 * Reads the database once, hashing it and compressing it into a temp file in
 * `tempDir` in the same pass. The key of the object contains the hash, so the
 * upload can only start once the whole file has been read; the temp file
 * lets the upload send parts in parallel and be retried without re-reading
 * (the file is read through one reused buffer: see feed-file.ts).
 */
export async function encodeSnapshot(options: {
  database: string;
  encoding: Encoding;
  level?: number | undefined;
  tempDir: string;
  /** Bytes per chunk of the chunk hash list: the database's page size (0: no list, the SHA-256 alone). */
  chunkSize: number;
  onProgress?: (bytesRead: number) => void;
}): Promise<EncodedSnapshot> {
  const { size: fileSize } = await stat(options.database);
  const identity = options.encoding === 'identity';
  // Settings first (an encoding this Node lacks throws here), before any thread, descriptor or temp file exists.
  const compress = identity ? null : compressor(options.encoding, options.level);
  const encodedPath = identity ? options.database : path.join(options.tempDir, `sqlitening-publish-${randomBytes(6).toString('hex')}`);
  const handle = await open(options.database, 'r');
  let hashes: HashingFileWriter | null = null;
  // The publisher compares and uploads the whole list, so it reads it back whole: 8 MiB per GiB, on the build
  // machine once per publish (a pod never holds its list in memory).
  let pageHashes: PageHashWriter | null = null;
  let written: Promise<void> | null = null;
  try {
    // Both hashes on other threads for large files (the pod's download does the same), so this thread only
    // reads and feeds the compressor, which runs on libuv's pool.
    // Without a chunk size (a caller that wants the SHA-256 alone), no list.
    if (options.chunkSize) pageHashes = PageHashWriter.create(path.join(options.tempDir, `sqlitening-publish-${randomBytes(6).toString('hex')}.hashes`));
    const hasher = new HashingFileWriter(null, { chunkSize: options.chunkSize, size: fileSize, pageHashes });
    hashes = hasher;
    written = compress ? pipeline(compress, createWriteStream(encodedPath, { flags: 'wx' })) : null;
    const size = await feedFile(handle, compress ? [hasher, compress] : [hasher], { done: written ? [written] : [], onProgress: options.onProgress });
    const { sha256 } = hasher.result();
    const chunkHashes = pageHashes ? await readFile(pageHashes.path) : Buffer.alloc(0);
    const encodedSize = identity ? size : (await stat(encodedPath)).size;
    const cleanup = identity ? async () => {} : () => rm(encodedPath, { force: true });
    return { sha256: sha256!, chunkHashes, size, encodedPath, encodedSize, cleanup };
  } catch (error) {
    compress?.destroy();
    // Once the temp file's stream has closed (it may still be opening it), so that nothing is left behind.
    await written?.catch(() => {});
    if (!identity) await rm(encodedPath, { force: true });
    throw error;
  } finally {
    hashes?.destroy();
    await pageHashes?.discard();
    await handle.close();
  }
}
