import type { KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import {
  chunkListKey,
  commitPrefix,
  ContractError,
  type Encoding,
  LATEST_KEY,
  type Manifest,
  MANIFEST_FORMAT,
  type HistoryEntry,
  MANIFEST_VERSION,
  manifestKey,
  snapshotKey,
} from '@sqlitening/contract';
import { inspectDatabaseFile, type DatabaseStats } from '../builder/inspect.js';
import { describeError, errorMessage } from '../describe-error.js';
import { SignatureError, StoreError } from '../errors.js';
import { withRetries } from '../retry.js';
import { publisherTrust, type TrustedKey } from '../signing/keys.js';
import type { SqliteDriver } from '../sqlite/driver.js';
import { chunkRoot, HASH_BYTES } from '../wire/chunk-hashes.js';
import { readManifest, writeManifest } from '../wire/manifest-store.js';
import { withDeadline } from '../transfer/deadline.js';
import { DEFAULT_TRANSFER_LIMITS, type TransferLimits } from '../transfer/transfer-limits.js';
import type { ObjectStore } from '../store/object-store.js';
import { TOOL } from '../version.js';
import { type DeltaBase, type DeltaPlan, prepareDeltaBases, publishDeltas } from './deltas.js';
import { encodeSnapshot } from './encode.js';
import { planRetention, type RetentionRule } from './retention.js';

export interface BuilderInfo {
  repository?: string | undefined;
  ref?: string | undefined;
  runUrl?: string | undefined;
}

/** A delta larger than half the full object saves a pod little, and costs the store an object. */
export const DEFAULT_DELTA_MAX_SHARE = 0.5;

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
  /** Stall timeout, deadline and abort signal of the store calls. @default DEFAULT_TRANSFER_LIMITS */
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

/** One store's progress through a publish. */
interface Target {
  store: ObjectStore;
  index: number;
  step: (step: string, detail: Record<string, unknown>) => void;
  previous?: Manifest | undefined;
  manifest?: Manifest;
  status?: PublishResult['status'];
  pruned: string[];
  failure?: { step: 'read' | 'upload' | 'manifest'; error: unknown };
}

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
  const onStep = options.onStep ?? (() => {});
  const pointerKey = manifestKey(options.gitSha);
  const several = options.stores.length > 1;
  const targets: Target[] = options.stores.map((store, index) => ({
    store,
    index,
    // With several stores, each step says which one it is about.
    step: several ? (step, detail) => onStep(step, { store: store.location, ...detail }) : onStep,
    pruned: [],
  }));
  const live = () => targets.filter((t) => !t.failure);

  const trust = publisherTrust(options.signingKey, options.trustedKeys);
  const limits = options.limits ?? DEFAULT_TRANSFER_LIMITS;
  const call = { signal: limits.signal };
  const name = options.name ?? undefined;
  const retrying = <T>(t: Target, what: string, work: () => Promise<T>): Promise<T> =>
    withRetries(work, {
      attempts: options.attempts ?? 3,
      baseDelayMs: options.retryBaseDelayMs ?? 1000,
      signal: limits.signal,
      onRetry: (error, attempt, delayMs) => t.step('retry', { what, attempt, delayMs, reason: describeError(error).code, message: errorMessage(error) }),
    });
  const attempt = async (t: Target, step: 'read' | 'upload' | 'manifest', work: () => Promise<void>): Promise<void> => {
    try {
      await work();
    } catch (error) {
      // A stopped publish is not one store's failure.
      if (limits.signal?.aborted) throw error;
      t.failure = { step, error };
      t.step('store-failed', { failedStep: step, reason: describeError(error).code, message: errorMessage(error) });
    }
  };
  const finish = (): PublishToStoresResult => {
    const failed = targets.filter((t) => t.failure).length;
    return {
      outcome: failed === 0 ? 'all' : failed === targets.length ? 'none' : 'some',
      stores: targets.map((t): StorePublishResult => {
        const where = { index: t.index, location: t.store.location };
        if (t.failure) return { ...where, status: 'failed', ...t.failure };
        return { ...where, status: t.status!, manifest: t.manifest!, manifestKey: pointerKey, objectKey: t.manifest!.object.key, pruned: t.pruned };
      }),
      durationMs: Date.now() - started,
    };
  };

  // First the cheap calls that fail on bad settings: store reachable, bucket there, current manifest valid.
  await Promise.all(
    targets.map((t) =>
      attempt(t, 'read', async () => {
        t.previous = await retrying(t, 'read', () => readCurrent(t.store, pointerKey, { gitSha: options.gitSha, name, trust, limits }, t.step));
      }),
    ),
  );
  if (live().length === 0) return finish();

  const stats = options.stats ?? inspectDatabaseFile(options.database, { check: options.check, sqlite: options.sqlite });
  onStep('checked', { checked: options.check, tables: stats.tables.length });

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
    // What every store's manifest shares: one object key for all of them, so a pod may fetch it from any.
    const common: Omit<Manifest, 'history' | 'deltas' | 'patches'> = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      gitSha: options.gitSha,
      createdAt: createdAt.toISOString(),
      ...(name ? { name } : {}),
      ...(expiresAt ? { expiresAt } : {}),
      database: { sha256: encoded.sha256, size: encoded.size, ...stats },
      object: {
        key: snapshotKey({ gitSha: options.gitSha, createdAt, sha256: encoded.sha256, encoding: options.encoding }),
        encoding: options.encoding,
        size: encoded.encodedSize,
      },
      builder: { tool: TOOL, ...stripUndefined(options.builder ?? {}) },
      chunks: {
        size: stats.pageSize,
        count: encoded.chunkHashes.length / HASH_BYTES,
        root: chunkRoot(encoded.chunkHashes),
        key: chunkListKey({ gitSha: options.gitSha, createdAt, sha256: encoded.sha256 }),
      },
    };
    onStep('encoded', { sha256: encoded.sha256, size: encoded.size, encodedSize: encoded.encodedSize });

    // Upload progress is the sum over the stores being written to.
    const sent = new Map<number, number>();
    let uploading = 0;
    const progress = (t: Target, bytes: number) => {
      sent.set(t.index, bytes);
      options.onProgress?.(
        'upload',
        [...sent.values()].reduce((a, b) => a + b, 0),
        uploading * encoded.encodedSize,
      );
    };

    // The same bytes as every store's current manifest names, under one creation time and object key: all
    // unchanged. Otherwise every store gets the new manifest, also one that holds these bytes already (a
    // mirror that missed a publish): a store left on its older manifest would be refused as a rollback by a
    // pod whose floor came from another store, on the failover the mirror is there for.
    const first = live()[0]?.previous;
    let allUnchanged = live().every(
      (t) =>
        t.previous !== undefined &&
        t.previous.database.sha256 === encoded.sha256 &&
        t.previous.createdAt === first?.createdAt &&
        t.previous.object.key === first?.object.key,
    );
    // Unchanged only if every store really holds the object (a store that lost it is repaired with the
    // others, not alone: alone it would end with another creation time than they do).
    if (allUnchanged) {
      const held = await Promise.all(
        live().map(async (t) => {
          const object = await retrying(t, 'head', () => t.store.head(t.previous!.object.key, call)).catch(() => undefined);
          return object !== undefined && object.size === t.previous!.object.size;
        }),
      );
      allUnchanged = held.every(Boolean);
      if (!allUnchanged) onStep('repair', { reason: `a store lacks ${first!.object.key}, which its manifest points at: every store gets a new manifest` });
    }
    // Every store's objects, before any store's manifest.
    await Promise.all(
      live().map((t) =>
        attempt(t, 'upload', async () => {
          const previous = t.previous;
          if (allUnchanged && previous) {
            // The same verified manifest with a new expiry: a scheduled publish keeps the snapshot valid for pods.
            t.manifest = expiresAt ? { ...previous, expiresAt } : previous;
            t.status = 'unchanged';
            return;
          }
          const manifest: Manifest = {
            ...common,
            deltas: [],
            patches: [],
            // From this store's own previous manifest: the bases its next publish may make deltas from.
            history: nextHistory(previous, encoded.sha256, options.retention.keep),
          };
          t.manifest = manifest;
          const maxShare = options.deltaMaxShare ?? DEFAULT_DELTA_MAX_SHARE;
          const deltaPlan: DeltaPlan = {
            database: options.database,
            target: { gitSha: options.gitSha, createdAt, sha256: encoded.sha256 },
            pageSize: stats.pageSize,
            hashes: encoded.chunkHashes,
            bases: manifest.history,
            encoding: options.encoding === 'identity' ? 'gzip' : options.encoding,
            level: options.level,
            maxShare,
            fullObjectSize: encoded.encodedSize,
            tempDir: options.tempDir ?? tmpdir(),
            limits,
            baseFiles: options.baseFiles,
            onStep: t.step,
          };
          // The bases' chunk lists, and any base files proven against them, before the upload: a wrong file fails here.
          const deltaBases: DeltaBase[] = maxShare > 0 ? await retrying(t, 'bases', () => prepareDeltaBases(t.store, deltaPlan)) : [];
          if (options.dryRun) {
            t.status = 'dry-run';
            return;
          }
          uploading++;
          await retrying(t, 'upload', () => uploadObject(t.store, manifest, encoded.encodedPath, limits, (bytes) => progress(t, bytes)));
          t.step('uploaded', { key: manifest.object.key, bytes: encoded.encodedSize });
          const chunks = manifest.chunks!;
          await retrying(t, 'chunks', () => t.store.put(chunks.key, encoded.chunkHashes, { contentType: 'application/octet-stream', ...call }));
          if (deltaBases.length > 0) {
            const { deltas, patches } = await retrying(t, 'deltas', () => publishDeltas(t.store, deltaPlan, deltaBases));
            manifest.deltas = deltas;
            manifest.patches = patches;
          }
          t.status = 'published';
        }),
      ),
    );

    // Then the manifests, latest.json and pruning, store by store.
    await Promise.all(
      live().map(async (t) => {
        const manifest = t.manifest!;
        // The history's chunk lists stay while the manifest names them, also that of a snapshot whose object goes.
        const protectedKeys = new Set([manifest.object.key, ...manifest.history.map((entry) => entry.chunks.key)]);
        if (t.status === 'dry-run') {
          await attempt(t, 'manifest', async () => {
            t.pruned = await retrying(t, 'prune', () => pruneCommit(t.store, options.gitSha, options.retention, now(), protectedKeys, true));
          });
          return;
        }
        await attempt(t, 'manifest', async () => {
          if (options.dryRun) return;
          if (t.status === 'published' || options.signingKey || expiresAt) {
            await retrying(t, 'manifest', () => writeManifest(t.store, pointerKey, manifest, options.signingKey));
          }
          await retrying(t, 'latest', () => updateLatest(t.store, manifest, options.signingKey, trust, limits));
          if (t.status === 'published') t.step('manifest', { key: pointerKey });
        });
        if (t.failure || t.status !== 'published') return;
        try {
          t.pruned = await retrying(t, 'prune', () => pruneCommit(t.store, options.gitSha, options.retention, now(), protectedKeys, false));
        } catch (error) {
          if (limits.signal?.aborted) throw error;
          // The snapshot is published; what pruning left is pruned by the next publish.
          t.step('prune-failed', { reason: describeError(error).code, message: errorMessage(error) });
        }
      }),
    );
    return finish();
  } finally {
    await encoded.cleanup();
  }
}

