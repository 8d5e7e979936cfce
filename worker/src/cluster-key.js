/*
 * A cluster's heartbeat key, derived from the board's root secret
 * (`CLUSTER_ROOT_KEY`): the board derives it to check a signature, and the
 * operator's script (scripts/cluster-key.js) derives the same key to give a
 * cluster's agents. One root serves any number of clusters, so the board's
 * configuration stays the same size however many clusters report.
 *
 *   key = hex(HMAC-SHA256(root, "cluster-key:v<version>:<cluster>"))
 *
 * The name is in the MAC, so a cluster's key opens only that cluster; the
 * version is too, so rotating a cluster gives it a new key and leaves every
 * other cluster's alone. Cluster names cannot hold ":", so no two (version,
 * name) pairs give the same text. Plain JavaScript with Web Crypto only, so
 * the worker (in workerd) and the script (in Node) run this one module.
 */

import { NAME_PATTERN, NAME_RULE, toHex } from '@sqlitening/contract';

/** The shortest root secret accepted: 32 characters (`node worker/scripts/cluster-key.js root` prints 64 hex digits). */
export const MIN_ROOT_LENGTH = 32;

const encoder = new TextEncoder();

/**
 * The key of `cluster` at `version` (a whole number from 1).
 * @param {string} root the board's root secret
 * @param {string} cluster a cluster name
 * @param {number} version
 * @returns {Promise<string>} 64 lower-case hex digits
 */
export async function deriveClusterKey(root, cluster, version) {
  if (root.length < MIN_ROOT_LENGTH) throw new TypeError(`Expected a root secret of at least ${MIN_ROOT_LENGTH} characters, got ${root.length}`);
  if (!Number.isSafeInteger(version) || version < 1) throw new TypeError(`Expected a key version as a whole number from 1, got ${version}`);
  if (!NAME_PATTERN.test(cluster)) throw new TypeError(`Expected a cluster name of ${NAME_RULE}, got ${JSON.stringify(cluster)}`);
  const key = await crypto.subtle.importKey('raw', encoder.encode(root), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return toHex(await crypto.subtle.sign('HMAC', key, encoder.encode(`cluster-key:v${version}:${cluster}`)));
}
