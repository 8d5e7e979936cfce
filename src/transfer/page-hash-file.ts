import { randomBytes } from 'node:crypto';
import { constants, closeSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { chunkRootHash, HASH_BYTES } from '../wire/chunk-hashes.js';

/*
 * A file's page hashes (32 bytes a page, in page order) live in a file, never whole in memory: the list
 * grows with the database (8 MiB per GiB of 4 KiB pages), and a pod's memory must not. They are written as
 * they are computed, read back a window at a time, and proven by a root computed by reading the file.
 * Reads and writes are synchronous: a window comes from or goes to the page cache in microseconds, and the
 * list is always what was written (a delta reads the base's list while it writes the new one).
 */

/** Hashes read or written at once: 64 KiB, 2,048 pages' worth (8 MiB of a 4 KiB-page database). */
const WINDOW_HASHES = 2048;

/** A temp name for a page-hash list beside `file` (same folder, so it can be renamed where it belongs). */
export function hashListBeside(file: string, mark: string): string {
  return path.join(path.dirname(path.resolve(file)), `${mark}${randomBytes(6).toString('hex')}.hashes`);
}

/** A finished list of `count` page hashes in the file at `path`. */
export class PageHashFile {
  private constructor(
    readonly path: string,
    readonly count: number,
  ) {}

  /** The list in an existing file; null when there is none, or its length is not a whole number of hashes. */
  static async at(file: string): Promise<PageHashFile | null> {
    const stats = await stat(file).catch(() => null);
    if (!stats?.isFile() || stats.size % HASH_BYTES !== 0) return null;
    return new PageHashFile(file, stats.size / HASH_BYTES);
  }

  /** @internal by {@link PageHashWriter} */
  static finished(file: string, count: number): PageHashFile {
    return new PageHashFile(file, count);
  }

  /** The chunk root over the list (see chunk-hashes.ts), read a window at a time. */
  async root(): Promise<string> {
    const root = chunkRootHash();
    const reader = this.reader();
    try {
      for (let first = 0; first < this.count; first += WINDOW_HASHES) root.update(reader.window(first));
    } finally {
      reader.close();
    }
    return root.digest('hex');
  }

  /**
   * A new list at `file` of `count` hashes: this one's, with those of the `changed` pages put in their place
   * (a page past this list's end that is not among them reads as zeros), and its root, in one pass. What it
   * holds in memory is `changed`: a delta's pages, not the file's.
   */
  patched(changed: ChangedHashes, count: number, file: string): { list: PageHashFile; root: string } {
    const out = PageHashWriter.create(file);
    let reader: PageHashReader | undefined;
    const root = chunkRootHash();
    const part = Buffer.allocUnsafe(WINDOW_HASHES * HASH_BYTES);
    try {
      reader = this.reader();
      for (let first = 0; first < count; first += WINDOW_HASHES) {
        const length = Math.min(WINDOW_HASHES, count - first);
        const hashes = part.subarray(0, length * HASH_BYTES);
        hashes.fill(0);
        reader.window(first).copy(hashes);
        for (let page = first; page < first + length; page++) {
          const hash = changed.get(page);
          if (hash) hashes.set(hash, (page - first) * HASH_BYTES);
        }
        root.update(hashes);
        out.put(first, hashes);
      }
      return { list: out.finish(count), root: root.digest('hex') };
    } catch (error) {
      void out.discard();
      throw error;
    } finally {
      reader?.close();
    }
  }

  /** A reader of hashes by page; cheapest in ascending order. Close it when done. */
  reader(): PageHashReader {
    return new PageHashReader(this);
  }

  /** Moves the list to `file` (on the same file system), replacing what is there. */
  async moveTo(file: string): Promise<PageHashFile> {
    if (file !== this.path) await rename(this.path, file);
    return new PageHashFile(file, this.count);
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

/** New hashes of some pages, kept in one buffer (a delta's: thousands of them, not thousands of buffers). */
export class ChangedHashes {
  readonly #slots = new Map<number, number>();
  #hashes = Buffer.allocUnsafe(1024 * HASH_BYTES);

  set(page: number, hash: Uint8Array): void {
    let slot = this.#slots.get(page);
    if (slot === undefined) {
      slot = this.#slots.size;
      this.#slots.set(page, slot);
      if ((slot + 1) * HASH_BYTES > this.#hashes.length) {
        const grown = Buffer.allocUnsafe(this.#hashes.length * 2);
        this.#hashes.copy(grown);
        this.#hashes = grown;
      }
    }
    this.#hashes.set(hash, slot * HASH_BYTES);
  }

  get(page: number): Buffer | undefined {
    const slot = this.#slots.get(page);
    return slot === undefined ? undefined : this.#hashes.subarray(slot * HASH_BYTES, (slot + 1) * HASH_BYTES);
  }
}

/** Reads a {@link PageHashFile} through a window of {@link WINDOW_HASHES} hashes. */
export class PageHashReader {
  readonly count: number;
  readonly #fd: number;
  readonly #window = Buffer.allocUnsafe(WINDOW_HASHES * HASH_BYTES);
  #first = -1;
  #length = 0;

  constructor(list: PageHashFile) {
    this.count = list.count;
    this.#fd = openSync(list.path, constants.O_RDONLY | constants.O_NOFOLLOW);
  }

  /** The hash of page `index` (a view, valid until the next read); null past the list's end. */
  hashAt(index: number): Buffer | null {
    if (index < 0 || index >= this.count) return null;
    if (index < this.#first || index >= this.#first + this.#length) this.window(index - (index % WINDOW_HASHES));
    const at = (index - this.#first) * HASH_BYTES;
    return this.#window.subarray(at, at + HASH_BYTES);
  }

  /** The hashes from page `first` on, as many as a window holds (a view, valid until the next read). */
  window(first: number): Buffer {
    const length = Math.max(0, Math.min(WINDOW_HASHES, this.count - first));
    const bytes = length * HASH_BYTES;
    const bytesRead = bytes === 0 ? 0 : readSync(this.#fd, this.#window, 0, bytes, first * HASH_BYTES);
    if (bytesRead !== bytes) throw new Error(`short read of page hashes from ${first}: ${bytesRead} of ${bytes} bytes`);
    this.#first = first;
    this.#length = length;
    return this.#window.subarray(0, bytes);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** Writes a page-hash list into a new file, hashes at their pages' places, in any order. */
export class PageHashWriter {
  readonly path: string;
  readonly #fd: number;
  #count = 0;
  #closed = false;

  private constructor(file: string, fd: number) {
    this.path = file;
    this.#fd = fd;
  }

  /** A new, empty list at `file` (never an existing file or a link: 0600, created here). */
  static create(file: string): PageHashWriter {
    const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    return new PageHashWriter(file, fd);
  }

  /** Writes `hashes` (a whole number of them) as the hashes of pages `first`, `first + 1`, … */
  put(first: number, hashes: Uint8Array): void {
    if (this.#closed) throw new Error(`page-hash list ${this.path} is closed`);
    const bytesWritten = writeSync(this.#fd, hashes, 0, hashes.length, first * HASH_BYTES);
    if (bytesWritten !== hashes.length) throw new Error(`short write of page hashes at ${first}: ${bytesWritten} of ${hashes.length} bytes`);
    this.#count = Math.max(this.#count, first + hashes.length / HASH_BYTES);
  }

  /** The list, closed, of its first `count` hashes (pages never put read as zeros, which no page hashes to). */
  finish(count = this.#count): PageHashFile {
    if (this.#closed) throw new Error(`page-hash list ${this.path} is closed`);
    ftruncateSync(this.#fd, count * HASH_BYTES);
    this.#close();
    return PageHashFile.finished(this.path, count);
  }

  /** Closes and removes an unfinished list. */
  async discard(): Promise<void> {
    this.#close();
    await rm(this.path, { force: true });
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
  }
}
