import { type Heartbeat, HEARTBEAT_LIMITS, HEARTBEAT_VERSION, signatureHeaders } from '@sqlitening/contract';
import type { HealthReport } from './health.js';

export interface BoardSettings {
  /** Base URL of the freshness board, e.g. `https://board.example.workers.dev`. */
  url: string;
  cluster: string;
  pod: string;
  /** The cluster's shared secret; heartbeats are signed with HMAC-SHA256 over timestamp and body. */
  secret: string;
  /** @default 5000 */
  timeoutMs?: number;
}

export function heartbeatFrom(report: HealthReport, board: Pick<BoardSettings, 'cluster' | 'pod'>, now = new Date()): Heartbeat {
  return {
    version: HEARTBEAT_VERSION,
    cluster: board.cluster,
    pod: board.pod,
    sentAt: now.toISOString(),
    appGitSha: report.appGitSha,
    database: report.database ? { gitSha: report.database.gitSha, sha256: report.database.sha256, createdAt: report.database.createdAt } : null,
    lastRunAt: report.lastRunAt,
    lastSuccessAt: report.lastSuccessAt,
    lastError: report.lastError ? `${report.lastError.code}: ${report.lastError.message}`.slice(0, HEARTBEAT_LIMITS.maxErrorLength) : null,
    tasks: report.tasks.slice(0, HEARTBEAT_LIMITS.maxTasks),
    lastInstall: report.lastInstall ? { method: report.lastInstall.method, bytes: report.lastInstall.bytes, at: report.lastInstall.at } : null,
    store: report.store ? { index: report.store.index, location: report.store.location.slice(0, HEARTBEAT_LIMITS.maxStoreLocationLength) } : null,
  };
}

/** Posts one signed heartbeat; throws on a non-2xx answer or after the timeout. */
export async function sendHeartbeat(board: BoardSettings, heartbeat: Heartbeat): Promise<void> {
  const body = JSON.stringify(heartbeat);
  const response = await fetch(`${board.url.replace(/\/+$/, '')}/v1/heartbeats`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(await signatureHeaders(board.secret, body)) },
    body,
    signal: AbortSignal.timeout(board.timeoutMs ?? 5000),
  });
  const text = await response.text().catch(() => '');
  if (!response.ok) throw new Error(`board answered HTTP ${response.status}: ${text.slice(0, 200)}`);
}
