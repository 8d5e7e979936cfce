import Database from 'better-sqlite3';
import { randomInt } from 'node:crypto';
import { constants, fstatSync, readSync, writeSync } from 'node:fs';
import { type FileHandle, lstat, open, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '@sqlitening/contract';
import { ChecksumMismatchError, DatabaseError, ReadersBusyError, TooLargeError } from '../errors.js';
import { failpoint } from '../failpoint.js';
import { fsyncPath } from '../fs-atomic.js';
import { rollBackInterruptedInstall } from '../sqlite/hot-journal.js';
import { hashChunk } from '../wire/chunk-hashes.js';
import type { PageHashFile } from '../transfer/page-hash-file.js';
import {
  changeCounter,
  JOURNAL_SECTOR_SIZE,
  type JournalHeader,
  journalHeader,
  journalPath,
  journalRecordSize,
  lockBytePage,
  sealJournalRecord,
} from '../sqlite/rollback-journal.js';

/*
 * Installs a snapshot into the live file itself, as one SQLite write transaction would: under SQLite's
 * EXCLUSIVE lock, with a rollback journal of every page it overwrites made durable before the first of
 * them is written, and the header's change counter raised. So every connection an app holds, opened at any
 * install, through any driver, reads one whole snapshot per transaction:
 * - a connection inside a read transaction holds SHARED, so the install waits for it to end (and from its
 *   first attempt keeps new transactions from starting, as SQLite's PENDING lock does);
 * - a connection between transactions finds a new change counter at its next one and drops its cache;
 * - if the agent dies at any byte, its locks go with it, and the next connection that opens the file
 *   finds the journal hot and puts every page back before it reads (a read-only one gets
 *   SQLITE_READONLY_ROLLBACK until the agent's next start rolls it back): never a torn page.
 * Only pages already proven by the manifest's root are written here: the caller proved the whole new file
 * (base hashes with the new pages' hashes) before, and each page is hashed again as it is written.
 */

/** How long an install waits for readers to end their transactions; then the run fails (`readers-busy`) and is tried again. */
export const READER_WAIT_MS = 10_000;
/** One attempt to take the lock: SQLite's busy handler waits this long, then as long without it. */
const LOCK_ATTEMPT_MS = 50;
/** Records written to the journal (and pages to the file) per write call. */
const BATCH_PAGES = 64;
/** Bytes written between turns of the event loop. */
const TURN_EVERY_BYTES = 4 * 1024 * 1024;

/** The pages that make the live file the new snapshot. */
export interface PageChange {
  pageSize: number;
  /** The new file's length in bytes (a whole number of pages). */
  size: number;
  /** Indexes (from 0) of the pages whose bytes change, ascending. Pages past the new length need not be listed. */
  pages: readonly number[];
  /** Reads the new bytes of page `index` into `into` (one page long). */
  read: (index: number, into: Buffer) => void;
  /** The new file's page hashes, proven by the manifest's root: each page is checked against its own before it is written. */
  hashes: PageHashFile;
}

/**
 * The new snapshot cannot go into the live file in place (its layout differs, or its header would not tell
 * connections to drop their caches); the caller renames a new file over it instead.
 */
export class InPlaceRefused extends Error {
  override name = 'InPlaceRefused';
}

/**
 * Writes `change` into `live` in one journaled transaction (see above). Throws {@link InPlaceRefused},
 * with the live file untouched, when the new snapshot cannot go in place: the live name is not a regular
 * file, or the page size, text encoding or reserved bytes per page differ, or the change counter does not
 * rise. Throws other errors, also with the live file untouched, when it must not be written now: readers
 * that keep a transaction open past `readerWaitMs` (`readers-busy`, retried), a live file an app switched
 * to WAL mode, too little disk for the journal. A failure after the journal was made is rolled back by
 * SQLite from the journal before this throws; if even that fails, the error says so and nothing may
 * replace the live file until it is (the journal would be played onto the replacement).
 */
export async function writeInPlace(
  live: string,
  change: PageChange,
  options: { readerWaitMs?: number | undefined; signal?: AbortSignal | undefined } = {},
): Promise<void> {
  const { pageSize } = change;
  const stats = await lstat(live);
  if (!stats.isFile()) throw new InPlaceRefused(`${live} is not a regular file`);
  // The live file holds these bytes already (a crash after an install's commit, before its state was saved).
  if (change.pages.length === 0 && stats.size === change.size) return;
  const newPage1 = Buffer.alloc(pageSize);
  change.read(0, newPage1);
  const handle = await open(live, constants.O_RDWR | constants.O_NOFOLLOW);
  let lock: Database.Database | undefined;
  let journal: FileHandle | undefined;
  let journalMade = false;
  try {
    const header = Buffer.alloc(100);
    readSync(handle.fd, header, 0, header.length, 0);
    checkLiveHeader(live, header, stats.size, newPage1, (await lstat(`${live}-wal`).catch(() => null)) !== null);
    const originalPages = stats.size / pageSize;
    const newPages = change.size / pageSize;
    const journaled = journalPages(change.pages, originalPages, newPages, pageSize);
    const journalBytes = JOURNAL_SECTOR_SIZE + journaled.length * journalRecordSize(pageSize);
    await checkJournalRoom(live, journalBytes + Math.max(0, change.size - stats.size));

    lock = new Database(live, { fileMustExist: true });
    await lockExclusively(lock, options.readerWaitMs ?? READER_WAIT_MS, options.signal);
    // Taking the lock rolls back a hot journal first; the live file must still be the one read above.
    const locked = fstatSync(handle.fd);
    if (locked.ino !== (await stat(live)).ino || locked.size !== stats.size || locked.mtimeMs !== stats.mtimeMs) {
      throw new Error(
        `${live} changed while the install waited for its lock (an interrupted install rolled back, or another writer); tried again at the next run`,
      );
    }

    const journalFile = journalPath(live);
    await rm(journalFile, { force: true }); // not hot (taking the lock would have rolled it back): a leftover
    journal = await open(journalFile, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, stats.mode & 0o777);
    journalMade = true;
    const nonce = randomInt(0, 2 ** 32);
    const head = { records: journaled.length, nonce, originalPages, pageSize };
    await writeJournal(journal, handle.fd, head, journaled);
    failpoint('install-journal-written');
    // The records are durable before the header makes them count; the header before any page is written.
    await journal.sync();
    writeFully(journal.fd, journalHeader(head, true), 0, 'the journal header');
    await journal.sync();
    await fsyncPath(path.dirname(live));
    failpoint('install-journaled');

    await writePages(handle.fd, change, newPages);
    await handle.truncate(change.size);
    await handle.sync();
    failpoint('install-written');
    // The commit: without its journal the file is the new snapshot, as with SQLite's journal_mode=DELETE.
    await journal.close();
    journal = undefined;
    await rm(journalFile);
    await fsyncPath(path.dirname(live));
    failpoint('install-committed');
  } catch (error) {
    await release(lock, handle, journal);
    lock = undefined;
    // SQLite's own rollback, from the journal if it was made durable; a journal not yet valid is removed.
    if (journalMade) {
      try {
        await rollBackInterruptedInstall(live);
      } catch (rollback) {
        throw new DatabaseError(`${(error as Error).message}; then ${(rollback as Error).message}`, 'rollback-failed');
      }
    }
    throw error;
  }
  await release(lock, handle, journal);
}

/**
 * Refuses a live file whose header says the new snapshot cannot go in place ({@link InPlaceRefused}), or
 * that must not be written at all: in WAL mode (an app ran `PRAGMA journal_mode=WAL` on it) readers keep
 * no rollback-journal rules, not the lock, not the change counter, and only a person can put that right.
 */
function checkLiveHeader(live: string, header: Buffer, size: number, newPage1: Buffer, walExists: boolean): void {
  const pageSize = newPage1.length;
  if (header[18] !== 1 || header[19] !== 1 || walExists) {
    throw new DatabaseError(
      `${live} is in WAL mode (a connection ran PRAGMA journal_mode=WAL on it); installs write it in rollback-journal mode only. Open it read-only, then remove it (and its -wal and -shm files) so that the agent installs it again`,
      'live-file-wal',
    );
  }
  const livePageSize = header.readUInt16BE(16) === 1 ? 65_536 : header.readUInt16BE(16);
  if (livePageSize !== pageSize) throw new InPlaceRefused(`the live file has pages of ${livePageSize} bytes, the new snapshot ${pageSize}`);
  if (size % pageSize !== 0) throw new InPlaceRefused(`the live file's length (${size}) is not a whole number of pages`);
  // A connection reads these once, with the schema: a new text encoding or reserved space under it would be misread.
  if (header[20] !== newPage1[20] || header.readUInt32BE(56) !== newPage1.readUInt32BE(56)) {
    throw new InPlaceRefused('the new snapshot has another text encoding or reserved bytes per page than the live file');
  }
  // Every connection keeps its cached pages while the header's bytes 24–39 stay as it last read them: the
  // counter must rise past every value this file has had. Installs only ever raise it, so past the current one.
  if (!(changeCounter(newPage1) > changeCounter(header))) {
    throw new InPlaceRefused(
      `the new snapshot's change counter (${changeCounter(newPage1)}) does not exceed the live file's (${changeCounter(header)}), so open connections would keep pages they cached`,
    );
  }
}

/** Refuses an install whose journal (and growth) the live file's disk cannot hold: nothing is written yet. */
async function checkJournalRoom(live: string, bytes: number): Promise<void> {
  const fs = await statfs(path.dirname(live));
  if (fs.bavail * fs.bsize < bytes) {
    throw new TooLargeError(
      `the install's journal needs ${formatBytes(bytes)}, and ${path.dirname(live)} has ${formatBytes(fs.bavail * fs.bsize)} free`,
      'disk-full',
    );
  }
}

/**
 * Ends the lock's transaction before any descriptor of the file closes (closing one drops the process's
 * locks on it), and closes everything whatever fails: a lock left held would stop every reader.
 */
async function release(lock: Database.Database | undefined, handle: FileHandle, journal: FileHandle | undefined): Promise<void> {
  try {
    if (lock?.inTransaction) lock.exec('ROLLBACK');
  } finally {
    await journal?.close().catch(() => {});
    await handle.close().catch(() => {});
    lock?.close();
  }
}

/**
 * The pages (from 0) whose current bytes go into the journal, ascending: those the change overwrites and
 * those a shorter file drops, all within the current length; never the lock-byte page (SQLite stores
 * nothing there, and a rollback stops at a record for it).
 */
function journalPages(pages: readonly number[], originalPages: number, newPages: number, pageSize: number): number[] {
  const lockPage = lockBytePage(pageSize) - 1;
  const list = pages.filter((page) => page < Math.min(originalPages, newPages));
  for (let page = newPages; page < originalPages; page++) list.push(page);
  return list.filter((page) => page !== lockPage);
}

/** The header, not yet valid, and a record of each page's current bytes. */
async function writeJournal(journal: FileHandle, liveFd: number, head: JournalHeader, pages: readonly number[]): Promise<void> {
  const { pageSize, nonce } = head;
  writeFully(journal.fd, journalHeader(head, false), 0, 'the journal header');
  const recordSize = journalRecordSize(pageSize);
  const batch = Buffer.allocUnsafe(Math.min(pages.length, BATCH_PAGES) * recordSize);
  let offset = JOURNAL_SECTOR_SIZE;
  let sinceTurn = 0;
  for (let i = 0; i < pages.length; i += BATCH_PAGES) {
    const group = pages.slice(i, i + BATCH_PAGES);
    for (const [k, page] of group.entries()) {
      const record = batch.subarray(k * recordSize, (k + 1) * recordSize);
      const bytesRead = readSync(liveFd, record, 4, pageSize, page * pageSize);
      if (bytesRead !== pageSize) throw new Error(`short read of the live file's page ${page}: ${bytesRead} of ${pageSize} bytes`);
      sealJournalRecord(record, page + 1, nonce, pageSize);
    }
    writeFully(journal.fd, batch.subarray(0, group.length * recordSize), offset, 'the journal');
    offset += group.length * recordSize;
    sinceTurn += group.length * recordSize;
    if (sinceTurn >= TURN_EVERY_BYTES) {
      sinceTurn = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

async function writePages(liveFd: number, change: PageChange, newPages: number): Promise<void> {
  const { pageSize } = change;
  const page = Buffer.allocUnsafe(pageSize);
  const inFile = change.pages.filter((index) => index < newPages);
  const proven = change.hashes.reader();
  try {
    let sinceTurn = 0;
    for (const [n, index] of inFile.entries()) {
      change.read(index, page);
      const expected = proven.hashAt(index);
      const actual = hashChunk(page);
      if (!expected || !actual.equals(expected))
        throw new ChecksumMismatchError(`page ${index} of the new snapshot`, expected?.toString('hex') ?? 'a page of the list', actual.toString('hex'));
      writeFully(liveFd, page, index * pageSize, `page ${index} of the live file`);
      if (n === inFile.length >> 1) failpoint('install-half-written');
      sinceTurn += pageSize;
      if (sinceTurn >= TURN_EVERY_BYTES) {
        sinceTurn = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  } finally {
    proven.close();
  }
}

function writeFully(fd: number, bytes: Buffer, position: number, what: string): void {
  const written = writeSync(fd, bytes, 0, bytes.length, position);
  if (written !== bytes.length) throw new Error(`short write of ${what}: ${written} of ${bytes.length} bytes`);
}

/**
 * Takes SQLite's EXCLUSIVE lock on the live file, waiting for readers to end their transactions. Each
 * attempt lets SQLite's busy handler wait a little while holding PENDING (new transactions wait, as they
 * do for any SQLite writer), then lets go as long again: the event loop gets its turns (the health
 * server, heartbeats), and a reader whose busy timeout is short (`node:sqlite`'s is 0) is not refused
 * for the whole wait.
 */
async function lockExclusively(db: Database.Database, waitMs: number, signal: AbortSignal | undefined): Promise<void> {
  db.pragma(`busy_timeout = ${LOCK_ATTEMPT_MS}`);
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      db.exec('BEGIN EXCLUSIVE');
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
      signal?.throwIfAborted();
      if (Date.now() > until) throw new ReadersBusyError(db.name, waitMs);
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_ATTEMPT_MS));
  }
}
