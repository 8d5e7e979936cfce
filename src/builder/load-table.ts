import { randomBytes } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { DatabaseError, UsageError } from '../errors.js';
import { quoteIdentifier } from './inspect.js';
import { prepareRows, readTable, type TableInfo } from './load-rows.js';
import { describeKey, fold, type LoadValue, MISMATCH, namingRow, rowidAlias } from './load-values.js';

import type { LoadResult, LoadTableOptions } from './load-options.js';

export type { LoadResult, LoadTableOptions } from './load-options.js';
export type { LoadValue } from './load-values.js';

/**
 * Makes `table` equal to `rows` with the fewest writes, in one transaction
 * (a savepoint inside the caller's transaction): rows whose key is not in
 * `rows` are deleted; rows whose values differ are updated, only in the
 * columns that differ; new keys are inserted in key order; unchanged rows are
 * not written at all, so their pages keep their bytes and a page-level delta
 * between two snapshots stays as small as the change.
 *
 * Nothing is kept unless every row fits: an unknown table or column, a key
 * column missing from the table or from a row, a null or repeated key, or a
 * row a constraint refuses throws a `DatabaseError` (`load-mismatch`) naming
 * the row, and the table is left as it was. Values are compared as SQLite
 * stores them (after the column's affinity), through a temporary table that
 * holds the rows while the load runs.
 */
export function loadTable(db: BetterSqlite3.Database, options: LoadTableOptions): LoadResult {
  const key = [...options.key];
  if (key.length === 0 || key.some((k) => k.trim() === '')) {
    throw new UsageError(`invalid key: expected one or more column names, got ${JSON.stringify(key)}`);
  }
  if (new Set(key.map(fold)).size !== key.length) throw new UsageError(`invalid key: a column is named twice in ${JSON.stringify(key)}`);
  const load = db.transaction(() => loadInTransaction(db, key, options));
  // A deferred foreign key fails at COMMIT, after every row was written; the whole load is rolled back.
  return namingRow(
    () => `committing the load of ${options.table}`,
    () => load.immediate(),
  );
}

/** Everything the phases of one load share: the table, the rows, and the names of the staged copy. */
interface LoadRun {
  db: BetterSqlite3.Database;
  table: TableInfo;
  rows: (LoadValue | undefined)[][];
  keyIndexes: number[];
  /** Columns loaded, and of those the ones compared (not the key). */
  loaded: number[];
  compared: number[];
  rowName: (index: number) => string;
  keyOf: (index: number) => string;
  q: (column: number) => string;
  /** The table, its staged copy, the staged rows' rowid alias, and the join condition on the key. */
  target: string;
  staged: string;
  line: string;
  sameKey: string;
}

function loadInTransaction(db: BetterSqlite3.Database, key: readonly string[], options: LoadTableOptions): LoadResult {
  const run = planLoad(db, key, options);
  stageRows(run);
  const result: LoadResult = { table: run.table.name, inserted: 0, updated: 0, deleted: 0, unchanged: 0 };
  // Deletes first, so that inserts can reuse the space they free.
  const remove = db.prepare(`DELETE FROM ${run.target} AS t WHERE NOT EXISTS (SELECT 1 FROM ${run.staged} AS l WHERE ${run.sameKey})`);
  result.deleted = namingRow(
    () => `deleting the rows of ${run.table.name} whose key is not in the file`,
    () => remove.run().changes,
  );
  const matched = updateMatchedRows(run, result);
  insertNewRows(run, matched, result);
  db.exec(`DROP TABLE ${run.staged}`);
  return result;
}

/** The table, the key's columns, the rows checked and converted, and the names the statements use. */
function planLoad(db: BetterSqlite3.Database, key: readonly string[], options: LoadTableOptions): LoadRun {
  const rowName = options.rowName ?? ((index: number) => `row ${index + 1}`);
  const table = readTable(db, options.table);
  const keyIndexes = key.map((name) => {
    const index = table.columns.findIndex((c) => fold(c.name) === fold(name));
    if (index === -1) {
      const columns = table.columns.map((c) => c.name).join(', ');
      throw new DatabaseError(`key column ${JSON.stringify(name)} is not a column of ${table.name} (its columns: ${columns})`, MISMATCH);
    }
    if (table.columns[index]!.generated)
      throw new DatabaseError(`key column ${table.columns[index]!.name} of ${table.name} is generated; it cannot be loaded`, MISMATCH);
    return index;
  });
  const { rows, loaded } = prepareRows(table, keyIndexes, options, rowName);
  const q = (i: number) => quoteIdentifier(table.columns[i]!.name);
  const keyOf = (index: number) =>
    describeKey(
      keyIndexes.map((i) => table.columns[i]!),
      keyIndexes.map((i) => rows[index]![i]!),
    );
  const scratch = `sqlitening_load_${randomBytes(6).toString('hex')}`;
  // The staged row's rowid is its index + 1, under a name no loaded column shadows.
  const line = rowidAlias(loaded.map((i) => table.columns[i]!.name));
  if (!line) throw new DatabaseError(`${table.name} has columns named rowid, _rowid_ and oid; load cannot stage its rows`, MISMATCH);
  return {
    db,
    table,
    rows,
    keyIndexes,
    loaded,
    compared: loaded.filter((i) => !keyIndexes.includes(i)),
    rowName,
    keyOf,
    q,
    target: `main.${quoteIdentifier(table.name)}`,
    staged: `temp.${quoteIdentifier(scratch)}`,
    line,
    sameKey: keyIndexes.map((i) => `t.${q(i)} = l.${q(i)} COLLATE BINARY`).join(' AND '),
  };
}

