import { stallTimeoutOf } from './transport.js';
import { DEFAULTS } from '../defaults.js';
import { redactLocation } from '../redact.js';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { describeError, errorMessage, isStoreFault } from '../describe-error.js';
import { NotFoundError, StalledError, UsageError } from '../errors.js';
import type { CallOptions, GetOptions, GetResult, ObjectInfo, ObjectStore } from './object-store.js';

/** Which of the stores given answered (0 is the preferred one), and where it is, with no credentials: for `/healthz`, metrics and heartbeats. */
export interface StoreSource {
  index: number;
  location: string;
}

/** A store left for the next one during a call. */
export interface FailoverEvent {
  from: StoreSource;
  /** The reason code (`connection-refused`, `store-error`, `stalled`, …). */
  reason: string;
  message: string;
}

export interface MirrorStoreOptions {
  /**
   * After a store fails, the others are asked first for this long; then the preferred order again, so a
   * store that recovered is read from at the first call after it. @default 60000
   */
  retryAfterMs?: number;
  /** Told of each store that failed and was left for the next (or was the last one). */
  onFailover?: (event: FailoverEvent) => void;
  /** @default Date.now */
  now?: () => number;
}

/** The store that answered `store`'s last call: one of a {@link MirrorStore}'s, else the store itself (index 0). */
export function storeSource(store: ObjectStore): StoreSource {
  return store instanceof MirrorStore ? store.lastSource : { index: 0, location: redactLocation(store.location) };
}

/**
 * Several stores that hold the same snapshots (mirrors in other regions or on other services), read as
 * one: each call goes to the first healthy store in the order given, and moves on to the next when that
 * one fails (an error, no answer within its stall timeout, or a body that breaks off or stalls). A store
 * that failed is asked last until `retryAfterMs` has passed, then first again.
 *
 * Nothing read here needs to come from one store: a manifest names every object by its hash (and a signed
 * one is checked by its signature), so a manifest from one store and a snapshot from another verify as
 * well as from one. A body that fails midway is not resumed elsewhere; the caller's retry reads it again,
 * from the next store.
 *
 * Read-only: publishing writes to each store in turn (`publishToStores`), never through this.
 */
export class MirrorStore implements ObjectStore {
  readonly writable = false;
  /** The longest of its stores': each store's call is left for the next when that store's own runs out. */
  readonly stallTimeoutMs: number;
  readonly #stores: readonly ObjectStore[];
  readonly #retryAfterMs: number;
  readonly #onFailover: ((event: FailoverEvent) => void) | undefined;
  readonly #now: () => number;
  /** Per store: until when it is asked last. */
  readonly #failedUntil: number[];
  #last = 0;

  constructor(stores: readonly ObjectStore[], options: MirrorStoreOptions = {}) {
    if (stores.length === 0) throw new UsageError('a mirror set needs at least one store');
    this.#stores = stores;
    this.stallTimeoutMs = Math.max(...stores.map(stallTimeoutOf));
    this.#retryAfterMs = options.retryAfterMs ?? DEFAULTS.failbackMs;
    this.#onFailover = options.onFailover;
    this.#now = options.now ?? Date.now;
    this.#failedUntil = stores.map(() => 0);
  }

  /** The stores, in the order given. */
  get stores(): readonly ObjectStore[] {
    return this.#stores;
  }

  /**
   * The location of the store that answered the last call (the preferred one before any), so that a
   * message about what was read names where it came from.
   */
  get location(): string {
    return this.#stores[this.#last]!.location;
  }

  /** The store that answered the last call: its place in the order given, and its location with no credentials. */
  get lastSource(): StoreSource {
    return this.#source(this.#last);
  }

  #source(index: number): StoreSource {
    return { index, location: redactLocation(this.#stores[index]!.location) };
  }

  /** Healthy stores in the order given, then those that failed recently, in the same order: a last resort is still a chance. */
  #order(): number[] {
    const now = this.#now();
    const indexes = this.#stores.map((_, i) => i);
    return [...indexes.filter((i) => this.#failedUntil[i]! <= now), ...indexes.filter((i) => this.#failedUntil[i]! > now)];
  }

  #answered(index: number): void {
    this.#last = index;
    this.#failedUntil[index] = 0;
  }

  #failed(index: number, error: unknown): void {
    this.#failedUntil[index] = this.#now() + this.#retryAfterMs;
    const { code } = describeError(error);
    this.#onFailover?.({ from: this.#source(index), reason: code, message: errorMessage(error) });
  }

