import { isoTime } from './iso-time.js';

/*
 * Which versions of a cluster's derived key the board accepts (cluster-key.js
 * derives the keys). Kept by the board's index, one record per cluster that
 * was ever rotated or revoked; a cluster without one is at version 1. Pure:
 * the index stores these records (key-rows.ts), the worker checks signatures
 * against them (cluster-auth.ts).
 */

export interface KeyRecord {
  cluster: string;
  /** The current version: agents given the newest key sign with it. */
  version: number;
  /** The version before the last rotation, accepted until `previousUntil` (ms since the epoch) so agents can move without a gap. */
  previousVersion: number | null;
  previousUntil: number | null;
  /** Set when the cluster was revoked: nothing it signs is accepted (not even a `CLUSTER_SECRETS` secret) until it is rotated again. */
  revokedAt: number | null;
}

/** The record of a cluster never rotated nor revoked. */
export function initialRecord(cluster: string): KeyRecord {
  return { cluster, version: 1, previousVersion: null, previousUntil: null, revokedAt: null };
}

/** The key versions accepted at `now`, current first; none for a revoked cluster. */
export function acceptedVersions(record: KeyRecord, now: number): number[] {
  if (record.revokedAt !== null) return [];
  const previous = record.previousVersion !== null && record.previousUntil !== null && now < record.previousUntil ? [record.previousVersion] : [];
  return [record.version, ...previous];
}

/**
 * A new version. The one in use stays accepted for `overlapMs` (a revoked
 * cluster's does not: rotating is how a revoked cluster comes back, with a
 * key its old agents never had).
 */
export function rotated(record: KeyRecord, now: number, overlapMs: number): KeyRecord {
  const keepPrevious = record.revokedAt === null && overlapMs > 0;
  return {
    cluster: record.cluster,
    version: record.version + 1,
    previousVersion: keepPrevious ? record.version : null,
    previousUntil: keepPrevious ? now + overlapMs : null,
    revokedAt: null,
  };
}

/** The cluster's keys stop working, every version of them; others' keys are untouched. */
export function revoked(record: KeyRecord, now: number): KeyRecord {
  return { ...record, previousVersion: null, previousUntil: null, revokedAt: now };
}

/** What the admin routes show of a record (never a key: the board does not keep keys). */
export function keyStatus(record: KeyRecord, now: number) {
  return {
    cluster: record.cluster,
    version: record.version,
    acceptedVersions: acceptedVersions(record, now),
    previousVersion: record.previousVersion,
    previousUntil: isoTime(record.previousUntil),
    revokedAt: isoTime(record.revokedAt),
  };
}

export type KeyStatus = ReturnType<typeof keyStatus>;
