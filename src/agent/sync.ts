import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { type DeltaInfo, LATEST_KEY, type Manifest, manifestKey } from '@sqlitening/contract';
import { fileExists, identifyDestination, sameSnapshot } from '../install/destination.js';
import { DEFAULTS } from '../defaults.js';
import { checkRoom, databaseVerifier } from './file-checks.js';
import { liveChunkHashes, saveChunkHashes } from '../install/live-hashes.js';
import { installDelta, type LiveInstallOptions, placeDownload, type RetiredFiles } from '../install/live-install.js';
import { NotFoundError } from '../errors.js';
import { acceptManifest, type ManifestPolicy, manifestProblem, type RollbackFloor } from '../install/accept-manifest.js';
import type { TrustedKey } from '../signing/keys.js';
import { DOWNLOAD_TEMP_MARK } from '../transfer/download.js';
import { type InstallBase, installSnapshot } from '../install/install.js';
import { rollBackInterruptedInstall } from '../sqlite/hot-journal.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import { readManifest } from '../wire/manifest-store.js';
import type { ObjectStore } from '../store/object-store.js';
import type { AgentPaths } from './paths.js';
import type { AgentState } from './state.js';

export interface SyncOptions {
  store: ObjectStore;
  paths: AgentPaths;
  /** The commit the app runs; `null` installs the newest snapshot of any commit (development only). */
  appGitSha: string | null;
  /** Deadline and abort signal of every transfer of the run (the store stalls by its own limit). */
  limits: TransferLimits;
  /** Refuse manifests that declare a larger database: a bad or hostile manifest cannot make the agent fill the disk. @default 64 GiB */
  maxDatabaseBytes?: number | undefined;
  /** Accept only manifests signed by one of these keys; null: signatures are not checked. */
  trustedKeys?: readonly TrustedKey[] | null | undefined;
  /** The database this pod installs (`--name`): manifests naming another, or none, are refused. null: any. */
  databaseName?: string | null | undefined;
  /** Install a manifest older than the newest accepted for the commit, or past its expiry (a deliberate rollback). @default false */
  allowRollback?: boolean | undefined;
  /** Always download the whole object, even when the manifest offers a delta from the live file. @default false */
  noDelta?: boolean | undefined;
  /** Also run `quick_check` on each new file before it is swapped in (see {@link databaseVerifier}). @default false */
  quickCheck?: boolean | undefined;
  onProgress?: (bytes: number, total: number) => void;
  /** Where live files replaced rather than written in place are retired (see live-install.ts); the agent keeps one. */
  retired?: RetiredFiles | undefined;
  /** Called when a delta was tried and failed (the full object follows). */
  onDeltaFailed?: (delta: DeltaInfo, error: unknown) => void;
}

export type SyncOutcome =
  /** The manifest did not change since the last poll (HTTP 304). */
  | { status: 'not-modified'; manifest: Manifest | null; bytesReceived: 0 }
  /** The manifest changed, but names the database already installed. */
  | { status: 'unchanged'; manifest: Manifest; etag: string; signedBy: string | null; bytesReceived: 0 }
  /** A new database was verified and swapped in. */
  | {
      status: 'installed';
      manifest: Manifest;
      etag: string;
      /** The trusted key that signed the manifest; null when signatures are not checked. */
      signedBy: string | null;
      bytesReceived: number;
      /** `delta`: the previous file and the changed pages; `full`: the whole object. */
      method: 'delta' | 'full';
      /** Why an offered delta was not used, when the full object was fetched after all. */
      fallback: string | null;
      /** Why the live file was replaced by a new file rather than written in place (connections opened before keep the old one); null: in place, or no live file. */
      replaced: string | null;
    };

/** What a manifest is accepted under, as one comparable string: the trusted keys, the database name, the commit. */
export function policyOf(options: Pick<SyncOptions, 'trustedKeys' | 'databaseName' | 'appGitSha'>): string {
  const keys = options.trustedKeys ? options.trustedKeys.map((k) => k.keyId).sort() : null;
  return JSON.stringify({ keys, name: options.databaseName ?? null, commit: options.appGitSha });
}

/** The key a pod polls: its commit's manifest, or `latest.json` when any commit will do. */
export function pollKey(appGitSha: string | null): string {
  return appGitSha === null ? LATEST_KEY : manifestKey(appGitSha);
}

/** Removes temp files that a crashed download left in the data folder. */
export async function removeStaleTemps(folder: string): Promise<string[]> {
  let names: string[] = [];
  try {
    names = (await readdir(folder)).filter((name) => name.startsWith(DOWNLOAD_TEMP_MARK));
  } catch {
    return [];
  }
  await Promise.all(names.map((name) => rm(path.join(folder, name), { force: true })));
  return names;
}

/**
 * One sync: conditional GET of the manifest; nothing to do when it is
 * unchanged or names the live database; otherwise fetch a delta or the whole
 * object, prove it (chunk root, SHA-256, header, `quick_check` when asked) and
 * install it: into the live file in one journaled write (live-install.ts), or
 * renamed over it where that cannot be done. Throws on failure, leaving the
 * live database one whole snapshot (an interrupted write is rolled back).
 */