  /**
   * Whether `error` says the store failed, rather than the caller: an abort is the caller's (a stopping
   * agent), except one by a deadline, which a store that trickles bytes causes.
   */
  #storeFault(error: unknown, signal: AbortSignal | undefined): boolean {
    if (signal?.aborted) return (signal.reason as Error | undefined)?.name === 'TimeoutError';
    return isStoreFault(error);
  }

  /** Runs one store's call, abandoning it when no answer comes within the answer timeout. */
  async #ask<T>(index: number, signal: AbortSignal | undefined, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const silence = new AbortController();
    const timer = setTimeout(
      () => silence.abort(new StalledError(`${this.#stores[index]!.location}: no answer`, stallTimeoutOf(this.#stores[index]!))),
      stallTimeoutOf(this.#stores[index]!),
    );
    try {
      return await call(signal ? AbortSignal.any([signal, silence.signal]) : silence.signal);
    } catch (error) {
      if (silence.signal.aborted && !signal?.aborted) throw silence.signal.reason;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Asks the stores in turn until one answers. A store's "not there" (`undefined` from `head`, `NotFoundError`)
   * moves on too, and is the answer when no other store has the key.
   */
  async #first<T>(
    signal: AbortSignal | undefined,
    call: (store: ObjectStore, index: number, signal: AbortSignal) => Promise<T | undefined>,
    eligible: (store: ObjectStore) => boolean = () => true,
  ): Promise<T | undefined> {
    const errors: unknown[] = [];
    let missingAt: number | undefined;
    for (const index of this.#order().filter((i) => eligible(this.#stores[i]!))) {
      signal?.throwIfAborted();
      try {
        const answer = await this.#ask(index, signal, (s) => call(this.#stores[index]!, index, s));
        if (answer !== undefined) {
          this.#answered(index);
          return answer;
        }
        missingAt ??= index;
      } catch (error) {
        if (error instanceof NotFoundError && !signal?.aborted) {
          missingAt ??= index;
          continue;
        }
        if (!this.#storeFault(error, signal)) throw error;
        this.#failed(index, error);
        errors.push(error);
      }
    }
    if (missingAt !== undefined) {
      // "Not there" is an answer, from a store that works: it is the one reads are reported from.
      this.#last = missingAt;
      return undefined;
    }
    // Every store failed: the first failure that retrying may cure, else the preferred store's.
    throw errors.find((e) => describeError(e).retryable) ?? errors[0];
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    const result = await this.#first(options.signal, async (store, index, signal) => ({
      index,
      answer: await store.get(key, { ...options, ifNoneMatch: this.#ownTag(index, options.ifNoneMatch), signal }),
    }));
    if (result === undefined) throw new NotFoundError(key, this.#stores.map((s) => s.location).join(', '));
    const { index, answer } = result;
    if (answer.status === 'not-modified') return { status: 'not-modified', etag: this.#tag(index, answer.etag) };
    return { ...answer, etag: this.#tag(index, answer.etag), body: this.#watch(index, answer.body, options.signal) };
  }

  async head(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    return this.#first(options.signal, async (store, index, signal) => {
      const info = await store.head(key, { signal });
      return info && { ...info, etag: this.#tag(index, info.etag) };
    });
  }

  /** The listing of the first store that answers among those that can list (public HTTP stores cannot). */
  async list(prefix: string, options: CallOptions = {}): Promise<ObjectInfo[]> {
    if (!this.#stores.some((store) => store.writable)) return this.#stores[0]!.list(prefix, options);
    const listed = await this.#first(
      options.signal,
      async (store, index, signal) => (await store.list(prefix, { signal })).map((info) => ({ ...info, etag: this.#tag(index, info.etag) })),
      (store) => store.writable,
    );
    return listed ?? [];
  }

  async put(): Promise<{ etag: string }> {
    throw new UsageError('a mirror set is read as one store; publishing writes to each of its stores (publishToStores)');
  }

  async delete(): Promise<void> {
    throw new UsageError('a mirror set is read as one store; pruning deletes from each of its stores');
  }

  /**
   * ETags are one store's: tagged with the store's place (in `get`, `head` and `list` alike), so a
   * conditional read sends another store none (two stores can give different objects the same tag, as a
   * folder's size-mtime-inode tags can).
   */
  #tag(index: number, etag: string): string {
    return `${index}:${etag}`;
  }

  #ownTag(index: number, tagged: string | undefined): string | undefined {
    const prefix = `${index}:`;
    return tagged?.startsWith(prefix) ? tagged.slice(prefix.length) : undefined;
  }

  /**
   * The body, passed through a stream that sees how it ends: the store's stall watchdog, a reset or a
   * corrupt stream destroys it with the reason, and a store whose body fails that way is asked last for a
   * while, so the reader's retry goes to the next one.
   */
  #watch(index: number, body: Readable, signal: AbortSignal | undefined): Readable {
    const watched = new PassThrough({ highWaterMark: 64 * 1024 });
    pipeline(body, watched, (error) => {
      if (error && this.#storeFault(error, signal)) this.#failed(index, error);
    });
    return watched;
  }
}
