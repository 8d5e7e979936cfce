export const id = 949;
export const ids = [949];
export const modules = {

/***/ 2949:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   HttpStore: () => (/* binding */ HttpStore)
/* harmony export */ });
/* harmony import */ var node_http__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7067);
/* harmony import */ var node_http__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_http__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_https__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(4708);
/* harmony import */ var node_https__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_https__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(3916);
/* harmony import */ var _describe_error_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(9561);
/* harmony import */ var _transport_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(6479);
/* harmony import */ var _object_store_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(3266);






/**
 * A read-only store over plain HTTP(S) with no credentials: a public bucket,
 * a CDN in front of one, or any static file server. Pods and developer
 * machines use it to fetch snapshots without cloud credentials.
 */
class HttpStore {
    location;
    writable = false;
    stallTimeoutMs;
    #base;
    #authorization;
    constructor(options) {
        // Credentials in the URL (https://user:pass@host/…) become a Basic Authorization header and are never printed.
        const url = new URL(options.baseUrl);
        if (url.username || url.password) {
            this.#authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
            url.username = '';
            url.password = '';
        }
        this.#base = url.href.replace(/\/+$/, '');
        this.location = this.#base;
        this.stallTimeoutMs = (0,_transport_js__WEBPACK_IMPORTED_MODULE_4__/* .stallTimeoutOf */ .x)(options);
    }
    #url(key) {
        (0,_object_store_js__WEBPACK_IMPORTED_MODULE_5__/* .assertValidKey */ .M)(key);
        return `${this.#base}/${key.split('/').map(encodeURIComponent).join('/')}`;
    }
    // Kept-alive connections: an agent polls every few seconds, and a new connection (and TLS handshake) per poll
    // costs more than the request. Idle sockets do not keep the process alive.
    // A socket idle for 4 s is closed here rather than reused: load balancers and CDNs close theirs without a
    // Keep-Alive header, and a request sent on one they just closed fails with a reset.
    #agents = { 'http:': new (node_http__WEBPACK_IMPORTED_MODULE_0___default().Agent)({ keepAlive: true, timeout: 4_000 }), 'https:': new (node_https__WEBPACK_IMPORTED_MODULE_1___default().Agent)({ keepAlive: true, timeout: 4_000 }) };
    async #request(key, method, headers, signal) {
        const url = this.#url(key);
        const allHeaders = this.#authorization ? { ...headers, authorization: this.#authorization } : headers;
        const origin = new URL(this.#base).origin;
        // Redirects are followed only within the store's origin (a CDN's trailing-slash or canonical-path
        // redirects), at most 5: a redirect elsewhere could hand the agent another server's answer, and with
        // it our credentials.
        let current = url;
        for (let hop = 0; hop <= 5; hop++) {
            const response = await this.#send(current, method, allHeaders, signal);
            const location = response.headers.location;
            const status = response.statusCode ?? 0;
            if (status < 300 || status > 399 || status === 304 || !location)
                return response;
            response.resume();
            let next;
            try {
                next = new URL(location, current);
            }
            catch {
                throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .StoreError */ .AD(`${current} redirects to an invalid location (${JSON.stringify(location.slice(0, 200))})`, true);
            }
            if (next.origin !== origin) {
                throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .StoreError */ .AD(`${current} redirects to another origin (${next.origin}); refusing to follow it`, false);
            }
            current = next.href;
        }
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .StoreError */ .AD(`${url}: more than 5 redirects`, false);
    }
    /**
     * One request over node:http(s). Not fetch: fetch's web streams keep several times more memory per
     * byte received (measured: 98 MiB against 60 MiB peak for a 1 GiB body), and a pod's memory limit is small.
     */
    #send(url, method, headers, signal) {
        const target = new URL(url);
        const client = target.protocol === 'https:' ? (node_https__WEBPACK_IMPORTED_MODULE_1___default()) : (node_http__WEBPACK_IMPORTED_MODULE_0___default());
        const agent = this.#agents[target.protocol];
        return new Promise((resolve, reject) => {
            const request = client.request(target, { method, headers, agent, signal }, (response) => {
                clearTimeout(timer);
                resolve(response);
            });
            // The timeout covers the wait for headers only; a large body may take as long as it needs.
            const timer = setTimeout(() => request.destroy(new HeadersTimeout(this.stallTimeoutMs)), this.stallTimeoutMs);
            request.on('error', (error) => {
                clearTimeout(timer);
                if (signal?.aborted)
                    reject(signal.reason ?? error);
                else
                    reject(new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .StoreUnreachableError */ .I8(url, error instanceof HeadersTimeout ? error.message : (error.code ?? (0,_describe_error_js__WEBPACK_IMPORTED_MODULE_3__/* .errorMessage */ .gJ)(error)), error));
            });
            request.end();
        });
    }
    #fail(response, key) {
        response.resume();
        const status = response.statusCode ?? 0;
        if (status === 404)
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .NotFoundError */ .m_(key, this.location);
        if (status === 401 || status === 403) {
            // A private S3 bucket answers 403 for a missing key too.
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .AccessDeniedError */ .Uk(`${this.#url(key)} answered ${status}: the object is missing or not public`);
        }
        const retryable = status >= 500 || status === 429 || status === 408;
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .StoreError */ .AD(`${this.#url(key)} answered HTTP ${status} ${response.statusMessage ?? ''}`.trimEnd(), retryable);
    }
    async get(key, options = {}) {
        const headers = { 'accept-encoding': 'identity' };
        if (options.ifNoneMatch)
            headers['if-none-match'] = options.ifNoneMatch;
        const response = await this.#request(key, 'GET', headers, options.signal);
        if (response.statusCode === 304) {
            response.resume();
            return { status: 'not-modified', etag: response.headers.etag ?? options.ifNoneMatch ?? '' };
        }
        if (!isOk(response))
            this.#fail(response, key);
        // The reader's pipeline hears every error while it runs. The body can fail once more after that
        // (the peer closing a socket the pipeline already gave up on); with no listener left, that
        // late error would end the process.
        response.on('error', () => { });
        return { status: 'ok', body: (0,_transport_js__WEBPACK_IMPORTED_MODULE_4__/* .watchedBody */ .L)(response, this.#url(key), this), ...info(response) };
    }
    async head(key, options = {}) {
        const response = await this.#request(key, 'HEAD', {}, options.signal);
        response.resume();
        if (response.statusCode === 404)
            return undefined;
        if (!isOk(response))
            this.#fail(response, key);
        return { key, ...info(response) };
    }
    async put() {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .ReadOnlyStoreError */ .al(this.location, 'write objects');
    }
    async list() {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .ReadOnlyStoreError */ .al(this.location, 'list objects');
    }
    async delete() {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .ReadOnlyStoreError */ .al(this.location, 'delete objects');
    }
}
class HeadersTimeout extends Error {
    constructor(ms) {
        super(`no response within ${ms} ms`);
    }
}
function isOk(response) {
    const status = response.statusCode ?? 0;
    return status >= 200 && status <= 299;
}
function info(response) {
    return {
        size: Number(response.headers['content-length'] ?? -1),
        etag: response.headers.etag ?? '',
        lastModified: new Date(response.headers['last-modified'] ?? 0),
    };
}


/***/ })

};
