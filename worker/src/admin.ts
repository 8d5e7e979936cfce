import { StatusError, type IRequest } from 'itty-router';
import { NAME_PATTERN, NAME_RULE, UsageError, parseDuration } from '@sqlitening/contract';
import { hasBearer } from './bearer.js';
import { forgetKeyRecords } from './cluster-auth.js';
import { adminToken, clusterSecrets, SettingsError } from './config.js';
import type { KeyStatus } from './key-record.js';
import type { KeyChange } from './key-rows.js';
import { logError } from './log.js';
import { indexStub } from './objects.js';

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

/** The admin token; a token too short to use answers 503 with what is wrong with it (never its value), as the log says. */
function configuredToken(env: Env): string | null {
  try {
    return adminToken(env);
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    logError(env, 'the admin routes are off: ADMIN_TOKEN cannot be used', {}, error);
    throw new StatusError(503, error.message);
  }
}

async function authorizeAdmin(request: IRequest, env: Env): Promise<void> {
  const token = configuredToken(env);
  if (!token) throw new StatusError(404, 'the admin routes are off: set the ADMIN_TOKEN secret to use them');
  if (!(await hasBearer(request, token))) {
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

/** Applies a change at once in this isolate (cluster-auth.ts), and answers it. */
function applied(change: KeyChange): Response {
  forgetKeyRecords(change.generation);
  return answer(change.status);
}

/**
 * A cluster still in `CLUSTER_SECRETS` is not rotated: once a cluster has a
 * key record its `CLUSTER_SECRETS` entry is no longer accepted
 * (cluster-auth.ts, so a rotation never brings a revoked cluster's old
 * secret back), and rotating it mid-migration would cut off the agents still
 * signing with that entry. Refusing here keeps the migration free of dropped
 * heartbeats: finish it (remove the entry), then rotate. Revoking is not
 * refused: it is meant to cut agents off.
 */
function refuseListed(env: Env, cluster: string): void {
  if (clusterSecrets(env).has(cluster)) {
    throw new StatusError(
      409,
      `${cluster} is still in CLUSTER_SECRETS: move its agents to its derived key and remove it from CLUSTER_SECRETS first (README, "Moving from CLUSTER_SECRETS"); once rotated, its CLUSTER_SECRETS entry is no longer accepted`,
    );
  }
}

export async function rotateRoute(request: IRequest, env: Env): Promise<Response> {
  await authorizeAdmin(request, env);
  const cluster = clusterParam(request);
  const overlap = overlapParam(request);
  refuseListed(env, cluster);
  return applied(await indexStub(env).rotateKey(cluster, overlap));
}

export async function revokeRoute(request: IRequest, env: Env): Promise<Response> {
  await authorizeAdmin(request, env);
  return applied(await indexStub(env).revokeKey(clusterParam(request)));
}
