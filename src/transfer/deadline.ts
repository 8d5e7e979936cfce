import { DeadlineError } from '../errors.js';

/**
 * Runs `work` with a signal that aborts when `signal` does or when
 * `deadlineMs` passes, whichever comes first. A stall timeout catches a
 * silent peer; only a deadline catches one that sends a byte now and then.
 * An abort by the deadline is reported as a `DeadlineError`; any other error
 * (the caller's own abort included) passes through unchanged.
 */
export async function withDeadline<T>(
  what: string,
  deadlineMs: number,
  signal: AbortSignal | undefined,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadline = AbortSignal.timeout(deadlineMs);
  try {
    return await work(signal ? AbortSignal.any([signal, deadline]) : deadline);
  } catch (error) {
    if (deadline.aborted && !signal?.aborted) throw new DeadlineError(what, deadlineMs);
    throw error;
  }
}
