import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { type Manifest, manifestKey } from '@sqlitening/contract';
import { downloadSnapshot } from '../snapshot/download.js';
import { readManifest } from '../snapshot/manifest-store.js';
import type { ObjectStore } from '../store/object-store.js';

export type StartingPoint = { kind: 'published'; file: string; manifest: Manifest } | { kind: 'empty'; reason: string };

/**
 * Fetches the newest published snapshot of `gitSha` into a temp file in
 * `folder`, verified, as the starting point of a data refresh (a long-running
 * updater would keep its database; CI starts from what it published). When the
 * commit has no snapshot yet (its first build), the build starts empty.
 * The caller removes `file` when done.
 */
export async function startFromPublished(
  store: ObjectStore,
  gitSha: string,
  folder: string,
  onProgress?: (bytes: number, total: number) => void,
): Promise<StartingPoint> {
  const read = await readManifest(store, manifestKey(gitSha));
  if (read.status !== 'ok') {
    return { kind: 'empty', reason: `no snapshot of ${gitSha.slice(0, 12)} in ${store.location} yet` };
  }
  const file = path.join(folder, `.sqlitening-start-${randomBytes(4).toString('hex')}.db`);
  await downloadSnapshot({
    store,
    manifest: read.manifest,
    destination: file,
    onProgress: (bytes) => onProgress?.(bytes, read.manifest.object.size),
  });
  return { kind: 'published', file, manifest: read.manifest };
}
