import { randomBytes } from 'node:crypto';
import { constants, readSync, writeSync } from 'node:fs';
import { copyFile, open } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DeltaInfo, Manifest } from '@sqlitening/contract';
import { ChecksumMismatchError, CorruptDeltaError, SizeMismatchError, StoreError } from '../errors.js';
import { replaceAtomically } from '../fs-atomic.js';
import type { ObjectStore } from '../store/object-store.js';
import { hashChunk } from '../wire/chunk-hashes.js';
import { ChangedHashes, hashListBeside, type PageHashFile } from '../transfer/page-hash-file.js';
import { reclaimReadBuffers } from '../reclaim-buffers.js';
import { decompressor } from '../wire/codec.js';
import { withDeadline } from '../transfer/deadline.js';
import { type DeltaHeader, type DeltaRecord, isDeltaFormat, type PatchRecord } from '../wire/delta-format.js';
import { DeltaParser, inflatePatches } from '../wire/delta-parser.js';
import { DOWNLOAD_TEMP_MARK } from '../transfer/download.js';
import { LimitedCounter } from '../transfer/limited-counter.js';
import { DEFAULT_TRANSFER_LIMITS, type TransferLimits } from '../transfer/transfer-limits.js';

export interface ApplyDeltaOptions {
  store: ObjectStore;
  /** The manifest of the snapshot to build; must have `chunks`. */
  manifest: Manifest;
  delta: DeltaInfo;
  /** The base file (the live database), never written. */
  base: string;
  /** The base's chunk hashes, as verified when it was installed. */
  baseHashes: PageHashFile;
  /** Where the new file goes (usually `base` itself, replaced by rename). */
  destination: string;
  /** Deadline and abort signal of the transfer (the store stalls by its own limit). @default DEFAULT_TRANSFER_LIMITS */
  limits?: TransferLimits | undefined;
  /** Runs on the finished temp file before the rename (header and `quick_check`). */
  verify?: (file: string) => void | Promise<void>;
  onProgress?: ((bytes: number) => void) | undefined;
}

/** What a delta stream wrote into a file. */
export interface WrittenDelta {
  bytesReceived: number;
  /** The new file's chunk hashes: the base's, with the delta's pages hashed again (a list file beside the destination, the caller's). */
  chunkHashes: PageHashFile;
}

/**
 * Output (dictionaries and pages) of the format-2 records inflated in one call: bounds the memory of a call.
 * Larger batches did not apply faster (bench/delta.js), only held more memory.
 */
const INFLATE_TOGETHER_BYTES = 256 * 1024;
/** Page bytes written between two calls to free consumed buffers (see reclaim-buffers.ts). */
const RECLAIM_EVERY_BYTES = 1024 * 1024;

/** Where a delta's pages go: a file holding the base's bytes, or pages staged beside the live file. */
export interface PageTarget {
  /** Reads page `page` as it stands (the base's bytes, or the delta's once written) into `into` at `at`. */
  readPage(page: number, into: Buffer, at: number): void;
  /** Writes the new bytes of page `index`. */
  writePage(index: number, bytes: Buffer): void;
}

/** A target that is one file holding the base's bytes, written at the pages' offsets. */
export function filePages(fd: number, pageSize: number): PageTarget {
  return {
    readPage(page, into, at) {
      const bytesRead = readSync(fd, into, at, pageSize, page * pageSize);
      if (bytesRead !== pageSize) throw new Error(`short read of page ${page}: ${bytesRead} of ${pageSize} bytes`);
    },
    writePage(index, bytes) {
      const bytesWritten = writeSync(fd, bytes, 0, bytes.length, index * pageSize);
      // The hash is of the bytes written: a short write would leave a page the root does not describe.
      if (bytesWritten !== bytes.length) throw new Error(`short write of page ${index}: ${bytesWritten} of ${bytes.length} bytes`);
    },
  };
}

/**
 * Fetches a delta and writes its pages into `target`. A format-2 record's
 * page is inflated with the pages it names, read from the target as they
 * stand. Hashes each page it writes into a copy of the base's hashes, and
 * checks the root over the result: the whole new file is proven for
 * milliseconds of hashing. The caller sets the new length.
 */
