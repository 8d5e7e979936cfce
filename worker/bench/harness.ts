/**
 * The worker as the benchmark (bench/board.js) and the 10,000-cluster e2e
 * test run it, never deployed: the board's own routes, plus
 *   POST /__bench/round/<cluster>   one round of that cluster's object, now
 *   POST /__bench/index-round       one round of the index, now
 *   POST /__bench/seed              stores the summaries in the body (JSON array) in the index,
 *                                   as cluster objects send them: a board of any size without its pods
 */
import { BoardIndex as Index } from '../src/board-index.js';
import worker from '../src/index.js';
import type { ClusterSummary } from '../src/summary.js';

export { ClusterBoard } from '../src/index.js';

/** The index with one more method: many summaries in one call. */
export class BoardIndex extends Index {
  seed(summaries: ClusterSummary[]): number {
    for (const summary of summaries) this.report(summary);
    return summaries.length;
  }
}

export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    const cluster = /^\/__bench\/round\/([A-Za-z0-9._-]+)$/.exec(pathname)?.[1];
    const index = () => env.BOARD.get(env.BOARD.idFromName('global')) as unknown as DurableObjectStub<BoardIndex>;
    if (request.method === 'POST' && cluster) {
      const verdict = await env.CLUSTERS.get(env.CLUSTERS.idFromName(cluster)).evaluate();
      return Response.json({ state: verdict?.state ?? null });
    }
    if (request.method === 'POST' && pathname === '/__bench/index-round') {
      const woken = await index().evaluate();
      return Response.json({ woken: woken.length });
    }
    if (request.method === 'POST' && pathname === '/__bench/seed') {
      return Response.json({ seeded: await index().seed((await request.json()) as ClusterSummary[]) });
    }
    return worker.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
