import { existsSync } from 'node:fs';
import type { DatabaseInfo } from '@sqlitening/contract';
import { DatabaseError } from '../errors.js';
import type { SqliteDatabase, SqliteDriver } from '../sqlite/driver.js';

export type DatabaseStats = Omit<DatabaseInfo, 'sha256' | 'size'>;

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The first column of a pragma's first row, e.g. `page_size` → 4096. */
function pragmaValue(db: SqliteDatabase, pragma: string): unknown {
  const row = db.prepare(`PRAGMA ${pragma}`).get();
  return row === undefined ? undefined : Object.values(row)[0];
}

/**
 * The checks every snapshot passes before upload: `integrity_check` (full,
 * not `quick_check`: this runs once per build, not on every pod),
 * `foreign_key_check`, and rollback-journal mode (a WAL file would not travel
 * with the snapshot).
 */
export function checkDatabase(db: SqliteDatabase): void {
  checkJournalMode(db);
  const integrity = db.prepare('PRAGMA integrity_check(20)').all() as { integrity_check: string }[];
  const problems = integrity.map((r) => r.integrity_check).filter((line) => line !== 'ok');
  if (problems.length > 0) {
    throw new DatabaseError(`integrity_check failed: ${problems.slice(0, 5).join('; ')}`, 'integrity-check');
  }
  const orphans = db.prepare('PRAGMA foreign_key_check').all() as { table: string; rowid: number | null; parent: string; fkid: number }[];
  if (orphans.length > 0) {
    const shown = orphans.slice(0, 5).map((o) => `${o.table} rowid ${o.rowid} → missing ${o.parent}`);
    throw new DatabaseError(`foreign_key_check found ${orphans.length} orphan row(s): ${shown.join('; ')}`, 'foreign-key-check');
  }
}

/** A WAL database keeps recent writes in its -wal file, which would not travel with the snapshot. */
function checkJournalMode(db: SqliteDatabase): void {
  const mode = String(pragmaValue(db, 'journal_mode')).toLowerCase();
  if (mode !== 'delete') {
    throw new DatabaseError(`journal_mode is ${mode}; a snapshot must use rollback-journal mode: run PRAGMA journal_mode=DELETE first`, 'journal-mode');
  }
}

/**
 * Refuses a file with a -journal or -wal beside it: a write in progress, or a
 * crash whose recovery has not run, so the main file alone is not the database.
 */
export function assertQuiescent(file: string): void {
  for (const suffix of ['-journal', '-wal']) {
    if (existsSync(`${file}${suffix}`)) {
      throw new DatabaseError(
        `${file}${suffix} exists: a write is in progress or a crash was not recovered; open the database once with sqlite3 (or let the writer finish), then publish`,
        'not-quiescent',
      );
    }
  }
}

/** Facts about the database that go into the manifest. */
export function databaseStats(db: SqliteDatabase): DatabaseStats {
  const names = (
    db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as {
      name: string;
    }[]
  ).map((r) => r.name);
  return {
    pageSize: Number(pragmaValue(db, 'page_size')),
    pageCount: Number(pragmaValue(db, 'page_count')),
    freePages: Number(pragmaValue(db, 'freelist_count')),
    userVersion: Number(pragmaValue(db, 'user_version')),
    sqliteVersion: String((db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v),
    tables: names.map((name) => ({
      name,
      rows: Number((db.prepare(`SELECT count(*) AS n FROM ${quoteIdentifier(name)}`).get() as { n: number }).n),
    })),
  };
}

/** Opens a database read-only with `options.sqlite`, runs the snapshot checks and returns its stats. */
export function inspectDatabaseFile(file: string, options: { check: boolean; sqlite: SqliteDriver }): DatabaseStats {
  assertQuiescent(file);
  let db: SqliteDatabase;
  try {
    db = options.sqlite.open(file, { readOnly: true });
  } catch (error) {
    throw new DatabaseError(`cannot open ${file} as a SQLite database: ${(error as Error).message}`, 'not-a-database');
  }
  try {
    // The journal mode is checked even with `check: false`: it costs nothing and a WAL file would be lost.
    if (options.check) checkDatabase(db);
    else checkJournalMode(db);
    return databaseStats(db);
  } catch (error) {
    if (error instanceof DatabaseError) throw error;
    throw new DatabaseError(`${file} is not a readable SQLite database: ${(error as Error).message}`, 'not-a-database');
  } finally {
    db.close();
  }
}
