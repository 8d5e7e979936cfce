// Deltas on real data: consecutive releases of @mdn/browser-compat-data (the browser support tables behind
// MDN and caniuse-style sites), each loaded row by row into the previous snapshot and published, as a
// scheduled refresh does, all with the real CLI:
//   sqlitening build --from published --keep-base base.db --loader "sqlitening load --table … --key …" …
//   sqlitening publish site.db --base base.db --base <the snapshot before, kept by this script>
//   sqlitening sync (a pod one snapshot behind; pods two behind)
// Prints per update the bytes a pod moves beside: format 1 (changed pages whole), gzip -6 of the changed
// 4 KiB pages, and rsync -z --no-whole-file -B 4096 (skipped without rsync). Asserts that each pod's file is
// byte-identical to the published one and that the pods stay within 0.35x (one behind) and 0.5x (two
// behind) of the changed pages' gzip.
//   node bench/real-data.js [--help]
// The releases are fetched once with `npm pack` into bench/results/bcd-cache/ (the registry must be
// reachable the first time).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { available, cli, cpuModel, mib, parseFlags, resultsDir, run, cliJson } from './lib.js';

const USAGE = `Usage: npm run build && node bench/real-data.js

Loads @mdn/browser-compat-data 8.1.5, 8.1.6, 8.1.7 and 8.1.9 (npm pack, cached
in bench/results/bcd-cache/) into SQLite one release after the other with
sqlitening load, publishes each to a folder store with the real CLI, syncs pods
one and two snapshots behind, and prints the bytes each moves beside format 1,
gzip of the changed 4 KiB pages and rsync. Writes bench/results/real-data.json.
  --help   this text`;
parseFlags({}, USAGE);

const VERSIONS = ['8.1.5', '8.1.6', '8.1.7', '8.1.9'];
const PAGE = 4096;
const ONE_BEHIND_LIMIT = 0.35;
const TWO_BEHIND_LIMIT = 0.5;
const sha = 'fedcba9876543210fedcba9876543210fedcba98';
const cache = path.join(resultsDir, 'bcd-cache');
const work = path.join(os.tmpdir(), `sqlitening-bench-real-${process.pid}`);
const store = path.join(work, 'store');
const f = (n, digits = 2) => n.toFixed(digits);
const kib = (bytes) => `${f(bytes / 1024, 1)} KiB`;

const SCHEMA = `CREATE TABLE browsers (id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, upstream TEXT, preview_name TEXT,
                  pref_url TEXT, accepts_flags INTEGER, accepts_webextensions INTEGER);
CREATE TABLE releases (id INTEGER PRIMARY KEY, browser TEXT NOT NULL, version TEXT NOT NULL, release_date TEXT, release_notes TEXT,
                       status TEXT NOT NULL, engine TEXT, engine_version TEXT, UNIQUE (browser, version));
CREATE TABLE features (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, category TEXT NOT NULL, description TEXT, mdn_url TEXT,
                       spec_url TEXT, source_file TEXT, deprecated INTEGER, experimental INTEGER, standard_track INTEGER, tags TEXT);
CREATE TABLE support (id INTEGER PRIMARY KEY, path TEXT NOT NULL, browser TEXT NOT NULL, version_added TEXT, statements TEXT NOT NULL,
                      UNIQUE (path, browser));
CREATE INDEX support_by_browser ON support (browser, version_added);
`;
/** Each table and its key, as a site keys them (SQLite assigns the rowid: new keys are appended). */
const TABLES = { browsers: ['id'], releases: ['browser', 'version'], features: ['path'], support: ['path', 'browser'] };

/** A release's data.json as rows: browsers, their releases, every feature (`api.fetch.init_body`), and its support per browser. */
function rowsOf(data) {
  const rows = { browsers: [], releases: [], features: [], support: [] };
  for (const [id, browser] of Object.entries(data.browsers)) {
    rows.browsers.push({
      id,
      name: browser.name,
      type: browser.type,
      upstream: browser.upstream ?? null,
      preview_name: browser.preview_name ?? null,
      pref_url: browser.pref_url ?? null,
      accepts_flags: Boolean(browser.accepts_flags),
      accepts_webextensions: Boolean(browser.accepts_webextensions),
    });
    for (const [version, release] of Object.entries(browser.releases)) {
      rows.releases.push({
        browser: id,
        version,
        release_date: release.release_date ?? null,
        release_notes: release.release_notes ?? null,
        status: release.status,
        engine: release.engine ?? null,
        engine_version: release.engine_version ?? null,
      });
    }
  }
  const walk = (node, featurePath, category) => {
    for (const [key, value] of Object.entries(node)) {
      if (key === '__compat') {
        rows.features.push({
          path: featurePath,
          category,
          description: value.description ?? null,
          mdn_url: value.mdn_url ?? null,
          spec_url: value.spec_url ?? null,
          source_file: value.source_file ?? null,
          deprecated: value.status?.deprecated ?? null,
          experimental: value.status?.experimental ?? null,
          standard_track: value.status?.standard_track ?? null,
          tags: value.tags ?? null,
        });
        for (const [browser, statement] of Object.entries(value.support ?? {})) {
          const first = Array.isArray(statement) ? statement[0] : statement;
          rows.support.push({
            path: featurePath,
            browser,
            version_added: first?.version_added == null ? null : String(first.version_added),
            statements: statement,
          });
        }
      } else if (value && typeof value === 'object' && !Array.isArray(value)) {
        walk(value, `${featurePath}.${key}`, category);
      }
    }
  };
  for (const [category, tree] of Object.entries(data)) if (category !== '__meta' && category !== 'browsers') walk(tree, category, category);
  return rows;
}

