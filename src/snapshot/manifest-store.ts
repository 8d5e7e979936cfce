import { ContractError, type Manifest, parseManifestJson, serializeManifest } from '@sqlitening/contract';
import { NotFoundError } from '../errors.js';
import { type GetResult, readText, type ObjectStore } from '../store/object-store.js';

export type ManifestRead = { status: 'ok'; manifest: Manifest; etag: string } | { status: 'not-modified'; etag: string } | { status: 'missing' };

/**
 * Reads and validates the manifest at `key`. A document that fails validation
 * throws a `ContractError` naming where it was found.
 */
export async function readManifest(store: ObjectStore, key: string, options: { ifNoneMatch?: string; signal?: AbortSignal } = {}): Promise<ManifestRead> {
  let result: GetResult;
  try {
    result = await store.get(key, options);
  } catch (error) {
    if (error instanceof NotFoundError) return { status: 'missing' };
    throw error;
  }
  if (result.status === 'not-modified') return result;
  const text = await readText(result.body);
  try {
    return { status: 'ok', manifest: parseManifestJson(text), etag: result.etag };
  } catch (error) {
    if (error instanceof ContractError) {
      throw new ContractError(`${store.location}/${key}: ${error.message}`, error.problems);
    }
    throw error;
  }
}

/** Manifests may change at any time, so caches must revalidate them on every read. */
export const MANIFEST_CACHE_CONTROL = 'no-cache';

export async function writeManifest(store: ObjectStore, key: string, manifest: Manifest): Promise<void> {
  await store.put(key, Buffer.from(serializeManifest(manifest)), {
    contentType: 'application/json',
    cacheControl: MANIFEST_CACHE_CONTROL,
  });
}
