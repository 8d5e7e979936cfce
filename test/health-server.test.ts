import { spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error no declaration file
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { Manifest } from '@sqlitening/contract';
import { publishSnapshot } from '../src/publish/publish.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';
import { LocalStore } from '../src/store/local-store.js';
import { type AgentProcess, get, startAgent } from './helpers/agent-process.js';
import { FaultServer } from './helpers/fault-server.js';
import { SHA_A, makeContentDatabase, tempFolder } from './helpers/fixtures.js';

/*
 * The agent's health server as probes and strangers reach it: a real agent
 * process, raw sockets for what an HTTP client would not send.
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

/** Resolves when `check` holds, polling; rejects after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

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
