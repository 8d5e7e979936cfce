import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HEARTBEAT_LIMITS } from '@sqlitening/contract';
import { parseBoolean } from '../values.js';
import { UsageError } from '../errors.js';
import { redactLocation } from '../redact.js';
import { LocalStore } from './local-store.js';
import type { ObjectStore } from './object-store.js';

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * One store value (a `--store`, SQLITENING_STORE, a line of the Action's `store`) as store URLs: several
 * when it is URLs separated by white space (an environment variable holds one string), else one store,
 * which may be a folder path with spaces.
 */
function splitStores(value: string): string[] {
  const parts = value.trim().split(/\s+/);
  return parts.length > 1 && parts.every((part) => URL_SCHEME.test(part)) ? parts : [value.trim()];
}

/**
 * Every store named, in order (the first the preferred one), each with its settings: `defaults`
 * (endpoint, region, path style: flags or the Action's inputs) apply to every s3:// store, whose URL's own
 * parameters (`?endpoint=…`, read by `openStore`) override them. One store keeps the defaults as they are
 * (an endpoint for a store that is not s3:// is refused by `openStore`). The CLI and the Action both read
 * their stores here.
 */
export function storeSettingsList(values: readonly string[], defaults: Omit<StoreSettings, 'url'>): StoreSettings[] {
  const urls = values.flatMap(splitStores).filter((url) => url !== '');
  if (urls.length <= 1) return [{ url: urls[0] ?? '', ...defaults }];
  if (urls.length > HEARTBEAT_LIMITS.maxStores) {
    // Heartbeats name the store by its place, and the board takes places up to this.
    throw new UsageError(`too many stores: at most ${HEARTBEAT_LIMITS.maxStores}, got ${urls.length}`);
  }
  const isS3 = (url: string) => /^s3:\/\//i.test(url);
  if (defaults.endpoint !== undefined && !urls.some(isS3)) {
    throw new UsageError(`an S3 endpoint (${defaults.endpoint}) only applies to s3:// stores, and none of ${urls.map(redactLocation).join(', ')} is one`);
  }
  const seen = new Set<string>();
  for (const url of urls) {
    if (seen.has(url)) throw new UsageError(`store ${redactLocation(url)} is given twice; each mirror once`);
    seen.add(url);
  }
  return urls.map((url) => (isS3(url) ? { url, ...defaults } : { url }));
}

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
  /** The store's transport limit (see `StoreTransport`). @default DEFAULTS.stallTimeoutMs */
  stallTimeoutMs?: number | undefined;
  /** A profile of the AWS SDK's shared config and credentials files, for this store's credentials. */
  profile?: string | undefined;
  /** This store's credentials, instead of the AWS SDK's default chain (another service's keys, for a mirror). */
  credentials?: StoreCredentials | undefined;
}

/** An S3 access key, as `credentials-env=PREFIX` reads it from `PREFIX_ACCESS_KEY_ID` and the like. */
export interface StoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/**
 * What an s3:// URL may carry after `?`: the settings that differ between mirrors on different services
 * (an AWS bucket and an R2 one, say), so that each `--store` says all of its own. Flags and environment
 * variables (`--endpoint`, `--region`, `--path-style`) are the defaults these override.
 */
export const S3_URL_PARAMETERS = ['endpoint', 'region', 'path-style', 'profile', 'credentials-env'] as const;

/**
 * The settings of one store from its URL: for an s3:// URL, the parameters after `?`
 * ({@link S3_URL_PARAMETERS}) override `defaults`, and `credentials-env=PREFIX` reads
 * `PREFIX_ACCESS_KEY_ID`, `PREFIX_SECRET_ACCESS_KEY` and `PREFIX_SESSION_TOKEN` (if set) from `env`.
 * Other URLs keep `defaults` as they are (`openStore` refuses an endpoint for them). Pure: the caller
 * passes the environment. Throws `UsageError` naming the parameter.
 */
