import { spawnSync } from 'node:child_process';
import { mkdir, utimes } from 'node:fs/promises';
import { request, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error no declaration file
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { Manifest } from '@sqlitening/contract';
import { Agent } from '../src/agent/agent.js';
import { createHealthServer, listen } from '../src/agent/health-server.js';
import { makeHostCheck } from '../src/agent/host-check.js';
import { publishSnapshot } from '../src/publish/publish.js';
import { HttpStore } from '../src/store/http-store.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';
import { LocalStore } from '../src/store/local-store.js';
import { type AgentProcess, get, startAgent } from './helpers/agent-process.js';
import { runCli } from './helpers/cli.js';
import { FaultServer } from './helpers/fault-server.js';
import { SHA_A, makeContentDatabase, tempFolder } from './helpers/fixtures.js';
import { waitFor } from './helpers/poll.js';

/*
 * The agent's health server as probes and strangers reach it: a real agent
 * process, raw sockets for what an HTTP client would not send; and what it
 * answers, from an agent in this process.
 */

let dir: string;
let cleanup: () => Promise<void>;
let server: FaultServer;
let publisher: LocalStore;
let pod: string;
let round = 0;
let clock = Date.now();
const started: AgentProcess[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('health'));
});
afterAll(() => cleanup());
beforeEach(async () => {
  const root = path.join(dir, `store-${++round}`);
  publisher = new LocalStore(root);
  server = new FaultServer(root);
  await server.start();
  pod = path.join(dir, `pod-${round}`);
  await mkdir(pod);
});
afterEach(async () => {
  for (const a of started.splice(0)) {
    if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
    await a.exited;
  }
  await server.stop();
});

async function publish(seed: number): Promise<Manifest> {
  const file = path.join(dir, `build-${round}-${seed}.db`);
  makeContentDatabase(file, 100, seed);
  clock += 1000;
  const result = await publishSnapshot({
    store: publisher,
    sqlite: betterSqlite3Driver,
    database: file,
    gitSha: SHA_A,
    encoding: 'gzip',
    retention: { keep: 10, graceMs: 3_600_000 },
    check: true,
    dryRun: false,
    tempDir: dir,
    now: () => new Date(clock),
  });
  return result.manifest;
}

/** Starts an agent on this test's store, in a folder of its own; resolves once its health server listens. */
async function agent(args: string[] = [], wrapper?: string[]): Promise<{ process: AgentProcess; port: number }> {
  const process_ = startAgent(['--database', path.join(pod, `agent-${started.length}`, 'site.db'), '--store', server.url, '--git-sha', SHA_A, ...args], {
    wrapper,
  });
  started.push(process_);
  const port = await process_.listening;
  if (port === null) throw new Error(`the agent did not start: ${(await process_.exited).stderr}`);
  return { process: process_, port };
}

/** Sends `text` as is on a fresh connection and returns what comes back until the server closes it. */
function raw(port: number, text: string, host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host, () => socket.end(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (answer += chunk));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0), body: answer.split('\r\n\r\n')[1] ?? '' }));
  });
}

