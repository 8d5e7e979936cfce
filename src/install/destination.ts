import { access, stat } from 'node:fs/promises';
import type { Manifest } from '@sqlitening/contract';
import { DOWNLOAD_TEMP_MARK } from '../transfer/download.js';
import { identifyFile } from '../transfer/identify-file.js';
import { hashListBeside, type PageHashFile } from '../transfer/page-hash-file.js';

/** Whether a file is there; a pod whose live file vanished must download again. */
export async function fileExists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Whether two manifests name the same bytes: the same SHA-256 and the same chunk root, the part a signed install proved. */
export function sameSnapshot(a: Manifest, b: Manifest): boolean {
  return a.database.sha256 === b.database.sha256 && a.chunks?.root === b.chunks?.root && a.chunks?.size === b.chunks?.size;
}

/** What a file nobody recorded holds, as far as a manifest needs to know. */
export interface DestinationContents {
  sha256: string;
  /** Its page hashes, in the manifest's chunk size, in a list file beside it (the caller's, to keep or remove): a delta base like any other (the root proves the result). */
  hashes: PageHashFile;
  /** It is the very snapshot the manifest names: the same SHA-256 and chunk root. */
  current: boolean;
}

/**
 * What an existing file the installer knows nothing about holds (one baked into an app's image, a lost
 * state, `pull` into an old copy), found by reading it; the one rule for `sync` and `pull`. Read only when
 * that can help: a delta is offered, or the file may be this very snapshot (same size); `null` otherwise.
 */
export async function identifyDestination(file: string, manifest: Manifest, options: { noDelta: boolean }): Promise<DestinationContents | null> {
  if (!manifest.chunks || options.noDelta) return null;
  const deltaOffered = manifest.deltas.length > 0 || manifest.patches.length > 0;
  if (!deltaOffered && (await stat(file)).size !== manifest.database.size) return null;
  const { sha256, hashes } = await identifyFile(file, manifest.chunks.size, hashListBeside(file, DOWNLOAD_TEMP_MARK));
  try {
    return { sha256, hashes, current: sha256 === manifest.database.sha256 && (await hashes.root()) === manifest.chunks.root };
  } catch (error) {
    await hashes.remove();
    throw error;
  }
}