export async function syncOnce(options: SyncOptions, state: AgentState): Promise<SyncOutcome> {
  const key = pollKey(options.appGitSha);
  const where = `${options.store.location}/${key}`;
  const live = await fileExists(options.paths.database);
  // An install that failed and could not be rolled back then: nothing may replace the live file before it is.
  if (live) await rollBackInterruptedInstall(options.paths.database);
  // Under another policy than the installed manifest was accepted under (a key dropped after a leak, a name
  // added), that acceptance counts for nothing: no 304 may keep it, and the live file is known again only by
  // reading its bytes (below), as a fresh pod would. Without the live file the ETag is worthless too.
  const installed = state.acceptedUnder === policyOf(options) ? state.installed : null;
  const ifNoneMatch = live && installed ? (state.manifestEtag ?? undefined) : undefined;
  const read = await readManifest(options.store, key, { ifNoneMatch, trustedKeys: options.trustedKeys, limits: options.limits });
  if (read.status === 'missing') throw new NotFoundError(key, options.store.location);
  const policy = (floor: RollbackFloor | null): ManifestPolicy => ({
    appGitSha: options.appGitSha,
    databaseName: options.databaseName ?? null,
    floor,
    allowRollback: options.allowRollback === true,
    now: new Date(),
  });
  if (read.status === 'not-modified') {
    // A store that answers "not modified" for ever is a freeze: the installed manifest is held to the rules (its expiry) still.
    if (installed) acceptManifest(installed, policy(null), where);
    return { status: 'not-modified', manifest: installed, bytesReceived: 0 };
  }
  const { manifest, etag, signedBy } = read;
  // The bytes the pod serves already are no rollback, whatever the manifest's age (another store or prefix,
  // a mirror that lagged): unchanged, and the floor and the newer of the two manifests kept. Expiry still applies.
  const sameBytes = live && installed !== null && sameSnapshot(installed, manifest);
  acceptManifest(manifest, policy(sameBytes ? null : state.floor), where);
  if (sameBytes && installed) {
    // The installed manifest stays only while it is the newer one of the same commit and still in force.
    const keepInstalled =
      Date.parse(manifest.createdAt) < Date.parse(installed.createdAt) &&
      installed.gitSha === manifest.gitSha &&
      !manifestProblem(installed, { ...policy(null), allowRollback: false });
    return keepInstalled
      ? { status: 'unchanged', manifest: installed, etag, signedBy: state.installedSignedBy, bytesReceived: 0 }
      : { status: 'unchanged', manifest, etag, signedBy, bytesReceived: 0 };
  }
  await checkRoom(manifest, options.paths.folder, options.maxDatabaseBytes ?? DEFAULTS.maxDatabaseBytes);
  // A live file the state does not know (one baked into the app's image, or a lost state): what it holds is found by reading it.
  const found = live && !installed ? await identifyDestination(options.paths.database, manifest, { noDelta: options.noDelta === true }) : null;
  if (found?.current) {
    await saveChunkHashes(options.paths, found.hashes);
    return { status: 'unchanged', manifest, etag, signedBy, bytesReceived: 0 };
  }
  const base =
    live && installed
      ? { sha256: installed.database.sha256, chunkHashes: () => liveChunkHashes(options.paths, installed) }
      : found && { sha256: found.sha256, chunkHashes: async () => found.hashes };
  try {
    const installedNow = await installNew(options, manifest, signedBy !== null, live, base);
    return { status: 'installed', manifest, etag, signedBy, ...installedNow };
  } finally {
    // The hashes of a file that is no longer live (or that failed to become the base of anything).
    await found?.hashes.remove();
  }
}

/** Installs what `manifest` names: a delta onto `base` when one applies, else the whole object; into the live file when there is one. */
async function installNew(
  options: SyncOptions,
  manifest: Manifest,
  signed: boolean,
  live: boolean,
  base: InstallBase | null,
): Promise<{ bytesReceived: number; method: 'delta' | 'full'; fallback: string | null; replaced: string | null }> {
  const verify = databaseVerifier({ quickCheck: options.quickCheck === true });
  let replaced: string | null = null;
  const inPlace: LiveInstallOptions = {
    paths: options.paths,
    store: options.store,
    manifest,
    limits: options.limits,
    verify,
    quickCheck: options.quickCheck === true,
    retired: options.retired,
    onReplaced: (reason) => {
      replaced = reason;
    },
  };
  const result = await installSnapshot({
    store: options.store,
    manifest,
    destination: options.paths.database,
    // A live file that apps may hold open takes the new pages in place (see live-install.ts).
    base: base && {
      ...base,
      applyDelta: (delta, baseHashes) => installDelta({ ...inPlace, onProgress: (bytes) => options.onProgress?.(bytes, delta.size) }, delta, baseHashes),
    },
    place: live ? (temp, hashes) => placeDownload(inPlace, temp, hashes, async () => (base ? base.chunkHashes() : null)) : undefined,
    noDelta: options.noDelta === true,
    signed,
    limits: options.limits,
    verify,
    onProgress: options.onProgress,
    onDeltaFailed: options.onDeltaFailed,
  });
  await saveChunkHashes(options.paths, result.chunkHashes);
  return { bytesReceived: result.bytesReceived, method: result.method, fallback: result.fallback, replaced };
}
