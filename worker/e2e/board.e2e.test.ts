import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody, type Heartbeat } from '@sqlitening/contract';
import { startWranglerDev } from '../scripts/wrangler-dev.js';

type DevServer = Awaited<ReturnType<typeof startWranglerDev>>;

const SECRETS = { 'ap-north': 'ap-north-secret-0123456789', 'eu-west': 'eu-west-secret-0123456789', 'us-east': 'us-east-secret-0123456789' };
const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');
/** The longest pod name there can be: a 253-character DNS name, which must wrap on a phone rather than widen the page. */
const LONG_POD = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;

let board: DevServer;
let browser: Browser;

function heartbeat(cluster: keyof typeof SECRETS, pod: string, fresh: boolean): Heartbeat {
  const now = new Date().toISOString();
  return {
    version: 1,
    cluster,
    pod,
    sentAt: now,
    appGitSha: 'a'.repeat(40),
    database: { gitSha: 'a'.repeat(40), sha256: 'c'.repeat(64), createdAt: new Date(Date.now() - 300_000).toISOString() },
    lastRunAt: now,
    lastSuccessAt: fresh ? now : new Date(Date.now() - 3_600_000).toISOString(),
    lastError: fresh ? null : 'store-error: https://snapshots.example.com answered HTTP 503',
    tasks: [{ name: 'database', ageSeconds: fresh ? 4 : 3600, limitSeconds: 600, ok: fresh }],
  };
}

async function send(url: string, beats: Heartbeat[], secret = SECRETS[beats[0]!.cluster as keyof typeof SECRETS]): Promise<Response> {
  const body = JSON.stringify(beats);
  const timestamp = Math.floor(Date.now() / 1000);
  return fetch(`${url}/v1/heartbeats`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: await signBody(secret, timestamp, body) },
    body,
  });
}

/** How far the page is wider than the screen (0 or less: no horizontal scrolling). */
const overflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

beforeAll(async () => {
  board = await startWranglerDev({ CLUSTER_SECRETS: JSON.stringify(SECRETS) });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  await mkdir(ARTIFACTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await board?.stop();
});

describe('the board in Chromium, served by wrangler dev', () => {
  it('lists stale clusters first, one line each, with pods on each cluster page; nothing scrolls sideways on a phone', async () => {
    for (const beats of [
      [heartbeat('ap-north', 'web-1', true), heartbeat('ap-north', 'web-2', true)],
      [heartbeat('eu-west', 'web-7f9c-1', true), heartbeat('eu-west', 'web-7f9c-2', false), heartbeat('eu-west', LONG_POD, false)],
      [heartbeat('us-east', 'api-1', true), heartbeat('us-east', 'api-2', true), heartbeat('us-east', 'api-3', false)],
    ]) {
      expect((await send(board.url, beats)).status).toBe(202);
    }

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    expect((await page.goto(`${board.url}/`))?.status()).toBe(200);
    expect(await page.title()).toBe('1 stale · Sqlitening freshness');
    // Stale first, then degraded (a stale pod, not enough to alert), then fresh: not name order.
    const lines = await page.$$eval('li.cluster', (items) => items.map((li) => [li.getAttribute('data-cluster'), li.getAttribute('data-health')]));
    expect(lines).toEqual([
      ['eu-west', 'stale'],
      ['us-east', 'degraded'],
      ['ap-north', 'ok'],
    ]);
    expect(await page.textContent('li[data-cluster="eu-west"] .pods')).toBe('1/3 pods fresh');
    expect(await page.textContent('li[data-cluster="eu-west"] p.why')).toBe('2 of 3 pods stale');
    expect(await page.textContent('li[data-cluster="us-east"] .commits')).toBe('1 commit aaaaaaaa');
    // The worst data age, in the reader's clock: the stalest pod synced an hour ago.
    expect(await page.textContent('li[data-cluster="eu-west"] .age time')).toMatch(/^6[01]m ago$/);
    // Pods are not on the global page.
    expect(await page.$$eval('tr.pod', (rows) => rows.length)).toBe(0);
    // Colours come from the stylesheet.
    const background = (cluster: string) => page.$eval(`li[data-cluster="${cluster}"]`, (li) => getComputedStyle(li).backgroundColor);
    expect(await background('eu-west')).toBe('rgb(255, 235, 233)');
    expect(await background('us-east')).toBe('rgb(255, 248, 197)');
    expect(await background('ap-north')).toBe('rgba(0, 0, 0, 0)');
    expect(await overflow(page)).toBeLessThanOrEqual(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'board.png'), fullPage: true });

    // The cluster's page: its pods, stale first.
    await page.click('li[data-cluster="eu-west"] a.name');
    expect(page.url()).toBe(`${board.url}/clusters/eu-west`);
    const rows = await page.$$eval('tr.pod', (trs) => trs.map((tr) => [tr.getAttribute('data-pod'), tr.getAttribute('data-state')]));
    expect(rows).toEqual([
      [LONG_POD, 'stale'],
      ['web-7f9c-2', 'stale'],
      ['web-7f9c-1', 'ok'],
    ]);
    expect(await page.$eval('tr[data-pod="web-7f9c-2"] td', (td) => getComputedStyle(td).backgroundColor)).toBe('rgb(255, 235, 233)');
    expect(await page.$eval('tr[data-pod="web-7f9c-1"] td[data-label="heartbeat"] time', (t) => t.textContent)).toMatch(/^\d+s ago$/);
    expect(await overflow(page)).toBeLessThanOrEqual(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'cluster.png'), fullPage: true });

    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, deviceScaleFactor: 2 });
    await phone.goto(`${board.url}/`);
    expect(await phone.evaluate(() => window.innerWidth)).toBe(390);
    expect(await phone.$eval('li.cluster', (li) => li.getAttribute('data-cluster'))).toBe('eu-west');
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: path.join(ARTIFACTS, 'board-phone.png'), fullPage: true });
    await phone.goto(`${board.url}/clusters/eu-west`);
    expect(await phone.$$eval('tr.pod', (trs) => trs.length)).toBe(3);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: path.join(ARTIFACTS, 'cluster-phone.png'), fullPage: true });

    // Nothing wrangler or workerd printed holds a secret.
    const printed = board.output();
    for (const secret of Object.values(SECRETS)) expect(printed).not.toContain(secret);
  });
});

describe("workerd's output with broken settings", () => {
  it('names the broken secret and the problem, never the value', async () => {
    const secret = 'hunter2-short';
    const broken = await startWranglerDev({ CLUSTER_SECRETS: JSON.stringify({ 'eu-west': secret }) });
    try {
      const response = await send(broken.url, [heartbeat('eu-west', 'web-1', true)], secret);
      expect(response.status).toBe(500);
      const { requestId } = (await response.json()) as { requestId: string };
      const deadline = Date.now() + 10_000;
      while (!broken.output().includes(requestId) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      const printed = broken.output();
      expect(printed).toContain(requestId);
      expect(printed).toContain('invalid CLUSTER_SECRETS: eu-west.0: expected a secret of at least 16 characters (value not shown)');
      expect(printed).not.toContain(secret);
    } finally {
      await broken.stop();
    }
  });
});
