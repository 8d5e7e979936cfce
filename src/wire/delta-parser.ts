import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { ContractError } from '@sqlitening/contract';
import { CorruptDeltaError } from '../errors.js';
import {
  DELTA_HEADER_BYTES,
  DELTA_MAGIC,
  type DeltaFormat,
  type DeltaHeader,
  type DeltaRecord,
  deltaHeaderBytes,
  MAX_DICTIONARY_PAGES,
  maxPatchBytes,
  type PatchRecord,
} from './delta-format.js';

/* The reading side of the delta formats described in delta-format.ts: the stream parser and the patch inflater. */

/** Writes a stored deflate block's header at `at`: `length` bytes follow as they are. */
function putStoredBlock(into: Buffer, at: number, length: number, final = false): void {
  into.writeUInt8(final ? 1 : 0, at);
  into.writeUInt16LE(length, at + 1);
  into.writeUInt16LE(length ^ 0xffff, at + 3);
}

/** Stored blocks hold at most 65,535 bytes: a dictionary page is split into halves past 32 KiB. */
const STORED_PIECE = 32_768;

/**
 * The pages of format-2 records, inflated in one zlib call: each patch is preceded by stored blocks that
 * put its page number and its dictionary pages (`readPage` fills them in) into the output, so that deflate's
 * window holds the dictionary when the patch begins, as if it had been set as the dictionary; a final empty
 * block ends the stream. One call instead of one per page: Node's zlib costs as much to set up as to inflate
 * a page. Bounded: the output stops at the expected size; each record's page number must come out where
 * expected, so a patch that inflates to more or less than a page shows. On any problem the records are
 * inflated one at a time, which names the record at fault. None of the records may name as dictionary a
 * page another of them writes.
 */
export function inflatePatches(
  what: string,
  records: readonly PatchRecord[],
  pageSize: number,
  readPage: (page: number, into: Buffer, at: number) => void,
): Buffer[] {
  if (records.length > 1) {
    try {
      return inflateTogether(records, pageSize, readPage);
    } catch {
      // Found again, and named, one record at a time.
    }
  }
  return records.map((record) => {
    let pages: Buffer[];
    try {
      pages = inflateTogether([record], pageSize, readPage);
    } catch (error) {
      if (error instanceof CorruptDeltaError) throw new CorruptDeltaError(`${what}: page ${record.index}: ${error.message}`);
      throw new CorruptDeltaError(`${what}: page ${record.index}: the patch does not inflate to a page (${(error as Error).message})`);
    }
    return pages[0]!;
  });
}

/** The input of the last call, kept for the next: inflating leaves it free, and a batch needs no new one. */
let scratch = Buffer.alloc(0);

function inflateTogether(records: readonly PatchRecord[], pageSize: number, readPage: (page: number, into: Buffer, at: number) => void): Buffer[] {
  const pieces = Math.ceil(pageSize / STORED_PIECE);
  const piece = pageSize / pieces;
  let inputSize = 5;
  let expected = 0;
  for (const record of records) {
    inputSize += 5 + 4 + record.dictionary.length * pieces * 5 + record.dictionary.length * pageSize + record.patch.length;
    expected += 4 + record.dictionary.length * pageSize + pageSize;
  }
  if (scratch.length < inputSize) scratch = Buffer.allocUnsafe(inputSize);
  const input = scratch;
  const spare = pieces > 1 ? Buffer.allocUnsafe(pageSize) : undefined;
  let at = 0;
  for (const record of records) {
    putStoredBlock(input, at, 4);
    input.writeUInt32BE(record.index, at + 5);
    at += 9;
    for (const page of record.dictionary) {
      if (!spare) {
        putStoredBlock(input, at, pageSize);
        readPage(page, input, at + 5);
        at += 5 + pageSize;
        continue;
      }
      readPage(page, spare, 0);
      for (let k = 0; k < pieces; k++) {
        putStoredBlock(input, at, piece);
        spare.copy(input, at + 5, k * piece, (k + 1) * piece);
        at += 5 + piece;
      }
    }
    record.patch.copy(input, at);
    at += record.patch.length;
  }
  putStoredBlock(input, at, 0, true);
  const output = zlib.inflateRawSync(input.subarray(0, inputSize), { maxOutputLength: expected, chunkSize: Math.max(64, expected) });
  if (output.length !== expected) throw new CorruptDeltaError(`the patch inflates to ${output.length - (expected - pageSize)} bytes, expected ${pageSize}`);
  const pages: Buffer[] = [];
  let from = 0;
  for (const record of records) {
    if (output.readUInt32BE(from) !== record.index) throw new CorruptDeltaError('a patch inflates to more or less than a page');
    from += 4 + record.dictionary.length * pageSize;
    pages.push(output.subarray(from, from + pageSize));
    from += pageSize;
  }
  return pages;
}

