import { constants } from 'node:fs';
import { type FileHandle, lstat, open, rm } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { DatabaseError } from '../errors.js';
import { JOURNAL_MAGIC, journalPath } from './rollback-journal.js';

/**
 * Finishes what an install killed mid-way left: a hot journal is rolled back by SQLite itself (a
 * connection that reads the file does it), which makes the live file the snapshot it was before; a
 * journal that never became valid is removed. Run at the agent's start and every run, after a failed
 * install, and before `pull` writes a file an agent may have left so.
 */
export async function rollBackInterruptedInstall(live: string): Promise<'none' | 'rolled-back' | 'removed'> {
  const journalFile = journalPath(live);
  const first = await readJournalMagic(journalFile);
  if (first === null) return 'none';
  if (first.equals(JOURNAL_MAGIC) && (await lstat(live).catch(() => null)) !== null) {
    const db = new Database(live, { fileMustExist: true, timeout: 5_000 });
    try {
      db.prepare('SELECT count(*) FROM sqlite_schema').get();
    } finally {
      db.close();
    }
    // An app connection that rolled it back first in journal_mode=PERSIST or TRUNCATE leaves it zeroed or empty.
    if ((await readJournalMagic(journalFile))?.equals(JOURNAL_MAGIC)) {
      throw new DatabaseError(
        `${journalFile} is still hot after SQLite read the database: the interrupted install could not be rolled back`,
        'rollback-failed',
      );
    }
    return 'rolled-back';
  }
  await rm(journalFile, { force: true });
  return 'removed';
}

async function readJournalMagic(file: string): Promise<Buffer | null> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const magic = Buffer.alloc(JOURNAL_MAGIC.length);
    await handle.read(magic, 0, magic.length, 0);
    return magic;
  } finally {
    await handle.close();
  }
}