/** Uploads the snapshot object and confirms its size: the store has the whole object before any manifest names it. */
async function uploadObject(store: ObjectStore, manifest: Manifest, file: string, limits: TransferLimits, onProgress: (bytes: number) => void): Promise<void> {
  const key = manifest.object.key;
  await withDeadline(`upload of ${key}`, limits.deadlineMs, limits.signal, (signal) =>
    store.put(key, createReadStream(file, { highWaterMark: 1024 * 1024 }), {
      contentType: manifest.object.encoding === 'identity' ? 'application/vnd.sqlite3' : 'application/octet-stream',
      onProgress,
      signal,
    }),
  );
  const stored = await store.head(key, { signal: limits.signal });
  if (!stored || stored.size !== manifest.object.size) {
    throw new StoreError(
      `upload of ${key} not confirmed: the store holds ${stored ? `${stored.size} bytes` : 'nothing'}, expected ${manifest.object.size}`,
      true,
    );
  }
}

/**
 * The snapshots the next publish may make deltas from: the previous one and its own history, as many as are
 * kept, and always the commit's first snapshot (the last entry), which images that bake a snapshot at build
 * time hold: a pod started from such an image, however old, gets a delta rather than the whole object. Only
 * its chunk list is kept for that; its object goes with the others.
 */
