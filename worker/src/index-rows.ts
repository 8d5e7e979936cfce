import type { AlertView } from './alert-view.js';
import type { ClusterSummary, StoredSummary } from './summary.js';

/*
 * The board index's rows: one summary per cluster (as its object last sent
 * it) and the latest alerts of every cluster.
 */

/** Replaces a cluster's summary and its latest alerts with the ones it sent. */
export function storeSummary(sql: SqlStorage, summary: ClusterSummary): void {
  const { alerts, ...rest } = summary;
  sql.exec(
    `INSERT INTO summaries (cluster, state, reported_at, body) VALUES (?, ?, ?, ?)
       ON CONFLICT (cluster) DO UPDATE SET state = excluded.state, reported_at = excluded.reported_at, body = excluded.body`,
    summary.cluster,
    summary.state,
    summary.reportedAt,
    JSON.stringify(rest),
  );
  sql.exec('DELETE FROM recent_alerts WHERE cluster = ?', summary.cluster);
  for (const alert of alerts) {
    sql.exec('INSERT INTO recent_alerts (cluster, id, at, body) VALUES (?, ?, ?, ?)', summary.cluster, alert.id, Date.parse(alert.at), JSON.stringify(alert));
  }
}

/** Forgets a cluster that was scaled away (every pod expired, and nobody expects it). */
export function forgetSummary(sql: SqlStorage, cluster: string): void {
  sql.exec('DELETE FROM summaries WHERE cluster = ?', cluster);
  sql.exec('DELETE FROM recent_alerts WHERE cluster = ?', cluster);
}

export function readSummaries(sql: SqlStorage): StoredSummary[] {
  return sql
    .exec('SELECT body FROM summaries')
    .toArray()
    .map((r) => JSON.parse(String(r.body)) as StoredSummary);
}

export function readSummary(sql: SqlStorage, cluster: string): StoredSummary | null {
  const row = sql.exec('SELECT body FROM summaries WHERE cluster = ?', cluster).toArray()[0];
  return row ? (JSON.parse(String(row.body)) as StoredSummary) : null;
}

/** The latest `limit` alerts of all clusters, newest first. */
export function readRecentAlerts(sql: SqlStorage, limit: number): AlertView[] {
  return sql
    .exec('SELECT body FROM recent_alerts ORDER BY at DESC, id DESC LIMIT ?', limit)
    .toArray()
    .map((r) => JSON.parse(String(r.body)) as AlertView);
}
