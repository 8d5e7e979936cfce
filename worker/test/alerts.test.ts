import { SELF, reset, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifySignature } from '@sqlitening/contract';
import type { Board } from '../src/board.js';
import { DB_1, DB_2, SHA_A, boardStub, evaluate, heartbeat, keepAlive, post, received, staleTasks, waitFor } from './helpers.js';

const MINUTE = 60_000;

/** Keeps the expected-but-otherwise-unused cluster healthy, so it does not add alerts of its own. */
async function healthyApSouth(): Promise<void> {
  expect((await post(heartbeat('ap-south', 'ap-1'))).status).toBe(202);
}

const bodies = (log: Awaited<ReturnType<typeof received>>, path: string) => log.filter((r) => r.path === path).map((r) => JSON.parse(r.body || 'null'));

beforeEach(async () => {
  await received(true);
});
afterEach(async () => {
  await reset();
});

describe('staleness transitions and webhooks', () => {
  it('sends one alert per transition, retrying a failing receiver until it answers 200', async () => {
    await healthyApSouth();
    await post([heartbeat('eu-west', 'web-1'), heartbeat('eu-west', 'web-2')]);
    const first = await evaluate();
    expect(first.find((v) => v.cluster === 'eu-west')?.state).toBe('ok');
    expect((await received()).filter((r) => r.method === 'POST')).toEqual([]);

    await post([heartbeat('eu-west', 'web-1', { tasks: staleTasks }), heartbeat('eu-west', 'web-2', { tasks: staleTasks })]);
    const now = Date.now();
    await evaluate(now);
    // The JSON receiver fails the first two requests of each alert; the alarm retries (backoff base 0 in these tests).
    let log = await waitFor(async () => {
      const all = await received();
      return all.filter((r) => r.path === '/fail-2/json' && r.status === 200).length === 1 ? all : undefined;
    });
    const json = log.filter((r) => r.path === '/fail-2/json');
    expect(json.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(new Set(json.map((r) => r.headers['x-sqlitening-alert-id'])).size).toBe(1);
    const alert = JSON.parse(json[2]!.body);
    expect(alert).toMatchObject({ type: 'sqlitening.alert', version: 1, kind: 'stale', cluster: 'eu-west', reasons: ['2 of 2 pods stale'] });
    const check = await verifySignature({
      secret: 'webhook-signing-secret',
      body: json[2]!.body,
      timestamp: json[2]!.headers['x-sqlitening-timestamp'] ?? null,
      signature: json[2]!.headers['x-sqlitening-signature'] ?? null,
      now: Number(json[2]!.headers['x-sqlitening-timestamp']) * 1000,
    });
    expect(check).toBe('ok');
    expect(bodies(log, '/slack').map((b) => b.text)).toHaveLength(1);
    expect(bodies(log, '/slack')[0].text).toMatch(
      /^:red_circle: Cluster \*eu-west\* is STALE: 2 of 2 pods stale\n• `web-1`: task database last succeeded 30m ago \(limit 10m\)/,
    );

    // More rounds: nothing new while the state holds.
    await evaluate(now + 1000);
    await evaluate(now + 2000);
    expect((await received()).length).toBe(log.length);

    // Recovery: exactly one "recovered" alert to each webhook.
    await post([heartbeat('eu-west', 'web-1'), heartbeat('eu-west', 'web-2')]);
    await received(true);
    await evaluate(now + 3000);
    log = await waitFor(async () => {
      const all = await received();
      return all.filter((r) => r.path === '/fail-2/json' && r.status === 200).length === 1 ? all : undefined;
    });
    await evaluate(now + 4000);
    log = await received();
    expect(bodies(log, '/slack').map((b) => b.text)).toEqual([':large_green_circle: Cluster *eu-west* recovered']);
    expect(log.filter((r) => r.path === '/fail-2/json' && r.status === 200).map((r) => JSON.parse(r.body).kind)).toEqual(['recovered']);

    const view = await runInDurableObject(boardStub(), (board: Board) => board.view());
    const history = view.alerts.filter((a) => a.cluster === 'eu-west').map((a) => [a.kind, a.deliveries.map((d) => `${d.status}/${d.attempts}`).join(',')]);
    expect(history).toEqual([
      ['recovered', 'delivered/3,delivered/1'],
      ['stale', 'delivered/3,delivered/1'],
    ]);
  });

  it('reminds while a cluster stays stale, at the configured interval', async () => {
    await healthyApSouth();
    await post(heartbeat('us-east', 'u-1', { tasks: staleTasks }));
    const now = Date.now();
    await evaluate(now);
    // Heartbeats keep arriving (the pod is alive but stale), so the cluster is not silent.
    await keepAlive(now + 30 * MINUTE);
    await evaluate(now + 30 * MINUTE);
    expect(bodies(await received(), '/slack').map((b) => b.text.split(':')[1])).toEqual(['red_circle']);
    await keepAlive(now + 61 * MINUTE);
    await evaluate(now + 61 * MINUTE);
    const texts = bodies(await received(), '/slack').map((b) => b.text as string);
    expect(texts).toHaveLength(2);
    expect(texts[1]).toMatch(/^:red_circle: Cluster \*us-east\* is still STALE/);
  });

  it('alerts for an expected cluster that never reports', async () => {
    const verdicts = await evaluate();
    expect(verdicts.find((v) => v.cluster === 'ap-south')).toMatchObject({ state: 'stale', reasons: ['no pod has reported'] });
    expect(bodies(await received(), '/slack').map((b) => b.text)).toEqual([':red_circle: Cluster *ap-south* is STALE: no pod has reported']);
  });

  it('alerts when a cluster goes silent, then forgets its pods after the TTL without alerting', async () => {
    await healthyApSouth();
    await post(heartbeat('eu-west', 'web-1'));
    const now = Date.now();
    await evaluate(now);
    await keepAlive(now + 11 * MINUTE, 'ap-south');
    await evaluate(now + 11 * MINUTE);
    expect(bodies(await received(true), '/slack').map((b) => b.text)).toEqual([':red_circle: Cluster *eu-west* is STALE: no heartbeat for 11m']);
    await keepAlive(now + 61 * MINUTE, 'ap-south');
    await evaluate(now + 61 * MINUTE);
    const view = await runInDurableObject(boardStub(), (board: Board) => board.view(now + 61 * MINUTE));
    expect(view.clusters.map((c) => c.id)).toEqual(['ap-south']);
    expect(bodies(await received(), '/slack')).toEqual([]);
  });

  it('flags version skew: a pod left on an older snapshot after a newer one appeared', async () => {
    await healthyApSouth();
    const now = Date.now();
    await post(heartbeat('eu-west', 'old'));
    await post(heartbeat('eu-west', 'new', { database: { gitSha: SHA_A, sha256: DB_2, createdAt: new Date(now - 1000).toISOString() } }));
    await runInDurableObject(boardStub(), (_: Board, state) => {
      state.storage.sql.exec('UPDATE sightings SET first_seen_at = ? WHERE sha256 = ?', now - 20 * MINUTE, DB_2);
    });
    const verdicts = await evaluate(now);
    expect(verdicts.find((v) => v.cluster === 'eu-west')).toMatchObject({ state: 'stale', reasons: ['1 pod on an older snapshot'] });
    expect(DB_1).not.toBe(DB_2);
  });
});

describe("dead man's switch", () => {
  it('is pinged after a round in which every cluster is healthy, and not otherwise', async () => {
    await evaluate();
    // ap-south is expected but silent: no ping, whatever rounds the alarm adds.
    await waitFor(async () => ((await received()).some((r) => r.path === '/slack') ? true : undefined));
    expect((await received()).filter((r) => r.path === '/deadman')).toEqual([]);
    await healthyApSouth();
    await post(heartbeat('eu-west', 'web-1'));
    await evaluate();
    const pings = (await received()).filter((r) => r.path === '/deadman');
    expect(pings.length).toBeGreaterThanOrEqual(1);
    expect(pings.every((r) => r.method === 'GET')).toBe(true);
    const view = await runInDurableObject(boardStub(), (board: Board) => board.view());
    expect(view.deadMan.lastResult).toBe('ok');
  });

  it('runs from the Durable Object alarm, which reschedules itself', async () => {
    await healthyApSouth();
    const stub = boardStub();
    expect(await runInDurableObject(stub, (_: Board, state) => state.storage.getAlarm())).not.toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await received()).filter((r) => r.path === '/deadman')).toHaveLength(1);
    expect(await runInDurableObject(stub, (_: Board, state) => state.storage.getAlarm())).toBeGreaterThan(Date.now());
  });
});

