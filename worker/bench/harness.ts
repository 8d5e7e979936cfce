/**
 * The worker as the benchmark runs it (bench/board.js), never deployed: the
 * board's own routes, plus two that run a round now instead of waiting for
 * an alarm, so its time and CPU can be measured one round at a time.
 *   POST /__bench/round/<cluster>   one round of that cluster's object
 *   POST /__bench/index-round       one round of the index
 */
import worker from '../src/index.js';

export { BoardIndex, ClusterBoard } from '../src/index.js';

export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    const cluster = /^\/__bench\/round\/([A-Za-z0-9._-]+)$/.exec(pathname)?.[1];
    if (request.method === 'POST' && cluster) {
      const verdict = await env.CLUSTERS.get(env.CLUSTERS.idFromName(cluster)).evaluate();
      return Response.json({ state: verdict?.state ?? null });
    }
    if (request.method === 'POST' && pathname === '/__bench/index-round') {
      const lines = await env.BOARD.get(env.BOARD.idFromName('global')).evaluate();
      return Response.json({ clusters: lines.length });
    }
    return worker.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
