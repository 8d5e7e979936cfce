import { DEFAULTS } from '../defaults.js';

/**
 * How long any transfer with a store may take, and what stops it: one value
 * that travels whole from the command line (or the agent) to every store
 * call, rather than three knobs re-typed at each layer.
 */
export interface TransferLimits {
  /** Fail a read when no bytes arrive for this long; a manifest must arrive within twice this. */
  stallTimeoutMs: number;
  /** A whole snapshot or delta transfer must end within this. */
  deadlineMs: number;
  /** Aborts everything in flight (a stopping agent, SIGTERM). */
  signal?: AbortSignal | undefined;
}

export const DEFAULT_TRANSFER_LIMITS: TransferLimits = { stallTimeoutMs: DEFAULTS.stallTimeoutMs, deadlineMs: DEFAULTS.deadlineMs };