/**
 * The rows go into a temporary table with the same column affinities, so that SQLite compares values
 * exactly as it stores them ("42" in an INTEGER column is 42); its unique index finds a repeated key.
 */
function stageRows(run: LoadRun): void {
  const { db, loaded, keyIndexes, q, staged } = run;
  const scratch = staged.slice('temp.'.length);
  db.exec(`CREATE TEMP TABLE ${scratch} AS SELECT ${loaded.map(q).join(', ')} FROM ${run.target} LIMIT 0`);
  db.exec(`CREATE UNIQUE INDEX temp.${quoteIdentifier(`${scratch.slice(1, -1)}_key`)} ON ${scratch} (${keyIndexes.map(q).join(', ')})`);
  const stage = db.prepare(`INSERT INTO ${staged} (${run.line}, ${loaded.map(q).join(', ')}) VALUES (?, ${loaded.map(() => '?').join(', ')})`);
  const stagedAt = db.prepare(`SELECT ${run.line} FROM ${staged} WHERE ${keyIndexes.map((i) => `${q(i)} = ?`).join(' AND ')}`).pluck();
  run.rows.forEach((values, index) => {
    try {
      stage.run(index + 1, ...loaded.map((i) => values[i] ?? null));
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw error;
      const first = Number(stagedAt.get(...keyIndexes.map((i) => values[i]!))) - 1;
      throw new DatabaseError(
        `${run.rowName(index)}: duplicate key (${run.keyOf(index)}), first given by ${run.rowName(first)}; each key may appear once`,
        MISMATCH,
      );
    }
  });
}

/** Updates the rows whose key is in the table and whose values differ; returns which staged rows matched. */
function updateMatchedRows(run: LoadRun, result: LoadResult): Uint8Array {
  const { db, table, compared, q } = run;
  // Each matched row: its staged index, how to find it, and whether each compared column differs (value or storage class).
  const differs = compared.map((i) => `, (t.${q(i)} IS NOT l.${q(i)} COLLATE BINARY OR typeof(t.${q(i)}) <> typeof(l.${q(i)}))`);
  const ids = table.identity.map((id) => `t.${id}`).join(', ');
  const match = db
    .prepare(`SELECT l.${run.line}, ${ids}${differs.join('')} FROM ${run.staged} AS l JOIN ${run.target} AS t ON ${run.sameKey}`)
    .raw()
    .safeIntegers();
  const matched = new Uint8Array(run.rows.length);
  const updates = new Map<string, BetterSqlite3.Statement>();
  for (const found of match.all() as LoadValue[][]) {
    const index = Number(found[0]) - 1;
    if (matched[index]) {
      throw new DatabaseError(
        `table ${table.name} has more than one row with the key (${run.keyOf(index)}) of ${run.rowName(index)}; the key must be unique in the table (its PRIMARY KEY or a UNIQUE index)`,
        MISMATCH,
      );
    }
    matched[index] = 1;
    const identity = found.slice(1, 1 + table.identity.length);
    const changed = compared.filter((_, d) => found[1 + table.identity.length + d] === 1n);
    if (changed.length === 0) {
      result.unchanged++;
      continue;
    }
    // One statement per set of changed columns: an UPDATE that names a column rewrites its index entries.
    const signature = changed.join(',');
    let update = updates.get(signature);
    if (!update) {
      const set = changed.map((i) => `${q(i)} = ?`).join(', ');
      update = db.prepare(`UPDATE ${run.target} SET ${set} WHERE ${table.identity.map((id) => `${id} = ?`).join(' AND ')}`);
      updates.set(signature, update);
    }
    const statement = update;
    namingRow(
      () => run.rowName(index),
      () => statement.run(...changed.map((i) => run.rows[index]![i] ?? null), ...identity),
    );
    result.updated++;
  }
  return matched;
}

/** New keys, in key order: rows of neighbouring keys land on neighbouring pages. */
function insertNewRows(run: LoadRun, matched: Uint8Array, result: LoadResult): void {
  const { db, loaded, q } = run;
  const insert = db.prepare(`INSERT INTO ${run.target} (${loaded.map(q).join(', ')}) VALUES (${loaded.map(() => '?').join(', ')})`);
  const inKeyOrder = db
    .prepare(`SELECT ${run.line} FROM ${run.staged} ORDER BY ${run.keyIndexes.map(q).join(', ')}`)
    .pluck()
    .all() as number[];
  for (const position of inKeyOrder) {
    const index = position - 1;
    if (matched[index]) continue;
    namingRow(
      () => run.rowName(index),
      () => insert.run(...loaded.map((i) => run.rows[index]![i] ?? null)),
    );
    result.inserted++;
  }
}
