import { errorMessage } from '../describe-error.js';
import { escapeHtml, formatAge, formatBytes } from '@sqlitening/contract';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthReport } from './health.js';
import type { AgentMetrics } from './metrics.js';

export interface HealthServerOptions {
  report: () => Promise<HealthReport>;
  metrics: AgentMetrics;
  /** Whether a Host header may reach the endpoints. */
  hostAllowed: (host: string | undefined) => boolean;
  /** Whether a TCP peer address may reach the endpoints. @default any */
  peerAllowed?: (address: string | undefined) => boolean;
  limits?: HealthServerLimits;
}

/**
 * How much of the process the health server may take. Every open connection
 * holds a file descriptor, and the sync needs descriptors too (the store
 * connection, the temp file, SQLite's checks): the connection cap bounds what
 * the health server can take, whatever its clients do, and the timeouts cut
 * clients that send slowly or not at all, so probes get through again soon.
 */
export interface HealthServerLimits {
  /** Connections open at once; further ones are closed as they arrive (and counted in the metrics). @default 64 */
  maxConnections?: number;
  /** Time a client has to send a request's headers; also how long a connection may stay silent. @default 5000 */
  headersTimeoutMs?: number;
  /** Time a client has to send a whole request; at least `headersTimeoutMs`. @default 10000 */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this. @default 5000 */
  keepAliveTimeoutMs?: number;
}

export const DEFAULT_HEALTH_LIMITS: Required<HealthServerLimits> = {
  maxConnections: 64,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5000,
};

function checkedLimits(limits: HealthServerLimits = {}): Required<HealthServerLimits> {
  const merged = { ...DEFAULT_HEALTH_LIMITS, ...limits };
  for (const [name, value] of Object.entries(merged)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`Expected \`${name}\` to be an integer >= 1, got ${value}`);
  }
  if (merged.headersTimeoutMs > merged.requestTimeoutMs) {
    throw new TypeError(`Expected \`headersTimeoutMs\` (${merged.headersTimeoutMs}) to be at most \`requestTimeoutMs\` (${merged.requestTimeoutMs})`);
  }
  return merged;
}

/** The values of every Host header, from the raw list: Node keeps only the first in `req.headers`. */
function hostHeaders(req: IncomingMessage): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') values.push(req.rawHeaders[i + 1]!);
  return values;
}

/** Seconds as a short age; `never` for a task that has not succeeded. */
const age = (seconds: number | null | undefined): string => (seconds === null || seconds === undefined ? 'never' : formatAge(seconds * 1000));

/** A store by its place among the agent's stores (0 is the first) and its location. */
const storeText = (store: { index: number; location: string }): string => `store ${store.index} (<code>${escapeHtml(store.location)}</code>)`;

