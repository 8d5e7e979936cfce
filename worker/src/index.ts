import { AutoRouter, StatusError, type IRequest } from 'itty-router';
import {
  ContractError,
  type Heartbeat,
  HEARTBEAT_LIMITS,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  parseHeartbeats,
  toHex,
  verifySignature,
} from '@sqlitening/contract';
import { readSecrets } from './config.js';
import { badgeSvg, boardHtml } from './render.js';

export { Board } from './board.js';

function board(env: Env) {
  return env.BOARD.get(env.BOARD.idFromName('global'));
}

/** Reads the body, refusing more than `limit` bytes whatever Content-Length claims. */
async function readBounded(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > limit) throw new StatusError(413, `body of ${declared} bytes exceeds the limit of ${limit}`);
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new StatusError(413, `body exceeds the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new StatusError(400, 'body is not UTF-8 text');
  }
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
  const secrets = readSecrets(env).clusterSecrets[cluster] ?? [];
  const timestamp = request.headers.get(TIMESTAMP_HEADER);
  const signature = request.headers.get(SIGNATURE_HEADER);
  // An unknown cluster gets the same answer as a bad signature: nothing to learn by probing names.
  let check: Awaited<ReturnType<typeof verifySignature>> = 'mismatch';
  for (const secret of secrets) {
    check = await verifySignature({ secret, body, timestamp, signature });
    if (check !== 'mismatch') break;
  }
  if (check !== 'ok') throw new StatusError(401, `signature ${check}`);
  const result = await board(env).ingest(heartbeats, signature!);
  if (result.status === 'replayed') throw new StatusError(401, 'signature replayed');
  return Response.json({ accepted: result.count }, { status: 202 });
}

/** Optional bearer token for every read. */
function authorizeRead(request: IRequest, env: Env): void {
  const token = readSecrets(env).readToken;
  if (token && request.headers.get('authorization') !== `Bearer ${token}`) {
    throw new StatusError(401, 'reads need Authorization: Bearer <token>');
  }
}

/** A response with a strong ETag of its body; 304 when the client has it. */
async function cached(request: IRequest, body: string, type: string, cacheControl: string): Promise<Response> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body));
  const etag = `"${toHex(new Uint8Array(digest).slice(0, 12))}"`;
  const headers = { etag, 'cache-control': cacheControl, 'content-type': type };
  if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
  return new Response(body, { headers });
}

const router = AutoRouter({
  catch: (error: unknown) => {
    const status = error instanceof StatusError ? error.status : 500;
    const message = error instanceof Error ? error.message : String(error);
    return Response.json({ status, error: status === 500 ? 'internal error' : message }, { status });
  },
});

router
  .post('/v1/heartbeats', ingest)
  .get('/v1/board', async (request, env: Env) => {
    authorizeRead(request, env);
    return cached(request, JSON.stringify(await board(env).view()), 'application/json', 'no-cache');
  })
  .get('/v1/clusters/:id', async (request, env: Env) => {
    authorizeRead(request, env);
    const view = await board(env).view(Date.now(), request.params.id);
    const cluster = view.clusters[0];
    if (!cluster || (cluster.pods.length === 0 && !cluster.expected && view.alerts.length === 0)) throw new StatusError(404, `no cluster ${request.params.id}`);
    return cached(request, JSON.stringify({ cluster, alerts: view.alerts }), 'application/json', 'no-cache');
  })
  .get('/v1/commits', async (request, env: Env) => {
    authorizeRead(request, env);
    return cached(request, JSON.stringify({ commits: await board(env).commits() }), 'application/json', 'no-cache');
  })
  .get('/badge/:name', async (request, env: Env) => {
    authorizeRead(request, env);
    const id = (request.params.name ?? '').replace(/\.svg$/, '');
    const view = await board(env).view(Date.now(), id);
    const cluster = view.clusters[0];
    const known = cluster && (cluster.pods.length > 0 || cluster.expected);
    return cached(request, badgeSvg(id, known ? cluster.state : 'unknown'), 'image/svg+xml', 'max-age=60');
  })
  .get('/', async (request, env: Env) => {
    authorizeRead(request, env);
    return cached(request, boardHtml(await board(env).view()), 'text/html; charset=utf-8', 'no-cache');
  });

export default {
  fetch: router.fetch,
  /** The cron trigger only makes sure the Durable Object's alarm is running. */
  async scheduled(_controller: ScheduledController, env: Env): Promise<void> {
    await board(env).ensureAlarm();
  },
} satisfies ExportedHandler<Env>;
