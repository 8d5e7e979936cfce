import { SIGNATURE_WINDOW_SECONDS, type Heartbeat } from '@sqlitening/contract';
import { writeHeartbeat } from './pod-rows.js';

export type IngestResult = { status: 'accepted'; count: number } | { status: 'replayed' };

/**
 * Stores heartbeats already authenticated by the worker. `signature` is
 * remembered until it can no longer pass the timestamp window, so the same
 * signed request is accepted once.
 */
export function storeHeartbeats(sql: SqlStorage, heartbeats: Heartbeat[], signature: string, now: number): IngestResult {
  const expires = now + (SIGNATURE_WINDOW_SECONDS + 60) * 1000;
  const fresh = sql.exec('INSERT OR IGNORE INTO signatures (signature, expires_at) VALUES (?, ?) RETURNING signature', signature, expires).toArray();
  if (fresh.length === 0) return { status: 'replayed' };
  for (const h of heartbeats) writeHeartbeat(sql, h, now);
  return { status: 'accepted', count: heartbeats.length };
}

/** Forgets signatures past their window: a replay of one fails the timestamp check instead. */
export function forgetExpiredSignatures(sql: SqlStorage, now: number): void {
  sql.exec('DELETE FROM signatures WHERE expires_at < ?', now);
}
