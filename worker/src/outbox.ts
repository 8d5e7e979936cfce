import { signatureHeaders } from '@sqlitening/contract';
import { alertFrom, alertKey, jsonPayload, slackPayload, type AlertKind } from './alerts.js';
import type { BoardConfig, Webhook } from './config.js';
import type { ClusterVerdict } from './rules.js';

/**
 * A cluster's webhook outbox: an alert raised in a round becomes one delivery
 * row per webhook, sent by this and later rounds of the same cluster object
 * with exponential backoff until the receiver answers 2xx or the attempts run out.
 */

/** How long a delivery in flight is reserved for the round sending it. */
const DELIVERY_LEASE_MS = 5 * 60_000;

/** How many of the latest alerts a cluster keeps. */
const ALERTS_KEPT = 500;

/** Records an alert and queues one delivery per webhook: exactly one alert per transition. */
export function raiseAlert(sql: SqlStorage, kind: AlertKind, verdict: ClusterVerdict, now: number, webhooks: Webhook[]): void {
  const id = Number(sql.exec('INSERT INTO alerts (kind, at, reasons) VALUES (?, ?, ?) RETURNING id', kind, now, JSON.stringify(verdict.reasons)).one().id);
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
  sql.exec('DELETE FROM deliveries WHERE alert_id <= ?', id - ALERTS_KEPT);
  sql.exec('DELETE FROM alerts WHERE id <= ?', id - ALERTS_KEPT);
}

/**
 * What a failed request's error says, without the URL: webhook and dead man's
 * switch URLs carry tokens, and delivery errors are shown on the board.
 */
export function describeFailure(error: unknown, url: string): string {
  const text = error instanceof Error ? error.message : String(error);
  let origin = '';
  try {
    origin = new URL(url).origin;
  } catch {
    // not a URL: nothing shorter to show
  }
  return text.replaceAll(url, origin ? `${origin}/…` : '(url)');
}

/** Sends every delivery due at `now`; a failure is retried after `retryBase` doubled per attempt, up to `maxAttempts`. */
export async function deliverDue(sql: SqlStorage, cluster: string, now: number, config: BoardConfig, webhookSecret: string | null): Promise<void> {
  const due = sql.exec("SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY alert_id, target", now).toArray();
  // Claim them before the first await: another round (an alarm while a test or a retry runs one) must not send them too.
  sql.exec("UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at <= ?", now + DELIVERY_LEASE_MS, now);
  for (const d of due) {
    const body = String(d.body);
    const url = String(d.url);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-sqlitening-alert-id': alertKey(cluster, Number(d.alert_id)) };
    if (d.kind === 'json' && webhookSecret) Object.assign(headers, await signatureHeaders(webhookSecret, body, now));
    let error: string | null = null;
    try {
      // Never followed: the signed alert goes to the configured URL only, not wherever that server points.
      const response = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
      await response.body?.cancel();
      if (response.status >= 300 && response.status < 400) error = `HTTP ${response.status}: a redirect, not followed (configure the URL it points to)`;
      else if (!response.ok) error = `HTTP ${response.status}`;
    } catch (e) {
      error = describeFailure(e, url);
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
