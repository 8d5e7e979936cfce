import type { TrustedKey } from '../signing/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import type { BoardSettings } from './heartbeat-client.js';

export interface AgentOptions {
  /** Where snapshots are: one store, or several read as one (a `MirrorStore`, whose answering store the agent reports). */
  store: ObjectStore;
  /** Path of the live database the app reads. */
  database: string;
  /** The commit the app runs; `null` (`--any-commit`) installs the newest snapshot of any commit. */
  appGitSha: string | null;
  /** Time between runs. @default 5 minutes */
  intervalMs?: number;
  /** Random spread of each interval, as a share of it (0.1 = ±10%), so a fleet does not poll in step. @default 0.1 */
  jitter?: number;
  /** The database task fails health when its last success is older than this. @default 10 minutes */
  databaseLimitMs?: number;
  /** Limits of other tasks by name (marker files touched by other jobs); any other marker found gets `databaseLimitMs`. */
  taskLimits?: Map<string, number>;
  /** Deadline of every transfer (the store stalls by its own limit); the agent adds its own abort signal. @default DEFAULT_TRANSFER_LIMITS */
  limits?: Omit<TransferLimits, 'signal'>;
  /** Refuse manifests that declare a larger database. @default 64 GiB */
  maxDatabaseBytes?: number;
  /** Accept only manifests signed by one of these keys; null or absent: signatures are not checked. */
  trustedKeys?: readonly TrustedKey[] | null;
  /** The database this pod installs (`--name`); null or absent: any. */
  databaseName?: string | null;
  /** Install a manifest older than the newest accepted for the commit, or past its expiry. @default false */
  allowRollback?: boolean;
  /** Always download whole objects, never deltas. @default false */
  noDelta?: boolean;
  /** Also run `quick_check` on each new file before it is swapped in. @default false */
  quickCheck?: boolean;
  /** How often the whole live file is read and checked against its manifest. @default 24 hours */
  reverifyMs?: number;
  /** Also check it at the first run of this process, however recent the last check (the long-running agent). @default false */
  reverifyAtStart?: boolean;
  /** Tries per run for transient failures. @default 3 */
  attempts?: number;
  /** @default 1000 */
  retryBaseDelayMs?: number;
  board?: BoardSettings;
  /** Keep Prometheus metrics (`agent.metrics`); a one-shot sync has no one to scrape them and skips loading prom-client. @default true */
  metrics?: boolean;
  log?: (event: string, fields: Record<string, unknown>) => void;
}
