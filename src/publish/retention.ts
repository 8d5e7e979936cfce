import { parseSnapshotKey, stemOfKey } from '@sqlitening/contract';
import type { ObjectInfo } from '../store/object-store.js';

export interface RetentionRule {
  /** Newest snapshots kept per commit, whatever their age. At least 1. */
  keep: number;
  /** Snapshots younger than this are kept: a pod may be downloading one. */
  graceMs: number;
}

/**
 * Which snapshot objects of one listing may be deleted. Only objects named
 * like snapshots are considered; the newest `keep` (by the time in their
 * name), any younger than the grace period, and any in `protectedKeys`
 * (what a manifest points to) are kept. A snapshot's chunk list and deltas
 * go with it, but for those in `protectedKeys` (the chunk lists of the
 * manifest's history). Pure: the caller lists and deletes.
 */
export function planRetention(objects: ObjectInfo[], rule: RetentionRule, now: Date, protectedKeys: ReadonlySet<string>): ObjectInfo[] {
  const snapshots = objects
    .map((object) => ({ object, parts: parseSnapshotKey(object.key) }))
    .filter((entry): entry is { object: ObjectInfo; parts: NonNullable<typeof entry.parts> } => entry.parts !== undefined)
    .sort((a, b) => b.parts.createdAt.getTime() - a.parts.createdAt.getTime() || (a.object.key < b.object.key ? 1 : -1));
  const byCommit = new Map<string, number>();
  const doomed: ObjectInfo[] = [];
  for (const { object, parts } of snapshots) {
    const rank = byCommit.get(parts.gitSha) ?? 0;
    byCommit.set(parts.gitSha, rank + 1);
    const young = now.getTime() - object.lastModified.getTime() < rule.graceMs;
    if (rank < rule.keep || young || protectedKeys.has(object.key)) continue;
    doomed.push(object);
  }
  const stems = new Set(doomed.map((object) => stemOfKey(object.key)));
  const companions = objects.filter(
    (object) => !doomed.includes(object) && !protectedKeys.has(object.key) && parseSnapshotKey(object.key) === undefined && stems.has(stemOfKey(object.key)),
  );
  return [...doomed, ...companions];
}
