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

/** Where one commit of the app runs: live pods per cluster. */
export interface CommitView {
  gitSha: string;
  pods: number;
  lastSeenAt: string;
  clusters: Array<{ cluster: string; pods: number; lastSeenAt: string }>;
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

/**
 * Which commits of the app are live in which clusters: live pods (not past
 * `podTtl`) counted by the `appGitSha` they report, newest sighting first.
 * Pods that report no commit (`--any-commit`) are left out.
 */
export function commitViews(sql: SqlStorage, config: BoardConfig, now: number): CommitView[] {
  const rows = sql
    .exec(
      `SELECT app_git_sha AS sha, cluster, count(*) AS pods, max(last_heartbeat_at) AS last FROM pods
        WHERE app_git_sha IS NOT NULL AND last_heartbeat_at >= ? GROUP BY app_git_sha, cluster`,
      now - config.podTtl,
    )
    .toArray();
  const commits = new Map<string, { pods: number; last: number; clusters: Array<{ cluster: string; pods: number; last: number }> }>();
  for (const r of rows) {
    const sha = String(r.sha);
    const entry = commits.get(sha) ?? { pods: 0, last: 0, clusters: [] };
    entry.pods += Number(r.pods);
    entry.last = Math.max(entry.last, Number(r.last));
    entry.clusters.push({ cluster: String(r.cluster), pods: Number(r.pods), last: Number(r.last) });
    commits.set(sha, entry);
  }
  const newestFirst = <T extends { last: number }>(a: T, b: T, tie: (x: T) => string) => b.last - a.last || tie(a).localeCompare(tie(b));
  return [...commits.entries()]
    .map(([gitSha, c]) => ({ gitSha, ...c }))
    .sort((a, b) => newestFirst(a, b, (x) => x.gitSha))
    .map((c) => ({
      gitSha: c.gitSha,
      pods: c.pods,
      lastSeenAt: iso(c.last)!,
      clusters: c.clusters.sort((a, b) => newestFirst(a, b, (x) => x.cluster)).map((k) => ({ cluster: k.cluster, pods: k.pods, lastSeenAt: iso(k.last)! })),
    }));
}
