import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, readSync } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type DeltaInfo, deltaKey, type Encoding, type HistoryEntry, type PatchInfo, patchKey } from '@sqlitening/contract';
import { errorMessage } from '../describe-error.js';
import { ChecksumMismatchError, NotFoundError, StoreError, UsageError } from '../errors.js';
import { readBounded } from '../transfer/bounded-read.js';
import { chunkRoot, HASH_BYTES } from '../wire/chunk-hashes.js';
import { compressor } from '../wire/codec.js';
import { DELTA_HEADER_BYTES, deltaHeaderBytes, encodeDeltaHeader, encodePageRecords } from '../wire/delta-format.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import type { ObjectStore } from '../store/object-store.js';
import { patchRecords } from './patch-encoder.js';

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
  /**
   * Files of earlier snapshots (`publish --base`; a build from the published snapshot keeps it). A delta of
   * format 2 (pages as patches against the pod's pages) is made only from a base whose file is here, and
   * every page it reads is proven against that base's chunk list; other bases get format 1 alone.
   */
  baseFiles?: readonly string[] | undefined;
  onStep?: (step: string, detail: Record<string, unknown>) => void;
}

/** An earlier snapshot a delta will be made from: its chunk list (from the store), the pages that differ, and its file if one was given. */
export interface DeltaBase {
  entry: HistoryEntry;
  list: Buffer;
  changed: number[];
  file: string | undefined;
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
  const list = await readBounded(read.body, { what, maxBytes: base.chunks.count * HASH_BYTES, signal: limits.signal });
  const root = chunkRoot(list);
  if (root !== base.chunks.root) throw new ChecksumMismatchError(`chunk list ${base.chunks.key}`, base.chunks.root, root);
  return list;
}

/** Writes the delta stream for `pages` of the new file, compressed, to a temp file. */
async function writeDelta(plan: DeltaPlan, base: HistoryEntry, pages: readonly number[], file: string): Promise<void> {
  const handle = await open(plan.database, 'r');
  async function* records(): AsyncGenerator<Buffer> {
    yield encodeDeltaHeader({
      format: 1,
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
      yield encodePageRecords(pages[i]!, block, plan.pageSize);
      i += run;
    }
  }
  try {
    await pipeline(Readable.from(records()), compressor(plan.encoding, plan.level), createWriteStream(file, { flags: 'wx' }));
  } finally {
    await handle.close();
  }
}

/** A base page read from its file, refused unless its hash is the one the base's chunk list (proven by its root) names. */
function readProvenPage(fd: number, base: { entry: HistoryEntry; list: Buffer }, file: string, index: number, pageSize: number): Buffer {
  const page = Buffer.alloc(pageSize);
  const bytesRead = readSync(fd, page, 0, pageSize, index * pageSize);
  const expected = base.list.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES);
  if (bytesRead !== pageSize || !createHash('sha256').update(page).digest().equals(expected)) {
    throw new UsageError(
      `base file ${file} is not the snapshot ${base.entry.sha256}: its page ${index} ${bytesRead === pageSize ? "differs from that snapshot's" : 'is missing'}; a delta made from it would be wrong`,
    );
  }
  return page;
}

