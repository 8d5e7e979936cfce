import { ruleFor, type BoardConfig, type Webhook } from './config.js';
import { forgetExpiredSignatures } from './ingest.js';
import { raiseAlert } from './outbox.js';
import { forgetExpiredPods, readPods, readSightings } from './pod-rows.js';
import { evaluateCluster, type ClusterVerdict, type PodRecord } from './rules.js';

export interface RoundResult {
  verdict: ClusterVerdict;
  /** The live pods the verdict was made from. */
  pods: PodRecord[];
  /** False when every pod expired and nobody expects the cluster: it was scaled away, not broken. */
  tracked: boolean;
}

/**
 * The stored side of one cluster's round: forget expired pods and
 * signatures, evaluate the cluster, and record a transition (or a reminder)
 * as an alert queued to `webhooks`.
 */
export function recordRound(sql: SqlStorage, cluster: string, now: number, config: BoardConfig, webhooks: Webhook[]): RoundResult {
  forgetExpiredPods(sql, now, config.podTtl);
  forgetExpiredSignatures(sql, now);

  const pods = readPods(sql);
  const verdict = evaluateCluster(cluster, pods, readSightings(sql), ruleFor(config, cluster), now);
  const tracked = pods.length > 0 || config.expectedClusters.includes(cluster);
  const previous = sql.exec('SELECT state, last_alert_at FROM cluster WHERE id = 1').one();
  if (!tracked) {
    // If it comes back, it starts afresh.
    sql.exec('UPDATE cluster SET state = NULL, since = NULL, last_alert_at = NULL WHERE id = 1');
  } else if (previous.state === null) {
    sql.exec('UPDATE cluster SET state = ?, since = ? WHERE id = 1', verdict.state, now);
    if (verdict.state === 'stale') raiseAlert(sql, 'stale', verdict, now, webhooks);
  } else if (previous.state !== verdict.state) {
    sql.exec('UPDATE cluster SET state = ?, since = ? WHERE id = 1', verdict.state, now);
    raiseAlert(sql, verdict.state === 'stale' ? 'stale' : 'recovered', verdict, now, webhooks);
  } else if (verdict.state === 'stale' && previous.last_alert_at !== null && now - Number(previous.last_alert_at) >= config.reminderEvery) {
    raiseAlert(sql, 'reminder', verdict, now, webhooks);
  }
  return { verdict, pods, tracked };
}