/** Resolves when `check` holds, polling; rejects after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  await waitFor(what, check, ms);
}

describe('slow clients', () => {
  /**
   * A client that opens a connection and sends a header line every 500 ms,
   * never finishing its request, or (`silent`) sends nothing at all.
   * `closedAt` is set when the server closes it (this side never does,
   * until the test ends).
   */
  class Trickle {
    readonly socket: Socket;
    closedAt: number | undefined;
    answer = '';
    #timer: NodeJS.Timeout | undefined;
    constructor(port: number, silent: boolean) {
      this.socket = connect(port, '127.0.0.1', () => {
        if (silent) return;
        this.socket.write('GET /livez HTTP/1.1\r\nHost: localhost\r\n');
        let n = 0;
        this.#timer = setInterval(() => this.socket.write(`X-Trickle-${n++}: still sending\r\n`), 500);
      });
      this.socket.setEncoding('utf8');
      this.socket.on('data', (chunk) => (this.answer += chunk));
      this.socket.on('error', () => {}); // a reset is one way for the server to close it
      this.socket.on('close', () => {
        clearInterval(this.#timer);
        this.closedAt = Date.now();
      });
    }
    get closed(): boolean {
      return this.closedAt !== undefined;
    }
    destroy(): void {
      clearInterval(this.#timer);
      this.socket.destroy();
    }
  }

  it('200 trickling connections neither starve the sync of file descriptors nor keep /livez down: the server cuts them', async () => {
    const prlimit = spawnSync('prlimit', ['--version'], { stdio: 'ignore' });
    // A small descriptor limit (the agent itself uses about 22) makes running out of them certain without the cap.
    const wrapper = prlimit.error ? undefined : ['prlimit', '--nofile=128:128'];
    const v1 = await publish(1);
    const { process: running, port } = await agent(['--listen', '127.0.0.1:0', '--interval', '1s', '--jitter', '0'], wrapper);
    const installed = (sha: string) => running.events.some((e) => e.event === 'agent.installed' && e.sha256 === sha);
    await until('the first install', () => installed(v1.database.sha256), 20_000);

    // Pressure: 200 trickles, a quarter of them silent (closed ones replaced every 250 ms), while a new snapshot is published.
    const trickles: Trickle[] = [];
    let pressure = true;
    const keepUp = setInterval(() => {
      if (!pressure) return;
      const open = trickles.filter((t) => !t.closed).length;
      for (let i = open; i < 200; i++) trickles.push(new Trickle(port, trickles.length % 4 === 0));
    }, 250);
    try {
      // Full: the server has started closing new connections on arrival.
      await until('the health server to be full', () => trickles.some((t) => t.closed && t.answer === ''), 10_000);
      const v2 = await publish(2);
      await until('the sync to install the new snapshot under pressure', () => installed(v2.database.sha256), 30_000);
      expect(running.events.filter((e) => e.event === 'agent.failed')).toEqual([]);
    } finally {
      pressure = false;
      clearInterval(keepUp);
    }

    // The last trickles keep sending (or keep silent); the server must close every one of them: the headers
    // timeout (5 s, from the connection for a silent one) is checked every second; 15 s is a bound that
    // Node's defaults (60 s, checked every 30 s) miss.
    await until('the server to close every trickle', () => trickles.every((t) => t.closed), 15_000);
    const cut = trickles.filter((t) => t.answer.startsWith('HTTP/1.1 408'));
    expect(cut.length).toBeGreaterThan(0);
    // The rest were over the cap: closed on arrival, with no answer.
    expect(trickles.filter((t) => t.answer === '').length + cut.length).toBe(trickles.length);

    const livez = await get(port, '/livez');
    expect(livez.status).toBe(200);
    const metrics = await get(port, '/metrics');
    const dropped = /^sqlitening_health_dropped_connections_total (\d+)$/m.exec(metrics.body);
    expect(Number(dropped?.[1])).toBeGreaterThan(0);

    running.child.kill('SIGTERM');
    expect((await running.exited).code).toBe(0);
    for (const t of trickles) t.destroy();
  });
});

