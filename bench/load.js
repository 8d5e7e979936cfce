// How much of a database file a data refresh rewrites, by the way the loader
// writes the same change: the share of 4 KiB pages that differ between the
// file before and after, which is what a page-level delta has to carry.
//   node bench/load.js [--rows 80000] [--changed 0.01] [--help]
import Database from 'better-sqlite3';
import { copyFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { loadTable } from '../lib/index.js';
import { mib, parseFlags, prng, resultsDir, time, usageError, WORDS } from './lib.js';

const USAGE = `Usage: npm run build && node bench/load.js [--rows 80000] [--changed 0.01]

Builds a content table (articles: id, slug, title, date, a body of about 550
bytes; about 50 MB at 80000 rows) in 4 KiB pages, changes a share of its rows
(a word of the body replaced and a note appended, as an editor would), and
writes that change into a copy of the file four ways, each in one transaction:
  delete + insert   DELETE FROM articles, then INSERT every row
  load              loadTable (sqlitening load): only the changed rows
  insert or replace INSERT OR REPLACE of every row
  upsert if changed INSERT ... ON CONFLICT DO UPDATE ... WHERE a value differs
Prints, for each, the pages that differ from the file before (pages only one
of the two files has count as differing), and writes bench/results/load.json.
  --rows N        rows in the table (default 80000)
  --changed SHARE share of rows changed, from 0 to 1 (default 0.01)
  --help          this text`;

function options() {
  const values = parseFlags({ rows: { type: 'string', default: '80000' }, changed: { type: 'string', default: '0.01' } }, USAGE);
  const rows = Number(values.rows);
  const changed = Number(values.changed);
  if (!Number.isInteger(rows) || rows < 100) usageError(`Expected --rows as a whole number from 100, got "${values.rows}"`, USAGE);
  if (values.changed.trim() === '' || !(changed >= 0 && changed <= 1)) usageError(`Expected --changed as a share from 0 to 1, got "${values.changed}"`, USAGE);
  return { rows, changed };
}

const { rows: rowCount, changed: changedShare } = options();
const PAGE = 4096;

const random = prng(42);
const words = (n) => Array.from({ length: n }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');

const before = Array.from({ length: rowCount }, (_, i) => ({
  id: i + 1,
  slug: `article-${i + 1}`,
  title: words(8),
  published_on: new Date(Date.UTC(2020, 0, 1) + i * 3_600_000).toISOString(),
  body: words(60 + Math.floor(random() * 30)),
}));
// The same rows with `changedShare` of them edited: one word replaced, a short note appended.
const after = before.map((row) => ({ ...row }));
const picked = new Set();
while (picked.size < Math.round(rowCount * changedShare)) picked.add(Math.floor(random() * rowCount));
for (const index of picked) {
  const row = after[index];
  row.body = `${row.body.replace(/\b\w+\b/, 'revised')} (edited)`;
}

const scratch = path.join(tmpdir(), 'sqlitening-bench-load');
rmSync(scratch, { recursive: true, force: true });
await mkdir(scratch, { recursive: true });
const SCHEMA = `CREATE TABLE articles (id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
                  published_on TEXT NOT NULL, body TEXT NOT NULL);
                CREATE INDEX articles_by_date ON articles (published_on);`;

/**
 * Two shapes of the same data: the file gives the rowid (`id`), or the file
 * is keyed by `slug` and SQLite assigns the rowid, as for a table whose
 * natural key is text (the example's release notes, by product and version).
 */
const scenarios = [
  { name: 'file gives id', key: 'id', columns: ['id', 'slug', 'title', 'published_on', 'body'] },
  { name: 'keyed by slug, id assigned', key: 'slug', columns: ['slug', 'title', 'published_on', 'body'] },
];

/** Each way to write `rows` into the table, in one transaction. */
function strategies({ key, columns }) {
  const values = `(${columns.map((c) => `@${c}`).join(', ')})`;
  const pick = (rows) => rows.map((row) => Object.fromEntries(columns.map((c) => [c, row[c]])));
  const rows = pick(after);
  const set = columns.filter((c) => c !== key);
  return {
    'delete + insert': (db) => {
      const insert = db.prepare(`INSERT INTO articles (${columns.join(', ')}) VALUES ${values}`);
      db.transaction(() => {
        db.exec('DELETE FROM articles');
        for (const row of rows) insert.run(row);
      })();
    },
    load: (db) => loadTable(db, { table: 'articles', key: [key], rows }),
    'insert or replace': (db) => {
      const replace = db.prepare(`INSERT OR REPLACE INTO articles (${columns.join(', ')}) VALUES ${values}`);
      db.transaction(() => {
        for (const row of rows) replace.run(row);
      })();
    },
    'upsert if changed': (db) => {
      const upsert = db.prepare(
        `INSERT INTO articles (${columns.join(', ')}) VALUES ${values} ON CONFLICT (${key}) DO UPDATE SET ${set.map((c) => `${c} = excluded.${c}`).join(', ')}
         WHERE ${set.map((c) => `${c} IS NOT excluded.${c}`).join(' OR ')}`,
      );
      db.transaction(() => {
        for (const row of rows) upsert.run(row);
      })();
    },
  };
}

const results = [];
let pagesBefore = 0;
let sizeMiB = 0;
for (const scenario of scenarios) {
  process.stderr.write(`${scenario.name}: building a table of ${rowCount} rows...\n`);
  const base = path.join(scratch, 'before.db');
  rmSync(base, { force: true });
  const db = new Database(base);
  db.pragma(`page_size = ${PAGE}`);
  db.pragma('journal_mode = DELETE');
  db.exec(SCHEMA);
  const insert = db.prepare(`INSERT INTO articles (${scenario.columns.join(', ')}) VALUES (${scenario.columns.map((c) => `@${c}`).join(', ')})`);
  db.transaction(() => {
    for (const row of before) insert.run(Object.fromEntries(scenario.columns.map((c) => [c, row[c]])));
  })();
  db.close();
  const baseBytes = readFileSync(base);
  pagesBefore = baseBytes.length / PAGE;
  sizeMiB = Number(mib(statSync(base).size).toFixed(1));

  for (const [name, write] of Object.entries(strategies(scenario))) {
    const file = path.join(scratch, 'after.db');
    copyFileSync(base, file);
    const db = new Database(file);
    const { seconds } = await time(() => write(db));
    const freePages = db.pragma('freelist_count', { simple: true });
    db.close();
    const bytes = readFileSync(file);
    const pages = Math.max(baseBytes.length, bytes.length) / PAGE;
    let differing = 0;
    for (let page = 0; page < pages; page++) {
      const a = baseBytes.subarray(page * PAGE, (page + 1) * PAGE);
      const b = bytes.subarray(page * PAGE, (page + 1) * PAGE);
      if (!a.equals(b)) differing++;
    }
    results.push({
      scenario: scenario.name,
      strategy: name,
      pagesAfter: bytes.length / PAGE,
      differingPages: differing,
      differingShare: differing / pages,
      freePages,
      seconds,
    });
    rmSync(file);
  }
}

const report = {
  cpu: cpus()[0]?.model ?? 'unknown',
  node: process.version,
  sqlite: new Database(':memory:').prepare('SELECT sqlite_version() AS v').get().v,
  rows: rowCount,
  rowsChanged: picked.size,
  pageSize: PAGE,
  pagesBefore,
  sizeMiB,
  results,
};
rmSync(scratch, { recursive: true, force: true });
await mkdir(resultsDir, { recursive: true });
await writeFile(path.join(resultsDir, 'load.json'), `${JSON.stringify(report, null, 2)}\n`);

console.log(
  `${rowCount} rows, ${report.sizeMiB} MiB (${report.pagesBefore} pages of 4 KiB); ${picked.size} rows changed (${((picked.size / rowCount) * 100).toFixed(1)}%)`,
);
console.log(`${report.cpu}, Node ${report.node}, SQLite ${report.sqlite}\n`);
const table = [
  ['file', 'strategy', 'pages differing', 'share', 'MiB to ship', 'free pages after', 'time'],
  ...results.map((r) => [
    r.scenario,
    r.strategy,
    String(r.differingPages),
    `${(r.differingShare * 100).toFixed(1)}%`,
    mib(r.differingPages * PAGE).toFixed(1),
    String(r.freePages),
    `${r.seconds.toFixed(2)} s`,
  ]),
];
const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
for (const row of table) console.log(row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
