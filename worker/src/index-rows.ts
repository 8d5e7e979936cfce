import type { AlertView } from './alert-view.js';
import { byName } from './board-view.js';
import { summaryHealth, type ClusterSummary, type Health, type StoredSummary } from './summary.js';

/*
 * The board index's rows: one summary per cluster (as its object last sent
 * it) and the latest alerts of every cluster.
 *
 * A summary's health is in a column with an index (health, cluster), and its
 * time in one on reported_at, so a page of the board, the counts and the
 * index's round read through indexes what they need, whatever the number of
 * clusters. A summary older than the overdue cutoff (`overdueBefore`) counts
 * as stale whatever its health column says: its cluster's rounds stopped.
 */

/** Replaces a cluster's summary and its latest alerts with the ones it sent. */
export function storeSummary(sql: SqlStorage, summary: ClusterSummary): void {
  const { alerts, ...rest } = summary;
  sql.exec(
    `INSERT INTO summaries (cluster, state, health, reported_at, body) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (cluster) DO UPDATE SET state = excluded.state, reported_at = excluded.reported_at, body = excluded.body`,
    summary.cluster,
    summary.state,
    summaryHealth(summary),
    summary.reportedAt,
    JSON.stringify(rest),
  );
  // Apart, so the health index is written only when the health changes (SQLite updates an index whose columns a SET names).
  sql.exec('UPDATE summaries SET health = ? WHERE cluster = ? AND health != ?', summaryHealth(summary), summary.cluster, summaryHealth(summary));
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

/** The `cluster` column of rows. */
const names = (rows: Iterable<Record<string, SqlStorageValue>>) => [...rows].map((r) => String(r.cluster));

/**
 * The names of up to `limit` clusters of `health` (counting overdue summaries
 * as stale), after `after` in name order. Stale ones are read from two
 * indexes: stale by health, and overdue by time (few, unless rounds stopped everywhere).
 */
export function readClusterNames(sql: SqlStorage, health: Health, after: string | null, overdueBefore: number, limit: number): string[] {
  const from = after ?? '';
  if (health !== 'stale') {
    return names(
      sql.exec(
        'SELECT cluster FROM summaries WHERE health = ? AND cluster > ? AND reported_at >= ? ORDER BY cluster LIMIT ?',
        health,
        from,
        overdueBefore,
        limit,
      ),
    );
  }
  const stale = names(sql.exec("SELECT cluster FROM summaries WHERE health = 'stale' AND cluster > ? ORDER BY cluster LIMIT ?", from, limit));
  const overdue = names(sql.exec("SELECT cluster FROM summaries WHERE reported_at < ? AND health != 'stale' AND cluster > ?", overdueBefore, from));
  return [...stale, ...overdue].sort(byName).slice(0, limit);
}

/** Durable Object SQLite binds at most 100 values per statement. */
const MAX_BOUND = 100;

/** Rows of `query` (which ends in `IN (…)`) for every name, asked 100 at a time. */
function rowsFor(sql: SqlStorage, query: string, clusters: readonly string[]): Array<Record<string, SqlStorageValue>> {
  const rows = [];
  for (let i = 0; i < clusters.length; i += MAX_BOUND) {
    const part = clusters.slice(i, i + MAX_BOUND);
    rows.push(...sql.exec(`${query} (${part.map(() => '?').join(', ')})`, ...part).toArray());
  }
  return rows;
}

/** The summaries of these clusters (those that have one). */
export function readSummariesOf(sql: SqlStorage, clusters: readonly string[]): StoredSummary[] {
  return rowsFor(sql, 'SELECT body FROM summaries WHERE cluster IN', clusters).map((r) => JSON.parse(String(r.body)) as StoredSummary);
}

/** Of these names, the ones that have a summary. */
export function withSummary(sql: SqlStorage, clusters: readonly string[]): Set<string> {
  return new Set(names(rowsFor(sql, 'SELECT cluster FROM summaries WHERE cluster IN', clusters)));
}

/** The clusters of `expected` that never reported (no summary): stale lines found from the configuration. */
export function neverReported(sql: SqlStorage, expected: readonly string[]): string[] {
  const reported = withSummary(sql, expected);
  return expected.filter((id) => !reported.has(id));
}

/** Summaries by health, overdue ones counted as stale: two passes over indexes, not over the summaries. */
export function countSummaries(sql: SqlStorage, overdueBefore: number): Record<Health, number> {
  const counts: Record<Health, number> = { stale: 0, degraded: 0, ok: 0 };
  for (const row of sql.exec('SELECT health, count(*) AS n FROM summaries GROUP BY health')) counts[row.health as Health] += Number(row.n);
  for (const row of sql.exec("SELECT health, count(*) AS n FROM summaries WHERE reported_at < ? AND health != 'stale' GROUP BY health", overdueBefore)) {
    counts[row.health as Health] -= Number(row.n);
    counts.stale += Number(row.n);
  }
  return counts;
}

/** Up to `limit` clusters whose summary is overdue, the longest overdue first. */
export function readOverdueClusters(sql: SqlStorage, overdueBefore: number, limit: number): string[] {
  return names(sql.exec('SELECT cluster FROM summaries WHERE reported_at < ? ORDER BY reported_at LIMIT ?', overdueBefore, limit));
}

/** Whether any summary says stale. */
export function anyStaleSummary(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM summaries WHERE health = 'stale' LIMIT 1").toArray().length > 0;
}

/** Whether the index has any summary at all. */
export function anySummary(sql: SqlStorage): boolean {
  return sql.exec('SELECT 1 FROM summaries LIMIT 1').toArray().length > 0;
}
