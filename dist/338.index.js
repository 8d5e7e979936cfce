export const id = 338;
export const ids = [338];
export const modules = {

/***/ 6338:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  S3Store: () => (/* binding */ S3Store)
});

// EXTERNAL MODULE: ./node_modules/@aws-sdk/client-s3/dist-cjs/index.js
var dist_cjs = __webpack_require__(3711);
// EXTERNAL MODULE: ./src/errors.ts
var errors = __webpack_require__(3916);
// EXTERNAL MODULE: ./src/describe-error.ts + 1 modules
var describe_error = __webpack_require__(9561);
// EXTERNAL MODULE: ./src/reclaim-buffers.ts
var reclaim_buffers = __webpack_require__(4510);
;// CONCATENATED MODULE: ./src/store/s3-multipart.ts


async function uploadStream(client, target, body, options) {
    try {
        return await upload(client, target, body, options);
    }
    finally {
        // Whatever the outcome, the source is done with (a file stream left paused would keep its descriptor).
        body.destroy();
    }
}
async function upload(client, target, body, options) {
    const call = { abortSignal: options.signal };
    const pool = new PartPool(options.partSize, options.queueSize + 1);
    const parts = partsOf(body, pool);
    const first = await parts.next();
    // An object of one part (or none) is a single PUT.
    const firstPart = first.done ? { buffer: Buffer.alloc(0), length: 0 } : first.value;
    const second = first.done ? undefined : await parts.next();
    if (!second || second.done) {
        const result = await client.send(new dist_cjs/* PutObjectCommand */.wKZ({ ...target, Body: firstPart.buffer.subarray(0, firstPart.length), ContentLength: firstPart.length }), call);
        options.onProgress?.(firstPart.length);
        return { etag: result.ETag ?? '' };
    }
    const { UploadId } = await client.send(new dist_cjs/* CreateMultipartUploadCommand */.nG4(target), call);
    const done = [];
    const inFlight = new Set();
    let sent = 0;
    let failure;
    const send = (part, PartNumber) => {
        const request = uploadPart(client, target, UploadId, part, PartNumber, call)
            .then((completed) => {
            done.push(completed);
            sent += part.length;
            options.onProgress?.(sent);
        }, (error) => {
            failure ??= error;
        })
            .finally(() => {
            pool.release(part.buffer);
            inFlight.delete(request);
        });
        inFlight.add(request);
    };
    try {
        let number = 1;
        send(firstPart, number++);
        send(second.value, number++);
        for (;;) {
            // The generator takes a buffer from the pool for each part: wait until one is free.
            while (!pool.available && failure === undefined)
                await Promise.race(inFlight);
            if (failure !== undefined)
                throw failure;
            const next = await parts.next();
            if (next.done)
                break;
            send(next.value, number++);
        }
        await Promise.all(inFlight);
        if (failure !== undefined)
            throw failure;
        done.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
        const result = await client.send(new dist_cjs/* CompleteMultipartUploadCommand */.Gym({ Bucket: target.Bucket, Key: target.Key, UploadId, MultipartUpload: { Parts: done } }), call);
        return { etag: result.ETag ?? '' };
    }
    catch (error) {
        await Promise.allSettled(inFlight);
        await client.send(new dist_cjs/* AbortMultipartUploadCommand */.tfP({ Bucket: target.Bucket, Key: target.Key, UploadId })).catch(() => { });
        throw error;
    }
}
/**
 * One part of a multipart upload. Its checksums go back in the completion: S3 refuses an upload whose
 * parts were sent with checksums (the SDK's default) and completed without them.
 */
