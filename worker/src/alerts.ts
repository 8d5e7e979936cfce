import type { ClusterVerdict } from './rules.js';

export type AlertKind = 'stale' | 'recovered' | 'reminder';

export interface Alert {
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

/** The generic webhook body: versioned JSON, signed by the caller. */
export function jsonPayload(alert: Alert): string {
  return JSON.stringify({ type: 'sqlitening.alert', version: 1, ...alert });
}

/** A Slack incoming-webhook body (also understood by Mattermost, Rocket.Chat and Discord's /slack endpoint). */
export function slackPayload(alert: Alert): string {
  const icon = alert.kind === 'recovered' ? ':large_green_circle:' : ':red_circle:';
  const title = {
    stale: `Cluster *${alert.cluster}* is STALE`,
    reminder: `Cluster *${alert.cluster}* is still STALE`,
    recovered: `Cluster *${alert.cluster}* recovered`,
  }[alert.kind];
  const stalePods = alert.pods.filter((p) => p.stale).slice(0, 10);
  const lines = [
    `${icon} ${title}${alert.reasons.length ? `: ${alert.reasons.join('; ')}` : ''}`,
    ...stalePods.map((p) => `• \`${p.pod}\`: ${p.reasons.join('; ')}`),
  ];
  return JSON.stringify({ text: lines.join('\n') });
}
