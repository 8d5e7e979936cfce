import { DEFAULTS } from '../defaults.js';

/**
 * How long a transfer with a store may take in all, and what stops it: one value that travels whole from
 * the command line (or the agent) to every transfer. How long a store may stay silent is the store's own
 * limit (`StoreTransport`), applied where its bytes arrive.
 */
export interface TransferLimits {
  /** A whole snapshot or delta transfer must end within this. */
  deadlineMs: number;
  /** Aborts everything in flight (a stopping agent, SIGTERM). */
  signal?: AbortSignal | undefined;
}

export const DEFAULT_TRANSFER_LIMITS: TransferLimits = { deadlineMs: DEFAULTS.deadlineMs };
