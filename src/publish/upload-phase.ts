import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Manifest } from '@sqlitening/contract';
import { StoreError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { withDeadline } from '../transfer/deadline.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import { type DeltaBase, type DeltaPlan, prepareDeltaBases, publishDeltas } from './deltas.js';
import { nextHistory } from './history.js';
import type { PublishRun, PublishTarget } from './publish-run.js';
import { DEFAULTS } from '../defaults.js';

/**
 * Whether every store's current manifest already names these bytes, under one creation time and object key,
 * and every store really holds that object: then all are unchanged. Otherwise every store gets the new
 * manifest, also one that holds these bytes already (a mirror that missed a publish): a store left on its
 * older manifest would be refused as a rollback by a pod whose floor came from another store, on the
 * failover the mirror is there for; and a store that lost the object is repaired with the others, not alone
 * (alone it would end with another creation time than they do).
 */
export async function everyStoreUnchanged(run: PublishRun): Promise<boolean> {
  const live = run.fan.live();
  const first = live[0]?.previous;
  const same = live.every(
    ({ previous }) =>
      previous !== undefined &&
      previous.database.sha256 === run.encoded.sha256 &&
      previous.createdAt === first?.createdAt &&
      previous.object.key === first?.object.key,
  );
  if (!same) return false;
  const held = await Promise.all(
    live.map(async (t) => {
      const object = await run.fan.retrying(t, 'head', () => t.store.head(t.previous!.object.key, { signal: run.limits.signal })).catch(() => undefined);
      return object !== undefined && object.size === t.previous!.object.size;
    }),
  );
  if (held.every(Boolean)) return true;
  run.options.onStep?.('repair', { reason: `a store lacks ${first!.object.key}, which its manifest points at: every store gets a new manifest` });
  return false;
}

/** Every store's objects (snapshot, chunk list, deltas), before any store's manifest. */
export async function uploadEveryStore(run: PublishRun, unchanged: boolean): Promise<void> {
  // Upload progress is the sum over the stores being written to.
  const sent = new Map<number, number>();
  let uploading = 0;
  const progress = (t: PublishTarget, bytes: number) => {
    sent.set(t.index, bytes);
    run.options.onProgress?.(
      'upload',
      [...sent.values()].reduce((a, b) => a + b, 0),
      uploading * run.encoded.encodedSize,
    );
  };
  await run.fan.each('upload', async (t) => {
    if (unchanged && t.previous) {
      // The same verified manifest with a new expiry: a scheduled publish keeps the snapshot valid for pods.
      t.manifest = run.expiresAt ? { ...t.previous, expiresAt: run.expiresAt } : t.previous;
      t.status = 'unchanged';
      return;
    }
    // History from this store's own previous manifest: the bases its next publish may make deltas from.
    const manifest: Manifest = { ...run.common, deltas: [], patches: [], history: nextHistory(t.previous, run.encoded.sha256, run.options.retention.keep) };
    t.manifest = manifest;
    const plan = deltaPlan(run, t, manifest);
    // The bases' chunk lists, and any base files proven against them, before the upload: a wrong file fails here.
    const bases: DeltaBase[] = plan.maxShare > 0 ? await run.fan.retrying(t, 'bases', () => prepareDeltaBases(t.store, plan)) : [];
    if (run.options.dryRun) {
      t.status = 'dry-run';
      return;
    }
    uploading++;
    await run.fan.retrying(t, 'upload', () => uploadObject(t.store, manifest, run.encoded.encodedPath, run.limits, (bytes) => progress(t, bytes)));
    t.step('uploaded', { key: manifest.object.key, bytes: run.encoded.encodedSize });
    const chunks = manifest.chunks!;
    const hashes = run.encoded.chunkHashes;
    await run.fan.retrying(t, 'chunks', () => t.store.put(chunks.key, hashes, { contentType: 'application/octet-stream', signal: run.limits.signal }));
    if (bases.length > 0) {
      const { deltas, patches } = await run.fan.retrying(t, 'deltas', () => publishDeltas(t.store, plan, bases));
      manifest.deltas = deltas;
      manifest.patches = patches;
    }
    t.status = 'published';
  });
}

function deltaPlan(run: PublishRun, t: PublishTarget, manifest: Manifest): DeltaPlan {
  const { options, encoded } = run;
  return {
    database: options.database,
    target: { gitSha: options.gitSha, createdAt: run.createdAt, sha256: encoded.sha256 },
    pageSize: run.stats.pageSize,
    hashes: encoded.chunkHashes,
    bases: manifest.history,
    encoding: options.encoding === 'identity' ? 'gzip' : options.encoding,
    level: options.level,
    maxShare: options.deltaMaxShare ?? DEFAULTS.deltaMaxShare,
    fullObjectSize: encoded.encodedSize,
    tempDir: options.tempDir ?? tmpdir(),
    limits: run.limits,
    baseFiles: options.baseFiles,
    onStep: t.step,
  };
}

/** Uploads the snapshot object and confirms its size: the store has the whole object before any manifest names it. */
async function uploadObject(store: ObjectStore, manifest: Manifest, file: string, limits: TransferLimits, onProgress: (bytes: number) => void): Promise<void> {
  const key = manifest.object.key;
  await withDeadline(`upload of ${key}`, limits.deadlineMs, limits.signal, (signal) =>
    store.put(key, createReadStream(file, { highWaterMark: 1024 * 1024 }), {
      contentType: manifest.object.encoding === 'identity' ? 'application/vnd.sqlite3' : 'application/octet-stream',
      onProgress,
      signal,
    }),
  );
  const stored = await store.head(key, { signal: limits.signal });
  if (!stored || stored.size !== manifest.object.size) {
    throw new StoreError(
      `upload of ${key} not confirmed: the store holds ${stored ? `${stored.size} bytes` : 'nothing'}, expected ${manifest.object.size}`,
      true,
    );
  }
}
