// Helpers shared by the benchmark scripts: sizes, timing, medians, child
// processes, a content-like database of a given size, and an S3 server process.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const resultsDir = path.join(root, 'bench', 'results');
/** The CLI's entry, as a user runs it. */
export const cli = path.join(root, 'bin', 'sqlitening.js');

export function parseSize(text) {
  const match = /^(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB)?$/i.exec(text);
  if (!match) throw new TypeError(`Expected a size like 256MiB or 1GiB, got "${text}"`);
  const unit = { kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[(match[2] ?? 'mib').toLowerCase()];
  return Math.round(Number(match[1]) * unit);
}

export const USAGE = `Usage: npm run bench -- [--size 256MiB|1GiB] [--runs 3]

Runs the publish, sync, delta, reader and board benchmarks, each beside a
baseline measured in the same run, and the real-data delta benchmark (four
releases of @mdn/browser-compat-data, the same at any --size), and prints one
table (also bench/results/all.json).
  --size SIZE   database size for publish and sync (KiB, MiB or GiB; default 256MiB)
  --runs N      runs per figure; the median is reported (default 3)
  --help        this text`;

/** Prints what was wrong and the usage, and exits 2: a bench run with a bad flag would waste minutes. */
export function usageError(message, usage) {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/** Parses flags strictly: `--help` prints `usage` and exits 0, an unknown flag exits 2. */
export function parseFlags(options, usage, argv = process.argv.slice(2)) {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } } }));
  } catch (error) {
    usageError(error.message, usage);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return values;
}

/** The benchmark flags, parsed once and strictly: an unknown flag or a bad value prints the usage and exits 2. */
export function benchOptions(argv = process.argv.slice(2), extra = {}, usage = USAGE) {
  const values = parseFlags({ size: { type: 'string', default: '256MiB' }, runs: { type: 'string', default: '3' }, ...extra }, usage, argv);
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) usageError(`Expected --runs as a whole number from 1, got "${values.runs}"`, USAGE);
  let size;
  try {
    size = parseSize(values.size);
  } catch (error) {
    usageError(error.message, USAGE);
  }
  return { ...values, size, runs };
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export const mib = (bytes) => bytes / 1024 / 1024;

/** Runs a command; resolves with wall seconds and output, rejects on a non-zero exit. */
export function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ seconds, stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.slice(-500)}`));
    });
  });
}

/** Whether a command runs and exits 0: a baseline whose tool is missing is skipped with a note. */
export async function available(command, args = ['--version']) {
  try {
    await run(command, args);
    return true;
  } catch {
    return false;
  }
}

/** The CPU model as lscpu names it ('Model name'), else as Node does. */
export async function cpuModel() {
  try {
    const match = /^Model name:\s*(.+)$/m.exec((await run('lscpu', [], { env: { ...process.env, LC_ALL: 'C' } })).stdout);
    if (match) return match[1].trim();
  } catch {}
  return os.cpus()[0]?.model ?? 'unknown';
}

/** Times an async function in this process. */
export async function time(fn) {
  const started = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, value };
}

/** Deterministic pseudo-random numbers (mulberry32), so every run builds the same database. */
export function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const WORDS = (
  'release fix security advisory update gateway console edge agent performance memory cache latency ' +
  'upgrade deprecated endpoint metrics dashboard customer region cluster deploy rollback schema migration index query ' +
  'improved faster lower higher support feature preview stable beta incident postmortem the a of to and in for with on by'
).split(' ');

/** A content database (articles with titles, slugs, bodies, tags) of about `bytes`, cached between runs. */
export async function contentDatabase(bytes) {
  await mkdir(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `content-${Math.round(mib(bytes))}MiB.db`);
  if (existsSync(file)) return file;
  const temp = `${file}.tmp`;
  await rm(temp, { force: true });
  const db = new Database(temp);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.exec(`CREATE TABLE articles (id INTEGER PRIMARY KEY, slug TEXT UNIQUE NOT NULL, title TEXT NOT NULL,
             published_on TEXT NOT NULL, body TEXT NOT NULL);
           CREATE TABLE tags (article_id INTEGER NOT NULL REFERENCES articles(id), tag TEXT NOT NULL);
           CREATE INDEX tags_by_tag ON tags (tag);`);
  const insert = db.prepare('INSERT INTO articles (id, slug, title, published_on, body) VALUES (?, ?, ?, ?, ?)');
  const tag = db.prepare('INSERT INTO tags (article_id, tag) VALUES (?, ?)');
  const random = prng(42);
  const words = (n) => Array.from({ length: n }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
  let id = 0;
  const batch = db.transaction(() => {
    for (let i = 0; i < 5000; i++) {
      id++;
      insert.run(id, `article-${id}`, words(8), new Date(Date.UTC(2020, 0, 1) + id * 60_000).toISOString(), words(150 + Math.floor(random() * 200)));
      tag.run(id, WORDS[id % WORDS.length]);
    }
  });
  while (statSync(temp).size < bytes) batch();
  db.pragma('journal_mode = DELETE');
  db.close();
  await rename(temp, file);
  return file;
}

/** Starts bench/s3-server.js in a child process; returns its endpoint and a stop function. */
export async function startS3Process(directory, buckets) {
  await mkdir(directory, { recursive: true });
  const child = spawn(process.execPath, [path.join(root, 'bench', 's3-server.js'), directory, ...buckets], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk) => resolve(JSON.parse(String(chunk)).port));
    child.once('exit', (code) => reject(new Error(`S3 server exited ${code}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: child.pid,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

