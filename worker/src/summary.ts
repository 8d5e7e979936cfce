import type { AlertView } from './alert-view.js';
import type { BoardConfig } from './config.js';
import type { ClusterState, ClusterVerdict, PodRecord } from './rules.js';

/**
 * What a cluster's object tells the board's index about the cluster after
 * each round (and, at most every `summaryEvery`, after heartbeats arrive): one
 * line of the global board, the app commits its live pods run, and its latest
 * alerts. Times in ms since the epoch. Small and bounded whatever the number
 * of pods, so the index's work grows with the number of clusters only.
 */
export interface ClusterSummary {
  cluster: string;
  state: ClusterState;
  /** When the cluster entered its current state, as its rounds saw it; null before its first round. */
  since: number | null;
  reasons: string[];
  pods: { total: number; fresh: number; stale: number; lagging: number };
  /** The app commits live pods report, newest sighting first; pods with no commit are left out. */
  commits: Array<{ gitSha: string; pods: number; lastSeenAt: number }>;
  lastHeartbeatAt: number | null;
  /** The oldest last successful sync among live pods (how old the stalest pod's data may be); null when none has synced. */
  oldestSyncAt: number | null;
  /** Live pods that have never synced. */
  neverSynced: number;
  /** The cluster's latest alerts, newest first, with their deliveries. */
  alerts: AlertView[];
  reportedAt: number;
}

/** A summary as the index stores it: everything but its alerts, which the index keeps in a table of their own (index-rows.ts). */
export type StoredSummary = Omit<ClusterSummary, 'alerts'>;

/** How a cluster's line is ordered and coloured: `stale` (alerting), `degraded` (some pods stale or lagging, not enough to alert), `ok`. */
export type Health = 'stale' | 'degraded' | 'ok';

/** A summary's health as sent (the board's index also counts a summary that is overdue as stale, see `overdueAfter`). */
export function summaryHealth(summary: Pick<StoredSummary, 'state' | 'pods'>): Health {
  if (summary.state === 'stale') return 'stale';
  return summary.pods.stale + summary.pods.lagging > 0 ? 'degraded' : 'ok';
}

/** A summary older than this means the cluster's rounds are not running (its alarm failing or lost). */
export function overdueAfter(config: BoardConfig): number {
  return Math.max(3 * config.evaluateEvery, 30_000);
}

/** Alerts a summary carries: enough for the board's "recent alerts" whatever cluster they come from. */
export const SUMMARY_ALERTS = 10;

/** The summary of a cluster from its live `pods` and their `verdict`. */
export function summarize(verdict: ClusterVerdict, pods: PodRecord[], since: number | null, alerts: AlertView[], now: number): ClusterSummary {
  const stale = verdict.pods.filter((p) => p.stale).length;
  const lagging = verdict.pods.filter((p) => p.lagging && !p.stale).length;
  const commits = new Map<string, { pods: number; lastSeenAt: number }>();
  let oldestSyncAt: number | null = null;
  let neverSynced = 0;
  for (const pod of pods) {
    if (pod.appGitSha) {
      const entry = commits.get(pod.appGitSha) ?? { pods: 0, lastSeenAt: 0 };
      entry.pods += 1;
      entry.lastSeenAt = Math.max(entry.lastSeenAt, pod.lastHeartbeatAt);
      commits.set(pod.appGitSha, entry);
    }
    if (pod.lastSuccessAt === null) neverSynced += 1;
    else if (oldestSyncAt === null || pod.lastSuccessAt < oldestSyncAt) oldestSyncAt = pod.lastSuccessAt;
  }
  return {
    cluster: verdict.cluster,
    state: verdict.state,
    since,
    reasons: verdict.reasons,
    pods: { total: pods.length, fresh: pods.length - stale - lagging, stale, lagging },
    commits: [...commits.entries()].map(([gitSha, c]) => ({ gitSha, ...c })).sort((a, b) => b.lastSeenAt - a.lastSeenAt || a.gitSha.localeCompare(b.gitSha)),
    lastHeartbeatAt: verdict.lastHeartbeatAt,
    oldestSyncAt,
    neverSynced,
    alerts: alerts.slice(0, SUMMARY_ALERTS),
    reportedAt: now,
  };
}
