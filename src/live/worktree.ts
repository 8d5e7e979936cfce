import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { CommitNotInCloneError } from './commit-errors.js';
import { gitOutput, runGit } from '../git.js';

/*
 * A commit's own code, checked out beside the workflow's clone with
 * `git worktree`: the clone's objects are shared, so nothing is fetched, and
 * the workflow's checkout is left as it was.
 */

/** The top folder of the git checkout that holds `dir`; a `UsageError` when it is in none. */
export async function repositoryRoot(dir: string): Promise<string> {
  // --show-cdup (the way up, e.g. `../../`) keeps the caller's spelling of the path; --show-toplevel would resolve symlinks.
  const result = await runGit(dir, ['rev-parse', '--show-cdup']).catch((error: Error) => ({ code: -1, stdout: '', stderr: error.message }));
  if (result.code !== 0) {
    throw new UsageError(
      `${dir} is not in a git checkout (${result.stderr.trim().split('\n')[0]}); git-sha: live builds each commit from the workflow's clone: use actions/checkout with fetch-depth: 0`,
    );
  }
  return path.resolve(dir, result.stdout.trim());
}

/** Whether the clone holds `gitSha` as a commit. */
export async function hasCommit(root: string, gitSha: string): Promise<boolean> {
  return (await runGit(root, ['cat-file', '-e', `${gitSha}^{commit}`])).code === 0;
}

/** Whether the clone is shallow (it holds only the newest commits). */
export async function isShallow(root: string): Promise<boolean> {
  return (await gitOutput(root, ['rev-parse', '--is-shallow-repository'])).trim() === 'true';
}

/**
 * Checks `gitSha` out, detached, in a new worktree under `parent`, runs `fn`
 * in it, and removes the worktree whatever happens. Throws
 * `CommitNotInCloneError` when the clone does not hold the commit.
 */
export async function withWorktree<T>(root: string, gitSha: string, parent: string, fn: (checkout: string) => Promise<T>): Promise<T> {
  if (!(await hasCommit(root, gitSha))) throw new CommitNotInCloneError(gitSha, root, await isShallow(root));
  const folder = await mkdtemp(path.join(parent, `sqlitening-${gitSha.slice(0, 12)}-`));
  const checkout = path.join(folder, 'checkout');
  try {
    await gitOutput(root, ['worktree', 'add', '--detach', '--quiet', checkout, gitSha]);
    return await fn(checkout);
  } finally {
    // --force: loaders may leave files behind. If git cannot remove it, the folder goes and prune forgets it.
    const removed = await runGit(root, ['worktree', 'remove', '--force', checkout]).catch(() => undefined);
    await rm(folder, { recursive: true, force: true });
    if (removed?.code !== 0) await runGit(root, ['worktree', 'prune']).catch(() => undefined);
  }
}
