import path from 'node:path';
import { CsvError, parse as parseCsv } from 'csv-parse/sync';
import jsonc from 'jsonc-parser';
import { DatabaseError } from '../errors.js';
import { typeName } from './load-values.js';

/** The file formats `load` reads. */
export const INPUT_FORMATS = ['jsonl', 'json', 'csv'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** The reason code of a file that is not valid JSON lines, JSON or CSV. */
const MALFORMED = 'malformed-input';

const EXTENSIONS: Record<string, InputFormat> = { '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.json': 'json', '.csv': 'csv' };

/** The format a file's extension names (`.jsonl`, `.ndjson`, `.json`, `.csv`), or `undefined`. */
export function formatOfFile(file: string): InputFormat | undefined {
  return EXTENSIONS[path.extname(file).toLowerCase()];
}

/** Rows read from a file, ready for `loadTable`. */
export interface InputRows {
  rows: Record<string, unknown>[];
  /** `text` for CSV: every value is text or null. */
  values: 'typed' | 'text';
  /** Where the row at `index` (0-based) is in the file: `line 12`, `item 3 (line 12)`. */
  rowName: (index: number) => string;
}

/**
 * Reads rows from the text of a file:
 * - `jsonl`: one JSON object per line; blank lines are skipped.
 * - `json`: one array of objects.
 * - `csv`: a header line naming the columns, then one row per record (RFC 4180
 *   quoting); every value is text, except an empty unquoted field, which is
 *   null (`""` is the empty string).
 * A malformed file throws a `DatabaseError` (`malformed-input`) with the line.
 */
export function readRows(text: string, format: InputFormat): InputRows {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  switch (format) {
    case 'jsonl':
      return readJsonLines(body);
    case 'json':
      return readJsonArray(body);
    case 'csv':
      return readCsv(body);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Line and column (1-based) of a character offset. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Where and why `text` is not JSON: JSON.parse does not say where on every
 * Node version, so jsonc-parser (strict: no comments, no trailing commas)
 * finds the first error's offset.
 */
function jsonError(text: string, fallback: string, firstLine = 1): DatabaseError {
  const errors: jsonc.ParseError[] = [];
  jsonc.parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return new DatabaseError(`line ${firstLine}: invalid JSON: ${fallback}`, MALFORMED);
  const { line, column } = lineAndColumn(text, first.offset);
  // `CommaExpected` → `comma expected`
  const why = jsonc
    .printParseErrorCode(first.error)
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
  return new DatabaseError(`line ${line + firstLine - 1}, column ${column}: invalid JSON (${why})`, MALFORMED);
}

function readJsonLines(text: string): InputRows {
  const rows: Record<string, unknown>[] = [];
  const lines: number[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw jsonError(line, (error as Error).message, i + 1);
    }
    if (!isObject(value)) throw new DatabaseError(`line ${i + 1}: expected a JSON object (one row), got ${typeName(value)}`, MALFORMED);
    rows.push(value);
    lines.push(i + 1);
  });
  return { rows, values: 'typed', rowName: (index) => `line ${lines[index]}` };
}

function readJsonArray(text: string): InputRows {
  if (text.trim() === '') throw new DatabaseError('the JSON file is empty: expected an array of objects (one per row)', MALFORMED);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw jsonError(text, (error as Error).message);
  }
  if (!Array.isArray(value)) throw new DatabaseError(`expected a JSON array of objects (one per row), got ${typeName(value)}`, MALFORMED);
  let starts: number[] | undefined;
  const rowName = (index: number) => {
    // The lines where items start, found only when a message needs one.
    starts ??= itemLines(text);
    return `item ${index + 1} (line ${starts[index]})`;
  };
  value.forEach((item, index) => {
    if (!isObject(item)) throw new DatabaseError(`${rowName(index)}: expected a JSON object (one row), got ${typeName(item)}`, MALFORMED);
  });
  return { rows: value, values: 'typed', rowName };
}

/** The line (1-based) where each item of a top-level JSON array starts. */
function itemLines(text: string): number[] {
  const lines: number[] = [];
  let depth = 0;
  const item = (_offset: number, _length: number, line: number) => {
    if (depth === 1) lines.push(line + 1);
  };
  jsonc.visit(text, {
    onObjectBegin: (offset, length, line) => {
      item(offset, length, line);
      depth++;
    },
    onObjectEnd: () => depth--,
    onArrayBegin: (offset, length, line) => {
      item(offset, length, line);
      depth++;
    },
    onArrayEnd: () => depth--,
    onLiteralValue: (_value, offset, length, line) => item(offset, length, line),
  });
  return lines;
}

function readCsv(text: string): InputRows {
  let records: { record: (string | null)[]; info: { lines: number; empty_lines: number } }[];
  try {
    records = parseCsv(text, {
      info: true,
      skip_empty_lines: true,
      // An empty field without quotes is null; "" is the empty string.
      cast: (value, context) => (value === '' && !context.quoting ? null : value),
    }) as unknown as typeof records;
  } catch (error) {
    if (error instanceof CsvError) throw new DatabaseError(`invalid CSV: ${error.message}`, MALFORMED);
    throw error;
  }
  const [header, ...data] = records;
  if (!header) throw new DatabaseError('the CSV file is empty: expected a header line naming the columns', MALFORMED);
  const headerLine = header.info.lines;
  const names = header.record.map((name, i) => {
    if (name === null || name.trim() === '') throw new DatabaseError(`line ${headerLine}: the header names no column for field ${i + 1}`, MALFORMED);
    return name;
  });
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new DatabaseError(`line ${headerLine}: the header names column ${JSON.stringify(name)} twice`, MALFORMED);
    seen.add(name);
  }
  // A record ends on `info.lines`; it starts after the previous one and the empty lines skipped since.
  const lines = data.map(({ info }, i) => {
    const previous = i === 0 ? header.info : data[i - 1]!.info;
    return previous.lines + 1 + (info.empty_lines - previous.empty_lines);
  });
  const rows = data.map(({ record }) => Object.fromEntries(names.map((name, i) => [name, record[i]])));
  return { rows, values: 'text', rowName: (index) => `line ${lines[index]}` };
}
