import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SizeMismatchError } from '../errors.js';

export interface BoundedReadOptions {
  /** For messages: `manifest s3://…/manifest.json`. */
  what: string;
  /** Fail as soon as more than this many bytes arrive: an endless body never fills memory. */
  maxBytes: number;
  signal?: AbortSignal | undefined;
}

/** Reads a small object (a manifest) whole, within a size cap; the body is destroyed on failure. */
export async function readBounded(body: Readable, options: BoundedReadOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      if (total > options.maxBytes) {
        callback(new SizeMismatchError(options.what, options.maxBytes, total, ' or more (larger than any valid one)'));
        return;
      }
      chunks.push(chunk);
      callback();
    },
  });
  await pipeline(body, sink, { signal: options.signal });
  return Buffer.concat(chunks);
}
