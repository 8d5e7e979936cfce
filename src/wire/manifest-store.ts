import { stallTimeoutOf } from '../store/transport.js';
import type { KeyObject } from 'node:crypto';
import { ContractError, type Manifest, MANIFEST_MAX_BYTES, serializeManifest } from '@sqlitening/contract';
import { NotFoundError, SignatureError } from '../errors.js';
import type { TrustedKey } from '../signing/keys.js';
import { openManifest, signManifest } from '../signing/manifest-signature.js';
import type { GetResult, ObjectStore } from '../store/object-store.js';
import { readBounded } from '../transfer/bounded-read.js';
import { withDeadline } from '../transfer/deadline.js';
import { DEFAULT_TRANSFER_LIMITS, type TransferLimits } from '../transfer/transfer-limits.js';

export type ManifestRead =
  | { status: 'ok'; manifest: Manifest; etag: string; signedBy: string | null }
  | { status: 'not-modified'; etag: string }
  | { status: 'missing' };

export interface ReadManifestOptions {
  ifNoneMatch?: string | undefined;
  /** Accept only manifests signed by one of these keys; `null` or absent: signatures are not required. */
  trustedKeys?: readonly TrustedKey[] | null | undefined;
  /**
   * The transfer's deadline and abort signal; a manifest is small, so the whole read (headers and body)
   * must end within twice the store's stall timeout, however long the limits' deadline. @default DEFAULT_TRANSFER_LIMITS
   */
  limits?: TransferLimits | undefined;
}

/**
 * Reads and validates the manifest at `key`: at most MANIFEST_MAX_BYTES,
 * within a stall timeout and an overall deadline, so a store that streams
 * forever or trickles cannot hold the agent. With `trustedKeys`, its
 * signature is checked. A document that fails validation throws a
 * `ContractError` (or `SignatureError`) naming where it was found.
 */
export async function readManifest(store: ObjectStore, key: string, options: ReadManifestOptions = {}): Promise<ManifestRead> {
  const where = `${store.location}/${key}`;
  const limits = options.limits ?? DEFAULT_TRANSFER_LIMITS;
  // A manifest that takes longer than two of the store's stall timeouts is being trickled.
  return withDeadline(`manifest ${where}`, Math.min(limits.deadlineMs, 2 * stallTimeoutOf(store)), limits.signal, async (signal) => {
    let result: GetResult;
    try {
      result = await store.get(key, { ifNoneMatch: options.ifNoneMatch, signal });
    } catch (error) {
      if (error instanceof NotFoundError) return { status: 'missing' };
      throw error;
    }
    if (result.status === 'not-modified') return result;
    const body = await readBounded(result.body, {
      what: `manifest ${where}`,
      maxBytes: MANIFEST_MAX_BYTES,
      signal,
    });
    try {
      const opened = openManifest(body.toString('utf8'), options.trustedKeys ?? null, where);
      return { status: 'ok', manifest: opened.manifest, etag: result.etag, signedBy: opened.signedBy };
    } catch (error) {
      if (error instanceof ContractError && !(error instanceof SignatureError)) throw new ContractError(`${where}: ${error.message}`, error.problems);
      throw error;
    }
  });
}

/** Manifests may change at any time, so caches must revalidate them on every read. */
export const MANIFEST_CACHE_CONTROL = 'no-cache';

/** Writes a manifest, as a signed envelope when `signingKey` is given. */
export async function writeManifest(store: ObjectStore, key: string, manifest: Manifest, signingKey?: KeyObject | null): Promise<void> {
  const text = signingKey ? signManifest(manifest, signingKey) : serializeManifest(manifest);
  await store.put(key, Buffer.from(text), { contentType: 'application/json', cacheControl: MANIFEST_CACHE_CONTROL });
}
