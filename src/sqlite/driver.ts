/**
 * The few SQLite calls the builder makes, so that it runs on two libraries:
 * better-sqlite3 (the CLI, the library, tests under Node 20) and Node's
 * built-in `node:sqlite` (the Action: GitHub runs it on Node 24 on any OS and
 * CPU, where a bundled native addon would not load).
 *
 * Pragmas go through `prepare(...).get()`/`all()` or `exec`, transactions
 * through `exec('BEGIN')` / `exec('COMMIT')` / `exec('ROLLBACK')`. Both
 * implementations open connections alike: foreign keys enforced,
 * double-quoted string literals refused, a 5 s busy timeout, and integers
 * read as numbers (neither is asked for BigInt).
 */

/** A value bound to a `?` parameter. */
export type SqliteValue = null | number | bigint | string | Uint8Array;

/** A result row, keyed by column name (`SELECT count(*) AS n` gives `{ n }`). */
export type SqliteRow = Record<string, unknown>;

export interface SqliteStatement {
  /** The first row, or `undefined` when there is none. */
  get(...params: SqliteValue[]): SqliteRow | undefined;
  /** Every row, in order; `[]` when there is none. */
  all(...params: SqliteValue[]): SqliteRow[];
  /** Runs a statement that returns no rows. */
  run(...params: SqliteValue[]): void;
}

export interface SqliteDatabase {
  /** Runs one or more statements separated by `;`, discarding any rows. */
  exec(sql: string): void;
  /** Compiles one statement; throws on a syntax error or an unknown table or column. */
  prepare(sql: string): SqliteStatement;
  /** True between `BEGIN` and its `COMMIT`/`ROLLBACK` (false again if SQLite rolled back on its own). */
  readonly inTransaction: boolean;
  close(): void;
}

export interface SqliteOpenOptions {
  /**
   * Open for reading only; the file must exist.
   * @default false (read-write, creating the file when absent)
   */
  readOnly?: boolean;
}

export interface SqliteDriver {
  /** The library, for messages: `better-sqlite3` or `node:sqlite`. */
  readonly name: string;
  /** Opens a database file; throws when it cannot (a missing file with `readOnly`, a folder, no permission). */
  open(file: string, options?: SqliteOpenOptions): SqliteDatabase;
}
