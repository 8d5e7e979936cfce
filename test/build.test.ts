import Database from 'better-sqlite3';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildDatabase, type BuildOptions } from '../src/builder/build.js';
import { MIGRATIONS_TABLE } from '../src/builder/migrations.js';
import { DatabaseError } from '../src/errors.js';
import { makeContentDatabase, tempFolder } from './helpers/fixtures.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempFolder('build'));
  await mkdir(path.join(dir, 'migrations'));
});
afterEach(() => cleanup());

async function migration(name: string, sql: string): Promise<void> {
  await writeFile(path.join(dir, 'migrations', name), sql);
}

function options(overrides: Partial<BuildOptions> = {}): BuildOptions {
  return {
    output: path.join(dir, 'site.db'),
    sqlite: betterSqlite3Driver,
    migrationsDir: path.join(dir, 'migrations'),
    loaders: [],
    vacuum: 'auto',
    vacuumThreshold: 0.25,
    cwd: dir,
    env: process.env,
    commandOutput: new PassThrough().resume(),
    ...overrides,
  };
}

function query<T>(file: string, sql: string): T[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

describe('buildDatabase', () => {
  it('applies migrations in natural order, and only pending ones on a rebuild', async () => {
    await migration('10_later.sql', 'INSERT INTO log VALUES (10);');
    await migration('2_second.sql', 'INSERT INTO log VALUES (2);');
    await migration('1_first.sql', 'CREATE TABLE log (n INTEGER);');
    const first = await buildDatabase(options());
    expect(first.migrationsApplied).toEqual(['1_first.sql', '2_second.sql', '10_later.sql']);
    expect(query<{ n: number }>(first.path, 'SELECT n FROM log').map((r) => r.n)).toEqual([2, 10]);

    await migration('11_new.sql', 'INSERT INTO log VALUES (11);');
    const second = await buildDatabase(options({ from: first.path, output: path.join(dir, 'next.db') }));
    expect(second.migrationsApplied).toEqual(['11_new.sql']);
    expect(query<{ n: number }>(second.path, 'SELECT n FROM log').map((r) => r.n)).toEqual([2, 10, 11]);
    expect(query(second.path, `SELECT name FROM ${MIGRATIONS_TABLE}`)).toHaveLength(4);
    expect(second.stats.tables.find((t) => t.name === 'log')?.rows).toBe(3);
  });

  it('refuses a migration that changed after it was applied', async () => {
    await migration('1_first.sql', 'CREATE TABLE log (n INTEGER);');
    const first = await buildDatabase(options());
    await migration('1_first.sql', 'CREATE TABLE log (n INTEGER, m INTEGER);');
    await expect(buildDatabase(options({ from: first.path, output: path.join(dir, 'x.db') }))).rejects.toThrow(
      /migration 1_first\.sql was changed after it was applied/,
    );
  });

  it('names the failing migration and SQLite message, and leaves the output and folder untouched', async () => {
    await migration('1_ok.sql', 'CREATE TABLE t (n INTEGER);');
    const good = await buildDatabase(options());
    const before = readFileSync(good.path);
    await migration('2_bad.sql', 'CREATE TABLE u (n INTEGER); INSERT INTO missing_table VALUES (1);');
    const error = await buildDatabase(options({ from: good.path })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toBe('migration 2_bad.sql failed: no such table: missing_table');
    expect(readFileSync(good.path).equals(before)).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(['migrations', 'site.db']);
  });

  it('runs loaders with the database path and reports a failing one with exit code and stderr', async () => {
    await migration('1.sql', 'CREATE TABLE posts (title TEXT);');
    const loader = `sqlite3 "$SQLITENING_DB" "INSERT INTO posts VALUES ('from loader')"`;
    const built = await buildDatabase(options({ loaders: [loader] }));
    expect(query(built.path, 'SELECT title FROM posts')).toEqual([{ title: 'from loader' }]);

    const failing = 'echo "fetching feed" >&2; echo "feed server said 503" >&2; exit 7';
    await expect(buildDatabase(options({ output: path.join(dir, 'other.db'), loaders: [loader, failing] }))).rejects.toThrow(
      'loader "echo "fetching feed" >&2; echo "feed server said 503" >&2; exit 7" failed with exit code 7: fetching feed | feed server said 503',
    );
    expect(await readdir(dir)).not.toContain('other.db');
  });

  it('switches a database a loader put in WAL mode back to rollback journal', async () => {
    await migration('1.sql', 'CREATE TABLE t (n INTEGER);');
    const built = await buildDatabase(options({ loaders: [`sqlite3 "$SQLITENING_DB" "PRAGMA journal_mode=WAL; INSERT INTO t VALUES (1);"`] }));
    expect(query(built.path, 'PRAGMA journal_mode')).toEqual([{ journal_mode: 'delete' }]);
    expect(await readdir(dir)).not.toContain('site.db-wal');
  });

  it('rejects rows that break a foreign key, even when the loader did not enforce them', async () => {
    await migration(
      '1.sql',
      `CREATE TABLE a (id INTEGER PRIMARY KEY);
      CREATE TABLE b (a_id INTEGER REFERENCES a(id));`,
    );
    // The sqlite3 shell leaves foreign keys off, as most loaders do.
    const loader = `sqlite3 "$SQLITENING_DB" "INSERT INTO b VALUES (42)"`;
    await expect(buildDatabase(options({ loaders: [loader] }))).rejects.toThrow('foreign_key_check found 1 orphan row(s): b rowid 1 → missing a');
  });

  it('vacuums only when free pages pass the threshold', async () => {
    const start = path.join(dir, 'start.db');
    makeContentDatabase(start, 500);
    const small = await buildDatabase(
      options({ migrationsDir: undefined, from: start, loaders: [`sqlite3 "$SQLITENING_DB" "DELETE FROM tags WHERE post_id <= 5"`] }),
    );
    expect(small.vacuumed).toBe(false);
    const big = await buildDatabase(
      options({
        migrationsDir: undefined,
        from: start,
        output: path.join(dir, 'big.db'),
        loaders: [`sqlite3 "$SQLITENING_DB" "DELETE FROM tags; DELETE FROM posts WHERE id > 50"`],
      }),
    );
    expect(big.vacuumed).toBe(true);
    expect(big.stats.freePages).toBe(0);
    expect(statSync(big.path).size).toBeLessThan(statSync(start).size / 4);
  });

  it('keeps pages stable when a refresh changes 1% of rows (what makes page deltas cheap)', async () => {
    const start = path.join(dir, 'start.db');
    makeContentDatabase(start, 2000);
    const update = `sqlite3 "$SQLITENING_DB" "UPDATE posts SET title = title || ' (updated)' WHERE id % 100 = 0"`;
    const refreshed = await buildDatabase(options({ migrationsDir: undefined, from: start, loaders: [update] }));
    const vacuumed = await buildDatabase(
      options({ migrationsDir: undefined, from: start, loaders: [update], vacuum: 'always', output: path.join(dir, 'v.db') }),
    );
    const pages = (file: string) => {
      const bytes = readFileSync(file);
      return Array.from({ length: bytes.length / 4096 }, (_, i) => bytes.subarray(i * 4096, (i + 1) * 4096));
    };
    const before = pages(start);
    const changedShare = (file: string) => {
      const after = pages(file);
      return after.filter((page, i) => !before[i] || !page.equals(before[i]!)).length / after.length;
    };
    expect(refreshed.vacuumed).toBe(false);
    // 20 of 2000 rows, about four to a page, plus the b-tree pages above them and the header page.
    expect(changedShare(refreshed.path)).toBeLessThan(0.1);
    expect(changedShare(vacuumed.path)).toBeGreaterThan(0.5);
  });
});
