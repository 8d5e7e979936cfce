import { randomBytes } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { DatabaseError, UsageError } from '../errors.js';
import { quoteIdentifier } from './inspect.js';

/** A value as SQLite stores it. */
export type LoadValue = null | number | bigint | string | Buffer;

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

/** The reason code of rows that do not fit the table. */
const MISMATCH = 'load-mismatch';

type Affinity = 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC';

interface Column {
  name: string;
  affinity: Affinity;
  /** Generated columns cannot be written. */
  generated: boolean;
  /** Position in the table's primary key (1-based), 0 when not part of it. */
  pk: number;
}

/**
 * SQLite's rules for the affinity of a declared type, in their order
 * (https://sqlite.org/datatype3.html, "Determination of column affinity");
 * `ANY` in a STRICT table keeps values as they are.
 */
export function columnAffinity(declaredType: string, strict = false): Affinity {
  const type = declaredType.toUpperCase();
  if (strict && type === 'ANY') return 'BLOB';
  if (type.includes('INT')) return 'INTEGER';
  if (type.includes('CHAR') || type.includes('CLOB') || type.includes('TEXT')) return 'TEXT';
  if (type.includes('BLOB') || type === '') return 'BLOB';
  if (type.includes('REAL') || type.includes('FLOA') || type.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

const INTEGER_TEXT = /^[+-]?\d+$/;
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Text (from CSV) for a column: a number when the column has INTEGER, REAL or
 * NUMERIC affinity and the text is a decimal number (surrounding spaces
 * allowed); whole numbers beyond 2^53 stay exact as a bigint. Anything else
 * stays text, as SQLite would store it.
 */
export function textForColumn(text: string, affinity: Affinity): LoadValue {
  if (affinity === 'TEXT' || affinity === 'BLOB') return text;
  const trimmed = text.trim();
  if (affinity !== 'REAL' && INTEGER_TEXT.test(trimmed)) {
    const number = Number(trimmed);
    if (Number.isSafeInteger(number)) return number;
    const big = BigInt(trimmed);
    return big >= INT64_MIN && big <= INT64_MAX ? big : number;
  }
  return NUMBER_TEXT.test(trimmed) ? Number(trimmed) : text;
}

/** What a value is, for messages: `null`, `an array`, `an object`, `a Map`, `a number`… */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return `a ${typeof value}`;
  const made = (value as object).constructor?.name;
  return made && made !== 'Object' ? `a ${made}` : 'an object';
}

/** A JSON or JavaScript value as SQLite stores it; `undefined` stays undefined (not given). */
function typedValue(value: unknown, where: () => string): LoadValue | undefined {
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'string':
      return value;
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX) throw new DatabaseError(`${where()}: expected an integer that fits in 64 bits, got ${value}`, MISMATCH);
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new DatabaseError(`${where()}: expected a finite number, got ${value}`, MISMATCH);
      return value;
    case 'boolean':
      return value ? 1 : 0;
    case 'object':
      if (value === null) return null;
      if (Buffer.isBuffer(value)) return value;
      if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (value instanceof Date) return value.toISOString();
      return JSON.stringify(value);
    default:
      throw new DatabaseError(`${where()}: expected a string, number, boolean, null, object or array, got ${typeName(value)}`, MISMATCH);
  }
}

/** ASCII case folding: how SQLite compares identifiers. */
const fold = (name: string) => name.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());

/** `product "Edge", version "1.2.0"`, each value cut to 60 characters. */
function describeKey(columns: readonly Column[], values: readonly LoadValue[]): string {
  return columns
    .map((column, i) => {
      const value = values[i];
      const shown = JSON.stringify(typeof value === 'bigint' || Buffer.isBuffer(value) ? String(value) : value);
      return `${column.name} ${shown.length > 60 ? `${shown.slice(0, 57)}…` : shown}`;
    })
    .join(', ');
}

function isConstraintError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT');
}

/** Runs `write`, naming the row in a constraint failure (NOT NULL, CHECK, UNIQUE, FOREIGN KEY): the data does not fit. */
function namingRow<T>(what: () => string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    if (isConstraintError(error)) throw new DatabaseError(`${what()}: ${(error as Error).message}`, MISMATCH);
    throw error;
  }
}

/** A name for the rowid that no column shadows (`rowid`, `_rowid_` or `oid`), if one is left. */
function rowidAlias(columnNames: readonly string[]): string | undefined {
  const folded = new Set(columnNames.map(fold));
  return ['rowid', '_rowid_', 'oid'].find((alias) => !folded.has(alias));
}

