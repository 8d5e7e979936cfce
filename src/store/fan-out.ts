import { describeError, errorMessage } from '../describe-error.js';
import { SomeStoresFailedError } from '../errors.js';
import { withRetries } from '../retry.js';
import type { ObjectStore } from './object-store.js';

/** One store's part in an operation on every store (publish, prune): once it fails, it is left out of the rest. */
export type StoreTarget<Step extends string, State extends object> = State & {
  store: ObjectStore;
  /** Its place among the stores given. */
  index: number;
  /** Reports a step of this store; with several stores, the detail names it. */
  step: (step: string, detail: Record<string, unknown>) => void;
  failure?: { step: Step; error: unknown };
};

export interface FanOutOptions {
  /** Tries of each store call for transient failures. @default 3 */
  attempts?: number | undefined;
  /** @default 1000 */
  retryBaseDelayMs?: number | undefined;
  /** Stops the whole operation: not one store's failure. */
  signal?: AbortSignal | undefined;
  onStep?: ((step: string, detail: Record<string, unknown>) => void) | undefined;
  /** Name the store in every step, also when there is one (a command whose reports always say where). @default false */
  alwaysNameStore?: boolean | undefined;
}

/**
 * The one way an operation goes to several stores (mirrors): each store's calls are retried on their own, a
 * store that still fails is reported (`store-failed`) and left, the others go on. A stopped operation
 * (the signal) throws instead: that is nobody's store failing.
 */
export class StoreFanOut<Step extends string, State extends object> {
  readonly targets: StoreTarget<Step, State>[];
  readonly #options: FanOutOptions;

  constructor(stores: readonly ObjectStore[], options: FanOutOptions, initial: () => State) {
    this.#options = options;
    const onStep = options.onStep ?? (() => {});
    const several = stores.length > 1 || options.alwaysNameStore === true;
    this.targets = stores.map((store, index) => ({
      ...initial(),
      store,
      index,
      step: several ? (step, detail) => onStep(step, { store: store.location, ...detail }) : onStep,
    }));
  }

  /** The stores that have not failed. */
  live(): StoreTarget<Step, State>[] {
    return this.targets.filter((t) => !t.failure);
  }

  /** `work` with retries of its transient failures, each reported as a `retry` step of the store. */
  retrying<T>(target: StoreTarget<Step, State>, what: string, work: () => Promise<T>): Promise<T> {
    return withRetries(work, {
      attempts: this.#options.attempts,
      baseDelayMs: this.#options.retryBaseDelayMs,
      signal: this.#options.signal,
      onRetry: (error, attempt, delayMs) => target.step('retry', { what, attempt, delayMs, reason: describeError(error).code, message: errorMessage(error) }),
    });
  }

  /** Runs `work` for every live store at once; a store whose work throws is marked failed at `step`. */
  async each(step: Step, work: (target: StoreTarget<Step, State>) => Promise<void>): Promise<void> {
    await Promise.all(this.live().map((target) => this.attempt(target, step, () => work(target))));
  }

  async attempt(target: StoreTarget<Step, State>, step: Step, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (this.#options.signal?.aborted) throw error;
      target.failure = { step, error };
      target.step('store-failed', { failedStep: step, reason: describeError(error).code, message: errorMessage(error) });
    }
  }

  /** Whether every store did its part, some of them, or none. */
  outcome(): 'all' | 'some' | 'none' {
    const failed = this.targets.filter((t) => t.failure).length;
    return failed === 0 ? 'all' : failed === this.targets.length ? 'none' : 'some';
  }
}

/** A store's result as reports carry it: failed with its error, or anything else. */
export type StoreResultLike = { location: string } & ({ status: 'failed'; error: unknown } | { status: string; error?: undefined });

/** Nothing anywhere: the preferred store's own failure is the answer (with its own exit code). */
export function throwIfNoStoreSucceeded(results: readonly StoreResultLike[]): void {
  if (results.length > 0 && results.every((r) => r.status === 'failed')) throw results[0]!.error;
}

/** After the report: some stores failed, the others did `what`, and the run fails saying which. */
export function throwIfSomeStoresFailed(what: string, results: readonly StoreResultLike[]): void {
  const failed = results.filter((r) => r.status === 'failed');
  if (failed.length === 0) return;
  throw new SomeStoresFailedError(
    what,
    failed.map((r) => ({ location: r.location, reason: describeError(r.error).code, message: errorMessage(r.error) })),
    results.length - failed.length,
  );
}
