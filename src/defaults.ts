import type { Encoding } from '@sqlitening/contract';

/**
 * Every default of the product, in one place: the CLI's flags, the Action's inputs (action.yml is checked
 * against these by a test) and the library's options all read them from here, so a default changes once.
 */
export const DEFAULTS = {
  // Transfers: how long a read may go without bytes (also how long a store has to start answering), and
  // how long one snapshot or delta transfer may take in all.
  stallTimeoutMs: 30_000,
  deadlineMs: 3_600_000,
  /** Tries of a store call or a run for transient failures, and the delay before the second (doubled each time). */
  attempts: 3,
  retryBaseDelayMs: 1_000,
  /** With several stores: how long one that failed is asked last. */
  failbackMs: 60_000,

  // Publishing.
  encoding: 'gzip' satisfies Encoding as Encoding,
  /** Newest snapshots kept per commit, and how young a snapshot must be never to be pruned (pods may be downloading it). */
  keep: 5,
  graceMs: 3_600_000,
  /** A delta larger than this share of the full object saves a pod little, and costs the store an object. */
  deltaMaxShare: 0.5,
  /** `prune`: newest commits kept whatever their age, and commits with an object younger than this. */
  keepCommits: 20,
  olderThanMs: 30 * 86_400_000,

  // Building.
  startFrom: 'published' as 'published' | 'fresh',
  vacuum: 'auto' as 'auto' | 'always' | 'never',
  vacuumThreshold: 0.25,

  // The pod agent.
  intervalMs: 5 * 60_000,
  jitter: 0.1,
  /** Health fails when the last successful sync is older. */
  maxAgeMs: 10 * 60_000,
  reverifyMs: 86_400_000,
  /** A manifest that declares a larger database is refused: a bad or hostile one cannot make the agent fill the disk. */
  maxDatabaseBytes: 64 * 1024 ** 3,

  // Waiting for a manifest (`wait`, `pull --wait`).
  pollMs: 5_000,
} as const;
