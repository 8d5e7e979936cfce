// Board figures at scale, in local workerd (wrangler dev) on this machine:
//   heartbeats per second ingested (a batch per cluster, and one heartbeat per request);
//   one alarm round of a cluster's object, of a cluster at its pod cap, and of the index: time and CPU;
//   time and size of the board's pages (JSON, HTML, commits) and one cluster (JSON, HTML).
// CPU is workerd's own (user + system, from /proc), so it counts what the Durable Objects do and not the client.
//   node worker/bench/board.js [--pods 100000] [--clusters 1000] [--live 2000] [--rounds 100]   (--help)
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody } from '../../packages/contract/lib/index.js';
import { benchConfig, startWranglerDev } from '../scripts/wrangler-dev.js';
import { deriveClusterKey } from '../src/cluster-key.js';

const workerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const root = path.resolve(workerDir, '..');

const USAGE = `Usage: node worker/bench/board.js [--pods 100000] [--clusters 1000] [--live 2000] [--rounds 100]

Runs the board under wrangler dev (local workerd) with the bench routes of
worker/bench/harness.ts, fills it with pods, and prints figures (also
bench/results/board.json): ingest rate, one alarm round of a cluster's object,
of a cluster at its pod cap and of the index (time, and workerd's CPU), and the
time and size of the board's pages and one cluster. Clusters are configured as
an operator does: one root secret, each cluster's key derived from it. About
3 minutes on 2 cores at the defaults, 10 at --clusters 10000.
  --pods N       pods in all, spread evenly over the clusters (default 100000)
  --clusters N   clusters (default 1000)
  --live N       clusters that get their own object and pods (default 2000); the index
                 gets the others' summaries as their objects would send them. Here
                 (2 cores, 24 GiB) 5,000 live objects ran; at 10,000 workerd restarted
                 mid-run ("Your worker restarted mid-request", nothing printed)
  --rounds N     cluster rounds measured, spread over the live clusters (default 100)
  --help         this text`;

/** The flags, parsed strictly: an unknown flag or a bad value prints the usage and exits 2. */
function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        pods: { type: 'string', default: '100000' },
        clusters: { type: 'string', default: '1000' },
        live: { type: 'string', default: '2000' },
        rounds: { type: 'string', default: '100' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    console.error(`${/** @type {Error} */ (error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const whole = (/** @type {'pods' | 'clusters' | 'live' | 'rounds'} */ name) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`Expected --${name} as a whole number from 1, got "${values[name]}"\n\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  const pods = whole('pods');
  const clusters = whole('clusters');
  if (pods < clusters) {
    console.error(`Expected at least one pod per cluster, got --pods ${pods} for --clusters ${clusters}\n\n${USAGE}`);
    process.exit(2);
  }
  const live = Math.min(whole('live'), clusters);
  return { pods, clusters, live, rounds: Math.min(whole('rounds'), live) };
}

const settings = options();
/** The board's default pod cap: the largest cluster any secret can make. */
const POD_CAP = 1000;
const FULL = 'bench-at-cap';
const clusters = Array.from({ length: settings.clusters }, (_, i) => `cluster-${i}`);
// Configured as the README tells an operator: one root secret, each cluster's agents given the key derived from it.
const rootKey = randomBytes(32).toString('hex');
const live = clusters.slice(0, settings.live);
/** @type {Record<string, string>} */
const secrets = Object.fromEntries(await Promise.all([...live, FULL].map(async (c) => [c, await deriveClusterKey(rootKey, c, 1)])));
const SHA_A = 'a'.repeat(40);
const SHA_B = 'b'.repeat(40);

/** @param {string} cluster @param {number} i */
function heartbeat(cluster, i) {
  const now = new Date().toISOString();
  // A board to read: one cluster in 100 stale (every other pod past its limit), one in 10 degraded (one pod in 17
  // past its limit), the rest fresh; one pod in 5 on a second app commit.
  const n = Number(/\d+$/.exec(cluster)?.[0] ?? 1);
  const fresh = n % 100 === 0 ? i % 2 !== 0 : n % 10 === 0 ? i % 17 !== 0 : true;
  return {
    version: 1,
    cluster,
    pod: `web-${i}`,
    sentAt: now,
    appGitSha: i % 5 === 0 ? SHA_B : SHA_A,
    database: { gitSha: SHA_A, sha256: 'c'.repeat(64), createdAt: now },
    lastRunAt: now,
    lastSuccessAt: now,
    lastError: null,
    tasks: [{ name: 'database', ageSeconds: fresh ? 3 : 3600, limitSeconds: 600, ok: fresh }],
  };
}

/**
 * Stores in the index the summaries `names`' objects would send (bench/harness.ts), in the shape heartbeat() gives
 * their pods: a board of 10,000 clusters without 10,000 live objects.
 * @param {string} url @param {string[]} names @param {number} pods
 */
async function seedIndex(url, names, pods) {
  const now = Date.now();
  for (let from = 0; from < names.length; from += 1000) {
    const summaries = names.slice(from, from + 1000).map((cluster) => {
      const n = Number(/\d+$/.exec(cluster)?.[0] ?? 1);
      const stale = n % 100 === 0 ? Math.floor(pods / 2) : n % 10 === 0 ? Math.ceil(pods / 17) : 0;
      const isStale = n % 100 === 0 && stale >= pods / 2;
      return {
        cluster,
        state: isStale ? 'stale' : 'ok',
        since: now,
        reasons: isStale ? [`${stale} of ${pods} pods stale`] : [],
        pods: { total: pods, fresh: pods - stale, stale, lagging: 0 },
        commits: [{ gitSha: SHA_A, pods, lastSeenAt: now }],
        lastHeartbeatAt: now,
        oldestSyncAt: now,
        neverSynced: 0,
        alerts: [],
        reportedAt: now,
      };
    });
    const response = await fetch(`${url}/__bench/seed`, { method: 'POST', body: JSON.stringify(summaries) });
    if (!response.ok) throw new Error(`seeding the index answered ${response.status}: ${await response.text()}`);
  }
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

/** Runs `tasks` with `concurrency` at a time; returns seconds taken. @param {Array<() => Promise<unknown>>} tasks @param {number} concurrency */
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

/** @param {number[]} values @param {number} q */
const quantile = (values, q) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))];
const median = (/** @type {number[]} */ values) => quantile(values, 0.5);

