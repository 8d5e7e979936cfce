import { readFile } from 'node:fs/promises';
import { text as readStream } from 'node:stream/consumers';
import Database from 'better-sqlite3';
import { Command, InvalidArgumentError, Option } from 'commander';
import { formatDuration } from '@sqlitening/contract';
import { DATABASE_ENV } from '../builder/build.js';
import { formatOfFile, INPUT_FORMATS, type InputFormat, readRows } from '../builder/load-input.js';
import { loadTable } from '../builder/load-table.js';
import { UsageError } from '../errors.js';
import type { Reporter } from './reporter.js';

interface LoadFlags {
  database?: string;
  table: string;
  key: string[];
  format?: InputFormat;
}

/** `id` → `['id']`, `product,version` → `['product', 'version']`. */
function keyArg(value: string): string[] {
  const columns = value.split(',').map((c) => c.trim());
  if (columns.some((c) => c === ''))
    throw new InvalidArgumentError(`expected column names separated by commas (id, or product,version), got ${JSON.stringify(value)}`);
  if (new Set(columns).size !== columns.length) throw new InvalidArgumentError(`a column is named twice in ${JSON.stringify(value)}`);
  return columns;
}

export function loadCommand(reporter: () => Reporter): Command {
  const command = new Command('load')
    .description(
      'Make a table equal to a file with the fewest writes, in one transaction: delete rows whose key vanished, update changed rows, insert new keys in key order, leave unchanged rows unwritten.',
    )
    .argument('<file>', 'the rows: a .jsonl (or .ndjson), .json or .csv file; - reads stdin (give --format)')
    .addOption(new Option('--database <file>', 'the database to load into (inside a build loader: $SQLITENING_DB, set by the build)').env(DATABASE_ENV))
    .requiredOption('--table <name>', 'the table to make equal to the file')
    .requiredOption('--key <columns>', 'the column(s) that identify a row, separated by commas: id, or product,version', keyArg)
    .addOption(new Option('--format <format>', "the file's format (default: from its extension)").choices(INPUT_FORMATS));
  command.addHelpText(
    'after',
    `
Values: JSON numbers, strings and null as they are; true/false as 1/0; objects
and arrays as JSON text. CSV values are text, and become numbers in columns
with INTEGER, REAL or NUMERIC affinity when they are numbers; an empty
unquoted field is NULL ("" is the empty string). Columns the file does not
name are left alone. Nothing is written when any row is wrong.

Examples:
  sqlitening build --migrations db/migrations --loader "sqlitening load --table posts --key id data/posts.jsonl"
  sqlitening load --database site.db --table release_notes --key product,version notes.csv
  curl -s https://cms.example.com/export | sqlitening load --table posts --key slug --format json -`,
  );
  command.action(async (file: string, flags: LoadFlags) => {
    const out = reporter();
    const started = Date.now();
    if (!flags.database) throw new UsageError(`no database: give --database FILE, or set $${DATABASE_ENV} (a build sets it for its loaders)`);
    const format = flags.format ?? (file === '-' ? undefined : formatOfFile(file));
    if (!format) {
      throw new UsageError(
        `cannot tell the format of ${file === '-' ? 'stdin' : JSON.stringify(file)}: expected a .jsonl, .ndjson, .json or .csv file, or --format ${INPUT_FORMATS.join('|')}`,
      );
    }
    let text: string;
    try {
      text = file === '-' ? await readStream(process.stdin) : await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read ${file === '-' ? 'stdin' : file}: ${(error as Error).message}`);
    }
    const input = readRows(text, format);
    let db: Database.Database;
    try {
      db = new Database(flags.database, { fileMustExist: true });
    } catch (error) {
      throw new UsageError(`cannot open the database ${flags.database}: ${(error as Error).message}`);
    }
    let result: ReturnType<typeof loadTable>;
    try {
      result = loadTable(db, { table: flags.table, key: flags.key, ...input });
    } finally {
      db.close();
    }
    const durationMs = Date.now() - started;
    out.result(
      { command: 'load', database: flags.database, file, format, ...result, durationMs },
      `Loaded ${result.table} from ${file === '-' ? 'stdin' : file}: ${result.inserted} inserted, ${result.updated} updated, ` +
        `${result.deleted} deleted, ${result.unchanged} unchanged in ${formatDuration(durationMs)}`,
    );
  });
  return command;
}
