import { createHash } from 'node:crypto';

let fastSha256: boolean | undefined;

/**
 * Whether SHA-256 runs at the speed of CPUs with SHA extensions (above 1 GB/s, measured once on 1 MiB):
 * then one thread does both hashes and keeps up with the store; without them (a few hundred MB/s)
 * both hashes get a thread each, for about 9 MiB more memory (measured, 1 GiB with SHA extensions masked:
 * 1.21x the time of `curl + sha256sum` on one thread).
 */
export function sha256IsFast(): boolean {
  if (fastSha256 === undefined) {
    const sample = Buffer.alloc(1024 * 1024, 1);
    createHash('sha256').update(sample).digest();
    const started = process.hrtime.bigint();
    createHash('sha256').update(sample).digest();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    fastSha256 = sample.length / seconds > 1e9;
  }
  return fastSha256;
}
