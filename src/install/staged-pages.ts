import { constants, readSync, writeSync } from 'node:fs';
import { type FileHandle, open, rm } from 'node:fs/promises';
import type { PageTarget } from './apply-delta.js';

/**
 * A delta's pages, staged in a private file (`.sqlitening/`, which no app opens) over the live file's
 * bytes, until the manifest's root has proven all of them: only then may any reach the live file. Reads
 * of a page the delta has not written come from the live file, which nothing writes meanwhile (the agent
 * is its only writer). Holds one slot number per page written, so memory follows the change, not the file.
 */
export class StagedPages implements PageTarget {
  readonly #file: FileHandle;
  readonly #path: string;
  readonly #liveFd: number;
  readonly #pageSize: number;
  readonly #slots = new Map<number, number>();

  private constructor(file: FileHandle, filePath: string, liveFd: number, pageSize: number) {
    this.#file = file;
    this.#path = filePath;
    this.#liveFd = liveFd;
    this.#pageSize = pageSize;
  }

  /** A new, empty staging file at `file` (a leftover of a crashed run is replaced). */
  static async create(file: string, liveFd: number, pageSize: number): Promise<StagedPages> {
    await rm(file, { force: true });
    const handle = await open(file, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    return new StagedPages(handle, file, liveFd, pageSize);
  }

  readPage(page: number, into: Buffer, at: number): void {
    const slot = this.#slots.get(page);
    const [fd, position] = slot === undefined ? [this.#liveFd, page * this.#pageSize] : [this.#file.fd, slot * this.#pageSize];
    const bytesRead = readSync(fd, into, at, this.#pageSize, position);
    if (bytesRead !== this.#pageSize) throw new Error(`short read of page ${page}: ${bytesRead} of ${this.#pageSize} bytes`);
  }

  writePage(index: number, bytes: Buffer): void {
    let slot = this.#slots.get(index);
    if (slot === undefined) {
      slot = this.#slots.size;
      this.#slots.set(index, slot);
    }
    const bytesWritten = writeSync(this.#file.fd, bytes, 0, bytes.length, slot * this.#pageSize);
    if (bytesWritten !== bytes.length) throw new Error(`short write of staged page ${index}: ${bytesWritten} of ${bytes.length} bytes`);
  }

  get pageSize(): number {
    return this.#pageSize;
  }

  /** The pages written, ascending. */
  pages(): number[] {
    return [...this.#slots.keys()].sort((a, b) => a - b);
  }

  /** Reads the new bytes of page `index` (staged, or the live file's where the delta left it as it was). */
  read = (index: number, into: Buffer): void => this.readPage(index, into, 0);

  /** Closes and removes the staging file. */
  async discard(): Promise<void> {
    await this.#file.close().catch(() => {});
    await rm(this.#path, { force: true });
  }
}
