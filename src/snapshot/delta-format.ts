import { Transform, type TransformCallback } from 'node:stream';
import { ContractError } from '@sqlitening/contract';

/*
 * A delta: the pages of a target snapshot that differ from a base snapshot,
 * as one stream (compressed as a whole by the store's encoding):
 *
 *   header   "SQLTDLT\0" | u32 format version | u32 page size | u32 target page count
 *            | u32 pages carried | 32-byte base SHA-256 | 32-byte target SHA-256
 *   pages    (u32 page index, 0-based | page size bytes) × pages carried, by index
 *
 * Big-endian like SQLite's own header. Applied to a copy of the base, then
 * truncated to the target's page count, it gives the target byte for byte;
 * the manifest's chunk root proves it.
 */

export const DELTA_MAGIC = Buffer.from('SQLTDLT\0', 'latin1');
export const DELTA_FORMAT_VERSION = 1;
export const DELTA_HEADER_BYTES = 8 + 4 * 4 + 32 * 2;

export interface DeltaHeader {
  pageSize: number;
  pageCount: number;
  pages: number;
  baseSha256: string;
  targetSha256: string;
}

export function encodeDeltaHeader(header: DeltaHeader): Buffer {
  const out = Buffer.alloc(DELTA_HEADER_BYTES);
  DELTA_MAGIC.copy(out, 0);
  out.writeUInt32BE(DELTA_FORMAT_VERSION, 8);
  out.writeUInt32BE(header.pageSize, 12);
  out.writeUInt32BE(header.pageCount, 16);
  out.writeUInt32BE(header.pages, 20);
  Buffer.from(header.baseSha256, 'hex').copy(out, 24);
  Buffer.from(header.targetSha256, 'hex').copy(out, 56);
  return out;
}

function decodeDeltaHeader(bytes: Buffer, what: string): DeltaHeader {
  if (!bytes.subarray(0, 8).equals(DELTA_MAGIC)) throw new ContractError(`${what}: expected a delta (SQLTDLT), got other bytes`);
  const version = bytes.readUInt32BE(8);
  if (version !== DELTA_FORMAT_VERSION) throw new ContractError(`${what}: expected delta format ${DELTA_FORMAT_VERSION}, got ${version}`);
  return {
    pageSize: bytes.readUInt32BE(12),
    pageCount: bytes.readUInt32BE(16),
    pages: bytes.readUInt32BE(20),
    baseSha256: bytes.subarray(24, 56).toString('hex'),
    targetSha256: bytes.subarray(56, 88).toString('hex'),
  };
}

/** One page a delta carries. */
export interface DeltaPage {
  index: number;
  bytes: Buffer;
}

/**
 * Parses a decoded delta stream into its header (`onHeader`, which may throw
 * to refuse it) and pages, in object mode. Checks that page indexes rise and
 * stay below the page count, and that the stream holds exactly the pages the
 * header announces.
 */
export class DeltaParser extends Transform {
  #buffer: Buffer = Buffer.alloc(0);
  #header: DeltaHeader | undefined;
  #seen = 0;
  #last = -1;

  constructor(
    private readonly what: string,
    private readonly onHeader: (header: DeltaHeader) => void,
  ) {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
      if (!this.#header) {
        if (this.#buffer.length < DELTA_HEADER_BYTES) {
          callback();
          return;
        }
        this.#header = decodeDeltaHeader(this.#buffer, this.what);
        this.onHeader(this.#header);
        this.#buffer = this.#buffer.subarray(DELTA_HEADER_BYTES);
      }
      const record = 4 + this.#header.pageSize;
      let at = 0;
      while (this.#buffer.length - at >= record) {
        const index = this.#buffer.readUInt32BE(at);
        if (index <= this.#last || index >= this.#header.pageCount || this.#seen >= this.#header.pages) {
          throw new ContractError(`${this.what}: page ${index} out of order or out of range (page count ${this.#header.pageCount})`);
        }
        this.#last = index;
        this.#seen++;
        this.push({ index, bytes: this.#buffer.subarray(at + 4, at + record) } satisfies DeltaPage);
        at += record;
      }
      this.#buffer = this.#buffer.subarray(at);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (!this.#header || this.#buffer.length > 0 || this.#seen !== this.#header.pages) {
      callback(new ContractError(`${this.what}: ended early (${this.#seen} of ${this.#header?.pages ?? '?'} pages)`));
      return;
    }
    callback();
  }
}
