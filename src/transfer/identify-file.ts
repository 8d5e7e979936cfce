import { open } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { HashingFileWriter } from './hashing-file-writer.js';
import { type PageHashFile, PageHashWriter } from './page-hash-file.js';
import { writeCopied } from './write-copied.js';

/** Bytes per read: one buffer, reused once the hasher has copied each read (see write-copied.ts). */
const READ_BYTES = 1024 * 1024;

/**
 * A file's SHA-256 and page (chunk) hashes, in one read: what a pod needs to check a file, or to know which
 * delta applies to one it was not told about. The page hashes go to a new list file at `listAt` (the
 * caller's, to move or remove). `wholeFile: false`: the page hashes only (`sha256` null).
 * The one way a file on disk is hashed.
 */
export async function identifyFile(file: string, chunkSize: number, listAt: string): Promise<{ sha256: string; hashes: PageHashFile }>;
export async function identifyFile(
  file: string,
  chunkSize: number,
  listAt: string,
  options: { wholeFile: boolean },
): Promise<{ sha256: string | null; hashes: PageHashFile }>;
export async function identifyFile(
  file: string,
  chunkSize: number,
  listAt: string,
  options: { wholeFile?: boolean } = {},
): Promise<{ sha256: string | null; hashes: PageHashFile }> {
  const handle = await open(file, 'r');
  let pageHashes: PageHashWriter | undefined;
  let hasher: HashingFileWriter | undefined;
  try {
    pageHashes = PageHashWriter.create(listAt);
    const { size } = await handle.stat();
    // Read buffers are reused, not freed: the hasher's own collections would only slow it (reclaim: false).
    const writer = new HashingFileWriter(null, { chunkSize, size, pageHashes, wholeFile: options.wholeFile ?? true, reclaim: false });
    hasher = writer;
    // The hasher's failure (a thread's, the list's write) ends the read loop whatever write it waits for.
    const failed = new Promise<never>((_, reject) => writer.once('error', reject));
    failed.catch(() => {});
    const step = <T>(work: Promise<T>): Promise<T> => Promise.race([work, failed]);
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    for (let position = 0; ; ) {
      const { bytesRead } = await step(handle.read(buffer, 0, buffer.length, position));
      if (bytesRead === 0) break;
      await step(writeCopied(writer, buffer.subarray(0, bytesRead)));
      position += bytesRead;
    }
    writer.end();
    await step(finished(writer));
    const { sha256, chunkHashes } = writer.result();
    return { sha256, hashes: chunkHashes! };
  } catch (error) {
    // Its threads stopped before the list is removed: no late hash lands in a closed descriptor.
    hasher?.destroy();
    await pageHashes?.discard();
    throw error;
  } finally {
    hasher?.destroy();
    await handle.close();
  }
}

/** The page hashes of a whole file, in a new list file at `listAt`. */
export async function pageHashesOf(file: string, chunkSize: number, listAt: string): Promise<PageHashFile> {
  return (await identifyFile(file, chunkSize, listAt, { wholeFile: false })).hashes;
}
