import { verifySignature, type SignatureCheck } from '@sqlitening/contract';
import { deriveClusterKey } from './cluster-key.js';
import { clusterRootKey, clusterSecrets } from './config.js';
import { acceptedVersions, initialRecord, type KeyRecord } from './key-record.js';
import type { KeyRegistry } from './key-rows.js';
import { logError } from './log.js';
import { indexStub } from './objects.js';

/*
 * Which secrets may sign a cluster's heartbeats, checked in the worker before
 * any cluster object is loaded: the keys derived from `CLUSTER_ROOT_KEY` at
 * the versions the cluster's key record accepts, and the cluster's
 * `CLUSTER_SECRETS` while a deployment moves from them. A revoked cluster has
 * none. The key records live in the board's index; each worker isolate keeps
 * a copy and asks the index at most every KEY_RECORDS_MAX_AGE_MS whether it
 * changed (a small call that returns nothing when it did not), so ingest does
 * not call the shared index per heartbeat.
 */

/** How long an isolate's copy of the key records is trusted: a rotation or revocation reaches every isolate within this. */
export const KEY_RECORDS_MAX_AGE_MS = 10_000;

/** What this module reads of the worker's environment. */
type KeyEnv = Pick<Env, 'BOARD' | 'CLUSTER_ROOT_KEY' | 'CLUSTER_SECRETS'> & Parameters<typeof logError>[0];

interface Copy {
  generation: number;
  records: Map<string, KeyRecord>;
  checkedAt: number;
}

let copy: Copy | null = null;

async function refresh(env: KeyEnv, now: number): Promise<Copy> {
  let fresh: KeyRegistry | null;
  try {
    fresh = await indexStub(env).keyRegistry(copy?.generation ?? null);
  } catch (error) {
    // Heartbeats go on with the records this isolate has (a dropped heartbeat means false alerts); asked again in a while.
    if (copy === null) throw error;
    logError(env, 'reading the key records from the board index failed; using the copy this isolate has', { generation: copy.generation }, error);
    copy = { ...copy, checkedAt: now };
    return copy;
  }
  // Requests refresh side by side: an answer older than the copy another one stored meanwhile is dropped.
  if (fresh === null || (copy !== null && fresh.generation < copy.generation)) {
    copy = copy === null ? { generation: 0, records: new Map(), checkedAt: now } : { ...copy, checkedAt: now };
  } else {
    copy = { generation: fresh.generation, records: new Map(fresh.records.map((r) => [r.cluster, r])), checkedAt: now };
  }
  return copy;
}

/**
 * The key records, from this isolate's copy while it is fresh enough. Each
 * request that finds it stale asks the index itself (a small call): a
 * request must not wait on another request's call, which the runtime
 * cancels with that request, leaving the waiting one hung.
 */
async function keyRecords(env: KeyEnv, now: number): Promise<Map<string, KeyRecord>> {
  if (copy !== null && now - copy.checkedAt < KEY_RECORDS_MAX_AGE_MS) return copy.records;
  return (await refresh(env, now)).records;
}

/** Drops this isolate's copy (after an admin change made here, so it applies at once in this isolate). */
export function forgetKeyRecords(): void {
  copy = null;
}

/** Derived keys, kept per root: deriving costs two HMAC operations, a cache hit none. Cleared past a bound. */
const derived = new Map<string, string>();
let derivedRoot: string | null = null;
const DERIVED_MAX = 20_000;

async function derivedKey(root: string, cluster: string, version: number): Promise<string> {
  if (root !== derivedRoot || derived.size >= DERIVED_MAX) {
    derived.clear();
    derivedRoot = root;
  }
  const name = `${version}:${cluster}`;
  let key = derived.get(name);
  if (key === undefined) {
    key = await deriveClusterKey(root, cluster, version);
    derived.set(name, key);
  }
  return key;
}

/** Every secret `cluster`'s agents may sign with at `now`: derived keys (current version first), then its `CLUSTER_SECRETS`. */
export async function signingSecrets(env: KeyEnv, cluster: string, now: number): Promise<string[]> {
  const root = clusterRootKey(env);
  const legacy = clusterSecrets(env).get(cluster) ?? [];
  const record = (await keyRecords(env, now)).get(cluster) ?? initialRecord(cluster);
  if (record.revokedAt !== null) return [];
  const keys = root ? await Promise.all(acceptedVersions(record, now).map((version) => derivedKey(root, cluster, version))) : [];
  return [...keys, ...legacy];
}

/**
 * Checks a heartbeat request's signature against every secret of its
 * cluster. An unknown or revoked cluster has none and gets `mismatch`, the
 * same answer as a wrong key: nothing to learn by probing names. Each check
 * is Web Crypto's constant-time HMAC verify.
 */
export async function checkClusterSignature(
  env: KeyEnv,
  cluster: string,
  request: { body: string; timestamp: string | null; signature: string | null },
  now = Date.now(),
): Promise<SignatureCheck> {
  let check: SignatureCheck = 'mismatch';
  for (const secret of await signingSecrets(env, cluster, now)) {
    check = await verifySignature({ secret, ...request, now });
    if (check !== 'mismatch') break;
  }
  return check;
}
