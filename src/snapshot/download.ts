import { randomBytes } from 'node:crypto';
import { createWriteStream, fdatasync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Manifest } from '@sqlitening/contract';
import { ChecksumMismatchError, SizeMismatchError, StoreError } from '../errors.js';
import { fileClosed, replaceAtomically } from '../fs-atomic.js';
import type { ObjectStore } from '../store/object-store.js';
import { ChunkHasher, chunkRoot } from './chunk-hashes.js';
import { ParallelChunkHasher } from './parallel-chunk-hasher.js';
import { decompressor } from './codec.js';
import { LimitedCounter } from './limited-counter.js';
import { withDeadline } from './deadline.js';
import { stallWatchdog } from './stall-watchdog.js';

/** Below this, starting worker threads costs more than hashing on the main thread. */
const PARALLEL_HASHING_FROM = 32 * 1024 * 1024;
/** Written bytes between two background flushes. */
const FLUSH_EVERY = 64 * 1024 * 1024;

/**
 * Starts flushing the file to disk every FLUSH_EVERY bytes while the download
 * goes on (fdatasync in the background), so that the fsync before the rename
 * finds little left to write instead of the whole file.
 */
function flushBehind(sink: WriteStream): Transform {
  let since = 0;
  let fd: number | undefined;
  sink.once('open', (opened: number) => (fd = opened));
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      since += chunk.length;
      if (since >= FLUSH_EVERY && fd !== undefined) {
        since = 0;
        // An error here shows again in the final fsync, which is awaited.
        fdatasync(fd, () => {});
      }
      callback(null, chunk);
    },
  });
}

/** Marks temp files of a download, so a later run can find and remove those of a crashed one. */
export const DOWNLOAD_TEMP_MARK = '.sqlitening-download-';

export interface DownloadOptions {
  store: ObjectStore;
  manifest: Manifest;
  /** Final path; written only after the bytes are verified. */
  destination: string;
  /** Called with the stored (encoded) bytes received so far. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  /** Fail when no bytes arrive for this long. @default 30000 */
  stallTimeoutMs?: number | undefined;
  /** The whole download must end within this. @default 1 hour */
  deadlineMs?: number | undefined;
  /** Runs on the verified temp file before it is renamed into place (the agent runs `quick_check`). */
  verify?: (file: string) => void | Promise<void>;
}

/**
 * Streams a snapshot from the store into a temp file beside `destination`,
 * decoding and hashing on the way (never the whole file in memory), checks
 * sizes and SHA-256 against the manifest, runs `verify`, fsyncs, and renames
 * it into place. On any failure the temp file is removed and `destination`
 * is untouched.
 */
export async function downloadSnapshot(options: DownloadOptions): Promise<{ bytesReceived: number; chunkHashes: Buffer | null }> {
  const { manifest, store } = options;
  const what = `snapshot ${manifest.object.key}`;
  let bytesReceived = 0;
  let chunkHashes: Buffer | null = null;
  await replaceAtomically(
    path.resolve(options.destination),
    (temp) =>
      withDeadline(what, options.deadlineMs ?? 3_600_000, options.signal, async (signal) => {
        const result = await store.get(manifest.object.key, { signal });
        if (result.status !== 'ok') throw new StoreError(`${what}: unexpected not-modified answer`, true);
        const received = new LimitedCounter(manifest.object.size, `${what} (stored bytes)`, false, options.onProgress);
        // Both identities are checked: the chunk hashes (later deltas start from them) and the whole-file SHA-256,
        // which the pod reports as its database's, so it reports only what it has verified.
        const chunks = manifest.chunks
          ? manifest.database.size >= PARALLEL_HASHING_FROM
            ? new ParallelChunkHasher(manifest.chunks.size)
            : new ChunkHasher(manifest.chunks.size)
          : undefined;
        const decoded = new LimitedCounter(manifest.database.size, what, true);
        const sink = createWriteStream(temp, { flags: 'wx' });
        await pipeline(
          result.body,
          stallWatchdog(what, options.stallTimeoutMs ?? 30_000),
          received,
          decompressor(manifest.object.encoding),
          decoded,
          chunks ?? new PassThrough(),
          flushBehind(sink),
          sink,
          { signal },
        ).finally(() => fileClosed(sink));
        if (received.bytes !== manifest.object.size) throw new SizeMismatchError(`${what} (stored bytes)`, manifest.object.size, received.bytes);
        if (decoded.bytes !== manifest.database.size) throw new SizeMismatchError(what, manifest.database.size, decoded.bytes);
        const actual = decoded.hash.digest('hex');
        if (actual !== manifest.database.sha256) throw new ChecksumMismatchError(what, manifest.database.sha256, actual);
        if (chunks && manifest.chunks) {
          chunkHashes = chunks.hashes();
          const root = chunkRoot(chunkHashes);
          if (root !== manifest.chunks.root) throw new ChecksumMismatchError(`${what} (chunk root)`, manifest.chunks.root, root);
        }
        await options.verify?.(temp);
        bytesReceived = received.bytes;
      }),
    { tempName: `${DOWNLOAD_TEMP_MARK}${randomBytes(6).toString('hex')}` },
  );
  return { bytesReceived, chunkHashes };
}
