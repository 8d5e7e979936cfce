import { StatusError } from 'itty-router';
import { verifySignature, type SignatureCheck } from '@sqlitening/contract';
import { deriveClusterKey } from './cluster-key.js';
import { clusterRootKeys, clusterSecrets } from './config.js';
import { afterRead, isFresh, KEY_RECORDS_MAX_STALE_MS, servesWhileUnread, type KeyCopy } from './key-copy.js';
import { acceptedVersions, initialRecord, type KeyRecord } from './key-record.js';
import { logError } from './log.js';
import { indexStub } from './objects.js';

/*
 * Which secrets may sign a cluster's heartbeats, checked in the worker before
 * any cluster object is loaded: the keys derived from `CLUSTER_ROOT_KEY` (and
 * `CLUSTER_ROOT_KEY_PREVIOUS` while the root is rotated) at the versions the
 * cluster's key record accepts, and the cluster's
 * `CLUSTER_SECRETS` while a deployment moves from them. The key records live
 * in the board's index; each worker isolate keeps a copy and asks the index
 * whether it changed when the copy is no longer fresh (key-copy.ts), so
 * ingest does not call the shared index per heartbeat.
 */

/** What this module reads of the worker's environment. */
type KeyEnv = Pick<Env, 'BOARD' | 'CLUSTER_ROOT_KEY' | 'CLUSTER_ROOT_KEY_PREVIOUS' | 'CLUSTER_SECRETS'> & Parameters<typeof logError>[0];

let copy: KeyCopy | null = null;
/** The generation of the last key change made in this isolate: no copy older than it is used (key-copy.ts). */
let floor = 0;

/** What a heartbeat gets while the key records cannot be read and the isolate's copy is too old (or missing) to serve. */
export const KEYS_UNAVAILABLE = `cluster keys unavailable: the board index cannot be read, and this worker's copy of the key records is missing or older than ${KEY_RECORDS_MAX_STALE_MS / 60_000} minutes; retry later`;

async function refresh(env: KeyEnv, now: number): Promise<ReadonlyMap<string, KeyRecord>> {
  const known = copy?.generation ?? null;
  try {
    copy = afterRead(copy, await indexStub(env).keyRegistry(known), known, floor, now);
  } catch (error) {
    const serving = servesWhileUnread(copy, floor, now);
    logError(
      env,
      `reading the key records from the board index failed; ${serving ? 'using the copy this isolate has' : 'refusing heartbeats'}`,
      { generation: known ?? 'none' },
      error,
    );
    if (!serving) throw new StatusError(503, KEYS_UNAVAILABLE);
    copy = { ...copy!, checkedAt: now };
  }
  // An answer dropped as older than `floor` leaves no usable copy: this request refuses, the next one asks again.
  if (copy === null || copy.generation < floor) throw new StatusError(503, KEYS_UNAVAILABLE);
  return copy.records;
}

/**
 * The key records, from this isolate's copy while it is fresh. Each request
 * that finds it stale asks the index itself (a small call that returns
 * nothing when nothing changed): a request must not wait on another
 * request's call, which the runtime cancels with that request, leaving the
 * waiting one hung.
 */
async function keyRecords(env: KeyEnv, now: number): Promise<ReadonlyMap<string, KeyRecord>> {
  return isFresh(copy, floor, now) ? copy.records : refresh(env, now);
}

/**
 * After an admin change made here (the index's generation after it), so it
 * applies at once in this isolate: the next request asks the index, and no
 * answer older than the change is used, even one already on its way.
 */
export function forgetKeyRecords(generation: number): void {
  floor = Math.max(floor, generation);
}

/** Derived keys, kept per root: deriving costs two HMAC operations, a cache hit none. Cleared past a bound, or when the roots change. */
const derived = new Map<string, string>();
let derivedRoots: readonly string[] = [];
const DERIVED_MAX = 20_000;

async function derivedKey(roots: readonly string[], root: number, cluster: string, version: number): Promise<string> {
  if (roots.length !== derivedRoots.length || roots.some((r, i) => r !== derivedRoots[i]) || derived.size >= DERIVED_MAX) {
    derived.clear();
    derivedRoots = roots;
  }
  const name = `${root}:${version}:${cluster}`;
  let key = derived.get(name);
  if (key === undefined) {
    key = await deriveClusterKey(roots[root]!, cluster, version);
    derived.set(name, key);
  }
  return key;
}

/**
 * Every secret `cluster`'s agents may sign with at `now`: derived keys
 * (current version first), then its `CLUSTER_SECRETS`, but only while the
 * cluster has no key record. Once rotated or revoked, the derived keys alone
 * say what is accepted, so no rotation brings a revoked cluster's old secret
 * back (and the admin route refuses to rotate a cluster still listed, so
 * this drops no agent still on it: admin.ts).
 */
export async function signingSecrets(env: KeyEnv, cluster: string, now: number): Promise<string[]> {
  const roots = clusterRootKeys(env);
  const record = (await keyRecords(env, now)).get(cluster);
  const legacy = record === undefined ? (clusterSecrets(env).get(cluster) ?? []) : [];
  const versions = acceptedVersions(record ?? initialRecord(cluster), now);
  const keys = await Promise.all(roots.flatMap((_, root) => versions.map((version) => derivedKey(roots, root, cluster, version))));
  return [...keys, ...legacy];
}

/**
 * Secrets checked per heartbeat, whatever the cluster: two derived versions
 * (current and previous) from each of two roots (`CLUSTER_ROOT_KEY`, and
 * `CLUSTER_ROOT_KEY_PREVIOUS` during a root rotation), and up to three
 * `CLUSTER_SECRETS`.
 */
export const CANDIDATES = 7;

/** Random per isolate, so nothing can sign with them: they fill a cluster's empty candidate slots. Made on first use (the runtime gives no randomness at load). */
let dummyKeys: string[] | null = null;
const dummies = (): string[] => (dummyKeys ??= Array.from({ length: CANDIDATES + 1 }, () => crypto.randomUUID()));

/**
 * Checks a heartbeat request's signature. The headers and the clock are
 * checked first, the same for every cluster (`missing`, `malformed`,
 * `expired`); then always CANDIDATES secrets, the cluster's own with dummies
 * in the empty slots, each with Web Crypto's constant-time HMAC verify. So a
 * known cluster with a wrong key, an unknown cluster and a revoked one get
 * the same `mismatch` after the same work: nothing to learn by probing names.
 */
export async function checkClusterSignature(
  env: KeyEnv,
  cluster: string,
  request: { body: string; timestamp: string | null; signature: string | null },
  now = Date.now(),
): Promise<SignatureCheck> {
  // A random secret cannot match, so this answers `mismatch` exactly when the headers and the clock are right.
  const shape = await verifySignature({ secret: dummies()[CANDIDATES]!, ...request, now });
  if (shape !== 'mismatch') return shape === 'ok' ? 'mismatch' : shape;
  const own = (await signingSecrets(env, cluster, now)).slice(0, CANDIDATES);
  const candidates = [...own, ...dummies().slice(own.length, CANDIDATES)];
  const checks = await Promise.all(candidates.map((secret) => verifySignature({ secret, ...request, now })));
  return checks.includes('ok') ? 'ok' : 'mismatch';
}
