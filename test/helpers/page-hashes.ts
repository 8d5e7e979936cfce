import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The SHA-256 of each `pageSize` page of a file, concatenated: computed here, apart from the code under test. */
export function pageHashes(file: string, pageSize = 4096): Buffer {
  const bytes = readFileSync(file);
  const hashes = Buffer.alloc(Math.ceil(bytes.length / pageSize) * 32);
  for (let page = 0; page * pageSize < bytes.length; page++) {
    createHash('sha256')
      .update(bytes.subarray(page * pageSize, (page + 1) * pageSize))
      .digest()
      .copy(hashes, page * 32);
  }
  return hashes;
}
