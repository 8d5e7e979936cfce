import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { hashPagesInto } from '../src/transfer/hash-thread.js';
import { HashingFileWriter } from '../src/transfer/hashing-file-writer.js';
import { identifyFile } from '../src/transfer/identify-file.js';
import { PageHashWriter } from '../src/transfer/page-hash-file.js';

const PAGE = 4096;
const dir = mkdtempSync(path.join(tmpdir(), 'sqlitening-hashing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes that are not a whole number of pages or blocks, cut into pieces of uneven sizes. */
const data = randomBytes(5 * 1024 * 1024 + 1234);
function pieces(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, n = 0; at < bytes.length; n++) {
    const take = [1, 4095, 65_536, 300_001, 7][n % 5]!;
    out.push(bytes.subarray(at, at + take));
    at += take;
  }
  return out;
}
const expectedSha256 = createHash('sha256').update(data).digest('hex');
const expectedPages = Buffer.concat(
  Array.from({ length: Math.ceil(data.length / PAGE) }, (_, i) =>
    createHash('sha256')
      .update(data.subarray(i * PAGE, (i + 1) * PAGE))
      .digest(),
  ),
);

describe('HashingFileWriter', () => {
  let n = 0;
  for (const threaded of [false, true]) {
    for (const wholeFile of [true, false]) {
      it(`writes every byte and hashes it (${threaded ? 'on hashing threads' : 'inline'}, ${wholeFile ? 'whole file and pages' : 'pages only'})`, async () => {
        const file = path.join(dir, `out-${++n}`);
        const handle = await open(file, 'wx');
        // A flush every 256 KiB: many early flushes while blocks are still being written.
        const pageHashes = PageHashWriter.create(`${file}.hashes`);
        const writer = new HashingFileWriter(handle, { chunkSize: PAGE, size: data.length, pageHashes, wholeFile, threaded, flushEvery: 256 * 1024 });
        try {
          await pipeline(Readable.from(pieces(data)), writer);
        } finally {
          await handle.close();
        }
        const written = writer.result();
        expect(written.bytes).toBe(data.length);
        expect(written.sha256).toBe(wholeFile ? expectedSha256 : null);
        expect(written.chunkHashes?.path).toBe(`${file}.hashes`);
        expect(written.chunkHashes?.count).toBe(expectedPages.length / 32);
        expect(readFileSync(`${file}.hashes`).equals(expectedPages)).toBe(true);
        expect(readFileSync(file).equals(data)).toBe(true);
      });
    }
  }

  it('puts each page hash in place, a short last page too, with one-shot hashing and without it (Node before 20.12)', async () => {
    const crypto = await import('node:crypto');
    const bytes = randomBytes(3 * PAGE + 100);
    const expected = Buffer.concat(
      [0, 1, 2, 3].map((page) =>
        createHash('sha256')
          .update(bytes.subarray(page * PAGE, (page + 1) * PAGE))
          .digest(),
      ),
    );
    const withoutOneShot = { createHash: crypto.createHash } as unknown as typeof crypto;
    for (const api of [crypto, withoutOneShot]) {
      const area = Buffer.alloc(5 * 32, 0xee);
      expect(hashPagesInto(api, bytes, PAGE, area, 32)).toBe(4);
      expect(area.subarray(0, 4 * 32).equals(expected)).toBe(true);
      expect(area.subarray(4 * 32).equals(Buffer.alloc(32, 0xee))).toBe(true); // nothing past the last page
    }
  });

  it('needs a chunk size when it does not hash the whole file, and a list file for page hashes', () => {
    expect(() => new HashingFileWriter(null, { chunkSize: null, size: 10, wholeFile: false })).toThrow(/chunk size is required/);
    expect(() => new HashingFileWriter(null, { chunkSize: PAGE, size: 10 })).toThrow(/need both a chunk size and a list/);
  });

  it('identifies a file by its page hashes alone when asked', async () => {
    const file = path.join(dir, 'identify');
    const handle = await open(file, 'wx');
    await handle.writeFile(data);
    await handle.close();
    const both = await identifyFile(file, PAGE, `${file}.both`);
    expect(both.sha256).toBe(expectedSha256);
    expect(readFileSync(both.hashes.path).equals(expectedPages)).toBe(true);
    const pagesOnly = await identifyFile(file, PAGE, `${file}.pages`, { wholeFile: false });
    expect(pagesOnly.sha256).toBeNull();
    expect(readFileSync(pagesOnly.hashes.path).equals(expectedPages)).toBe(true);
    expect(await pagesOnly.hashes.root()).toBe(createHash('sha256').update(expectedPages).digest('hex'));
  });

  it('fails with the cause when the list of page hashes cannot be written, and leaves nothing open', async () => {
    const file = path.join(dir, 'identify');
    await expect(identifyFile(file, PAGE, path.join(dir, 'no-such-folder', 'list'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(identifyFile(path.join(dir, 'no-such-file'), PAGE, `${file}.never`)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(existsSync(`${file}.never`)).toBe(false);
  });

  it('hashes the same where SHA-256 is slow (the work shared by two threads)', () => {
    // Masking the SHA extensions makes SHA-256 slow on any x86 CPU, which takes the two-thread paths; the
    // file is large enough for threads at all.
    const file = path.join(dir, 'slow');
    const script = `
      import { createHash, randomBytes } from 'node:crypto';
      import { readFileSync, writeFileSync } from 'node:fs';
      import { identifyFile } from './lib/transfer/identify-file.js';
      import { sha256IsFast } from './lib/transfer/sha256-speed.js';
      const data = randomBytes(33 * 1024 * 1024 + 1234);
      writeFileSync(process.argv[1], data);
      const pages = [];
      for (let at = 0; at < data.length; at += ${PAGE}) pages.push(createHash('sha256').update(data.subarray(at, at + ${PAGE})).digest());
      const expected = { sha256: createHash('sha256').update(data).digest('hex'), hashes: Buffer.concat(pages).toString('hex') };
      const both = await identifyFile(process.argv[1], ${PAGE}, process.argv[1] + '.both');
      const pagesOnly = await identifyFile(process.argv[1], ${PAGE}, process.argv[1] + '.pages', { wholeFile: false });
      const list = (hashes) => readFileSync(hashes.path).toString('hex');
      console.log(JSON.stringify({
        fast: sha256IsFast(),
        both: both.sha256 === expected.sha256 && list(both.hashes) === expected.hashes,
        pagesOnly: pagesOnly.sha256 === null && list(pagesOnly.hashes) === expected.hashes,
      }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, file], {
      cwd: path.resolve(import.meta.dirname, '..'),
      env: { ...process.env, OPENSSL_ia32cap: ':~0x20000000' },
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual({ fast: process.arch !== 'x64', both: true, pagesOnly: true });
  });
});