/** The release's rows as one JSON-lines file per table, made once from the npm package. */
async function release(version) {
  const folder = path.join(cache, version);
  const done = path.join(folder, 'tables.done');
  if (existsSync(done)) return folder;
  await mkdir(folder, { recursive: true });
  const tarball = path.join(cache, `mdn-browser-compat-data-${version}.tgz`);
  if (!existsSync(tarball))
    execFileSync('npm', ['pack', `@mdn/browser-compat-data@${version}`, '--pack-destination', cache], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('tar', ['-xzf', tarball, '-C', folder, 'package/data.json']);
  const rows = rowsOf(JSON.parse(await readFile(path.join(folder, 'package', 'data.json'), 'utf8')));
  for (const [table, list] of Object.entries(rows))
    await writeFile(path.join(folder, `${table}.jsonl`), `${list.map((row) => JSON.stringify(row)).join('\n')}\n`);
  await rm(path.join(folder, 'package'), { recursive: true, force: true });
  await writeFile(done, '');
  return folder;
}

/** Pages of `after` that differ from `before` (or that `before` lacks), and gzip -6 of them concatenated. */
function changedPages(before, after) {
  const a = readFileSync(before);
  const b = readFileSync(after);
  const pages = [];
  for (let at = 0; at < b.length; at += PAGE) if (at >= a.length || a.compare(b, at, at + PAGE, at, at + PAGE) !== 0) pages.push(b.subarray(at, at + PAGE));
  return { pages: pages.length, pageCount: b.length / PAGE, gzipBytes: gzipSync(Buffer.concat(pages), { level: 6 }).length };
}

const hasRsync = await available('rsync');
const RSYNC = ['-z', '--no-whole-file', '-B', '4096'];
/** rsync's bytes sent and received (block checksums) to bring a copy of `before` to `after`. */
async function rsync(before, after) {
  if (!hasRsync) return null;
  const copy = path.join(work, 'rsync-old.db');
  await copyFile(before, copy);
  // --ignore-times: a copy with the same size and modification second would otherwise be skipped as unchanged.
  const { stdout } = await run('rsync', [...RSYNC, '--ignore-times', '--stats', after, copy]);
  const stat = (name) => Number(new RegExp(`^${name}: ([\\d,]+)`, 'm').exec(stdout)[1].replaceAll(',', ''));
  if (!readFileSync(copy).equals(readFileSync(after))) throw new Error('rsync did not reproduce the file');
  await rm(copy);
  return { sent: stat('Total bytes sent'), received: stat('Total bytes received') };
}

/** Syncs a pod and checks that it holds the published file byte for byte. */
async function syncPod(name, published) {
  const database = path.join(work, name, 'site.db');
  await mkdir(path.dirname(database), { recursive: true });
  const { events, seconds } = await cliJson('sync', '--database', database, '--git-sha', sha, '--store', store);
  const installed = events.find((e) => e.event === 'agent.installed');
  if (!installed) throw new Error(`${name}: nothing installed: ${JSON.stringify(events.at(-1))}`);
  if (!readFileSync(database).equals(readFileSync(published))) throw new Error(`${name}: the pod's file differs from the published one`);
  return { method: installed.method, bytes: installed.bytes, fallback: installed.fallback, seconds };
}

try {
  await mkdir(work, { recursive: true });
  const migrations = path.join(work, 'migrations');
  await mkdir(migrations);
  await writeFile(path.join(migrations, '001_tables.sql'), SCHEMA);
  const output = path.join(work, 'site.db');
  const keptBase = path.join(work, 'base.db');
  const published = []; // each release's file as published, kept for the next publishes' --base and for comparisons
  const updates = [];
  const twoBehind = [];
  for (const [n, version] of VERSIONS.entries()) {
    const folder = await release(version);
    const loaders = Object.entries(TABLES).map(
      ([table, key]) => `"${process.execPath}" "${cli}" load --table ${table} --key ${key.join(',')} "${path.join(folder, `${table}.jsonl`)}"`,
    );
    const build = await cliJson(
      'build',
      '--from',
      'published',
      '--keep-base',
      keptBase,
      '--store',
      store,
      '--git-sha',
      sha,
      '--migrations',
      migrations,
      ...loaders.flatMap((loader) => ['--loader', loader]),
      '-o',
      output,
    );
    if (build.result.vacuumed) throw new Error(`${version}: the build vacuumed, which renumbers every page`);
    const bases = n === 0 ? [] : ['--base', keptBase, ...(n >= 2 ? ['--base', published[n - 2]] : [])];
    const publish = await cliJson('publish', output, '--store', store, '--git-sha', sha, '--grace', '0s', '--no-check', ...bases);
    const file = path.join(work, `published-${version}.db`);
    await copyFile(output, file);
    published.push(file);
    const manifest = JSON.parse(await readFile(path.join(store, sha, 'manifest.json'), 'utf8'));
    if (manifest.database.sha256 !== publish.result.sha256) throw new Error(`${version}: the manifest is not the one just published`);
    const formats = (base) => ({
      format1: manifest.deltas.find((d) => d.base.sha256 === base)?.size ?? null,
      format2: manifest.patches.find((d) => d.base.sha256 === base)?.size ?? null,
    });

    // The pod one behind syncs every release; pods two behind sync every other one (B0 at 0 and 2, B1 at 1 and 3).
    const one = await syncPod('pod', file);
    const two = n % 2 === 0 ? await syncPod('pod-b0', file) : await syncPod('pod-b1', file);
    if (n === 0) continue;
    const previous = manifest.history[0].sha256;
    const changed = changedPages(published[n - 1], file);
    updates.push({
      update: `${VERSIONS[n - 1]} → ${version}`,
      ...changed,
      ...formats(previous),
      rsync: await rsync(published[n - 1], file),
      pod: one,
      fullObjectBytes: manifest.object.size,
      publishSeconds: publish.seconds,
    });
    if (n >= 2) {
      const before = manifest.history[1].sha256;
      twoBehind.push({
        update: `${VERSIONS[n - 2]} → ${version}`,
        ...changedPages(published[n - 2], file),
        ...formats(before),
        rsync: await rsync(published[n - 2], file),
        pod: two,
      });
    }
    // Delta sizes are exact; the cache makes later runs skip the registry.
    console.error(`${version}: built in ${f(build.seconds, 1)} s, published in ${f(publish.seconds, 1)} s`);
  }

  const cpu = await cpuModel();
  const figures = { cpu, versions: VERSIONS, pageSize: PAGE, oneBehind: updates, twoBehind };
  await writeFile(path.join(resultsDir, 'real-data.json'), `${JSON.stringify(figures, null, 2)}\n`);

  const row = (u) => {
    const ratio = u.pod.bytes / u.gzipBytes;
    const r = u.rsync;
    return `| ${u.update} | ${u.pages} of ${u.pageCount} | ${kib(u.gzipBytes)} | ${kib(u.format1)} (${f(u.format1 / u.gzipBytes)}x) | ${kib(u.format2)} | ${r ? `${kib(r.sent)} + ${kib(r.received)} back (${f(r.sent / u.gzipBytes)}x)` : 'skipped: no rsync'} | ${kib(u.pod.bytes)} (${u.pod.method}) | **${f(ratio)}x** |`;
  };
  const header =
    '| update | pages changed | gzip -6 of the changed pages | format 1 (pages whole) | format 2 (patches) | rsync -z --no-whole-file -B 4096 (sent + checksums back) | the pod moved | pod / gzip |\n|---|---:|---:|---:|---:|---:|---:|---:|';
  console.log(`\nReal data: @mdn/browser-compat-data, each release loaded with sqlitening load into the one before (${cpu})`);
  console.log(`\nA pod one snapshot behind (limit ${ONE_BEHIND_LIMIT}x)\n${header}`);
  for (const u of updates) console.log(row(u));
  console.log(`\nA pod two snapshots behind (limit ${TWO_BEHIND_LIMIT}x)\n${header}`);
  for (const u of twoBehind) console.log(row(u));
  const total = (list, pick) => list.reduce((sum, u) => sum + pick(u), 0);
  console.log(
    `\nFull object: ${f(mib(updates.at(-1).fullObjectBytes))} MiB gzip; all one-behind updates: format 2 ${kib(total(updates, (u) => u.format2))} against format 1 ${kib(total(updates, (u) => u.format1))} (${f(total(updates, (u) => u.format2) / total(updates, (u) => u.format1))}x)`,
  );

  const problems = [
    ...updates
      .filter((u) => u.pod.method !== 'delta' || u.pod.bytes > ONE_BEHIND_LIMIT * u.gzipBytes)
      .map((u) => `one behind, ${u.update}: ${JSON.stringify(u.pod)}`),
    ...twoBehind
      .filter((u) => u.pod.method !== 'delta' || u.pod.bytes > TWO_BEHIND_LIMIT * u.gzipBytes)
      .map((u) => `two behind, ${u.update}: ${JSON.stringify(u.pod)}`),
  ];
  if (problems.length) throw new Error(`past the limits:\n${problems.join('\n')}`);
  console.log('Every pod file is byte-identical to the published one; every update is within its limit.');
} finally {
  await rm(work, { recursive: true, force: true });
}