export function storeSettingsFromUrl(text: string, defaults: Omit<StoreSettings, 'url'>, env: Readonly<Record<string, string | undefined>>): StoreSettings {
  const url = text.trim();
  const query = url.indexOf('?');
  if (!/^s3:\/\//i.test(url) || query === -1) return { ...defaults, url };
  const settings: StoreSettings = { ...defaults, url: url.slice(0, query) };
  const where = `store ${settings.url}`;
  for (const [name, value] of new URLSearchParams(url.slice(query + 1))) {
    switch (name) {
      case 'endpoint':
      case 'region':
      case 'profile':
        if (value === '') throw new UsageError(`invalid ${where}: ?${name}= needs a value`);
        settings[name] = value;
        break;
      case 'path-style':
        // A bare `?path-style` turns it on.
        settings.forcePathStyle = value === '' || parseBoolean(value, `${where} ?path-style`);
        break;
      case 'credentials-env': {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
          throw new UsageError(`invalid ${where}: expected ?credentials-env=PREFIX (letters, digits, _), got ${JSON.stringify(value)}`);
        }
        const accessKeyId = env[`${value}_ACCESS_KEY_ID`];
        const secretAccessKey = env[`${value}_SECRET_ACCESS_KEY`];
        if (!accessKeyId || !secretAccessKey) {
          throw new UsageError(
            `${where} takes its credentials from ${value}_ACCESS_KEY_ID and ${value}_SECRET_ACCESS_KEY (credentials-env=${value}), and one is not set`,
          );
        }
        settings.credentials = { accessKeyId, secretAccessKey, sessionToken: env[`${value}_SESSION_TOKEN`] || undefined };
        break;
      }
      default:
        throw new UsageError(`invalid ${where}: unknown parameter ?${name}; expected ${S3_URL_PARAMETERS.join(', ')}`);
    }
  }
  if (settings.profile !== undefined && settings.credentials !== undefined) {
    throw new UsageError(`invalid ${where}: give either ?profile or ?credentials-env, not both`);
  }
  return settings;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const EXPECTED = 'expected s3://bucket[/prefix], file:///folder, a folder path, or http(s)://base-url';

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}

/**
 * Opens the store a settings object names, with the parameters of an s3://
 * URL ({@link storeSettingsFromUrl}; `env` for `credentials-env`). Throws
 * `UsageError` naming what was wrong. Each kind of store's code is loaded only when one is opened: the AWS SDK
 * for s3:// stores (an optional peer dependency: an agent reading over plain HTTPS needs none of it), the
 * HTTP(S) client for http(s):// ones.
 */
export async function openStore(given: StoreSettings, env: Readonly<Record<string, string | undefined>> = {}): Promise<ObjectStore> {
  const { url: text, ...defaults } = given;
  const settings = storeSettingsFromUrl(text, defaults, env);
  const url = settings.url;
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
      // Its absence is ERR_MODULE_NOT_FOUND from an ES module, MODULE_NOT_FOUND from CommonJS (the CLI's bundle).
      const code = (error as { code?: string }).code;
      if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /@aws-sdk\//.test(String((error as Error).message))) {
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
      profile: settings.profile,
      credentials: settings.credentials,
      stallTimeoutMs: settings.stallTimeoutMs,
    });
  }
  if (scheme === 'http' || scheme === 'https') {
    // Loaded only for an http(s):// store: its TLS stack is resident for the life of an agent that reads a folder.
    const { HttpStore } = await import('./http-store.js');
    return new HttpStore({ baseUrl: url, stallTimeoutMs: settings.stallTimeoutMs });
  }
  const folder = { stallTimeoutMs: settings.stallTimeoutMs };
  if (scheme === 'file') return new LocalStore(fileURLToPath(url), folder);
  if (scheme !== undefined) throw new UsageError(`unsupported store ${url}: ${EXPECTED}`);
  return new LocalStore(path.resolve(url), folder);
}
