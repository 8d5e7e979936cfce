import { randomBytes } from 'node:crypto';
import { copyFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fsyncPath } from '../fs-atomic.js';
import type { SqliteDriver } from '../sqlite/driver.js';
import { checkDatabase, databaseStats, type DatabaseStats } from './inspect.js';
import { applyMigrations, readMigrations } from './migrations.js';
import { runCommand } from './run-command.js';

/** Environment variable that carries the database path to migration and loader commands. */
export const DATABASE_ENV = 'SQLITENING_DB';

export interface BuildOptions {
  /** Where the finished database goes; replaced only when every step has passed. */
  output: string;
  /** A database file to start from (a downloaded snapshot); an empty database when absent. */
  from?: string | undefined;
  /** Folder of ordered `.sql` migrations. */
  migrationsDir?: string | undefined;
  /** A command that migrates the database at `$SQLITENING_DB`, run after the `.sql` files. */
  migrateCommand?: string | undefined;
  /** Commands that load data into `$SQLITENING_DB`, in order. */
  loaders: string[];
  /** `auto` vacuums only when free pages exceed `vacuumThreshold` of all pages. */
  vacuum: 'auto' | 'always' | 'never';
  /** Share of free pages (0-1) above which `auto` vacuums. */
  vacuumThreshold: number;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Receives the commands' output. */
  commandOutput: NodeJS.WritableStream;
  onStep?: (step: string, detail: Record<string, unknown>) => void;
  /** The SQLite library the build opens the database with (migrations, checks, VACUUM): better-sqlite3, or `node:sqlite` in the Action. */
  sqlite: SqliteDriver;
}

export interface BuildResult {
  path: string;
  stats: DatabaseStats;
  migrationsApplied: string[];
  vacuumed: boolean;
  durationMs: number;
}

async function removeDatabaseFiles(file: string): Promise<void> {
  await Promise.all(['', '-journal', '-wal', '-shm'].map((suffix) => rm(`${file}${suffix}`, { force: true })));
}

/**
 * Builds a database in a temp file beside `output`: start (empty or a copy of
 * `from`), migrate, load, check, maybe vacuum, then rename over `output`.
 * Any failure removes the temp file and leaves `output` as it was.
 */
export async function buildDatabase(options: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const output = path.resolve(options.output);
  const temp = path.join(path.dirname(output), `.${path.basename(output)}.building-${randomBytes(4).toString('hex')}`);
  const step = options.onStep ?? (() => {});
  const env = { ...options.env, [DATABASE_ENV]: temp };
  const { sqlite } = options;
  try {
    if (options.from) {
      await copyFile(options.from, temp);
      step('start', { from: options.from });
    } else {
      step('start', { from: null });
    }
    let migrationsApplied: string[] = [];
    const db = sqlite.open(temp);
    try {
      db.exec('PRAGMA journal_mode = DELETE');
      if (options.migrationsDir) {
        const report = applyMigrations(db, await readMigrations(options.migrationsDir));
        migrationsApplied = report.applied;
        step('migrations', { applied: report.applied, alreadyApplied: report.alreadyApplied });
      }
    } finally {
      db.close();
    }
    if (options.migrateCommand) {
      await runCommand(options.migrateCommand, { role: 'migration command', cwd: options.cwd, env, output: options.commandOutput });
      step('migrate-command', { command: options.migrateCommand });
    }
    for (const loader of options.loaders) {
      await runCommand(loader, { role: 'loader', cwd: options.cwd, env, output: options.commandOutput });
      step('loader', { command: loader });
    }

    const finished = sqlite.open(temp);
    let vacuumed = false;
    let stats: DatabaseStats;
    try {
      // A command may have switched to WAL; the snapshot must be a single self-contained file.
      finished.exec('PRAGMA journal_mode = DELETE');
      checkDatabase(finished);
      const before = databaseStats(finished);
      const freeShare = before.pageCount === 0 ? 0 : before.freePages / before.pageCount;
      // VACUUM renumbers nearly every page, which makes the next page-level delta as large as the file.
      if (options.vacuum === 'always' || (options.vacuum === 'auto' && freeShare > options.vacuumThreshold)) {
        finished.exec('VACUUM');
        vacuumed = true;
        step('vacuum', { freePagesBefore: before.freePages, pageCountBefore: before.pageCount });
      }
      stats = vacuumed ? databaseStats(finished) : before;
    } finally {
      finished.close();
    }
    await fsyncPath(temp);
    await rename(temp, output);
    await fsyncPath(path.dirname(output));
    return { path: output, stats, migrationsApplied, vacuumed, durationMs: Date.now() - started };
  } catch (error) {
    await removeDatabaseFiles(temp);
    throw error;
  }
}
