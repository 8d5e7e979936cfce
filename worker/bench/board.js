// Board figures in local workerd (wrangler dev) on this machine:
//   heartbeats per second ingested (batches of 200, and one per request);
//   time to render the board's JSON and HTML for 10,000 pods.
//   node worker/bench/board.js [--pods 10000]
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody } from '../../packages/contract/lib/index.js';
import { startWranglerDev } from '../scripts/wrangler-dev.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const podsArg = process.argv.indexOf('--pods');
const pods = podsArg === -1 ? 10_000 : Number(process.argv[podsArg + 1]);
const clusters = Array.from({ length: 10 }, (_, i) => `cluster-${i}`);
const secrets = Object.fromEntries(clusters.map((c) => [c, `${c}-secret-0123456789`]));

/** @param {string} cluster @param {number} i */
function heartbeat(cluster, i) {
  const now = new Date().toISOString();
  const fresh = i % 17 !== 0;
  return {
    version: 1,
    cluster,
    pod: `web-${i}`,
    sentAt: now,
    appGitSha: 'a'.repeat(40),
    database: { gitSha: 'a'.repeat(40), sha256: 'c'.repeat(64), createdAt: now },
    lastRunAt: now,
    lastSuccessAt: now,
    lastError: null,
    tasks: [{ name: 'database', ageSeconds: fresh ? 3 : 3600, limitSeconds: 600, ok: fresh }],
  };
}

/** @param {string} url @param {unknown[]} beats */
async function send(url, beats) {
  const body = JSON.stringify(beats);
  const timestamp = Math.floor(Date.now() / 1000);
  const cluster = /** @type {{cluster: string}} */ (beats[0]).cluster;
  const response = await fetch(`${url}/v1/heartbeats`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: await signBody(secrets[cluster], timestamp, body),
    },
    body,
  });
  if (response.status !== 202) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
}

/** Runs `tasks` with `concurrency` at a time; returns seconds taken. @param {Array<() => Promise<void>>} tasks @param {number} concurrency */
async function timed(tasks, concurrency) {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tasks.length) await tasks[next++]();
    }),
  );
  return (performance.now() - started) / 1000;
}

/** @param {number[]} values */
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const board = await startWranglerDev({ CLUSTER_SECRETS: JSON.stringify(secrets) });
try {
  const batches = [];
  for (let i = 0; i < pods; i += 200) {
    const cluster = clusters[(i / 200) % clusters.length];
    batches.push(() =>
      send(
        board.url,
        Array.from({ length: Math.min(200, pods - i) }, (_, j) => heartbeat(cluster, i + j)),
      ),
    );
  }
  const batchSeconds = await timed(batches, 4);
  const singles = Array.from({ length: 2000 }, (_, i) => () => send(board.url, [heartbeat(clusters[i % 10], i)]));
  const singleSeconds = await timed(singles, 8);

  const render = async (/** @type {string} */ route) => {
    const samples = [];
    let bytes = 0;
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const response = await fetch(`${board.url}${route}`);
      bytes = (await response.arrayBuffer()).byteLength;
      samples.push(performance.now() - started);
    }
    return { medianMs: median(samples), bytes };
  };
  const json = await render('/v1/board');
  const html = await render('/');
  const figures = {
    pods,
    ingest: { batchOf200PerSecond: pods / batchSeconds, singlePerSecond: 2000 / singleSeconds },
    render: { json, html },
  };
  await mkdir(path.join(root, 'bench', 'results'), { recursive: true });
  await writeFile(path.join(root, 'bench', 'results', 'board.json'), `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`\nFreshness board in local workerd (wrangler dev 4.86.0), ${pods} pods in 10 clusters`);
  console.log('| what | figure |\n|---|---:|');
  console.log(`| ingest, batches of 200 (4 at a time) | ${Math.round(figures.ingest.batchOf200PerSecond)} heartbeats/s |`);
  console.log(`| ingest, one heartbeat per request (8 at a time) | ${Math.round(figures.ingest.singlePerSecond)} heartbeats/s |`);
  console.log(`| GET /v1/board (JSON, ${(json.bytes / 1024 / 1024).toFixed(1)} MiB), median of 5 | ${json.medianMs.toFixed(0)} ms |`);
  console.log(`| GET / (HTML, ${(html.bytes / 1024 / 1024).toFixed(1)} MiB), median of 5 | ${html.medianMs.toFixed(0)} ms |`);
} finally {
  await board.stop();
}
