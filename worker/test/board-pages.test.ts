import { SELF, reset, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { WAKE_PER_ROUND, type BoardIndex } from '../src/board-index.js';
import { PAGE_LINES } from '../src/board-query.js';
import type { ClusterLine } from '../src/board-view.js';
import type { ClusterSummary } from '../src/summary.js';
import { SHA_A, evaluateIndex, indexStub } from './helpers.js';

/*
 * The global board at hundreds of clusters: pages by health, counts of the
 * whole board, and an index round that does bounded work. Summaries are
 * stored in the index as cluster objects send them (its `report` method).
 * `ap-south` is expected (vitest.config.ts) and never reports: a stale line.
 */

afterEach(() => reset());

type Health = ClusterLine['health'];
interface BoardJson {
  counts: Record<string, number>;
  page: { health: Health | null; after: string | null };
  next: string | null;
  clusters: ClusterLine[];
}

function summary(cluster: string, health: Health, reportedAt = Date.now()): ClusterSummary {
  const stale = health === 'ok' ? 0 : 1;
  return {
    cluster,
    state: health === 'stale' ? 'stale' : 'ok',
    since: reportedAt,
    reasons: health === 'stale' ? ['1 of 2 pods stale'] : [],
    pods: { total: 2, fresh: 2 - stale, stale, lagging: 0 },
    commits: [{ gitSha: SHA_A, pods: 2, lastSeenAt: reportedAt }],
    lastHeartbeatAt: reportedAt,
    oldestSyncAt: reportedAt,
    neverSynced: 0,
    alerts: [],
    reportedAt,
  };
}

const name = (i: number) => `c-${String(i).padStart(4, '0')}`;

/** Stores `count` summaries: the first `stale` stale, the next `degraded` degraded, the rest fresh. */
async function fill(count: number, stale: number, degraded: number): Promise<void> {
  await runInDurableObject(indexStub(), (index: BoardIndex) => {
    for (let i = 0; i < count; i++) index.report(summary(name(i), i < stale ? 'stale' : i < stale + degraded ? 'degraded' : 'ok'));
  });
}

async function board(query = ''): Promise<BoardJson> {
  const response = await SELF.fetch(`https://board.test/v1/board${query}`);
  expect(response.status, query).toBe(200);
  return response.json();
}

/** Every line of one health, following `next` from the first page of it. */
async function allOf(health: Health): Promise<string[]> {
  const ids: string[] = [];
  let next: string | null = `/v1/board?health=${health}`;
  while (next) {
    const page = await board(next.slice('/v1/board'.length));
    expect(page.clusters.length).toBeLessThanOrEqual(PAGE_LINES);
    expect(page.clusters.every((c) => c.health === health)).toBe(true);
    ids.push(...page.clusters.map((c) => c.id));
    next = page.next;
  }
  return ids;
}

describe('the board in pages', () => {
  it('puts stale and degraded clusters on the first page and counts the fresh ones, which page by name', async () => {
    await fill(450, 5, 3);
    const first = await board();
    expect(first.counts).toEqual({ clusters: 451, stale: 6, degraded: 3, ok: 442 });
    expect(first.clusters.map((c) => [c.id, c.health])).toEqual([
      ['ap-south', 'stale'],
      ...[0, 1, 2, 3, 4].map((i) => [name(i), 'stale']),
      ...[5, 6, 7].map((i) => [name(i), 'degraded']),
    ]);
    expect(first.next).toBeNull();
    const fresh = await allOf('ok');
    expect(fresh).toEqual(Array.from({ length: 442 }, (_, i) => name(i + 8)));
    const html = await (await SELF.fetch('https://board.test/')).text();
    expect(html).toContain('442 fresh clusters not listed: <a href="/?health=ok">list them</a>');
    expect(html.match(/<li class="cluster line/g)).toHaveLength(9);
  });

  it('lists every cluster on the first page while the board fits in one', async () => {
    await fill(20, 1, 1);
    const first = await board();
    expect(first.clusters.map((c) => c.health)).toEqual(['stale', 'stale', 'degraded', ...Array(18).fill('ok')]);
    expect(first.counts.clusters).toBe(21);
  });

  it('continues stale clusters on the next page when they do not fit on the first', async () => {
    await fill(300, 250, 10);
    const first = await board();
    expect(first.clusters).toHaveLength(PAGE_LINES);
    expect(first.clusters.every((c) => c.health === 'stale')).toBe(true);
    expect(first.next).toBe(`/v1/board?health=stale&after=${first.clusters.at(-1)!.id}`);
    const stale = await allOf('stale');
    expect(stale).toEqual(['ap-south', ...Array.from({ length: 250 }, (_, i) => name(i))]);
    expect(new Set(stale).size).toBe(251);
    const html = await (await SELF.fetch('https://board.test/')).text();
    expect(html).toContain(`<a class="next" rel="next" href="/?health=stale&amp;after=${first.clusters.at(-1)!.id}">next page: more stale clusters →</a>`);
  });

  it('counts a cluster whose summary is overdue as stale, and lists it there only', async () => {
    await fill(10, 0, 0);
    await runInDurableObject(indexStub(), (index: BoardIndex) => index.report(summary('c-late', 'ok', Date.now() - 10 * 60_000)));
    const first = await board();
    expect(first.counts).toEqual({ clusters: 12, stale: 2, degraded: 0, ok: 10 });
    expect(first.clusters.slice(0, 2).map((c) => [c.id, c.health])).toEqual([
      ['ap-south', 'stale'],
      ['c-late', 'stale'],
    ]);
    expect(await allOf('ok')).not.toContain('c-late');
  });

  it('refuses a query it does not know, saying what it expected', async () => {
    const cases: Array<[string, string]> = [
      ['?health=red', 'expected health to be stale, degraded, ok or absent, got "red"'],
      [
        '?health=ok&after=%3Cscript%3E',
        'expected after to be a cluster name (1-63 letters, digits, dots, dashes or underscores, starting with a letter or digit), got "<script>"',
      ],
      ['?after=c-0001', 'expected health with after (after=<cluster> pages through one health: stale, degraded or ok)'],
    ];
    for (const [query, error] of cases) {
      for (const path of ['/v1/board', '/']) {
        const response = await SELF.fetch(`https://board.test${path}${query}`);
        expect(response.status, path + query).toBe(400);
        expect(await response.json()).toEqual({ status: 400, error });
      }
    }
  });
});

describe("the index's round", () => {
  it(`wakes at most ${WAKE_PER_ROUND} overdue clusters per round, the longest overdue first`, async () => {
    const now = Date.now();
    await runInDurableObject(indexStub(), (index: BoardIndex) => {
      for (let i = 0; i < 300; i++) index.report(summary(name(i), 'ok', now - 10 * 60_000 - i * 1000));
    });
    const woken = await evaluateIndex(now);
    // ap-south (expected, never reported) and the 200 longest overdue (the highest numbers reported earliest).
    expect(woken).toHaveLength(WAKE_PER_ROUND + 1);
    expect(woken.filter((l) => l.id !== 'ap-south').map((l) => l.id)).toEqual(Array.from({ length: WAKE_PER_ROUND }, (_, i) => name(299 - i)).sort());
  });
});
