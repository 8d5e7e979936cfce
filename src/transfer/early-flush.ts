import type { FileHandle } from 'node:fs/promises';

/**
 * Written bytes between early flushes. The caller's one fsync at the end would otherwise wait for the
 * whole file to reach the disk; flushed as it arrives (never waited for by the stream), that write-back
 * overlaps the transfer and the last fsync finds little left (measured, 1 GiB: that fsync took 0.46 s).
 */
export const FLUSH_EVERY_BYTES = 64 * 1024 * 1024;

/** Flushes a file being written to the disk as it grows, one flush at a time, without the writer waiting. */
export class EarlyFlush {
  readonly #handle: FileHandle;
  readonly #every: number;
  readonly #fail: (error: Error) => void;
  /** Bytes whose writes have completed, those flushed, and the flush in progress, if any. */
  #written = 0;
  #flushedTo = 0;
  #flushing: Promise<void> | null = null;

  /** `fail` hears a failed flush: the kernel reports a write-back error once, maybe only to that call. */
  constructor(handle: FileHandle, every: number, fail: (error: Error) => void) {
    this.#handle = handle;
    this.#every = every;
    this.#fail = fail;
  }

  /** Counts `bytes` more written, and starts a flush once enough has gathered since the last. */
  written(bytes: number): void {
    this.#written += bytes;
    if (this.#flushing || this.#written - this.#flushedTo < this.#every) return;
    const upTo = this.#written;
    this.#flushing = this.#handle.datasync().then(
      () => {
        this.#flushedTo = upTo;
        this.#flushing = null;
      },
      (error: Error) => {
        this.#flushing = null;
        this.#fail(error);
      },
    );
  }

  /** The flush in progress, if any: the file is not closed under it. */
  async settled(): Promise<void> {
    await this.#flushing;
  }
}
