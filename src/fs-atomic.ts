import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fsyncPath } from './store/local-store.js';

/** Writes a small file atomically: temp file beside it, fsync, rename, fsync the folder. */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const folder = path.dirname(file);
  await mkdir(folder, { recursive: true });
  const temp = path.join(folder, `.${path.basename(file)}.tmp-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(temp, content, { flag: 'wx' });
    await fsyncPath(temp);
    await rename(temp, file);
    await fsyncPath(folder);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
