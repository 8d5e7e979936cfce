import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { SizeMismatchError } from '../errors.js';

/**
 * Counts bytes (and hashes them, if asked) and fails as soon as they pass
 * `limit`: a wrong object or a decompression bomb never fills the disk.
 */
export class LimitedCounter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(
    private readonly limit: number,
    private readonly what: string,
    private readonly hashing: boolean,
    private readonly onBytes?: (bytes: number) => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(new SizeMismatchError(this.what, this.limit, this.bytes, ' or more (the body is larger than the manifest says)'));
      return;
    }
    if (this.hashing) this.hash.update(chunk);
    this.onBytes?.(this.bytes);
    callback(null, chunk);
  }
}
