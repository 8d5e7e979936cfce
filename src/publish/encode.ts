import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { Encoding } from '@sqlitening/contract';
import { HashingFileWriter } from '../snapshot/hashing-file-writer.js';
import { compressor } from '../snapshot/codec.js';

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
 * lets the upload send parts in parallel and be retried without re-reading.
 */
export async function encodeSnapshot(options: {
  database: string;
  encoding: Encoding;
  level?: number | undefined;
  tempDir: string;
  /** Bytes per chunk of the chunk hash list: the database's page size. */
  chunkSize: number;
  onProgress?: (bytesRead: number) => void;
}): Promise<EncodedSnapshot> {
  const { size: fileSize } = await stat(options.database);
  // Both hashes on other threads for large files (the pod's download does the same), so this thread only
  // reads and feeds the compressor, which runs on libuv's pool.
  const hashes = new HashingFileWriter(null, { chunkSize: options.chunkSize, size: fileSize });
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      options.onProgress?.(size);
      if (hashes.write(chunk)) callback(null, chunk);
      else hashes.once('drain', () => callback(null, chunk));
    },
    flush(callback) {
      hashes.end();
      finished(hashes).then(() => callback(), callback);
    },
  });
  hashes.on('error', (error) => tap.destroy(error));
  const source = createReadStream(options.database, { highWaterMark: 1024 * 1024 });
  try {
    if (options.encoding === 'identity') {
      const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
      await pipeline(source, tap, sink);
      const { sha256, chunkHashes } = hashes.result();
      return { sha256: sha256!, chunkHashes: chunkHashes!, size, encodedPath: options.database, encodedSize: size, cleanup: async () => {} };
    }
    const encodedPath = path.join(options.tempDir, `sqlitening-publish-${randomBytes(6).toString('hex')}`);
    try {
      await pipeline(source, tap, compressor(options.encoding, options.level), createWriteStream(encodedPath, { flags: 'wx' }));
    } catch (error) {
      await rm(encodedPath, { force: true });
      throw error;
    }
    const { sha256, chunkHashes } = hashes.result();
    return {
      sha256: sha256!,
      chunkHashes: chunkHashes!,
      size,
      encodedPath,
      encodedSize: (await stat(encodedPath)).size,
      cleanup: () => rm(encodedPath, { force: true }),
    };
  } finally {
    hashes.destroy();
  }
}