async function uploadPart(client, target, UploadId, part, PartNumber, call) {
    const body = part.buffer.subarray(0, part.length);
    const result = await client.send(new dist_cjs/* UploadPartCommand */.iVK({ Bucket: target.Bucket, Key: target.Key, UploadId, PartNumber, Body: body, ContentLength: part.length }), call);
    const { ETag, ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1, ChecksumSHA256 } = result;
    return { ETag: ETag ?? '', PartNumber, ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1, ChecksumSHA256 };
}
/** Part buffers, made when first needed (a small object takes one), at most `max`. */
class PartPool {
    partSize;
    max;
    #free = [];
    #made = 0;
    constructor(partSize, max) {
        this.partSize = partSize;
        this.max = max;
    }
    get available() {
        return this.#free.length > 0 || this.#made < this.max;
    }
    take() {
        const buffer = this.#free.pop();
        if (buffer)
            return buffer;
        if (this.#made >= this.max)
            throw new Error('PartPool.take() with every buffer in use');
        this.#made++;
        return Buffer.allocUnsafe(this.partSize);
    }
    release(buffer) {
        this.#free.push(buffer);
    }
}
/** Fills buffers taken from `pool` with the stream's bytes, one part each; the last may be short. */
async function* partsOf(body, pool) {
    let part;
    let length = 0;
    for await (const chunk of body) {
        let at = 0;
        while (at < chunk.length) {
            part ??= pool.take();
            const take = Math.min(chunk.length - at, part.length - length);
            chunk.copy(part, length, at, at + take);
            length += take;
            at += take;
            if (length === part.length) {
                // The stream's chunks, copied into the part, are garbage now.
                (0,reclaim_buffers/* reclaimReadBuffers */.ju)();
                yield { buffer: part, length };
                part = undefined;
                length = 0;
            }
        }
    }
    if (part && length > 0)
        yield { buffer: part, length };
}

// EXTERNAL MODULE: ./src/store/transport.ts + 1 modules
var transport = __webpack_require__(6479);
// EXTERNAL MODULE: ./src/store/object-store.ts
var object_store = __webpack_require__(3266);
;// CONCATENATED MODULE: ./src/store/s3-store.ts






const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
/**
 * An S3 API bucket (AWS S3, Cloudflare R2, MinIO, any S3-compatible store),
 * with credentials from the SDK's default chain: environment, shared config,
 * web identity (GitHub OIDC), container and instance roles.
 */
class S3Store {
    location;
    writable = true;
    client;
    stallTimeoutMs;
    #options;
    constructor(options) {
        this.#options = options;
        this.location = `s3://${options.bucket}${options.prefix ? `/${options.prefix}` : ''}`;
        this.stallTimeoutMs = (0,transport/* stallTimeoutOf */.x)(options);
        const config = {
            forcePathStyle: options.forcePathStyle ?? false,
            // No byte either way on the socket for the stall timeout fails the call (the SDK's requestTimeout bounds a
            // whole request, and only warns unless told to throw: a large part may rightly take longer).
            requestHandler: { connectionTimeout: Math.min(5_000, this.stallTimeoutMs), socketTimeout: this.stallTimeoutMs },
        };
        if (options.region)
            config.region = options.region;
        if (options.profile)
            config.profile = options.profile;
        if (options.credentials)
            config.credentials = options.credentials;
        if (options.endpoint) {
            config.endpoint = options.endpoint;
            // S3-compatible stores vary in their support of the newer default checksums
            // (some store the aws-chunked framing as the object); our own SHA-256 of
            // every snapshot is the end-to-end check either way.
            config.requestChecksumCalculation = 'WHEN_REQUIRED';
            config.responseChecksumValidation = 'WHEN_REQUIRED';
        }
        this.client = new dist_cjs/* S3Client */.YxF(config);
    }
    #key(key) {
        (0,object_store/* assertValidKey */.M)(key);
        return this.#options.prefix ? `${this.#options.prefix}/${key}` : key;
    }
    #relative(fullKey) {
        return this.#options.prefix ? fullKey.slice(this.#options.prefix.length + 1) : fullKey;
    }
    /** Turns an SDK error into one of our named errors, with the facts a person needs. */
    #translate(error, key) {
        const sdk = error;
        const status = sdk.$metadata?.httpStatusCode;
        const name = sdk.name ?? '';
        const where = this.#options.endpoint ?? 'AWS S3';
        if (name === 'NoSuchBucket')
            return new errors/* BucketMissingError */.Jq(this.#options.bucket, where);
        if (key !== undefined && (name === 'NoSuchKey' || name === 'NotFound' || status === 404)) {
            return new errors/* NotFoundError */.m_(key, this.location);
        }
        if (NETWORK_CODES.has(sdk.code ?? '') || NETWORK_CODES.has(name) || name === 'TimeoutError' || name === 'RequestTimeout') {
            return new errors/* StoreUnreachableError */.I8(`${this.location} at ${where}`, (0,describe_error/* errorMessage */.gJ)(error), error);
        }
        if (name === 'CredentialsProviderError') {
            return new errors/* AccessDeniedError */.Uk(`no AWS credentials for ${this.location}: ${(0,describe_error/* errorMessage */.gJ)(error)}`, error);
        }
        if (status === 401 || status === 403 || ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch'].includes(name)) {
            return new errors/* AccessDeniedError */.Uk(`${this.location} refused access (${name || status}): ${(0,describe_error/* errorMessage */.gJ)(error)}`, error);
        }
        const retryable = status === undefined || status >= 500 || status === 429;
        return new errors/* StoreError */.AD(`${this.location}${key ? ` ${key}` : ''}: ${name || 'error'} ${status ?? ''} ${(0,describe_error/* errorMessage */.gJ)(error)}`.trim(), retryable, error);
    }
    async get(key, options = {}) {
        try {
            const result = await this.client.send(new dist_cjs/* GetObjectCommand */.jLs({ Bucket: this.#options.bucket, Key: this.#key(key), IfNoneMatch: options.ifNoneMatch }), {
                abortSignal: options.signal,
            });
            return {
                status: 'ok',
                body: (0,transport/* watchedBody */.L)(result.Body, `${this.location}/${key}`, this),
                size: result.ContentLength ?? 0,
                etag: result.ETag ?? '',
                lastModified: result.LastModified ?? new Date(0),
            };
        }
        catch (error) {
            if (error.$metadata?.httpStatusCode === 304) {
                return { status: 'not-modified', etag: options.ifNoneMatch ?? '' };
            }
            throw this.#translate(error, key);
        }
    }
    async head(key, options = {}) {
        try {
            const result = await this.client.send(new dist_cjs/* HeadObjectCommand */.l81({ Bucket: this.#options.bucket, Key: this.#key(key) }), {
                abortSignal: options.signal,
            });
            return { key, size: result.ContentLength ?? 0, etag: result.ETag ?? '', lastModified: result.LastModified ?? new Date(0) };
        }
        catch (error) {
            const translated = this.#translate(error, key);
            if (translated instanceof errors/* NotFoundError */.m_)
                return undefined;
            throw translated;
        }
    }
    async put(key, body, options = {}) {
        const target = { Bucket: this.#options.bucket, Key: this.#key(key), ContentType: options.contentType, CacheControl: options.cacheControl };
        try {
            if (body instanceof Uint8Array) {
                const result = await this.client.send(new dist_cjs/* PutObjectCommand */.wKZ({ ...target, Body: body, ContentLength: body.length }), {
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
        }
        catch (error) {
            throw this.#translate(error, undefined);
        }
    }
    async list(prefix, options = {}) {
        const found = [];
        const fullPrefix = this.#options.prefix ? `${this.#options.prefix}/${prefix}` : prefix;
        try {
            let token;
            do {
                const page = await this.client.send(new dist_cjs/* ListObjectsV2Command */.u6x({ Bucket: this.#options.bucket, Prefix: fullPrefix, ContinuationToken: token }), {
                    abortSignal: options.signal,
                });
                token = page.IsTruncated ? page.NextContinuationToken : undefined;
                for (const item of page.Contents ?? []) {
                    if (!item.Key)
                        continue;
                    found.push({
                        key: this.#relative(item.Key),
                        size: item.Size ?? 0,
                        etag: item.ETag ?? '',
                        lastModified: item.LastModified ?? new Date(0),
                    });
                }
            } while (token);
        }
        catch (error) {
            throw this.#translate(error, undefined);
        }
        return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    }
    async delete(key, options = {}) {
        try {
            await this.client.send(new dist_cjs/* DeleteObjectCommand */.k4j({ Bucket: this.#options.bucket, Key: this.#key(key) }), { abortSignal: options.signal });
        }
        catch (error) {
            const translated = this.#translate(error, key);
            if (!(translated instanceof errors/* NotFoundError */.m_))
                throw translated;
        }
    }
}


/***/ })

};
