import Database from 'better-sqlite3';
import { statfs } from 'node:fs/promises';
import { formatBytes, type Manifest } from '@sqlitening/contract';
import { DatabaseError, TooLargeError } from '../errors.js';
import { checkSqliteHeader } from '../sqlite/sqlite-header.js';

/** Free space kept beyond the new file, so that installing a snapshot never fills the disk for the app. */
const FREE_SPACE_MARGIN = 64 * 1024 * 1024;

/**
 * Checks a file before it may replace the live one: always its header
 * (SQLite, rollback-journal mode, size = pages × page size), so a file
 * SQLite would open in WAL mode, or misread, is refused before SQLite opens
 * it; then `quick_check` when asked. By default it is not: the bytes are
 * proven identical (SHA-256 and chunk root) to the ones the publisher ran
 * `integrity_check` and `foreign_key_check` on before it wrote the manifest
 * that names them, and `quick_check` is a subset of `integrity_check`, so on
 * proven bytes it can only repeat what the publisher found, at the cost of
 * reading the whole file again (0.6 s per GiB). `--quick-check` is for
 * stores whose publisher skipped its checks (`publish --no-check`).
 */
export function databaseVerifier(options: { quickCheck: boolean }): (file: string) => Promise<void> {
  return async (file) => {
    await checkSqliteHeader(file, 'the downloaded file');
    if (!options.quickCheck) return;
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const rows = db.pragma('quick_check(5)') as { quick_check: string }[];
      const problems = rows.map((r) => r.quick_check).filter((line) => line !== 'ok');
      if (problems.length > 0) throw new DatabaseError(`quick_check failed: ${problems.join('; ')}`, 'quick-check');
    } finally {
      db.close();
    }
  };
}

/** Refuses a manifest whose database this agent will not take, or the disk cannot hold, before a byte is written. */
export async function checkRoom(manifest: Manifest, folder: string, maxBytes: number): Promise<void> {
  const size = manifest.database.size;
  if (size > maxBytes) {
    throw new TooLargeError(
      `the manifest declares a database of ${formatBytes(size)}, more than this agent's maximum of ${formatBytes(maxBytes)} (--max-size)`,
      'snapshot-too-large',
    );
  }
  const fs = await statfs(folder);
  const free = fs.bavail * fs.bsize;
  if (free < size + FREE_SPACE_MARGIN) {
    throw new TooLargeError(
      `${folder} has ${formatBytes(free)} free; the new database needs ${formatBytes(size)} and ${formatBytes(FREE_SPACE_MARGIN)} to spare`,
      'disk-full',
    );
  }
}
