import type { SqliteDatabase, SqliteDriver, SqliteRow, SqliteValue } from './driver.js';

/** The part of `node:sqlite` used here; this project compiles against Node 20's types, which have none. */
interface NodeSqlite {
  DatabaseSync: new (
    file: string,
    options: { readOnly: boolean; timeout: number; enableForeignKeyConstraints: boolean; enableDoubleQuotedStringLiterals: boolean },
  ) => DatabaseSync;
}

interface DatabaseSync {
  exec(sql: string): void;
  prepare(sql: string): {
    get(...params: SqliteValue[]): SqliteRow | undefined;
    all(...params: SqliteValue[]): SqliteRow[];
    run(...params: SqliteValue[]): unknown;
  };
  /** Since Node 22.16 and 24.0. */
  readonly isTransaction: boolean | undefined;
  close(): void;
}

const NEEDS = 'the node:sqlite driver needs Node 22.16 or newer';

let loaded: NodeSqlite | undefined;

/**
 * Loads `node:sqlite` on first use rather than by an `import` statement, so
 * that importing this module works on any Node (the library is built for
 * Node 20) and so that a bundler leaves it to the runtime.
 */
function nodeSqlite(): NodeSqlite {
  loaded ??= withoutSqliteExperimentalWarning(() => process.getBuiltinModule?.('node:sqlite') as NodeSqlite | undefined);
  if (!loaded) throw new Error(`${NEEDS}; this is Node ${process.versions.node}`);
  return loaded;
}

/**
 * Runs `load` with one warning dropped: the ExperimentalWarning some Node
 * releases print (two lines on stderr, in every Action log) when `node:sqlite`
 * is first loaded. Any other warning, and that one outside `load`, is emitted as usual.
 */
export function withoutSqliteExperimentalWarning<T>(load: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]): void => {
    const [typeOrOptions] = rest;
    const type =
      warning instanceof Error ? warning.name : typeof typeOrOptions === 'string' ? typeOrOptions : (typeOrOptions as { type?: unknown } | undefined)?.type;
    const message = warning instanceof Error ? warning.message : String(warning);
    if (type === 'ExperimentalWarning' && message.startsWith('SQLite is an experimental feature')) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return load();
  } finally {
    process.emitWarning = emitWarning;
  }
}

/**
 * Node's built-in SQLite: no native addon to ship, so the bundled Action runs
 * on every GitHub runner (Linux, macOS, Windows; x64 and arm64). Opened as
 * better-sqlite3 opens: foreign keys enforced, double-quoted string literals
 * refused, a 5 s busy timeout; integers are read as numbers.
 */
export const nodeSqliteDriver: SqliteDriver = {
  name: 'node:sqlite',
  open(file, options = {}): SqliteDatabase {
    const { DatabaseSync } = nodeSqlite();
    const db = new DatabaseSync(file, {
      readOnly: options.readOnly === true,
      timeout: 5000,
      enableForeignKeyConstraints: true,
      enableDoubleQuotedStringLiterals: false,
    });
    if (typeof db.isTransaction !== 'boolean') {
      db.close();
      throw new Error(`${NEEDS} (for DatabaseSync.isTransaction); this is Node ${process.versions.node}`);
    }
    return {
      exec: (sql) => db.exec(sql),
      prepare: (sql) => db.prepare(sql),
      get inTransaction() {
        return db.isTransaction === true;
      },
      close: () => db.close(),
    };
  },
};