/** Why `file` cannot stand for `base` (its size, or the first page a delta would read that differs), or null when it can. */
async function baseMismatch(file: string, base: Omit<DeltaBase, 'file'>, pageSize: number): Promise<string | null> {
  let size: number;
  try {
    ({ size } = await stat(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`base file ${file} does not exist`);
    throw error;
  }
  if (size !== base.entry.size) return `${size} bytes, not ${base.entry.size}`;
  const fd = openSync(file, 'r');
  try {
    // The pages a delta from this base reads are its changed pages (its own and the dictionary pages the
    // encoder may name): proving those proves every byte the delta is made from.
    for (const index of base.changed) {
      if (index >= base.entry.chunks.count) break;
      readProvenPage(fd, base, file, index, pageSize);
    }
    return null;
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  } finally {
    closeSync(fd);
  }
}

/**
 * The earlier snapshots deltas will be made from: each one's chunk list (from the store, checked against
 * the root its manifest recorded) and the pages that differ, so no base is downloaded. Bases whose list is
 * gone are skipped and reported; they cost a pod a full download, nothing else. Each base file is matched
 * to the snapshots it is, page by page against their lists; a file that is none of them is refused before
 * anything is uploaded. Runs before the upload, so a wrong file fails the publish early.
 */
export async function prepareDeltaBases(store: ObjectStore, plan: DeltaPlan): Promise<DeltaBase[]> {
  const step = plan.onStep ?? (() => {});
  const bases: Array<Omit<DeltaBase, 'file'> & { file?: string }> = [];
  for (const entry of plan.bases) {
    if (entry.chunks.size !== plan.pageSize) {
      step('delta-skipped', { base: entry.sha256, reason: `page size changed (${entry.chunks.size} → ${plan.pageSize})` });
      continue;
    }
    let list: Buffer;
    try {
      list = await readChunkList(store, entry, plan.limits);
    } catch (error) {
      if (!(error instanceof NotFoundError || error instanceof ChecksumMismatchError)) throw error;
      step('delta-skipped', { base: entry.sha256, reason: errorMessage(error) });
      continue;
    }
    bases.push({ entry, list, changed: changedPages(plan.hashes, list) });
  }
  for (const file of plan.baseFiles ?? []) {
    // The first snapshot of a commit has nothing to make a delta from, and a build that started empty kept no
    // base (build --keep-base): the file is not needed, so it is not looked at, nor required to exist.
    if (bases.length === 0) {
      step('base-unused', { file, reason: 'no earlier snapshot of this commit to make a delta from' });
      continue;
    }
    const reasons: string[] = [];
    for (const base of bases) {
      const mismatch = await baseMismatch(file, base, plan.pageSize);
      if (mismatch === null) base.file ??= file;
      else reasons.push(`not ${base.entry.sha256.slice(0, 12)}: ${mismatch}`);
    }
    if (reasons.length === bases.length) {
      throw new UsageError(`base file ${file} is none of the earlier snapshots deltas are made from (${reasons.join('; ')})`);
    }
  }
  return bases.map((base) => ({ ...base, file: base.file }));
}

/** Writes the format-2 delta from `base` (whose file is at hand), compressed, to a temp file; returns its decoded size. */
async function writePatchDelta(plan: DeltaPlan, base: DeltaBase & { file: string }, file: string): Promise<number> {
  const baseFd = openSync(base.file, 'r');
  const targetFd = openSync(plan.database, 'r');
  let rawSize = deltaHeaderBytes(2);
  const pageSize = plan.pageSize;
  function* stream(): Generator<Buffer> {
    yield encodeDeltaHeader({
      format: 2,
      pageSize,
      pageCount: plan.hashes.length / HASH_BYTES,
      pages: base.changed.length,
      baseSha256: base.entry.sha256,
      targetSha256: plan.target.sha256,
      basePageCount: base.entry.chunks.count,
    });
    for (const record of patchRecords(base.changed, {
      pageSize,
      basePageCount: base.entry.chunks.count,
      // Proven again at every read (it costs a hash of a page beside a deflate): the file may have changed since it was matched.
      basePage: (index) => readProvenPage(baseFd, base, base.file, index, pageSize),
      targetPage: (index) => {
        const page = Buffer.alloc(pageSize);
        if (readSync(targetFd, page, 0, pageSize, index * pageSize) !== pageSize) throw new Error(`short read of page ${index} of ${plan.database}`);
        return page;
      },
    })) {
      rawSize += record.length;
      yield record;
    }
  }
  try {
    await pipeline(Readable.from(stream()), compressor(plan.encoding, plan.level), createWriteStream(file, { flags: 'wx' }));
  } finally {
    closeSync(baseFd);
    closeSync(targetFd);
  }
  return rawSize;
}

/** Uploads a finished delta file and confirms the store holds all of it. */
async function upload(store: ObjectStore, key: string, file: string, size: number, limits: TransferLimits): Promise<void> {
  await store.put(key, createReadStream(file), { contentType: 'application/octet-stream', signal: limits.signal });
  const stored = await store.head(key, { signal: limits.signal });
  if (stored?.size !== size)
    throw new StoreError(`upload of ${key} not confirmed: the store holds ${stored ? `${stored.size} bytes` : 'nothing'}, expected ${size}`, true);
}

/**
 * Makes and uploads the deltas from each base: format 1 (the changed pages whole, which every agent reads)
 * always, and format 2 (the pages as patches, listed apart for agents that read it) where the base's file
 * is at hand and the result is smaller. A delta larger than the plan's share of the full object is not
 * written: a pod would do as well downloading it all.
 */
export async function publishDeltas(store: ObjectStore, plan: DeltaPlan, bases: readonly DeltaBase[]): Promise<{ deltas: DeltaInfo[]; patches: PatchInfo[] }> {
  const step = plan.onStep ?? (() => {});
  const deltas: DeltaInfo[] = [];
  const patches: PatchInfo[] = [];
  const limit = plan.maxShare * plan.fullObjectSize;
  const tooLarge = `larger than ${plan.maxShare} of the full object (${plan.fullObjectSize} bytes)`;
  for (const base of bases) {
    const { entry, changed: pages } = base;
    const file = path.join(plan.tempDir, `sqlitening-delta-${randomBytes(6).toString('hex')}`);
    let wholePages: number | undefined;
    try {
      await writeDelta(plan, entry, pages, file);
      const { size } = await stat(file);
      if (size > limit) {
        step('delta-skipped', { base: entry.sha256, pages: pages.length, size, reason: tooLarge });
      } else {
        const key = deltaKey(plan.target, entry.sha256, plan.encoding);
        await upload(store, key, file, size, plan.limits);
        const rawSize = DELTA_HEADER_BYTES + pages.length * (4 + plan.pageSize);
        deltas.push({ base: { sha256: entry.sha256 }, key, encoding: plan.encoding, size, rawSize, pages: pages.length });
        wholePages = size;
        step('delta', { base: entry.sha256, key, pages: pages.length, size });
      }
    } finally {
      await rm(file, { force: true });
    }

    if (!base.file) {
      step('patch-skipped', { base: entry.sha256, reason: 'no file of this snapshot at hand (publish --base)' });
      continue;
    }
    try {
      const rawSize = await writePatchDelta(plan, { ...base, file: base.file }, file);
      const { size } = await stat(file);
      if (size > limit || (wholePages !== undefined && size >= wholePages)) {
        step('patch-skipped', {
          base: entry.sha256,
          pages: pages.length,
          size,
          reason: size > limit ? tooLarge : `not smaller than format 1 (${wholePages} bytes)`,
        });
        continue;
      }
      const key = patchKey(plan.target, entry.sha256, plan.encoding);
      await upload(store, key, file, size, plan.limits);
      patches.push({ base: { sha256: entry.sha256 }, key, encoding: plan.encoding, size, rawSize, pages: pages.length, format: 2 });
      step('patch', { base: entry.sha256, key, pages: pages.length, size });
    } finally {
      await rm(file, { force: true });
    }
  }
  return { deltas, patches };
}
