// Pod-side figures, each beside a baseline measured in the same run:
//   full sync (raw and gzip)  vs  curl -o tmp && sha256sum -c && mv  /  curl | gunzip > tmp && sha256sum -c && mv
//   the agent's peak RSS during a sync; requests and bytes of an idle poll;
//   reads per second through SnapshotReader with a swap every second vs none.
//   node bench/sync.js [--size 256MiB|1GiB] [--runs 3]
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3_ENV, benchOptions, contentDatabase, median, mib, resultsDir, root, run, startS3Process } from './lib.js';

const { size, runs } = benchOptions();
const gitSha = '89abcdef0123456789abcdef0123456789abcdef';
const cli = path.join(root, 'bin', 'sqlitening.js');
const env = { ...process.env, ...S3_ENV };

/** A TCP proxy that counts connections, HTTP requests and bytes both ways. */
async function countingProxy(targetPort) {
  const counts = { connections: 0, requests: 0, bytesUp: 0, bytesDown: 0 };
  const server = net.createServer((client) => {
    counts.connections++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    client.on('data', (chunk) => {
      counts.bytesUp += chunk.length;
      counts.requests += (chunk.toString('latin1').match(/^(GET|HEAD|PUT|POST) \S+ HTTP\/1\.1\r\n/gm) ?? []).length;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      counts.bytesDown += chunk.length;
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, counts, close: () => new Promise((resolve) => server.close(resolve)) };
}

function maxRss(stderr) {
  const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  return match ? Number(match[1]) / 1024 : NaN;
}

process.stderr.write(`preparing a ${Math.round(mib(size))} MiB content database...\n`);
const db = await contentDatabase(size);
const scratch = path.join(tmpdir(), 'sqlitening-bench-sync');
await rm(scratch, { recursive: true, force: true });
await mkdir(scratch, { recursive: true });
const s3 = await startS3Process(path.join(scratch, 's3'), ['bench']);
const figures = { sizeMiB: Math.round(mib(size)), runs };
try {
  process.stderr.write('publishing raw and gzip snapshots...\n');
  const prefixes = { raw: 'identity', gz: 'gzip' };
  const manifests = {};
  for (const [prefix, encoding] of Object.entries(prefixes)) {
    await run(
      process.execPath,
      [
        cli,
        'publish',
        db,
        '--store',
        `s3://bench/${prefix}`,
        '--endpoint',
        s3.endpoint,
        '--path-style',
        '--git-sha',
        gitSha,
        '--no-check',
        '--encoding',
        encoding,
      ],
      { env },
    );
    const response = await fetch(`${s3.endpoint}/bench/${prefix}/${gitSha}/manifest.json`);
    manifests[prefix] = await response.json();
  }
  const sha = manifests.raw.database.sha256;
  const samples = { storeAlone: [], baseRaw: [], baseGz: [], oursRaw: [], oursGz: [], rssRaw: [], rssGz: [] };
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`run ${i + 1}/${runs}\n`);
    const rawUrl = `${s3.endpoint}/bench/raw/${manifests.raw.object.key}`;
    const gzUrl = `${s3.endpoint}/bench/gz/${manifests.gz.object.key}`;
    samples.storeAlone.push((await run('curl', ['-sf', '-o', '/dev/null', rawUrl])).seconds);
    const base = path.join(scratch, 'base');
    await mkdir(base, { recursive: true });
    const check = `echo "${sha}  ${base}/tmp" | sha256sum -c --quiet && mv ${base}/tmp ${base}/site.db`;
    samples.baseRaw.push((await run('sh', ['-c', `curl -sf -o ${base}/tmp ${rawUrl} && ${check}`])).seconds);
    samples.baseGz.push((await run('sh', ['-c', `curl -sf ${gzUrl} | gunzip > ${base}/tmp && ${check}`])).seconds);
    for (const [prefix, key] of [
      ['raw', 'Raw'],
      ['gz', 'Gz'],
    ]) {
      const pod = path.join(scratch, `pod-${prefix}`);
      await rm(pod, { recursive: true, force: true });
      await mkdir(pod);
      const result = await run(
        '/usr/bin/time',
        ['-v', process.execPath, cli, 'sync', '--database', `${pod}/site.db`, '--store', `${s3.endpoint}/bench/${prefix}`, '--git-sha', gitSha],
        { env },
      );
      samples[`ours${key}`].push(result.seconds);
      samples[`rss${key}`].push(maxRss(result.stderr));
    }
  }

  process.stderr.write('idle poll...\n');
  const proxy = await countingProxy(Number(new URL(s3.endpoint).port));
  const idlePod = path.join(scratch, 'pod-gz');
  await run(process.execPath, [cli, 'sync', '--database', `${idlePod}/site.db`, '--store', `http://127.0.0.1:${proxy.port}/bench/gz`, '--git-sha', gitSha], {
    env,
  });
  Object.assign(proxy.counts, { connections: 0, requests: 0, bytesUp: 0, bytesDown: 0 });
  const idle = await run(
    process.execPath,
    [cli, '--json', 'sync', '--database', `${idlePod}/site.db`, '--store', `http://127.0.0.1:${proxy.port}/bench/gz`, '--git-sha', gitSha],
    { env },
  );
  const idleStatus = JSON.parse(idle.stdout.trim().split('\n').at(-1)).status;
  const idleCounts = { ...proxy.counts, status: idleStatus };
  await proxy.close();

  process.stderr.write('reader throughput...\n');
  const small = await contentDatabase(64 * 1024 * 1024);
  const readerDir = path.join(scratch, 'reader');
  await mkdir(readerDir, { recursive: true });
  const readerLive = path.join(readerDir, 'site.db');
  const readerResults = {};
  for (const [label, holdLock, interval] of [
    ['default (hold lock, check every 100 ms)', true, 100],
    ['check on every read', true, 0],
    ['lock per statement (SQLite default)', false, 100],
  ]) {
    for (const swaps of [false, true]) {
      await copyFile(small, readerLive);
      const seconds = 5;
      const child = run(process.execPath, [path.join(root, 'bench', 'reader-loop.js'), readerLive, String(seconds), String(holdLock), String(interval)]);
      let swapped = 0;
      if (swaps) {
        for (let s = 0; s < seconds - 0.5; s++) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          const temp = path.join(readerDir, `next-${s}`);
          await copyFile(small, temp);
          await rename(temp, readerLive);
          swapped++;
        }
      }
      const { stdout } = await child;
      readerResults[`${label}${swaps ? ', swap every second' : ', no swaps'}`] = { ...JSON.parse(stdout), swaps: swapped };
    }
  }

  const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  Object.assign(figures, {
    sync: {
      storeAloneSeconds: m.storeAlone,
      raw: { oursSeconds: m.oursRaw, baselineSeconds: m.baseRaw, ratio: m.oursRaw / m.baseRaw, peakRssMiB: m.rssRaw },
      gzip: { oursSeconds: m.oursGz, baselineSeconds: m.baseGz, ratio: m.oursGz / m.baseGz, peakRssMiB: m.rssGz, encodedMiB: mib(manifests.gz.object.size) },
    },
    idlePoll: idleCounts,
    reader: readerResults,
  });
  await mkdir(resultsDir, { recursive: true });
  await writeFile(path.join(resultsDir, 'sync.json'), `${JSON.stringify(figures, null, 2)}\n`);

  const f = (n, d = 2) => n.toFixed(d);
  console.log(
    `\nSync of a ${figures.sizeMiB} MiB snapshot from s3rver over HTTP on 127.0.0.1, median of ${runs}; the store alone serves it in ${f(m.storeAlone)} s (curl -o /dev/null)`,
  );
  console.log('| what | seconds | vs baseline | agent peak RSS |\n|---|---:|---:|---:|');
  console.log(`| sqlitening sync, raw (download+hash+quick_check+fsync+rename) | ${f(m.oursRaw)} | ${f(m.oursRaw / m.baseRaw)}x | ${f(m.rssRaw, 0)} MiB |`);
  console.log(`| baseline: curl -o tmp && sha256sum -c && mv | ${f(m.baseRaw)} | 1.00x | |`);
  console.log(
    `| sqlitening sync, gzip (${f(mib(manifests.gz.object.size), 0)} MiB on the wire) | ${f(m.oursGz)} | ${f(m.oursGz / m.baseGz)}x | ${f(m.rssGz, 0)} MiB |`,
  );
  console.log(`| baseline: curl \\| gunzip > tmp && sha256sum -c && mv | ${f(m.baseGz)} | 1.00x | |`);
  console.log(
    `\nIdle poll (manifest unchanged): ${idleCounts.requests} request(s) on ${idleCounts.connections} connection(s), ${idleCounts.bytesUp} bytes up, ${idleCounts.bytesDown} bytes down; result: ${idleStatus}`,
  );
  console.log('\nReads per second through SnapshotReader (point lookups by primary key, one process, 5 s each)');
  console.log('| reader | reads/s | failed reads | reopens |\n|---|---:|---:|---:|');
  for (const [label, r] of Object.entries(readerResults)) console.log(`| ${label} | ${f(r.readsPerSecond, 0)} | ${r.failures} | ${r.reopens} |`);
} finally {
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
}
