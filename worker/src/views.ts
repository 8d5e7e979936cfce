import { formatAge, type LiveCommit } from '@sqlitening/contract';
import type { AlertKind } from './alerts.js';
import { readStateSince } from './cluster-row.js';
import { ruleFor, type BoardConfig } from './config.js';
import type { StoredSummary } from './index-rows.js';
import { readPods, readSightings } from './pod-rows.js';
import { evaluateCluster, type ClusterState, type PodRecord } from './rules.js';

/*
 * What the board shows, built from stored rows. Times are absolute (ISO), so
 * a view (and its ETag) changes only when the data does.
 */

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

/** One cluster with every pod: `GET /v1/clusters/:id`, and the cluster page. */
export interface ClusterView {
  id: string;
  state: ClusterState;
  /** When the cluster entered its current state, as the alarm saw it. */
  since: string | null;
  reasons: string[];
  expected: boolean;
  lastHeartbeatAt: string | null;
  pods: PodView[];
}

export interface AlertView {
  /** Numbered per cluster. */
  id: number;
  cluster: string;
  kind: AlertKind;
  at: string;
  reasons: string[];
  deliveries: Array<{ target: number; status: string; attempts: number; lastError: string | null }>;
}

/**
 * One line of the global board. `health` orders it: `stale` (alerting),
 * `degraded` (not alerting, but some pods are stale or lagging), `ok`.
 */
export interface ClusterLine {
  id: string;
  state: ClusterState;
  health: 'stale' | 'degraded' | 'ok';
  since: string | null;
  reasons: string[];
  expected: boolean;
  pods: { total: number; fresh: number; stale: number; lagging: number };
  /** App commits live pods run, newest sighting first. */
  commits: Array<{ gitSha: string; pods: number }>;
  lastHeartbeatAt: string | null;
  /** The oldest last successful sync among live pods: the worst data age is the time since. */
  oldestSyncAt: string | null;
  neverSynced: number;
  /** When the cluster's object last sent its summary; null for an expected cluster not evaluated yet. */
  reportedAt: string | null;
}

/** The global board: `GET /v1/board` and the page at `/`. */
export interface BoardView {
  clusters: ClusterLine[];
  alerts: AlertView[];
  deadMan: { lastPingAt: string | null; lastResult: string | null };
}

/** Where one commit of the app runs: live pods per cluster (`GET /v1/commits`, whose schema the contract holds). */
export type CommitView = LiveCommit;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

// ---- in a cluster's object ----

/** One cluster and all its live pods, the rules applied at `now`. */
export function clusterView(sql: SqlStorage, cluster: string, config: BoardConfig, now: number): ClusterView {
  const records = readPods(sql, now - config.podTtl);
  const byName = new Map(records.map((p) => [p.pod, p]));
  const verdict = evaluateCluster(cluster, records, readSightings(sql), ruleFor(config, cluster), now);
  return {
    id: cluster,
    state: verdict.state,
    since: iso(readStateSince(sql)),
    reasons: verdict.reasons,
    expected: config.expectedClusters.includes(cluster),
    lastHeartbeatAt: iso(verdict.lastHeartbeatAt),
    pods: verdict.pods.map((v) => {
      const p = byName.get(v.pod)!;
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
  };
}

/** A cluster's latest `limit` alerts, newest first, with their deliveries. */
export function alertViews(sql: SqlStorage, cluster: string, limit: number): AlertView[] {
  return sql
    .exec('SELECT * FROM alerts ORDER BY id DESC LIMIT ?', limit)
    .toArray()
    .map((r) => ({
      id: Number(r.id),
      cluster,
      kind: r.kind as AlertKind,
      at: iso(Number(r.at))!,
      reasons: JSON.parse(String(r.reasons)) as string[],
      deliveries: sql
        .exec('SELECT target, status, attempts, last_error FROM deliveries WHERE alert_id = ? ORDER BY target', r.id)
        .toArray()
        .map((d) => ({ target: Number(d.target), status: String(d.status), attempts: Number(d.attempts), lastError: d.last_error as string | null })),
    }));
}

// ---- in the board's index ----

/** A summary older than this means the cluster's rounds are not running (its alarm failing or lost). */
export function overdueAfter(config: BoardConfig): number {
  return Math.max(3 * config.evaluateEvery, 30_000);
}

const HEALTH_ORDER = { stale: 0, degraded: 1, ok: 2 } as const;

/**
 * Every cluster's line, from the summaries the clusters sent: stale ones
 * first, then degraded, then healthy, by name within each. An expected
 * cluster with no summary is stale ("no pod has reported"); so is one whose
 * summary is overdue.
 */
export function clusterLines(summaries: StoredSummary[], config: BoardConfig, now: number): ClusterLine[] {
  const lines = new Map<string, ClusterLine>();
  const expected = new Set(config.expectedClusters);
  for (const s of summaries) {
    const reasons = [...s.reasons];
    let state = s.state;
    if (now - s.reportedAt > overdueAfter(config)) {
      state = 'stale';
      reasons.push(`not evaluated for ${formatAge(now - s.reportedAt)}`);
    }
    lines.set(s.cluster, {
      id: s.cluster,
      state,
      health: state === 'stale' ? 'stale' : s.pods.stale + s.pods.lagging > 0 ? 'degraded' : 'ok',
      since: iso(s.since),
      reasons,
      expected: expected.has(s.cluster),
      pods: s.pods,
      commits: s.commits.filter((c) => c.lastSeenAt >= now - config.podTtl).map(({ gitSha, pods }) => ({ gitSha, pods })),
      lastHeartbeatAt: iso(s.lastHeartbeatAt),
      oldestSyncAt: iso(s.oldestSyncAt),
      neverSynced: s.neverSynced,
      reportedAt: iso(s.reportedAt),
    });
  }
  for (const id of expected) {
    if (lines.has(id)) continue;
    lines.set(id, {
      id,
      state: 'stale',
      health: 'stale',
      since: null,
      reasons: ['no pod has reported'],
      expected: true,
      pods: { total: 0, fresh: 0, stale: 0, lagging: 0 },
      commits: [],
      lastHeartbeatAt: null,
      oldestSyncAt: null,
      neverSynced: 0,
      reportedAt: null,
    });
  }
  return [...lines.values()].sort((a, b) => HEALTH_ORDER[a.health] - HEALTH_ORDER[b.health] || a.id.localeCompare(b.id));
}

/**
 * Which commits of the app are live in which clusters, from the summaries:
 * live pods counted by the `appGitSha` they report, newest sighting first.
 * Counts are as of each cluster's last summary; a commit no pod of a cluster
 * has reported within `podTtl` is left out for that cluster.
 */
export function commitViews(summaries: StoredSummary[], config: BoardConfig, now: number): CommitView[] {
  const commits = new Map<string, { pods: number; last: number; clusters: Array<{ cluster: string; pods: number; last: number }> }>();
  for (const s of summaries) {
    for (const c of s.commits) {
      if (c.lastSeenAt < now - config.podTtl) continue;
      const entry = commits.get(c.gitSha) ?? { pods: 0, last: 0, clusters: [] };
      entry.pods += c.pods;
      entry.last = Math.max(entry.last, c.lastSeenAt);
      entry.clusters.push({ cluster: s.cluster, pods: c.pods, last: c.lastSeenAt });
      commits.set(c.gitSha, entry);
    }
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
