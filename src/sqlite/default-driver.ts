import type { SqliteDriver } from './driver.js';

/**
 * The driver used when a caller names none: better-sqlite3, imported on first
 * use. The Action always passes `node:sqlite`, and its bundle must carry
 * neither better-sqlite3 nor its native addon (compiled for one OS, CPU and
 * Node ABI), so the import is hidden from the bundler (`webpackIgnore`, which
 * ncc honours): in dist/ it stays a run-time import that is never reached.
 */
export async function defaultSqliteDriver(): Promise<SqliteDriver> {
  const { betterSqlite3Driver } = await import(/* webpackIgnore: true */ './better-sqlite3-driver.js');
  return betterSqlite3Driver;
}
