import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { manifestKey } from '@sqlitening/contract';
import { inspectDatabaseFile } from '../builder/inspect.js';
import { publisherTrust } from '../signing/keys.js';
import { StoreFanOut } from '../store/fan-out.js';
import { DEFAULT_TRANSFER_LIMITS } from '../transfer/transfer-limits.js';
import { readBuildableManifest } from './current-manifest.js';
import { encodeSnapshot } from './encode.js';
import { writeEveryManifest } from './manifest-phase.js';
import { commonManifest, type PublishState, type PublishStep } from './publish-run.js';
import type { PublishOptions, PublishResult, PublishToStoresOptions, PublishToStoresResult, StorePublishResult } from './publish-types.js';
import { everyStoreUnchanged, uploadEveryStore } from './upload-phase.js';

export type {
  BuilderInfo,
  PublishOptions,
  PublishResult,
  PublishToStoresOptions,
  PublishToStoresResult,
  StorePublishResult,
} from './publish-types.js';

/**
 * Publishes a database for a commit: check, hash and compress it in one read,
 * upload the object, confirm it, then write the commit's manifest and
 * `latest.json`, then prune. The manifest is written only after the store
 * has confirmed the whole object, so no reader can see a manifest pointing at
 * a missing or partial object, and a failed run is simply retried by the next.
 * Throws what failed (no retries: {@link publishToStores} has them).
 */
export async function publishSnapshot(options: PublishOptions): Promise<PublishResult> {
  const { store, ...rest } = options;
  const result = await publishToStores({ ...rest, stores: [store], attempts: 1 });
  const only = result.stores[0]!;
  if (only.status === 'failed') throw only.error;
  return {
    status: only.status,
    manifest: only.manifest,
    manifestKey: only.manifestKey,
    objectKey: only.objectKey,
    pruned: only.pruned,
    durationMs: result.durationMs,
  };
}

/**
 * Publishes one snapshot to several stores (mirrors): the database is checked, hashed and compressed
 * once; every store gets its objects (the snapshot, its chunk list, its deltas) before any store gets a
 * manifest, so a pod that reads the new manifest from one store and fails over to another for the
 * snapshot finds it there (unless that store failed); then each store gets its manifest, `latest.json`,
 * and its pruning.
 *
 * Every store ends with the same snapshot, creation time and expiry: the publish is `unchanged` only
 * when every store's current manifest already names these bytes under one creation time, else every store
 * gets the new manifest and object. Each store's history and deltas come from its own previous manifest
 * (a new mirror, one that missed a publish), each true of its store; every manifest names the same new
 * object under the same key, so a pod may read a manifest from one store and the snapshot from another. A store that fails is retried (`attempts`), then left, reported with the step and error;
 * the others go on. A failure of the database itself (a check) throws, as no store can take it.
 */
export async function publishToStores(options: PublishToStoresOptions): Promise<PublishToStoresResult> {
  const started = Date.now();
  const now = options.now ?? (() => new Date());
  const limits = options.limits ?? DEFAULT_TRANSFER_LIMITS;
  const pointerKey = manifestKey(options.gitSha);
  const trust = publisherTrust(options.signingKey, options.trustedKeys);
  const fanOptions = { attempts: options.attempts, retryBaseDelayMs: options.retryBaseDelayMs, signal: limits.signal, onStep: options.onStep };
  const fan = new StoreFanOut<PublishStep, PublishState>(options.stores, fanOptions, () => ({ pruned: [] }));
  const finish = (): PublishToStoresResult => ({
    outcome: fan.outcome(),
    stores: fan.targets.map((t): StorePublishResult => {
      const where = { index: t.index, location: t.store.location };
      if (t.failure) return { ...where, status: 'failed', ...t.failure };
      return { ...where, status: t.status!, manifest: t.manifest!, manifestKey: pointerKey, objectKey: t.manifest!.object.key, pruned: t.pruned };
    }),
    durationMs: Date.now() - started,
  });

  // First the cheap calls that fail on bad settings: store reachable, bucket there, current manifest valid.
  const expected = { gitSha: options.gitSha, name: options.name ?? undefined, trust, limits, now: now() };
  await fan.each('read', async (t) => {
    t.previous = await fan.retrying(t, 'read', () => readBuildableManifest(t.store, pointerKey, expected, t.step));
  });
  if (fan.live().length === 0) return finish();

  const stats = options.stats ?? inspectDatabaseFile(options.database, { check: options.check, sqlite: options.sqlite });
  options.onStep?.('checked', { checked: options.check, tables: stats.tables.length });
  const { size: databaseSize } = await stat(options.database);
  const encoded = await encodeSnapshot({
    database: options.database,
    encoding: options.encoding,
    level: options.level,
    tempDir: options.tempDir ?? tmpdir(),
    chunkSize: stats.pageSize,
    onProgress: (bytes) => options.onProgress?.('read', bytes, databaseSize),
  });
  try {
    const createdAt = now();
    const expiresAt = options.expiresInMs ? new Date(createdAt.getTime() + options.expiresInMs).toISOString() : undefined;
    const common = commonManifest(options, encoded, stats, createdAt, expiresAt);
    const run = { options, fan, encoded, stats, limits, trust, pointerKey, now, createdAt, expiresAt, common };
    options.onStep?.('encoded', { sha256: encoded.sha256, size: encoded.size, encodedSize: encoded.encodedSize });
    await uploadEveryStore(run, await everyStoreUnchanged(run));
    await writeEveryManifest(run);
    return finish();
  } finally {
    await encoded.cleanup();
  }
}
