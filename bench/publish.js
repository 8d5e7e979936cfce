// Publish and hashing figures, each beside a baseline measured in the same run:
//   publish (hash + compress + upload)  vs  sha256sum + gzip -1 + aws s3 cp
//   publish after a 1% row update, with its delta (and chunk list)  vs  the same baseline
//   peak RSS of each publish (GNU time -v)
//   hashing                             vs  openssl sha256, sha256sum
// and the compression matrix that chooses the default encoding (ratio,
// compression speed, and decompress+hash speed, which bounds a pod's sync).
//   node bench/publish.js [--size 256MiB|1GiB] [--runs 3]
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompressor, encodeSnapshot, encodingSupported } from '../lib/index.js';
import { S3_ENV, benchOptions, contentDatabase, cpuModel, measured, median, mib, refreshRows, resultsDir, root, run, startS3Process, time } from './lib.js';

const { size, runs } = benchOptions();
const gitSha = '0123456789abcdef0123456789abcdef01234567';

process.stderr.write(`preparing a ${Math.round(mib(size))} MiB content database...\n`);
const db = await contentDatabase(size);
const dbSize = statSync(db).size;
const scratch = path.join(tmpdir(), 'sqlitening-bench');
await rm(scratch, { recursive: true, force: true });
await mkdir(scratch, { recursive: true });
const s3 = await startS3Process(path.join(scratch, 's3'), ['bench']);
const env = { ...process.env, ...S3_ENV };
const cli = path.join(root, 'bin', 'sqlitening.js');

