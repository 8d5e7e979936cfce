import type { ClusterState } from './rules.js';

/*
 * A cluster object's one row of `cluster` (id 1, see cluster-schema.ts):
 * which cluster the object holds, the state its rounds recorded, its
 * rate-limit bucket, and when it last sent the board's index a summary.
 * This module alone reads and writes it; each function asks for the
 * columns its caller needs and no more.
 *
 * The row is created by the object's first request (`claimCluster`). Every
 * other function runs after that, so a missing row is a bug and fails loudly
 * (`one()` throws) rather than reading as "never".
 */

/** The cluster this object holds, or null for an object no request has named yet. */
export function readClusterName(sql: SqlStorage): string | null {
  return sql.exec<{ name: string }>('SELECT name FROM cluster WHERE id = 1').toArray()[0]?.name ?? null;
}

/** Creates the row for the cluster this object holds; a second claim fails (the row's id is its primary key). */
export function claimCluster(sql: SqlStorage, name: string): void {
  sql.exec('INSERT INTO cluster (id, name) VALUES (1, ?)', name);
}

/** The state the rounds last recorded (null before the first round, and after the cluster was scaled away) and when it last alerted. */
export function readAlertState(sql: SqlStorage): { state: ClusterState | null; lastAlertAt: number | null } {
  const row = sql.exec<{ state: ClusterState | null; last_alert_at: number | null }>('SELECT state, last_alert_at FROM cluster WHERE id = 1').one();
  return { state: row.state, lastAlertAt: row.last_alert_at };
}

/** When the cluster entered its recorded state; null before its first round. */
export function readStateSince(sql: SqlStorage): number | null {
  return sql.exec<{ since: number | null }>('SELECT since FROM cluster WHERE id = 1').one().since;
}

/** Records that the cluster entered `state` at `at`. */
export function enterState(sql: SqlStorage, state: ClusterState, at: number): void {
  sql.exec('UPDATE cluster SET state = ?, since = ? WHERE id = 1', state, at);
}

/** Forgets the recorded state, so a cluster that comes back starts afresh (no "recovered", no reminder). */
export function clearState(sql: SqlStorage): void {
  sql.exec('UPDATE cluster SET state = NULL, since = NULL, last_alert_at = NULL WHERE id = 1');
}

/** Records when the cluster last alerted; reminders are counted from it. */
export function recordAlertAt(sql: SqlStorage, at: number): void {
  sql.exec('UPDATE cluster SET last_alert_at = ? WHERE id = 1', at);
}

/** The heartbeat rate-limit bucket: tokens left as of `at`; both null before the first heartbeat (a full bucket). */
export interface TokenBucket {
  tokens: number | null;
  at: number | null;
}

export function readTokenBucket(sql: SqlStorage): TokenBucket {
  const row = sql.exec<{ tokens: number | null; tokens_at: number | null }>('SELECT tokens, tokens_at FROM cluster WHERE id = 1').one();
  return { tokens: row.tokens, at: row.tokens_at };
}

export function storeTokenBucket(sql: SqlStorage, tokens: number, at: number): void {
  sql.exec('UPDATE cluster SET tokens = ?, tokens_at = ? WHERE id = 1', tokens, at);
}

/** When the object last sent the board's index a summary; null if it never has. */
export function readReportedAt(sql: SqlStorage): number | null {
  return sql.exec<{ reported_at: number | null }>('SELECT reported_at FROM cluster WHERE id = 1').one().reported_at;
}

export function recordReportedAt(sql: SqlStorage, at: number): void {
  sql.exec('UPDATE cluster SET reported_at = ? WHERE id = 1', at);
}
