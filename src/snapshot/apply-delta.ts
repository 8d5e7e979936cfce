import { randomBytes } from 'node:crypto';
import { constants, readSync } from 'node:fs';
import { copyFile, type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DeltaInfo, Manifest } from '@sqlitening/contract';
import { ChecksumMismatchError, CorruptDeltaError, SizeMismatchError, StoreError } from '../errors.js';
import { replaceAtomically } from '../fs-atomic.js';
import type { ObjectStore } from '../store/object-store.js';
import { chunkRoot, HASH_BYTES, hashChunk } from './chunk-hashes.js';
import { decompressor } from './codec.js';
import { withDeadline } from './deadline.js';
import { type DeltaHeader, DeltaParser, type DeltaRecord, inflatePatch, isDeltaFormat, MAX_DICTIONARY_PAGES } from './delta-format.js';
import { DOWNLOAD_TEMP_MARK } from './download.js';
import { LimitedCounter } from './limited-counter.js';
import { stallWatchdog } from './stall-watchdog.js';
import { DEFAULT_TRANSFER_LIMITS, type TransferLimits } from './transfer-limits.js';

export interface ApplyDeltaOptions {
  store: ObjectStore;
  /** The manifest of the snapshot to build; must have `chunks`. */
  manifest: Manifest;
  delta: DeltaInfo;
  /** The base file (the live database), never written. */
  base: string;
  /** The base's chunk hashes, as verified when it was installed. */
  baseHashes: Buffer;
  /** Where the new file goes (usually `base` itself, replaced by rename). */
  destination: string;
  /** Stall timeout, deadline and abort signal of the transfer. @default DEFAULT_TRANSFER_LIMITS */
  limits?: TransferLimits | undefined;
  /** Runs on the finished temp file before the rename (header and `quick_check`). */
  verify?: (file: string) => void | Promise<void>;
  onProgress?: ((bytes: number) => void) | undefined;
}

/** What a delta stream wrote into a file. */
export interface WrittenDelta {
  bytesReceived: number;
  /** The new file's chunk hashes: the base's, with the delta's pages hashed again. */
  chunkHashes: Buffer;
  /** The page numbers the delta wrote, in order. */
  pages: number[];
}

/** Writes at once that a delta keeps under way: the next record is decoded and hashed while they run. */
const WRITES_IN_FLIGHT = 16;

/**
 * Writes pages at their offsets, several at a time, and reads pages as the file will hold them once those
 * writes are done (a page still being written is read from memory). A delta writes each page at most once.
 */
class PageWriter {
  readonly #pending = new Map<number, Buffer>();
  readonly #inFlight = new Set<Promise<void>>();
  #failure: Error | undefined;

  constructor(
    private readonly handle: FileHandle,
    private readonly pageSize: number,
  ) {}

