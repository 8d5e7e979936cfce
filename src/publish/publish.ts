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
  MANIFEST_VERSION,
  manifestKey,
  snapshotKey,
} from '@sqlitening/contract';
import { inspectDatabaseFile, type DatabaseStats } from '../builder/inspect.js';
import { SignatureError, StoreError } from '../errors.js';
import { publisherTrust, type TrustedKey } from '../signing/keys.js';
import type { SqliteDriver } from '../sqlite/driver.js';
import { chunkRoot, HASH_BYTES } from '../snapshot/chunk-hashes.js';
import { readManifest, writeManifest } from '../snapshot/manifest-store.js';
import { withDeadline } from '../snapshot/deadline.js';
import { DEFAULT_TRANSFER_LIMITS, type TransferLimits } from '../snapshot/transfer-limits.js';
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

/**
 * Publishes a database for a commit: check, hash and compress it in one read,
 * upload the object, confirm it, then write the commit's manifest and
 * `latest.json`, then prune. The manifest is written only after the store
 * has confirmed the whole object, so no reader can see a manifest pointing at
 * a missing or partial object, and a failed run is simply retried by the next.
 */
export async function publishSnapshot(options: PublishOptions): Promise<PublishResult> {
  const started = Date.now();
  const now = options.now ?? (() => new Date());
  const step = options.onStep ?? (() => {});
  const { store } = options;
  const pointerKey = manifestKey(options.gitSha);

  const trust = publisherTrust(options.signingKey, options.trustedKeys);
  const limits = options.limits ?? DEFAULT_TRANSFER_LIMITS;
  const call = { signal: limits.signal };
  const name = options.name ?? undefined;
  // First the cheap calls that fail on bad settings: store reachable, bucket there, current manifest valid.
  const previous = await readCurrent(store, pointerKey, { gitSha: options.gitSha, name, trust, limits }, step);

  const stats = options.stats ?? inspectDatabaseFile(options.database, { check: options.check, sqlite: options.sqlite });
  step('checked', { checked: options.check, tables: stats.tables.length });

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
    const manifest: Manifest = {
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
      deltas: [],
      patches: [],
      // The snapshots this one may be a delta from at the next publish: the previous one and its own history, as many as are kept.
      history: previous?.chunks
        ? [{ sha256: previous.database.sha256, size: previous.database.size, createdAt: previous.createdAt, chunks: previous.chunks }, ...previous.history]
            .filter((entry) => entry.sha256 !== encoded.sha256)
            .slice(0, Math.max(0, options.retention.keep - 1))
        : [],
    };
    step('encoded', { sha256: encoded.sha256, size: encoded.size, encodedSize: encoded.encodedSize });

    if (previous && previous.database.sha256 === encoded.sha256) {
      // Same bytes: keep the existing object and manifest, but only if the object is really there.
      const object = await store.head(previous.object.key, call);
      if (object && object.size === previous.object.size) {
        // The same verified manifest with a new expiry: a scheduled publish keeps the snapshot valid for pods.
        const renewed: Manifest = expiresAt ? { ...previous, expiresAt } : previous;
        if (!options.dryRun) {
          if (options.signingKey || expiresAt) await writeManifest(store, pointerKey, renewed, options.signingKey);
          await updateLatest(store, renewed, options.signingKey, trust, limits);
        }
        return {
          status: 'unchanged',
          manifest: renewed,
          manifestKey: pointerKey,
          objectKey: previous.object.key,
          pruned: [],
          durationMs: Date.now() - started,
        };
      }
      step('repair', { reason: `the manifest points at ${previous.object.key}, which is missing or incomplete` });
    }

    // The bases' chunk lists, and any base files proven against them, before the upload: a wrong file fails here.
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
      onStep: step,
    };
    const deltaBases: DeltaBase[] = maxShare > 0 ? await prepareDeltaBases(store, deltaPlan) : [];

    if (options.dryRun) {
      const pruned = await pruneCommit(store, options.gitSha, options.retention, now(), new Set([manifest.object.key]), true);
      return { status: 'dry-run', manifest, manifestKey: pointerKey, objectKey: manifest.object.key, pruned, durationMs: Date.now() - started };
    }

    await withDeadline(`upload of ${manifest.object.key}`, limits.deadlineMs, limits.signal, (signal) =>
      store.put(manifest.object.key, createReadStream(encoded.encodedPath, { highWaterMark: 1024 * 1024 }), {
        contentType: options.encoding === 'identity' ? 'application/vnd.sqlite3' : 'application/octet-stream',
        onProgress: (bytes) => options.onProgress?.('upload', bytes, encoded.encodedSize),
        signal,
      }),
    );
    const stored = await store.head(manifest.object.key, call);
    if (!stored || stored.size !== encoded.encodedSize) {
      throw new StoreError(
        `upload of ${manifest.object.key} not confirmed: the store holds ${stored ? `${stored.size} bytes` : 'nothing'}, expected ${encoded.encodedSize}`,
        true,
      );
    }
    step('uploaded', { key: manifest.object.key, bytes: encoded.encodedSize });
    const chunks = manifest.chunks!;
    await store.put(chunks.key, encoded.chunkHashes, { contentType: 'application/octet-stream', ...call });
    if (deltaBases.length > 0) {
      const { deltas, patches } = await publishDeltas(store, deltaPlan, deltaBases);
      manifest.deltas = deltas;
      manifest.patches = patches;
    }

    await writeManifest(store, pointerKey, manifest, options.signingKey);
    await updateLatest(store, manifest, options.signingKey, trust, limits);
    step('manifest', { key: pointerKey });

    const pruned = await pruneCommit(store, options.gitSha, options.retention, now(), new Set([manifest.object.key]), false);
    return { status: 'published', manifest, manifestKey: pointerKey, objectKey: manifest.object.key, pruned, durationMs: Date.now() - started };
  } finally {
    await encoded.cleanup();
  }
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