export async function writeDeltaPages(
  target: PageTarget,
  options: Pick<ApplyDeltaOptions, 'store' | 'manifest' | 'delta' | 'baseHashes' | 'onProgress'> & {
    signal: AbortSignal;
    /** Where the new file's list of page hashes goes. */
    hashesAt: string;
  },
): Promise<WrittenDelta> {
  const { manifest, delta, store } = options;
  const chunks = manifest.chunks;
  if (!chunks) throw new StoreError(`manifest of ${manifest.database.sha256} has no chunk hashes to check a delta against`, false);
  const what = `delta ${delta.key}`;
  const format = delta.format ?? 1;
  if (!isDeltaFormat(format)) throw new CorruptDeltaError(`${what}: delta format ${format} is not one this agent reads`);
  const basePageCount = options.baseHashes.count;
  const result = await store.get(delta.key, { signal: options.signal });
  if (result.status !== 'ok') throw new StoreError(`${what}: unexpected not-modified answer`, true);
  const received = new LimitedCounter(delta.size, `${what} (stored bytes)`, false, options.onProgress);
  const decoded = new LimitedCounter(delta.rawSize, what, false);
  const checkHeader = headerCheck(what, {
    pageSize: chunks.size,
    pageCount: chunks.count,
    baseSha256: delta.base.sha256,
    targetSha256: manifest.database.sha256,
    basePageCount: format === 2 ? basePageCount : undefined,
  });
  // Pages are read and written synchronously: from and to the page cache that takes microseconds, where a
  // FileHandle call through the thread pool costs several times that (measured with bench/delta.js), and the
  // target then always holds what was written, which a format-2 record's dictionary pages are read from (the
  // parser has checked that each is a base page or one this delta wrote).
  const readPage = (page: number, into: Buffer, at: number): void => target.readPage(page, into, at);
  // The new hash of each page written: memory that follows the delta, not the file.
  const changed = new ChangedHashes();
  let sinceReclaim = 0;
  const writePage = (index: number, page: Buffer): void => {
    target.writePage(index, page);
    changed.set(index, hashChunk(page));
    // Each page inflated and each hash is a buffer outside the heap, freed only when a collection finds its
    // handle dead: without one every MiB, a delta of 18,000 pages held 19 MiB more at its peak (4 GiB).
    sinceReclaim += page.length;
    if (sinceReclaim >= RECLAIM_EVERY_BYTES) {
      sinceReclaim = 0;
      reclaimReadBuffers();
    }
  };
  const writeRecords = recordsWriter(what, chunks.size, readPage, writePage);
  const writer = new Writable({
    objectMode: true,
    write(batch: DeltaRecord[], _encoding, callback) {
      try {
        writeRecords(batch);
      } catch (error) {
        callback(error as Error);
        return;
      }
      // Back to the event loop between batches: the health server and heartbeats go on during a large delta.
      setImmediate(callback);
    },
  });
  await pipeline(result.body, received, decompressor(delta.encoding), decoded, new DeltaParser(what, format, checkHeader), writer, { signal: options.signal });
  if (received.bytes !== delta.size) throw new SizeMismatchError(`${what} (stored bytes)`, delta.size, received.bytes);
  const { list, root } = options.baseHashes.patched(changed, chunks.count, options.hashesAt);
  if (root !== chunks.root) {
    await list.remove();
    throw new ChecksumMismatchError(`${what} applied (chunk root)`, chunks.root, root);
  }
  return { bytesReceived: received.bytes, chunkHashes: list };
}

/** Refuses a delta whose header is not the one this manifest's delta must have. */
function headerCheck(what: string, expected: Omit<DeltaHeader, 'format' | 'pages'>): (header: DeltaHeader) => void {
  return (header) => {
    const { pageSize, pageCount, baseSha256, targetSha256, basePageCount } = header;
    const want = JSON.stringify(expected);
    const got = JSON.stringify({ pageSize, pageCount, baseSha256, targetSha256, basePageCount });
    if (want !== got) throw new ChecksumMismatchError(`${what} header`, want, got);
  };
}

/** Writes a batch of records: format-2 ones inflated together as far as none names a page another of them writes. */
function recordsWriter(
  what: string,
  pageSize: number,
  readPage: (page: number, into: Buffer, at: number) => void,
  writePage: (index: number, page: Buffer) => void,
): (records: readonly DeltaRecord[]) => void {
  return (records) => {
    let group: PatchRecord[] = [];
    let groupBytes = 0;
    const inGroup = new Set<number>();
    const flush = (): void => {
      const inflated = inflatePatches(what, group, pageSize, readPage);
      for (const [k, record] of group.entries()) writePage(record.index, inflated[k]!);
      group = [];
      groupBytes = 0;
      inGroup.clear();
    };
    for (const record of records) {
      if (record.kind === 'page') {
        writePage(record.index, record.bytes);
        continue;
      }
      const bytes = (record.dictionary.length + 1) * pageSize;
      if (group.length > 0 && (groupBytes + bytes > INFLATE_TOGETHER_BYTES || record.dictionary.some((page) => inGroup.has(page)))) flush();
      group.push(record);
      groupBytes += bytes;
      inGroup.add(record.index);
    }
    if (group.length > 0) flush();
  };
}

/**
 * Builds the new snapshot from the base and a delta, in a temp file beside
 * the destination: a copy of the base (a reflink where the file system can),
 * the delta's pages written over it (see {@link writeDeltaPages}), then
 * `verify`, fsync, rename. Any failure removes the temp file; the base is
 * never written. The copy makes this cost follow the file's size where there
 * are no reflinks; the agent instead writes the changed pages into the live
 * file under SQLite's lock and journal (agent/install-in-place.ts).
 */
export async function applyDelta(options: ApplyDeltaOptions): Promise<WrittenDelta> {
  const { delta } = options;
  const what = `delta ${delta.key}`;
  const limits = options.limits ?? DEFAULT_TRANSFER_LIMITS;
  let written: WrittenDelta | undefined;
  const replaced = replaceAtomically(
    path.resolve(options.destination),
    (temp) =>
      withDeadline(what, limits.deadlineMs, limits.signal, async (signal) => {
        await copyFile(options.base, temp, constants.COPYFILE_FICLONE);
        const handle = await open(temp, 'r+');
        try {
          written = await writeDeltaPages(filePages(handle.fd, options.manifest.chunks?.size ?? 0), {
            ...options,
            signal,
            hashesAt: hashListBeside(options.destination, DOWNLOAD_TEMP_MARK),
          });
          await handle.truncate(options.manifest.database.size);
        } finally {
          await handle.close();
        }
        await options.verify?.(temp);
      }),
    { tempName: `${DOWNLOAD_TEMP_MARK}${randomBytes(6).toString('hex')}` },
  );
  try {
    await replaced;
  } catch (error) {
    // The new list belongs to a file that did not take its place.
    await (written as WrittenDelta | undefined)?.chunkHashes.remove();
    throw error;
  }
  return written!;
}
