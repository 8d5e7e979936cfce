import { AutoRouter, StatusError, type IRequest } from 'itty-router';
import {
  COMMITS_PATH,
  type CommitsResponse,
  ContractError,
  type Heartbeat,
  HEARTBEAT_LIMITS,
  NAME_PATTERN,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  parseHeartbeats,
  toHex,
} from '@sqlitening/contract';
import { keyStatusRoute, revokeRoute, rotateRoute } from './admin.js';
import { hasBearer } from './bearer.js';
import { readRequestText } from './body.js';
import { BoardQueryError, boardQueryString, parseBoardQuery, type BoardQuery } from './board-query.js';
import type { BoardView } from './board-view.js';
import { checkClusterSignature } from './cluster-auth.js';
import { readToken } from './config.js';
import { logError } from './log.js';
import { clusterStub, indexStub } from './objects.js';
import { badgeSvg, boardHtml, clusterHtml } from './render.js';

export { BoardIndex } from './board-index.js';
export { ClusterBoard } from './cluster-board.js';

/** Reads the body, refusing more than `limit` bytes whatever Content-Length claims, in a way that leaves the connection usable (src/body.ts). */
async function readBounded(request: Request, limit: number): Promise<string> {
  const read = await readRequestText(request, limit);
  if (read.status === 'ok') return read.text;
  if (read.status === 'not-utf8') throw new StatusError(400, 'body is not UTF-8 text');
  throw new StatusError(
    413,
    read.declared === null ? `body exceeds the limit of ${limit} bytes` : `body of ${read.declared} bytes exceeds the limit of ${limit}`,
  );
}

async function ingest(request: IRequest, env: Env): Promise<Response> {
  const body = await readBounded(request, HEARTBEAT_LIMITS.maxBodyBytes);
  let heartbeats: Heartbeat[];
  try {
    heartbeats = parseHeartbeats(body);
  } catch (error) {
    if (error instanceof ContractError) throw new StatusError(400, error.message);
    throw error;
  }
  const clusters = new Set(heartbeats.map((h) => h.cluster));
  if (clusters.size !== 1) throw new StatusError(400, `a batch must come from one cluster, got ${[...clusters].join(', ')}`);
  const [cluster] = clusters as unknown as [string];
  const timestamp = request.headers.get(TIMESTAMP_HEADER);
  const signature = request.headers.get(SIGNATURE_HEADER);
  const check = await checkClusterSignature(env, cluster, { body, timestamp, signature });
  if (check !== 'ok') throw new StatusError(401, `signature ${check}`);
  // Only a signed request reaches the cluster's object: nobody without a secret can create or load one.
  const result = await clusterStub(env, cluster).ingest(cluster, heartbeats, signature!, Number(timestamp));
  if (result.status === 'replayed') throw new StatusError(401, 'signature replayed');
  if (result.status === 'limited') {
    const headers: Record<string, string> = result.retryAfter === null ? {} : { 'retry-after': String(result.retryAfter) };
    return Response.json({ status: 429, error: result.reason }, { status: 429, headers });
  }
  return Response.json({ accepted: result.count }, { status: 202 });
}

const encoder = new TextEncoder();

/** Optional bearer token for every read (`READ_TOKEN`); without it, reads are public. */
async function authorizeRead(request: IRequest, env: Env): Promise<void> {
  const token = readToken(env);
  if (token && !(await hasBearer(request, token))) {
    throw new StatusError(401, 'reads need Authorization: Bearer <token>');
  }
}

/** A response with a strong ETag of its body; 304 when the client has it. */
async function cached(request: IRequest, body: string, type: string, cacheControl: string): Promise<Response> {
  const digest = await crypto.subtle.digest('SHA-256', encoder.encode(body));
  const etag = `"${toHex(new Uint8Array(digest).slice(0, 12))}"`;
  const headers = { etag, 'cache-control': cacheControl, 'content-type': type };
  if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
  return new Response(body, { headers });
}

