import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface SnapshotReaderOptions {
  /**
   * How often, at most, to look for a swapped file (one `stat`). Between
   * checks reads use the open handle. @default 100
   */
  checkIntervalMs?: number;
  /** Called after each reopen on a new snapshot. */
  onSwap?: (info: { inode: number; reopens: number }) => void;
}

/**
 * A read-only better-sqlite3 handle on the live database. The agent writes
 * each new snapshot into the live file under SQLite's own lock and journal,
 * so any handle (this one or a plain `new Database(path)`) reads one whole
 * snapshot per transaction and the newest at its next one. Where the agent
 * had to put a new file in place instead (the first install, a page size
 * change), a plain handle keeps reading the old file; this one notices (the
 * file's inode changed) and reopens at its next read.
 *
 * Use `read(db => …)` for everything one request reads, and read inside one
 * transaction (`db.transaction(fn)()`) when several statements must see the
 * same snapshot: as with any SQLite database, an install may land between
 * two statements. Do not keep statements or iterators across `read` calls;
 * prepare them inside, or cache them per handle (see `handle`).
 */
export class SnapshotReader {
  readonly #path: string;
  readonly #interval: number;
  readonly #onSwap: SnapshotReaderOptions['onSwap'];
  #db: Database.Database | undefined;
  #inode = -1;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #reopens = 0;
  readonly #transactions = new WeakMap<Database.Database, (run: (db: Database.Database) => unknown) => unknown>();

  constructor(path: string, options: SnapshotReaderOptions = {}) {
    this.#path = path;
    this.#interval = options.checkIntervalMs ?? 100;
    this.#onSwap = options.onSwap;
  }

  /** Times the reader opened a new snapshot (the first open included). */
  get reopens(): number {
    return this.#reopens;
  }

  /** The current handle, reopened first if the file was swapped. */
  handle(): Database.Database {
    const now = performance.now();
    if (this.#db && now - this.#checkedAt < this.#interval) return this.#db;
    this.#checkedAt = now;
    let inode: number;
    try {
      inode = statSync(this.#path).ino;
    } catch (error) {
      if (this.#db) return this.#db; // keep serving the last snapshot rather than fail a request
      throw new Error(`no database at ${this.#path} yet (is the agent running?): ${(error as Error).message}`);
    }
    if (this.#db && inode === this.#inode) return this.#db;
    const next = new Database(this.#path, { readonly: true, fileMustExist: true });
    const previous = this.#db;
    this.#db = next;
    this.#inode = inode;
    this.#reopens++;
    // Synchronous API: no statement of this process can be running on the old handle now.
    previous?.close();
    if (previous) this.#onSwap?.({ inode, reopens: this.#reopens });
    return next;
  }

  /** Runs `fn` in one read transaction (so against one snapshot) and returns its result; `fn` must not be async. */
  read<T>(fn: (db: Database.Database) => T): T {
    const db = this.handle();
    let transaction = this.#transactions.get(db);
    if (!transaction) {
      transaction = db.transaction((run: (db: Database.Database) => unknown) => run(db));
      this.#transactions.set(db, transaction);
    }
    return transaction(fn) as T;
  }

  close(): void {
    this.#db?.close();
    this.#db = undefined;
  }
}
