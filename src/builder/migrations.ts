import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseError, UsageError } from '../errors.js';
import type { SqliteDatabase } from '../sqlite/driver.js';

/** Records applied migrations inside the database itself, so a rebuild from a snapshot applies only new ones. */
export const MIGRATIONS_TABLE = '_sqlitening_migrations';

export interface Migration {
  /** File name, e.g. `003_add_feeds.sql`; migrations run in natural order of their names. */
  name: string;
  sql: string;
  sha256: string;
}

/** Reads every `.sql` file of a folder, in natural order (`2_x.sql` before `10_y.sql`). */
export async function readMigrations(folder: string): Promise<Migration[]> {
  let names: string[];
  try {
    names = (await readdir(folder, { withFileTypes: true })).filter((e) => e.isFile() && e.name.endsWith('.sql')).map((e) => e.name);
  } catch (error) {
    throw new UsageError(`cannot read the migrations folder ${folder}: ${(error as Error).message}`);
  }
  names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(folder, name), 'utf8');
      return { name, sql, sha256: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
}

/**
 * Applies the migrations not yet recorded, each in its own transaction with
 * its record, so a failure leaves the database as it was before that file.
 * A recorded migration whose file has changed since is refused: the database
 * would no longer match the code.
 */
export function applyMigrations(db: SqliteDatabase, migrations: Migration[]): MigrationReport {
  db.exec(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
    name TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const recorded = new Map(
    (db.prepare(`SELECT name, sha256 FROM ${MIGRATIONS_TABLE}`).all() as { name: string; sha256: string }[]).map((r) => [r.name, r.sha256]),
  );
  const record = db.prepare(`INSERT INTO ${MIGRATIONS_TABLE} (name, sha256, applied_at) VALUES (?, ?, ?)`);
  const report: MigrationReport = { applied: [], alreadyApplied: 0 };
  for (const migration of migrations) {
    const known = recorded.get(migration.name);
    if (known !== undefined) {
      if (known !== migration.sha256) {
        throw new DatabaseError(
          `migration ${migration.name} was changed after it was applied (recorded sha256 ${known.slice(0, 12)}…, file now ${migration.sha256.slice(0, 12)}…); add a new migration instead`,
          'migration-changed',
        );
      }
      report.alreadyApplied++;
      continue;
    }
    try {
      db.exec('BEGIN');
      db.exec(migration.sql);
      record.run(migration.name, migration.sha256, new Date().toISOString());
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw new DatabaseError(`migration ${migration.name} failed: ${(error as Error).message}`, 'migration-failed');
    }
    report.applied.push(migration.name);
  }
  return report;
}
