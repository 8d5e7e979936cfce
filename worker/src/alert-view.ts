import type { AlertKind } from './alerts.js';
import { isoTime } from './iso-time.js';

/** An alert as the board shows it, with what became of each webhook delivery. */
export interface AlertView {
  /** Numbered per cluster. */
  id: number;
  cluster: string;
  kind: AlertKind;
  at: string;
  reasons: string[];
  deliveries: Array<{ target: number; status: string; attempts: number; lastError: string | null }>;
}

/** A cluster object's latest `limit` alerts, newest first, with their deliveries (the outbox's rows, outbox.ts). */
export function alertViews(sql: SqlStorage, cluster: string, limit: number): AlertView[] {
  return sql
    .exec('SELECT * FROM alerts ORDER BY id DESC LIMIT ?', limit)
    .toArray()
    .map((r) => ({
      id: Number(r.id),
      cluster,
      kind: r.kind as AlertKind,
      at: isoTime(Number(r.at))!,
      reasons: JSON.parse(String(r.reasons)) as string[],
      deliveries: sql
        .exec('SELECT target, status, attempts, last_error FROM deliveries WHERE alert_id = ? ORDER BY target', r.id)
        .toArray()
        .map((d) => ({ target: Number(d.target), status: String(d.status), attempts: Number(d.attempts), lastError: d.last_error as string | null })),
    }));
}