/** The cluster named in the URL, if the board knows it (reporting or expected); 404 otherwise, before any cluster object is loaded. */
async function knownCluster(env: Env, raw: string | undefined) {
  const id = raw ?? '';
  const line = NAME_PATTERN.test(id) ? await indexStub(env).cluster(id) : null;
  if (!line) throw new StatusError(404, `no cluster ${id}`);
  return line;
}

/** The page of the board a request asks for (`?health=…&after=…`); 400 naming the parameter otherwise. */
function boardQuery(request: IRequest): BoardQuery {
  try {
    return parseBoardQuery(new URL(request.url).searchParams);
  } catch (error) {
    if (error instanceof BoardQueryError) throw new StatusError(400, error.message);
    throw error;
  }
}

/** The board's page as JSON: `next` as the URL of the following page, null on the last. */
function boardJson(view: BoardView): string {
  return JSON.stringify({ ...view, next: view.next ? `/v1/board${boardQueryString(view.next)}` : null });
}

/** An id for the request in logs and in a 500's body: Cloudflare's ray id where there is one. */
function requestId(request: IRequest): string {
  return request.headers.get('cf-ray') ?? crypto.randomUUID();
}

const router = AutoRouter<IRequest, [Env, ExecutionContext]>({
  catch: (error: unknown, request: IRequest, env: Env) => {
    const status = error instanceof StatusError ? error.status : 500;
    if (status !== 500) return Response.json({ status, error: (error as Error).message }, { status });
    const id = requestId(request);
    logError(env, 'request failed', { requestId: id, route: `${request.method} ${request.route ?? new URL(request.url).pathname}` }, error);
    return Response.json({ status, error: 'internal error', requestId: id }, { status });
  },
});

router
  .post('/v1/heartbeats', ingest)
  .get('/v1/board', async (request, env) => {
    await authorizeRead(request, env);
    return cached(request, boardJson(await indexStub(env).view(boardQuery(request))), 'application/json', 'no-cache');
  })
  .get('/v1/clusters/:id', async (request, env) => {
    await authorizeRead(request, env);
    const line = await knownCluster(env, request.params.id);
    const { cluster, alerts } = await clusterStub(env, line.id).view(line.id);
    return cached(request, JSON.stringify({ cluster, alerts }), 'application/json', 'no-cache');
  })
  .get(COMMITS_PATH, async (request, env) => {
    await authorizeRead(request, env);
    const body: CommitsResponse = { commits: await indexStub(env).commits() };
    return cached(request, JSON.stringify(body), 'application/json', 'no-cache');
  })
  .get('/badge/:name', async (request, env) => {
    await authorizeRead(request, env);
    const id = (request.params.name ?? '').replace(/\.svg$/, '');
    const line = NAME_PATTERN.test(id) ? await indexStub(env).cluster(id) : null;
    return cached(request, badgeSvg(id, line ? line.state : 'unknown'), 'image/svg+xml', 'max-age=60');
  })
  .get('/clusters/:id', async (request, env) => {
    await authorizeRead(request, env);
    const line = await knownCluster(env, request.params.id);
    const { cluster, alerts } = await clusterStub(env, line.id).view(line.id);
    return cached(request, clusterHtml(line, cluster, alerts), 'text/html; charset=utf-8', 'no-cache');
  })
  .get('/', async (request, env) => {
    await authorizeRead(request, env);
    return cached(request, boardHtml(await indexStub(env).view(boardQuery(request))), 'text/html; charset=utf-8', 'no-cache');
  })
  .get('/v1/admin/clusters/:id/key', keyStatusRoute)
  .post('/v1/admin/clusters/:id/rotate', rotateRoute)
  .post('/v1/admin/clusters/:id/revoke', revokeRoute);

export default {
  fetch: router.fetch,
  /** The cron trigger only makes sure the index's alarm is running; the index wakes the clusters. */
  async scheduled(_controller: ScheduledController, env: Env): Promise<void> {
    await indexStub(env).ensureAlarm();
  },
} satisfies ExportedHandler<Env>;
