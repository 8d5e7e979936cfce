import { SELF, reset } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Heartbeat } from '@sqlitening/contract';
import type { BoardView } from '../src/board-view.js';
import { evaluate, heartbeat, post, received, staleTasks } from './helpers.js';

// The test config gives the cluster "noisy" 10 pods and 30 heartbeats a minute (clusterLimits); the others keep the defaults.

const noisy = (from: number, count: number): Heartbeat[] => Array.from({ length: count }, (_, i) => heartbeat('noisy', `pod-${from + i}`));

beforeEach(async () => {
  await received(true);
});
afterEach(async () => {
  await reset();
});

describe("one cluster's limits", () => {
  it("answer 429 with the reason once it is over its pods or its rate, while another cluster's heartbeats and alerts go on", async () => {
    expect((await post(noisy(0, 10))).status).toBe(202);

    // New pods past the cap: the whole batch is refused, and waiting does not help.
    const crowded = await post(noisy(10, 5));
    expect(crowded.status).toBe(429);
    expect(crowded.headers.get('retry-after')).toBeNull();
    expect(await crowded.json()).toEqual({
      status: 429,
      error:
        'cluster noisy has 10 pods, its limit is 10 (limits.podsPerCluster): 5 new pods refused; known pods keep reporting, pods silent for podTtl are forgotten',
    });

    // Known pods keep reporting, up to the rate: 30 heartbeats a minute, 10 spent.
    expect((await post(noisy(0, 10))).status).toBe(202);
    expect((await post(noisy(0, 10))).status).toBe(202);
    const fast = await post(noisy(0, 10));
    expect(fast.status).toBe(429);
    expect(await fast.json()).toEqual({ status: 429, error: 'cluster noisy is over its limit of 30 heartbeats per minute (limits.heartbeatsPerMinute)' });
    // Tokens come back at half a heartbeat a second: about 20 s for 10.
    const retryAfter = Number(fast.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(19);
    expect(retryAfter).toBeLessThanOrEqual(20);

    // Meanwhile another cluster reports as often as it likes, goes stale, and its alert goes out.
    for (let i = 0; i < 40; i++) expect((await post(heartbeat('eu-west', 'web-1', { tasks: staleTasks }))).status).toBe(202);
    expect(await evaluate('eu-west')).toMatchObject({ state: 'stale', reasons: ['1 of 1 pods stale'] });
    const slack = (await received()).filter((r) => r.path === '/slack').map((r) => JSON.parse(r.body).text as string);
    expect(slack).toEqual([expect.stringMatching(/^:red_circle: Cluster \*eu-west\* is STALE: 1 of 1 pods stale/)]);
    // Refused batches stored nothing: noisy still has its first 10 pods.
    const board = (await (await SELF.fetch('https://board.test/v1/board')).json()) as BoardView;
    expect(board.clusters.find((c) => c.id === 'noisy')?.pods.total).toBe(10);
    expect(board.clusters.find((c) => c.id === 'eu-west')?.state).toBe('stale');
  });

  it('refuse a batch larger than the rate can ever allow, without a Retry-After', async () => {
    const response = await post(noisy(0, 31).map((h, i) => ({ ...h, pod: `pod-${i % 10}` })));
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBeNull();
    expect(((await response.json()) as { error: string }).error).toBe(
      'cluster noisy is over its limit of 30 heartbeats per minute (limits.heartbeatsPerMinute): a batch of 31 can never fit',
    );
  });
});
