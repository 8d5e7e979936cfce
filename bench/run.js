// Runs every benchmark with the same flags, then prints one table of all
// figures beside their baselines, writes it to bench/results/all.json and docs/BENCHMARKS.md.
//   npm run bench                 default size (256 MiB): a few minutes on 2 cores
//   npm run bench -- --size 1GiB  the full figures
//   node bench/run.js --report-only   the table again from the last run's bench/results/*.json
// The real-data section (bench/real-data.js) is the same at any --size: four releases of a public data set.
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { benchOptions, resultsDir, root } from './lib.js';

const reportOnly = process.argv.includes('--report-only');
const flags = process.argv.slice(2).filter((arg) => arg !== '--report-only');
// Checked here first, so that --help or a typo does not start a run of several minutes.
benchOptions(flags);

const scripts = [
  [path.join(root, 'bench', 'publish.js'), ...flags],
  [path.join(root, 'bench', 'sync.js'), ...flags],
  [path.join(root, 'bench', 'delta.js'), ...flags],
  [path.join(root, 'bench', 'real-data.js')],
  [path.join(root, 'worker', 'bench', 'board.js')],
];
for (const args of reportOnly ? [] : scripts) {
  const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const read = async (name) => JSON.parse(await readFile(path.join(resultsDir, `${name}.json`), 'utf8'));
const [publish, sync, delta, realData, board] = await Promise.all([read('publish'), read('sync'), read('delta'), read('real-data'), read('board')]);
// A baseline whose tool was missing has null figures.
const s = (seconds) => (seconds == null ? 'skipped' : `${seconds.toFixed(2)} s`);
const x = (ratio) => (ratio == null ? '' : `${ratio.toFixed(2)}x`);
const rows = [
  [
    `publish ${publish.sizeMiB} MiB (hash + gzip -1 + upload)`,
    s(publish.publish.oursDefaultSeconds),
    'sha256sum + gzip -1 + aws s3 cp',
    s(publish.publish.baselineSeconds),
    x(publish.publish.ratioOursToBaseline),
  ],
  [
    'SHA-256 throughput',
    `${publish.hash.oursMiBs.toFixed(0)} MiB/s`,
    'openssl sha256',
    `${publish.hash.opensslMiBs.toFixed(0)} MiB/s`,
    x(publish.hash.oursMiBs / publish.hash.opensslMiBs),
  ],
  [
    `sync ${sync.sizeMiB} MiB, raw`,
    s(sync.sync.raw.oursSeconds),
    'curl -o tmp && sha256sum -c && mv',
    s(sync.sync.raw.baselineSeconds),
    x(sync.sync.raw.ratio),
  ],
  [
    `sync ${sync.sizeMiB} MiB, gzip`,
    s(sync.sync.gzip.oursSeconds),
    'curl | gunzip > tmp && sha256sum -c && mv',
    s(sync.sync.gzip.baselineSeconds),
    x(sync.sync.gzip.ratio),
  ],
  [
    `sync ${sync.sizeMiB} MiB, raw`,
    s(sync.sync.raw.oursSeconds),
    'boto3 download_file + hashlib SHA-256 + os.rename',
    s(sync.sync.boto3?.seconds),
    x(sync.sync.boto3?.ratioOursRawToBoto3),
  ],
  [
    'agent peak RSS during sync (raw / gzip)',
    `${sync.sync.raw.peakRssMiB.toFixed(0)} / ${sync.sync.gzip.peakRssMiB.toFixed(0)} MiB`,
    'the store alone (curl -o /dev/null)',
    s(sync.sync.storeAloneSeconds),
    '',
  ],
  ['idle poll', `${sync.idlePoll.requests} request, ${sync.idlePoll.bytesUp + sync.idlePoll.bytesDown} bytes`, '', '', ''],
];
rows.push([
  `delta sync ${delta.sizeMiB} MiB after a 1% update, first after a full download (copies the file): bytes / time`,
  `${(delta.deltaBytes / 1048576).toFixed(2)} MiB / ${s(delta.sync.deltaSeconds)}`,
  'the full object / a full sync',
  `${(delta.fullObjectBytes / 1048576).toFixed(2)} MiB / ${s(delta.sync.fullSeconds)}`,
  x(delta.deltaBytes / delta.fullObjectBytes),
]);
const r = delta.rsync;
rows.push([
  `delta sync ${delta.sizeMiB} MiB after a 1% update, steady state (into the live file): bytes / time`,
  `${(delta.deltaBytes / 1048576).toFixed(2)} MiB / ${s(delta.sync.deltaInPlaceSeconds)}`,
  'rsync -z --no-whole-file -B 4096, old live file → new file (bytes sent)',
  r ? `${(r.bytesSent / 1048576).toFixed(2)} MiB / ${s(r.seconds)}` : 'skipped: no rsync',
  r ? x(delta.deltaBytes / r.bytesSent) : '',
]);
rows.push([
  'publish with deltas',
  s(delta.publish.withDeltasSeconds),
  'publish without deltas',
  s(delta.publish.withoutSeconds),
  x(delta.publish.withDeltasSeconds / delta.publish.withoutSeconds),
]);
rows.push([
  `delta ${delta.sizeMiB} MiB after a 1% update, format 2 (publish --base): bytes / steady-state pod sync`,
  `${(delta.patchBytes / 1048576).toFixed(3)} MiB / ${s(delta.sync.patchInPlaceSeconds)}`,
  'format 1 (changed pages whole)',
  `${(delta.deltaBytes / 1048576).toFixed(3)} MiB / ${s(delta.sync.deltaInPlaceSeconds)}`,
  `${x(delta.patchBytes / delta.deltaBytes)} / ${x(delta.sync.patchInPlaceSeconds / delta.sync.deltaInPlaceSeconds)}`,
]);
rows.push([
  'publish with --base (format 1 and 2 deltas)',
  s(delta.publish.withBaseSeconds),
  'publish with format-1 deltas',
  s(delta.publish.withDeltasSeconds),
  x(delta.publish.withBaseSeconds / delta.publish.withDeltasSeconds),
]);
for (const [behind, updates] of [
  ['one', realData.oneBehind],
  ['two', realData.twoBehind],
]) {
  for (const u of updates) {
    rows.push([
      `real data (browser-compat-data ${u.update}), a pod ${behind} snapshot${behind === 'one' ? '' : 's'} behind: bytes it moved (format ${u.pod.bytes === u.format2 ? 2 : 1})`,
      `${(u.pod.bytes / 1024).toFixed(1)} KiB`,
      `gzip -6 of the ${u.pages} changed 4 KiB pages / format 1 / rsync -z -B 4096 sent`,
      `${(u.gzipBytes / 1024).toFixed(1)} / ${(u.format1 / 1024).toFixed(1)} / ${u.rsync ? (u.rsync.sent / 1024).toFixed(1) : '-'} KiB`,
      x(u.pod.bytes / u.gzipBytes),
    ]);
  }
}
// The reader helper beside a plain handle, both without installs and with a new file every second.
const plain = sync.reader['a plain better-sqlite3 handle (a transaction per statement), no installs'];
for (const [label, r] of Object.entries(sync.reader).filter(([label]) => label.startsWith('SnapshotReader'))) {
  rows.push([
    `reads/s through ${label}`,
    `${Math.round(r.readsPerSecond)} (${r.failures} failed)`,
    'a plain better-sqlite3 handle, no installs',
    `${Math.round(plain.readsPerSecond)}`,
    x(r.readsPerSecond / plain.readsPerSecond),
  ]);
}
rows.push([
  `board ingest, a batch of ${board.ingest.batchSize} per request`,
  `${Math.round(board.ingest.batchPerSecond)} heartbeats/s`,
  'one heartbeat per request',
  `${Math.round(board.ingest.singlePerSecond)} heartbeats/s`,
  '',
]);
rows.push([
  `board alarm round, one cluster at the pod cap (${board.rounds.clusterAtCap.pods} pods) / the index (${board.rounds.index.clusters} clusters), CPU`,
  `${board.rounds.clusterAtCap.cpuMs.toFixed(0)} / ${board.rounds.index.cpuMs.toFixed(0)} ms`,
  'the CPU limit of a Durable Object invocation',
  `${board.rounds.cpuLimitMs / 1000} s`,
  '',
]);
rows.push([
  `board render for ${board.pods} pods in ${board.clusters} clusters: first page JSON / HTML, one cluster JSON`,
  `${board.render.boardJson.medianMs.toFixed(0)} / ${board.render.boardHtml.medianMs.toFixed(0)} / ${board.render.clusterJson.medianMs.toFixed(0)} ms`,
  '',
  '',
  '',
]);

// A pipe inside a cell would end it.
const table = [
  '| what | sqlitening | baseline | baseline figure | ratio |',
  '|---|---:|---|---:|---:|',
  ...rows.map((row) => `| ${row.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`),
].join('\n');
console.log(`\nAll figures (each beside its baseline, measured in the same run)\n${table}`);
// The figures live in one generated page, so a speed change rewrites it rather than prose.
const command = ['npm run bench', ...(flags.length > 0 ? ['--', ...flags] : [])].join(' ');
await writeFile(
  path.join(root, 'docs', 'BENCHMARKS.md'),
  `# Benchmarks

Generated by \`${command}\` on ${new Date().toISOString().slice(0, 10)}, ${publish.cpu ?? sync.cpu} (${os.cpus().length} cores), Node.js ${process.version}:
every figure beside a baseline measured in the same run. Do not edit: run the command again. Compare ratios only within one
run; the machines are shared and whole runs drift. Each script's own table, with more detail, is printed as it runs
(\`bench/publish.js\`, \`bench/sync.js\`, \`bench/delta.js\`, \`bench/real-data.js\`, \`worker/bench/board.js\`).

${table}
`,
);
await writeFile(path.join(resultsDir, 'all.json'), `${JSON.stringify({ publish, sync, delta, realData, board }, null, 2)}\n`);
