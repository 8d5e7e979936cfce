import { open } from 'node:fs/promises';
import { DatabaseError } from '../errors.js';

/** The first 16 bytes of every SQLite 3 database file. */
const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const HEADER_SIZE = 100;

/**
 * Checks the 100-byte header of a downloaded database before SQLite opens it:
 * the magic string, a valid page size, rollback-journal mode (file format
 * versions 1, not WAL's 2), and page size × page count = the file's size.
 * `quick_check` alone passes an empty file, and opening a WAL database
 * creates `-wal` and `-shm` files beside it; neither may be installed.
 */
export async function checkSqliteHeader(file: string, what: string): Promise<{ pageSize: number; pageCount: number }> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const header = Buffer.alloc(HEADER_SIZE);
    const { bytesRead } = await handle.read(header, 0, HEADER_SIZE, 0);
    return checkSqliteHeaderBytes(header.subarray(0, bytesRead), size, what);
  } finally {
    await handle.close();
  }
}

/** {@link checkSqliteHeader} of a header in memory (page 1 of a file of `size` bytes). */
export function checkSqliteHeaderBytes(header: Buffer, size: number, what: string): { pageSize: number; pageCount: number } {
  const reject = (problem: string): never => {
    throw new DatabaseError(`${what} is not an installable SQLite database: ${problem}`, 'not-a-database');
  };
  if (header.length < HEADER_SIZE) reject(`expected at least a ${HEADER_SIZE}-byte header, got ${size} bytes`);
  if (!header.subarray(0, 16).equals(MAGIC)) reject('expected the header "SQLite format 3", got other bytes');
  const raw = header.readUInt16BE(16);
  const pageSize = raw === 1 ? 65_536 : raw;
  if (pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0)
    reject(`expected a page size that is a power of two from 512 to 65536, got ${raw}`);
  const writeVersion = header.readUInt8(18);
  const readVersion = header.readUInt8(19);
  if (writeVersion !== 1 || readVersion !== 1) {
    reject(`expected rollback-journal mode (file format 1/1), got ${writeVersion}/${readVersion}${writeVersion === 2 ? ' (WAL mode)' : ''}`);
  }
  // The in-header page count is valid only when the change counter matches "version-valid-for" (SQLite 3.7.0+ writers).
  const pageCount = header.readUInt32BE(28);
  if (header.readUInt32BE(24) !== header.readUInt32BE(92)) reject('expected a valid in-header page count (a file written by SQLite 3.7.0 or newer)');
  if (pageCount * pageSize !== size) reject(`expected ${pageCount} pages of ${pageSize} bytes = ${pageCount * pageSize} bytes, got ${size}`);
  return { pageSize, pageCount };
}
