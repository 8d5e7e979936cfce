import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { AccessDeniedError, NotFoundError, ReadOnlyStoreError, StoreError, StoreUnreachableError } from '../errors.js';
import { errorMessage } from '../describe-error.js';
import { stallTimeoutOf, watchedBody } from './transport.js';
import { assertValidKey, type CallOptions, type GetOptions, type GetResult, type ObjectInfo, type ObjectStore } from './object-store.js';

export interface HttpStoreOptions {
  /** Base URL that keys are appended to, e.g. `https://snapshots.example.com/site`. */
  baseUrl: string;
  /** How long to wait for the response headers, or the next byte of a body. @default DEFAULTS.stallTimeoutMs */
  stallTimeoutMs?: number | undefined;
}

/**
 * A read-only store over plain HTTP(S) with no credentials: a public bucket,
 * a CDN in front of one, or any static file server. Pods and developer
 * machines use it to fetch snapshots without cloud credentials.
 */
export class HttpStore implements ObjectStore {
  readonly location: string;
  readonly writable = false;
  readonly stallTimeoutMs: number;
  readonly #base: string;

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
    this.stallTimeoutMs = stallTimeoutOf(options);
  }

  #url(key: string): string {
    assertValidKey(key);
    return `${this.#base}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  // Kept-alive connections: an agent polls every few seconds, and a new connection (and TLS handshake) per poll
  // costs more than the request. Idle sockets do not keep the process alive.
  // A socket idle for 4 s is closed here rather than reused: load balancers and CDNs close theirs without a
  // Keep-Alive header, and a request sent on one they just closed fails with a reset.
  readonly #agents = { 'http:': new http.Agent({ keepAlive: true, timeout: 4_000 }), 'https:': new https.Agent({ keepAlive: true, timeout: 4_000 }) };

  async #request(key: string, method: 'GET' | 'HEAD', headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    const url = this.#url(key);
    const allHeaders = this.#authorization ? { ...headers, authorization: this.#authorization } : headers;
    const origin = new URL(this.#base).origin;
    // Redirects are followed only within the store's origin (a CDN's trailing-slash or canonical-path
    // redirects), at most 5: a redirect elsewhere could hand the agent another server's answer, and with
    // it our credentials.
    let current = url;
    for (let hop = 0; hop <= 5; hop++) {
      const response = await this.#send(current, method, allHeaders, signal);
      const location = response.headers.location;
      const status = response.statusCode ?? 0;
      if (status < 300 || status > 399 || status === 304 || !location) return response;
      response.resume();
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new StoreError(`${current} redirects to an invalid location (${JSON.stringify(location.slice(0, 200))})`, true);
      }
      if (next.origin !== origin) {
        throw new StoreError(`${current} redirects to another origin (${next.origin}); refusing to follow it`, false);
      }
      current = next.href;
    }
    throw new StoreError(`${url}: more than 5 redirects`, false);
  }

  /**
   * One request over node:http(s). Not fetch: fetch's web streams keep several times more memory per
   * byte received (measured: 98 MiB against 60 MiB peak for a 1 GiB body), and a pod's memory limit is small.
   */
  #send(url: string, method: 'GET' | 'HEAD', headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const agent = this.#agents[target.protocol as 'http:' | 'https:'];
    return new Promise((resolve, reject) => {
      const request = client.request(target, { method, headers, agent, signal }, (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      // The timeout covers the wait for headers only; a large body may take as long as it needs.
      const timer = setTimeout(() => request.destroy(new HeadersTimeout(this.stallTimeoutMs)), this.stallTimeoutMs);
      request.on('error', (error) => {
        clearTimeout(timer);
        if (signal?.aborted) reject(signal.reason ?? error);
        else
          reject(
            new StoreUnreachableError(
              url,
              error instanceof HeadersTimeout ? error.message : ((error as NodeJS.ErrnoException).code ?? errorMessage(error)),
              error,
            ),
          );
      });
      request.end();
    });
  }

  #fail(response: IncomingMessage, key: string): never {
    response.resume();
    const status = response.statusCode ?? 0;
    if (status === 404) throw new NotFoundError(key, this.location);
    if (status === 401 || status === 403) {
      // A private S3 bucket answers 403 for a missing key too.
      throw new AccessDeniedError(`${this.#url(key)} answered ${status}: the object is missing or not public`);
    }
    const retryable = status >= 500 || status === 429 || status === 408;
    throw new StoreError(`${this.#url(key)} answered HTTP ${status} ${response.statusMessage ?? ''}`.trimEnd(), retryable);
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (options.ifNoneMatch) headers['if-none-match'] = options.ifNoneMatch;
    const response = await this.#request(key, 'GET', headers, options.signal);
    if (response.statusCode === 304) {
      response.resume();
      return { status: 'not-modified', etag: response.headers.etag ?? options.ifNoneMatch ?? '' };
    }
    if (!isOk(response)) this.#fail(response, key);
    // The reader's pipeline hears every error while it runs. The body can fail once more after that
    // (the peer closing a socket the pipeline already gave up on); with no listener left, that
    // late error would end the process.
    response.on('error', () => {});
    return { status: 'ok', body: watchedBody(response, this.#url(key), this), ...info(response) };
  }

  async head(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    const response = await this.#request(key, 'HEAD', {}, options.signal);
    response.resume();
    if (response.statusCode === 404) return undefined;
    if (!isOk(response)) this.#fail(response, key);
    return { key, ...info(response) };
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

class HeadersTimeout extends Error {
  constructor(ms: number) {
    super(`no response within ${ms} ms`);
  }
}

function isOk(response: IncomingMessage): boolean {
  const status = response.statusCode ?? 0;
  return status >= 200 && status <= 299;
}

function info(response: IncomingMessage): { size: number; etag: string; lastModified: Date } {
  return {
    size: Number(response.headers['content-length'] ?? -1),
    etag: response.headers.etag ?? '',
    lastModified: new Date(response.headers['last-modified'] ?? 0),
  };
}
