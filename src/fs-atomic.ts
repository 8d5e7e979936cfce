import { randomBytes } from 'node:crypto';
import type { WriteStream } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Fsyncs a file or folder so a completed write or rename survives a power cut. */
export async function fsyncPath(target: string): Promise<void> {
  const handle = await open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `target` as a whole or not at all: `write` fills a temp file
 * beside it (and may check it), then fsync, rename, fsync of the folder. On
 * any failure the temp file is removed and `target` is untouched.
 * `tempName` names the temp file (default `.<name>.tmp-<random>`), so a later
 * run can recognise and remove the leftovers of a crashed one.
 */
export async function replaceAtomically(target: string, write: (temp: string) => Promise<void>, options: { tempName?: string } = {}): Promise<void> {
  const folder = path.dirname(target);
  await mkdir(folder, { recursive: true });
  const temp = path.join(folder, options.tempName ?? `.${path.basename(target)}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await write(temp);
    await renameInto(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Makes a finished temp file `target`, durably: fsync, rename (atomic for readers), fsync of the folder. */
export async function renameInto(temp: string, target: string): Promise<void> {
  await fsyncPath(temp);
  await rename(temp, target);
  await fsyncPath(path.dirname(target));
}

/**
 * Resolves once a file stream has closed its descriptor, after success or
 * failure. A stream destroyed while still opening its file opens and closes
 * it later: removing the temp file before that would let it reappear.
 */
export function fileClosed(stream: WriteStream): Promise<void> {
  return stream.closed ? Promise.resolve() : new Promise((resolve) => stream.once('close', () => resolve()));
}

/** Writes a small file atomically (see {@link replaceAtomically}). */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  await replaceAtomically(file, (temp) => writeFile(temp, content, { flag: 'wx' }));
}
