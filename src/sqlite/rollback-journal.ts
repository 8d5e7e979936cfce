/*
 * SQLite's rollback journal (https://www.sqlite.org/fileformat2.html#the_rollback_journal), written by the
 * agent as SQLite's own pager would, so that SQLite itself undoes an install that did not finish: any
 * connection that next starts a transaction on the database by its name finds the journal "hot" (it
 * exists, its first byte is not zero and no process holds the database's RESERVED lock) and writes the
 * journaled pages back before it reads a byte. Pure: byte layouts only.
 */

/** The journal's first 8 bytes; a header whose magic is zero is not hot (it was never made durable). */
export const JOURNAL_MAGIC = Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);

/**
 * The header's size and the records' offset. A reader takes it from the header, but first checks that the
 * journal is at least one of its own sectors long (else it deletes the journal unplayed): 64 KiB, the
 * largest sector SQLite allows, keeps any reader's check true, for 64 KiB per install.
 */
export const JOURNAL_SECTOR_SIZE = 65_536;

/** The journal of a database: SQLite looks for it by this name only. */
export const journalPath = (database: string): string => `${database}-journal`;

/**
 * The page (1-based, as SQLite numbers them) that holds the byte at 1 GiB, where SQLite takes its file
 * locks: SQLite never stores data in it, and a journal record for it ends a rollback early.
 */
export const lockBytePage = (pageSize: number): number => Math.floor(0x40000000 / pageSize) + 1;

export interface JournalHeader {
  /** Records in the journal; 0 while it is being written (the header is not yet valid). */
  records: number;
  /** Random, different for each journal: a record left from an earlier journal does not checksum. */
  nonce: number;
  /** The database's length in pages before the change: a rollback truncates it to this. */
  originalPages: number;
  pageSize: number;
}

/**
 * The header. `valid: false` writes it as SQLite does before the records are durable: magic and count
 * zero, so a crash in between leaves a journal that no connection will play back.
 */
export function journalHeader(header: JournalHeader, valid: boolean): Buffer {
  const bytes = Buffer.alloc(JOURNAL_SECTOR_SIZE);
  if (valid) {
    JOURNAL_MAGIC.copy(bytes, 0);
    bytes.writeUInt32BE(header.records, 8);
  }
  bytes.writeUInt32BE(header.nonce >>> 0, 12);
  bytes.writeUInt32BE(header.originalPages, 16);
  bytes.writeUInt32BE(JOURNAL_SECTOR_SIZE, 20);
  bytes.writeUInt32BE(header.pageSize, 24);
  return bytes;
}

/** A record's length: page number, page, checksum. */
export const journalRecordSize = (pageSize: number): number => 4 + pageSize + 4;

/**
 * One record, the page's bytes before the change, into `into` (of {@link journalRecordSize}) where `into`
 * already holds the page's bytes at offset 4. The checksum is SQLite's: the nonce plus every 200th byte,
 * from the end of the page.
 */
export function sealJournalRecord(into: Buffer, page: number, nonce: number, pageSize: number): void {
  into.writeUInt32BE(page, 0);
  let sum = nonce >>> 0;
  for (let i = pageSize - 200; i > 0; i -= 200) sum = (sum + into[4 + i]!) >>> 0;
  into.writeUInt32BE(sum, 4 + pageSize);
}

/**
 * The header's change counter (bytes 24–27). Every connection keeps its page cache across transactions
 * while bytes 24–39 of the file stay as it last saw them, so a file written in place must change them.
 */
export const changeCounter = (page1: Buffer): number => page1.readUInt32BE(24);