describe('Host header and peer address', () => {
  it('answers one Host header naming an allowed host with an optional port in range; refuses two', async () => {
    const { port } = await agent(['--listen', '127.0.0.1:0', '--interval', '1h']);
    const request = (hosts: string[]) => raw(port, `GET /livez HTTP/1.1\r\n${hosts.map((h) => `Host: ${h}\r\n`).join('')}Connection: close\r\n\r\n`);

    expect(await request(['localhost'])).toEqual({ status: 200, body: 'ok\n' });
    expect(await request(['localhost', 'localhost'])).toEqual({ status: 400, body: 'more than one Host header (2)\n' });
    expect((await request(['localhost', 'evil.example.com'])).status).toBe(400);
    expect((await request(['evil.example.com', 'localhost'])).status).toBe(400);
    expect((await request([])).status).toBe(400);

    // The trailing dot of a fully qualified name is the same host.
    expect((await request(['localhost.'])).status).toBe(200);
    expect((await request(['LOCALHOST.:9090'])).status).toBe(200);
    expect((await request(['localhost..'])).status).toBe(400);
    expect((await request(['.'])).status).toBe(400);

    // A port must be a port: 0-65535.
    expect((await request(['localhost:65535'])).status).toBe(200);
    expect(await request(['localhost:99999'])).toEqual({ status: 400, body: 'host not allowed: localhost:99999\n' });
    expect((await request(['10.1.2.3:65536'])).status).toBe(400);
    expect((await request(['[::1]:70000'])).status).toBe(400);
    expect((await request(['[::1]:9090'])).status).toBe(200);
    expect((await request(['10.1.2.3'])).status).toBe(200);
    expect((await request(['[10.1.2.3]'])).status).toBe(400);
  });

  it('--allow-peer also checks where the connection comes from, IPv4 on a dual-stack socket included', async () => {
    const far = await agent(['--listen', '127.0.0.1:0', '--interval', '1h', '--allow-peer', '10.0.0.0/8']);
    const refused = await get(far.port, '/livez');
    expect(refused).toMatchObject({ status: 403, body: 'peer not allowed: 127.0.0.1\n' });
    // The Host header alone no longer suffices; without --allow-peer any peer may ask.
    const open = await agent(['--listen', '127.0.0.1:0', '--interval', '1h']);
    expect((await get(open.port, '/livez')).status).toBe(200);

    const dual = await agent(['--listen', '[::]:0', '--interval', '1h', '--allow-peer', '127.0.0.0/8']);
    expect((await get(dual.port, '/livez', {}, '127.0.0.1')).status).toBe(200); // arrives as ::ffff:127.0.0.1
    expect(await get(dual.port, '/livez', {}, '::1')).toMatchObject({ status: 403, body: 'peer not allowed: ::1\n' });

    const bad = await runCli(['agent', '--database', path.join(pod, 'other.db'), '--store', server.url, '--git-sha', SHA_A, '--allow-peer', '10.0.0.0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid CIDR range: expected an address and prefix such as 10.0.0.0/8 or fd00::/8, got "10.0.0.0"');
  });
});

describe('metrics', () => {
  it('follow Prometheus naming: counters end in _total, no other type does (promtool check metrics when installed)', async () => {
    await publish(1);
    const { process: running, port } = await agent(['--listen', '127.0.0.1:0', '--interval', '1h']);
    await until('the first install', () => running.events.some((e) => e.event === 'agent.installed'), 20_000);
    const { status, body } = await get(port, '/metrics');
    expect(status).toBe(200);

    const families = parsePrometheusTextFormat(body) as Array<{ name: string; type: string }>;
    expect(families.length).toBeGreaterThan(20);
    const misnamed = families.filter((f) => (f.type.toLowerCase() === 'counter') !== f.name.endsWith('_total')).map((f) => `${f.name} (${f.type})`);
    expect(misnamed).toEqual([]);
    // The totals dropped from the defaults are sums of gauges that stay.
    expect(families.map((f) => f.name)).toContain('sqlitening_agent_nodejs_active_handles');

    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    if (!promtool.error) expect({ status: promtool.status, output: `${promtool.stdout}${promtool.stderr}` }).toEqual({ status: 0, output: '' });
  });
});

describe('health server', () => {
  let agent: Agent;
  let health: Server;
  let port: number;
  const get = (pathname: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string; type: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: pathname, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
      });
      req.on('error', reject);
      req.end();
    });

  // An agent in this process, on this test's store, serving its health server.
  beforeEach(async () => {
    agent = await Agent.open({
      store: new HttpStore({ baseUrl: server.url, stallTimeoutMs: 500 }),
      database: path.join(pod, 'site.db'),
      appGitSha: SHA_A,
      attempts: 1,
      databaseLimitMs: 600_000,
      taskLimits: new Map([['translations', 3_600_000]]),
    });
    health = createHealthServer({
      report: () => agent.report(),
      metrics: agent.metrics!,
      hostAllowed: makeHostCheck(['localhost', '.svc.cluster.local'], ['127.0.0.0/8', '10.0.0.0/8', 'fd00::/8']),
    });
    port = (await listen(health, '127.0.0.1', 0)).port;
  });
  afterEach(async () => {
    await new Promise((resolve) => health.close(resolve));
    await agent.stop();
  });

  it('is not ready and not healthy before the first install; live all along', async () => {
    expect((await get('/livez')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(503);
    expect((await get('/healthz')).status).toBe(500);
  });

  it('answers 200 when fresh and 500 when a task is stale, with the details', async () => {
    const v1 = await publish(1);
    await agent.runOnce();
    const { touchTask } = await import('../src/agent/tasks.js');
    await touchTask(path.join(pod, '.sqlitening', 'tasks'), 'translations');
    const fresh = await get('/healthz');
    expect(fresh.status).toBe(200);
    const report = JSON.parse(fresh.body);
    expect(report).toMatchObject({ ok: true, ready: true, appGitSha: SHA_A, database: { gitSha: SHA_A, sha256: v1.database.sha256 } });
    expect(report.tasks.map((t: { name: string; ok: boolean }) => [t.name, t.ok])).toEqual([
      ['database', true],
      ['translations', true],
    ]);

    const old = new Date(Date.now() - 2 * 3_600_000);
    await utimes(path.join(pod, '.sqlitening', 'tasks', 'translations'), old, old);
    const stale = await get('/healthz');
    expect(stale.status).toBe(500);
    expect(JSON.parse(stale.body).tasks[1]).toMatchObject({ name: 'translations', ok: false, limitSeconds: 3600 });
    expect((await get('/readyz')).status).toBe(200);

    const page = await get('/healthz', { accept: 'text/html' });
    expect(page.status).toBe(500);
    expect(page.type).toContain('text/html');
    expect(page.body).toContain('<td>translations</td>');
    expect(page.body).toContain('STALE');
  });

  it('checks the Host header against names and CIDR ranges', async () => {
    expect((await get('/livez', { host: 'evil.example.com' })).status).toBe(400);
    expect((await get('/livez', { host: '203.0.113.9:9090' })).status).toBe(400);
    expect((await get('/livez', { host: '10.42.7.13:9090' })).status).toBe(200);
    expect((await get('/livez', { host: '10.42.7.13' })).status).toBe(200);
    expect((await get('/livez', { host: '[fd00::1]:9090' })).status).toBe(200);
    expect((await get('/livez', { host: '[2001:db8::1]' })).status).toBe(400);
    expect((await get('/livez', { host: 'web.default.svc.cluster.local:9090' })).status).toBe(200);
    expect((await get('/livez', { host: 'LOCALHOST' })).status).toBe(200);
  });

  it('serves /metrics as Prometheus text', async () => {
    await publish(1);
    await agent.runOnce();
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    const families = parsePrometheusTextFormat(metrics.body) as Array<{ name: string; metrics: Array<{ value: string; labels?: Record<string, string> }> }>;
    const byName = new Map(families.map((f) => [f.name, f]));
    expect(byName.get('sqlitening_sync_runs_total')?.metrics).toContainEqual({ value: '1', labels: { result: 'installed' } });
    expect(Number(byName.get('sqlitening_downloaded_bytes_total')?.metrics[0]?.value)).toBeGreaterThan(0);
    expect(Number(byName.get('sqlitening_database_age_seconds')?.metrics[0]?.value)).toBeGreaterThanOrEqual(0);
    expect(Number(byName.get('sqlitening_last_success_timestamp_seconds')?.metrics[0]?.value)).toBeGreaterThan(1.7e9);
    expect(byName.has('sqlitening_agent_process_resident_memory_bytes')).toBe(true);
  });
});
