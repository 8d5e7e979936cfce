import { DatabaseError } from '../errors.js';

/** A value as SQLite stores it. */
export type LoadValue = null | number | bigint | string | Buffer;

/** The reason code of rows that do not fit the table. */
export const MISMATCH = 'load-mismatch';

export type Affinity = 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC';

export interface Column {
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
export function typedValue(value: unknown, where: () => string): LoadValue | undefined {
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
export const fold = (name: string) => name.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());

/** `product "Edge", version "1.2.0"`, each value cut to 60 characters. */
export function describeKey(columns: readonly Column[], values: readonly LoadValue[]): string {
  return columns
    .map((column, i) => {
      const value = values[i];
      const shown = JSON.stringify(typeof value === 'bigint' || Buffer.isBuffer(value) ? String(value) : value);
      return `${column.name} ${shown.length > 60 ? `${shown.slice(0, 57)}…` : shown}`;
    })
    .join(', ');
}

export function isConstraintError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT');
}

/** Runs `write`, naming the row in a constraint failure (NOT NULL, CHECK, UNIQUE, FOREIGN KEY): the data does not fit. */
export function namingRow<T>(what: () => string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    if (isConstraintError(error)) throw new DatabaseError(`${what()}: ${(error as Error).message}`, MISMATCH);
    throw error;
  }
}

/** A name for the rowid that no column shadows (`rowid`, `_rowid_` or `oid`), if one is left. */
export function rowidAlias(columnNames: readonly string[]): string | undefined {
  const folded = new Set(columnNames.map(fold));
  return ['rowid', '_rowid_', 'oid'].find((alias) => !folded.has(alias));
}