const samples = {
  oursDefault: [],
  oursDefaultRss: [],
  oursDelta: [],
  oursDeltaRss: [],
  oursIdentity: [],
  baseline: [],
  baseSha: [],
  baseGzip: [],
  baseCp: [],
  hashOurs: [],
  hashOpenssl: [],
  hashSha256sum: [],
};
try {
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`run ${i + 1}/${runs}\n`);
    const publish = (prefix, extra, file = db) =>
      measured(
        process.execPath,
        [
          cli,
          'publish',
          file,
          '--store',
          `s3://bench/${prefix}`,
          '--endpoint',
          s3.endpoint,
          '--path-style',
          '--git-sha',
          gitSha,
          '--no-check',
          '--json',
          ...extra,
        ],
        { env },
      );
    const first = await publish(`ours-default-${i}`, []);
    samples.oursDefault.push(first.seconds);
    if (first.rss !== null) samples.oursDefaultRss.push(first.rss);
    samples.oursIdentity.push((await publish(`ours-identity-${i}`, ['--encoding', 'identity'])).seconds);
    // The same database after a 1% row update, published where its first snapshot is: with a delta.
    const updated = path.join(scratch, 'updated.db');
    await copyFile(db, updated);
    refreshRows(updated, i + 2);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a new second for the new snapshot's key
    const second = await publish(`ours-default-${i}`, [], updated);
    const result = JSON.parse(second.stdout.trim().split('\n').at(-1));
    if (!(result.deltas?.length > 0)) throw new Error(`expected the update's publish to write a delta: ${JSON.stringify(result)}`);
    samples.oursDelta.push(second.seconds);
    if (second.rss !== null) samples.oursDeltaRss.push(second.rss);
    await rm(updated, { force: true });

    const gz = path.join(scratch, 'baseline.db.gz');
    const sha = await run('sha256sum', [db]);
    const gzip = await run('sh', ['-c', `gzip -1 -c "${db}" > "${gz}"`]);
    const cp = await run('/usr/bin/aws', ['--endpoint-url', s3.endpoint, 's3', 'cp', gz, `s3://bench/baseline-${i}/snapshot.db.gz`, '--only-show-errors'], {
      env,
    });
    samples.baseSha.push(sha.seconds);
    samples.baseGzip.push(gzip.seconds);
    samples.baseCp.push(cp.seconds);
    samples.baseline.push(sha.seconds + gzip.seconds + cp.seconds);
    await rm(gz, { force: true });

    samples.hashOurs.push((await time(() => encodeSnapshot({ database: db, encoding: 'identity', tempDir: scratch }))).seconds);
    samples.hashOpenssl.push((await run('openssl', ['sha256', db])).seconds);
    samples.hashSha256sum.push((await run('sha256sum', [db])).seconds);
  }

  process.stderr.write('compression matrix...\n');
  const matrix = [];
  for (const [encoding, level] of [
    ['identity', 0],
    ['gzip', 1],
    ['gzip', 6],
    ['br', 1],
    ['br', 4],
    ['br', 5],
    ['zstd', 3],
  ]) {
    if (!encodingSupported(encoding)) continue;
    const encode = await time(() => encodeSnapshot({ database: db, encoding, level, tempDir: scratch }));
    const encoded = encode.value;
    const hash = createHash('sha256');
    const decode = await time(() =>
      pipeline(
        createReadStream(encoded.encodedPath, { highWaterMark: 1024 * 1024 }),
        decompressor(encoding),
        new Writable({
          write(chunk, _e, cb) {
            hash.update(chunk);
            cb();
          },
        }),
      ),
    );
    await encoded.cleanup();
    // A pod streams, decodes and hashes at once: the slower of the wire and the decoder bounds it.
    const syncAt = (bytesPerSecond) => Math.max(encoded.encodedSize / bytesPerSecond, decode.seconds);
    matrix.push({
      encoding: `${encoding}${encoding === 'identity' ? '' : `-${level}`}`,
      ratio: encoded.encodedSize / dbSize,
      compressMiBs: mib(dbSize) / encode.seconds,
      decodeHashMiBs: mib(dbSize) / decode.seconds,
      syncSeconds100MBs: syncAt(100e6),
      syncSeconds465MBs: syncAt(465e6),
    });
  }

  const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.length ? median(v) : null]));
  const figures = {
    sizeMiB: Math.round(mib(dbSize)),
    runs,
    cpu: await cpuModel(),
    publish: {
      oursDefaultSeconds: m.oursDefault,
      oursDefaultPeakRssMiB: m.oursDefaultRss,
      oursWithDeltaSeconds: m.oursDelta,
      oursWithDeltaPeakRssMiB: m.oursDeltaRss,
      ratioWithDeltaToBaseline: m.oursDelta / m.baseline,
      oursIdentitySeconds: m.oursIdentity,
      baselineSeconds: m.baseline,
      baselineParts: { sha256sum: m.baseSha, gzip1: m.baseGzip, awsS3Cp: m.baseCp },
      ratioOursToBaseline: m.oursDefault / m.baseline,
    },
    hash: {
      oursMiBs: mib(dbSize) / m.hashOurs,
      opensslMiBs: mib(dbSize) / m.hashOpenssl,
      sha256sumMiBs: mib(dbSize) / m.hashSha256sum,
      ratioOursToOpenssl: m.hashOpenssl / m.hashOurs,
    },
    compression: matrix,
  };
  await mkdir(resultsDir, { recursive: true });
  await writeFile(path.join(resultsDir, 'publish.json'), `${JSON.stringify(figures, null, 2)}\n`);

  const f = (n, d = 2) => n.toFixed(d);
  const rss = (v) => (v === null ? 'n/a' : `${f(v, 0)} MiB`);
  console.log(`\nPublish of a ${figures.sizeMiB} MiB database, median of ${runs} (s3rver on 127.0.0.1, file in page cache; ${figures.cpu})`);
  console.log(`| what | seconds | vs baseline | peak RSS |\n|---|---:|---:|---:|`);
  console.log(
    `| sqlitening publish (default: gzip -1; hash+compress+upload) | ${f(m.oursDefault)} | ${f(m.oursDefault / m.baseline)}x | ${rss(m.oursDefaultRss)} |`,
  );
  console.log(
    `| sqlitening publish after a 1% row update (+ chunk list and delta) | ${f(m.oursDelta)} | ${f(m.oursDelta / m.baseline)}x | ${rss(m.oursDeltaRss)} |`,
  );
  console.log(`| sqlitening publish --encoding identity (hash+upload) | ${f(m.oursIdentity)} | ${f(m.oursIdentity / m.baseline)}x | |`);
  console.log(`| baseline: sha256sum + gzip -1 + aws s3 cp | ${f(m.baseline)} | 1.00x | |`);
  console.log(`|   sha256sum / gzip -1 / aws s3 cp | ${f(m.baseSha)} / ${f(m.baseGzip)} / ${f(m.baseCp)} | |`);
  console.log(`\nSHA-256 throughput, median of ${runs}`);
  console.log(`| hasher | MiB/s |\n|---|---:|`);
  console.log(`| sqlitening (node:crypto, streamed) | ${f(figures.hash.oursMiBs, 0)} |`);
  console.log(`| openssl sha256 | ${f(figures.hash.opensslMiBs, 0)} |`);
  console.log(`| sha256sum | ${f(figures.hash.sha256sumMiBs, 0)} |`);
  console.log(`\nEncodings (one run each)`);
  console.log(`| encoding | size | compress MiB/s | decode+hash MiB/s | pod sync s @100 MB/s | @465 MB/s |\n|---|---:|---:|---:|---:|---:|`);
  for (const row of matrix) {
    console.log(
      `| ${row.encoding} | ${f(row.ratio * 100, 1)}% | ${f(row.compressMiBs, 0)} | ${f(row.decodeHashMiBs, 0)} | ${f(row.syncSeconds100MBs)} | ${f(row.syncSeconds465MBs)} |`,
    );
  }
} finally {
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
}
