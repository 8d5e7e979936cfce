import type { AlertKind } from './alerts.js';
import type { BoardConfig } from './config.js';
import { readDeadMan } from './outbox.js';
import { readPods } from './pod-rows.js';
import type { PodRecord } from './rules.js';
import { verdicts } from './round.js';

export interface PodView {
  pod: string;
  state: 'ok' | 'stale' | 'lagging';
  reasons: string[];
  appGitSha: string | null;
  dbGitSha: string | null;
  dbSha256: string | null;
  dbCreatedAt: string | null;
  lastHeartbeatAt: string;
  lastSuccessAt: string | null;
  lastError: string | null;
  tasks: PodRecord['tasks'];
}

export interface ClusterView {
  id: string;
  state: 'ok' | 'stale';
  /** When the cluster entered its current state, as the alarm saw it. */
  since: string | null;
  reasons: string[];
  expected: boolean;
  lastHeartbeatAt: string | null;
  pods: PodView[];
}

export interface AlertView {
  id: number;
  cluster: string;
  kind: AlertKind;
  at: string;
  reasons: string[];
  deliveries: Array<{ target: number; status: string; attempts: number; lastError: string | null }>;
}

export interface BoardView {
  clusters: ClusterView[];
  alerts: AlertView[];
  deadMan: { lastPingAt: string | null; lastResult: string | null };
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Everything the board shows. Times are absolute, so the view (and its ETag) changes only when the data does. */
export function buildView(sql: SqlStorage, config: BoardConfig, now: number, only?: string): BoardView {
  const stored = new Map(
    sql
      .exec('SELECT cluster, since FROM clusters')
      .toArray()
      .map((r) => [String(r.cluster), Number(r.since)]),
  );
  const records = readPods(sql, only);
  const pods = new Map(records.map((p) => [`${p.cluster}\u0000${p.pod}`, p]));
  const clusters = verdicts(sql, now, config, records, only).map(
    (verdict): ClusterView => ({
      id: verdict.cluster,
      state: verdict.state,
      since: iso(stored.get(verdict.cluster) ?? null),
      reasons: verdict.reasons,
      expected: config.expectedClusters.includes(verdict.cluster),
      lastHeartbeatAt: iso(verdict.lastHeartbeatAt),
      pods: verdict.pods.map((v) => {
        const p = pods.get(`${verdict.cluster}\u0000${v.pod}`)!;
        return {
          pod: v.pod,
          state: v.lagging ? 'lagging' : v.stale ? 'stale' : 'ok',
          reasons: v.reasons,
          appGitSha: p.appGitSha,
          dbGitSha: p.dbGitSha,
          dbSha256: p.dbSha256,
          dbCreatedAt: iso(p.dbCreatedAt),
          lastHeartbeatAt: iso(p.lastHeartbeatAt)!,
          lastSuccessAt: iso(p.lastSuccessAt),
          lastError: p.lastError,
          tasks: p.tasks,
        };
      }),
    }),
  );
  return { clusters, alerts: alertViews(sql, only), deadMan: readDeadMan(sql) };
}

/** The latest 50 alerts (of one cluster, or all), newest first, with their deliveries. */
function alertViews(sql: SqlStorage, only?: string): AlertView[] {
  const rows = only
    ? sql.exec('SELECT * FROM alerts WHERE cluster = ? ORDER BY id DESC LIMIT 50', only).toArray()
    : sql.exec('SELECT * FROM alerts ORDER BY id DESC LIMIT 50').toArray();
  return rows.map((r) => ({
    id: Number(r.id),
    cluster: String(r.cluster),
    kind: r.kind as AlertKind,
    at: iso(Number(r.at))!,
    reasons: JSON.parse(String(r.reasons)) as string[],
    deliveries: sql
      .exec('SELECT target, status, attempts, last_error FROM deliveries WHERE alert_id = ? ORDER BY target', r.id)
      .toArray()
      .map((d) => ({ target: Number(d.target), status: String(d.status), attempts: Number(d.attempts), lastError: d.last_error as string | null })),
  }));
}