function nextHistory(previous: Manifest | undefined, sha256: string, keep: number): HistoryEntry[] {
  if (!previous?.chunks) return [];
  const known = [
    { sha256: previous.database.sha256, size: previous.database.size, createdAt: previous.createdAt, chunks: previous.chunks },
    ...previous.history,
  ].filter((entry) => entry.sha256 !== sha256);
  // A manifest holds at most 32 entries: 31 recent ones and the first.
  const recent = known.slice(0, Math.min(Math.max(0, keep - 1), 31));
  const first = known.at(-1);
  return first && !recent.includes(first) ? [...recent, first] : recent;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
}

/**
 * The commit's current manifest, when the publisher may build on it: signed by a trusted key (when it has
 * keys), of this commit and this database. Anything else is treated as absent, and the step says why: a
 * store writer cannot get their manifest re-signed, nor their history carried into the next signed one.
 */
async function readCurrent(
  store: ObjectStore,
  key: string,
  expected: { gitSha: string; name: string | undefined; trust: TrustedKey[] | null; limits: TransferLimits },
  step: (step: string, detail: Record<string, unknown>) => void,
): Promise<Manifest | undefined> {
  let read: Awaited<ReturnType<typeof readManifest>>;
  try {
    read = await readManifest(store, key, { trustedKeys: expected.trust, limits: expected.limits });
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
    step('ignored-current', { key, reason: error.code, message: `${error.message}; publishing a new manifest that does not build on it` });
    return undefined;
  }
  if (read.status !== 'ok') return undefined;
  const { manifest } = read;
  const problem =
    manifest.gitSha !== expected.gitSha
      ? `it is for commit ${manifest.gitSha}`
      : manifest.name !== expected.name
        ? `it names the database ${JSON.stringify(manifest.name ?? null)}, this publish ${JSON.stringify(expected.name ?? null)}`
        : manifest.expiresAt !== undefined && Date.parse(manifest.expiresAt) <= Date.now()
          ? // An expired manifest is never renewed as it is: it may be an old one put back.
            `it expired at ${manifest.expiresAt}`
          : null;
  if (problem) {
    step('ignored-current', { key, reason: 'mismatch', message: `${store.location}/${key}: ${problem}; publishing a new manifest that does not build on it` });
    return undefined;
  }
  return manifest;
}