interface TableInfo {
  name: string;
  columns: Column[];
  /** How an UPDATE finds one row: the rowid (under a name no column shadows), or the primary key of a WITHOUT ROWID table. */
  identity: string[];
}

function readTable(db: BetterSqlite3.Database, name: string): TableInfo {
  const found = db.prepare("SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main' AND name = ? COLLATE NOCASE").get(name) as
    | { name: string; type: string; wr: number; strict: number }
    | undefined;
  if (!found || found.name.startsWith('sqlite_')) {
    const tables = (
      db
        .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        .all() as {
        name: string;
      }[]
    ).map((t) => t.name);
    throw new DatabaseError(`no table ${JSON.stringify(name)} in the database (its tables: ${tables.join(', ') || 'none'})`, MISMATCH);
  }
  if (found.type !== 'table') throw new DatabaseError(`${found.name} is a ${found.type}, not a table; load writes tables`, MISMATCH);
  const columns = (
    db.prepare('SELECT name, type, pk, hidden FROM pragma_table_xinfo(?)').all(found.name) as { name: string; type: string; pk: number; hidden: number }[]
  ).map((c) => ({ name: c.name, affinity: columnAffinity(c.type, found.strict === 1), generated: c.hidden !== 0, pk: c.pk }));
  const rowid = found.wr ? undefined : rowidAlias(columns.map((c) => c.name));
  const identity = rowid
    ? [rowid]
    : columns
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => quoteIdentifier(c.name));
  if (identity.length === 0) throw new DatabaseError(`${found.name} has no rowid and no primary key to update its rows by`, MISMATCH);
  return { name: found.name, columns, identity };
}

/** The rows as arrays aligned with the table's columns (`undefined` where a row does not give the column), and the columns to load. */
interface PreparedRows {
  rows: (LoadValue | undefined)[][];
  /** Indexes of the columns loaded: the key, and every column some row gives, in the table's order. */
  loaded: number[];
}

/** Checks every row against the table and converts its values; throws on the first that does not fit. */
function prepareRows(table: TableInfo, keyIndexes: readonly number[], options: LoadTableOptions, rowName: (index: number) => string): PreparedRows {
  const byName = new Map(table.columns.map((c, i) => [fold(c.name), i]));
  const columnList = table.columns.map((c) => c.name).join(', ');
  const text = options.values === 'text';
  const rows: (LoadValue | undefined)[][] = [];
  const given = new Array<boolean>(table.columns.length).fill(false);
  for (const row of options.rows) {
    const index = rows.length;
    const where = () => rowName(index);
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw new DatabaseError(`${where()}: expected an object of column values, got ${typeName(row)}`, MISMATCH);
    }
    const values = new Array<LoadValue | undefined>(table.columns.length);
    for (const [field, raw] of Object.entries(row)) {
      const column = byName.get(fold(field));
      if (column === undefined) {
        throw new DatabaseError(`${where()}: column ${JSON.stringify(field)} is not in table ${table.name} (its columns: ${columnList})`, MISMATCH);
      }
      const { name, affinity, generated } = table.columns[column]!;
      if (generated) throw new DatabaseError(`${where()}: column ${name} of ${table.name} is generated; it cannot be loaded`, MISMATCH);
      if (values[column] !== undefined) throw new DatabaseError(`${where()}: column ${name} is given twice (as ${JSON.stringify(field)} too)`, MISMATCH);
      const value = text && typeof raw === 'string' ? textForColumn(raw, affinity) : typedValue(raw, () => `${where()}, column ${name}`);
      values[column] = value;
      if (value !== undefined) given[column] = true;
    }
    for (const k of keyIndexes) {
      const { name } = table.columns[k]!;
      if (values[k] === undefined) {
        const got = Object.keys(row).join(', ') || 'no columns';
        throw new DatabaseError(`${where()}: no value for key column ${name} (expected one in every row; got ${got})`, MISMATCH);
      }
      if (values[k] === null) throw new DatabaseError(`${where()}: key column ${name} is null; expected a value in every row`, MISMATCH);
    }
    rows.push(values);
  }
  return { rows, loaded: table.columns.map((_, i) => i).filter((i) => given[i] || keyIndexes.includes(i)) };
}

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

