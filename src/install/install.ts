import type { DeltaInfo, Manifest } from '@sqlitening/contract';
import { describeError, errorMessage, isLiveFileFault } from '../describe-error.js';
import { DatabaseError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { applyDelta, type WrittenDelta } from './apply-delta.js';
import { isDeltaFormat } from '../wire/delta-format.js';
import { downloadSnapshot } from '../transfer/download.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import type { PageHashFile } from '../transfer/page-hash-file.js';

/** What the destination holds now, as far as a delta is concerned. */
export interface InstallBase {
  /** SHA-256 of the file at the destination. */
  sha256: string;
  /** Its chunk hashes, proven against a root; null when they cannot be had (then no delta). Called only if a delta applies. */
  chunkHashes: () => Promise<PageHashFile | null>;
  /**
   * Applies a delta to the destination some other way than on a fresh copy of it (the agent: into the
   * live file, journaled); absent: {@link applyDelta}. Either way the destination becomes the new
   * snapshot whole or not at all.
   */
  applyDelta?: (delta: DeltaInfo, baseHashes: PageHashFile) => Promise<WrittenDelta>;
}

export interface InstallOptions {
  store: ObjectStore;
  /** The (verified and accepted) manifest of the snapshot to install. */
  manifest: Manifest;
  /** The file to replace, atomically; it is the delta's base when `base` says what it holds. */
  destination: string;
  /** What the destination holds; null: nothing a delta could start from. */
  base: InstallBase | null;
  /** Always the full object. */
  noDelta: boolean;
  /** The manifest's signature was verified against a trusted key (then a full download hashes once: see `DownloadOptions.signed`). */
  signed: boolean;
  limits: TransferLimits;
  /** Runs on the finished temp file before the rename (the header, `quick_check` if asked). */
  verify: (file: string) => Promise<void>;
  /** Puts a verified full download in place other than by rename (see `DownloadOptions.place`). */
  place?: ((temp: string, chunkHashes: PageHashFile | null) => Promise<void>) | undefined;
  /** Encoded bytes received so far, of `total` (the delta's or the full object's size). */
  onProgress?: ((bytes: number, total: number) => void) | undefined;
  /** A delta was tried and failed; the full object follows. */
  onDeltaFailed?: ((delta: DeltaInfo, error: unknown) => void) | undefined;
}

export interface InstallResult {
  /** `delta`: the base and the changed pages; `full`: the whole object. */
  method: 'delta' | 'full';
  bytesReceived: number;
  /** The new file's chunk hashes, proven by the manifest's root, in a list file beside it (the caller's); null when the manifest has none. */
  chunkHashes: PageHashFile | null;
  /** Why an offered delta was not used. */
  fallback: string | null;
}

/**
 * The delta a file holding the snapshot `baseSha256` should take: the smallest the manifest offers from it
 * in a format this agent reads, format 2 (`patches`) before format 1 (`deltas`) at the same size.
 */
export function chooseDelta(manifest: Manifest, baseSha256: string): DeltaInfo | undefined {
  const offered = [...manifest.patches.filter((patch) => isDeltaFormat(patch.format)), ...manifest.deltas].filter((d) => d.base.sha256 === baseSha256);
  return offered.reduce<DeltaInfo | undefined>((best, d) => (best === undefined || d.size < best.size ? d : best), undefined);
}

/**
 * Brings the destination to the snapshot a manifest names: a delta from what
 * it holds when the manifest offers one, else (or when the delta fails in any
 * way: missing, corrupt, stalled, the wrong base) the whole object, in the
 * same call. Either way the file becomes the new snapshot whole or not at all. The one
 * install step of `sync`, the agent and `pull`.
 */
export async function installSnapshot(options: InstallOptions): Promise<InstallResult> {
  const { manifest, base } = options;
  let fallback: string | null = null;
  const delta = base && !options.noDelta ? chooseDelta(manifest, base.sha256) : undefined;
  if (delta && base) {
    try {
      const baseHashes = await base.chunkHashes();
      if (!baseHashes) throw new DatabaseError('the file at the destination no longer matches its manifest', 'not-a-database');
      const applied = base.applyDelta
        ? await base.applyDelta(delta, baseHashes)
        : await applyDelta({
            store: options.store,
            manifest,
            delta,
            base: options.destination,
            baseHashes,
            destination: options.destination,
            limits: options.limits,
            verify: options.verify,
            onProgress: (bytes) => options.onProgress?.(bytes, delta.size),
          });
      return { method: 'delta', bytesReceived: applied.bytesReceived, chunkHashes: applied.chunkHashes, fallback: null };
    } catch (error) {
      // A fault of the live file, not of the delta: the full object would meet it too.
      if (options.limits.signal?.aborted || isLiveFileFault(error)) throw error;
      fallback = `${describeError(error).code}: ${errorMessage(error)}`;
      options.onDeltaFailed?.(delta, error);
    }
  }
  const { bytesReceived, chunkHashes } = await downloadSnapshot({
    store: options.store,
    manifest,
    destination: options.destination,
    signed: options.signed,
    limits: options.limits,
    verify: options.verify,
    place: options.place,
    keepPageHashes: true,
    onProgress: (bytes) => options.onProgress?.(bytes, manifest.object.size),
  });
  return { method: 'full', bytesReceived, chunkHashes, fallback };
}
