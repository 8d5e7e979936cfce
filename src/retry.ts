import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULTS } from './defaults.js';
import { describeError } from './describe-error.js';

export interface RetryOptions {
  /** Tries in all, the first included. @default 3 */
  attempts?: number;
  /** Delay before the second try; doubled for each later one, with ±25% jitter. @default 1000 */
  baseDelayMs?: number;
  signal?: AbortSignal;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `fn`, retrying the failures `describeError` calls retryable, with exponential backoff. Permanent ones throw at once. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? DEFAULTS.attempts;
  const base = options.baseDelayMs ?? DEFAULTS.retryBaseDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= attempts || !describeError(error).retryable || options.signal?.aborted) throw error;
      const delay = Math.round(base * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5));
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, undefined, { signal: options.signal });
    }
  }
}
