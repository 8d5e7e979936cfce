import type { Encoding } from './manifest.js';

/*
 * The store layout. Keys are relative to the store's root (a bucket and
 * prefix, a folder, or a base URL), so a manifest stays valid wherever the
 * root is mounted:
 *
 *   latest.json                                   newest manifest of any commit
 *   <git-sha>/manifest.json                       the pointer a pod polls
 *   <git-sha>/<created>-<sha256[:16]>.db[.gz|.br|.zst]   immutable snapshots
 *   <git-sha>/<created>-<sha256[:16]>.chunks              its chunk hash list
 *   <git-sha>/<created>-<sha256[:16]>.delta-<base[:16]>[.gz|…]   its pages that differ from an earlier snapshot
 *   <git-sha>/<created>-<sha256[:16]>.patch-<base[:16]>[.gz|…]   the same pages as patches (delta format 2)
 *
 * Everything of one snapshot shares its stem (`<git-sha>/<created>-<sha256[:16]>`),
 * so retention deletes them together.
 */

const EXTENSIONS: Record<Encoding, string> = { identity: '', gzip: '.gz', br: '.br', zstd: '.zst' };

export const LATEST_KEY = 'latest.json';
export const MANIFEST_NAME = 'manifest.json';

/** `2026-11-26T06:11:30.123Z` → `20261126T061130Z`: sortable, and safe in any URL or file name. */
export function compactUtc(time: Date): string {
  return time
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

export function manifestKey(gitSha: string): string {
  return `${gitSha}/${MANIFEST_NAME}`;
}

/** The folder (key prefix, with its trailing slash) that holds everything of one commit. */
export function commitPrefix(gitSha: string): string {
  return `${gitSha}/`;
}

/** The key prefix all objects of one snapshot share. */
export function snapshotStem(snapshot: { gitSha: string; createdAt: Date; sha256: string }): string {
  return `${commitPrefix(snapshot.gitSha)}${compactUtc(snapshot.createdAt)}-${snapshot.sha256.slice(0, 16)}`;
}

export function snapshotKey(snapshot: { gitSha: string; createdAt: Date; sha256: string; encoding: Encoding }): string {
  return `${snapshotStem(snapshot)}.db${EXTENSIONS[snapshot.encoding]}`;
}

/** Where a snapshot's chunk hash list is stored. */
export function chunkListKey(snapshot: { gitSha: string; createdAt: Date; sha256: string }): string {
  return `${snapshotStem(snapshot)}.chunks`;
}

/** Where the delta that turns the snapshot `base` into `snapshot` is stored. */
export function deltaKey(snapshot: { gitSha: string; createdAt: Date; sha256: string }, baseSha256: string, encoding: Encoding): string {
  return `${snapshotStem(snapshot)}.delta-${baseSha256.slice(0, 16)}${EXTENSIONS[encoding]}`;
}

/** Where the format-2 delta (pages as patches) that turns the snapshot `base` into `snapshot` is stored. */
export function patchKey(snapshot: { gitSha: string; createdAt: Date; sha256: string }, baseSha256: string, encoding: Encoding): string {
  return `${snapshotStem(snapshot)}.patch-${baseSha256.slice(0, 16)}${EXTENSIONS[encoding]}`;
}

const STEM = /^((?:[0-9a-f]{40}|[0-9a-f]{64})\/\d{8}T\d{6}Z-[0-9a-f]{16})\.(?:db|chunks|(?:delta|patch)-[0-9a-f]{16})(?:\.gz|\.br|\.zst)?$/;

/** The stem of a snapshot's object, chunk list or delta key; `undefined` for any other key. */
export function stemOfKey(key: string): string | undefined {
  return STEM.exec(key)?.[1];
}

export interface SnapshotKeyParts {
  gitSha: string;
  createdAt: Date;
  sha256Prefix: string;
  encoding: Encoding;
}

const SNAPSHOT_KEY = /^([0-9a-f]{40}|[0-9a-f]{64})\/(\d{8}T\d{6}Z)-([0-9a-f]{16})\.db(\.gz|\.br|\.zst)?$/;

/** The inverse of {@link snapshotKey}; `undefined` for any other key (manifests, foreign files). */
export function parseSnapshotKey(key: string): SnapshotKeyParts | undefined {
  const match = SNAPSHOT_KEY.exec(key);
  if (!match) return undefined;
  const [, gitSha, stamp, sha256Prefix, extension = ''] = match as unknown as [string, string, string, string, string?];
  const iso = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`;
  const encoding = (Object.keys(EXTENSIONS) as Encoding[]).find((name) => EXTENSIONS[name] === extension) ?? 'identity';
  return { gitSha, createdAt: new Date(iso), sha256Prefix, encoding };
}