  /** Starts writing `page` at `index`; resolves when fewer than the limit are under way. */
  async write(index: number, page: Buffer): Promise<void> {
    if (this.#failure) throw this.#failure;
    this.#pending.set(index, page);
    const done: Promise<void> = this.handle.write(page, 0, page.length, index * this.pageSize).then(
      ({ bytesWritten }) => {
        if (bytesWritten !== page.length) this.#failure ??= new Error(`short write of page ${index}: ${bytesWritten} of ${page.length} bytes`);
      },
      (error: unknown) => {
        this.#failure ??= error as Error;
      },
    );
    const tracked = done.finally(() => {
      this.#pending.delete(index);
      this.#inFlight.delete(tracked);
    });
    this.#inFlight.add(tracked);
    if (this.#inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(this.#inFlight);
    if (this.#failure) throw this.#failure;
  }

  /** Copies page `index` as written into `into` at `at`. Synchronous: microseconds from the page cache, where the thread pool costs tens. */
  read(index: number, into: Buffer, at: number): void {
    const pending = this.#pending.get(index);
    if (pending) {
      pending.copy(into, at);
      return;
    }
    const bytesRead = readSync(this.handle.fd, into, at, this.pageSize, index * this.pageSize);
    if (bytesRead !== this.pageSize) throw new Error(`short read of page ${index}: ${bytesRead} of ${this.pageSize} bytes`);
  }

  /** Waits for every write under way; throws the first that failed. */
  async settle(): Promise<void> {
    await Promise.all(this.#inFlight);
    if (this.#failure) throw this.#failure;
  }
}

/**
 * Fetches a delta and writes its pages into `handle` at their offsets (the
 * handle holds the base's bytes), then sets the new length. A format-2
 * record's page is inflated with the pages it names, read from the handle
 * as they stand. Hashes each page it writes into a copy of the base's
 * hashes, so the root over the result proves the whole file for
 * milliseconds of hashing.
 */
export async function writeDeltaPages(
  handle: FileHandle,
  options: Pick<ApplyDeltaOptions, 'store' | 'manifest' | 'delta' | 'baseHashes' | 'onProgress'> & {
    signal: AbortSignal;
    stallTimeoutMs: number;
    /** Receives each page number as it is written, also when the delta then fails (to undo them). */
    written?: number[];
  },
): Promise<WrittenDelta> {
  const { manifest, delta, store } = options;
  const chunks = manifest.chunks;
  if (!chunks) throw new StoreError(`manifest of ${manifest.database.sha256} has no chunk hashes to check a delta against`, false);
  const what = `delta ${delta.key}`;
  const format = delta.format ?? 1;
  if (!isDeltaFormat(format)) throw new CorruptDeltaError(`${what}: delta format ${format} is not one this agent reads`);
  const basePageCount = options.baseHashes.length / HASH_BYTES;
  const hashes = Buffer.alloc(chunks.count * HASH_BYTES);
  options.baseHashes.copy(hashes, 0, 0, Math.min(options.baseHashes.length, hashes.length));
  const written: number[] = options.written ?? [];
  const result = await store.get(delta.key, { signal: options.signal });
  if (result.status !== 'ok') throw new StoreError(`${what}: unexpected not-modified answer`, true);
  const received = new LimitedCounter(delta.size, `${what} (stored bytes)`, false, options.onProgress);
  const decoded = new LimitedCounter(delta.rawSize, what, false);
  const checkHeader = (header: DeltaHeader): void => {
    const expected = {
      pageSize: chunks.size,
      pageCount: chunks.count,
      baseSha256: delta.base.sha256,
      targetSha256: manifest.database.sha256,
      basePageCount: format === 2 ? basePageCount : undefined,
    };
    const got = {
      pageSize: header.pageSize,
      pageCount: header.pageCount,
      baseSha256: header.baseSha256,
      targetSha256: header.targetSha256,
      basePageCount: header.basePageCount,
    };
    if (JSON.stringify(expected) !== JSON.stringify(got)) throw new ChecksumMismatchError(`${what} header`, JSON.stringify(expected), JSON.stringify(got));
  };
  const pages = new PageWriter(handle, chunks.size);
  // A patch's dictionary pages are read as the file holds them now (the parser has checked that each is a base
  // page or one this delta wrote); a page whose write is still under way is read from memory.
  // One buffer for every record's dictionary: inflating copies it into zlib's window, so it is free again
  // as soon as the page is inflated, and a page's worth of garbage per record is not made.
  const scratch = Buffer.allocUnsafe(MAX_DICTIONARY_PAGES * chunks.size);
  const readDictionary = (list: readonly number[]): Buffer | undefined => {
    if (list.length === 0) return undefined;
    for (const [k, page] of list.entries()) pages.read(page, scratch, k * chunks.size);
    return scratch.subarray(0, list.length * chunks.size);
  };
  const pageOf = (record: DeltaRecord): Buffer =>
    record.kind === 'page' ? record.bytes : inflatePatch(what, record, readDictionary(record.dictionary), chunks.size);
  const writer = new Writable({
    objectMode: true,
    write(record: DeltaRecord, _encoding, callback) {
      let page: Buffer;
      try {
        page = pageOf(record);
      } catch (error) {
        callback(error as Error);
        return;
      }
      // The hash is of the bytes written: PageWriter refuses a short write, which would leave a page the root does not describe.
      hashChunk(page).copy(hashes, record.index * HASH_BYTES);
      written.push(record.index);
      pages.write(record.index, page).then(() => callback(), callback);
    },
    final(callback) {
      pages.settle().then(() => callback(), callback);
    },
  });
  try {
    await pipeline(
      result.body,
      stallWatchdog(what, options.stallTimeoutMs),
      received,
      decompressor(delta.encoding),
      decoded,
      new DeltaParser(what, format, checkHeader),
      writer,
      { signal: options.signal },
    );
  } finally {
    // No write may land after this returns or throws: a failed delta's pages are copied back over them (standby.ts).
    await pages.settle().catch(() => {});
  }
  if (received.bytes !== delta.size) throw new SizeMismatchError(`${what} (stored bytes)`, delta.size, received.bytes);
  await handle.truncate(manifest.database.size);
  const root = chunkRoot(hashes);
  if (root !== chunks.root) throw new ChecksumMismatchError(`${what} applied (chunk root)`, chunks.root, root);
  return { bytesReceived: received.bytes, chunkHashes: hashes, pages: written };
}

/**
 * Builds the new snapshot from the base and a delta, in a temp file beside
 * the destination: a copy of the base (a reflink where the file system can),
 * the delta's pages written over it (see {@link writeDeltaPages}), then
 * `verify`, fsync, rename. Any failure removes the temp file; the base is
 * never written. The copy makes this cost follow the file's size where there
 * are no reflinks; the agent avoids it with a standby copy (agent/standby.ts).
 */
export async function applyDelta(options: ApplyDeltaOptions): Promise<WrittenDelta> {
  const { delta } = options;
  const what = `delta ${delta.key}`;
  const limits = options.limits ?? DEFAULT_TRANSFER_LIMITS;
  let written: WrittenDelta | undefined;
  await replaceAtomically(
    path.resolve(options.destination),
    (temp) =>
      withDeadline(what, limits.deadlineMs, limits.signal, async (signal) => {
        await copyFile(options.base, temp, constants.COPYFILE_FICLONE);
        const handle = await open(temp, 'r+');
        try {
          written = await writeDeltaPages(handle, { ...options, signal, stallTimeoutMs: limits.stallTimeoutMs });
        } finally {
          await handle.close();
        }
        await options.verify?.(temp);
      }),
    { tempName: `${DOWNLOAD_TEMP_MARK}${randomBytes(6).toString('hex')}` },
  );
  return written!;
}
