import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ParallelGzip } from '../src/wire/parallel-gzip.js';

/** Compressible bytes: random words, like a content database's text. */
function text(bytes: number): Buffer {
  const words = Array.from({ length: 500 }, () => randomBytes(3 + (randomBytes(1)[0]! % 6)).toString('hex'));
  const parts: string[] = [];
  let size = 0;
  while (size < bytes) {
    const word = words[randomBytes(2).readUInt16BE(0) % words.length]!;
    parts.push(word);
    size += word.length + 1;
  }
  return Buffer.from(parts.join(' ')).subarray(0, bytes);
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function compress(data: Buffer, parallel: number, pieceBytes = 1_000_003): Promise<Buffer> {
  const pieces = Array.from({ length: Math.ceil(data.length / pieceBytes) }, (_, i) => data.subarray(i * pieceBytes, (i + 1) * pieceBytes));
  const chunks: Buffer[] = [];
  await pipeline(Readable.from(pieces), new ParallelGzip(1, parallel), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}

describe('ParallelGzip', () => {
  it('writes gzip members in input order that Node, GNU gzip and Python read back as the input', async () => {
    const data = text(19 * 1024 * 1024 + 77);
    const gz = await compress(data, 3);
    expect(gz.length).toBeLessThan(data.length / 1.5);
    // Several members: a block is 4 MiB.
    let members = 0;
    for (let at = gz.indexOf(Buffer.from([0x1f, 0x8b, 8])); at >= 0; at = gz.indexOf(Buffer.from([0x1f, 0x8b, 8]), at + 1)) members++;
    expect(members).toBeGreaterThanOrEqual(5);
    expect(sha(await buffer(Readable.from([gz]).pipe(zlib.createGunzip())))).toBe(sha(data));
    expect(sha(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 64 * 1024 * 1024 }))).toBe(sha(data));
    const python = 'import gzip,hashlib,sys; print(hashlib.sha256(gzip.decompress(sys.stdin.buffer.read())).hexdigest())';
    expect(
      execFileSync('python3', ['-c', python], { input: gz, maxBuffer: 1024 * 1024 })
        .toString()
        .trim(),
    ).toBe(sha(data));
  });

  it('gives the same bytes whatever the parallelism, and is within 0.5% of one gzip stream', async () => {
    const data = text(9 * 1024 * 1024);
    const one = await compress(data, 1);
    expect((await compress(data, 4)).equals(one)).toBe(true);
    expect(one.length).toBeLessThan(zlib.gzipSync(data, { level: 1 }).length * 1.005);
  });

  it('compresses an empty input to one empty member', async () => {
    expect(zlib.gunzipSync(await compress(Buffer.alloc(0), 2)).length).toBe(0);
  });

  it('passes on a failing source', async () => {
    const failing = new Readable({
      read() {
        this.push(randomBytes(5 * 1024 * 1024));
        this.destroy(new Error('source broke'));
      },
    });
    await expect(
      pipeline(failing, new ParallelGzip(1, 2), async (source: AsyncIterable<Buffer>) => {
        for await (const _ of source);
      }),
    ).rejects.toThrow('source broke');
  });
});
