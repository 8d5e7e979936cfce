import { formatAge, type TaskStatus } from '@sqlitening/contract';
import type { Rule } from './config.js';

/** What a cluster's object keeps of a pod: its last heartbeat, as received. Times in ms since the epoch. */
export interface PodRecord {
  pod: string;
  lastHeartbeatAt: number;
  appGitSha: string | null;
  dbGitSha: string | null;
  dbSha256: string | null;
  dbCreatedAt: number | null;
  lastSuccessAt: number | null;
  lastError: string | null;
  tasks: TaskStatus[];
  /** The store the pod last read from (0: its first; more: a mirror it failed over to); null when its agent does not say. */
  store: { index: number; location: string } | null;
}

/** When a snapshot (by its sha256) was first reported by any pod of a cluster. */
export interface SnapshotSighting {
  dbGitSha: string;
  sha256: string;
  createdAt: number;
  firstSeenAt: number;
}

export type ClusterState = 'ok' | 'stale';

export interface PodVerdict {
  pod: string;
  /** Past one of its own limits (tasks, sync age, database age). */
  stale: boolean;
  /** On an older snapshot of its commit than the cluster's newest, for longer than the rule allows. */
  lagging: boolean;
  reasons: string[];
}

export interface ClusterVerdict {
  cluster: string;
  state: ClusterState;
  reasons: string[];
  pods: PodVerdict[];
  lastHeartbeatAt: number | null;
}

function podVerdict(pod: PodRecord, rule: Rule, newest: Map<string, SnapshotSighting>, now: number): PodVerdict {
  const reasons: string[] = [];
  for (const task of pod.tasks) {
    if (!task.ok)
      reasons.push(
        `task ${task.name} ${task.ageSeconds === null ? 'never succeeded' : `last succeeded ${formatAge(task.ageSeconds * 1000)} ago`} (limit ${formatAge(task.limitSeconds * 1000)})`,
      );
  }
  if (pod.dbSha256 === null) reasons.push('no database installed');
  if (pod.lastSuccessAt === null) reasons.push('never synced');
  else if (now - pod.lastSuccessAt > rule.maxSyncAge) reasons.push(`last sync ${formatAge(now - pod.lastSuccessAt)} ago`);
  if (rule.maxDatabaseAge !== null && pod.dbCreatedAt !== null && now - pod.dbCreatedAt > rule.maxDatabaseAge) {
    reasons.push(`database built ${formatAge(now - pod.dbCreatedAt)} ago`);
  }
  const stale = reasons.length > 0;
  let lagging = false;
  const latest = pod.dbGitSha ? newest.get(pod.dbGitSha) : undefined;
  if (latest && pod.dbCreatedAt !== null && pod.dbCreatedAt < latest.createdAt && now - latest.firstSeenAt > rule.skewAfter) {
    lagging = true;
    reasons.push(`on an older snapshot ${formatAge(now - latest.firstSeenAt)} after ${latest.sha256.slice(0, 12)} appeared`);
  }
  return { pod: pod.pod, stale, lagging, reasons };
}

/**
 * A cluster's state from its live pods. Stale when no pod has reported for
 * `silentAfter`; when enough live pods are stale (`staleCount`, else
 * `staleShare` of them); or when any pod lags behind a newer snapshot of its
 * commit for longer than `skewAfter`.
 */
export function evaluateCluster(cluster: string, pods: PodRecord[], sightings: SnapshotSighting[], rule: Rule, now: number): ClusterVerdict {
  const newest = new Map<string, SnapshotSighting>();
  for (const seen of sightings) {
    const current = newest.get(seen.dbGitSha);
    if (!current || seen.createdAt > current.createdAt) newest.set(seen.dbGitSha, seen);
  }
  const verdicts = pods.map((pod) => podVerdict(pod, rule, newest, now)).sort((a, b) => a.pod.localeCompare(b.pod));
  const lastHeartbeatAt = pods.length ? Math.max(...pods.map((p) => p.lastHeartbeatAt)) : null;
  const reasons: string[] = [];
  if (lastHeartbeatAt === null) reasons.push('no pod has reported');
  else if (now - lastHeartbeatAt > rule.silentAfter) reasons.push(`no heartbeat for ${formatAge(now - lastHeartbeatAt)}`);
  const stale = verdicts.filter((v) => v.stale).length;
  const threshold = rule.staleCount ?? Math.max(1, Math.ceil(rule.staleShare * pods.length));
  if (pods.length > 0 && stale >= threshold) reasons.push(`${stale} of ${pods.length} pods stale`);
  const lagging = verdicts.filter((v) => v.lagging).length;
  if (lagging > 0) reasons.push(`${lagging} pod${lagging > 1 ? 's' : ''} on an older snapshot`);
  return { cluster, state: reasons.length ? 'stale' : 'ok', reasons, pods: verdicts, lastHeartbeatAt };
}
