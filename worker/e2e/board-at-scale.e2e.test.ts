// The board configured for 10,000 clusters as the README tells an operator
// (one root secret, each cluster's key printed by scripts/cluster-key.js),
// within Cloudflare's 5 KB per variable, under wrangler dev; then its pages
// at 10,000 clusters in Chromium, on a desktop and at 390 px.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody, type Heartbeat } from '@sqlitening/contract';
import { benchConfig, startWranglerDev } from '../scripts/wrangler-dev.js';
import { deriveClusterKey } from '../src/cluster-key.js';

type DevServer = Awaited<ReturnType<typeof startWranglerDev>>;

const run = promisify(execFile);
const workerDir = path.resolve(import.meta.dirname, '..');
const ARTIFACTS = path.resolve(workerDir, '../test-artifacts');
/** Cloudflare's limit on one variable or secret of a Worker. */
const VARIABLE_LIMIT = 5 * 1024;
/** Variables and secrets a Worker may have on the free plan. */
const VARIABLE_COUNT_LIMIT = 64;
const CLUSTERS = 10_000;
const STALE = 30;
const DEGRADED = 300;
const FIRST_PAGE_LIMIT = 200 * 1024;
const name = (i: number) => `cluster-${String(i).padStart(4, '0')}`;

let board: DevServer;
let browser: Browser;
let root: string;

/** What the operator runs: `node worker/scripts/cluster-key.js …`. */
async function script(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(workerDir, 'scripts', 'cluster-key.js'), ...args], { env: { ...process.env, ...env } });
  return stdout.trim();
}

/** The vars in wrangler.jsonc, as deployed (full-line comments only there). */
function wranglerVars(): Record<string, string> {
  const text = readFileSync(path.join(workerDir, 'wrangler.jsonc'), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*\/\//.test(line))
    .join('\n');
  return JSON.parse(text).vars;
}

function heartbeat(cluster: string, pod: string): Heartbeat {
  const now = new Date().toISOString();
  return {
    version: 1,
    cluster,
    pod,
    sentAt: now,
    appGitSha: 'a'.repeat(40),
    database: { gitSha: 'a'.repeat(40), sha256: 'c'.repeat(64), createdAt: now },
    lastRunAt: now,
    lastSuccessAt: now,
    lastError: null,
    tasks: [{ name: 'database', ageSeconds: 4, limitSeconds: 600, ok: true }],
  };
}

async function send(cluster: string, key: string): Promise<number> {
  const body = JSON.stringify([heartbeat(cluster, 'web-1')]);
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: await signBody(key, timestamp, body) };
  return (await fetch(`${board.url}/v1/heartbeats`, { method: 'POST', headers, body })).status;
}

/** Summaries as cluster objects send them, for the clusters other than the one that reports for real. */
function summaries(from: number, to: number) {
  const now = Date.now();
  return Array.from({ length: to - from }, (_, k) => {
    const i = from + k;
    const health = i < STALE ? 'stale' : i < STALE + DEGRADED ? 'degraded' : 'ok';
    const stale = health === 'ok' ? 0 : health === 'stale' ? 60 : 1;
    return {
      cluster: name(i),
      state: health === 'stale' ? 'stale' : 'ok',
      since: now - 3_600_000,
      reasons: health === 'stale' ? [`${stale} of 100 pods stale`] : [],
      pods: { total: 100, fresh: 100 - stale, stale, lagging: 0 },
      commits: [{ gitSha: 'a'.repeat(40), pods: 100, lastSeenAt: now }],
      lastHeartbeatAt: now,
      oldestSyncAt: now - 120_000,
      neverSynced: 0,
      alerts: [],
      reportedAt: now,
    };
  });
}

beforeAll(async () => {
  root = await script(['root']);
  board = await startWranglerDev({ CLUSTER_ROOT_KEY: root, ADMIN_TOKEN: await script(['root']) }, { config: await benchConfig() });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  await mkdir(ARTIFACTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await board?.stop();
});

describe('10,000 clusters configured as the README says', () => {
  it('fits every variable and secret in 5 KB, and takes a heartbeat signed with the key the script prints', async () => {
    const settings = { ...wranglerVars(), CLUSTER_ROOT_KEY: root, ADMIN_TOKEN: 'x'.repeat(64) };
    expect(Object.keys(settings).length).toBeLessThanOrEqual(VARIABLE_COUNT_LIMIT);
    for (const [key, value] of Object.entries(settings)) expect(Buffer.byteLength(value), key).toBeLessThanOrEqual(VARIABLE_LIMIT);

    // Every cluster's key comes from the root; the last one's is printed by the script, as the operator would.
    const keys = await Promise.all(Array.from({ length: CLUSTERS }, (_, i) => deriveClusterKey(root, name(i), 1)));
    expect(new Set(keys).size).toBe(CLUSTERS);
    const last = name(CLUSTERS - 1);
    expect(await script(['key', last], { CLUSTER_ROOT_KEY: root })).toBe(keys[CLUSTERS - 1]);
    expect(await send(last, keys[CLUSTERS - 1]!)).toBe(202);
    expect(await send(last, keys[0]!)).toBe(401);
  });
});

describe('the global page at 10,000 clusters in Chromium', () => {
  it('stays under 200 KiB, lists stale clusters first and counts the fresh ones; nothing scrolls sideways at 390 px', async () => {
    for (let i = 0; i < CLUSTERS - 1; i += 2000) {
      const response = await fetch(`${board.url}/__bench/seed`, { method: 'POST', body: JSON.stringify(summaries(i, Math.min(i + 2000, CLUSTERS - 1))) });
      expect(response.status).toBe(200);
    }
    const first = await fetch(`${board.url}/`);
    const bytes = (await first.arrayBuffer()).byteLength;
    expect(bytes).toBeLessThanOrEqual(FIRST_PAGE_LIMIT);

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${board.url}/`);
    expect(await page.textContent('p.counts')).toBe(
      `10,000 clusters: ${STALE} stale · ${DEGRADED} degraded · ${(CLUSTERS - STALE - DEGRADED).toLocaleString('en')} fresh`,
    );
    const healths = await page.$$eval('li.cluster', (items) => items.map((li) => li.getAttribute('data-health')));
    expect(healths).toEqual([...Array(STALE).fill('stale'), ...Array(200 - STALE).fill('degraded')]);
    expect(await page.textContent('p.rest')).toContain(`${(CLUSTERS - STALE - DEGRADED).toLocaleString('en')} fresh clusters not listed`);
    const desktop = path.join(ARTIFACTS, 'board-10000.png');
    await page.screenshot({ path: desktop, fullPage: true });
    expect((await stat(desktop)).size).toBeGreaterThan(10_000);

    // The next page goes on with the degraded clusters, by name.
    await page.click('a.next');
    expect(new URL(page.url()).searchParams.get('health')).toBe('degraded');
    const next = await page.$$eval('li.cluster', (items) => items.map((li) => [li.getAttribute('data-cluster'), li.getAttribute('data-health')]));
    expect(next).toEqual(Array.from({ length: DEGRADED - (200 - STALE) }, (_, k) => [name(200 + k), 'degraded']));

    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, deviceScaleFactor: 2 });
    await phone.goto(`${board.url}/`);
    expect(await phone.evaluate(() => window.innerWidth)).toBe(390);
    expect(await phone.$eval('li.cluster', (li) => li.getAttribute('data-health'))).toBe('stale');
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const small = path.join(ARTIFACTS, 'board-10000-phone.png');
    await phone.screenshot({ path: small, fullPage: true });
    expect((await stat(small)).size).toBeGreaterThan(10_000);
  });
});
