import { readStateSince } from './cluster-row.js';
import { ruleFor, type BoardConfig } from './config.js';
import { isoTime } from './iso-time.js';
import { readPods, readSightings } from './pod-rows.js';
import { evaluateCluster, type ClusterState, type PodRecord } from './rules.js';

/*
 * One cluster with every live pod, read in the cluster's own object: what
 * `GET /v1/clusters/:id` answers and the cluster page shows.
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
  /** The store the pod last read from: index 0 is its first; more means it failed over to a mirror. Null when its agent does not report it. */
  store: PodRecord['store'];
  /** Whether it reads from a store other than its first (a mirror): fresh, but its first store or the way to it fails. */
  onMirror: boolean;
}

export interface ClusterView {
  id: string;
  state: ClusterState;
  /** When the cluster entered its current state, as its rounds saw it. */
  since: string | null;
  reasons: string[];
  expected: boolean;
  lastHeartbeatAt: string | null;
  /** How many of its pods read from a store other than their first. */
  podsOnMirror: number;
  pods: PodView[];
}

/** The cluster and all its live pods, the rules applied at `now`. */
export function clusterView(sql: SqlStorage, cluster: string, config: BoardConfig, now: number): ClusterView {
  const records = readPods(sql, now - config.podTtl);
  const byName = new Map(records.map((p) => [p.pod, p]));
  const verdict = evaluateCluster(cluster, records, readSightings(sql), ruleFor(config, cluster), now);
  const pods = verdict.pods.map((v): PodView => {
    const p = byName.get(v.pod)!;
    return {
      pod: v.pod,
      state: v.lagging ? 'lagging' : v.stale ? 'stale' : 'ok',
      reasons: v.reasons,
      appGitSha: p.appGitSha,
      dbGitSha: p.dbGitSha,
      dbSha256: p.dbSha256,
      dbCreatedAt: isoTime(p.dbCreatedAt),
      lastHeartbeatAt: isoTime(p.lastHeartbeatAt)!,
      lastSuccessAt: isoTime(p.lastSuccessAt),
      lastError: p.lastError,
      tasks: p.tasks,
      store: p.store,
      onMirror: (p.store?.index ?? 0) > 0,
    };
  });
  return {
    id: cluster,
    state: verdict.state,
    since: isoTime(readStateSince(sql)),
    reasons: verdict.reasons,
    expected: config.expectedClusters.includes(cluster),
    lastHeartbeatAt: isoTime(verdict.lastHeartbeatAt),
    podsOnMirror: pods.filter((p) => p.onMirror).length,
    pods,
  };
}
