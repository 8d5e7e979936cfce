import Database from 'better-sqlite3';
import { readSync, writeSync } from 'node:fs';
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import type { DeltaInfo, Manifest } from '@sqlitening/contract';
import { z } from 'zod';
import { failpoint } from '../failpoint.js';
import { fsyncPath, writeFileAtomic } from '../fs-atomic.js';
import { applyDelta, type WrittenDelta, writeDeltaPages } from '../snapshot/apply-delta.js';
import { withDeadline } from '../snapshot/deadline.js';
import type { TransferLimits } from '../snapshot/transfer-limits.js';
import type { ObjectStore } from '../store/object-store.js';
import type { AgentPaths } from './paths.js';

/*
 * The standby: the file that was live before the last install, kept (as a
 * second name of its inode) instead of deleted. It differs from the live
 * file only in the pages the last delta wrote, so the next delta is applied
 * to it in place: first those pages copied from the live file ("catch up"),
 * then the new delta's pages, then it is renamed over the live file and the
 * old live file becomes the standby. Work and fsync follow the pages that
 * changed, not the file's size, and need no reflinks.
 *
 * Readers: the standby was live two installs ago. A reader still inside a
 * read transaction on it holds SQLite's shared lock; the patch takes SQLite's
 * exclusive lock first (waiting for such readers), so no reader sees it half
 * patched, and one that starts a read meanwhile waits for the lock.
 * Crashes: the standby's record is removed before its first byte is written
 * and written again only after the swap, so a crash anywhere leaves the live
 * file as it was (renames are atomic) and a standby that the next start
 * throws away.
 * Cost: the data folder holds two copies of the database between installs.
 */

const standbySchema = z.object({
  /** The live file's SHA-256 the standby becomes once `catchUp` pages are copied from it. */
  sha256: z.string(),
  pageSize: z.number().int().positive(),
  /** Pages (numbers) in which the standby differs from the live file, besides its length. */
  catchUp: z.array(z.number().int().nonnegative()),
  /** Inode, size and mtime of the standby when recorded: any write to it since shows here. */
  identity: z.string(),
});
type StandbyRecord = z.output<typeof standbySchema>;

/** Longest run of neighbouring pages copied in one read and write. */
const MAX_RUN_PAGES = 256;
/** Bytes copied between turns of the event loop. */
const TURN_EVERY_BYTES = 4 * 1024 * 1024;

/** How long the patch waits for readers still inside a transaction on the standby; then the delta goes to a copy. */
const READER_WAIT_MS = 5_000;

async function identityOf(file: string): Promise<string> {
  const stats = await stat(file, { bigint: true });
  return `${stats.ino}:${stats.size}:${stats.mtimeNs}`;
}

async function readRecord(paths: AgentPaths): Promise<StandbyRecord | null> {
  try {
    return standbySchema.parse(JSON.parse(await readFile(paths.standbyRecord, 'utf8')));
  } catch {
    return null;
  }
}

/** Removes the standby and its record: after a full install, or when the record is missing or stale. */
export async function discardStandby(paths: AgentPaths): Promise<void> {
  await rm(paths.standbyRecord, { force: true });
  await rm(paths.standby, { force: true });
  await rm(paths.standbyNext, { force: true });
}

/** At the agent's start: a standby without a valid record (a crash mid-patch, an older agent) is removed. */
export async function discardUntrustedStandby(paths: AgentPaths): Promise<void> {
  const record = await readRecord(paths);
  const identity = await identityOf(paths.standby).catch(() => null);
  if (!record || identity !== record.identity) await discardStandby(paths);
  else await rm(paths.standbyNext, { force: true });
}

export interface StandbyDeltaOptions {
  store: ObjectStore;
  manifest: Manifest;
  delta: DeltaInfo;
  /** The live file's manifest (the delta's base). */
  installed: Manifest;
  baseHashes: Buffer;
  limits: TransferLimits;
  verify: (file: string) => Promise<void>;
  onProgress?: ((bytes: number) => void) | undefined;
}

/**
 * Installs a delta over the live file: on the standby in place when it is
 * one catch-up away from the live file, else on a copy of the live file (the
 * first delta after a full download); either way the replaced live file is
 * kept as the next standby.
 */
export async function applyDeltaWithStandby(paths: AgentPaths, options: StandbyDeltaOptions): Promise<WrittenDelta & { inPlace: boolean }> {
  const record = await readRecord(paths);
  const usable =
    record !== null &&
    record.sha256 === options.installed.database.sha256 &&
    record.pageSize === options.manifest.chunks?.size &&
    (await identityOf(paths.standby).catch(() => null)) === record.identity;
  if (usable) {
    try {
      return { ...(await patchStandby(paths, record, options)), inPlace: true };
    } catch (error) {
      // A reader still holds the old file (a handle with no reads since the swap): a copy instead.
      if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    }
  }

  // No usable standby: a copy of the live file, as pull does; the live file becomes the standby.
  await discardStandby(paths);
  await link(paths.database, paths.standbyNext);
  try {
    const written = await applyDelta({ ...options, base: paths.database, destination: paths.database });
    await keepOrDiscard(paths, options.manifest, written.pages);
    return { ...written, inPlace: false };
  } catch (error) {
    await rm(paths.standbyNext, { force: true });
    throw error;
  }
}

/** After the swap: the old live file (linked as `standbyNext`) becomes the standby, `pages` behind the new live file. */
async function keepAsStandby(paths: AgentPaths, manifest: Manifest, pages: number[]): Promise<void> {
  await rename(paths.standbyNext, paths.standby);
  await fsyncPath(paths.meta);
  const record: StandbyRecord = {
    sha256: manifest.database.sha256,
    pageSize: manifest.chunks!.size,
    catchUp: pages,
    identity: await identityOf(paths.standby),
  };
  await writeFileAtomic(paths.standbyRecord, `${JSON.stringify(record)}\n`);
}

