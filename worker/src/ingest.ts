import { SIGNATURE_WINDOW_SECONDS, type Heartbeat } from '@sqlitening/contract';
import { readTokenBucket, storeTokenBucket } from './cluster-row.js';
import type { Limits } from './config.js';
import { podCounts, writeHeartbeat } from './pod-rows.js';

export type IngestResult =
  | { status: 'accepted'; count: number }
  | { status: 'replayed' }
  /** Over one of the cluster's limits: nothing was stored. `retryAfter` in seconds, null when waiting cannot help. */
  | { status: 'limited'; reason: string; retryAfter: number | null };

/** How long past the signature window a signature is remembered, for clocks that disagree a little. */
const SIGNATURE_MARGIN_SECONDS = 60;

/**
 * When a signature made at `timestamp` (unix seconds) can no longer pass the
 * timestamp check, and so need not be remembered: its own time plus the window
 * (plus a margin). Not "now plus the window": a request signed in the future
 * stays valid until its own timestamp leaves the window.
 */
export function signatureExpiresAt(timestamp: number): number {
  return (timestamp + SIGNATURE_WINDOW_SECONDS + SIGNATURE_MARGIN_SECONDS) * 1000;
}

/**
 * Stores heartbeats already authenticated by the worker, all or none: a
 * replayed signature, a batch that would take the cluster past
 * `limits.podsPerCluster`, or one over its heartbeat rate stores nothing.
 * `signature` (made at `timestamp`, unix seconds) is remembered until it can
 * no longer pass the timestamp window, so the same signed request is accepted once.
 * Synchronous, so no other request of this object runs in between.
 */
export function storeHeartbeats(
  sql: SqlStorage,
  cluster: string,
  heartbeats: Heartbeat[],
  signature: string,
  timestamp: number,
  now: number,
  limits: Limits,
): IngestResult {
  if (sql.exec('SELECT 1 FROM signatures WHERE signature = ?', signature).toArray().length > 0) return { status: 'replayed' };

  const { stored, unknown } = podCounts(
    sql,
    heartbeats.map((h) => h.pod),
  );
  if (unknown > 0 && stored + unknown > limits.podsPerCluster) {
    return {
      status: 'limited',
      reason: `cluster ${cluster} has ${stored} pods, its limit is ${limits.podsPerCluster} (limits.podsPerCluster): ${unknown} new pod${unknown > 1 ? 's' : ''} refused; known pods keep reporting, pods silent for podTtl are forgotten`,
      retryAfter: null,
    };
  }

  const bucket = takeTokens(sql, heartbeats.length, now, limits.heartbeatsPerMinute);
  if (bucket !== null) {
    return {
      status: 'limited',
      reason: `cluster ${cluster} is over its limit of ${limits.heartbeatsPerMinute} heartbeats per minute (limits.heartbeatsPerMinute)${bucket === Number.POSITIVE_INFINITY ? `: a batch of ${heartbeats.length} can never fit` : ''}`,
      retryAfter: bucket === Number.POSITIVE_INFINITY ? null : bucket,
    };
  }

  sql.exec('INSERT INTO signatures (signature, expires_at) VALUES (?, ?)', signature, signatureExpiresAt(timestamp));
  for (const h of heartbeats) writeHeartbeat(sql, h, now);
  return { status: 'accepted', count: heartbeats.length };
}

/**
 * A token bucket of `perMinute` heartbeats, refilled evenly over a minute.
 * Takes `count` tokens and returns null, or takes none and returns the
 * seconds until they would be there (Infinity when `count` exceeds the bucket).
 */
function takeTokens(sql: SqlStorage, count: number, now: number, perMinute: number): number | null {
  if (count > perMinute) return Number.POSITIVE_INFINITY;
  const bucket = readTokenBucket(sql);
  const perMs = perMinute / 60_000;
  const elapsed = bucket.at === null ? Number.POSITIVE_INFINITY : Math.max(0, now - bucket.at);
  const tokens = Math.min(perMinute, (bucket.tokens ?? perMinute) + elapsed * perMs);
  if (tokens < count) return Math.max(1, Math.ceil((count - tokens) / perMs / 1000));
  storeTokenBucket(sql, tokens - count, now);
  return null;
}

/** Forgets signatures past their window: a replay of one fails the timestamp check instead. */
export function forgetExpiredSignatures(sql: SqlStorage, now: number): void {
  sql.exec('DELETE FROM signatures WHERE expires_at < ?', now);
}
