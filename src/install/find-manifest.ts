import { setTimeout as sleep } from 'node:timers/promises';
import type { Manifest } from '@sqlitening/contract';
import { describeError } from '../describe-error.js';
import { WaitTimeoutError } from '../errors.js';
import type { TrustedKey } from '../signing/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { acceptManifest, type ManifestPolicy } from './accept-manifest.js';
import { readManifest } from '../wire/manifest-store.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';

/** A manifest that was read, verified (signature when keys are given) and accepted by the policy. */
export interface FoundManifest {
  manifest: Manifest;
  etag: string;
  /** The id of the key that signed it; `null` when signatures were not required. */
  signedBy: string | null;
}

export interface FindManifestOptions {
  store: ObjectStore;
  /** `<commit>/manifest.json`, or `latest.json`. */
  key: string;
  /** Accept only manifests signed by one of these keys; `null`: the store is trusted. */
  trustedKeys: readonly TrustedKey[] | null;
  /** What a manifest must be (commit, `--name`, expiry, floor); `now` is taken at each read. */
  policy: Omit<ManifestPolicy, 'now'>;
  limits: TransferLimits;
}

/**
 * The one lookup `pull` and `wait` share: read the manifest at `key` (bounded, signature checked), then
 * refuse it by policy. `null` when the store has no manifest there; a manifest that is there but not
 * acceptable throws its reason (`unsigned-manifest`, `wrong-database`, `manifest-expired`, …).
 */
export async function findManifest(options: FindManifestOptions): Promise<FoundManifest | null> {
  const { store, key } = options;
  const read = await readManifest(store, key, { trustedKeys: options.trustedKeys, limits: options.limits });
  if (read.status === 'missing') return null;
  // No If-None-Match was sent, so "not modified" here is a bug, not an answer to wait on.
  if (read.status !== 'ok') throw new TypeError(`${store.location}/${key}: unexpected ${read.status} without If-None-Match`);
  acceptManifest(read.manifest, { ...options.policy, now: new Date() }, `${store.location}/${key}`);
  return { manifest: read.manifest, etag: read.etag, signedBy: read.signedBy };
}

/** What one poll of {@link waitForManifest} found, for progress lines. */
export type WaitPoll = {
  /** 1 for the first poll. */
  poll: number;
  elapsedMs: number;
  /** Time until the next poll; 0 when this was the last. */
  nextInMs: number;
} & ({ status: 'missing' } | { status: 'failed'; error: unknown });

export interface WaitForManifestOptions extends FindManifestOptions {
  /**
   * Time between polls while the store answers that the manifest is missing. Each wait is drawn from
   * 80-100% of it, so pods that started together do not poll in step, and a manifest is seen at most this
   * long after it appears (plus the read).
   */
  pollMs: number;
  /** Give up this long after the first poll; the poll in flight then still ends within its own limits. */
  timeoutMs: number;
  onPoll?: (poll: WaitPoll) => void;
}

/** The cap of the back-off after store failures: a minute, or the poll interval when that is longer. */
export const WAIT_MAX_BACKOFF_MS = 60_000;

/** Delay after the `failures`-th store failure in a row: doubling from the poll interval up to the cap, with jitter (50-100%). */
export function failureBackoffMs(pollMs: number, failures: number): number {
  const cap = Math.max(pollMs, WAIT_MAX_BACKOFF_MS);
  const full = Math.min(cap, pollMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(full * (0.5 + Math.random() * 0.5));
}

/**
 * Polls the store until the manifest at `key` appears and is accepted, for deploys that start before CI
 * has published their commit's snapshot. Ends:
 * - with the manifest, at the first poll that finds an acceptable one;
 * - at once, with its reason, when a manifest is there but refused (unsigned or foreign when keys are
 *   required, another `--name`, expired, another commit, invalid). Refusal is final: the manifest of a new
 *   commit is written by its publish, so a refused one is a publisher set up differently from this pod or
 *   a store writer's, and waiting would only turn that reason into a timeout minutes later;
 * - with `WaitTimeoutError` (its own exit code) when `timeoutMs` passes and the last poll found no manifest;
 * - with the store's own error when the last poll failed: a store that keeps failing is not a late
 *   snapshot. Store failures before that are polled through, non-retryable ones too, with capped back-off:
 *   a public bucket answers 403 for an object that does not exist yet, just as it does for access refused;
 * - with an abort when `limits.signal` fires (SIGTERM).
 */
export async function waitForManifest(options: WaitForManifestOptions): Promise<FoundManifest & { polls: number; waitedMs: number }> {
  const { signal } = options.limits;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  let failures = 0;
  for (let poll = 1; ; poll++) {
    signal?.throwIfAborted();
    let outcome: { status: 'missing' } | { status: 'failed'; error: unknown };
    try {
      const found = await findManifest(options);
      if (found) return { ...found, polls: poll, waitedMs: Date.now() - started };
      failures = 0;
      outcome = { status: 'missing' };
    } catch (error) {
      // Only the store and the network can get better by waiting; a refusal, bad settings, a bug or an abort cannot.
      if (describeError(error).kind !== 'failed') throw error;
      failures++;
      outcome = { status: 'failed', error };
    }
    const now = Date.now();
    const remaining = deadline - now;
    const delay = outcome.status === 'missing' ? Math.round(options.pollMs * (0.8 + Math.random() * 0.2)) : failureBackoffMs(options.pollMs, failures);
    // The last poll falls on the deadline, so a manifest published just before it still counts.
    const nextInMs = remaining > 0 ? Math.min(delay, remaining) : 0;
    options.onPoll?.({ ...outcome, poll, elapsedMs: now - started, nextInMs });
    if (remaining <= 0) {
      if (outcome.status === 'failed') throw outcome.error;
      throw new WaitTimeoutError(options.key, options.store.location, now - started, poll);
    }
    await sleep(nextInMs, undefined, { signal });
  }
}
