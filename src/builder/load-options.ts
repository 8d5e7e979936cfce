export interface LoadTableOptions {
  /** The table (in the main schema) to make equal to `rows`; matched case-insensitively, as SQLite does. */
  table: string;
  /**
   * The column(s) whose values identify a row, e.g. `['id']` or `['product', 'version']`.
   * Every row must give each of them, no two rows the same key; compared exactly (BINARY,
   * after the column's affinity).
   */
  key: readonly string[];
  /**
   * The rows, as objects keyed by column name (case-insensitive). Values: string, number,
   * bigint, boolean (stored as 1 or 0), null, a Buffer or Uint8Array (a BLOB), a Date (its
   * ISO 8601 text), or any other object or array (its JSON text). A column that some rows give
   * and this one leaves out is NULL in this one; a column no row gives is left as it is.
   */
  rows: Iterable<Record<string, unknown>>;
  /**
   * `text`: every value is text or null, as read from CSV, and text bound for a column
   * with INTEGER, REAL or NUMERIC affinity becomes a number when it is one.
   * @default 'typed'
   */
  values?: 'typed' | 'text';
  /**
   * How messages name the row at `index` (0-based): the CLI names the file's line.
   * @default (index) => `row ${index + 1}`
   */
  rowName?: (index: number) => string;
}

/** What a load did: each row of the file is counted once, as inserted, updated or unchanged. */
export interface LoadResult {
  table: string;
  inserted: number;
  updated: number;
  /** Rows of the table whose key is not in the file (rows removed by an `ON DELETE CASCADE` elsewhere are not counted). */
  deleted: number;
  unchanged: number;
}
