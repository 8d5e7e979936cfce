import { ContractError } from '@sqlitening/contract';
import type { Readable } from 'node:stream';

/** One stored object as a listing or `head` reports it. */
export interface ObjectInfo {
  /** Key relative to the store's root. */
  key: string;
  size: number;
  /** Opaque version tag; changes whenever the content may have changed. */
  etag: string;
  lastModified: Date;
}

export type GetResult = { status: 'ok'; body: Readable; size: number; etag: string; lastModified: Date } | { status: 'not-modified'; etag: string };

/** What every store call takes: a signal that aborts it (a stopping agent, a deadline). */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface GetOptions extends CallOptions {
  /** An ETag from an earlier `get`; when the object still has it, the result is `not-modified` and no body is sent. */
  ifNoneMatch?: string;
}

export interface PutOptions extends CallOptions {
  contentType?: string;
  /** `Cache-Control` served with the object (manifests: `no-cache`). Stores without HTTP semantics ignore it. */
  cacheControl?: string;
  /** Called with the number of bytes sent so far. */
  onProgress?: (sentBytes: number) => void;
}

/**
 * Where snapshots and manifests live. Keys are relative to the store's root
 * (a bucket and prefix, a folder, a base URL) and use `/` as separator.
 * Errors are the named classes of `../errors.ts`, each saying whether a retry can help.
 */
export interface ObjectStore {
  /** Where the store points, for messages: `s3://bucket/prefix`, `file:///srv/snapshots`, `https://…`. */
  readonly location: string;
  /** False for read-only stores; then `put`, `list` and `delete` throw `ReadOnlyStoreError`. */
  readonly writable: boolean;
  /**
   * How long a call may wait for the store's answer, or a body for its next byte (see `StoreTransport`);
   * absent in a store written before it: the default.
   */
  readonly stallTimeoutMs?: number;

  /**
   * Streams an object. With `ifNoneMatch` equal to its current ETag, returns
   * `not-modified` without a body. Throws `NotFoundError` if the key does not
   * exist. The caller must consume or destroy `body`, which fails with `stalled`
   * when no byte comes for the store's stall timeout.
   */
  get(key: string, options?: GetOptions): Promise<GetResult>;

  /** Metadata of one object, or `undefined` if the key does not exist. */
  head(key: string, options?: CallOptions): Promise<ObjectInfo | undefined>;

  /**
   * Stores an object, replacing any object under the key. Readers see either
   * the old object or the whole new one, never a part (large bodies go up in
   * parts and appear only when the last part is committed). Resolves only after
   * the store has confirmed the write.
   */
  put(key: string, body: Readable | Uint8Array, options?: PutOptions): Promise<{ etag: string }>;

  /** Every object whose key starts with `prefix`, sorted by key. */
  list(prefix: string, options?: CallOptions): Promise<ObjectInfo[]>;

  /** Deletes an object; deleting a missing key is not an error. */
  delete(key: string, options?: CallOptions): Promise<void>;
}

/** Reads a whole (small) object as text, e.g. a manifest. */
export async function readText(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** Refuses keys that could escape the store's root or that stores disagree on. */
export function assertValidKey(key: string): void {
  const segments = key.split('/');
  if (key.length === 0 || key.length > 1024 || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new ContractError(`invalid object key: expected non-empty '/'-separated segments without '.' or '..', got ${JSON.stringify(key)}`);
  }
}
