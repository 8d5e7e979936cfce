import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type DeltaInfo, deltaKey, type Encoding, type HistoryEntry } from '@sqlitening/contract';
import { errorMessage } from '../describe-error.js';
import { ChecksumMismatchError, NotFoundError, StoreError } from '../errors.js';
import { readBounded } from '../snapshot/bounded-read.js';
import { chunkRoot, HASH_BYTES } from '../snapshot/chunk-hashes.js';
import { compressor } from '../snapshot/codec.js';
import { DELTA_HEADER_BYTES, encodeDeltaHeader } from '../snapshot/delta-format.js';
import type { TransferLimits } from '../snapshot/transfer-limits.js';
import type { ObjectStore } from '../store/object-store.js';

export interface DeltaPlan {
  /** The new snapshot: its file, identity and chunk hashes (one per page). */
  database: string;
  target: { gitSha: string; createdAt: Date; sha256: string };
  pageSize: number;
  hashes: Buffer;
  /** Earlier snapshots to make deltas from, newest first. */
  bases: readonly HistoryEntry[];
  encoding: Encoding;
  level?: number | undefined;
  /** A delta whose stored size passes this share of the full object's is not written: a pod would do as well downloading it all. */
  maxShare: number;
  fullObjectSize: number;
  tempDir: string;
  limits: TransferLimits;
  onStep?: (step: string, detail: Record<string, unknown>) => void;
}

/** The pages whose chunk hashes differ from the base's, and every page past the base's end. */
export function changedPages(target: Buffer, base: Buffer): number[] {
  const changed: number[] = [];
  const count = target.length / HASH_BYTES;
  const baseCount = base.length / HASH_BYTES;
  for (let i = 0; i < count; i++) {
    const at = i * HASH_BYTES;
    if (i >= baseCount || target.compare(base, at, at + HASH_BYTES, at, at + HASH_BYTES) !== 0) changed.push(i);
  }
  return changed;
}

/** A base's chunk list from the store, checked against the root its manifest recorded. */
async function readChunkList(store: ObjectStore, base: HistoryEntry, limits: TransferLimits): Promise<Buffer> {
  const read = await store.get(base.chunks.key, { signal: limits.signal });
  if (read.status !== 'ok') throw new NotFoundError(base.chunks.key, store.location);
  const what = `chunk list ${base.chunks.key}`;
  const list = await readBounded(read.body, { what, maxBytes: base.chunks.count * HASH_BYTES, stallTimeoutMs: limits.stallTimeoutMs, signal: limits.signal });
  const root = chunkRoot(list);
  if (root !== base.chunks.root) throw new ChecksumMismatchError(`chunk list ${base.chunks.key}`, base.chunks.root, root);
  return list;
}

/** Writes the delta stream for `pages` of the new file, compressed, to a temp file. */
async function writeDelta(plan: DeltaPlan, base: HistoryEntry, pages: number[], file: string): Promise<void> {
  const handle = await open(plan.database, 'r');
  async function* records(): AsyncGenerator<Buffer> {
    yield encodeDeltaHeader({
      pageSize: plan.pageSize,
      pageCount: plan.hashes.length / HASH_BYTES,
      pages: pages.length,
      baseSha256: base.sha256,
      targetSha256: plan.target.sha256,
    });
    // Pages go out in runs of up to 256, one read each: changed pages cluster (a table's rows, its index).
    for (let i = 0; i < pages.length; ) {
      let run = 1;
      while (i + run < pages.length && run < 256 && pages[i + run] === pages[i]! + run) run++;
      const block = Buffer.alloc(run * plan.pageSize);
      await handle.read(block, 0, block.length, pages[i]! * plan.pageSize);
      const out = Buffer.alloc(run * (4 + plan.pageSize));
      for (let k = 0; k < run; k++) {
        out.writeUInt32BE(pages[i + k]!, k * (4 + plan.pageSize));
        block.copy(out, k * (4 + plan.pageSize) + 4, k * plan.pageSize, (k + 1) * plan.pageSize);
      }
      yield out;
      i += run;
    }
  }
  try {
    await pipeline(Readable.from(records()), compressor(plan.encoding, plan.level), createWriteStream(file, { flags: 'wx' }));
  } finally {
    await handle.close();
  }
}

/**
 * Makes and uploads one delta per base: the base's chunk list (a few bytes per
 * page, from the store) is compared with the new file's, so no base is ever
 * downloaded. Bases whose list is gone, or whose delta would be too large,
 * are skipped and reported; they cost a pod a full download, nothing else.
 */
export async function publishDeltas(store: ObjectStore, plan: DeltaPlan): Promise<DeltaInfo[]> {
  const step = plan.onStep ?? (() => {});
  const deltas: DeltaInfo[] = [];
  for (const base of plan.bases) {
    if (base.chunks.size !== plan.pageSize) {
      step('delta-skipped', { base: base.sha256, reason: `page size changed (${base.chunks.size} → ${plan.pageSize})` });
      continue;
    }
    let list: Buffer;
    try {
      list = await readChunkList(store, base, plan.limits);
    } catch (error) {
      if (!(error instanceof NotFoundError || error instanceof ChecksumMismatchError)) throw error;
      step('delta-skipped', { base: base.sha256, reason: errorMessage(error) });
      continue;
    }
    const pages = changedPages(plan.hashes, list);
    const file = path.join(plan.tempDir, `sqlitening-delta-${randomBytes(6).toString('hex')}`);
    try {
      await writeDelta(plan, base, pages, file);
      const { size } = await stat(file);
      if (size > plan.maxShare * plan.fullObjectSize) {
        step('delta-skipped', {
          base: base.sha256,
          pages: pages.length,
          size,
          reason: `larger than ${plan.maxShare} of the full object (${plan.fullObjectSize} bytes)`,
        });
        continue;
      }
      const key = deltaKey(plan.target, base.sha256, plan.encoding);
      await store.put(key, createReadStream(file), { contentType: 'application/octet-stream', signal: plan.limits.signal });
      const stored = await store.head(key, { signal: plan.limits.signal });
      if (stored?.size !== size)
        throw new StoreError(`upload of ${key} not confirmed: the store holds ${stored ? `${stored.size} bytes` : 'nothing'}, expected ${size}`, true);
      const info: DeltaInfo = {
        base: { sha256: base.sha256 },
        key,
        encoding: plan.encoding,
        size,
        rawSize: DELTA_HEADER_BYTES + pages.length * (4 + plan.pageSize),
        pages: pages.length,
      };
      deltas.push(info);
      step('delta', { base: base.sha256, key, pages: pages.length, size });
    } finally {
      await rm(file, { force: true });
    }
  }
  return deltas;
}
