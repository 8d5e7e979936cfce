import { stallTimeoutOf, watchedBody } from './transport.js';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { createWriteStream, type Dirent, type Stats, type WriteStream } from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { NotFoundError } from '../errors.js';
import { fileClosed, replaceAtomically } from '../fs-atomic.js';
import { assertValidKey, type CallOptions, type GetOptions, type GetResult, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';

const TEMP_MARK = '.tmp-';

/** Runs `pipe` into a new file and returns only once the file is closed, whatever happened. */
async function writeThrough(file: string, pipe: (sink: WriteStream) => Promise<void>): Promise<void> {
  const sink = createWriteStream(file, { flags: 'wx' });
  try {
    await pipe(sink);
  } finally {
    await fileClosed(sink);
  }
}

function etagOf(stats: Stats): string {
  // The inode changes on every put (write to a temp file, then rename), so the tag changes too.
  return `"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}-${stats.ino.toString(16)}"`;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT' || (error as NodeJS.ErrnoException)?.code === 'ENOTDIR';
}

/** Counts bytes passing through, reporting the running total. */
export function progressCounter(onProgress?: (bytes: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      onProgress?.(total);
      callback(null, chunk);
    },
  });
}

/**
 * A folder as an object store: for local development, tests, and stores
 * mounted as a file system. Writes are atomic (`replaceAtomically`); a failed
 * write leaves no trace.
 */
export class LocalStore implements ObjectStore {
  readonly location: string;
  readonly writable = true;
  /** A folder may be a network mount (NFS, a bucket mounted as files) that hangs: its reads are watched too. */
  readonly stallTimeoutMs: number;

  constructor(
    readonly root: string,
    options: { stallTimeoutMs?: number | undefined } = {},
  ) {
    this.root = path.resolve(root);
    this.location = pathToFileURL(this.root).href;
    this.stallTimeoutMs = stallTimeoutOf(options);
  }

  #path(key: string): string {
    assertValidKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    const file = this.#path(key);
    let stats: Stats;
    try {
      stats = await stat(file);
    } catch (error) {
      if (isMissing(error)) throw new NotFoundError(key, this.location);
      throw error;
    }
    if (!stats.isFile()) throw new NotFoundError(key, this.location);
    const etag = etagOf(stats);
    if (options.ifNoneMatch === etag) return { status: 'not-modified', etag };
    // Open before returning so a concurrent rename cannot swap the content under a known size.
    const handle = await open(file, 'r');
    const body = handle.createReadStream({ autoClose: true, signal: options.signal });
    return { status: 'ok', body: watchedBody(body, file, this), size: stats.size, etag, lastModified: stats.mtime };
  }

  async head(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    options.signal?.throwIfAborted();
    try {
      const stats = await stat(this.#path(key));
      return stats.isFile() ? { key, size: stats.size, etag: etagOf(stats), lastModified: stats.mtime } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async put(key: string, body: Readable | Uint8Array, options: PutOptions = {}): Promise<{ etag: string }> {
    const target = this.#path(key);
    const source = body instanceof Uint8Array ? Readable.from([body]) : body;
    // The default temp name contains TEMP_MARK, so a listing never shows a write in progress.
    await replaceAtomically(target, (temp) =>
      writeThrough(temp, (sink) => pipeline(source, progressCounter(options.onProgress), sink, { signal: options.signal })),
    );
    return { etag: etagOf(await stat(target)) };
  }

  async list(prefix: string, options: CallOptions = {}): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    const walk = async (folder: string, keyPrefix: string): Promise<void> => {
      options.signal?.throwIfAborted();
      let entries: Dirent[];
      try {
        entries = await readdir(folder, { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return;
        throw error;
      }
      for (const entry of entries) {
        const key = `${keyPrefix}${entry.name}`;
        if (!key.startsWith(prefix) && !prefix.startsWith(`${key}/`)) continue;
        if (entry.isDirectory()) await walk(path.join(folder, entry.name), `${key}/`);
        else if (entry.isFile() && !entry.name.includes(TEMP_MARK)) {
          const stats = await stat(path.join(folder, entry.name));
          found.push({ key, size: stats.size, etag: etagOf(stats), lastModified: stats.mtime });
        }
      }
    };
    await walk(this.root, '');
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    await rm(this.#path(key), { force: true });
  }
}