function loadInTransaction(db: BetterSqlite3.Database, key: readonly string[], options: LoadTableOptions): LoadResult {
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
  const compared = loaded.filter((i) => !keyIndexes.includes(i));
  const q = (i: number) => quoteIdentifier(table.columns[i]!.name);
  const keyOf = (index: number) =>
    describeKey(
      keyIndexes.map((i) => table.columns[i]!),
      keyIndexes.map((i) => rows[index]![i]!),
    );
  const target = `main.${quoteIdentifier(table.name)}`;
  const scratch = `sqlitening_load_${randomBytes(6).toString('hex')}`;
  const staged = `temp.${quoteIdentifier(scratch)}`;
  // The staged row's rowid is its index + 1, under a name no loaded column shadows.
  const line = rowidAlias(loaded.map((i) => table.columns[i]!.name));
  if (!line) throw new DatabaseError(`${table.name} has columns named rowid, _rowid_ and oid; load cannot stage its rows`, MISMATCH);
  const sameKey = keyIndexes.map((i) => `t.${q(i)} = l.${q(i)} COLLATE BINARY`).join(' AND ');

  // The rows go into a temporary table with the same column affinities, so that SQLite
  // compares values exactly as it stores them ("42" in an INTEGER column is 42).
  db.exec(`CREATE TEMP TABLE ${quoteIdentifier(scratch)} AS SELECT ${loaded.map(q).join(', ')} FROM ${target} LIMIT 0`);
  db.exec(`CREATE UNIQUE INDEX temp.${quoteIdentifier(`${scratch}_key`)} ON ${quoteIdentifier(scratch)} (${keyIndexes.map(q).join(', ')})`);
  const stage = db.prepare(`INSERT INTO ${staged} (${line}, ${loaded.map(q).join(', ')}) VALUES (?, ${loaded.map(() => '?').join(', ')})`);
  const stagedAt = db.prepare(`SELECT ${line} FROM ${staged} WHERE ${keyIndexes.map((i) => `${q(i)} = ?`).join(' AND ')}`).pluck();
  rows.forEach((values, index) => {
    try {
      stage.run(index + 1, ...loaded.map((i) => values[i] ?? null));
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw error;
      const first = Number(stagedAt.get(...keyIndexes.map((i) => values[i]!))) - 1;
      throw new DatabaseError(`${rowName(index)}: duplicate key (${keyOf(index)}), first given by ${rowName(first)}; each key may appear once`, MISMATCH);
    }
  });

  const result: LoadResult = { table: table.name, inserted: 0, updated: 0, deleted: 0, unchanged: 0 };
  // Deletes first, so that inserts can reuse the space they free.
  const remove = db.prepare(`DELETE FROM ${target} AS t WHERE NOT EXISTS (SELECT 1 FROM ${staged} AS l WHERE ${sameKey})`);
  result.deleted = namingRow(
    () => `deleting the rows of ${table.name} whose key is not in the file`,
    () => remove.run().changes,
  );

  // Each matched row: its staged index, how to find it, and whether each compared column differs (value or storage class).
  const differs = compared.map((i) => `, (t.${q(i)} IS NOT l.${q(i)} COLLATE BINARY OR typeof(t.${q(i)}) <> typeof(l.${q(i)}))`);
  const ids = table.identity.map((id) => `t.${id}`).join(', ');
  const match = db
    .prepare(`SELECT l.${line}, ${ids}${differs.join('')} FROM ${staged} AS l JOIN ${target} AS t ON ${sameKey}`)
    .raw()
    .safeIntegers();
  const matched = new Uint8Array(rows.length);
  const updates = new Map<string, BetterSqlite3.Statement>();
  for (const found of match.all() as LoadValue[][]) {
    const index = Number(found[0]) - 1;
    if (matched[index]) {
      throw new DatabaseError(
        `table ${table.name} has more than one row with the key (${keyOf(index)}) of ${rowName(index)}; the key must be unique in the table (its PRIMARY KEY or a UNIQUE index)`,
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
      update = db.prepare(`UPDATE ${target} SET ${set} WHERE ${table.identity.map((id) => `${id} = ?`).join(' AND ')}`);
      updates.set(signature, update);
    }
    const statement = update;
    namingRow(
      () => rowName(index),
      () => statement.run(...changed.map((i) => rows[index]![i] ?? null), ...identity),
    );
    result.updated++;
  }

  // New keys, in key order: rows of neighbouring keys land on neighbouring pages.
  const insert = db.prepare(`INSERT INTO ${target} (${loaded.map(q).join(', ')}) VALUES (${loaded.map(() => '?').join(', ')})`);
  const inKeyOrder = db
    .prepare(`SELECT ${line} FROM ${staged} ORDER BY ${keyIndexes.map(q).join(', ')}`)
    .pluck()
    .all() as number[];
  for (const position of inKeyOrder) {
    const index = position - 1;
    if (matched[index]) continue;
    namingRow(
      () => rowName(index),
      () => insert.run(...loaded.map((i) => rows[index]![i] ?? null)),
    );
    result.inserted++;
  }
  db.exec(`DROP TABLE ${staged}`);
  return result;
}
