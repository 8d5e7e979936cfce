import type { AlertKind } from './alerts.js';
import { clearState, enterState, readAlertState, recordAlertAt } from './cluster-row.js';
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
  const previous = readAlertState(sql);
  const alert = (kind: AlertKind) => {
    raiseAlert(sql, kind, verdict, now, webhooks);
    recordAlertAt(sql, now);
  };
  if (!tracked) {
    // If it comes back, it starts afresh.
    clearState(sql);
  } else if (previous.state === null) {
    enterState(sql, verdict.state, now);
    if (verdict.state === 'stale') alert('stale');
  } else if (previous.state !== verdict.state) {
    enterState(sql, verdict.state, now);
    alert(verdict.state === 'stale' ? 'stale' : 'recovered');
  } else if (verdict.state === 'stale' && previous.lastAlertAt !== null && now - previous.lastAlertAt >= config.reminderEvery) {
    alert('reminder');
  }
  return { verdict, pods, tracked };
}
