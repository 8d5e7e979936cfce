import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Manifest } from '@sqlitening/contract';
import { ChecksumMismatchError, SizeMismatchError, StoreError } from '../errors.js';
import { replaceAtomically } from '../fs-atomic.js';
import { reclaimReadBuffers } from '../reclaim-buffers.js';
import type { ObjectStore } from '../store/object-store.js';
import { hashListBeside, type PageHashFile, PageHashWriter } from './page-hash-file.js';
import { HashingFileWriter } from './hashing-file-writer.js';
import { decompressor } from '../wire/codec.js';
import { LimitedCounter } from './limited-counter.js';
import { withDeadline } from './deadline.js';
import { DEFAULT_TRANSFER_LIMITS, type TransferLimits } from './transfer-limits.js';

/**
 * Stored bytes between collections of dead read buffers: about a MiB of bytes through the pipeline either
 * way (a compressed object decodes to about five times its size). Measured, 1 GiB: raw every 1 MiB, 93 MiB
 * peak and 1,000 collections; gzip every 256 KiB, 93 MiB, where every 1 MiB let it reach 98 MiB.
 */
const reclaimEveryBytes = (encoding: string): number => (encoding === 'identity' ? 1024 * 1024 : 256 * 1024);

/** Marks temp files of a download, so a later run can find and remove those of a crashed one. */
export const DOWNLOAD_TEMP_MARK = '.sqlitening-download-';

export interface DownloadOptions {
  store: ObjectStore;
  manifest: Manifest;
  /** Final path; written only after the bytes are verified. */
  destination: string;
  /** Called with the stored (encoded) bytes received so far. */
  onProgress?: ((bytes: number) => void) | undefined;
  /** Deadline and abort signal of the transfer (the store stalls by its own limit). @default DEFAULT_TRANSFER_LIMITS */
  limits?: TransferLimits | undefined;
  /**
   * The manifest is signed by a key the reader trusts. Its chunk root then proves the bytes, and with them
   * the SHA-256 the signer bound to those same bytes: the whole-file hash, a second pass over every byte,
   * is not computed. Without a trusted signature both are checked, so that a pod never reports a SHA-256
   * it did not verify.
   */
  signed?: boolean | undefined;
  /** Runs on the verified temp file before it is renamed into place (the agent runs `quick_check`). */
  verify?: (file: string) => void | Promise<void>;
  /**
   * Puts the verified temp file in place some other way than renaming it over `destination` (the agent
   * writes its changed pages into the live file); the temp file is removed after. Absent: the rename.
   */
  place?: ((temp: string, chunkHashes: PageHashFile | null) => Promise<void>) | undefined;
  /** Return the page hashes in their list file beside `destination`, the caller's to keep or remove (an installer keeps them for the next delta). @default false: removed */
  keepPageHashes?: boolean | undefined;
}

/**
 * Counts the stored bytes received, at most the object's size, and frees consumed read buffers by them, not
 * by bytes decoded: a compressed object decodes to about five times its size, and a collection per decoded
 * block came too late for the socket's buffers and too often for the decoder's, which it moved to the old
 * generation (measured, 1 GiB: gzip 108 → 95 MiB peak, raw unchanged at 93).
 */
function receivedCounter(manifest: Manifest, what: string, onProgress: ((bytes: number) => void) | undefined): LimitedCounter {
  let reclaimedAt = 0;
  const reclaimEvery = reclaimEveryBytes(manifest.object.encoding);
  return new LimitedCounter(manifest.object.size, `${what} (stored bytes)`, false, (bytes) => {
    if (bytes - reclaimedAt >= reclaimEvery) {
      reclaimedAt = bytes;
      reclaimReadBuffers();
    }
    onProgress?.(bytes);
  });
}

/**
 * Streams a snapshot from the store into a temp file beside `destination`,
 * decoding and hashing on the way (never the whole file in memory), checks
 * sizes and SHA-256 against the manifest, runs `verify`, then fsyncs and
 * renames it into place (or hands it to `place`). On any failure the temp
 * file is removed and `destination` is untouched. The page hashes are proven
 * by the manifest's root on the way; with `keepPageHashes`, they come back in
 * a list file beside `destination`.
 */
