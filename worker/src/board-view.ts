import { formatAge } from '@sqlitening/contract';
import type { AlertView } from './alert-view.js';
import type { BoardQuery } from './board-query.js';
import type { BoardConfig } from './config.js';
import { isoTime } from './iso-time.js';
import type { ClusterState } from './rules.js';
import { overdueAfter, summaryHealth, type Health, type StoredSummary } from './summary.js';

/*
 * The global board, built in the board's index from the summaries the
 * clusters sent, without reading any pod: `GET /v1/board`, the page at `/`,
 * and the line behind a cluster's page and badge.
 */

/**
 * One line of the global board. `health` orders it: `stale` (alerting),
 * `degraded` (not alerting, but some pods are stale or lagging), `ok`.
 */
export interface ClusterLine {
  id: string;
  state: ClusterState;
  health: Health;
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

/** Clusters by health on the whole board, whatever the page shows. */
export interface BoardCounts {
  clusters: number;
  stale: number;
  degraded: number;
  ok: number;
}

/**
 * One page of the global board (`GET /`, `GET /v1/board`): the counts of the
 * whole board, and the lines of the page asked for (see board-query.ts).
 */
export interface BoardView {
  counts: BoardCounts;
  /** The page these lines are: the first (health null: stale, then degraded, then fresh while the board fits), or one health's lines by name after `after`. */
  page: BoardQuery;
  /** The page after this one, or null when this is the last. */
  next: BoardQuery | null;
  clusters: ClusterLine[];
  alerts: AlertView[];
  deadMan: { lastPingAt: string | null; lastResult: string | null };
}

const HEALTH_ORDER = { stale: 0, degraded: 1, ok: 2 } as const;

/** Names in SQLite's order (by code unit, as `ORDER BY cluster` and `cluster > ?` compare), so pages follow on from each other. */
export const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The lines of the clusters whose summaries are given and of the `expected`
 * clusters among them or with none (the caller picks which expected
 * clusters belong to the lines it wants): stale ones first, then degraded,
 * then healthy, by name within each. An expected cluster with no summary is
 * stale ("no pod has reported"); so is one whose summary is overdue.
 */
export function clusterLines(summaries: StoredSummary[], expectedClusters: readonly string[], config: BoardConfig, now: number): ClusterLine[] {
  const lines = new Map<string, ClusterLine>();
  const expected = new Set(expectedClusters);
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
      health: summaryHealth({ state, pods: s.pods }),
      since: isoTime(s.since),
      reasons,
      expected: expected.has(s.cluster),
      pods: s.pods,
      commits: s.commits.filter((c) => c.lastSeenAt >= now - config.podTtl).map(({ gitSha, pods }) => ({ gitSha, pods })),
      lastHeartbeatAt: isoTime(s.lastHeartbeatAt),
      oldestSyncAt: isoTime(s.oldestSyncAt),
      neverSynced: s.neverSynced,
      reportedAt: isoTime(s.reportedAt),
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
  return [...lines.values()].sort((a, b) => HEALTH_ORDER[a.health] - HEALTH_ORDER[b.health] || byName(a.id, b.id));
}
