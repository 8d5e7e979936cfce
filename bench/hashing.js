// Page hashing of a full download: on the main thread vs on worker threads,
// for the raw file and for a gzip stream (decompression on the main thread).
// Run it also with OPENSSL_ia32cap=":~0x20000000" to mask the CPU's SHA
// extensions, the slow case (without them SHA-256 runs at a few hundred MB/s).
//   npm run build && node bench/hashing.js [--size 256MiB] [--runs 3]
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { ChunkHasher } from '../lib/snapshot/chunk-hashes.js';
import { ParallelChunkHasher } from '../lib/snapshot/parallel-chunk-hasher.js';
import { benchOptions, contentDatabase, median } from './lib.js';

const { size, runs } = benchOptions();
const database = await contentDatabase(size);
const gz = `${database}.gz`;
if (!existsSync(gz)) await pipeline(createReadStream(database), createGzip({ level: 1 }), createWriteStream(gz));

const rows = [];
for (const input of ['raw', 'gzip']) {
  const figures = {};
  for (const [name, make] of [
    ['main', () => new ChunkHasher(4096)],
    ['workers', () => new ParallelChunkHasher(4096)],
  ]) {
    const times = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const hasher = make();
      const stages = input === 'gzip' ? [createReadStream(gz), createGunzip()] : [createReadStream(database)];
      await pipeline(...stages, hasher, createWriteStream('/dev/null'));
      hasher.hashes();
      times.push(performance.now() - started);
    }
    figures[name] = median(times);
  }
  rows.push(`| ${input} | ${figures.workers.toFixed(0)} ms | ${figures.main.toFixed(0)} ms | ${(figures.workers / figures.main).toFixed(2)}x |`);
}
console.log(
  `\nPage hashes of a ${Math.round(size / 1048576)} MiB database, median of ${runs}${process.env.OPENSSL_ia32cap ? ` (OPENSSL_ia32cap=${process.env.OPENSSL_ia32cap})` : ''}`,
);
console.log('| input | worker threads | main thread (baseline) | ratio |\n|---|---:|---:|---:|');
for (const row of rows) console.log(row);