export async function downloadSnapshot(options: DownloadOptions): Promise<{ bytesReceived: number; chunkHashes: PageHashFile | null }> {
  const { manifest, store } = options;
  const what = `snapshot ${manifest.object.key}`;
  const limits = options.limits ?? DEFAULT_TRANSFER_LIMITS;
  const identity = manifest.object.encoding === 'identity';
  if (identity && manifest.object.size !== manifest.database.size) {
    throw new SizeMismatchError(`${what} (an identity object is the database)`, manifest.database.size, manifest.object.size);
  }
  let bytesReceived = 0;
  let chunkHashes: PageHashFile | null = null;
  const destination = path.resolve(options.destination);
  const tempName = `${DOWNLOAD_TEMP_MARK}${randomBytes(6).toString('hex')}`;
  const download = (temp: string): Promise<void> =>
    withDeadline(what, limits.deadlineMs, limits.signal, async (signal) => {
      const result = await store.get(manifest.object.key, { signal });
      if (result.status !== 'ok') throw new StoreError(`${what}: unexpected not-modified answer`, true);
      const received = receivedCounter(manifest, what, options.onProgress);
      // A stored copy is the database itself (checked above): no decoder, and the stored-bytes limit is the database's.
      const decoding = identity ? [] : [decompressor(manifest.object.encoding), new LimitedCounter(manifest.database.size, what, false)];
      // The chunk root is always checked (later deltas start from the page hashes); the whole-file SHA-256,
      // which the pod reports as its database's, too unless a trusted signature binds it to the root.
      const wholeFile = !(options.signed === true && manifest.chunks);
      const handle = await open(temp, 'wx');
      let pageHashes: PageHashWriter | null = null;
      let writer: HashingFileWriter | undefined;
      try {
        pageHashes = manifest.chunks ? PageHashWriter.create(hashListBeside(destination, DOWNLOAD_TEMP_MARK)) : null;
        // Made last: it starts threads, which only the pipeline (or the finally below) ends.
        const chunkSize = manifest.chunks?.size ?? null;
        writer = new HashingFileWriter(handle, { chunkSize, size: manifest.database.size, pageHashes, wholeFile, reclaim: false });
        await pipeline([result.body, received, ...decoding, writer], { signal });
        if (received.bytes !== manifest.object.size) throw new SizeMismatchError(`${what} (stored bytes)`, manifest.object.size, received.bytes);
        const written = writer.result();
        if (written.bytes !== manifest.database.size) throw new SizeMismatchError(what, manifest.database.size, written.bytes);
        if (written.sha256 !== null && written.sha256 !== manifest.database.sha256)
          throw new ChecksumMismatchError(what, manifest.database.sha256, written.sha256);
        if (manifest.chunks && written.chunkHashes) {
          const root = await written.chunkHashes.root();
          if (root !== manifest.chunks.root) throw new ChecksumMismatchError(`${what} (chunk root)`, manifest.chunks.root, root);
          chunkHashes = written.chunkHashes;
        }
      } finally {
        // Its threads stopped before the list is closed: no late hash lands in a closed descriptor.
        writer?.destroy();
        if (!chunkHashes) await pageHashes?.discard();
        await handle.close();
      }
      await options.verify?.(temp);
      bytesReceived = received.bytes;
    });
  const { place } = options;
  const temp = path.join(path.dirname(destination), tempName);
  try {
    if (!place) await replaceAtomically(destination, download, { tempName });
    else {
      await download(temp);
      await place(temp, chunkHashes);
    }
  } catch (error) {
    // The list belongs to the file; without the file in place, to nothing.
    await (chunkHashes as PageHashFile | null)?.remove();
    throw error;
  } finally {
    if (place) await rm(temp, { force: true });
  }
  if (options.keepPageHashes) return { bytesReceived, chunkHashes };
  await (chunkHashes as PageHashFile | null)?.remove();
  return { bytesReceived, chunkHashes: null };
}