export const S3_ENV = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

/**
 * Updates 1% of the content database's articles in place (no VACUUM), as a scheduled refresh does; with
 * `upToId`, only those among the first `upToId` articles (the same rows in a larger database). The number of
 * rows updated.
 */
export function refreshRows(file, revision, upToId = Number.MAX_SAFE_INTEGER) {
  const db = new Database(file);
  const { changes } = db
    .prepare("UPDATE articles SET title = title || ' (rev ' || ? || ')' WHERE id % 100 = ? AND id <= ?")
    .run(revision, revision % 100, upToId);
  db.close();
  return changes;
}

/** The number of articles in a content database. */
export function articleCount(file) {
  const db = new Database(file, { readonly: true });
  const { count } = db.prepare('SELECT count(*) AS count FROM articles').get();
  db.close();
  return count;
}

function maxRss(stderr) {
  const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  return match ? Number(match[1]) / 1024 : null;
}

let hasGnuTime;
/** Runs a command under GNU time -v where there is one: seconds, and peak RSS in MiB (of the largest process, for a shell), else null. */
export async function measured(command, args, options) {
  hasGnuTime ??= await available('/usr/bin/time', ['-v', 'true']);
  if (!hasGnuTime) return { seconds: (await run(command, args, options)).seconds, rss: null };
  const result = await run('/usr/bin/time', ['-v', command, ...args], options);
  return { seconds: result.seconds, rss: maxRss(result.stderr), stdout: result.stdout };
}

/** Runs the CLI with --json: seconds, every JSON event, and the last one (the result). */
export async function cliJson(...args) {
  const result = await run(process.execPath, [cli, ...args, '--json']);
  const events = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  return { seconds: result.seconds, events, result: events.at(-1) };
}

/** The SHA-256 of each `pageSize` page of a file, concatenated (what a pod proves a file by), read in 4 MiB blocks. */
export async function pageHashes(file, pageSize) {
  const parts = [];
  for await (const block of createReadStream(file, { highWaterMark: 1024 * pageSize })) {
    for (let at = 0; at < block.length; at += pageSize)
      parts.push(
        createHash('sha256')
          .update(block.subarray(at, at + pageSize))
          .digest(),
      );
  }
  return Buffer.concat(parts);
}
