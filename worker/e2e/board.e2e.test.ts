import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody, type Heartbeat } from '@sqlitening/contract';
import { startWranglerDev } from '../scripts/wrangler-dev.js';

type DevServer = Awaited<ReturnType<typeof startWranglerDev>>;

const SECRETS = { 'eu-west': 'eu-west-secret-0123456789', 'us-east': 'us-east-secret-0123456789' };
const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');

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

async function send(beats: Heartbeat[]): Promise<void> {
  const body = JSON.stringify(beats);
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = await signBody(SECRETS[beats[0]!.cluster as keyof typeof SECRETS], timestamp, body);
  const response = await fetch(`${board.url}/v1/heartbeats`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: signature },
    body,
  });
  expect(response.status).toBe(202);
}

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

describe('the board page in Chromium, served by wrangler dev', () => {
  it('shows each cluster and its pods in the right states and colours', async () => {
    await send([heartbeat('eu-west', 'web-7f9c-1', true), heartbeat('eu-west', 'web-7f9c-2', false)]);
    await send([heartbeat('us-east', 'api-1', true), heartbeat('us-east', 'api-2', true), heartbeat('us-east', 'api-3', true)]);

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const response = await page.goto(`${board.url}/`);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe('1 stale · Sqlitening freshness');

    const clusters = await page.$$eval('section.cluster', (sections) => sections.map((s) => [s.getAttribute('data-cluster'), s.getAttribute('data-state')]));
    expect(clusters).toEqual([
      ['eu-west', 'stale'],
      ['us-east', 'ok'],
    ]);
    const rows = await page.$$eval('tr.pod', (trs) => trs.map((tr) => [tr.getAttribute('data-pod'), tr.getAttribute('data-state')]));
    expect(rows).toEqual([
      ['web-7f9c-1', 'ok'],
      ['web-7f9c-2', 'stale'],
      ['api-1', 'ok'],
      ['api-2', 'ok'],
      ['api-3', 'ok'],
    ]);
    // Colours come from the stylesheet: a stale row is tinted red, a healthy one is not.
    const staleBg = await page.$eval('tr[data-pod="web-7f9c-2"] td', (td) => getComputedStyle(td).backgroundColor);
    const okBg = await page.$eval('tr[data-pod="api-1"] td', (td) => getComputedStyle(td).backgroundColor);
    expect(staleBg).toBe('rgb(255, 235, 233)');
    expect(okBg).toBe('rgba(0, 0, 0, 0)');
    // Relative times are filled in by the page's script.
    expect(await page.$eval('tr[data-pod="api-1"] td:nth-child(6) time', (t) => t.textContent)).toMatch(/^\d+s ago$/);
    expect(await page.textContent('section[data-cluster="eu-west"] p.why')).toBe('1 of 2 pods stale');
    await page.screenshot({ path: path.join(ARTIFACTS, 'board.png'), fullPage: true });

    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await phone.goto(`${board.url}/`);
    expect(await phone.$$eval('tr.pod', (trs) => trs.length)).toBe(5);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await phone.screenshot({ path: path.join(ARTIFACTS, 'board-phone.png'), fullPage: true });
  });
});
