import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { AccessDeniedError, NotFoundError, ReadOnlyStoreError, StoreError, StoreUnreachableError } from '../errors.js';
import { errorMessage } from '../describe-error.js';
import { assertValidKey, type CallOptions, type GetOptions, type GetResult, type ObjectInfo, type ObjectStore } from './object-store.js';

export interface HttpStoreOptions {
  /** Base URL that keys are appended to, e.g. `https://snapshots.example.com/site`. */
  baseUrl: string;
  /** Milliseconds to wait for the response headers. @default 15000 */
  headersTimeoutMs?: number;
}

/**
 * A read-only store over plain HTTP(S) with no credentials: a public bucket,
 * a CDN in front of one, or any static file server. Pods and developer
 * machines use it to fetch snapshots without cloud credentials.
 */
export class HttpStore implements ObjectStore {
  readonly location: string;
  readonly writable = false;
  readonly #base: string;
  readonly #headersTimeoutMs: number;

  constructor(options: HttpStoreOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, '');
    this.location = this.#base;
    this.#headersTimeoutMs = options.headersTimeoutMs ?? 15_000;
  }

  #url(key: string): string {
    assertValidKey(key);
    return `${this.#base}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  async #request(key: string, method: 'GET' | 'HEAD', headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    const url = this.#url(key);
    // The timeout covers the wait for headers only; a large body may take as long as it needs.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`no response within ${this.#headersTimeoutMs} ms`)), this.#headersTimeoutMs);
    const signals = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    try {
      return await fetch(url, { method, headers, signal: signals, redirect: 'follow' });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = timeout.signal.aborted ? errorMessage(timeout.signal.reason) : (cause?.code ?? cause?.message ?? errorMessage(error));
      throw new StoreUnreachableError(url, reason, error);
    } finally {
      clearTimeout(timer);
    }
  }

  #fail(response: Response, key: string): never {
    if (response.status === 404) throw new NotFoundError(key, this.location);
    if (response.status === 401 || response.status === 403) {
      // A private S3 bucket answers 403 for a missing key too.
      throw new AccessDeniedError(`${this.#url(key)} answered ${response.status}: the object is missing or not public`);
    }
    const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
    throw new StoreError(`${this.#url(key)} answered HTTP ${response.status} ${response.statusText}`, retryable);
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (options.ifNoneMatch) headers['if-none-match'] = options.ifNoneMatch;
    const response = await this.#request(key, 'GET', headers, options.signal);
    if (response.status === 304) {
      await response.body?.cancel();
      return { status: 'not-modified', etag: response.headers.get('etag') ?? options.ifNoneMatch ?? '' };
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      this.#fail(response, key);
    }
    return {
      status: 'ok',
      body: Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
      size: Number(response.headers.get('content-length') ?? -1),
      etag: response.headers.get('etag') ?? '',
      lastModified: new Date(response.headers.get('last-modified') ?? 0),
    };
  }

  async head(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    const response = await this.#request(key, 'HEAD', {}, options.signal);
    if (response.status === 404) return undefined;
    if (!response.ok) this.#fail(response, key);
    return {
      key,
      size: Number(response.headers.get('content-length') ?? -1),
      etag: response.headers.get('etag') ?? '',
      lastModified: new Date(response.headers.get('last-modified') ?? 0),
    };
  }

  async put(): Promise<{ etag: string }> {
    throw new ReadOnlyStoreError(this.location, 'write objects');
  }

  async list(): Promise<ObjectInfo[]> {
    throw new ReadOnlyStoreError(this.location, 'list objects');
  }

  async delete(): Promise<void> {
    throw new ReadOnlyStoreError(this.location, 'delete objects');
  }
}
