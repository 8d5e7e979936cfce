// The whole pipeline on this machine, with no cloud account:
//   a local S3-protocol store; a content database built from migrations and a
//   loader and published for the current commit; two clusters of two pods (an
//   agent with its health server, and a tiny app reading through SnapshotReader);
//   the freshness board in local workerd; a data update the fleet converges on;
//   one cluster's agents stopped, the board turning it stale, and the alert
//   arriving at a local webhook receiver.
//   npm run demo            runs it, then keeps everything up until Ctrl-C
//   npm run demo -- --once  exits 0 only when every step happened as described
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import S3rver from 's3rver';
import { resolveGitSha } from '../lib/git.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = path.join(root, '.demo');
const once = process.argv.includes('--once');
const bucket = 'sqlitening-demo';
const children = new Set();

const bold = (text) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const step = (text) => process.stdout.write(`\n${bold(`== ${text}`)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(500);
  }
}

function cli(args, env) {
  process.stdout.write(`$ sqlitening ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/sqlitening.js'), ...args], { cwd: root, env, stdio: 'inherit' });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`sqlitening ${args[0]} exited with ${code}`))));
  });
}

/** A long-running child whose output goes to a log file in .demo/. */
function background(name, command, args, env) {
  const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  child.stdout.on('data', (c) => log.push(c));
  child.stderr.on('data', (c) => log.push(c));
  child.log = () => Buffer.concat(log).toString();
  child.name = name;
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function stopChild(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

const json = async (url) => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
};

// The board runs under wrangler, from worker/'s own packages.
if (!existsSync(path.join(root, 'worker/node_modules/.bin/wrangler'))) {
  process.stdout.write("Installing the board's packages (npm ci in worker/)...\n");
  const install = spawnSync('npm', ['ci', '--prefix', 'worker', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (install.status !== 0) process.exit(1);
}
const { freePort, startWranglerDev } = await import('../worker/scripts/wrangler-dev.js');

await rm(work, { recursive: true, force: true });
await mkdir(path.join(work, 's3'), { recursive: true });
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: path.join(work, 's3'), configureBuckets: [{ name: bucket }] });
const { port: s3Port } = await server.run();
const endpoint = `http://127.0.0.1:${s3Port}`;
const { sha } = resolveGitSha(undefined, process.env, root);
const publishEnv = {
  ...process.env,
  SQLITENING_STORE: `s3://${bucket}/site`,
  SQLITENING_S3_ENDPOINT: endpoint,
  SQLITENING_S3_PATH_STYLE: 'true',
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  GITHUB_SHA: sha,
};
const database = path.join(work, 'build', 'site.db');
await mkdir(path.dirname(database), { recursive: true });
const build = ['build', '--from', 'published', '--migrations', 'examples/content/migrations', '--loader', 'node examples/content/load.js', '-o', database];
const clusters = { 'eu-west': 'eu-west-demo-secret-0123456789', 'us-east': 'us-east-demo-secret-0123456789' };

// Alerts arrive here and are printed.
const alerts = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const alert = JSON.parse(body || '{}');
    alerts.push(alert);
    process.stdout.write(`${bold('ALERT')} ${alert.kind} ${alert.cluster}: ${(alert.reasons ?? []).join('; ')}\n`);
    res.writeHead(200).end();
  });
});
const receiverPort = await freePort();
await new Promise((resolve) => receiver.listen(receiverPort, '127.0.0.1', resolve));

