import type BetterSqlite3 from 'better-sqlite3';
import { DatabaseError } from '../errors.js';
import { quoteIdentifier } from './inspect.js';
import type { LoadTableOptions } from './load-options.js';
import { type Column, type LoadValue, columnAffinity, fold, MISMATCH, rowidAlias, textForColumn, typedValue, typeName } from './load-values.js';

export interface TableInfo {
  name: string;
  columns: Column[];
  /** How an UPDATE finds one row: the rowid (under a name no column shadows), or the primary key of a WITHOUT ROWID table. */
  identity: string[];
}

export function readTable(db: BetterSqlite3.Database, name: string): TableInfo {
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
export interface PreparedRows {
  rows: (LoadValue | undefined)[][];
  /** Indexes of the columns loaded: the key, and every column some row gives, in the table's order. */
  loaded: number[];
}

/** Checks every row against the table and converts its values; throws on the first that does not fit. */
export function prepareRows(table: TableInfo, keyIndexes: readonly number[], options: LoadTableOptions, rowName: (index: number) => string): PreparedRows {
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