/** Points `latest.json` at `manifest` unless it already points at one at least as new (that the publisher can verify). */
async function updateLatest(
  store: ObjectStore,
  manifest: Manifest,
  signingKey: KeyObject | null | undefined,
  trust: TrustedKey[] | null,
  limits: TransferLimits,
): Promise<void> {
  let latest: Manifest | undefined;
  try {
    const read = await readManifest(store, LATEST_KEY, { trustedKeys: trust, limits });
    if (read.status === 'ok') latest = read.manifest;
  } catch (error) {
    // An invalid or unverifiable latest.json is replaced: it is only a bootstrap hint, derived from the commit
    // manifests, and one that a store writer dated 2099 must not stop every later update. A store that fails
    // to answer is another matter, and fails the publish.
    if (!(error instanceof ContractError || error instanceof SignatureError)) throw error;
  }
  const same = latest?.gitSha === manifest.gitSha && latest.database.sha256 === manifest.database.sha256;
  if (latest && (Date.parse(latest.createdAt) > Date.parse(manifest.createdAt) || (same && !signingKey && latest.expiresAt === manifest.expiresAt))) return;
  await writeManifest(store, LATEST_KEY, manifest, signingKey);
}

async function pruneCommit(store: ObjectStore, gitSha: string, rule: RetentionRule, now: Date, protectedKeys: Set<string>, dryRun: boolean): Promise<string[]> {
  const doomed = planRetention(await store.list(commitPrefix(gitSha)), rule, now, protectedKeys);
  if (!dryRun) for (const object of doomed) await store.delete(object.key);
  return doomed.map((object) => object.key);
}
