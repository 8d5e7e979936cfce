import { FIRST_PAGE } from '../src/board-query.js';
import { SELF, createScheduledController, env, reset, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifySignature } from '@sqlitening/contract';
import type { BoardIndex } from '../src/board-index.js';
import type { ClusterBoard } from '../src/cluster-board.js';
import worker from '../src/index.js';
import { readConfig } from '../src/config.js';
import { deliverDue } from '../src/outbox.js';
import type { BoardView, ClusterLine } from '../src/board-view.js';
import {
  DB_1,
  DB_2,
  SHA_A,
  clusterSql,
  clusterStub,
  evaluate,
  evaluateIndex,
  heartbeat,
  indexStub,
  keepAlive,
  post,
  received,
  staleTasks,
  waitFor,
} from './helpers.js';

const MINUTE = 60_000;

const bodies = (log: Awaited<ReturnType<typeof received>>, path: string) => log.filter((r) => r.path === path).map((r) => JSON.parse(r.body || 'null'));

/** Waits until the JSON receiver (which fails twice per alert) has accepted `count` alerts. */
const jsonDelivered = (count: number) =>
  waitFor(async () => {
    const all = await received();
    return all.filter((r) => r.path === '/fail-2/json' && r.status === 200).length === count ? all : undefined;
  });

beforeEach(async () => {
  await received(true);
});
afterEach(async () => {
  await reset();
});

describe('webhook redirects', () => {
  it('are not followed: the signed alert reaches only the configured URL, and the delivery fails naming the redirect', async () => {
    await post([heartbeat('eu-west', 'web-1')]);
    const now = Date.now();
    await runInDurableObject(clusterStub('eu-west'), async (_: ClusterBoard, state) => {
      state.storage.sql.exec(
        "INSERT INTO deliveries (alert_id, target, url, kind, body, status, attempts, next_attempt_at) VALUES (999, 0, ?, 'json', '{}', 'pending', 0, ?)",
        `${env.RECEIVER_URL}/redirect/json`,
        now,
      );
      await deliverDue(state.storage.sql, 'eu-west', now, readConfig(env), 'webhook-signing-secret');
      const row = state.storage.sql.exec('SELECT last_error FROM deliveries WHERE alert_id = 999').one();
      expect(String(row.last_error)).toMatch(/^HTTP 307: a redirect, not followed/);
    });
    const log = await received();
    expect(log.filter((r) => r.path === '/redirect/json')).toHaveLength(1);
    expect(log.filter((r) => r.path.startsWith('/landed/'))).toEqual([]);
  });
});

