import Database from 'better-sqlite3';
import { access, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { LATEST_KEY, type Manifest, manifestKey } from '@sqlitening/contract';
import { DatabaseError, NotFoundError, WrongCommitError } from '../errors.js';
import { DOWNLOAD_TEMP_MARK, downloadSnapshot } from '../snapshot/download.js';
import { readManifest } from '../snapshot/manifest-store.js';
import type { ObjectStore } from '../store/object-store.js';
import type { AgentPaths } from './paths.js';
import type { AgentState } from './state.js';

export interface SyncOptions {
  store: ObjectStore;
  paths: AgentPaths;
  /** The commit the app runs; `null` installs the newest snapshot of any commit (development only). */
  appGitSha: string | null;
  stallTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (bytes: number, total: number) => void;
}

export type SyncOutcome =
  /** The manifest did not change since the last poll (HTTP 304). */
  | { status: 'not-modified'; manifest: Manifest | null; bytesReceived: 0 }
  /** The manifest changed, but names the database already installed. */
  | { status: 'unchanged'; manifest: Manifest; etag: string; bytesReceived: 0 }
  /** A new database was verified and swapped in. */
  | { status: 'installed'; manifest: Manifest; etag: string; bytesReceived: number };

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

/** `quick_check` on the downloaded file before it may replace the live one. */
export function quickCheck(file: string): void {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('quick_check(5)') as { quick_check: string }[];
    const problems = rows.map((r) => r.quick_check).filter((line) => line !== 'ok');
    if (problems.length > 0) throw new DatabaseError(`quick_check failed: ${problems.join('; ')}`, 'quick-check');
  } finally {
    db.close();
  }
}

/** Whether the live database is there; a pod whose file vanished must download again. */
export async function liveFileExists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * One sync: conditional GET of the manifest; nothing to do when it is
 * unchanged or names the live database; otherwise download, verify (size,
 * SHA-256, `quick_check`) and rename over the live file. Throws on failure,
 * leaving the live database untouched.
 */
export async function syncOnce(options: SyncOptions, state: AgentState): Promise<SyncOutcome> {
  const key = pollKey(options.appGitSha);
  const live = await liveFileExists(options.paths.database);
  // Without the live file the ETag is worthless: a 304 would leave the pod with nothing.
  const ifNoneMatch = live && state.installed ? (state.manifestEtag ?? undefined) : undefined;
  const read = await readManifest(options.store, key, { ifNoneMatch, signal: options.signal });
  if (read.status === 'missing') throw new NotFoundError(key, options.store.location);
  if (read.status === 'not-modified') return { status: 'not-modified', manifest: state.installed, bytesReceived: 0 };
  const { manifest, etag } = read;
  if (options.appGitSha !== null && manifest.gitSha !== options.appGitSha) {
    throw new WrongCommitError(options.appGitSha, manifest.gitSha, `${options.store.location}/${key}`);
  }
  if (live && state.installed?.database.sha256 === manifest.database.sha256) return { status: 'unchanged', manifest, etag, bytesReceived: 0 };
  const { bytesReceived } = await downloadSnapshot({
    store: options.store,
    manifest,
    destination: options.paths.database,
    stallTimeoutMs: options.stallTimeoutMs,
    signal: options.signal,
    onProgress: (bytes) => options.onProgress?.(bytes, manifest.object.size),
    verify: quickCheck,
  });
  return { status: 'installed', manifest, etag, bytesReceived };
}
