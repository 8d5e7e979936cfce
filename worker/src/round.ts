import { ruleFor, type BoardConfig, type Webhook } from './config.js';
import { forgetExpiredSignatures } from './ingest.js';
import { raiseAlert } from './outbox.js';
import { forgetExpiredPods, readPods, readSightings } from './pod-rows.js';
import { evaluateCluster, type ClusterVerdict, type PodRecord } from './rules.js';

/** Every cluster the board knows: expected ones, ones with pods, and ones with a recorded state. */
export function clusterIds(sql: SqlStorage, config: BoardConfig): string[] {
  const ids = new Set(config.expectedClusters);
  for (const r of sql.exec('SELECT DISTINCT cluster FROM pods UNION SELECT cluster FROM clusters').toArray()) ids.add(String(r.cluster));
  return [...ids].sort();
}

/** The rules applied to `pods` (already read), for every known cluster or only one. */
export function verdicts(sql: SqlStorage, now: number, config: BoardConfig, pods: PodRecord[], only?: string): ClusterVerdict[] {
  const ids = only ? [only] : clusterIds(sql, config);
  return ids.map((id) =>
    evaluateCluster(
      id,
      pods.filter((p) => p.cluster === id),
      readSightings(sql, id),
      ruleFor(config, id),
      now,
    ),
  );
}

/**
 * The stored side of one round: forget expired pods and signatures, evaluate
 * every cluster, and record each transition (and reminder) as an alert queued
 * to `webhooks`. Returns the verdicts of the clusters still tracked.
 */
export function recordRound(sql: SqlStorage, now: number, config: BoardConfig, webhooks: Webhook[]): ClusterVerdict[] {
  forgetExpiredPods(sql, now, config.podTtl);
  forgetExpiredSignatures(sql, now);

  const pods = readPods(sql);
  const live = new Set(pods.map((p) => p.cluster));
  const result: ClusterVerdict[] = [];
  for (const verdict of verdicts(sql, now, config, pods)) {
    const tracked = live.has(verdict.cluster) || config.expectedClusters.includes(verdict.cluster);
    const previous = sql.exec('SELECT state, last_alert_at FROM clusters WHERE cluster = ?', verdict.cluster).toArray()[0];
    if (!tracked) {
      // Every pod expired and nobody expects the cluster: it was scaled away, not broken.
      sql.exec('DELETE FROM clusters WHERE cluster = ?', verdict.cluster);
      continue;
    }
    result.push(verdict);
    if (!previous) {
      sql.exec('INSERT INTO clusters (cluster, state, since, last_alert_at) VALUES (?, ?, ?, NULL)', verdict.cluster, verdict.state, now);
      if (verdict.state === 'stale') raiseAlert(sql, 'stale', verdict, now, webhooks);
    } else if (previous.state !== verdict.state) {
      sql.exec('UPDATE clusters SET state = ?, since = ? WHERE cluster = ?', verdict.state, now, verdict.cluster);
      raiseAlert(sql, verdict.state === 'stale' ? 'stale' : 'recovered', verdict, now, webhooks);
    } else if (verdict.state === 'stale' && previous.last_alert_at !== null && now - Number(previous.last_alert_at) >= config.reminderEvery) {
      raiseAlert(sql, 'reminder', verdict, now, webhooks);
    }
  }
  return result;
}
