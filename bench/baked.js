// What a pod started from an image that baked its commit's first snapshot moves, 24 updates later
// (a day of hourly refreshes), beside the full object and the newest one-update delta, in one run:
// the first snapshot stays a delta base for as long as the commit's folder exists (its chunk list is
// kept when retention deletes its object), so the pod gets the pages changed since, not the whole file.
// Each update changes 1% of the rows in place, as a scheduled refresh does.
//   node bench/baked.js [--size 256MiB|1GiB] [--updates 24]
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { contentDatabase, cpuModel, mib, parseSize, refreshRows, cliJson } from './lib.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '256MiB' }, updates: { type: 'string', default: '24' } } });
const size = parseSize(values.size);
const updates = Number(values.updates);
if (!Number.isInteger(updates) || updates < 1) throw new Error(`expected --updates as a whole number from 1, got "${values.updates}"`);
const sha = '0123456789abcdef0123456789abcdef01234567';
const work = path.join(os.tmpdir(), `sqlitening-bench-baked-${process.pid}`);

try {
  await mkdir(work, { recursive: true });
  const build = path.join(work, 'build.db');
  await copyFile(await contentDatabase(size), build);
  const store = path.join(work, 'store');
  await cliJson('publish', build, '--store', store, '--git-sha', sha, '--no-check');
  const baked = path.join(work, 'baked.db');
  await copyFile(build, baked);
  let last;
  for (let update = 1; update <= updates; update++) {
    process.stderr.write(`update ${update}/${updates}\n`);
    refreshRows(build, update + 1);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a new second for the new snapshot's key
    last = (await cliJson('publish', build, '--store', store, '--git-sha', sha, '--no-check')).result;
  }
  const manifest = JSON.parse(await readFile(path.join(store, sha, 'manifest.json'), 'utf8'));
  const pod = path.join(work, 'pod');
  await mkdir(pod);
  await copyFile(baked, path.join(pod, 'site.db'));
  const sync = await cliJson('sync', '--database', path.join(pod, 'site.db'), '--git-sha', sha, '--store', store);
  const state = JSON.parse(await readFile(path.join(pod, '.sqlitening', 'state.json'), 'utf8'));
  if (state.installed.database.sha256 !== manifest.database.sha256) throw new Error('the pod did not end on the published snapshot');
  const fromFirst = manifest.deltas.find((delta) => delta.base.sha256 === manifest.history.at(-1).sha256);
  const fromPrevious = manifest.deltas[0];
  const f = (n) => n.toFixed(2);
  console.log(
    `\nA pod started from the commit's first snapshot (baked into an image), ${updates} updates of 1% of the rows later: ${Math.round(mib(size))} MiB database, folder store, ${await cpuModel()}`,
  );
  console.log('| what | bytes | vs full object |\n|---|---:|---:|');
  console.log(
    `| the pod's sync: ${state.lastInstall.method}, ${f(sync.seconds)} s | ${f(mib(state.lastInstall.bytes))} MiB | ${f(state.lastInstall.bytes / manifest.object.size)}x |`,
  );
  console.log(`| the delta from the first snapshot (${fromFirst?.pages ?? 0} pages) | ${fromFirst ? f(mib(fromFirst.size)) : 'none'} MiB | |`);
  console.log(
    `| the delta from the previous snapshot, for pods one update behind (${fromPrevious.pages} pages) | ${f(mib(fromPrevious.size))} MiB | ${f(fromPrevious.size / manifest.object.size)}x |`,
  );
  console.log(`| the full object | ${f(mib(manifest.object.size))} MiB | 1.00x |`);
  if (!last) throw new Error('no update published');
} finally {
  await rm(work, { recursive: true, force: true });
}
