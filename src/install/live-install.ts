import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { constants, copyFile, type FileHandle, lstat, open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { DeltaInfo, Manifest } from '@sqlitening/contract';
import { renameInto } from '../fs-atomic.js';
import { applyDelta, filePages, type WrittenDelta, writeDeltaPages } from './apply-delta.js';
import { pageHashesOf } from '../transfer/identify-file.js';
import { hashListBeside, type PageHashFile, type PageHashReader } from '../transfer/page-hash-file.js';
import { withDeadline } from '../transfer/deadline.js';
import { DOWNLOAD_TEMP_MARK } from '../transfer/download.js';
import { checkSqliteHeaderBytes } from '../sqlite/sqlite-header.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import type { ObjectStore } from '../store/object-store.js';
import { rollBackInterruptedInstall } from '../sqlite/hot-journal.js';
import { InPlaceRefused, type PageChange, writeInPlace } from './install-in-place.js';
import type { AgentPaths } from '../agent/paths.js';
import { StagedPages } from './staged-pages.js';

/*
 * How the agent installs a snapshot over a live file that apps may hold open: the new pages are proven
 * first (a delta's staged privately, a full download in its temp file), then written into the live file
 * in one journaled transaction (install-in-place.ts), so that every connection, whenever it was opened,
 * reads the new snapshot at its next transaction and never a mix. Where the live file cannot take them in
 * place (see `InPlaceRefused`), a new file is renamed over it instead: connections opened before keep
 * reading the old one whole, and nothing ever writes it again.
 */

export interface LiveInstallOptions {
  paths: AgentPaths;
  store: ObjectStore;
  /** The (accepted) manifest of the snapshot to install; it has chunk hashes. */
  manifest: Manifest;
  limits: TransferLimits;
  /** Checks a new file before it is renamed into place (the header, and `quick_check` when asked). */
  verify: (file: string) => Promise<void>;
  /** `quick_check` is asked for: a delta's result is checked as a file before any page reaches the live file. */
  quickCheck: boolean;
  onProgress?: ((bytes: number) => void) | undefined;
  /** Told why the live file was replaced by a new file rather than written in place. */
  onReplaced: (reason: string) => void;
  /** Where replaced live files are retired (the agent's, for its life); absent: not protected past the replace. */
  retired?: RetiredFiles | undefined;
}

const tempBeside = (paths: AgentPaths): string => path.join(paths.folder, `${DOWNLOAD_TEMP_MARK}${randomBytes(6).toString('hex')}`);

/**
 * Installs a delta from the live file: its pages staged and proven by the manifest's root before any is
 * written where a reader can see it, then written into the live file (or, where it cannot take them in
 * place, into a copy renamed over it).
 */
export async function installDelta(options: LiveInstallOptions, delta: DeltaInfo, baseHashes: PageHashFile): Promise<WrittenDelta> {
  const { paths, manifest, limits } = options;
  const pageSize = manifest.chunks?.size ?? 0;
  if (!(await lstat(paths.database)).isFile()) {
    // Never written through a link: the new file is renamed over the link itself.
    options.onReplaced(`${paths.database} is not a regular file`);
    return applyDelta({ ...options, delta, baseHashes, base: paths.database, destination: paths.database });
  }
  const live = await open(paths.database, constants.O_RDONLY | constants.O_NOFOLLOW);
  let staged: StagedPages | undefined;
  let copy: string | undefined;
  let written: WrittenDelta | undefined;
  try {
    staged = await StagedPages.create(paths.staging, live.fd, pageSize);
    const pages = staged;
    written = await withDeadline(`delta ${delta.key}`, limits.deadlineMs, limits.signal, (signal) =>
      writeDeltaPages(pages, { ...options, delta, baseHashes, signal, hashesAt: hashListBeside(paths.database, DOWNLOAD_TEMP_MARK) }),
    );
    const page1 = Buffer.alloc(pageSize);
    staged.read(0, page1);
    checkSqliteHeaderBytes(page1, manifest.database.size, 'the new snapshot');
    const makeCopy = async (): Promise<string> => {
      copy = tempBeside(paths);
      await copyWithPages(paths.database, copy, staged!, manifest.database.size);
      await options.verify(copy);
      return copy;
    };
    // `quick_check` runs on a file: on a copy, before the pages it checked are written into the live file.
    if (options.quickCheck) await makeCopy();
    const change: PageChange = { pageSize, size: manifest.database.size, pages: staged.pages(), read: staged.read, hashes: written.chunkHashes };
    const refused = await tryInPlace(paths.database, change, limits);
    if (refused) {
      options.onReplaced(refused);
      const replacement = copy ?? (await makeCopy());
      // Closed before the old file is retired: closing any descriptor of it would drop the lock taken there.
      await live.close();
      await replaceLive(options, replacement);
      copy = undefined;
    }
    return written;
  } catch (error) {
    // The new list belongs to pages that did not reach the live file.
    await written?.chunkHashes.remove();
    throw error;
  } finally {
    if (copy) await rm(copy, { force: true });
    await staged?.discard().catch(() => {});
    // Closed last: closing any descriptor of the live file drops this process's SQLite locks on it.
    await live.close().catch(() => {});
  }
}

/** Renames `file` over the live one, whose old file is retired first (see {@link RetiredFiles}). */
async function replaceLive(options: Pick<LiveInstallOptions, 'paths' | 'retired'>, file: string): Promise<void> {
  // A journal left hot beside the live name would be played onto the new file: rolled back first, or no rename.
  await rollBackInterruptedInstall(options.paths.database);
  options.retired?.retire(options.paths.database);
  await renameInto(file, options.paths.database);
}

/**
 * Files that were live before a replace. A connection an app keeps on one of them looks for its journal by
 * the live name, so while a later in-place install's journal is there, such a connection would take it for
 * its own: play the new file's pages onto the old one, and remove the journal that protects the live file.
 * Holding SQLite's RESERVED lock on each old file (readers go on reading it) tells those connections the
 * journal is not theirs. Held for the agent's life: connections left on an old file across an agent restart
 * lose this, which is why a replace is logged (`replaced`) and apps should reopen then (SnapshotReader does).
 */
export class RetiredFiles {
  readonly #held: Database.Database[] = [];

  /** Takes RESERVED on the live file just before it is replaced; best effort (a file that is not SQLite has no such readers). */
  retire(live: string): void {
    try {
      const db = new Database(live, { fileMustExist: true, timeout: 1_000 });
      try {
        db.exec('BEGIN IMMEDIATE');
        this.#held.push(db);
      } catch {
        db.close();
      }
    } catch {
      // not a database SQLite can open: no connection can be reading it
    }
  }

  close(): void {
    for (const db of this.#held.splice(0)) db.close();
  }
}

/**
 * Puts a verified full download in place: the pages in which it differs from the live file are written
 * into the live file, journaled (or the download is renamed over it where it cannot take them).
 */
export async function placeDownload(
  options: Pick<LiveInstallOptions, 'paths' | 'manifest' | 'limits' | 'onReplaced' | 'retired'>,
  temp: string,
  hashes: PageHashFile | null,
  liveHashes: () => Promise<PageHashFile | null>,
): Promise<void> {
  const { paths, manifest } = options;
  let refused: string | null = 'the manifest has no page hashes to compare the live file with';
  if (hashes && manifest.chunks) {
    const pageSize = manifest.chunks.size;
    const known = await liveHashes().catch(() => null);
    const current = known ?? (await pageHashesOf(paths.database, pageSize, hashListBeside(paths.database, DOWNLOAD_TEMP_MARK)));
    let handle: FileHandle | undefined;
    try {
      handle = await open(temp, 'r');
      const change: PageChange = { pageSize, size: manifest.database.size, pages: changedPages(hashes, current), read: fileReader(handle, pageSize), hashes };
      refused = await tryInPlace(paths.database, change, options.limits);
    } finally {
      await handle?.close();
      if (!known) await current.remove();
    }
  }
  if (refused === null) return;
  options.onReplaced(refused);
  await replaceLive(options, temp);
}

/** Writes the change in place; the reason when the live file cannot take it that way (then untouched). */
async function tryInPlace(live: string, change: PageChange, limits: TransferLimits): Promise<string | null> {
  try {
    await writeInPlace(live, change, { signal: limits.signal });
    return null;
  } catch (error) {
    if (error instanceof InPlaceRefused) return error.message;
    throw error;
  }
}

/** Pages (indexes) of the new file whose hash differs from the current file's, or that it lacks; both lists read in step. */
function changedPages(next: PageHashFile, current: PageHashFile): number[] {
  const pages: number[] = [];
  const nextHashes = next.reader();
  let currentHashes: PageHashReader | undefined;
  try {
    currentHashes = current.reader();
    for (let i = 0; i < next.count; i++) {
      // A page the current file lacks (null) differs too.
      if (!currentHashes.hashAt(i)?.equals(nextHashes.hashAt(i)!)) pages.push(i);
    }
  } finally {
    nextHashes.close();
    currentHashes?.close();
  }
  return pages;
}

function fileReader(handle: FileHandle, pageSize: number): (index: number, into: Buffer) => void {
  const pages = filePages(handle.fd, pageSize);
  return (index, into) => pages.readPage(index, into, 0);
}

/** A copy of the live file (a reflink where the file system can) with the staged pages written over it. */
async function copyWithPages(live: string, copy: string, staged: StagedPages, size: number): Promise<void> {
  await copyFile(live, copy, constants.COPYFILE_FICLONE);
  const handle = await open(copy, 'r+');
  try {
    const target = filePages(handle.fd, staged.pageSize);
    const page = Buffer.allocUnsafe(staged.pageSize);
    for (const index of staged.pages()) {
      staged.read(index, page);
      target.writePage(index, page);
    }
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
}

/** Removes what an interrupted install or an older agent left in `.sqlitening/` (its staged pages, the old standby copy). */
export async function removeInstallLeftovers(paths: AgentPaths): Promise<void> {
  for (const file of [paths.staging, ...['standby.db', 'standby.json', 'standby.next'].map((name) => path.join(paths.meta, name))]) {
    await rm(file, { force: true });
  }
}
