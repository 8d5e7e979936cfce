// What a pod's memory peaks at while it moves a snapshot, at two database sizes in the same run, so that what
// grows with the database shows as the difference between them:
//   a full sync (a new pod: the whole object, proven by the signed chunk root)  vs  the same at the other size
//   a delta install (that pod after an update of the same rows at every size: 1% of the smallest database's
//     articles; the patch written into its live file in place)
//   a delta install after an update of 1% of all the articles (a change that grows with the database)
// each a one-shot `sqlitening sync` under GNU time -v (peak RSS of the process), beside the runtime's floor:
// `node` with better-sqlite3 loaded and an HTTP server listening.
//   node bench/peak.js [--sizes 1GiB,4GiB]   (after npm run build; needs GNU time)
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { articleCount, available, cli, cliJson, contentDatabase, cpuModel, measured, parseFlags, parseSize, refreshRows, run, usageError } from './lib.js';

const USAGE = `Usage: npm run build && node bench/peak.js [--sizes 1GiB,4GiB]
  --sizes   the database sizes to compare, comma-separated (default 1GiB,4GiB)`;
const flags = parseFlags({ sizes: { type: 'string', default: '1GiB,4GiB' } }, USAGE);
const sizes = flags.sizes.split(',').map((text) => parseSize(text.trim()));
if (sizes.length < 2) usageError(`Expected at least two sizes to compare, got "${flags.sizes}"`, USAGE);
if (!(await available('/usr/bin/time', ['-v', 'true']))) usageError('GNU time (/usr/bin/time -v) is needed for peak RSS: apt-get install time', USAGE);
const sha = '0123456789abcdef0123456789abcdef01234567';
const FLOOR =
  "const Database = require('better-sqlite3'); const db = new Database(':memory:'); db.prepare('SELECT 1').get(); const s = require('node:http').createServer((q, r) => r.end()).listen(0, () => s.close());";

/** Runs `sqlitening sync` measured; fails unless it installed by `method`. */
async function sync(args, method) {
  const timed = await measured(process.execPath, [cli, 'sync', ...args, '--json']);
  const installed = timed.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .find((event) => event.event === 'agent.installed');
  if (installed?.method !== method) throw new Error(`expected a ${method} install, got ${timed.stdout}`);
  return timed;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'sqlitening-bench-peak-'));
try {
  const floor = await measured(process.execPath, ['-e', FLOOR]);
  await run(process.execPath, [cli, 'keygen', path.join(work, 'key')]);
  const rows = [];
  /** The articles of the smallest database: the rows the same-rows update changes at every size. */
  let upToId;
  let sameRows;
  for (const size of sizes) {
    const here = path.join(work, String(size));
    const store = path.join(here, 'store');
    const v1 = path.join(here, 'v1.db');
    const v2 = path.join(here, 'v2.db');
    await mkdir(here);
    await copyFile(await contentDatabase(size), v1);
    // A snapshot's key and time are whole seconds: each publish waits for the next one.
    const publish = async (file, ...more) => {
      await sleep(1100);
      return cliJson('publish', file, '--store', store, '--git-sha', sha, '--grace', '0s', '--signing-key', path.join(work, 'key.key'), ...more);
    };
    await publish(v1);
    const pod = ['--database', path.join(here, 'pod', 'site.db'), '--store', store, '--git-sha', sha, '--trust-key', path.join(work, 'key.pub')];
    const full = await sync(pod, 'full');
    await copyFile(v1, v2);
    upToId ??= articleCount(v1);
    const changed = refreshRows(v2, 2, upToId);
    sameRows ??= changed;
    await publish(v2, '--base', v1);
    const delta = await sync(pod, 'delta');
    const v3 = path.join(here, 'v3.db');
    await copyFile(v2, v3);
    refreshRows(v3, 3);
    await publish(v3, '--base', v2);
    const wide = await sync(pod, 'delta');
    rows.push({ size, full, delta, wide });
    await rm(here, { recursive: true, force: true });
  }
  const f = (n) => n.toFixed(1);
  const sizeText = (bytes) => (bytes >= 1073741824 ? `${f(bytes / 1073741824)} GiB` : `${f(bytes / 1048576)} MiB`);
  console.log(`\nPeak resident memory of one-shot syncs (${await cpuModel()}, ${os.cpus().length} cores, Node.js ${process.version})`);
  console.log(`The floor, node + better-sqlite3 + an HTTP server: ${f(floor.rss)} MiB`);
  console.log(
    `| database | full sync | peak | delta install, the same ${sameRows} rows updated | peak | delta install, 1% of all rows updated | peak |\n|---:|---:|---:|---:|---:|---:|---:|`,
  );
  for (const { size, full, delta, wide } of rows) {
    console.log(
      `| ${sizeText(size)} | ${f(full.seconds)} s | ${f(full.rss)} MiB | ${f(delta.seconds)} s | ${f(delta.rss)} MiB | ${f(wide.seconds)} s | ${f(wide.rss)} MiB |`,
    );
  }
  const first = rows[0];
  const last = rows.at(-1);
  console.log(
    `\nGrowth from ${sizeText(first.size)} to ${sizeText(last.size)}: full sync ${f(last.full.rss - first.full.rss)} MiB, delta install of the same rows ${f(last.delta.rss - first.delta.rss)} MiB, of 1% of all rows ${f(last.wide.rss - first.wide.rss)} MiB`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
