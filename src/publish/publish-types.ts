import type { KeyObject } from 'node:crypto';
import type { Encoding, Manifest } from '@sqlitening/contract';
import type { DatabaseStats } from '../builder/inspect.js';
import type { TrustedKey } from '../signing/keys.js';
import type { SqliteDriver } from '../sqlite/driver.js';
import type { ObjectStore } from '../store/object-store.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import type { RetentionRule } from './retention.js';

export interface BuilderInfo {
  repository?: string | undefined;
  ref?: string | undefined;
  runUrl?: string | undefined;
}

export interface PublishOptions {
  store: ObjectStore;
  database: string;
  gitSha: string;
  encoding: Encoding;
  level?: number | undefined;
  retention: RetentionRule;
  /** Run integrity and foreign-key checks; skip only when the caller has just run them (`build`). */
  check: boolean;
  /** Stats the caller already has (from `build`); measured here when absent. */
  stats?: DatabaseStats | undefined;
  /** The SQLite library that checks and measures the database when `stats` is absent: better-sqlite3, or `node:sqlite` in the Action. */
  sqlite: SqliteDriver;
  builder?: BuilderInfo;
  /**
   * Deltas from earlier snapshots of the commit are written unless one would
   * be larger than this share of the full object; 0 writes none. @default 0.5
   */
  deltaMaxShare?: number | undefined;
  /**
   * Files of earlier snapshots of the commit (`--base`; the Action passes the snapshot its build started
   * from). Deltas from a snapshot whose file is here also come in format 2 (pages as patches, several times
   * smaller); each file is proven page by page against the snapshot's chunk list before it is used, and one
   * that is none of the earlier snapshots fails the publish before anything is uploaded.
   */
  baseFiles?: readonly string[] | undefined;
  /** Signs the manifest (and `latest.json`) as a DSSE envelope with this Ed25519 key; pods given its public key refuse anything else. */
  signingKey?: KeyObject | null | undefined;
  /**
   * Keys whose signatures make the store's current manifest count, besides the signing key's own (a key
   * being rotated out). With either, a current manifest signed by none of them is treated as absent:
   * nothing of it (history, the same-bytes shortcut) goes into what is signed now.
   */
  trustedKeys?: readonly TrustedKey[] | undefined;
  /** Which database this is (`--name`), signed into the manifest; pods started with a name refuse others. */
  name?: string | null | undefined;
  /** Pods refuse the manifest this long after it is signed (`manifest-expired`); every publish signs a fresh one. Absent: never. */
  expiresInMs?: number | null | undefined;
  /** Deadline and abort signal of the store calls (each store stalls by its own limit). @default DEFAULT_TRANSFER_LIMITS */
  limits?: TransferLimits | undefined;
  /** Decide and report everything, write nothing. */
  dryRun: boolean;
  tempDir?: string;
  now?: () => Date;
  onStep?: (step: string, detail: Record<string, unknown>) => void;
  /** Progress of the long phases: reading (hash + compress) and uploading. */
  onProgress?: (phase: 'read' | 'upload', bytes: number, total: number) => void;
}

export interface PublishResult {
  /** `published`: new object and manifest; `unchanged`: the same bytes were already published for this commit. */
  status: 'published' | 'unchanged' | 'dry-run';
  manifest: Manifest;
  manifestKey: string;
  objectKey: string;
  pruned: string[];
  durationMs: number;
}

/** Publishing one snapshot to several stores (mirrors): the options of {@link publishSnapshot}, with every store. */
export interface PublishToStoresOptions extends Omit<PublishOptions, 'store'> {
  /** The stores, the preferred one first (only the order of reports depends on it). */
  stores: readonly ObjectStore[];
  /** Tries of each store call (read, upload, manifest) for transient failures. @default 3 */
  attempts?: number | undefined;
  /** @default 1000 */
  retryBaseDelayMs?: number | undefined;
}

/** What one store got. */
export type StorePublishResult = {
  /** Its place among the stores given. */
  index: number;
  location: string;
} & (
  | (Omit<PublishResult, 'durationMs'> & { error?: undefined })
  | {
      status: 'failed';
      /** The step that failed, after its retries: reading the current manifest, uploading the objects, or writing the manifest. */
      step: 'read' | 'upload' | 'manifest';
      error: unknown;
    }
);

export interface PublishToStoresResult {
  /** Whether every store got the snapshot and its manifest (or had it already), some of them, or none. */
  outcome: 'all' | 'some' | 'none';
  stores: StorePublishResult[];
  durationMs: number;
}
