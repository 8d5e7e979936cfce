import { access } from 'node:fs/promises';
import type { Manifest } from '@sqlitening/contract';
import { describeError, errorMessage } from '../describe-error.js';
import type { ObjectStore } from '../store/object-store.js';
import { applyDelta } from './apply-delta.js';
import { identifyFile } from './chunk-hashes.js';
import { downloadSnapshot } from './download.js';

export interface PullResult {
  /** `current`: the destination already held these bytes. */
  method: 'delta' | 'full' | 'current';
  bytesReceived: number;
  /** Why an offered delta was not used. */
  fallback: string | null;
}

/**
 * Brings the file at `destination` to the snapshot a manifest names: nothing
 * when it already is that snapshot, a delta when it is one the manifest has a
 * delta from, else the whole object. For `pull`, which has no state: the
 * destination is identified by reading it.
 */
export async function pullSnapshot(options: {
  store: ObjectStore;
  manifest: Manifest;
  destination: string;
  noDelta: boolean;
  verify: (file: string) => Promise<void>;
  onProgress?: (bytes: number, total: number) => void;
}): Promise<PullResult> {
  const { manifest } = options;
  let fallback: string | null = null;
  const exists = await access(options.destination).then(
    () => true,
    () => false,
  );
  if (exists && manifest.chunks && !options.noDelta) {
    const { sha256, hashes } = await identifyFile(options.destination, manifest.chunks.size);
    if (sha256 === manifest.database.sha256) return { method: 'current', bytesReceived: 0, fallback: null };
    const delta = manifest.deltas.find((d) => d.base.sha256 === sha256);
    if (delta) {
      try {
        const applied = await applyDelta({
          store: options.store,
          manifest,
          delta,
          base: options.destination,
          baseHashes: hashes,
          destination: options.destination,
          verify: options.verify,
          onProgress: (bytes) => options.onProgress?.(bytes, delta.size),
        });
        return { method: 'delta', bytesReceived: applied.bytesReceived, fallback: null };
      } catch (error) {
        fallback = `${describeError(error).code}: ${errorMessage(error)}`;
      }
    }
  }
  const { bytesReceived } = await downloadSnapshot({
    store: options.store,
    manifest,
    destination: options.destination,
    verify: options.verify,
    onProgress: (bytes) => options.onProgress?.(bytes, manifest.object.size),
  });
  return { method: 'full', bytesReceived, fallback };
}
