import type { ClusterVerdict } from './rules.js';

export type AlertKind = 'stale' | 'recovered' | 'reminder';

export interface Alert {
  /** Numbered per cluster: `cluster` and `id` together name an alert (the `x-sqlitening-alert-id` header says `<cluster>:<id>`). */
  id: number;
  kind: AlertKind;
  cluster: string;
  at: string;
  reasons: string[];
  pods: Array<{ pod: string; stale: boolean; reasons: string[] }>;
}

export function alertFrom(id: number, kind: AlertKind, verdict: ClusterVerdict, at: number): Alert {
  return {
    id,
    kind,
    cluster: verdict.cluster,
    at: new Date(at).toISOString(),
    reasons: verdict.reasons,
    pods: verdict.pods.map((p) => ({ pod: p.pod, stale: p.stale, reasons: p.reasons })),
  };
}

/** The value of the `x-sqlitening-alert-id` header: unique across clusters, so a receiver can drop duplicates by it alone. */
export function alertKey(cluster: string, id: number): string {
  return `${cluster}:${id}`;
}

/**
 * The generic webhook body: versioned JSON, signed by the caller. Built with
 * `JSON.stringify` only, so every field, whatever it holds, is escaped as JSON.
 */
export function jsonPayload(alert: Alert): string {
  return JSON.stringify({ type: 'sqlitening.alert', version: 1, ...alert });
}

/**
 * Text for Slack's mrkdwn: `&`, `<` and `>` escaped as Slack asks, so no text
 * can become a link, a mention or `<!channel>`
 * (https://api.slack.com/reference/surfaces/formatting#escaping).
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `text` as an mrkdwn code span: escaped, and with no backtick that could close the span early. */
export function mrkdwnCode(text: string): string {
  return `\`${escapeMrkdwn(text).replace(/`/g, "'")}\``;
}

/**
 * A Slack incoming-webhook body (also understood by Mattermost, Rocket.Chat
 * and Discord's /slack endpoint). Names are checked at ingest (no markup
 * characters), and every piece of text is escaped here anyway: rows stored
 * before the check, and reasons, go through the same path.
 */
export function slackPayload(alert: Alert): string {
  const icon = alert.kind === 'recovered' ? ':large_green_circle:' : ':red_circle:';
  const cluster = `*${escapeMrkdwn(alert.cluster)}*`;
  const title = {
    stale: `Cluster ${cluster} is STALE`,
    reminder: `Cluster ${cluster} is still STALE`,
    recovered: `Cluster ${cluster} recovered`,
  }[alert.kind];
  const stalePods = alert.pods.filter((p) => p.stale).slice(0, 10);
  const lines = [
    `${icon} ${title}${alert.reasons.length ? `: ${escapeMrkdwn(alert.reasons.join('; '))}` : ''}`,
    ...stalePods.map((p) => `• ${mrkdwnCode(p.pod)}: ${escapeMrkdwn(p.reasons.join('; '))}`),
  ];
  return JSON.stringify({ text: lines.join('\n') });
}
