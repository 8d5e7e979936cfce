// Runs the builder's SQLite work through one driver of the compiled lib/ and
// prints what came out as JSON, so that test/sqlite-driver.test.ts can compare
// node:sqlite (under Node 24, as the Action runs) with better-sqlite3 (Node 20).
//   node sqlite-probe.js <node:sqlite|better-sqlite3> <work folder> <database>...
// Each database is inspected with the snapshot checks; the work folder gets a
// build (start from the first database, migrate, VACUUM) and the driver's own
// behaviour (reads, writes, transactions, read-only) on a fresh file.
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { buildDatabase } from '../../lib/builder/build.js';
import { inspectDatabaseFile } from '../../lib/builder/inspect.js';
import { applyMigrations } from '../../lib/builder/migrations.js';
import { betterSqlite3Driver } from '../../lib/sqlite/better-sqlite3-driver.js';
import { nodeSqliteDriver } from '../../lib/sqlite/node-sqlite-driver.js';

const [name, work, ...databases] = process.argv.slice(2);
const sqlite = { 'node:sqlite': nodeSqliteDriver, 'better-sqlite3': betterSqlite3Driver }[name];
if (!sqlite || !work) throw new Error('usage: sqlite-probe.js <node:sqlite|better-sqlite3> <work folder> <database>...');

/** The outcome of `run`: its value, or the error's class, code and message. */
async function outcome(run) {
  try {
    return { value: await run() };
  } catch (error) {
    return { error: { name: error.constructor.name, code: error.code ?? null, message: error.message } };
  }
}

/** Plain objects, whatever prototype the driver gives its rows. */
const plain = (value) => JSON.parse(JSON.stringify(value ?? null));

const inspect = {};
for (const file of databases) {
  inspect[path.basename(file)] = await outcome(() => inspectDatabaseFile(file, { check: true, sqlite }));
}

const from = path.join(work, 'from.db');
await copyFile(databases[0], from);
const build = await outcome(async () => {
  const result = await buildDatabase({
    output: path.join(work, 'built.db'),
    from,
    migrationsDir: path.join(work, 'migrations'),
    loaders: [],
    vacuum: 'always',
    vacuumThreshold: 0.25,
    cwd: work,
    env: {},
    commandOutput: process.stderr,
    sqlite,
  });
  return { stats: result.stats, migrationsApplied: result.migrationsApplied, vacuumed: result.vacuumed };
});

const driver = {};
const file = path.join(work, 'driver.db');
const db = sqlite.open(file);
db.exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v, n INTEGER); INSERT INTO kv VALUES ('a', 1.5, 1), ('b', NULL, 2)");
const insert = db.prepare('INSERT INTO kv (k, v, n) VALUES (?, ?, ?)');
insert.run('c', 'text', 3);
insert.run('d', new Uint8Array([1, 2, 3]), 2 ** 40);
driver.all = plain(db.prepare('SELECT k, typeof(v) AS type, n FROM kv ORDER BY k').all());
driver.get = plain(db.prepare('SELECT count(*) AS rows, sum(n) AS total FROM kv WHERE n > ?').get(1));
driver.noRow = db.prepare('SELECT k FROM kv WHERE k = ?').get('zz') === undefined;
driver.noRows = db.prepare('SELECT k FROM kv WHERE k = ?').all('zz');
driver.pragma = plain(db.prepare('PRAGMA table_info(kv)').all());
driver.foreignKeys = plain(db.prepare('PRAGMA foreign_keys').get());
driver.doubleQuotedString = (await outcome(() => db.prepare('SELECT "no such column" AS x').get())).error?.message ?? 'accepted';
driver.inTransaction = [db.inTransaction];
db.exec('BEGIN');
driver.inTransaction.push(db.inTransaction);
insert.run('e', 5, 5);
db.exec('ROLLBACK');
driver.inTransaction.push(db.inTransaction);
driver.afterRollback = plain(db.prepare('SELECT count(*) AS rows FROM kv').get());
driver.duplicateKey = (await outcome(() => insert.run('a', 0, 0))).error?.message;
driver.failedMigration = (
  await outcome(() => applyMigrations(db, [{ name: 'bad.sql', sql: 'CREATE TABLE half (x); INSERT INTO nowhere VALUES (1)', sha256: 'x' }]))
).error;
driver.afterFailedMigration = {
  inTransaction: db.inTransaction,
  tables: plain(db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all()),
};
db.close();
const readOnly = sqlite.open(file, { readOnly: true });
driver.readOnlyRead = plain(readOnly.prepare('SELECT count(*) AS rows FROM kv').get());
driver.readOnlyWrite = (await outcome(() => readOnly.exec('DELETE FROM kv'))).error?.message;
readOnly.close();
driver.readOnlyMissing = (await outcome(() => sqlite.open(path.join(work, 'missing.db'), { readOnly: true }).close())).error?.message;

process.stdout.write(JSON.stringify({ inspect, build, driver }));
