import Database from 'better-sqlite3';
import { chmodSync, lstatSync, mkdirSync, readFileSync, realpathSync, truncateSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { LockedError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';

/**
 * Lock files held by this process, by real path. A POSIX record lock belongs
 * to the process, not to a handle: a second holder in the same process would
 * not be refused by the kernel, and closing any descriptor of the file would
 * drop the lock for both. So the file is opened at most once per process, and
 * a second `acquireLock` on it is refused here.
 */
const held = new Map<string, string>();

/** What the holder file records: only for the refusal message, never to decide anything. */
const me = (): string => `${process.pid}@${hostname()}`;

function recordedHolder(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim() || 'unknown';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'unknown';
    throw error;
  }
}

function isSqliteCode(error: unknown, code: string): boolean {
  return (error as { code?: unknown })?.code === code;
}

/**
 * Takes the data folder's lock for as long as the process lives, or throws
 * `LockedError` naming the holder.
 *
 * The lock is SQLite's exclusive lock (a POSIX `fcntl` record lock) on
 * `lockFile`, an empty SQLite database, held in an open `BEGIN EXCLUSIVE`
 * transaction. The kernel drops it when the process ends however it ends
 * (`kill -9`, OOM kill), whatever its pid or host name, so a lock is never
 * stale and two processes racing for it cannot both win. `holderFile`
 * records `pid@host` for the message a refused agent prints.
 *
 * The lock file is never removed: a process that opened it just before the
 * removal could lock the removed file while another locks a new one.
 * It stays empty (nothing is ever written in the transaction); a file left by
 * an agent that kept `pid@host` in it is emptied first.
 */
export async function acquireLock(lockFile: string, holderFile: string, folder: string): Promise<() => Promise<void>> {
  // Synchronous up to `held.set`: two calls in this process cannot interleave between the check and the lock.
  // The agent's own folder, which only its user may enter: what it stages there is not for other users.
  const own = path.dirname(lockFile);
  mkdirSync(own, { recursive: true, mode: 0o700 });
  const stats = lstatSync(own);
  if (!stats.isDirectory()) throw new UsageError(`${own} must be the agent's own folder; found a symbolic link or another kind of file`);
  if ((stats.mode & 0o077) !== 0) chmodSync(own, 0o700);
  const key = path.join(realpathSync(path.dirname(lockFile)), path.basename(lockFile));
  const holder = held.get(key);
  if (holder !== undefined) throw new LockedError(folder, `${holder}, in this process`);

  let db: Database.Database | undefined;
  for (let attempt = 0; ; attempt++) {
    // timeout 0: a busy lock is an answer (another live holder), not something to wait for.
    db = new Database(key, { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      // No journal file: nothing is ever written, and a kill -9 would leave one behind.
      db.pragma('journal_mode = MEMORY');
      db.exec('BEGIN EXCLUSIVE');
      break;
    } catch (error) {
      db.close();
      if (isSqliteCode(error, 'SQLITE_BUSY')) throw new LockedError(folder, recordedHolder(holderFile));
      // Not a database: the `pid@host` text an earlier version kept in the lock file. Emptying it
      // cannot harm a holder: a held lock file is always empty, and locks do not depend on content.
      if (attempt === 0 && isSqliteCode(error, 'SQLITE_NOTADB')) {
        truncateSync(key, 0);
        continue;
      }
      throw error;
    }
  }
  const lock = db;
  const identity = me();
  held.set(key, identity);

  let released: Promise<void> | undefined;
  const release = (): Promise<void> => {
    released ??= (async () => {
      try {
        // Removed while still held, so it never names the next holder wrongly.
        await rm(holderFile, { force: true });
      } finally {
        // Closing ends the transaction and drops the kernel lock; only then may this process take it again.
        lock.close();
        held.delete(key);
      }
    })();
    return released;
  };
  try {
    await writeFileAtomic(holderFile, `${identity}\n`);
  } catch (error) {
    // The write's error is the one to report; releasing only removes what this call made.
    await release().catch(() => {});
    throw error;
  }
  return release;
}
