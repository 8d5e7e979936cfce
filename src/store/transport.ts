import { pipeline, type Readable } from 'node:stream';
import { DEFAULTS } from '../defaults.js';
import { stallWatchdog } from '../transfer/stall-watchdog.js';

/**
 * A store's transport limit, applied by the store itself where bytes arrive: a call whose answer does not
 * start within it, or whose body goes that long without a byte, fails (`stalled`, `timeout`). One setting
 * (`--stall-timeout`) for every kind of store and every caller, rather than a timeout per call site.
 */
export interface StoreTransport {
  stallTimeoutMs: number;
}

/** A store's stall timeout (or a store's options'): its own, or the default where none is named. */
export function stallTimeoutOf(store: { stallTimeoutMs?: number | undefined }): number {
  return store.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs;
}

/**
 * `body` failing with `stalled` when no byte comes for the stall timeout; destroying the result destroys
 * the body, and the body's error reaches whoever reads the result.
 */
export function watchedBody(body: Readable, what: string, transport: StoreTransport): Readable {
  // The callback only completes the pipeline's bookkeeping: errors reach the reader through the watchdog.
  return pipeline(body, stallWatchdog(what, transport.stallTimeoutMs), () => {});
}
