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

  readonly #authorization: string | undefined;

  constructor(options: HttpStoreOptions) {
    // Credentials in the URL (https://user:pass@host/…) become a Basic Authorization header and are never printed.
    const url = new URL(options.baseUrl);
    if (url.username || url.password) {
      this.#authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    this.#base = url.href.replace(/\/+$/, '');
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
      return await this.#fetchSameOrigin(url, {
        method,
        headers: this.#authorization ? { ...headers, authorization: this.#authorization } : headers,
        signal: signals,
      });
    } catch (error) {
      if (error instanceof StoreError) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = timeout.signal.aborted ? errorMessage(timeout.signal.reason) : (cause?.code ?? cause?.message ?? errorMessage(error));
      throw new StoreUnreachableError(url, reason, error);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Follows redirects only within the store's origin (a CDN's trailing-slash
   * or canonical-path redirects), at most 5: a redirect elsewhere could hand
   * the agent another server's answer, and with it our credentials.
   */
  async #fetchSameOrigin(url: string, init: { method: string; headers: Record<string, string>; signal: AbortSignal }): Promise<Response> {
    const origin = new URL(this.#base).origin;
    let current = url;
    for (let hop = 0; hop <= 5; hop++) {
      const response = await fetch(current, { ...init, redirect: 'manual' });
      const location = response.headers.get('location');
      if (response.status < 300 || response.status > 399 || response.status === 304 || !location) return response;
      await response.body?.cancel();
      const next = new URL(location, current);
      if (next.origin !== origin) {
        throw new StoreError(`${current} redirects to another origin (${next.origin}); refusing to follow it`, false);
      }
      current = next.href;
    }
    throw new StoreError(`${url}: more than 5 redirects`, false);
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
    const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    // The reader's pipeline hears every error while it runs. fetch can fail the body once more after
    // that (the peer closing a socket the pipeline already gave up on); with no listener left, that
    // late error would end the process.
    body.on('error', () => {});
    return {
      status: 'ok',
      body,
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
