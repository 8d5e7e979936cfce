import zlib from 'node:zlib';

/*
 * A delta: the pages of a target snapshot that differ from a base snapshot,
 * as one stream (compressed as a whole by the store's encoding). Big-endian
 * like SQLite's own header. Two formats, named in the header:
 *
 * Format 1, each changed page whole:
 *   header   "SQLTDLT\0" | u32 format (1) | u32 page size | u32 target page count
 *            | u32 records | 32-byte base SHA-256 | 32-byte target SHA-256
 *   records  (u32 page index, 0-based | page size bytes) × records, page indexes rising
 *
 * Format 2, each changed page as a patch against pages the pod already holds:
 *   header   as format 1 (with 2), then | u32 base page count
 *   records  u32 page index | u8 dictionary page count n (0–8) | n × u32 dictionary page
 *            | u32 patch length | patch (raw deflate of the page, with the dictionary pages,
 *            concatenated in the order listed, as the deflate dictionary; its blocks end on a
 *            byte boundary and none is final, as a sync flush leaves them: a reader appends
 *            the final block, or inflates many patches in one stream)
 *            × records, page indexes strictly falling
 *   A dictionary page is read from the file being patched as it stands when the record is
 *   applied: a page below the base page count that this delta has not written yet holds the
 *   base's bytes, one it wrote holds the target's. Falling order keeps every base page below
 *   the current one intact, where a page split moves its rows, while the pages above already
 *   hold the target's. Only those pages may be named: either a page below the base page count
 *   or one an earlier record of this delta wrote.
 *
 * Applied to a copy of the base (or the base itself, in place), then truncated to the target's
 * page count, either gives the target byte for byte; the manifest's chunk root proves it.
 */

export const DELTA_MAGIC = Buffer.from('SQLTDLT\0', 'latin1');
/** The formats this code reads and writes; an agent skips manifest entries of any other. */
export const DELTA_FORMATS = [1, 2] as const;
export type DeltaFormat = (typeof DELTA_FORMATS)[number];
/** The format-1 header; format 2 adds the base page count. */
export const DELTA_HEADER_BYTES = 8 + 4 * 4 + 32 * 2;
/** Dictionary pages a format-2 record may name. Deflate looks back 32 KiB: eight 4 KiB pages. */
export const MAX_DICTIONARY_PAGES = 8;

export function deltaHeaderBytes(format: DeltaFormat): number {
  return format === 1 ? DELTA_HEADER_BYTES : DELTA_HEADER_BYTES + 4;
}

/** Largest patch a page of `pageSize` bytes may take: deflate's stored blocks add 5 bytes per 64 KiB, so a patch never needs more. */
export function maxPatchBytes(pageSize: number): number {
  return pageSize + 64;
}

export function isDeltaFormat(format: number): format is DeltaFormat {
  return (DELTA_FORMATS as readonly number[]).includes(format);
}

export interface DeltaHeader {
  format: DeltaFormat;
  pageSize: number;
  pageCount: number;
  /** Records in the stream: one per changed page. */
  pages: number;
  baseSha256: string;
  targetSha256: string;
  /** The base's page count (format 2: bounds the dictionary pages a record may name). */
  basePageCount?: number | undefined;
}

export function encodeDeltaHeader(header: DeltaHeader): Buffer {
  const out = Buffer.alloc(deltaHeaderBytes(header.format));
  DELTA_MAGIC.copy(out, 0);
  out.writeUInt32BE(header.format, 8);
  out.writeUInt32BE(header.pageSize, 12);
  out.writeUInt32BE(header.pageCount, 16);
  out.writeUInt32BE(header.pages, 20);
  Buffer.from(header.baseSha256, 'hex').copy(out, 24);
  Buffer.from(header.targetSha256, 'hex').copy(out, 56);
  if (header.format === 2) {
    if (header.basePageCount === undefined) throw new TypeError('a format-2 delta header needs the base page count');
    out.writeUInt32BE(header.basePageCount, DELTA_HEADER_BYTES);
  }
  return out;
}

/** Format-1 records of consecutive pages from `first` on: `pages` holds them back to back. */
export function encodePageRecords(first: number, pages: Buffer, pageSize: number): Buffer {
  const count = pages.length / pageSize;
  const out = Buffer.alloc(count * (4 + pageSize));
  for (let k = 0; k < count; k++) {
    out.writeUInt32BE(first + k, k * (4 + pageSize));
    pages.copy(out, k * (4 + pageSize) + 4, k * pageSize, (k + 1) * pageSize);
  }
  return out;
}

/** One format-2 record's bytes. */
export function encodePatchRecord(index: number, dictionary: readonly number[], patch: Buffer): Buffer {
  const head = Buffer.alloc(4 + 1 + 4 * dictionary.length + 4);
  head.writeUInt32BE(index, 0);
  head.writeUInt8(dictionary.length, 4);
  for (const [k, page] of dictionary.entries()) head.writeUInt32BE(page, 5 + 4 * k);
  head.writeUInt32BE(patch.length, 5 + 4 * dictionary.length);
  return Buffer.concat([head, patch]);
}

/** A page a delta carries: whole (format 1) or as a patch against dictionary pages (format 2). */
export type DeltaRecord = { kind: 'page'; index: number; bytes: Buffer } | { kind: 'patch'; index: number; dictionary: number[]; patch: Buffer };

/**
 * Deflates a page with `dictionary` (the pages a record names, concatenated) as the deflate dictionary, into
 * a patch: raw deflate blocks ending on a byte boundary with no final block (a sync flush), so that a reader
 * can inflate many patches in one zlib call (see {@link inflatePatches}). Level 9: on real updates it makes
 * patches 4% smaller than level 6 for the same time, since the page is small and the dictionary's matches
 * are long.
 */
export function deflatePatch(page: Buffer, dictionary: Buffer | undefined): Buffer {
  const options = { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  return zlib.deflateRawSync(page, dictionary ? { ...options, dictionary } : options);
}

export type PatchRecord = Extract<DeltaRecord, { kind: 'patch' }>;