function decodeDeltaHeader(bytes: Buffer, what: string, expected: DeltaFormat): DeltaHeader {
  if (!bytes.subarray(0, 8).equals(DELTA_MAGIC)) throw new ContractError(`${what}: expected a delta (SQLTDLT), got other bytes`);
  const format = bytes.readUInt32BE(8);
  if (format !== expected) throw new ContractError(`${what}: expected delta format ${expected}, got ${format}`);
  return {
    format: expected,
    pageSize: bytes.readUInt32BE(12),
    pageCount: bytes.readUInt32BE(16),
    pages: bytes.readUInt32BE(20),
    baseSha256: bytes.subarray(24, 56).toString('hex'),
    targetSha256: bytes.subarray(56, 88).toString('hex'),
    basePageCount: expected === 2 ? bytes.readUInt32BE(DELTA_HEADER_BYTES) : undefined,
  };
}

/** Records the parser hands on at once (as far as its input holds them): a reader handles them together. */
const RECORDS_PER_BATCH = 256;

/**
 * Parses a decoded delta stream of the `format` its manifest entry names into its header (`onHeader`, which
 * may throw to refuse it) and records, in object mode, in arrays of up to 256. Checks that page indexes run in the format's order
 * and stay below the page count, that the stream holds exactly the records the header announces, and (format
 * 2) that each record's sizes stay within their bounds and its dictionary names only pages the file holds
 * when it is applied. Buffers at most one record.
 */
export class DeltaParser extends Transform {
  #buffer: Buffer = Buffer.alloc(0);
  #header: DeltaHeader | undefined;
  #seen = 0;
  #last = -1;
  /** Format 2: the pages earlier records wrote, which later records may name as dictionary pages. */
  #written = new Set<number>();

  constructor(
    private readonly what: string,
    private readonly format: DeltaFormat,
    private readonly onHeader: (header: DeltaHeader) => void,
  ) {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
      if (!this.#header) {
        if (this.#buffer.length < deltaHeaderBytes(this.format)) {
          callback();
          return;
        }
        this.#header = decodeDeltaHeader(this.#buffer, this.what, this.format);
        this.onHeader(this.#header);
        this.#buffer = this.#buffer.subarray(deltaHeaderBytes(this.format));
      }
      let at = 0;
      let batch: DeltaRecord[] = [];
      for (;;) {
        const parsed = this.format === 1 ? this.#pageRecord(at) : this.#patchRecord(at);
        if (!parsed) break;
        batch.push(parsed.record);
        at = parsed.next;
        if (batch.length === RECORDS_PER_BATCH) {
          this.push(batch);
          batch = [];
        }
      }
      if (batch.length > 0) this.push(batch);
      this.#buffer = this.#buffer.subarray(at);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  #checkIndex(index: number, inOrder: boolean): void {
    const header = this.#header!;
    if (!inOrder || index >= header.pageCount || this.#seen >= header.pages) {
      throw new ContractError(`${this.what}: page ${index} out of order or out of range (page count ${header.pageCount})`);
    }
    this.#last = index;
    this.#seen++;
  }

  #pageRecord(at: number): { record: DeltaRecord; next: number } | undefined {
    const { pageSize } = this.#header!;
    if (this.#buffer.length - at < 4 + pageSize) return undefined;
    const index = this.#buffer.readUInt32BE(at);
    this.#checkIndex(index, index > this.#last);
    return { record: { kind: 'page', index, bytes: this.#buffer.subarray(at + 4, at + 4 + pageSize) }, next: at + 4 + pageSize };
  }

  #patchRecord(at: number): { record: DeltaRecord; next: number } | undefined {
    const header = this.#header!;
    const buffer = this.#buffer;
    if (buffer.length - at < 5) return undefined;
    const count = buffer.readUInt8(at + 4);
    if (count > MAX_DICTIONARY_PAGES) throw new CorruptDeltaError(`${this.what}: a record names ${count} dictionary pages, at most ${MAX_DICTIONARY_PAGES}`);
    const fixed = 5 + 4 * count + 4;
    if (buffer.length - at < fixed) return undefined;
    const length = buffer.readUInt32BE(at + fixed - 4);
    if (length === 0 || length > maxPatchBytes(header.pageSize)) {
      throw new CorruptDeltaError(`${this.what}: a patch of ${length} bytes, expected 1 to ${maxPatchBytes(header.pageSize)}`);
    }
    if (buffer.length - at < fixed + length) return undefined;
    const index = buffer.readUInt32BE(at);
    this.#checkIndex(index, this.#last === -1 || index < this.#last);
    const dictionary: number[] = [];
    for (let k = 0; k < count; k++) {
      const page = buffer.readUInt32BE(at + 5 + 4 * k);
      if (page >= header.basePageCount! && !this.#written.has(page)) {
        throw new CorruptDeltaError(`${this.what}: page ${index} names page ${page} as dictionary, which the file does not hold when it is applied`);
      }
      dictionary.push(page);
    }
    this.#written.add(index);
    return { record: { kind: 'patch', index, dictionary, patch: buffer.subarray(at + fixed, at + fixed + length) }, next: at + fixed + length };
  }

  override _flush(callback: TransformCallback): void {
    if (!this.#header || this.#buffer.length > 0 || this.#seen !== this.#header.pages) {
      callback(new ContractError(`${this.what}: ended early (${this.#seen} of ${this.#header?.pages ?? '?'} pages)`));
      return;
    }
    callback();
  }
}
