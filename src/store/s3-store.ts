import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { AccessDeniedError, BucketMissingError, NotFoundError, StoreError, StoreUnreachableError } from '../errors.js';
import { errorMessage } from '../describe-error.js';
import { uploadStream } from './s3-multipart.js';
import { stallTimeoutOf, watchedBody } from './transport.js';
import { assertValidKey, type CallOptions, type GetOptions, type GetResult, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing `/`; empty for the bucket's root. */
  prefix: string;
  /** Endpoint of an S3-compatible service (R2, MinIO); AWS S3 when absent. */
  endpoint?: string | undefined;
  /** Region; the SDK's default chain (`AWS_REGION`, profile) when absent, `auto` for R2. */
  region?: string | undefined;
  /** Address buckets as `endpoint/bucket` instead of `bucket.endpoint` (MinIO, most self-hosted stores). */
  forcePathStyle?: boolean | undefined;
  /** A profile of the SDK's shared config and credentials files; the default chain's when absent. */
  profile?: string | undefined;
  /** Credentials of this store alone (a mirror on another service); the SDK's default chain when absent. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | undefined;
  /** How long to wait for a connection, an answer, or the next byte of a body. @default DEFAULTS.stallTimeoutMs */
  stallTimeoutMs?: number | undefined;
  /**
   * Bytes per part of a multipart upload. A buffer of this size per part in flight (and one filling) is
   * most of a publish's memory; 6 MiB parts allow objects up to 58 GiB (10,000 parts). @default 6 MiB
   */
  partSize?: number;
  /** Parts uploaded at once. @default 3 */
  queueSize?: number;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * An S3 API bucket (AWS S3, Cloudflare R2, MinIO, any S3-compatible store),
 * with credentials from the SDK's default chain: environment, shared config,
 * web identity (GitHub OIDC), container and instance roles.
 */
export class S3Store implements ObjectStore {
  readonly location: string;
  readonly writable = true;
  readonly client: S3Client;
  readonly stallTimeoutMs: number;
  readonly #options: S3StoreOptions;

  constructor(options: S3StoreOptions) {
    this.#options = options;
    this.location = `s3://${options.bucket}${options.prefix ? `/${options.prefix}` : ''}`;
    this.stallTimeoutMs = stallTimeoutOf(options);
    const config: S3ClientConfig = {
      forcePathStyle: options.forcePathStyle ?? false,
      // No byte either way on the socket for the stall timeout fails the call (the SDK's requestTimeout bounds a
      // whole request, and only warns unless told to throw: a large part may rightly take longer).
      requestHandler: { connectionTimeout: Math.min(5_000, this.stallTimeoutMs), socketTimeout: this.stallTimeoutMs },
    };
    if (options.region) config.region = options.region;
    if (options.profile) config.profile = options.profile;
    if (options.credentials) config.credentials = options.credentials;
    if (options.endpoint) {
      config.endpoint = options.endpoint;
      // S3-compatible stores vary in their support of the newer default checksums
      // (some store the aws-chunked framing as the object); our own SHA-256 of
      // every snapshot is the end-to-end check either way.
      config.requestChecksumCalculation = 'WHEN_REQUIRED';
      config.responseChecksumValidation = 'WHEN_REQUIRED';
    }
    this.client = new S3Client(config);
  }

  #key(key: string): string {
    assertValidKey(key);
    return this.#options.prefix ? `${this.#options.prefix}/${key}` : key;
  }

  #relative(fullKey: string): string {
    return this.#options.prefix ? fullKey.slice(this.#options.prefix.length + 1) : fullKey;
  }

  /** Turns an SDK error into one of our named errors, with the facts a person needs. */
  #translate(error: unknown, key: string | undefined): Error {
    const sdk = error as SdkError;
    const status = sdk.$metadata?.httpStatusCode;
    const name = sdk.name ?? '';
    const where = this.#options.endpoint ?? 'AWS S3';
    if (name === 'NoSuchBucket') return new BucketMissingError(this.#options.bucket, where);
    if (key !== undefined && (name === 'NoSuchKey' || name === 'NotFound' || status === 404)) {
      return new NotFoundError(key, this.location);
    }
    if (NETWORK_CODES.has(sdk.code ?? '') || NETWORK_CODES.has(name) || name === 'TimeoutError' || name === 'RequestTimeout') {
      return new StoreUnreachableError(`${this.location} at ${where}`, errorMessage(error), error);
    }
    if (name === 'CredentialsProviderError') {
      return new AccessDeniedError(`no AWS credentials for ${this.location}: ${errorMessage(error)}`, error);
    }
    if (status === 401 || status === 403 || ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch'].includes(name)) {
      return new AccessDeniedError(`${this.location} refused access (${name || status}): ${errorMessage(error)}`, error);
    }
    const retryable = status === undefined || status >= 500 || status === 429;
    return new StoreError(`${this.location}${key ? ` ${key}` : ''}: ${name || 'error'} ${status ?? ''} ${errorMessage(error)}`.trim(), retryable, error);
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(key), IfNoneMatch: options.ifNoneMatch }), {
        abortSignal: options.signal,
      });
      return {
        status: 'ok',
        body: watchedBody(result.Body as Readable, `${this.location}/${key}`, this),
        size: result.ContentLength ?? 0,
        etag: result.ETag ?? '',
        lastModified: result.LastModified ?? new Date(0),
      };
    } catch (error) {
      if ((error as SdkError).$metadata?.httpStatusCode === 304) {
        return { status: 'not-modified', etag: options.ifNoneMatch ?? '' };
      }
      throw this.#translate(error, key);
    }
  }

  async head(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    try {
      const result = await this.client.send(new HeadObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(key) }), {
        abortSignal: options.signal,
      });
      return { key, size: result.ContentLength ?? 0, etag: result.ETag ?? '', lastModified: result.LastModified ?? new Date(0) };
    } catch (error) {
      const translated = this.#translate(error, key);
      if (translated instanceof NotFoundError) return undefined;
      throw translated;
    }
  }

  async put(key: string, body: Readable | Uint8Array, options: PutOptions = {}): Promise<{ etag: string }> {
    const target = { Bucket: this.#options.bucket, Key: this.#key(key), ContentType: options.contentType, CacheControl: options.cacheControl };
    try {
      if (body instanceof Uint8Array) {
        const result = await this.client.send(new PutObjectCommand({ ...target, Body: body, ContentLength: body.length }), {
          abortSignal: options.signal,
        });
        options.onProgress?.(body.length);
        return { etag: result.ETag ?? '' };
      }
      return await uploadStream(this.client, target, body, {
        partSize: this.#options.partSize ?? 6 * 1024 * 1024,
        queueSize: this.#options.queueSize ?? 3,
        signal: options.signal,
        onProgress: options.onProgress,
      });
    } catch (error) {
      throw this.#translate(error, undefined);
    }
  }

  async list(prefix: string, options: CallOptions = {}): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    const fullPrefix = this.#options.prefix ? `${this.#options.prefix}/${prefix}` : prefix;
    try {
      let token: string | undefined;
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.#options.bucket, Prefix: fullPrefix, ContinuationToken: token }), {
          abortSignal: options.signal,
        });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
        for (const item of page.Contents ?? []) {
          if (!item.Key) continue;
          found.push({
            key: this.#relative(item.Key),
            size: item.Size ?? 0,
            etag: item.ETag ?? '',
            lastModified: item.LastModified ?? new Date(0),
          });
        }
      } while (token);
    } catch (error) {
      throw this.#translate(error, undefined);
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(key) }), { abortSignal: options.signal });
    } catch (error) {
      const translated = this.#translate(error, key);
      if (!(translated instanceof NotFoundError)) throw translated;
    }
  }
}
