import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { type Manifest, manifestKey } from '@sqlitening/contract';
import { SignatureError } from '../errors.js';
import { acceptManifest } from '../install/accept-manifest.js';
import type { TrustedKey } from '../signing/keys.js';
import { downloadSnapshot } from '../transfer/download.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import { readManifest } from '../wire/manifest-store.js';
import type { ObjectStore } from '../store/object-store.js';

export type StartingPoint =
  | {
      kind: 'published';
      file: string;
      manifest: Manifest;
      /** The trusted key whose signature proved the manifest; null when no key was given (the store was trusted). */
      signedBy: string | null;
    }
  | { kind: 'empty'; reason: string };

/** Where a refresh starts: the newest published snapshot of a commit, proven as a pod would prove it. */
export interface PublishedStart {
  store: ObjectStore;
  gitSha: string;
  /** Start only from a manifest signed by one of these keys; null: the store is trusted (nothing will be signed). */
  trustedKeys: readonly TrustedKey[] | null;
  /** Start only from a manifest of this database (publish `--name`); null: any. */
  name: string | null;
  /** Limits of the download. @default DEFAULT_TRANSFER_LIMITS */
  limits?: TransferLimits | undefined;
  /**
   * Every store the snapshot is published to (mirrors), when several: the start is the newest manifest any
   * of them holds that the same keys prove, so a writer of one store cannot roll CI back.
   */
  mirrors?: readonly ObjectStore[] | undefined;
}

/**
 * Fetches the newest published snapshot of `gitSha` into a temp file in
 * `folder`, verified, as the starting point of a data refresh (a long-running
 * updater would keep its database; CI starts from what it published). When the
 * commit has no snapshot yet (its first build), the build starts empty.
 * With trusted keys, a manifest they did not sign is refused, not skipped:
 * building on it would sign a store writer's rows, and starting empty instead
 * would silently drop what earlier builds accumulated. The caller removes `file`.
 */
export async function startFromPublished(from: PublishedStart, folder: string, onProgress?: (bytes: number, total: number) => void): Promise<StartingPoint> {
  const { store, gitSha } = from;
  const key = manifestKey(gitSha);
  let read: Awaited<ReturnType<typeof readManifest>>;
  try {
    read = await readManifest(store, key, { trustedKeys: from.trustedKeys, limits: from.limits });
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
    throw new SignatureError(
      `refusing to build on ${store.location}/${key}: ${error.message}. If the store holds unsigned snapshots because signing was turned on just now, build once from an empty database (the Action's start-from: fresh, or build without --from published) and publish it signed`,
      error.code as ConstructorParameters<typeof SignatureError>[1],
    );
  }
  const policy = { appGitSha: gitSha, databaseName: from.name, floor: null, allowRollback: false, now: new Date() };
  // The same policy as a pod's: the commit, the name, and the signed expiry, so that a store writer cannot
  // put back an older, expired manifest for CI to build on and sign as new. (A pod's floor, the newest it
  // accepted, has no counterpart in a stateless CI run: the expiry bounds how old a start can be.)
  let chosen: { store: ObjectStore; manifest: Manifest; signedBy: string | null } | null = null;
  if (read.status === 'ok') {
    acceptManifest(read.manifest, policy, `${store.location}/${key}`);
    chosen = { store, manifest: read.manifest, signedBy: read.signedBy };
  }
  // With several stores, the newest manifest any of them holds that the same keys prove and the same policy
  // accepts: the writer of one store cannot roll CI back, and a store that missed a publish is caught up.
  for (const mirror of from.mirrors && from.mirrors.length > 1 ? from.mirrors : []) {
    const theirs = await readManifest(mirror, key, { trustedKeys: from.trustedKeys, limits: from.limits }).catch(() => null);
    if (theirs?.status !== 'ok') continue; // a store that does not answer, or holds nothing these keys prove
    try {
      acceptManifest(theirs.manifest, policy, `${mirror.location}/${key}`);
    } catch {
      continue;
    }
    if (!chosen || Date.parse(theirs.manifest.createdAt) > Date.parse(chosen.manifest.createdAt)) {
      chosen = { store: mirror, manifest: theirs.manifest, signedBy: theirs.signedBy };
    }
  }
  if (!chosen) return { kind: 'empty', reason: `no snapshot of ${gitSha.slice(0, 12)} in ${store.location} yet` };
  const { manifest } = chosen;
  const file = path.join(folder, `.sqlitening-start-${randomBytes(4).toString('hex')}.db`);
  await downloadSnapshot({
    store: chosen.store,
    manifest,
    destination: file,
    limits: from.limits,
    onProgress: (bytes) => onProgress?.(bytes, manifest.object.size),
  });
  return { kind: 'published', file, manifest, signedBy: chosen.signedBy };
}
