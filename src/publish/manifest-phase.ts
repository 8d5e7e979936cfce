import type { KeyObject } from 'node:crypto';
import { commitPrefix, ContractError, LATEST_KEY, type Manifest } from '@sqlitening/contract';
import { describeError, errorMessage } from '../describe-error.js';
import { SignatureError } from '../errors.js';
import type { TrustedKey } from '../signing/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import { readManifest, writeManifest } from '../wire/manifest-store.js';
import type { PublishRun, PublishTarget } from './publish-run.js';
import { planRetention, type RetentionRule } from './retention.js';

/** Then, store by store, the manifest, `latest.json` and pruning within the commit. */
export async function writeEveryManifest(run: PublishRun): Promise<void> {
  await Promise.all(run.fan.live().map((t) => writeManifestAndPrune(run, t)));
}

async function writeManifestAndPrune(run: PublishRun, t: PublishTarget): Promise<void> {
  const { options, fan } = run;
  const manifest = t.manifest!;
  // The history's chunk lists stay while the manifest names them, also that of a snapshot whose object goes.
  const protectedKeys = new Set([manifest.object.key, ...manifest.history.map((entry) => entry.chunks.key)]);
  const prune = (dryRun: boolean) => fan.retrying(t, 'prune', () => pruneCommit(t.store, options.gitSha, options.retention, run.now(), protectedKeys, dryRun));
  if (t.status === 'dry-run') {
    await fan.attempt(t, 'manifest', async () => {
      t.pruned = await prune(true);
    });
    return;
  }
  await fan.attempt(t, 'manifest', async () => {
    if (options.dryRun) return;
    if (t.status === 'published' || options.signingKey || run.expiresAt) {
      await fan.retrying(t, 'manifest', () => writeManifest(t.store, run.pointerKey, manifest, options.signingKey));
    }
    await fan.retrying(t, 'latest', () => updateLatest(t.store, manifest, options.signingKey, run.trust, run.limits));
    if (t.status === 'published') t.step('manifest', { key: run.pointerKey });
  });
  if (t.failure || t.status !== 'published') return;
  try {
    t.pruned = await prune(false);
  } catch (error) {
    if (run.limits.signal?.aborted) throw error;
    // The snapshot is published; what pruning left is pruned by the next publish.
    t.step('prune-failed', { reason: describeError(error).code, message: errorMessage(error) });
  }
}

/** Points `latest.json` at `manifest` unless it already points at one at least as new (that the publisher can verify). */
async function updateLatest(
  store: ObjectStore,
  manifest: Manifest,
  signingKey: KeyObject | null | undefined,
  trust: TrustedKey[] | null,
  limits: TransferLimits,
): Promise<void> {
  let latest: Manifest | undefined;
  try {
    const read = await readManifest(store, LATEST_KEY, { trustedKeys: trust, limits });
    if (read.status === 'ok') latest = read.manifest;
  } catch (error) {
    // An invalid or unverifiable latest.json is replaced: it is only a bootstrap hint, derived from the commit
    // manifests, and one that a store writer dated 2099 must not stop every later update. A store that fails
    // to answer is another matter, and fails the publish.
    if (!(error instanceof ContractError || error instanceof SignatureError)) throw error;
  }
  const same = latest?.gitSha === manifest.gitSha && latest.database.sha256 === manifest.database.sha256;
  if (latest && (Date.parse(latest.createdAt) > Date.parse(manifest.createdAt) || (same && !signingKey && latest.expiresAt === manifest.expiresAt))) return;
  await writeManifest(store, LATEST_KEY, manifest, signingKey);
}

async function pruneCommit(store: ObjectStore, gitSha: string, rule: RetentionRule, now: Date, protectedKeys: Set<string>, dryRun: boolean): Promise<string[]> {
  const doomed = planRetention(await store.list(commitPrefix(gitSha)), rule, now, protectedKeys);
  if (!dryRun) for (const object of doomed) await store.delete(object.key);
  return doomed.map((object) => object.key);
}
