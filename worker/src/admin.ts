import { StatusError, type IRequest } from 'itty-router';
import { NAME_PATTERN, NAME_RULE, UsageError, parseDuration } from '@sqlitening/contract';
import { forgetKeyRecords } from './cluster-auth.js';
import { adminToken } from './config.js';
import type { KeyStatus } from './key-record.js';
import { indexStub } from './objects.js';
import { sameSecret } from './same-secret.js';

/*
 * The admin routes: an operator's commands for cluster keys (README,
 * "Cluster keys"). The board never holds a key, only which versions of a
 * cluster's derived key it accepts; `node worker/scripts/cluster-key.js`
 * prints the key of a version from the root secret.
 *   GET  /v1/admin/clusters/:id/key                    the versions accepted
 *   POST /v1/admin/clusters/:id/rotate?overlap=24h     next version; the current one stays accepted for the overlap
 *   POST /v1/admin/clusters/:id/revoke                 no key of the cluster is accepted until it is rotated
 */

/** How long the key in use stays accepted after a rotation, unless `?overlap=` says otherwise. */
export const DEFAULT_OVERLAP = '24h';
/** The longest overlap a rotation may ask for: an old key must not stay valid forever by mistake. */
const MAX_OVERLAP_MS = 30 * 86_400_000;

async function authorizeAdmin(request: IRequest, env: Env): Promise<void> {
  const token = adminToken(env);
  if (!token) throw new StatusError(404, 'the admin routes are off: set the ADMIN_TOKEN secret to use them');
  if (!(await sameSecret(request.headers.get('authorization') ?? '', `Bearer ${token}`))) {
    throw new StatusError(401, 'admin routes need Authorization: Bearer <ADMIN_TOKEN>');
  }
}

function clusterParam(request: IRequest): string {
  const id = request.params.id ?? '';
  if (!NAME_PATTERN.test(id)) throw new StatusError(400, `expected a cluster name (${NAME_RULE}), got ${JSON.stringify(id.slice(0, 64))}`);
  return id;
}

function overlapParam(request: IRequest): number {
  const text = new URL(request.url).searchParams.get('overlap') ?? DEFAULT_OVERLAP;
  let ms: number;
  try {
    ms = parseDuration(text, 'overlap');
  } catch (error) {
    if (error instanceof UsageError) throw new StatusError(400, error.message);
    throw error;
  }
  if (ms > MAX_OVERLAP_MS) throw new StatusError(400, `invalid overlap: expected at most 30d, got ${JSON.stringify(text)}`);
  return ms;
}

/** What a key route answers: the record, and the command that prints the key of its current version. */
function answer(status: KeyStatus): Response {
  const print = `CLUSTER_ROOT_KEY=… node worker/scripts/cluster-key.js key ${status.cluster} --version ${status.version}`;
  return Response.json({ ...status, printKey: status.revokedAt === null ? print : null });
}

export async function keyStatusRoute(request: IRequest, env: Env): Promise<Response> {
  await authorizeAdmin(request, env);
  return answer(await indexStub(env).keyStatus(clusterParam(request)));
}

export async function rotateRoute(request: IRequest, env: Env): Promise<Response> {
  await authorizeAdmin(request, env);
  const status = await indexStub(env).rotateKey(clusterParam(request), overlapParam(request));
  forgetKeyRecords();
  return answer(status);
}

export async function revokeRoute(request: IRequest, env: Env): Promise<Response> {
  await authorizeAdmin(request, env);
  const status = await indexStub(env).revokeKey(clusterParam(request));
  forgetKeyRecords();
  return answer(status);
}
