import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Manifest } from '../contract/manifest.js';
import { ChecksumMismatchError, SizeMismatchError, StoreError } from '../errors.js';
import { fsyncPath, progressCounter } from '../store/local-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { decompressor } from './codec.js';

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
}

/**
 * Hashes and counts the decoded bytes, and fails as soon as they pass the
 * manifest's size: a wrong object or a decompression bomb never fills the disk.
 */
class VerifyingCounter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(new SizeMismatchError(this.what, this.limit, this.bytes, ' or more (the body is larger than the manifest says)'));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }
}

/**
 * Streams a snapshot from the store into a temp file beside `destination`,
 * decoding and hashing on the way (never the whole file in memory), checks
 * size and SHA-256 against the manifest, fsyncs, and renames it into place.
 * On any failure the temp file is removed and `destination` is untouched.
 */
export async function downloadSnapshot(options: DownloadOptions): Promise<{ bytesReceived: number }> {
  const { manifest, store } = options;
  const what = `snapshot ${manifest.object.key}`;
  const folder = path.dirname(path.resolve(options.destination));
  const temp = path.join(folder, `${DOWNLOAD_TEMP_MARK}${randomBytes(6).toString('hex')}`);
  let received = 0;
  try {
    const result = await store.get(manifest.object.key, { signal: options.signal });
    if (result.status !== 'ok') throw new StoreError(`${what}: unexpected not-modified answer`, true);
    const verifier = new VerifyingCounter(manifest.database.size, what);
    await pipeline(
      result.body,
      progressCounter((bytes) => {
        received = bytes;
        options.onProgress?.(bytes);
      }),
      decompressor(manifest.object.encoding),
      verifier,
      createWriteStream(temp, { flags: 'wx' }),
      { signal: options.signal },
    );
    if (verifier.bytes !== manifest.database.size) throw new SizeMismatchError(what, manifest.database.size, verifier.bytes);
    const actual = verifier.hash.digest('hex');
    if (actual !== manifest.database.sha256) throw new ChecksumMismatchError(what, manifest.database.sha256, actual);
    await fsyncPath(temp);
    await rename(temp, options.destination);
    await fsyncPath(folder);
    return { bytesReceived: received };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
