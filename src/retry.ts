import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  /** Tries in all, the first included. @default 3 */
  attempts?: number;
  /** Delay before the second try; doubled for each later one, with ±25% jitter. @default 1000 */
  baseDelayMs?: number;
  signal?: AbortSignal;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Whether trying again can help. Our own errors (and contract errors) say so; anything else
 * (a reset connection, a corrupt compressed stream) is assumed transient.
 */
export function isRetryable(error: unknown): boolean {
  const retryable = (error as { retryable?: unknown })?.retryable;
  if (typeof retryable === 'boolean') return retryable;
  if ((error as Error)?.name === 'AbortError') return false;
  return true;
}

/** Runs `fn`, retrying transient failures with exponential backoff. Permanent ones throw at once. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 3;
  const base = options.baseDelayMs ?? 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= attempts || !isRetryable(error) || options.signal?.aborted) throw error;
      const delay = Math.round(base * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5));
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, undefined, { signal: options.signal });
    }
  }
}
