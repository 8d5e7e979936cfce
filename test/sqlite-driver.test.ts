import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withoutSqliteExperimentalWarning } from '../src/sqlite/node-sqlite-driver.js';
import { makeContentDatabase, tempFolder } from './helpers/fixtures.js';
import { NODE24 } from './helpers/node24.js';

const PROBE = path.resolve('test/helpers/sqlite-probe.js');

let dir: string;
let cleanup: () => Promise<void>;
let databases: string[];

beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('sqlite-driver'));
  const good = path.join(dir, 'good.db');
  makeContentDatabase(good, 300);
  const db = new Database(good);
  db.exec(`CREATE TABLE "odd ""name""" (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
           INSERT INTO "odd ""name""" VALUES ('x', x'00ff'), ('y', NULL);
           CREATE INDEX tags_by_tag ON tags (tag);
           DELETE FROM tags WHERE post_id > 100;
           PRAGMA user_version = 7;`);
  db.close();

  const orphan = path.join(dir, 'orphan.db');
  const orphans = new Database(orphan);
  orphans.exec(`PRAGMA foreign_keys = OFF;
                CREATE TABLE a (id INTEGER PRIMARY KEY);
                CREATE TABLE b (a_id INTEGER REFERENCES a(id));
                INSERT INTO b VALUES (1), (2);`);
  orphans.close();

  const wal = path.join(dir, 'wal.db');
  const walDb = new Database(wal);
  walDb.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x);');
  walDb.close();

  const text = path.join(dir, 'text.db');
  await writeFile(text, 'these are not the pages you are looking for\n'.repeat(200));

  databases = [good, orphan, wal, text, path.join(dir, 'missing.db')];
});
afterAll(() => cleanup?.());

/** Runs the probe with one driver in its own folder (the same migrations for both), on its runtime. */
async function probe(node: string, driver: 'node:sqlite' | 'better-sqlite3'): Promise<{ result: Record<string, unknown>; stderr: string }> {
  const work = path.join(dir, driver.replace(':', '-'));
  await mkdir(path.join(work, 'migrations'), { recursive: true });
  // Copies: reading a WAL database leaves -wal and -shm files beside it.
  const copies = await Promise.all(
    databases.map(async (file) => {
      const copy = path.join(work, path.basename(file));
      if (existsSync(file)) await copyFile(file, copy);
      return copy;
    }),
  );
  await writeFile(path.join(work, 'migrations', '001_feeds.sql'), 'CREATE TABLE feeds (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE);');
  await writeFile(path.join(work, 'migrations', '002_seed.sql'), "INSERT INTO feeds (url) VALUES ('https://example.com/a'), ('https://example.com/b');");
  const { stdout, stderr } = await promisify(execFile)(node, [PROBE, driver, work, ...copies]);
  return { result: JSON.parse(stdout) as Record<string, unknown>, stderr };
}

/** The same result with the per-driver folders named alike, and SQLite's version (each library bundles its own) set aside. */
function comparable(result: Record<string, unknown>, driver: string): { result: unknown; sqliteVersions: string[] } {
  const sqliteVersions: string[] = [];
  const text = JSON.stringify(result).replaceAll(driver.replace(':', '-'), 'WORK');
  const value: unknown = JSON.parse(text, (key, v: unknown) => {
    if (key !== 'sqliteVersion') return v;
    sqliteVersions.push(String(v));
    return undefined;
  });
  return { result: value, sqliteVersions };
}

describe('SQLite drivers', () => {
  it.skipIf(!existsSync(NODE24))(
    'node:sqlite under Node 24 inspects, checks and builds exactly as better-sqlite3 does (skipped without tools/node24: npm ci --prefix tools/node24)',
    async () => {
      const better = await probe(process.execPath, 'better-sqlite3');
      const node = await probe(NODE24, 'node:sqlite');
      expect(node.stderr, 'Node 24 printed something (an ExperimentalWarning?)').toBe('');

      // First that the probe saw real work, so that two equal results are not two equal failures.
      const inspect = better.result.inspect as Record<string, { value?: { tables: unknown }; error?: { code: string } }>;
      expect(inspect['good.db']!.value!.tables).toEqual([
        { name: 'odd "name"', rows: 2 },
        { name: 'posts', rows: 300 },
        { name: 'tags', rows: 100 },
      ]);
      expect(inspect['good.db']!.value).toMatchObject({ userVersion: 7, pageSize: 4096 });
      expect(inspect['orphan.db']!.error).toMatchObject({ name: 'DatabaseError', code: 'foreign-key-check' });
      expect(inspect['wal.db']!.error).toMatchObject({ name: 'DatabaseError', code: 'journal-mode' });
      expect(inspect['text.db']!.error).toMatchObject({ name: 'DatabaseError', code: 'not-a-database' });
      expect(inspect['missing.db']!.error).toMatchObject({ name: 'DatabaseError', code: 'not-a-database' });
      expect(better.result.build).toMatchObject({ value: { migrationsApplied: ['001_feeds.sql', '002_seed.sql'], vacuumed: true } });

      const a = comparable(better.result, 'better-sqlite3');
      const b = comparable(node.result, 'node:sqlite');
      expect(b.result).toEqual(a.result);
      for (const versions of [a.sqliteVersions, b.sqliteVersions]) {
        expect(versions).toHaveLength(2); // good.db and the build
        for (const version of versions) expect(version).toMatch(/^3\.\d+\.\d+$/);
      }
    },
  );

  it('drops only the ExperimentalWarning for SQLite, and only while loading', () => {
    const sqliteWarning = 'SQLite is an experimental feature and might change at any time';
    const forwarded: unknown[][] = [];
    const emitWarning = process.emitWarning;
    // Stands in for Node's own emitWarning, which would print the forwarded ones in the test output.
    process.emitWarning = ((...args: unknown[]) => void forwarded.push(args)) as typeof process.emitWarning;
    try {
      const value = withoutSqliteExperimentalWarning(() => {
        process.emitWarning(sqliteWarning, 'ExperimentalWarning');
        process.emitWarning(sqliteWarning, { type: 'ExperimentalWarning' });
        process.emitWarning(Object.assign(new Error(sqliteWarning), { name: 'ExperimentalWarning' }));
        process.emitWarning('WASI is an experimental feature and might change at any time', 'ExperimentalWarning');
        process.emitWarning(sqliteWarning, 'SomethingElse');
        return 42;
      });
      expect(value).toBe(42);
      process.emitWarning(sqliteWarning, 'ExperimentalWarning');
    } finally {
      process.emitWarning = emitWarning;
    }
    expect(forwarded).toEqual([
      ['WASI is an experimental feature and might change at any time', 'ExperimentalWarning'],
      [sqliteWarning, 'SomethingElse'],
      [sqliteWarning, 'ExperimentalWarning'],
    ]);
  });
});
