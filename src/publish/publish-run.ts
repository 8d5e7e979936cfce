import { chunkListKey, type Manifest, MANIFEST_FORMAT, MANIFEST_VERSION, snapshotKey } from '@sqlitening/contract';
import type { DatabaseStats } from '../builder/inspect.js';
import type { TrustedKey } from '../signing/keys.js';
import type { StoreFanOut, StoreTarget } from '../store/fan-out.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import { TOOL } from '../version.js';
import { chunkRoot, HASH_BYTES } from '../wire/chunk-hashes.js';
import type { EncodedSnapshot } from './encode.js';
import type { PublishResult, PublishToStoresOptions } from './publish-types.js';

/** The steps a store can fail at: reading its current manifest, uploading the objects, writing the manifest. */
export type PublishStep = 'read' | 'upload' | 'manifest';

/** One store's progress through a publish. */
export interface PublishState {
  /** Its current manifest, when the publish may build on it. */
  previous?: Manifest | undefined;
  manifest?: Manifest;
  status?: PublishResult['status'];
  pruned: string[];
}

export type PublishTarget = StoreTarget<PublishStep, PublishState>;

/** Everything the phases of one publish share, once the database is encoded. */
export interface PublishRun {
  options: PublishToStoresOptions;
  fan: StoreFanOut<PublishStep, PublishState>;
  encoded: EncodedSnapshot;
  stats: DatabaseStats;
  limits: TransferLimits;
  trust: TrustedKey[] | null;
  /** The commit's manifest key. */
  pointerKey: string;
  now: () => Date;
  createdAt: Date;
  expiresAt: string | undefined;
  /** What every store's new manifest shares: one object key for all of them, so a pod may fetch it from any. */
  common: Omit<Manifest, 'history' | 'deltas' | 'patches'>;
}

/** The fields of the new manifest every store gets alike (history and deltas come from each store's own). */
export function commonManifest(
  options: PublishToStoresOptions,
  encoded: EncodedSnapshot,
  stats: DatabaseStats,
  createdAt: Date,
  expiresAt: string | undefined,
): PublishRun['common'] {
  const { gitSha, name } = options;
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    gitSha,
    createdAt: createdAt.toISOString(),
    ...(name ? { name } : {}),
    ...(expiresAt ? { expiresAt } : {}),
    database: { sha256: encoded.sha256, size: encoded.size, ...stats },
    object: {
      key: snapshotKey({ gitSha, createdAt, sha256: encoded.sha256, encoding: options.encoding }),
      encoding: options.encoding,
      size: encoded.encodedSize,
    },
    builder: { tool: TOOL, ...stripEmpty(options.builder ?? {}) },
    chunks: {
      size: stats.pageSize,
      count: encoded.chunkHashes.length / HASH_BYTES,
      root: chunkRoot(encoded.chunkHashes),
      key: chunkListKey({ gitSha, createdAt, sha256: encoded.sha256 }),
    },
  };
}

function stripEmpty<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
}
