import { SqliteningError } from '@sqlitening/contract';

/** A commit to build is not in the local clone: a shallow checkout (fetch-depth: 0 fetches every commit), a commit force-pushed away, or a made-up sha. */
export class CommitNotInCloneError extends SqliteningError {
  constructor(
    readonly gitSha: string,
    readonly repository: string,
    shallow: boolean,
  ) {
    super(
      `commit ${gitSha} is not in the clone at ${repository}${shallow ? ' (a shallow clone)' : ''}: check out with actions/checkout and fetch-depth: 0 so every live commit is there; a commit force-pushed away, or one that never existed, cannot be checked out`,
      'commit-not-in-clone',
      'usage',
      false,
    );
  }
}

/**
 * A live commit that CI may not build: neither in the history of the live
 * branch nor allowed by its full sha. Building runs the commit's own loaders
 * with the job's secrets, and the board reports whatever sha a cluster's
 * heartbeat secret names, so an unmerged commit is refused before any of its
 * code runs.
 */
export class CommitNotAllowedError extends SqliteningError {
  constructor(
    readonly gitSha: string,
    /** The branch whose history is allowed, as people read it: `origin/main`. */
    readonly branch: string,
  ) {
    super(
      `commit ${gitSha} is not in the history of ${branch} and not listed in live-allow, so its code is not run: merge it into ${branch}, or list its full sha in live-allow`,
      'commit-not-allowed',
      'rejected',
      false,
    );
  }
}

/** A live commit past the most commits built in one run (`live-max-commits`): left for a later run, not checked. */
export class TooManyLiveCommitsError extends SqliteningError {
  constructor(
    readonly gitSha: string,
    readonly maxCommits: number,
  ) {
    super(
      `commit ${gitSha} comes after the ${maxCommits} live commit${maxCommits === 1 ? '' : 's'} built per run (live-max-commits), so it was not checked or built`,
      'too-many-live-commits',
      'usage',
      false,
    );
  }
}
