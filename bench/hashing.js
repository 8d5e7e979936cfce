// The end of a full download (write the file, SHA-256 it whole and per page):
// on another thread over shared blocks vs all on the stream's own thread, for
// the raw file and for a gzip stream (decompression on the main thread).
// Run it also with OPENSSL_ia32cap=":~0x20000000" to mask the CPU's SHA
// extensions, the slow case (without them SHA-256 runs at a few hundred MB/s).
//   npm run build && node bench/hashing.js [--size 256MiB] [--runs 3]
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { HashingFileWriter } from '../lib/transfer/hashing-file-writer.js';
import { benchOptions, contentDatabase, median } from './lib.js';

const { size, runs } = benchOptions();
const database = await contentDatabase(size);
const gz = `${database}.gz`;
if (!existsSync(gz)) await pipeline(createReadStream(database), createGzip({ level: 1 }), createWriteStream(gz));
const target = path.join(tmpdir(), 'sqlitening-bench-hashing.db');

const rows = [];
for (const input of ['raw', 'gzip']) {
  const figures = {};
  for (const [name, threaded] of [
    ['main', false],
    ['workers', true],
  ]) {
    const times = [];
    for (let i = 0; i < runs; i++) {
      await rm(target, { force: true });
      const started = performance.now();
      const handle = await open(target, 'wx');
      const writer = new HashingFileWriter(handle, { chunkSize: 4096, size, threaded });
      const stages = input === 'gzip' ? [createReadStream(gz), createGunzip()] : [createReadStream(database)];
      await pipeline(...stages, writer);
      writer.result();
      await handle.close();
      times.push(performance.now() - started);
    }
    figures[name] = median(times);
  }
  rows.push(`| ${input} | ${figures.workers.toFixed(0)} ms | ${figures.main.toFixed(0)} ms | ${(figures.workers / figures.main).toFixed(2)}x |`);
}
await rm(target, { force: true });
console.log(
  `\nWrite + whole-file and page SHA-256 of a ${Math.round(size / 1048576)} MiB database, median of ${runs}${process.env.OPENSSL_ia32cap ? ` (OPENSSL_ia32cap=${process.env.OPENSSL_ia32cap})` : ''}`,
);
console.log('| input | other threads, shared blocks | stream thread (baseline) | ratio |\n|---|---:|---:|---:|');
for (const row of rows) console.log(row);
