import type { Heartbeat } from '@sqlitening/contract';
import type { PodRecord, SnapshotSighting } from './rules.js';

/**
 * Stores a heartbeat as its pod's row, replacing the previous one, and the
 * snapshot it reports as a sighting (kept from the first time any pod of the
 * cluster reported it).
 */
export function writeHeartbeat(sql: SqlStorage, h: Heartbeat, now: number): void {
  const dbCreated = h.database ? Date.parse(h.database.createdAt) : null;
  sql.exec(
    `INSERT INTO pods (cluster, pod, last_heartbeat_at, app_git_sha, db_git_sha, db_sha256, db_created_at, last_success_at, last_error, tasks)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (cluster, pod) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at, app_git_sha = excluded.app_git_sha,
           db_git_sha = excluded.db_git_sha, db_sha256 = excluded.db_sha256, db_created_at = excluded.db_created_at,
           last_success_at = excluded.last_success_at, last_error = excluded.last_error, tasks = excluded.tasks`,
    h.cluster,
    h.pod,
    now,
    h.appGitSha,
    h.database?.gitSha ?? null,
    h.database?.sha256 ?? null,
    dbCreated,
    h.lastSuccessAt ? Date.parse(h.lastSuccessAt) : null,
    h.lastError,
    JSON.stringify(h.tasks),
  );
  if (h.database) {
    sql.exec(
      'INSERT OR IGNORE INTO sightings (cluster, db_git_sha, sha256, created_at, first_seen_at) VALUES (?, ?, ?, ?, ?)',
      h.cluster,
      h.database.gitSha,
      h.database.sha256,
      dbCreated,
      now,
    );
  }
}

/** Every stored pod, or one cluster's. */
export function readPods(sql: SqlStorage, cluster?: string): PodRecord[] {
  const rows = cluster ? sql.exec('SELECT * FROM pods WHERE cluster = ?', cluster).toArray() : sql.exec('SELECT * FROM pods').toArray();
  return rows.map((r) => ({
    cluster: String(r.cluster),
    pod: String(r.pod),
    lastHeartbeatAt: Number(r.last_heartbeat_at),
    appGitSha: r.app_git_sha as string | null,
    dbGitSha: r.db_git_sha as string | null,
    dbSha256: r.db_sha256 as string | null,
    dbCreatedAt: r.db_created_at === null ? null : Number(r.db_created_at),
    lastSuccessAt: r.last_success_at === null ? null : Number(r.last_success_at),
    lastError: r.last_error as string | null,
    tasks: JSON.parse(String(r.tasks)),
  }));
}

export function readSightings(sql: SqlStorage, cluster: string): SnapshotSighting[] {
  return sql
    .exec('SELECT * FROM sightings WHERE cluster = ?', cluster)
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
