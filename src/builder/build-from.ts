import { copyFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { buildDatabase, type BuildOptions, type BuildResult } from './build.js';
import { type PublishedStart, startFromPublished } from './start-from-published.js';

/** Where a build starts: the newest published snapshot of a commit (a data refresh), a database file, or nothing. */
export type BuildStart =
  | ({
      kind: 'published';
      /**
       * Keep the downloaded snapshot at this path after a successful build, the base of the next publish's
       * smallest deltas (`publish --base`); a build that started empty removes any file there, so an older
       * one is never taken for the snapshot this build started from. Absent: the download is removed.
       */
      keepAs?: string | undefined;
    } & PublishedStart)
  | { kind: 'file'; file: string }
  | { kind: 'empty' };

export interface StartedFrom {
  /** The snapshot's object key, the file, or `an empty database (why)`, for people. */
  description: string;
  /** The snapshot started from, when it was a published one. */
  key?: string | undefined;
  sha256?: string | undefined;
  createdAt?: string | undefined;
  /** The trusted key that proved the published snapshot started from; null when none was given (the store was trusted). */
  provenBy?: string | null | undefined;
  /** Where the snapshot started from was kept (`keepAs`), for publish to make deltas from. */
  keptAs?: string | undefined;
}

/**
 * The build half of every refresh, the same in the CLI and the Action:
 * resolve the starting point (downloading and verifying a published
 * snapshot into the output's folder), build from it, and remove the download
 * whatever happens.
 */
export async function buildFrom(
  start: BuildStart,
  options: Omit<BuildOptions, 'from'>,
  hooks: { onStart?: (from: StartedFrom) => void; onProgress?: (bytes: number, total: number) => void } = {},
): Promise<{ built: BuildResult; startedFrom: StartedFrom }> {
  let file: string | undefined;
  let downloaded = false;
  let startedFrom: StartedFrom = { description: 'an empty database' };
  if (start.kind === 'published') {
    const found = await startFromPublished(start, path.dirname(path.resolve(options.output)), hooks.onProgress);
    if (found.kind === 'published') {
      file = found.file;
      downloaded = true;
      startedFrom = {
        description: found.manifest.object.key,
        key: found.manifest.object.key,
        sha256: found.manifest.database.sha256,
        createdAt: found.manifest.createdAt,
        provenBy: found.signedBy,
      };
    } else {
      startedFrom = { description: `an empty database (${found.reason})` };
    }
  } else if (start.kind === 'file') {
    file = path.resolve(start.file);
    startedFrom = { description: file };
  }
  hooks.onStart?.(startedFrom);
  let kept = false;
  try {
    const built = await buildDatabase({ ...options, from: file });
    if (start.kind === 'published' && start.keepAs) {
      const keepAs = path.resolve(start.keepAs);
      if (downloaded && file) {
        await moveFile(file, keepAs);
        kept = true;
        startedFrom = { ...startedFrom, keptAs: keepAs };
      } else {
        await rm(keepAs, { force: true });
      }
    }
    return { built, startedFrom };
  } finally {
    if (downloaded && file && !kept) await rm(file, { force: true });
  }
}

/** Renames `from` to `to`, or copies it where they are on different file systems. */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(from, to);
    await rm(from, { force: true });
  }
}