async function patchStandby(paths: AgentPaths, record: StandbyRecord, options: StandbyDeltaOptions): Promise<WrittenDelta> {
  const what = `delta ${options.delta.key} (in place)`;
  // From here until the swap the standby is not trusted: a crash leaves it to be thrown away. The folder is
  // synced so that the record's removal reaches the disk before any page of the standby does.
  await rm(paths.standbyRecord, { force: true });
  await fsyncPath(paths.meta);
  failpoint('standby-untrusted');
  const lock = new Database(paths.standby, { fileMustExist: true });
  let written: WrittenDelta;
  try {
    await lockExclusively(lock, options.limits.signal);
    const handle = await open(paths.standby, 'r+');
    const touched: number[] = [];
    try {
      written = await withDeadline(what, options.limits.deadlineMs, options.limits.signal, async (signal) => {
        await copyPages(handle, paths.database, record.catchUp, record.pageSize);
        failpoint('standby-caught-up');
        return writeDeltaPages(handle, { ...options, signal, stallTimeoutMs: options.limits.stallTimeoutMs, written: touched });
      });
      failpoint('standby-patched');
      await handle.sync();
    } catch (error) {
      // A reader that still holds this inode open must not find it half patched once the lock goes:
      // every page written is copied back from the live file, which makes it that (whole) snapshot.
      await copyPages(handle, paths.database, [...record.catchUp, ...touched], record.pageSize).catch(() => {});
      lock.exec('ROLLBACK');
      await handle.close();
      throw error;
    }
    // Nothing was written through SQLite: ending the transaction only releases the lock. The file
    // handle is closed after that, since closing any descriptor drops the process's locks on the file.
    lock.exec('ROLLBACK');
    await handle.close();
    // Checked once the lock is released: `quick_check` opens the file with a connection of its own.
    await options.verify(paths.standby);
  } catch (error) {
    lock.close();
    await discardStandby(paths);
    throw error;
  }
  lock.close();
  // The swap: the live file gets a second name, the patched standby takes the live name (atomic for
  // readers), and the old live file becomes the standby.
  failpoint('standby-verified');
  await rm(paths.standbyNext, { force: true });
  await link(paths.database, paths.standbyNext);
  failpoint('standby-next-linked');
  await rename(paths.standby, paths.database);
  failpoint('standby-swapped');
  await fsyncPath(paths.folder);
  await keepOrDiscard(paths, options.manifest, written.pages);
  failpoint('standby-kept');
  return written;
}

/**
 * Takes SQLite's exclusive lock on the standby, waiting for readers still inside a transaction on it. Polled
 * with no busy timeout, so the wait never blocks this thread (the health server, heartbeats).
 */
async function lockExclusively(db: Database.Database, signal: AbortSignal | undefined): Promise<void> {
  db.pragma('busy_timeout = 0');
  const until = Date.now() + READER_WAIT_MS;
  for (;;) {
    try {
      db.exec('BEGIN EXCLUSIVE');
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > until || signal?.aborted) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** After the swap the install stands whatever happens here: a standby that cannot be recorded is dropped. */
async function keepOrDiscard(paths: AgentPaths, manifest: Manifest, pages: number[]): Promise<void> {
  try {
    await keepAsStandby(paths, manifest, pages);
  } catch {
    await discardStandby(paths).catch(() => {});
  }
}

/**
 * Copies `pages` of the live file into the standby (runs of neighbours in one read and write), then its
 * length. Synchronous reads and writes, as the delta's own pages are written: from and to the page cache a
 * page takes microseconds, where a call through the thread pool costs several times that (measured, the
 * catch-up of a 1% update of 1 GiB: 515 ms through FileHandle calls, 39 ms synchronously). The event loop
 * gets a turn every few MiB, so the health server and timers are not held up by a long list.
 */
async function copyPages(standby: Awaited<ReturnType<typeof open>>, live: string, list: readonly number[], pageSize: number): Promise<void> {
  const pages = [...new Set(list)].sort((a, b) => a - b);
  const source = await open(live, 'r');
  try {
    const { size } = await source.stat();
    const runs: { offset: number; length: number }[] = [];
    for (let i = 0; i < pages.length; ) {
      let j = i + 1;
      while (j < pages.length && pages[j] === pages[j - 1]! + 1 && j - i < MAX_RUN_PAGES) j++;
      const offset = pages[i]! * pageSize;
      const length = Math.min((pages[j - 1]! + 1) * pageSize, size) - offset;
      if (length > 0) runs.push({ offset, length });
      i = j;
    }
    const buffer = Buffer.allocUnsafe(runs.reduce((longest, run) => Math.max(longest, run.length), 0));
    let sinceTurn = 0;
    for (const { offset, length } of runs) {
      const bytesRead = readSync(source.fd, buffer, 0, length, offset);
      if (bytesRead !== length) throw new Error(`short read of the live file at ${offset}: ${bytesRead} of ${length} bytes`);
      const bytesWritten = writeSync(standby.fd, buffer, 0, length, offset);
      if (bytesWritten !== length) throw new Error(`short write of the standby at ${offset}: ${bytesWritten} of ${length} bytes`);
      sinceTurn += length;
      if (sinceTurn >= TURN_EVERY_BYTES) {
        sinceTurn = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    // The live file's length: a delta sets the new one after.
    await standby.truncate(size);
  } finally {
    await source.close();
  }
}
