import { type SqliteningError, UsageError } from '../errors.js';
import { CommitNotAllowedError, CommitNotInCloneError, TooManyLiveCommitsError } from './commit-errors.js';
import { gitFailed, runGit } from '../git.js';
import { hasCommit, isShallow } from './worktree.js';

/*
 * Which live commits CI may build. The board lists whatever `appGitSha` the
 * heartbeats name, and anyone holding one cluster's heartbeat secret can name
 * any sha; building a commit runs its own migrations and loaders with the
 * job's environment (store credentials, the signing key). So a commit is built
 * only when it is in the history of the live branch (merged code), or listed
 * by its full sha; and at most `maxCommits` per run, whatever the board says.
 * Everything else is skipped with its reason, before any of its code runs.
 */

/** Which of the board's commits may be built, and how many in one run. */
export interface CommitPolicy {
  /**
   * The branch whose history may be built: a name (`main`, `release/2026`,
   * looked up as `refs/remotes/origin/<name>`, then `refs/heads/<name>`) or a
   * full ref (`refs/remotes/upstream/main`); null for the repository's default
   * branch (`origin/HEAD`, else the {@link BranchHint}s).
   */
  branch: string | null;
  /**
   * Full shas built even when they are not in the branch's history (a hotfix
   * deployed from its own branch). Never prefixes: whoever pushes a commit can
   * choose its first digits by trying variations.
   */
  allow: readonly string[];
  /** The most commits built in one run; the board lists newest first, and the rest wait for a later run. */
  maxCommits: number;
}

/** A default branch name known outside the clone, such as the workflow event's `repository.default_branch`. */
export interface BranchHint {
  name: string;
  /** Where the name comes from, for messages. */
  source: string;
}

/** The branch whose history may be built. */
export interface LiveBranch {
  /** Full ref, for git: `refs/remotes/origin/main`. */
  ref: string;
  /** For people: `origin/main (the default branch, from origin/HEAD)`. */
  description: string;
}

/** One of the board's commits: to build (`refused` null), or skipped with the reason. */
export interface CommitDecision<C> {
  commit: C;
  refused: SqliteningError | null;
}

/**
 * Whether `text` can name a branch: git's ref name rules
 * (`git check-ref-format --branch`), and never an option.
 */
export function isBranchName(text: string): boolean {
  return (
    text !== '' &&
    !/[\s~^:?*[\\]/.test(text) &&
    ![...text].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f) &&
    !text.startsWith('-') &&
    !text.startsWith('/') &&
    !text.endsWith('/') &&
    !text.endsWith('.') &&
    !text.endsWith('.lock') &&
    !text.includes('..') &&
    !text.includes('//') &&
    !text.includes('@{') &&
    !text.split('/').some((part) => part.startsWith('.')) &&
    text !== '@'
  );
}

/** `refs/remotes/origin/main` → `origin/main`; `refs/heads/main` → `main`. */
function shortRef(ref: string): string {
  return ref.replace(/^refs\/(remotes|heads)\//, '');
}

async function isCommitRef(root: string, ref: string): Promise<boolean> {
  return (await runGit(root, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).code === 0;
}

/** The ref a branch name stands for in the clone: the remote-tracking branch first (what actions/checkout fetches), then a local one. */
async function branchRef(root: string, name: string): Promise<string | null> {
  const candidates = name.startsWith('refs/') ? [name] : [`refs/remotes/origin/${name}`, `refs/heads/${name}`];
  for (const ref of candidates) if (await isCommitRef(root, ref)) return ref;
  return null;
}

/**
 * The branch whose history may be built: `named` when given; otherwise the
 * repository's default branch, from the clone's `origin/HEAD` (set by
 * `git clone` and `git remote set-head origin --auto`, but not by
 * actions/checkout), else from the first hint whose branch the clone holds.
 * A `UsageError` saying what was tried when none is found.
 */
export async function resolveLiveBranch(root: string, named: string | null, hints: readonly BranchHint[]): Promise<LiveBranch> {
  if (named !== null) {
    const ref = await branchRef(root, named);
    if (ref) return { ref, description: shortRef(ref) };
    throw new UsageError(
      `invalid input 'live-branch': branch ${named} is not in the clone at ${root} (${named.startsWith('refs/') ? named : `neither refs/remotes/origin/${named} nor refs/heads/${named}`}); check out with actions/checkout and fetch-depth: 0, which fetches every branch`,
    );
  }
  const head = await runGit(root, ['symbolic-ref', '--quiet', 'refs/remotes/origin/HEAD']);
  const headRef = head.stdout.trim();
  if (head.code === 0 && (await isCommitRef(root, headRef)))
    return { ref: headRef, description: `${shortRef(headRef)} (the default branch, from origin/HEAD)` };
  const tried = ['the clone has no origin/HEAD'];
  for (const hint of hints) {
    const ref = await branchRef(root, hint.name);
    if (ref) return { ref, description: `${shortRef(ref)} (the default branch, from ${hint.source})` };
    tried.push(`${hint.source} names ${hint.name}, which is not in the clone`);
  }
  if (hints.length === 0) tried.push('the workflow event names no default branch');
  throw new UsageError(
    `cannot tell which branch's commits git-sha: live may build in ${root}: ${tried.join('; ')}. Set input 'live-branch' (e.g. main), or run "git remote set-head origin --auto" after actions/checkout with fetch-depth: 0`,
  );
}

/** Whether `gitSha` is `ref` or one of its ancestors. */
export async function isAncestor(root: string, gitSha: string, ref: string): Promise<boolean> {
  const args = ['merge-base', '--is-ancestor', gitSha, ref];
  const result = await runGit(root, args);
  if (result.code === 0 || result.code === 1) return result.code === 0;
  throw gitFailed(root, args, result);
}

/**
 * Decides, newest first, which of `commits` (the board's list, newest first)
 * to build: each one in the clone and either in the branch's history or in
 * the allow list, until `maxCommits` are found; the rest are refused without
 * being looked at. Refused commits do not count against the limit, so shas
 * nobody can build do not crowd out the ones that can be. Runs none of their code.
 */
export async function decideCommits<C extends { gitSha: string }>(
  root: string,
  commits: readonly C[],
  policy: CommitPolicy,
  hints: readonly BranchHint[],
): Promise<{ branch: LiveBranch; decisions: Array<CommitDecision<C>> }> {
  const branch = await resolveLiveBranch(root, policy.branch, hints);
  const allow = new Set(policy.allow);
  let shallow: boolean | undefined;
  let chosen = 0;
  const decisions: Array<CommitDecision<C>> = [];
  for (const commit of commits) {
    const { gitSha } = commit;
    let refused: SqliteningError | null = null;
    if (chosen >= policy.maxCommits) {
      refused = new TooManyLiveCommitsError(gitSha, policy.maxCommits);
    } else if (!(await hasCommit(root, gitSha))) {
      shallow ??= await isShallow(root);
      refused = new CommitNotInCloneError(gitSha, root, shallow);
    } else if (!allow.has(gitSha) && !(await isAncestor(root, gitSha, branch.ref))) {
      refused = new CommitNotAllowedError(gitSha, shortRef(branch.ref));
    } else {
      chosen++;
    }
    decisions.push({ commit, refused });
  }
  return { branch, decisions };
}
