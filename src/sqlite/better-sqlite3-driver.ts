import Database from 'better-sqlite3';
import type { SqliteDatabase, SqliteDriver, SqliteRow, SqliteValue } from './driver.js';

/**
 * better-sqlite3: a native addon compiled for the running Node, which is why
 * the Action (bundled once, run on any runner) uses `node:sqlite` instead.
 * Its connections already enforce foreign keys and refuse double-quoted
 * string literals (compile-time defaults), with a 5 s busy timeout.
 */
export const betterSqlite3Driver: SqliteDriver = {
  name: 'better-sqlite3',
  open(file, options = {}): SqliteDatabase {
    const db = options.readOnly ? new Database(file, { readonly: true, fileMustExist: true }) : new Database(file);
    return {
      exec: (sql) => db.exec(sql),
      prepare: (sql) => db.prepare<SqliteValue[], SqliteRow>(sql),
      get inTransaction() {
        return db.inTransaction;
      },
      close: () => db.close(),
    };
  },
};
