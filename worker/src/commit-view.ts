import type { LiveCommit } from '@sqlitening/contract';
import type { BoardConfig } from './config.js';
import { isoTime } from './iso-time.js';
import type { StoredSummary } from './summary.js';

/** Where one commit of the app runs: live pods per cluster (`GET /v1/commits`, whose schema the contract holds). */
export type CommitView = LiveCommit;

/**
 * Which commits of the app are live in which clusters, built in the board's
 * index from the summaries: live pods counted by the `appGitSha` they report,
 * newest sighting first. Counts are as of each cluster's last summary; a
 * commit no pod of a cluster has reported within `podTtl` is left out for
 * that cluster.
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
      lastSeenAt: isoTime(c.last)!,
      clusters: c.clusters.sort((a, b) => newestFirst(a, b, (x) => x.cluster)).map((k) => ({ cluster: k.cluster, pods: k.pods, lastSeenAt: isoTime(k.last)! })),
    }));
}
