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
  // One controller, aborted by the deadline or by the caller's signal: an agent runs this on every poll, and
  // AbortSignal.timeout with AbortSignal.any made three signals each time, and a timer that ran on to the deadline.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DeadlineError(what, deadlineMs));
  }, deadlineMs);
  const follow = (): void => controller.abort(signal?.reason);
  if (signal?.aborted) follow();
  else signal?.addEventListener('abort', follow, { once: true });
  try {
    return await work(controller.signal);
  } catch (error) {
    if (timedOut && !signal?.aborted) throw new DeadlineError(what, deadlineMs);
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', follow);
  }
}
