// Pod-side figures, each beside a baseline measured in the same run:
//   full sync (raw and gzip)  vs  curl -o tmp && sha256sum -c && mv  /  curl | gunzip > tmp && sha256sum -c && mv
//     (signed manifests and a pod that trusts the key, as in production: the chunk root proves the bytes in
//     one SHA-256 pass; and raw without --trust-key, where the pod checks the whole-file SHA-256 as well)
//                             vs  boto3 download_file + hashlib SHA-256 + os.rename  /  the store alone (curl -o /dev/null)
//   peak RSS of each (GNU time -v); requests and bytes of an idle poll;
//   reads per second through SnapshotReader and through a plain handle, with a new file renamed over the
//   live one every second vs none.
//   node bench/sync.js [--size 256MiB|1GiB] [--runs 3]
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { S3_ENV, available, benchOptions, contentDatabase, cpuModel, measured, median, mib, resultsDir, root, run, startS3Process } from './lib.js';

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

// A baseline whose tool is missing is skipped with a note; without GNU time, peak RSS is not reported.
const tools = {
  time: await available('/usr/bin/time', ['-v', 'true']),
  curl: await available('curl'),
  sha256sum: await available('sha256sum'),
  gunzip: await available('gunzip'),
  boto3: await available('python3', ['-c', 'import boto3']),
};
const notes = Object.entries(tools)
  .filter(([, found]) => !found)
  .map(([tool]) => (tool === 'time' ? 'no /usr/bin/time -v: peak RSS not measured' : `no ${tool}: its baseline skipped`));
const can = { storeAlone: tools.curl, baseRaw: tools.curl && tools.sha256sum, baseGz: tools.curl && tools.gunzip && tools.sha256sum, boto3: tools.boto3 };

