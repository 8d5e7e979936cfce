// Delta sync figures, each beside its baseline measured in the same run:
//   publish v2 with deltas            vs  publish v2 without (--delta-max-share 0): what deltas cost the publisher
//   publish v2 with --base v1 (format 2 as well)  vs  publish v2 with format-1 deltas only
//   pod sync v1 → v2 by delta         vs  pod sync of v2 in full (a new pod): bytes moved, time and peak RSS
//     (each delta is written into the live file in place; v2 → v3 is the steady state, a pod that installed one)
//   with --baseline <checkout>: the steady-state delta also by that checkout's CLI (built), time and peak RSS,
//     and the data folder's size after it
//   the same syncs by format-2 delta  vs  by format-1 delta (two stores, one published with --base): bytes and sync time
//   the format-2 delta                vs  rsync -z --no-whole-file -B 4096 from the new file onto a copy of the
//                                         pod's old live file: bytes sent (rsync --stats) and time; skipped without rsync
//   hashing after a delta             vs  hashing the whole file (chunk hashes of every page)
// The update changes 1% of the rows in place (no VACUUM), as a scheduled refresh does. Manifests are signed,
// and pods trust the key.
//   node bench/delta.js [--size 256MiB|1GiB] [--runs 3] [--baseline <checkout>]
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  available,
  benchOptions,
  pageHashes,
  contentDatabase,
  cpuModel,
  median,
  measured as timed,
  mib,
  refreshRows,
  resultsDir,
  run,
  cliJson,
} from './lib.js';

const { size, runs, baseline } = benchOptions(process.argv.slice(2), { baseline: { type: 'string' } });
const sha = '0123456789abcdef0123456789abcdef01234567';
const work = path.join(os.tmpdir(), `sqlitening-bench-delta-${process.pid}`);
const f = (n, digits = 2) => n.toFixed(digits);

/** rsync's figure from --stats, e.g. "Total bytes sent: 4,187". */
function rsyncStat(stdout, name) {
  const match = new RegExp(`^${name}: ([\\d,]+)`, 'm').exec(stdout);
  if (!match) throw new Error(`no "${name}" in rsync --stats:\n${stdout}`);
  return Number(match[1].replaceAll(',', ''));
}

/** The pod installed the format-2 delta (its size is what it moved) and holds the published file byte for byte. */
async function expectInstalled(pod, patchBytes, published) {
  const state = JSON.parse(await readFile(path.join(pod, '.sqlitening', 'state.json'), 'utf8'));
  if (state.lastInstall?.method !== 'delta' || state.lastInstall.bytes !== patchBytes) {
    throw new Error(`expected a format-2 delta install of ${patchBytes} bytes, got ${JSON.stringify(state.lastInstall)}`);
  }
  if (!(await readFile(path.join(pod, 'site.db'))).equals(await readFile(published))) throw new Error(`${pod}: the file differs from the published one`);
}

// Signed manifests and pods that trust the key, as in production (a full download is then proven by its
// chunk root in one SHA-256 pass).
const signingKey = path.join(work, 'bench-key');
const publishCli = (...args) => cliJson('publish', ...args, '--signing-key', `${signingKey}.key`);
const syncCli = (...args) => cliJson('sync', ...args, '--trust-key', `${signingKey}.pub`);
/** A sync by `cli` (this checkout's or the baseline's) under GNU time: seconds and peak RSS in MiB. */
const syncTimed = async (cli, ...args) => {
  // Dirty pages of an earlier step (a 1 GiB copy, a full download) written back first: no sync waits behind them.
  await run('sync', []);
  return timed(process.execPath, [cli, 'sync', ...args, '--trust-key', `${signingKey}.pub`, '--json']);
};
const CLI = path.resolve('bin/sqlitening.js');
const BASELINE_CLI = baseline ? path.resolve(baseline, 'bin/sqlitening.js') : null;
/** Bytes the data folder holds (du: allocated blocks). */
const folderBytes = async (folder) => Number((await run('du', ['-sk', folder])).stdout.split('\t')[0]) * 1024;