let board;
try {
  step(`1. Build the content database for commit ${sha.slice(0, 12)} and publish it to a local S3-protocol store (${endpoint})`);
  await cli(build, { ...publishEnv, CONTENT_REVISION: '1' });
  await cli(['publish', database], publishEnv);

  step('2. Start the freshness board in local workerd (wrangler dev)');
  board = await startWranglerDev({
    CLUSTER_SECRETS: JSON.stringify(clusters),
    WEBHOOKS: JSON.stringify([{ url: `http://127.0.0.1:${receiverPort}/alerts`, kind: 'json' }]),
    WEBHOOK_SECRET: 'demo-webhook-secret',
    // Demo timings: seconds instead of minutes, so it all happens while you watch.
    BOARD_CONFIG: JSON.stringify({
      evaluateEvery: '2s',
      podTtl: '10m',
      retryBase: '1s',
      rules: { maxSyncAge: '12s', silentAfter: '8s', staleShare: 0.5, skewAfter: '30s' },
    }),
  });
  process.stdout.write(`board: ${board.url}/\n`);

  step('3. Start two clusters of two pods: an agent (health server, heartbeats) and an app reading through SnapshotReader');
  const pods = [];
  for (const cluster of Object.keys(clusters)) {
    for (const n of [1, 2]) {
      const name = `${cluster}-pod-${n}`;
      const folder = path.join(work, 'pods', name);
      await mkdir(folder, { recursive: true });
      const pod = { name, cluster, database: path.join(folder, 'site.db'), healthPort: await freePort(), appPort: await freePort() };
      pod.agent = background(
        `${name} agent`,
        process.execPath,
        [
          path.join(root, 'bin/sqlitening.js'),
          'agent',
          '--database',
          pod.database,
          '--git-sha',
          sha,
          '--store',
          `${endpoint}/${bucket}/site`,
          '--listen',
          `127.0.0.1:${pod.healthPort}`,
          '--interval',
          '2s',
          '--max-age',
          '12s',
          '--board-url',
          board.url,
          '--cluster',
          cluster,
          '--pod',
          name,
        ],
        { ...process.env, SQLITENING_BOARD_SECRET: clusters[cluster] },
      );
      pod.app = background(`${name} app`, process.execPath, [path.join(root, 'scripts/demo-app.js'), pod.database, String(pod.appPort)], process.env);
      pods.push(pod);
      process.stdout.write(`${name}: health http://127.0.0.1:${pod.healthPort}/healthz   app http://127.0.0.1:${pod.appPort}/\n`);
    }
  }
  const boardView = () => json(`${board.url}/v1/board`);
  // The board lists one line per cluster; each cluster's pods are on its own page.
  const allPods = async () =>
    (await Promise.all(Object.keys(clusters).map((id) => json(`${board.url}/v1/clusters/${id}`)))).flatMap((view) => view.cluster.pods);
  const podsOn = (pods, sha256) => pods.filter((p) => p.dbSha256 === sha256 && p.state === 'ok').length;
  const manifest = () => json(`${endpoint}/${bucket}/site/${sha}/manifest.json`);
  const first = await manifest();
  await waitFor('all four pods fresh on the board', async () => podsOn(await allPods(), first.database.sha256) === 4, 30_000);
  process.stdout.write(`all 4 pods report ${first.database.sha256.slice(0, 12)} and are fresh\n`);
  for (const pod of pods) {
    const health = await fetch(`http://127.0.0.1:${pod.healthPort}/healthz`);
    if (health.status !== 200) throw new Error(`${pod.name} /healthz answered ${health.status}`);
  }

  step('4. Publish a data update; the fleet converges on it');
  await cli(build, { ...publishEnv, CONTENT_REVISION: '2' });
  await cli(['publish', database], publishEnv);
  const second = await manifest();
  await waitFor('all four pods on the update', async () => podsOn(await allPods(), second.database.sha256) === 4, 30_000);
  const served = await Promise.all(pods.map((pod) => json(`http://127.0.0.1:${pod.appPort}/`)));
  if (!served.every((page) => page.advisories === served[0].advisories && page.latestAdvisory.id === served[0].latestAdvisory.id)) {
    throw new Error(`the apps serve different data: ${JSON.stringify(served.map((p) => p.advisories))}`);
  }
  process.stdout.write(
    `all 4 pods on ${second.database.sha256.slice(0, 12)}; every app serves ${served[0].advisories} advisories, latest ${served[0].latestAdvisory.id}\n`,
  );
  // The update travels as a delta: the pages that changed, applied to each pod's previous file.
  const installs = await Promise.all(pods.map((pod) => json(`http://127.0.0.1:${pod.healthPort}/healthz`).then((h) => h.lastInstall)));
  const delta = second.deltas.find((d) => d.base.sha256 === first.database.sha256);
  for (const [i, install] of installs.entries()) {
    process.stdout.write(`${pods[i].name}: installed by ${install.method}, ${install.bytes} bytes from the store\n`);
  }
  if (!delta || installs.some((install) => install.method !== 'delta'))
    throw new Error(`expected every pod to install the update by delta, got ${JSON.stringify(installs)}`);
  process.stdout.write(
    `the delta: ${delta.pages} of ${second.database.pageCount} pages, ${delta.size} bytes; the full object is ${second.object.size} bytes (${((delta.size / second.object.size) * 100).toFixed(1)}%)\n`,
  );

  step("5. Stop us-east's agents: the board turns that cluster stale and the alert arrives");
  await Promise.all(pods.filter((p) => p.cluster === 'us-east').map((p) => stopChild(p.agent)));
  const alert = await waitFor('a stale alert for us-east', async () => alerts.find((a) => a.kind === 'stale' && a.cluster === 'us-east'), 45_000);
  const view = await boardView();
  const states = Object.fromEntries(view.clusters.map((c) => [c.id, c.state]));
  if (states['us-east'] !== 'stale' || states['eu-west'] !== 'ok') throw new Error(`unexpected board states ${JSON.stringify(states)}`);
  process.stdout.write(`board: eu-west ${states['eu-west']}, us-east ${states['us-east']} (${alert.reasons.join('; ')})\n`);

  step('Done: every step happened as described');
  if (!once) {
    process.stdout.write(`Everything stays up (Ctrl-C stops it):\n  board  ${board.url}/\n`);
    for (const pod of pods)
      process.stdout.write(`  ${pod.name.padEnd(16)} http://127.0.0.1:${pod.healthPort}/healthz   app http://127.0.0.1:${pod.appPort}/\n`);
    await new Promise((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  for (const child of children) process.stderr.write(`--- ${child.name} (last output)\n${child.log().slice(-1500)}\n`);
  process.exitCode = 1;
} finally {
  await Promise.all([...children].map(stopChild));
  await board?.stop();
  await server.close();
  await new Promise((resolve) => receiver.close(resolve));
}