describe('staleness transitions and webhooks', () => {
  it('sends one alert per transition, retrying a failing receiver until it answers 200', async () => {
    await post([heartbeat('eu-west', 'web-1'), heartbeat('eu-west', 'web-2')]);
    const first = await evaluate('eu-west');
    expect(first?.state).toBe('ok');
    expect((await received()).filter((r) => r.method === 'POST')).toEqual([]);

    await post([heartbeat('eu-west', 'web-1', { tasks: staleTasks }), heartbeat('eu-west', 'web-2', { tasks: staleTasks })]);
    const now = Date.now();
    await evaluate('eu-west', now);
    // The JSON receiver fails the first two requests of each alert; the cluster's alarm retries (backoff base 0 in these tests).
    let log = await jsonDelivered(1);
    const json = log.filter((r) => r.path === '/fail-2/json');
    expect(json.map((r) => r.status)).toEqual([500, 500, 200]);
    // The alert id names the cluster: alerts are numbered per cluster, and a receiver drops duplicates by this header alone.
    expect(new Set(json.map((r) => r.headers['x-sqlitening-alert-id']))).toEqual(new Set(['eu-west:1']));
    const alert = JSON.parse(json[2]!.body);
    expect(alert).toMatchObject({ type: 'sqlitening.alert', version: 1, id: 1, kind: 'stale', cluster: 'eu-west', reasons: ['2 of 2 pods stale'] });
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
    await evaluate('eu-west', now + 1000);
    await evaluate('eu-west', now + 2000);
    expect((await received()).length).toBe(log.length);

    // Recovery: exactly one "recovered" alert to each webhook.
    await post([heartbeat('eu-west', 'web-1'), heartbeat('eu-west', 'web-2')]);
    await received(true);
    await evaluate('eu-west', now + 3000);
    await jsonDelivered(1);
    await evaluate('eu-west', now + 4000);
    log = await received();
    expect(bodies(log, '/slack').map((b) => b.text)).toEqual([':large_green_circle: Cluster *eu-west* recovered']);
    expect(log.filter((r) => r.path === '/fail-2/json' && r.status === 200).map((r) => JSON.parse(r.body).kind)).toEqual(['recovered']);

    const view = await runInDurableObject(clusterStub('eu-west'), (board: ClusterBoard) => board.view('eu-west'));
    const history = view.alerts.map((a) => [a.kind, a.deliveries.map((d) => `${d.status}/${d.attempts}`).join(',')]);
    expect(history).toEqual([
      ['recovered', 'delivered/3,delivered/1'],
      ['stale', 'delivered/3,delivered/1'],
    ]);
    // The index shows the same history, sent with the cluster's summary.
    const board = await runInDurableObject(indexStub(), (index: BoardIndex) => index.view());
    expect(board.alerts.filter((a) => a.cluster === 'eu-west').map((a) => a.kind)).toEqual(['recovered', 'stale']);
  });

  it('reminds while a cluster stays stale, at the configured interval', async () => {
    await post(heartbeat('us-east', 'u-1', { tasks: staleTasks }));
    const now = Date.now();
    await evaluate('us-east', now);
    // Heartbeats keep arriving (the pod is alive but stale), so the cluster is not silent.
    await keepAlive('us-east', now + 30 * MINUTE);
    await evaluate('us-east', now + 30 * MINUTE);
    expect(bodies(await received(), '/slack').map((b) => b.text.split(':')[1])).toEqual(['red_circle']);
    await keepAlive('us-east', now + 61 * MINUTE);
    await evaluate('us-east', now + 61 * MINUTE);
    const texts = bodies(await received(), '/slack').map((b) => b.text as string);
    expect(texts).toHaveLength(2);
    expect(texts[1]).toMatch(/^:red_circle: Cluster \*us-east\* is still STALE/);
  });

  it('alerts for an expected cluster that never reports: the index wakes its object, whose round alerts', async () => {
    const lines = await evaluateIndex();
    expect(lines.find((l) => l.id === 'ap-south')).toMatchObject({ state: 'stale', reasons: ['no pod has reported'], expected: true, reportedAt: null });
    // Woken: the cluster's object exists and its alarm is set, though no pod ever reported.
    expect(await runInDurableObject(clusterStub('ap-south'), (_: ClusterBoard, state) => state.storage.getAlarm())).not.toBeNull();
    expect(await runDurableObjectAlarm(clusterStub('ap-south'))).toBe(true);
    expect(bodies(await received(), '/slack').map((b) => b.text)).toEqual([':red_circle: Cluster *ap-south* is STALE: no pod has reported']);
    const line = (await runInDurableObject(indexStub(), (index: BoardIndex) => index.view())).clusters.find((c) => c.id === 'ap-south');
    expect(line).toMatchObject({ state: 'stale', reasons: ['no pod has reported'], expected: true });
    expect(line?.reportedAt).not.toBeNull();
  });

  it('alerts when a cluster goes silent, then forgets its pods after the TTL without alerting', async () => {
    await post(heartbeat('eu-west', 'web-1'));
    const now = Date.now();
    await evaluate('eu-west', now);
    await evaluate('eu-west', now + 11 * MINUTE);
    expect(bodies(await received(true), '/slack').map((b) => b.text)).toEqual([':red_circle: Cluster *eu-west* is STALE: no heartbeat for 11m']);
    await evaluate('eu-west', now + 61 * MINUTE);
    const view = await runInDurableObject(indexStub(), (index: BoardIndex) => index.view(FIRST_PAGE, now + 61 * MINUTE));
    expect(view.clusters.map((c) => c.id)).toEqual(['ap-south']);
    expect(bodies(await received(), '/slack')).toEqual([]);
    // Nothing left to evaluate once the stale alert is delivered (the JSON receiver, cleared above, fails twice more): the alarm stops until a pod reports again.
    await evaluate('eu-west', now + 62 * MINUTE);
    expect(await runInDurableObject(clusterStub('eu-west'), (_: ClusterBoard, state) => state.storage.getAlarm())).not.toBeNull();
    await evaluate('eu-west', now + 63 * MINUTE);
    expect(await runInDurableObject(clusterStub('eu-west'), (_: ClusterBoard, state) => state.storage.getAlarm())).toBeNull();
  });

  it('flags version skew: a pod left on an older snapshot after a newer one appeared', async () => {
    const now = Date.now();
    await post(heartbeat('eu-west', 'old'));
    await post(heartbeat('eu-west', 'new', { database: { gitSha: SHA_A, sha256: DB_2, createdAt: new Date(now - 1000).toISOString() } }));
    await clusterSql('eu-west', 'UPDATE sightings SET first_seen_at = ? WHERE sha256 = ?', now - 20 * MINUTE, DB_2);
    const verdict = await evaluate('eu-west', now);
    expect(verdict).toMatchObject({ state: 'stale', reasons: ['1 pod on an older snapshot'] });
    expect(DB_1).not.toBe(DB_2);
  });
});

