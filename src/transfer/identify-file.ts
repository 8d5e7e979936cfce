import { open } from 'node:fs/promises';
import { HashingFileWriter } from './hashing-file-writer.js';
import { type PageHashFile, PageHashWriter } from './page-hash-file.js';
import { feedFile } from './feed-file.js';

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
  let finished: PageHashFile | null = null;
  try {
    pageHashes = PageHashWriter.create(listAt);
    const { size } = await handle.stat();
    // Read buffers are reused, not freed: the hasher's own collections would only slow it (reclaim: false).
    hasher = new HashingFileWriter(null, { chunkSize, size, pageHashes, wholeFile: options.wholeFile ?? true, reclaim: false });
    await feedFile(handle, [hasher]);
    const { sha256, chunkHashes } = hasher.result();
    finished = chunkHashes;
    return { sha256, hashes: chunkHashes! };
  } finally {
    // Its threads stopped before an unfinished list is removed: no late hash lands in a closed descriptor.
    hasher?.destroy();
    if (!finished) await pageHashes?.discard();
    await handle.close();
  }
}

/** The page hashes of a whole file, in a new list file at `listAt`. */
export async function pageHashesOf(file: string, chunkSize: number, listAt: string): Promise<PageHashFile> {
  return (await identifyFile(file, chunkSize, listAt, { wholeFile: false })).hashes;
}
