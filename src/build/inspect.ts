import Database from 'better-sqlite3';
import type { DatabaseInfo } from '../contract/manifest.js';
import { DatabaseError } from '../errors.js';

export type DatabaseStats = Omit<DatabaseInfo, 'sha256' | 'size'>;

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function pragmaValue(db: Database.Database, pragma: string): unknown {
  return db.pragma(pragma, { simple: true });
}

/**
 * The checks every snapshot passes before upload: `integrity_check` (full,
 * not `quick_check`: this runs once per build, not on every pod),
 * `foreign_key_check`, and rollback-journal mode (a WAL file would not travel
 * with the snapshot).
 */
export function checkDatabase(db: Database.Database): void {
  const integrity = db.pragma('integrity_check(20)') as { integrity_check: string }[];
  const problems = integrity.map((r) => r.integrity_check).filter((line) => line !== 'ok');
  if (problems.length > 0) {
    throw new DatabaseError(`integrity_check failed: ${problems.slice(0, 5).join('; ')}`, 'integrity-check');
  }
  const orphans = db.pragma('foreign_key_check') as { table: string; rowid: number | null; parent: string; fkid: number }[];
  if (orphans.length > 0) {
    const shown = orphans.slice(0, 5).map((o) => `${o.table} rowid ${o.rowid} → missing ${o.parent}`);
    throw new DatabaseError(`foreign_key_check found ${orphans.length} orphan row(s): ${shown.join('; ')}`, 'foreign-key-check');
  }
  const mode = String(pragmaValue(db, 'journal_mode')).toLowerCase();
  if (mode !== 'delete') {
    throw new DatabaseError(`journal_mode is ${mode}; a snapshot must use rollback-journal mode (delete)`, 'journal-mode');
  }
}

/** Facts about the database that go into the manifest. */
export function databaseStats(db: Database.Database): DatabaseStats {
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

/** Opens a database read-only, runs the snapshot checks and returns its stats. */
export function inspectDatabaseFile(file: string, options: { check: boolean }): DatabaseStats {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new DatabaseError(`cannot open ${file} as a SQLite database: ${(error as Error).message}`, 'not-a-database');
  }
  try {
    if (options.check) checkDatabase(db);
    return databaseStats(db);
  } catch (error) {
    if (error instanceof DatabaseError) throw error;
    throw new DatabaseError(`${file} is not a readable SQLite database: ${(error as Error).message}`, 'not-a-database');
  } finally {
    db.close();
  }
}
