import { readFile, rm, stat } from 'node:fs/promises';
import type { Manifest } from '@sqlitening/contract';
import { writeFileAtomic } from '../fs-atomic.js';
import { DOWNLOAD_TEMP_MARK } from '../transfer/download.js';
import { identifyFile, pageHashesOf } from '../transfer/identify-file.js';
import { hashListBeside, PageHashFile } from '../transfer/page-hash-file.js';
import type { AgentPaths } from '../agent/paths.js';

/**
 * The chunk hashes of the live database, as a delta needs them: from the file
 * the agent saved at install when their root still matches the installed
 * manifest, else hashed again from the live file and checked against that
 * root. `null` when the installed manifest has no chunk root, or the live
 * file no longer matches it.
 */
export async function liveChunkHashes(paths: AgentPaths, installed: Manifest): Promise<PageHashFile | null> {
  const chunks = installed.chunks;
  if (!chunks) return null;
  const saved = await PageHashFile.at(paths.chunks);
  // The saved hashes stand for the live file only while it is the very file they were saved for (same inode,
  // size and mtime): a crash between an install's rename and this save, or any write to the file, shows here.
  // A saved list that cannot be read is as good as none: the live file is hashed again.
  const savedRoot = await saved?.root().catch(() => null);
  if (saved && savedRoot === chunks.root && (await readFile(paths.chunksOf, 'utf8').catch(() => '')) === (await fileIdentity(paths.database))) {
    return saved;
  }
  const hashes = await pageHashesOf(paths.database, chunks.size, hashListBeside(paths.database, DOWNLOAD_TEMP_MARK));
  try {
    if ((await hashes.root()) !== chunks.root) {
      await hashes.remove();
      return null;
    }
    return await saveChunkHashes(paths, hashes);
  } catch (error) {
    await hashes.remove();
    throw error;
  }
}

/** Which file the saved hashes belong to: inode, size and mtime of the live file. */
async function fileIdentity(file: string): Promise<string> {
  const stats = await stat(file, { bigint: true }).catch(() => null);
  return stats ? `${stats.ino}:${stats.size}:${stats.mtimeNs}` : 'missing';
}

/**
 * Keeps a list of the live file's hashes as it is now (after the install) where the next delta finds it,
 * moving the list there; none: the saved list is removed. The saved list is proven by its root before any
 * use, so it needs no fsync of its own.
 */
export async function saveChunkHashes(paths: AgentPaths, hashes: PageHashFile | null): Promise<PageHashFile | null> {
  if (!hashes) {
    await rm(paths.chunks, { force: true });
    return null;
  }
  const saved = await hashes.moveTo(paths.chunks).catch(async (error: unknown) => {
    await hashes.remove();
    throw error;
  });
  await writeFileAtomic(paths.chunksOf, await fileIdentity(paths.database));
  return saved;
}

/**
 * Reads the whole live file again and checks it against the installed
 * manifest: its SHA-256 and, when it has one, its chunk root, in one read.
 * Local disk corruption shows here rather than in the app, and so does a file
 * that a delta proved only by its root. Saves the chunk hashes it computed.
 * `signed`: the manifest's signature was verified against a trusted key, which
 * binds its SHA-256 to its chunk root; the root alone then proves the file.
 */
export async function reverifyLiveFile(paths: AgentPaths, installed: Manifest, options: { signed: boolean }): Promise<boolean> {
  const wholeFile = !(options.signed && installed.chunks);
  const listAt = hashListBeside(paths.database, DOWNLOAD_TEMP_MARK);
  const { sha256, hashes } = await identifyFile(paths.database, installed.chunks?.size ?? 4096, listAt, { wholeFile });
  try {
    const proven = (sha256 === null || sha256 === installed.database.sha256) && (!installed.chunks || (await hashes.root()) === installed.chunks.root);
    if (proven && installed.chunks) await saveChunkHashes(paths, hashes);
    else await hashes.remove();
    return proven;
  } catch (error) {
    await hashes.remove();
    throw error;
  }
}