describe('read side', () => {
  it('serves the board as JSON with an ETag, as HTML, per cluster, and as a badge', async () => {
    await post([heartbeat('eu-west', 'web-1'), heartbeat('eu-west', 'web-2', { tasks: staleTasks })]);
    const json = await SELF.fetch('https://board.test/v1/board');
    expect(json.status).toBe(200);
    expect(json.headers.get('cache-control')).toBe('no-cache');
    const etag = json.headers.get('etag');
    expect(etag).toMatch(/^"[0-9a-f]{24}"$/);
    const view = (await json.json()) as { clusters: Array<{ id: string; pods: Array<{ pod: string; state: string }> }> };
    expect(view.clusters.find((c) => c.id === 'eu-west')?.pods.map((p) => [p.pod, p.state])).toEqual([
      ['web-1', 'ok'],
      ['web-2', 'stale'],
    ]);
    expect((await SELF.fetch('https://board.test/v1/board', { headers: { 'if-none-match': etag! } })).status).toBe(304);

    const cluster = await SELF.fetch('https://board.test/v1/clusters/eu-west');
    expect(((await cluster.json()) as { cluster: { id: string; state: string } }).cluster).toMatchObject({ id: 'eu-west', state: 'stale' });
    expect((await SELF.fetch('https://board.test/v1/clusters/nowhere')).status).toBe(404);

    const badge = await SELF.fetch('https://board.test/badge/eu-west.svg');
    expect(badge.headers.get('content-type')).toBe('image/svg+xml');
    expect(await badge.text()).toContain('eu-west: stale');
    expect(await (await SELF.fetch('https://board.test/badge/nowhere.svg')).text()).toContain('nowhere: unknown');

    const html = await (await SELF.fetch('https://board.test/')).text();
    expect(html).toContain('data-cluster="eu-west" data-state="stale"');
    expect(html).toContain('data-pod="web-2" data-state="stale"');
    expect(html).toContain('<meta http-equiv="refresh" content="30">');
  });
});