describe("dead man's switch", () => {
  it('is pinged after an index round in which every cluster is healthy, and not otherwise', async () => {
    // ap-south is expected but silent: no ping.
    await evaluateIndex();
    expect((await received()).filter((r) => r.path === '/deadman')).toEqual([]);
    await post(heartbeat('ap-south', 'ap-1'));
    await post(heartbeat('eu-west', 'web-1', { tasks: staleTasks }));
    await evaluateIndex();
    expect((await received()).filter((r) => r.path === '/deadman')).toEqual([]);
    await post(heartbeat('eu-west', 'web-1'));
    await evaluateIndex();
    const pings = (await received()).filter((r) => r.path === '/deadman');
    expect(pings).toHaveLength(1);
    expect(pings[0]!.method).toBe('GET');
    const view = await runInDurableObject(indexStub(), (index: BoardIndex) => index.view());
    expect(view.deadMan.lastResult).toBe('ok');
  });

  it("is not pinged while a cluster's rounds have stopped, and the index wakes that cluster", async () => {
    await post(heartbeat('ap-south', 'ap-1'));
    await runInDurableObject(clusterStub('ap-south'), (_: ClusterBoard, state) => state.storage.deleteAlarm());
    const later = Date.now() + 5 * MINUTE;
    await keepAlive('ap-south', later);
    const lines = await evaluateIndex(later);
    expect(lines.find((l) => l.id === 'ap-south')).toMatchObject({ state: 'stale', reasons: ['not evaluated for 5m'] });
    expect((await received()).filter((r) => r.path === '/deadman')).toEqual([]);
    expect(await runInDurableObject(clusterStub('ap-south'), (_: ClusterBoard, state) => state.storage.getAlarm())).not.toBeNull();
  });

  it('runs from the alarms: the cron trigger starts the index, which reschedules itself; clusters keep their own', async () => {
    await post(heartbeat('ap-south', 'ap-1'));
    await worker.scheduled(createScheduledController(), env);
    expect(await runInDurableObject(indexStub(), (_: BoardIndex, state) => state.storage.getAlarm())).not.toBeNull();
    expect(await runDurableObjectAlarm(indexStub())).toBe(true);
    expect((await received()).filter((r) => r.path === '/deadman')).toHaveLength(1);
    expect(await runInDurableObject(indexStub(), (_: BoardIndex, state) => state.storage.getAlarm())).toBeGreaterThan(Date.now());
    // A heartbeat set the cluster's alarm; its round sends the index a summary and sets the next one.
    expect(await runDurableObjectAlarm(clusterStub('ap-south'))).toBe(true);
    expect(await runInDurableObject(clusterStub('ap-south'), (_: ClusterBoard, state) => state.storage.getAlarm())).toBeGreaterThan(Date.now());
  });
});

