import { signatureHeaders } from '@sqlitening/contract';
import { alertFrom, jsonPayload, slackPayload, type AlertKind } from './alerts.js';
import type { BoardConfig, Webhook } from './config.js';
import type { ClusterVerdict } from './rules.js';

/**
 * The webhook outbox: an alert raised in a round becomes one delivery row per
 * webhook, sent by this and later rounds with exponential backoff until the
 * receiver answers 2xx or the attempts run out. Also the dead man's switch.
 */

/** How long a delivery in flight is reserved for the round sending it. */
const DELIVERY_LEASE_MS = 5 * 60_000;

/** How many of the latest alerts the history keeps. */
const ALERTS_KEPT = 500;

const DEAD_MAN_AT = 'deadman_at';
const DEAD_MAN_RESULT = 'deadman_result';

/** Records an alert and queues one delivery per webhook: exactly one alert per transition. */
export function raiseAlert(sql: SqlStorage, kind: AlertKind, verdict: ClusterVerdict, now: number, webhooks: Webhook[]): void {
  const id = Number(
    sql
      .exec('INSERT INTO alerts (cluster, kind, at, reasons) VALUES (?, ?, ?, ?) RETURNING id', verdict.cluster, kind, now, JSON.stringify(verdict.reasons))
      .one().id,
  );
  sql.exec('UPDATE clusters SET last_alert_at = ? WHERE cluster = ?', now, verdict.cluster);
  const alert = alertFrom(id, kind, verdict, now);
  webhooks.forEach((hook, target) => {
    const body = hook.kind === 'slack' ? slackPayload(alert) : jsonPayload(alert);
    sql.exec(
      "INSERT OR IGNORE INTO deliveries (alert_id, target, url, kind, body, status, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
      id,
      target,
      hook.url,
      hook.kind,
      body,
      now,
    );
  });
  sql.exec('DELETE FROM alerts WHERE id <= ?', id - ALERTS_KEPT);
}

/** Sends every delivery due at `now`; a failure is retried after `retryBase` doubled per attempt, up to `maxAttempts`. */
export async function deliverDue(sql: SqlStorage, now: number, config: BoardConfig, webhookSecret: string | null): Promise<void> {
  const due = sql.exec("SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY alert_id, target", now).toArray();
  // Claim them before the first await: another round (an alarm while a test or a retry runs one) must not send them too.
  sql.exec("UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at <= ?", now + DELIVERY_LEASE_MS, now);
  for (const d of due) {
    const body = String(d.body);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-sqlitening-alert-id': String(d.alert_id) };
    if (d.kind === 'json' && webhookSecret) Object.assign(headers, await signatureHeaders(webhookSecret, body, now));
    let error: string | null = null;
    try {
      const response = await fetch(String(d.url), { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      await response.body?.cancel();
      if (!response.ok) error = `HTTP ${response.status}`;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const attempts = Number(d.attempts) + 1;
    if (error === null) {
      sql.exec("UPDATE deliveries SET status = 'delivered', attempts = ?, last_error = NULL WHERE alert_id = ? AND target = ?", attempts, d.alert_id, d.target);
    } else {
      const status = attempts >= config.maxAttempts ? 'failed' : 'pending';
      const next = now + config.retryBase * 2 ** (attempts - 1);
      sql.exec(
        'UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ? WHERE alert_id = ? AND target = ?',
        status,
        attempts,
        next,
        error,
        d.alert_id,
        d.target,
      );
    }
  }
}

/** When the earliest pending delivery is due, so the next round can come sooner than `evaluateEvery`. */
export function nextDeliveryAt(sql: SqlStorage): number | null {
  return sql.exec("SELECT min(next_attempt_at) AS at FROM deliveries WHERE status = 'pending'").one().at as number | null;
}

/** Pings the dead man's switch and records when, and what it answered. */
export async function pingDeadMan(sql: SqlStorage, url: string, now: number): Promise<void> {
  let result: string;
  try {
    const response = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(10_000) });
    await response.body?.cancel();
    result = response.ok ? 'ok' : `HTTP ${response.status}`;
  } catch (e) {
    result = e instanceof Error ? e.message : String(e);
  }
  sql.exec(
    'INSERT INTO meta (key, value) VALUES (?, ?), (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    DEAD_MAN_AT,
    new Date(now).toISOString(),
    DEAD_MAN_RESULT,
    result,
  );
}

/** The last ping of the dead man's switch, if any. */
export function readDeadMan(sql: SqlStorage): { lastPingAt: string | null; lastResult: string | null } {
  const meta = new Map(
    sql
      .exec('SELECT key, value FROM meta WHERE key IN (?, ?)', DEAD_MAN_AT, DEAD_MAN_RESULT)
      .toArray()
      .map((r) => [String(r.key), r.value as string | null]),
  );
  return { lastPingAt: meta.get(DEAD_MAN_AT) ?? null, lastResult: meta.get(DEAD_MAN_RESULT) ?? null };
}