const hasRsync = await available('rsync');
const RSYNC = ['-z', '--no-whole-file', '-B', '4096'];

try {
  await mkdir(work, { recursive: true });
  await cliJson('keygen', signingKey);
  const source = await contentDatabase(size);
  const measured = {
    publishWith: [],
    publishWithBase: [],
    publishWithout: [],
    deltaSync: [],
    deltaSyncInPlace: [],
    deltaSyncRss: [],
    fullSyncRss: [],
    baselineInPlace: [],
    baselineRss: [],
    folderBytes: 0,
    liveBytes: 0,
    baselineFolderBytes: 0,
    patchSync: [],
    patchSyncInPlace: [],
    patchBytes: 0,
    fullSync: [],
    rsync: [],
    rsyncSent: [],
    rsyncReceived: [],
    deltaBytes: 0,
    fullBytes: 0,
    pages: 0,
    pageCount: 0,
  };
  for (let i = 0; i < runs; i++) {
    const store = path.join(work, `store-${i}`);
    // The same snapshots published with the file of the previous one (--base): format-2 deltas as well.
    const store2 = path.join(work, `store-patches-${i}`);
    const storeWithout = path.join(work, `store-without-${i}`);
    const build = path.join(work, `build-${i}.db`);
    const base = path.join(work, `base-${i}.db`);
    await copyFile(source, build);
    for (const target of [store, store2, storeWithout]) await publishCli(build, '--store', target, '--git-sha', sha, '--no-check');
    const pod = path.join(work, `pod-${i}`);
    const pod2 = path.join(work, `pod-patches-${i}`);
    const podBaseline = path.join(work, `pod-baseline-${i}`);
    for (const [folder, from] of [
      [pod, store],
      [pod2, store2],
    ]) {
      await mkdir(folder, { recursive: true });
      await syncCli('--database', path.join(folder, 'site.db'), '--git-sha', sha, '--store', from);
    }
    const syncBaseline = () => syncTimed(BASELINE_CLI, '--database', path.join(podBaseline, 'site.db'), '--git-sha', sha, '--store', store);
    if (BASELINE_CLI) {
      await mkdir(podBaseline, { recursive: true });
      await syncBaseline();
    }

    await copyFile(build, base);
    refreshRows(build, i + 2);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a new second for the new snapshot's key
    const withDeltas = await publishCli(build, '--store', store, '--git-sha', sha, '--no-check');
    const withBase = await publishCli(build, '--store', store2, '--git-sha', sha, '--no-check', '--base', base);
    const without = await publishCli(build, '--store', storeWithout, '--git-sha', sha, '--no-check', '--delta-max-share', '0');
    measured.publishWith.push(withDeltas.seconds);
    measured.publishWithBase.push(withBase.seconds);
    measured.publishWithout.push(without.seconds);
    const delta = withDeltas.result.deltas[0];
    measured.pages = delta?.pages ?? 0;
    measured.deltaBytes = delta?.size ?? 0;
    measured.patchBytes = withBase.result.patches[0]?.size ?? 0;
    measured.fullBytes = withDeltas.result.encodedSize;

    // rsync's receiver gets its own copy of the pod's old live file, taken before the pod moves on.
    const rsyncOld = path.join(work, `rsync-${i}.db`);
    if (hasRsync) await copyFile(path.join(pod, 'site.db'), rsyncOld);
    // Format 1 and format 2 take turns going first, so that neither always finds the other's work in the caches.
    const syncPod = async (folder, from) => {
      await run('sync', []);
      return syncCli('--database', path.join(folder, 'site.db'), '--git-sha', sha, '--store', from);
    };
    const firstPatch = i % 2 === 1;
    const patchFirst = firstPatch ? await syncPod(pod2, store2) : undefined;
    const deltaSync = await syncPod(pod, store);
    const patchSync = patchFirst ?? (await syncPod(pod2, store2));
    measured.patchSync.push(patchSync.seconds);
    const freshPod = path.join(work, `fresh-${i}`);
    await mkdir(freshPod, { recursive: true });
    const fullSync = await syncTimed(CLI, '--database', path.join(freshPod, 'site.db'), '--git-sha', sha, '--store', store);
    measured.deltaSync.push(deltaSync.seconds);
    measured.fullSync.push(fullSync.seconds);
    measured.fullSyncRss.push(fullSync.rss);
    if (BASELINE_CLI) await syncBaseline(); // its first delta (a copy of the live file, kept as its standby)
    if (hasRsync) {
      // --ignore-times: a copy with the same size and modification second would otherwise be skipped as unchanged.
      const rsync = await run('rsync', [...RSYNC, '--ignore-times', '--stats', build, rsyncOld]);
      if (rsyncStat(rsync.stdout, 'Number of regular files transferred') !== 1) throw new Error(`rsync transferred nothing:\n${rsync.stdout}`);
      measured.rsync.push(rsync.seconds);
      measured.rsyncSent.push(rsyncStat(rsync.stdout, 'Total bytes sent'));
      measured.rsyncReceived.push(rsyncStat(rsync.stdout, 'Total bytes received'));
      await rm(rsyncOld, { force: true });
    }
    const state = JSON.parse(await readFile(path.join(pod, '.sqlitening', 'state.json'), 'utf8'));
    if (state.lastInstall?.method !== 'delta') throw new Error(`expected a delta install, got ${JSON.stringify(state.lastInstall)}`);
    await expectInstalled(pod2, measured.patchBytes, build);

    // The next update of the same size: the steady state, a pod that installed a delta before.
    await copyFile(build, base);
    refreshRows(build, i + 3);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await publishCli(build, '--store', store, '--git-sha', sha, '--no-check');
    const nextPatch = (await publishCli(build, '--store', store2, '--git-sha', sha, '--no-check', '--base', base)).result.patches[0];
    const inPlace = [
      [pod, store, measured.deltaSyncInPlace],
      [pod2, store2, measured.patchSyncInPlace],
    ];
    for (const [folder, from, times] of firstPatch ? inPlace.reverse() : inPlace) {
      const liveBefore = (await stat(path.join(folder, 'site.db'))).ino;
      const synced = await syncTimed(CLI, '--database', path.join(folder, 'site.db'), '--git-sha', sha, '--store', from);
      times.push(synced.seconds);
      if (folder === pod) measured.deltaSyncRss.push(synced.rss);
      if ((await stat(path.join(folder, 'site.db'))).ino !== liveBefore) throw new Error('expected the delta to be written into the live file in place');
    }
    measured.folderBytes = await folderBytes(pod);
    measured.liveBytes = (await stat(path.join(pod, 'site.db'))).size;
    if (BASELINE_CLI) {
      const synced = await syncBaseline();
      measured.baselineInPlace.push(synced.seconds);
      measured.baselineRss.push(synced.rss);
      measured.baselineFolderBytes = await folderBytes(podBaseline);
    }
    await expectInstalled(pod2, nextPatch?.size, build);
    measured.pageCount = state.installed.database.pageCount;
    await rm(path.join(work, `fresh-${i}`), { recursive: true, force: true });
    await rm(podBaseline, { recursive: true, force: true });
    await rm(base, { force: true });
  }

  // Hashing after a delta touches only the changed pages; a full check hashes them all.
  const file = path.join(work, 'pod-0', 'site.db');
  let started = performance.now();
  const hashes = await pageHashes(file, 4096);
  const wholeSeconds = (performance.now() - started) / 1000;
  const data = await readFile(file);
  started = performance.now();
  const pageCount = data.length / 4096;
  for (let page = 0; page < measured.pages; page++) {
    const at = ((page * 37) % pageCount) * 4096;
    createHash('sha256')
      .update(data.subarray(at, at + 4096))
      .digest();
  }
  createHash('sha256').update(hashes).digest();
  const touchedSeconds = (performance.now() - started) / 1000;

  const figures = {
    sizeMiB: Math.round(mib(size)),
    cpu: await cpuModel(),
    runs,
    changedPages: measured.pages,
    pageCount: measured.pageCount,
    deltaBytes: measured.deltaBytes,
    patchBytes: measured.patchBytes,
    fullObjectBytes: measured.fullBytes,
    publish: {
      withDeltasSeconds: median(measured.publishWith),
      withBaseSeconds: median(measured.publishWithBase),
      withoutSeconds: median(measured.publishWithout),
    },
    sync: {
      deltaSeconds: median(measured.deltaSync),
      deltaInPlaceSeconds: median(measured.deltaSyncInPlace),
      patchSeconds: median(measured.patchSync),
      patchInPlaceSeconds: median(measured.patchSyncInPlace),
      fullSeconds: median(measured.fullSync),
      deltaInPlacePeakRssMiB: median(measured.deltaSyncRss),
      fullPeakRssMiB: median(measured.fullSyncRss),
    },
    dataFolder: { bytes: measured.folderBytes, databaseBytes: measured.liveBytes },
    baseline: BASELINE_CLI
      ? {
          checkout: baseline,
          deltaInPlaceSeconds: median(measured.baselineInPlace),
          deltaInPlacePeakRssMiB: median(measured.baselineRss),
          folderBytes: measured.baselineFolderBytes,
        }
      : null,
    // rsync's sender reads the new file and the receiver holds the old one; bytes sent are what crosses to the receiver.
    rsync: hasRsync
      ? {
          command: `rsync ${RSYNC.join(' ')}`,
          seconds: median(measured.rsync),
          bytesSent: median(measured.rsyncSent),
          bytesReceived: median(measured.rsyncReceived),
        }
      : null,
    hashing: { afterDeltaMs: touchedSeconds * 1000, wholeFileMs: wholeSeconds * 1000 },
  };
  await mkdir(resultsDir, { recursive: true });
  await writeFile(path.join(resultsDir, 'delta.json'), `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`\nDelta sync of a ${figures.sizeMiB} MiB database after a 1% row update, median of ${runs} (folder store, ${figures.cpu})`);
  console.log('| what | with deltas | baseline | baseline figure | ratio |\n|---|---:|---|---:|---:|');
  console.log(
    `| bytes a pod moves | ${f(mib(figures.deltaBytes))} MiB (${figures.changedPages} of ${figures.pageCount} pages) | the full object | ${f(mib(figures.fullObjectBytes))} MiB | ${f(figures.deltaBytes / figures.fullObjectBytes, 3)}x |`,
  );
  console.log(
    `| pod sync, first delta after a full download (into the live file) | ${f(figures.sync.deltaSeconds)} s | a full sync (new pod) | ${f(figures.sync.fullSeconds)} s | ${f(figures.sync.deltaSeconds / figures.sync.fullSeconds)}x |`,
  );
  console.log(
    `| pod sync, steady state (a pod that installed a delta before) | ${f(figures.sync.deltaInPlaceSeconds)} s | a full sync (new pod) | ${f(figures.sync.fullSeconds)} s | ${f(figures.sync.deltaInPlaceSeconds / figures.sync.fullSeconds)}x |`,
  );
  if (figures.sync.deltaInPlacePeakRssMiB !== null) {
    console.log(
      `| peak RSS, steady-state delta sync | ${f(figures.sync.deltaInPlacePeakRssMiB, 1)} MiB | a full sync (new pod) | ${f(figures.sync.fullPeakRssMiB, 1)} MiB | ${f(figures.sync.deltaInPlacePeakRssMiB / figures.sync.fullPeakRssMiB)}x |`,
    );
  }
  console.log(
    `| the data folder after the steady-state delta (du) | ${f(mib(figures.dataFolder.bytes))} MiB | the database | ${f(mib(figures.dataFolder.databaseBytes))} MiB | ${f(figures.dataFolder.bytes / figures.dataFolder.databaseBytes)}x |`,
  );
  const b = figures.baseline;
  if (b) {
    console.log(
      `| pod sync, steady state | ${f(figures.sync.deltaInPlaceSeconds)} s | ${b.checkout}'s CLI, the same delta | ${f(b.deltaInPlaceSeconds)} s | ${f(figures.sync.deltaInPlaceSeconds / b.deltaInPlaceSeconds)}x |`,
    );
    if (b.deltaInPlacePeakRssMiB !== null) {
      console.log(
        `| peak RSS, steady-state delta sync | ${f(figures.sync.deltaInPlacePeakRssMiB, 1)} MiB | ${b.checkout}'s CLI | ${f(b.deltaInPlacePeakRssMiB, 1)} MiB | ${f(figures.sync.deltaInPlacePeakRssMiB / b.deltaInPlacePeakRssMiB)}x |`,
      );
    }
    console.log(
      `| the data folder after the steady-state delta (du) | ${f(mib(figures.dataFolder.bytes))} MiB | ${b.checkout}'s CLI | ${f(mib(b.folderBytes))} MiB | ${f(figures.dataFolder.bytes / b.folderBytes)}x |`,
    );
  }
  console.log(
    `| bytes a pod moves, format 2 (publish --base: pages as patches) | ${f(mib(figures.patchBytes), 3)} MiB | format 1 (changed pages whole) | ${f(mib(figures.deltaBytes), 3)} MiB | ${f(figures.patchBytes / figures.deltaBytes, 3)}x |`,
  );
  console.log(
    `| pod sync by format 2, first after a full download | ${f(figures.sync.patchSeconds)} s | by format 1 | ${f(figures.sync.deltaSeconds)} s | ${f(figures.sync.patchSeconds / figures.sync.deltaSeconds)}x |`,
  );
  console.log(
    `| pod sync by format 2, steady state | ${f(figures.sync.patchInPlaceSeconds)} s | by format 1 | ${f(figures.sync.deltaInPlaceSeconds)} s | ${f(figures.sync.patchInPlaceSeconds / figures.sync.deltaInPlaceSeconds)}x |`,
  );

  if (figures.rsync) {
    const r = figures.rsync;
    console.log(
      `| bytes a pod moves | ${f(mib(figures.deltaBytes))} MiB | ${r.command}, bytes sent (--stats; ${f(mib(r.bytesReceived))} MiB of block checksums back) | ${f(mib(r.bytesSent))} MiB | ${f(figures.deltaBytes / r.bytesSent)}x |`,
    );
    console.log(
      `| pod sync, steady state | ${f(figures.sync.deltaInPlaceSeconds)} s | ${r.command}, old live file → new file | ${f(r.seconds)} s | ${f(figures.sync.deltaInPlaceSeconds / r.seconds)}x |`,
    );
  } else {
    console.log('| bytes a pod moves, pod sync | | rsync -z --no-whole-file -B 4096 | skipped: no rsync | |');
  }
  console.log(
    `| publish (hash, compress, upload, chunk list, delta) | ${f(figures.publish.withDeltasSeconds)} s | publish without deltas | ${f(figures.publish.withoutSeconds)} s | ${f(figures.publish.withDeltasSeconds / figures.publish.withoutSeconds)}x |`,
  );
  console.log(
    `| publish with --base (format 1 and 2 deltas) | ${f(figures.publish.withBaseSeconds)} s | publish with format-1 deltas | ${f(figures.publish.withDeltasSeconds)} s | ${f(figures.publish.withBaseSeconds / figures.publish.withDeltasSeconds)}x |`,
  );
  console.log(
    `| hashing to prove the file after the delta | ${f(figures.hashing.afterDeltaMs)} ms | chunk hashes of the whole file | ${f(figures.hashing.wholeFileMs, 0)} ms | ${f(figures.hashing.afterDeltaMs / figures.hashing.wholeFileMs, 4)}x |`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