describe('read side', () => {
  it('serves the board as one line per cluster (JSON with an ETag, HTML), each cluster with its pods, and badges', async () => {
    await post([heartbeat('eu-west', 'web-1'), heartbeat('eu-west', 'web-2', { tasks: staleTasks })]);
    await post([heartbeat('us-east', 'api-1'), heartbeat('us-east', 'api-2')]);
    const json = await SELF.fetch('https://board.test/v1/board');
    expect(json.status).toBe(200);
    expect(json.headers.get('cache-control')).toBe('no-cache');
    const etag = json.headers.get('etag');
    expect(etag).toMatch(/^"[0-9a-f]{24}"$/);
    const view = (await json.json()) as BoardView;
    // Stale first (the expected, silent ap-south too), then the rest; by name within each.
    expect(view.clusters.map((c) => [c.id, c.health])).toEqual([
      ['ap-south', 'stale'],
      ['eu-west', 'stale'],
      ['us-east', 'ok'],
    ]);
    const euWest = view.clusters.find((c) => c.id === 'eu-west') as ClusterLine;
    expect(euWest).toMatchObject({
      state: 'stale',
      reasons: ['1 of 2 pods stale'],
      pods: { total: 2, fresh: 1, stale: 1, lagging: 0 },
      commits: [{ gitSha: SHA_A, pods: 2 }],
    });
    expect(euWest.oldestSyncAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(JSON.stringify(view)).not.toContain('web-2');
    expect((await SELF.fetch('https://board.test/v1/board', { headers: { 'if-none-match': etag! } })).status).toBe(304);

    const cluster = await SELF.fetch('https://board.test/v1/clusters/eu-west');
    const body = (await cluster.json()) as { cluster: { id: string; state: string; pods: Array<{ pod: string; state: string }> } };
    expect(body.cluster).toMatchObject({ id: 'eu-west', state: 'stale' });
    expect(body.cluster.pods.map((p) => [p.pod, p.state])).toEqual([
      ['web-1', 'ok'],
      ['web-2', 'stale'],
    ]);
    for (const path of ['/v1/clusters/nowhere', '/clusters/nowhere', '/clusters/no%20such', '/v1/clusters/constructor']) {
      expect((await SELF.fetch(`https://board.test${path}`)).status, path).toBe(404);
    }

    const badge = await SELF.fetch('https://board.test/badge/eu-west.svg');
    expect(badge.headers.get('content-type')).toBe('image/svg+xml');
    expect(await badge.text()).toContain('eu-west: stale');
    expect(await (await SELF.fetch('https://board.test/badge/us-east.svg')).text()).toContain('us-east: ok');
    expect(await (await SELF.fetch('https://board.test/badge/nowhere.svg')).text()).toContain('nowhere: unknown');

    const html = await (await SELF.fetch('https://board.test/')).text();
    expect(html).toContain('data-cluster="eu-west" data-state="stale" data-health="stale"');
    expect(html).toContain('href="/clusters/eu-west"');
    expect(html).toContain('1/2 pods fresh');
    expect(html).not.toContain('data-pod=');
    expect(html).toContain('<meta http-equiv="refresh" content="30">');

    const page = await SELF.fetch('https://board.test/clusters/eu-west');
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const pageHtml = await page.text();
    // Stale pods first on the page.
    expect([...pageHtml.matchAll(/data-pod="([^"]+)" data-state="(\w+)"/g)].map((m) => [m[1], m[2]])).toEqual([
      ['web-2', 'stale'],
      ['web-1', 'ok'],
    ]);
  });
});