process.stderr.write(`preparing a ${Math.round(mib(size))} MiB content database...\n`);
const db = await contentDatabase(size);
const scratch = path.join(tmpdir(), 'sqlitening-bench-sync');
await rm(scratch, { recursive: true, force: true });
await mkdir(scratch, { recursive: true });
const s3 = await startS3Process(path.join(scratch, 's3'), ['bench']);
const figures = { sizeMiB: Math.round(mib(size)), runs };
try {
  process.stderr.write('publishing raw and gzip snapshots, signed...\n');
  const key = path.join(scratch, 'bench-key');
  await run(process.execPath, [cli, 'keygen', key]);
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
        '--signing-key',
        `${key}.key`,
      ],
      { env },
    );
    const response = await fetch(`${s3.endpoint}/bench/${prefix}/${gitSha}/manifest.json`);
    const envelope = await response.json();
    manifests[prefix] = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
  }
  const sha = manifests.raw.database.sha256;
  const ids = ['oursRaw', 'oursGz', 'oursRawUnsigned', 'baseRaw', 'baseGz', 'boto3', 'storeAlone'];
  const samples = Object.fromEntries(ids.map((id) => [id, { seconds: [], rss: [] }]));
  const record = (id, { seconds, rss }) => {
    samples[id].seconds.push(seconds);
    if (rss !== null) samples[id].rss.push(rss);
  };
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`run ${i + 1}/${runs}\n`);
    const rawUrl = `${s3.endpoint}/bench/raw/${manifests.raw.object.key}`;
    const gzUrl = `${s3.endpoint}/bench/gz/${manifests.gz.object.key}`;
    if (can.storeAlone) record('storeAlone', await measured('curl', ['-sf', '-o', '/dev/null', rawUrl]));
    const base = path.join(scratch, 'base');
    await rm(base, { recursive: true, force: true });
    await mkdir(base, { recursive: true });
    const check = `echo "${sha}  ${base}/tmp" | sha256sum -c --quiet && mv ${base}/tmp ${base}/site.db`;
    if (can.baseRaw) record('baseRaw', await measured('sh', ['-c', `curl -sf -o ${base}/tmp ${rawUrl} && ${check}`]));
    if (can.baseGz) record('baseGz', await measured('sh', ['-c', `curl -sf ${gzUrl} | gunzip > ${base}/tmp && ${check}`]));
    if (can.boto3) {
      const args = [path.join(root, 'bench', 'boto3-sync.py'), s3.endpoint, 'bench', `raw/${manifests.raw.object.key}`, sha, base];
      record('boto3', await measured('python3', args, { env }));
    }
    for (const [prefix, id, trust] of [
      ['raw', 'oursRaw', true],
      ['gz', 'oursGz', true],
      ['raw', 'oursRawUnsigned', false],
    ]) {
      const pod = path.join(scratch, `pod-${prefix}`);
      await rm(pod, { recursive: true, force: true });
      await mkdir(pod);
      const args = [cli, 'sync', '--database', `${pod}/site.db`, '--store', `${s3.endpoint}/bench/${prefix}`, '--git-sha', gitSha];
      record(id, await measured(process.execPath, trust ? [...args, '--trust-key', `${key}.pub`] : args, { env }));
    }
  }

  process.stderr.write('idle poll...\n');
  const proxy = await countingProxy(Number(new URL(s3.endpoint).port));
  const idlePod = path.join(scratch, 'pod-gz');
  const trustKey = ['--trust-key', `${key}.pub`];
  await run(
    process.execPath,
    [cli, 'sync', '--database', `${idlePod}/site.db`, '--store', `http://127.0.0.1:${proxy.port}/bench/gz`, '--git-sha', gitSha, ...trustKey],
    {
      env,
    },
  );
  Object.assign(proxy.counts, { connections: 0, requests: 0, bytesUp: 0, bytesDown: 0 });
  const idle = await run(
    process.execPath,
    [cli, '--json', 'sync', '--database', `${idlePod}/site.db`, '--store', `http://127.0.0.1:${proxy.port}/bench/gz`, '--git-sha', gitSha, ...trustKey],
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
  for (const [label, mode, interval] of [
    ['SnapshotReader (a transaction per read, a stat every 100 ms)', 'reader', 100],
    ['SnapshotReader, a stat on every read', 'reader', 0],
    ['a plain better-sqlite3 handle (a transaction per statement)', 'plain', 100],
  ]) {
    for (const swaps of [false, true]) {
      await copyFile(small, readerLive);
      const seconds = 5;
      const child = run(process.execPath, [path.join(root, 'bench', 'reader-loop.js'), readerLive, String(seconds), mode, String(interval)]);
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
      readerResults[`${label}${swaps ? ', a new file renamed over it every second' : ', no installs'}`] = { ...JSON.parse(stdout), swaps: swapped };
    }
  }

  // A skipped baseline has no samples: its figures are null.
  const med = (values) => (values.length ? median(values) : null);
  const m = Object.fromEntries(ids.map((id) => [id, med(samples[id].seconds)]));
  const rss = Object.fromEntries(ids.map((id) => [id, med(samples[id].rss)]));
  const ratio = (a, b) => (a !== null && b !== null ? a / b : null);
  Object.assign(figures, {
    cpu: await cpuModel(),
    notes,
    sync: {
      storeAloneSeconds: m.storeAlone,
      storeAlonePeakRssMiB: rss.storeAlone,
      raw: {
        oursSeconds: m.oursRaw,
        baselineSeconds: m.baseRaw,
        ratio: ratio(m.oursRaw, m.baseRaw),
        ratioToStoreAlone: ratio(m.oursRaw, m.storeAlone),
        peakRssMiB: rss.oursRaw,
        baselinePeakRssMiB: rss.baseRaw,
      },
      rawUnsigned: { oursSeconds: m.oursRawUnsigned, ratio: ratio(m.oursRawUnsigned, m.baseRaw), peakRssMiB: rss.oursRawUnsigned },
      gzip: {
        oursSeconds: m.oursGz,
        baselineSeconds: m.baseGz,
        ratio: ratio(m.oursGz, m.baseGz),
        peakRssMiB: rss.oursGz,
        baselinePeakRssMiB: rss.baseGz,
        encodedMiB: mib(manifests.gz.object.size),
      },
      boto3: { seconds: m.boto3, peakRssMiB: rss.boto3, ratioOursRawToBoto3: ratio(m.oursRaw, m.boto3) },
    },
    idlePoll: idleCounts,
    reader: readerResults,
  });
  await mkdir(resultsDir, { recursive: true });
  await writeFile(path.join(resultsDir, 'sync.json'), `${JSON.stringify(figures, null, 2)}\n`);

  const f = (n, d = 2) => (n === null ? 'skipped' : n.toFixed(d));
  const x = (n) => (n === null ? 'skipped' : `${n.toFixed(2)}x`);
  // GNU time reports a shell's largest process, not the sum of a pipeline's processes.
  const rows = [
    ['oursRaw', 'sqlitening sync, raw, signed (download, page hashes, fsync, rename)'],
    ['oursGz', `sqlitening sync, gzip, signed (${f(mib(manifests.gz.object.size), 0)} MiB on the wire)`],
    ['oursRawUnsigned', 'sqlitening sync, raw, no --trust-key (page hashes and whole-file SHA-256)'],
    ['baseRaw', 'curl -o tmp && sha256sum -c && mv', ' (largest process)'],
    ['baseGz', 'curl | gunzip > tmp && sha256sum -c && mv', ' (largest process)'],
    ['boto3', 'boto3 download_file + hashlib SHA-256 + os.rename (python3, path-style)'],
    ['storeAlone', 'the store alone: curl -o /dev/null'],
  ];
  console.log(
    `\nSync of a ${figures.sizeMiB} MiB snapshot from s3rver over HTTP on 127.0.0.1, median of ${runs}, ${figures.cpu} (${cpus().length} cores); vs sqlitening raw = seconds / sqlitening raw seconds`,
  );
  console.log('| what | seconds | vs sqlitening raw | peak RSS |\n|---|---:|---:|---:|');
  // A pipe inside a cell would end it.
  for (const [id, label, peakNote = ''] of rows) {
    const peak = rss[id] === null ? 'n/a' : `${f(rss[id], 0)} MiB${peakNote}`;
    console.log(`| ${label.replaceAll('|', '\\|')} | ${f(m[id])} | ${x(ratio(m[id], m.oursRaw))} | ${peak} |`);
  }
  console.log(`sqlitening raw / (curl -o tmp && sha256sum -c && mv): ${x(figures.sync.raw.ratio)}`);
  console.log(`sqlitening raw / the store alone: ${x(figures.sync.raw.ratioToStoreAlone)}`);
  console.log(`sqlitening raw without --trust-key / (curl -o tmp && sha256sum -c && mv): ${x(figures.sync.rawUnsigned.ratio)}`);
  console.log(`sqlitening raw / boto3 download_file + hashlib + os.rename: ${x(figures.sync.boto3.ratioOursRawToBoto3)}`);
  console.log(`sqlitening gzip / (curl | gunzip > tmp && sha256sum -c && mv): ${x(figures.sync.gzip.ratio)}`);
  console.log('Only sqlitening fsyncs the new file before the rename; the boto3 row includes starting python3 and importing boto3.');
  for (const note of notes) console.log(`note: ${note}`);
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
