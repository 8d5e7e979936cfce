import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChangedHashes, PageHashFile, PageHashWriter } from '../src/transfer/page-hash-file.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sqlitening-page-hashes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => path.join(dir, `list-${++n}`);
/** More hashes than three windows of the reader hold, and not a whole number of them. */
const COUNT = 3 * 2048 + 17;
const hashes = randomBytes(COUNT * 32);
const hashAt = (list: Buffer, page: number): Buffer => list.subarray(page * 32, (page + 1) * 32);
const rootOf = (list: Buffer): string => createHash('sha256').update(list).digest('hex');

async function written(list: Buffer): Promise<PageHashFile> {
  const writer = PageHashWriter.create(file());
  // Blocks in any order, as hashing threads finish them.
  for (const first of [2048, 0, 4096, 6144]) writer.put(first, list.subarray(first * 32, Math.min(list.length, (first + 2048) * 32)));
  return writer.finish();
}

describe('page-hash lists on disk', () => {
  it('keeps what was put, in page order, and proves it by the same root as the list in memory', async () => {
    const list = await written(hashes);
    expect(list.count).toBe(COUNT);
    expect(readFileSync(list.path).equals(hashes)).toBe(true);
    expect(await list.root()).toBe(rootOf(hashes));
  });

  it('reads any page, across windows and back, and nothing past the end', async () => {
    const reader = (await written(hashes)).reader();
    try {
      for (const page of [0, 2047, 2048, COUNT - 1, 5, 4100, 2048]) expect(reader.hashAt(page)?.equals(hashAt(hashes, page))).toBe(true);
      expect(reader.hashAt(COUNT)).toBeNull();
      expect(reader.hashAt(-1)).toBeNull();
    } finally {
      reader.close();
    }
  });

  it('builds the list after a change: pages replaced, a file grown (pages not given read as zeros) or cut', async () => {
    const base = await written(hashes);
    const given = new Map([
      [1, randomBytes(32)],
      [2049, randomBytes(32)],
      [COUNT + 3, randomBytes(32)],
    ]);
    const changed = new ChangedHashes();
    changed.set(1, randomBytes(32)); // replaced below: the last hash put for a page counts
    for (const [page, hash] of given) changed.set(page, hash);
    // More than the first buffer holds, so it grows; all beyond the list's new end.
    for (let page = COUNT + 5; page < COUNT + 2000; page++) changed.set(page, randomBytes(32));
    const grown = base.patched(changed, COUNT + 5, file());
    const expected = Buffer.concat([hashes, Buffer.alloc(5 * 32)]);
    for (const [page, hash] of given) hash.copy(expected, page * 32);
    expect(readFileSync(grown.list.path).equals(expected)).toBe(true);
    expect(grown.root).toBe(rootOf(expected));
    expect(await grown.list.root()).toBe(grown.root);

    const one = new ChangedHashes();
    one.set(1, given.get(1)!);
    const cut = base.patched(one, 100, file());
    expect(readFileSync(cut.list.path).equals(expected.subarray(0, 100 * 32))).toBe(true);
    expect(cut.root).toBe(rootOf(expected.subarray(0, 100 * 32)));
  });

  it('is moved where it is kept, and removed', async () => {
    const list = await written(hashes);
    const kept = await list.moveTo(path.join(dir, 'kept.bin'));
    expect((await PageHashFile.at(kept.path))?.count).toBe(COUNT);
    expect(await PageHashFile.at(list.path)).toBeNull();
    await kept.remove();
    expect(await PageHashFile.at(kept.path)).toBeNull();
  });

  it('refuses a file that is not a whole number of hashes, and never writes into an existing file or through a link', async () => {
    const odd = file();
    writeFileSync(odd, randomBytes(33));
    expect(await PageHashFile.at(odd)).toBeNull();
    expect(() => PageHashWriter.create(odd)).toThrow(/EEXIST/);
    const link = file();
    symlinkSync(path.join(dir, 'elsewhere'), link);
    expect(() => PageHashWriter.create(link)).toThrow(/EEXIST/);
  });

  it('removes an unfinished list', async () => {
    const writer = PageHashWriter.create(file());
    writer.put(0, hashes.subarray(0, 64));
    await writer.discard();
    expect(await PageHashFile.at(writer.path)).toBeNull();
  });
});