const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** The workerd processes wrangler started (in its process group). @param {number} group */
function workerdPids(group) {
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (comm === 'workerd' && Number(fields[2]) === group) pids.push(Number(name));
  }
  if (pids.length === 0) throw new Error(`no workerd process in process group ${group}`);
  return pids;
}

/** CPU seconds (user + system) the processes have used. @param {number[]} pids */
function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS;
}

/** Waits until workerd is idle (under 2% of a core for a second): background rounds after ingest have run. @param {number[]} pids */
async function settle(pids) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const before = cpuSeconds(pids);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (cpuSeconds(pids) - before < 0.02 || Date.now() > deadline) return;
  }
}

const lscpu = (() => {
  try {
    return /Model name:\s*(.+)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  } catch {
    return cpus()[0]?.model ?? 'unknown';
  }
})();

const perCluster = Math.floor(settings.pods / settings.clusters);
const totalPods = perCluster * settings.clusters;
const livePods = perCluster * live.length;
const board = await startWranglerDev(
  {
    CLUSTER_ROOT_KEY: rootKey,
    // Rounds run when the bench asks (harness.ts), not on their own during a measurement; everything else as deployed.
    BOARD_CONFIG: JSON.stringify({ evaluateEvery: '1h' }),
  },
  { config: await benchConfig() },
);
try {
  const pids = workerdPids(board.pid);

  // Ingest: every cluster's pods, in batches of up to 200 (the batch limit), 8 requests at a time: first when each
  // cluster reports for the first time (its object is created), then again as pods report every interval.
  const ingestPass = async () => {
    const batches = [];
    for (const cluster of live) {
      for (let i = 0; i < perCluster; i += 200) {
        const beats = Array.from({ length: Math.min(200, perCluster - i) }, (_, j) => heartbeat(cluster, i + j));
        batches.push(() => send(board.url, beats));
      }
    }
    const before = cpuSeconds(pids);
    const seconds = await timed(batches, 8);
    return { perSecond: livePods / seconds, cpuMsPerHeartbeat: ((cpuSeconds(pids) - before) / livePods) * 1000 };
  };
  const firstPass = await ingestPass();
  await settle(pids);
  const steadyPass = await ingestPass();
  await settle(pids);
  const singles = Array.from({ length: 2000 }, (_, i) => () => send(board.url, [heartbeat(live[i % live.length], i % perCluster)]));
  let cpu = cpuSeconds(pids);
  const singleSeconds = await timed(singles, 8);
  const singleCpu = cpuSeconds(pids) - cpu;
  // One cluster at the pod cap: the most any cluster's secret can put in its object.
  for (let i = 0; i < POD_CAP; i += 200)
    await send(
      board.url,
      Array.from({ length: 200 }, (_, j) => heartbeat(FULL, i + j)),
    );
  await settle(pids);

  // Rounds: one cluster's object at a time, as its alarm would run them.
  await seedIndex(board.url, clusters.slice(settings.live), perCluster);
  const sample = Array.from({ length: settings.rounds }, (_, i) => live[Math.floor((i * live.length) / settings.rounds)]);
  const roundMs = [];
  cpu = cpuSeconds(pids);
  for (const cluster of sample) {
    const started = performance.now();
    const response = await fetch(`${board.url}/__bench/round/${cluster}`, { method: 'POST' });
    if (!response.ok) throw new Error(`round of ${cluster} answered ${response.status}: ${await response.text()}`);
    await response.arrayBuffer();
    roundMs.push(performance.now() - started);
  }
  const roundCpu = (cpuSeconds(pids) - cpu) / sample.length;
  /** Sends `request` `times` times, one after another: median and max time, mean workerd CPU, and the size of the body. */
  const repeat = async (/** @type {number} */ times, /** @type {() => Promise<Response>} */ request) => {
    const ms = [];
    let bytes = 0;
    const before = cpuSeconds(pids);
    for (let i = 0; i < times; i++) {
      const started = performance.now();
      const response = await request();
      if (!response.ok) throw new Error(`answered ${response.status}: ${await response.text()}`);
      bytes = (await response.arrayBuffer()).byteLength;
      ms.push(performance.now() - started);
    }
    return { medianMs: median(ms), maxMs: Math.max(...ms), cpuMs: ((cpuSeconds(pids) - before) / times) * 1000, bytes };
  };
  const roundOf = async (/** @type {string} */ route) => {
    const { bytes: _bytes, ...figures } = await repeat(10, () => fetch(`${board.url}${route}`, { method: 'POST' }));
    return figures;
  };
  const fullRound = await roundOf(`/__bench/round/${FULL}`);
  const indexRound = await roundOf('/__bench/index-round');
  const render = (/** @type {string} */ route) => repeat(5, () => fetch(`${board.url}${route}`));
  const one = clusters[0];
  const renders = {
    boardJson: await render('/v1/board'),
    boardHtml: await render('/'),
    freshPage: await render('/?health=ok'),
    commits: await render('/v1/commits'),
    clusterJson: await render(`/v1/clusters/${one}`),
    clusterHtml: await render(`/clusters/${one}`),
    fullClusterJson: await render(`/v1/clusters/${FULL}`),
  };

  const figures = {
    cpu: lscpu,
    cores: cpus().length,
    pods: totalPods,
    clusters: settings.clusters,
    liveClusters: live.length,
    livePods,
    podsPerCluster: perCluster,
    ingest: {
      batchSize: Math.min(200, perCluster),
      /** Each cluster's first report: its object is created (tables, first summary to the index). */
      firstPerSecond: firstPass.perSecond,
      firstCpuMsPerHeartbeat: firstPass.cpuMsPerHeartbeat,
      /** Pods reporting again: the steady state. */
      batchPerSecond: steadyPass.perSecond,
      batchCpuMsPerHeartbeat: steadyPass.cpuMsPerHeartbeat,
      singlePerSecond: 2000 / singleSeconds,
      singleCpuMsPerHeartbeat: (singleCpu / 2000) * 1000,
    },
    rounds: {
      /** Cloudflare's default CPU limit per Durable Object invocation (an alarm handler is one). */
      cpuLimitMs: 30_000,
      cluster: {
        sampled: sample.length,
        pods: perCluster,
        medianMs: median(roundMs),
        p95Ms: quantile(roundMs, 0.95),
        maxMs: Math.max(...roundMs),
        cpuMs: roundCpu * 1000,
      },
      clusterAtCap: { pods: POD_CAP, ...fullRound },
      index: { clusters: settings.clusters + 1, ...indexRound },
    },
    render: renders,
  };
  await mkdir(path.join(root, 'bench', 'results'), { recursive: true });
  await writeFile(path.join(root, 'bench', 'results', 'board.json'), `${JSON.stringify(figures, null, 2)}\n`);

  const ms = (/** @type {number} */ v) => `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms`;
  const size = (/** @type {number} */ b) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MiB` : `${(b / 1024).toFixed(0)} KiB`);
  const r = figures.rounds;
  console.log(
    `\nFreshness board in local workerd (wrangler dev 4.86.0), ${totalPods} pods in ${settings.clusters} clusters (${perCluster} each; ${live.length} clusters live with ${livePods} pods, the others' summaries in the index), ${lscpu}, ${figures.cores} cores`,
  );
  console.log('| what | figure | workerd CPU |\n|---|---:|---:|');
  console.log(
    `| ingest, each cluster's first report (creates its object), a batch of ${figures.ingest.batchSize} per request (8 at a time) | ${Math.round(figures.ingest.firstPerSecond)} heartbeats/s | ${figures.ingest.firstCpuMsPerHeartbeat.toFixed(2)} ms/heartbeat |`,
  );
  console.log(
    `| ingest, pods reporting again, a batch of ${figures.ingest.batchSize} per request (8 at a time) | ${Math.round(figures.ingest.batchPerSecond)} heartbeats/s | ${figures.ingest.batchCpuMsPerHeartbeat.toFixed(2)} ms/heartbeat |`,
  );
  console.log(
    `| ingest, one heartbeat per request (8 at a time) | ${Math.round(figures.ingest.singlePerSecond)} heartbeats/s | ${figures.ingest.singleCpuMsPerHeartbeat.toFixed(2)} ms/heartbeat |`,
  );
  console.log(
    `| alarm round of one cluster's object (${perCluster} pods), ${r.cluster.sampled} clusters: median / p95 / max | ${ms(r.cluster.medianMs)} / ${ms(r.cluster.p95Ms)} / ${ms(r.cluster.maxMs)} | ${ms(r.cluster.cpuMs)} (mean) |`,
  );
  console.log(
    `| alarm round of a cluster at the pod cap (${POD_CAP} pods), median / max of 10 | ${ms(r.clusterAtCap.medianMs)} / ${ms(r.clusterAtCap.maxMs)} | ${ms(r.clusterAtCap.cpuMs)} (mean) |`,
  );
  console.log(
    `| alarm round of the index (${r.index.clusters} clusters), median / max of 10 | ${ms(r.index.medianMs)} / ${ms(r.index.maxMs)} | ${ms(r.index.cpuMs)} (mean) |`,
  );
  const rows = [
    ['GET /v1/board (JSON, first page', renders.boardJson],
    ['GET / (HTML, first page: stale and degraded clusters, fresh ones counted', renders.boardHtml],
    ['GET /?health=ok (HTML, a page of 200 fresh clusters', renders.freshPage],
    ['GET /v1/commits (JSON', renders.commits],
    [`GET /v1/clusters/${one} (JSON, ${perCluster} pods`, renders.clusterJson],
    [`GET /clusters/${one} (HTML, ${perCluster} pods`, renders.clusterHtml],
    [`GET /v1/clusters/${FULL} (JSON, ${POD_CAP} pods`, renders.fullClusterJson],
  ];
  for (const [label, f] of /** @type {Array<[string, {medianMs: number, maxMs: number, cpuMs: number, bytes: number}]>} */ (rows)) {
    console.log(`| ${label}, ${size(f.bytes)}), median / max of 5 | ${ms(f.medianMs)} / ${ms(f.maxMs)} | ${ms(f.cpuMs)} (mean) |`);
  }
  const worst = Math.max(r.cluster.cpuMs, r.clusterAtCap.cpuMs, r.index.cpuMs, r.clusterAtCap.maxMs);
  console.log(
    worst < r.cpuLimitMs
      ? `\nEvery alarm round stays within the ${r.cpuLimitMs / 1000} s CPU limit of a Durable Object invocation: the largest (a cluster at the pod cap) takes ${ms(r.clusterAtCap.cpuMs)} of CPU, ${((r.clusterAtCap.cpuMs / r.cpuLimitMs) * 100).toFixed(2)}% of the limit.`
      : `\nWARNING: a round took ${ms(worst)}, over the ${r.cpuLimitMs / 1000} s CPU limit of a Durable Object invocation.`,
  );
} catch (error) {
  // What wrangler and workerd printed says why a run stopped (a restarted worker answers 503 and says no more).
  console.error(`wrangler dev printed (last 4000 characters):\n${board.output().slice(-4000)}`);
  throw error;
} finally {
  await board.stop();
}