/** The same report as `/healthz` JSON, as a page for people. */
export function healthHtml(report: HealthReport): string {
  const rows = report.tasks
    .map(
      (t) =>
        `<tr class="${t.ok ? 'ok' : 'bad'}"><td>${escapeHtml(t.name)}</td><td>${age(t.ageSeconds)}</td><td>${age(t.limitSeconds)}</td><td>${t.ok ? 'ok' : 'STALE'}</td></tr>`,
    )
    .join('');
  const db = report.database;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${report.ok ? 'healthy' : 'STALE'} · sqlitening agent</title>
<style>body{font:15px system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse}td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}
.ok td:last-child{color:#176b2c}.bad td:last-child{color:#b00020;font-weight:600}code{font-size:13px}</style></head><body>
<h1>${report.ok ? '✅ healthy' : '❌ stale'}</h1>
<p>App commit <code>${escapeHtml(report.appGitSha ?? 'any (development)')}</code><br>
Database ${db ? `commit <code>${escapeHtml(db.gitSha)}</code>, sha256 <code>${escapeHtml(db.sha256.slice(0, 16))}…</code>, built ${escapeHtml(db.createdAt)} (${age(db.ageSeconds)} ago)` : '<strong>none installed</strong>'}<br>
Last run ${escapeHtml(report.lastRunAt ?? 'never')}, last success ${escapeHtml(report.lastSuccessAt ?? 'never')}
${report.lastInstall ? `<br>Last install: ${escapeHtml(report.lastInstall.method)}, ${escapeHtml(formatBytes(report.lastInstall.bytes))} from ${report.lastInstall.store ? storeText(report.lastInstall.store) : 'the store'} (${escapeHtml(report.lastInstall.at)})${report.lastInstall.fallback ? `; the delta failed: ${escapeHtml(report.lastInstall.fallback)}` : ''}` : ''}
${report.store && report.store.index > 0 ? `<br>Reading from ${storeText(report.store)}, not the first store` : ''}
${report.lastError ? `<br>Last error: <code>${escapeHtml(report.lastError.code)}</code> ${escapeHtml(report.lastError.message)} (${escapeHtml(report.lastError.at)})` : ''}</p>
<table><thead><tr><th>task</th><th>age</th><th>limit</th><th>state</th></tr></thead><tbody>${rows}</tbody></table></body></html>`;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The agent's HTTP endpoints:
 * - `/healthz`: freshness, 200 when every task is within its limit, else 500 (JSON, or HTML for browsers);
 * - `/livez`: the process answers;
 * - `/readyz`: a valid database is installed (stale or not);
 * - `/metrics`: Prometheus text.
 * A peer outside the allowed ranges gets 403; a request with no Host header, with
 * more than one (RFC 9110), or whose Host is neither an allowed name nor inside
 * an allowed range gets 400.
 */
export function createHealthServer(options: HealthServerOptions): Server {
  const limits = checkedLimits(options.limits);
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often Node looks for requests past their timeouts (default 30 s, which would let a trickle live 35 s).
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
    (req: IncomingMessage, res: ServerResponse) => {
      void handle(options, req, res).catch((error: unknown) => {
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${errorMessage(error)}\n`);
        else res.destroy();
      });
    },
  );
  // The cap keeps the sync able to open files and sockets whatever the health server's clients do: its
  // connections take at most this many of the process's descriptors (often 1024 in all).
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => options.metrics.droppedConnections.inc());
  return server;
}

async function handle(options: HealthServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const peer = req.socket.remoteAddress;
  if (options.peerAllowed && !options.peerAllowed(peer)) {
    send(res, 403, 'text/plain; charset=utf-8', `peer not allowed: ${peer ?? '(unknown)'}\n`);
    return;
  }
  const hosts = hostHeaders(req);
  if (hosts.length > 1) {
    send(res, 400, 'text/plain; charset=utf-8', `more than one Host header (${hosts.length})\n`);
    return;
  }
  if (!options.hostAllowed(hosts[0])) {
    send(res, 400, 'text/plain; charset=utf-8', `host not allowed: ${hosts[0] ?? '(none)'}\n`);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  const url = new URL(req.url ?? '/', 'http://agent');
  switch (url.pathname) {
    case '/livez':
      send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      return;
    case '/readyz': {
      const report = await options.report();
      send(res, report.ready ? 200 : 503, 'text/plain; charset=utf-8', report.ready ? 'ready\n' : 'no database installed yet\n');
      return;
    }
    case '/healthz': {
      const report = await options.report();
      const status = report.ok ? 200 : 500;
      const wantsHtml = /text\/html/.test(req.headers.accept ?? '') && url.searchParams.get('format') !== 'json';
      if (wantsHtml) send(res, status, 'text/html; charset=utf-8', healthHtml(report));
      else send(res, status, 'application/json', `${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    case '/metrics':
      send(res, 200, options.metrics.registry.contentType, await options.metrics.registry.metrics());
      return;
    default:
      send(res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /livez, /readyz or /metrics\n');
  }
}

/** Listens on `host:port` (port 0 picks one); resolves with the bound address. */
export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
