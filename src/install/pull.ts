import type { Manifest } from '@sqlitening/contract';
import { rollBackInterruptedInstall } from '../sqlite/hot-journal.js';
import type { ObjectStore } from '../store/object-store.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import { fileExists, identifyDestination } from './destination.js';
import { installSnapshot } from './install.js';

export interface PullResult {
  /** `current`: the destination already held these bytes. */
  method: 'delta' | 'full' | 'current';
  bytesReceived: number;
  /** Why an offered delta was not used. */
  fallback: string | null;
}

/**
 * Brings the file at `destination` to the snapshot a manifest names: nothing
 * when it already is that snapshot, else the one install step (a delta when
 * the file is one the manifest has a delta from, else the whole object). For
 * `pull`, which has no state: the destination is identified by reading it.
 */
export async function pullSnapshot(options: {
  store: ObjectStore;
  manifest: Manifest;
  destination: string;
  noDelta: boolean;
  /** The manifest's signature was verified against a trusted key. */
  signed: boolean;
  limits: TransferLimits;
  verify: (file: string) => Promise<void>;
  onProgress?: (bytes: number, total: number) => void;
}): Promise<PullResult> {
  const exists = await fileExists(options.destination);
  // An agent killed mid-install left a hot journal beside it: rolled back first, as its next run would,
  // or the rename below would put the new file under a journal that is played onto it.
  if (exists) await rollBackInterruptedInstall(options.destination);
  const found = exists ? await identifyDestination(options.destination, options.manifest, { noDelta: options.noDelta }) : null;
  try {
    if (found?.current) return { method: 'current', bytesReceived: 0, fallback: null };
    const base = found && { sha256: found.sha256, chunkHashes: async () => found.hashes };
    const installed = await installSnapshot({ ...options, base });
    // `pull` keeps no state: the new file's page hashes are not kept either.
    await installed.chunkHashes?.remove();
    return { method: installed.method, bytesReceived: installed.bytesReceived, fallback: installed.fallback };
  } finally {
    await found?.hashes.remove();
  }
}
