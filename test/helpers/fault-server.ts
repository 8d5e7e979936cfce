import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalStore } from '../../src/store/local-store.js';
import type { GetResult } from '../../src/store/object-store.js';

/** What to do to one response. */
export type Fault =
  | { kind: 'status'; status: number /** Only this many times, then served normally. */; times?: number }
  | { kind: 'truncate' } // announce the full length, send half, close
  | { kind: 'flip' } // change one byte in the middle
  | { kind: 'stall' } // send half, then nothing
  | { kind: 'reset' } // send half, then reset the connection
  | { kind: 'extra'; bytes: number } // append bytes (with a matching Content-Length)
  | { kind: 'replace'; body: string } // serve this text instead
  | { kind: 'endless' } // stream bytes without end, as fast as the client reads
  | { kind: 'trickle'; everyMs: number } // send one byte every `everyMs`, without end
  | { kind: 'redirect'; location: string } // answer 302 with this Location
  | { kind: 'hang' }; // read the request, never answer

/**
 * A plain HTTP file server over a LocalStore folder (ETag, If-None-Match),
 * with faults injected per key. It is the "public HTTP" store the agent reads,
 * with the failures real networks and stores produce.
 */
export class FaultServer {
  readonly faults = new Map<string, Fault>();
  /** A fault for every key without one of its own (a whole store failing). */
  everyKey: Fault | undefined;
  requests = 0;
  /** Bytes of response bodies and headers written, roughly as on the wire. */
  bytesOut = 0;
  #server: Server;
  #sockets = new Set<import('node:net').Socket>();
  url = '';

  constructor(readonly root: string) {
    const store = new LocalStore(root);
    this.#server = createServer((req, res) => void this.#handle(store, req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  /** Listens on `port` (0: any free one); a stopped server starts again on its old port, as a store coming back would. */
  async start(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #write(res: ServerResponse, status: number, headers: Record<string, string | number>, body?: Buffer): void {
    res.writeHead(status, headers);
    this.bytesOut += 17 + Object.entries(headers).reduce((n, [k, v]) => n + k.length + String(v).length + 4, 0) + (body?.length ?? 0);
    res.end(body);
  }

  async #handle(store: LocalStore, req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    const key = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
    const fault = this.faults.get(key) ?? this.everyKey;
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'status') {
      if (fault.times !== undefined && --fault.times <= 0) {
        if (this.faults.get(key) === fault) this.faults.delete(key);
        else this.everyKey = undefined;
      }
      return this.#write(res, fault.status, { 'content-type': 'text/plain' }, Buffer.from('injected\n'));
    }
    if (fault?.kind === 'redirect') return this.#write(res, 302, { location: fault.location, 'content-type': 'text/plain' }, Buffer.from('moved\n'));
    if (fault?.kind === 'endless' || fault?.kind === 'trickle') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', etag: '"endless"' });
      if (fault.kind === 'endless') {
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk)) this.bytesOut += chunk.length;
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      } else {
        // The object's own bytes (spaces where there is none), one at a time: valid, but never done in time.
        const real = await store.get(key).catch(() => undefined);
        const chunks: Buffer[] = [];
        if (real?.status === 'ok') for await (const chunk of real.body) chunks.push(chunk as Buffer);
        const bytes = Buffer.concat(chunks);
        let at = 0;
        const timer = setInterval(() => {
          if (res.destroyed) clearInterval(timer);
          else res.write(bytes.length ? bytes.subarray(at, ++at) : ' ');
        }, fault.everyMs);
        res.on('close', () => clearInterval(timer));
      }
      return;
    }
    if (fault?.kind === 'replace')
      return this.#write(res, 200, { 'content-type': 'application/json', etag: `"r${fault.body.length}"` }, Buffer.from(fault.body));
    let result: GetResult;
    try {
      result = await store.get(key, { ifNoneMatch: req.headers['if-none-match'] });
    } catch {
      return this.#write(res, 404, { 'content-type': 'text/plain' }, Buffer.from('not found\n'));
    }
    if (result.status === 'not-modified') return this.#write(res, 304, { etag: result.etag });
    const chunks: Buffer[] = [];
    for await (const chunk of result.body) chunks.push(chunk as Buffer);
    let body = Buffer.concat(chunks);
    const headers = { etag: result.etag, 'content-type': 'application/octet-stream', 'cache-control': 'no-cache' };
    if (!fault) return this.#write(res, 200, { ...headers, 'content-length': body.length }, body);
    if (fault.kind === 'flip') {
      body = Buffer.from(body);
      body[Math.floor(body.length / 2)]! ^= 0xff;
      return this.#write(res, 200, { ...headers, 'content-length': body.length }, body);
    }
    if (fault.kind === 'extra') {
      body = Buffer.concat([body, Buffer.alloc(fault.bytes, 7)]);
      return this.#write(res, 200, { ...headers, 'content-length': body.length }, body);
    }
    res.writeHead(200, { ...headers, 'content-length': body.length });
    res.write(body.subarray(0, Math.floor(body.length / 2)));
    if (fault.kind === 'truncate') res.socket?.end();
    if (fault.kind === 'reset') setTimeout(() => res.socket?.resetAndDestroy(), 20);
    // stall: keep the socket open and silent until stop()
  }
}
