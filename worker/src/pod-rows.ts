import type { Heartbeat } from '@sqlitening/contract';
import type { PodRecord, SnapshotSighting } from './rules.js';

/*
 * A cluster object's pods and snapshot sightings. Every row belongs to the
 * object's one cluster, so no table has a cluster column.
 */

/**
 * Stores a heartbeat as its pod's row, replacing the previous one, and the
 * snapshot it reports as a sighting (kept from the first time any pod of the
 * cluster reported it).
 */
export function writeHeartbeat(sql: SqlStorage, h: Heartbeat, now: number): void {
  const dbCreated = h.database ? Date.parse(h.database.createdAt) : null;
  sql.exec(
    `INSERT INTO pods (pod, last_heartbeat_at, app_git_sha, db_git_sha, db_sha256, db_created_at, last_success_at, last_error, tasks,
                       store_index, store_location)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (pod) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at, app_git_sha = excluded.app_git_sha,
           db_git_sha = excluded.db_git_sha, db_sha256 = excluded.db_sha256, db_created_at = excluded.db_created_at,
           last_success_at = excluded.last_success_at, last_error = excluded.last_error, tasks = excluded.tasks,
           store_index = excluded.store_index, store_location = excluded.store_location`,
    h.pod,
    now,
    h.appGitSha,
    h.database?.gitSha ?? null,
    h.database?.sha256 ?? null,
    dbCreated,
    h.lastSuccessAt ? Date.parse(h.lastSuccessAt) : null,
    h.lastError,
    JSON.stringify(h.tasks),
    h.store?.index ?? null,
    h.store?.location ?? null,
  );
  if (h.database) {
    sql.exec(
      'INSERT OR IGNORE INTO sightings (sha256, db_git_sha, created_at, first_seen_at) VALUES (?, ?, ?, ?)',
      h.database.sha256,
      h.database.gitSha,
      dbCreated,
      now,
    );
  }
}

/** How many pods are stored, and how many of `pods` are not among them. */
export function podCounts(sql: SqlStorage, pods: string[]): { stored: number; unknown: number } {
  const stored = sql.exec('SELECT count(*) AS n FROM pods').one().n as number;
  const unknown = sql.exec('SELECT count(DISTINCT value) AS n FROM json_each(?) WHERE value NOT IN (SELECT pod FROM pods)', JSON.stringify(pods)).one()
    .n as number;
  return { stored, unknown };
}

/** The pods heard from since `since` (all stored pods when omitted). */
export function readPods(sql: SqlStorage, since = Number.NEGATIVE_INFINITY): PodRecord[] {
  return sql
    .exec('SELECT * FROM pods WHERE last_heartbeat_at >= ?', since)
    .toArray()
    .map((r) => ({
      pod: String(r.pod),
      lastHeartbeatAt: Number(r.last_heartbeat_at),
      appGitSha: r.app_git_sha as string | null,
      dbGitSha: r.db_git_sha as string | null,
      dbSha256: r.db_sha256 as string | null,
      dbCreatedAt: r.db_created_at === null ? null : Number(r.db_created_at),
      lastSuccessAt: r.last_success_at === null ? null : Number(r.last_success_at),
      lastError: r.last_error as string | null,
      tasks: JSON.parse(String(r.tasks)),
      store: r.store_index === null ? null : { index: Number(r.store_index), location: String(r.store_location ?? '') },
    }));
}

export function readSightings(sql: SqlStorage): SnapshotSighting[] {
  return sql
    .exec('SELECT * FROM sightings')
    .toArray()
    .map((r) => ({
      dbGitSha: String(r.db_git_sha),
      sha256: String(r.sha256),
      createdAt: Number(r.created_at),
      firstSeenAt: Number(r.first_seen_at),
    }));
}

/** Forgets pods silent for longer than `podTtl`, and old sightings of snapshots no remaining pod serves. */
export function forgetExpiredPods(sql: SqlStorage, now: number, podTtl: number): void {
  sql.exec('DELETE FROM pods WHERE last_heartbeat_at < ?', now - podTtl);
  sql.exec('DELETE FROM sightings WHERE first_seen_at < ? AND sha256 NOT IN (SELECT db_sha256 FROM pods WHERE db_sha256 IS NOT NULL)', now - podTtl);
}
