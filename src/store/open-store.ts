import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import { HttpStore } from './http-store.js';
import { LocalStore } from './local-store.js';
import type { ObjectStore } from './object-store.js';

/** Where the store is and how to reach it, as given by flags, environment or action inputs. */
export interface StoreSettings {
  /**
   * `s3://bucket[/prefix]`, `file:///folder` or a folder path, or
   * `http(s)://base-url` (read-only, no credentials).
   */
  url: string;
  /** S3 API endpoint of a non-AWS store (R2, MinIO). */
  endpoint?: string | undefined;
  region?: string | undefined;
  /** Path-style bucket addressing (MinIO and most self-hosted stores). */
  forcePathStyle?: boolean | undefined;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const EXPECTED = 'expected s3://bucket[/prefix], file:///folder, a folder path, or http(s)://base-url';

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}

/**
 * Opens the store a settings object names. Throws `UsageError` naming what
 * was wrong. The AWS SDK is loaded only for s3:// stores: an agent reading
 * over plain HTTPS needs none of it (an optional peer dependency).
 */
export async function openStore(settings: StoreSettings): Promise<ObjectStore> {
  const url = settings.url.trim();
  if (url === '') throw new UsageError(`missing store: ${EXPECTED}`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (settings.endpoint !== undefined && scheme !== 's3') {
    throw new UsageError(`an S3 endpoint (${settings.endpoint}) only applies to an s3:// store, got store ${url}`);
  }
  if (scheme === 's3') {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    if (!BUCKET.test(bucket)) {
      throw new UsageError(`invalid bucket name in store ${url}: expected 3-63 lowercase letters, digits, dots or dashes, got "${bucket}"`);
    }
    if (settings.endpoint !== undefined && !/^https?:\/\/[^/]+/.test(settings.endpoint)) {
      throw new UsageError(`invalid S3 endpoint: expected http(s)://host[:port], got "${settings.endpoint}"`);
    }
    const { S3Store } = await import('./s3-store.js').catch((error: unknown) => {
      // The AWS SDK is an optional peer dependency: apps that only read snapshots over HTTPS never install it.
      if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /@aws-sdk\//.test(String((error as Error).message))) {
        throw new UsageError(`store ${url} needs the AWS SDK, which is not installed: npm install @aws-sdk/client-s3`);
      }
      throw error;
    });
    return new S3Store({
      bucket,
      prefix: slash === -1 ? '' : trimSlashes(rest.slice(slash + 1)),
      endpoint: settings.endpoint,
      region: settings.region ?? (settings.endpoint ? 'auto' : undefined),
      forcePathStyle: settings.forcePathStyle,
    });
  }
  if (scheme === 'http' || scheme === 'https') return new HttpStore({ baseUrl: url });
  if (scheme === 'file') return new LocalStore(fileURLToPath(url));
  if (scheme !== undefined) throw new UsageError(`unsupported store ${url}: ${EXPECTED}`);
  return new LocalStore(path.resolve(url));
}
