export const id = 71;
export const ids = [71];
export const modules = {

/***/ 1071:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   S3Store: () => (/* binding */ S3Store)
/* harmony export */ });
/* harmony import */ var _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(3711);
/* harmony import */ var _aws_sdk_lib_storage__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(2358);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(3916);
/* harmony import */ var _describe_error_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(9869);
/* harmony import */ var _object_store_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(3266);





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
    #options;
    constructor(options) {
        this.#options = options;
        this.location = `s3://${options.bucket}${options.prefix ? `/${options.prefix}` : ''}`;
        const config = {
            forcePathStyle: options.forcePathStyle ?? false,
            requestHandler: {
                connectionTimeout: options.connectTimeoutMs ?? 5_000,
                requestTimeout: options.requestTimeoutMs ?? 60_000,
            },
        };
        if (options.region)
            config.region = options.region;
        if (options.endpoint) {
            config.endpoint = options.endpoint;
            // S3-compatible stores vary in their support of the newer default checksums
            // (some store the aws-chunked framing as the object); our own SHA-256 of
            // every snapshot is the end-to-end check either way.
            config.requestChecksumCalculation = 'WHEN_REQUIRED';
            config.responseChecksumValidation = 'WHEN_REQUIRED';
        }
        this.client = new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_4__.S3Client(config);
    }
    #key(key) {
        (0,_object_store_js__WEBPACK_IMPORTED_MODULE_3__/* .assertValidKey */ .M)(key);
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
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .BucketMissingError */ .Jq(this.#options.bucket, where);
        if (key !== undefined && (name === 'NoSuchKey' || name === 'NotFound' || status === 404)) {
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .NotFoundError */ .m_(key, this.location);
        }
        if (NETWORK_CODES.has(sdk.code ?? '') || NETWORK_CODES.has(name) || name === 'TimeoutError' || name === 'RequestTimeout') {
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .StoreUnreachableError */ .I8(`${this.location} at ${where}`, (0,_describe_error_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(error), error);
        }
        if (name === 'CredentialsProviderError') {
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .AccessDeniedError */ .Uk(`no AWS credentials for ${this.location}: ${(0,_describe_error_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(error)}`, error);
        }
        if (status === 401 || status === 403 || ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch'].includes(name)) {
            return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .AccessDeniedError */ .Uk(`${this.location} refused access (${name || status}): ${(0,_describe_error_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(error)}`, error);
        }
        const retryable = status === undefined || status >= 500 || status === 429;
        return new _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .StoreError */ .AD(`${this.location}${key ? ` ${key}` : ''}: ${name || 'error'} ${status ?? ''} ${(0,_describe_error_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(error)}`.trim(), retryable, error);
    }
    async get(key, options = {}) {
        try {
            const result = await this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_4__.GetObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(key), IfNoneMatch: options.ifNoneMatch }), {
                abortSignal: options.signal,
            });
            return {
                status: 'ok',
                body: result.Body,
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
            const result = await this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_4__.HeadObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(key) }), {
                abortSignal: options.signal,
            });
            return { key, size: result.ContentLength ?? 0, etag: result.ETag ?? '', lastModified: result.LastModified ?? new Date(0) };
        }
        catch (error) {
            const translated = this.#translate(error, key);
            if (translated instanceof _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .NotFoundError */ .m_)
                return undefined;
            throw translated;
        }
    }
    async put(key, body, options = {}) {
        const params = {
            Bucket: this.#options.bucket,
            Key: this.#key(key),
            Body: body,
            ContentType: options.contentType,
            CacheControl: options.cacheControl,
        };
        try {
            if (body instanceof Uint8Array) {
                const result = await this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_4__.PutObjectCommand({ ...params, ContentLength: body.length }), {
                    abortSignal: options.signal,
                });
                options.onProgress?.(body.length);
                return { etag: result.ETag ?? '' };
            }
            // Parts become an object only when the upload is completed, so readers never see a partial object.
            const upload = new _aws_sdk_lib_storage__WEBPACK_IMPORTED_MODULE_0__/* .Upload */ ._({
                client: this.client,
                params,
                partSize: this.#options.partSize ?? 16 * 1024 * 1024,
                queueSize: this.#options.queueSize ?? 4,
                leavePartsOnError: false,
            });
            upload.on('httpUploadProgress', (progress) => options.onProgress?.(progress.loaded ?? 0));
            options.signal?.addEventListener('abort', () => void upload.abort(), { once: true });
            const result = await upload.done();
            return { etag: result.ETag ?? '' };
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
                const page = await this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_4__.ListObjectsV2Command({ Bucket: this.#options.bucket, Prefix: fullPrefix, ContinuationToken: token }), {
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
            await this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_4__.DeleteObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(key) }), { abortSignal: options.signal });
        }
        catch (error) {
            const translated = this.#translate(error, key);
            if (!(translated instanceof _errors_js__WEBPACK_IMPORTED_MODULE_1__/* .NotFoundError */ .m_))
                throw translated;
        }
    }
}


/***/ })

};
