// The whole publish pipeline on this machine, no cloud account: a local
// S3-protocol server, a content database built from migrations and a loader,
// published for the current commit, refreshed, and read back over plain HTTP.
//   npm run demo            keeps the store running until Ctrl-C
//   npm run demo -- --once  exits 0 only when every step did what it should
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import S3rver from 's3rver';
import { manifestKey } from '../lib/contract/keys.js';
import { resolveGitSha } from '../lib/git.js';
import { downloadSnapshot } from '../lib/snapshot/download.js';
import { readManifest } from '../lib/snapshot/manifest-store.js';
import { HttpStore } from '../lib/store/http-store.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = path.join(root, '.demo');
const once = process.argv.includes('--once');
const bucket = 'sqlitening-demo';

function step(text) {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

function cli(args, env) {
  process.stdout.write(`$ sqlitening ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/sqlitening.js'), ...args], { cwd: root, env, stdio: 'inherit' });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`sqlitening ${args[0]} exited with ${code}`))));
  });
}

async function changedPageShare(a, b) {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  let changed = 0;
  const pages = Math.ceil(y.length / 4096);
  for (let i = 0; i < pages; i++) if (!x.subarray(i * 4096, (i + 1) * 4096).equals(y.subarray(i * 4096, (i + 1) * 4096))) changed++;
  return changed / pages;
}

await rm(work, { recursive: true, force: true });
await mkdir(path.join(work, 's3'), { recursive: true });
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: path.join(work, 's3'), configureBuckets: [{ name: bucket }] });
const { port } = await server.run();
const endpoint = `http://127.0.0.1:${port}`;
const { sha } = resolveGitSha(undefined, process.env, root);
const env = {
  ...process.env,
  SQLITENING_STORE: `s3://${bucket}/site`,
  SQLITENING_S3_ENDPOINT: endpoint,
  SQLITENING_S3_PATH_STYLE: 'true',
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  GITHUB_SHA: sha,
};
const database = path.join(work, 'site.db');
const build = ['build', '--from', 'published', '--migrations', 'examples/content/migrations', '--loader', 'node examples/content/load.js', '-o', database];

try {
  step(`Local S3-protocol store at ${endpoint}, commit ${sha.slice(0, 12)}`);

  step('1. Build the content database for this commit (nothing published yet: starts empty) and publish it');
  await cli(build, { ...env, CONTENT_REVISION: '1' });
  await cli(['publish', database], env);
  const firstCopy = path.join(work, 'r1.db');
  await (await import('node:fs/promises')).copyFile(database, firstCopy);

  step('2. Publish the same bytes again: a no-op');
  await cli(['publish', database], env);

  step('3. Scheduled data refresh: start from the published snapshot, load revision 2, publish');
  await cli(build, { ...env, CONTENT_REVISION: '2' });
  await cli(['publish', database], env);
  const share = await changedPageShare(firstCopy, database);
  process.stdout.write(`pages changed by the refresh: ${(share * 100).toFixed(1)}% (no VACUUM: page numbers stay put)\n`);

  step('4. Read it back like a pod: plain HTTP, no credentials, verified against the manifest');
  const http = new HttpStore({ baseUrl: `${endpoint}/${bucket}/site` });
  const read = await readManifest(http, manifestKey(sha));
  if (read.status !== 'ok') throw new Error(`no manifest at ${http.location}/${manifestKey(sha)}`);
  const copy = path.join(work, 'pod.db');
  await downloadSnapshot({ store: http, manifest: read.manifest, destination: copy });
  const actual = createHash('sha256').update(await readFile(copy)).digest('hex');
  if (actual !== read.manifest.database.sha256) throw new Error(`sha256 mismatch: ${actual} vs ${read.manifest.database.sha256}`);
  process.stdout.write(`${http.location}/${manifestKey(sha)}\n  sha256 ${actual} ✓\n`);
  for (const table of read.manifest.database.tables) process.stdout.write(`  ${table.name.padEnd(24)} ${String(table.rows).padStart(6)} rows\n`);
  if (share > 0.1) throw new Error(`the refresh changed ${(share * 100).toFixed(1)}% of pages; expected under 10%`);

  step('Done: every step passed');
  if (!once) {
    process.stdout.write(`The store stays up for you to explore (Ctrl-C stops it):\n  manifest  ${http.location}/${manifestKey(sha)}\n  latest    ${http.location}/latest.json\n`);
    await new Promise((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await server.close();
}
