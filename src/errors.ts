import { formatDuration, SqliteningError } from '@sqlitening/contract';

/*
 * The errors Sqlitening raises on purpose. The base classes (and ContractError,
 * which the board raises too) live in the contract package; `describeError`
 * (describe-error.ts) is the one place that says what any error means.
 */
export { ContractError, SqliteningError, UsageError, type ErrorKind } from '@sqlitening/contract';

/** The object does not exist in the store. */
export class NotFoundError extends SqliteningError {
  constructor(
    readonly key: string,
    readonly location: string,
  ) {
    super(`${key} not found in ${location}`, 'not-found', 'failed', false);
  }
}

/** The store cannot be reached at all (DNS, refused connection, timeout). */
export class StoreUnreachableError extends SqliteningError {
  constructor(location: string, reason: string, cause?: unknown) {
    super(`cannot reach the store ${location}: ${reason}`, 'store-unreachable', 'failed', true, { cause });
  }
}

/** The bucket named in the store settings does not exist. */
export class BucketMissingError extends SqliteningError {
  constructor(
    readonly bucket: string,
    endpoint: string,
  ) {
    super(`bucket "${bucket}" does not exist at ${endpoint}; create it or fix --store`, 'bucket-missing', 'failed', false);
  }
}

/** The store refused the credentials, or they are missing. */
export class AccessDeniedError extends SqliteningError {
  constructor(message: string, cause?: unknown) {
    super(message, 'access-denied', 'failed', false, { cause });
  }
}

/** Any other answer from the store; retryable when the store says it is busy or broken (5xx, 429). */
export class StoreError extends SqliteningError {
  constructor(message: string, retryable: boolean, cause?: unknown) {
    super(message, 'store-error', 'failed', retryable, { cause });
  }
}

/** A write, list or delete on a store that can only read (public HTTP). */
export class ReadOnlyStoreError extends SqliteningError {
  constructor(location: string, operation: string) {
    super(`${location} is read-only (public HTTP); it cannot ${operation}. Use an s3:// or file:// store to publish`, 'read-only-store', 'usage', false);
  }
}

/** The database failed a check (integrity, foreign keys, journal mode) or a build step. */
export class DatabaseError extends SqliteningError {
  constructor(message: string, code = 'database-check') {
    super(message, code, 'rejected', false);
  }
}

/** The downloaded bytes are not the ones the manifest describes. */
export class ChecksumMismatchError extends SqliteningError {
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${what}: sha256 mismatch, expected ${expected}, got ${actual}`, 'checksum-mismatch', 'failed', true);
  }
}

/** The body is larger or smaller than the manifest says. */
export class SizeMismatchError extends SqliteningError {
  constructor(
    readonly what: string,
    readonly expected: number,
    readonly actual: number,
    detail = '',
  ) {
    super(`${what}: expected ${expected} bytes, got ${actual}${detail}`, 'size-mismatch', 'failed', true);
  }
}

/** A delta's records do not decode: a patch that does not inflate to exactly one page, or names a page it may not. */
export class CorruptDeltaError extends SqliteningError {
  constructor(message: string) {
    super(message, 'corrupt-body', 'failed', true);
  }
}

/** The body stopped arriving: no bytes for longer than the stall timeout. */
export class StalledError extends SqliteningError {
  constructor(what: string, timeoutMs: number) {
    super(`${what}: no data for ${timeoutMs} ms (stalled connection)`, 'stalled', 'failed', true);
  }
}

/** The manifest names another commit than the one the app runs. */
export class WrongCommitError extends SqliteningError {
  constructor(
    readonly expected: string,
    readonly actual: string,
    where: string,
  ) {
    super(`${where} is for commit ${actual}, but the app runs ${expected}; refusing to install it`, 'wrong-commit', 'rejected', false);
  }
}

/** Another agent holds the data folder. */
export class LockedError extends SqliteningError {
  constructor(folder: string, holder: string) {
    super(`another agent (${holder}) already manages ${folder}; run one agent per data folder`, 'locked', 'failed', false);
  }
}

/** A read did not finish within its overall deadline, though bytes kept coming (a trickle). */
export class DeadlineError extends SqliteningError {
  constructor(what: string, deadlineMs: number) {
    super(`${what}: not finished within ${deadlineMs} ms (overall deadline)`, 'deadline-exceeded', 'failed', true);
  }
}

/** The manifest is older than the newest one this pod accepted for the same commit: a rollback or replay, refused unless allowed. */
export class RollbackError extends SqliteningError {
  constructor(floor: string, offered: string) {
    super(
      `refusing a manifest created ${offered}, older than the newest one this pod has accepted (${floor}); a store serving an older manifest is a rollback or a replay (pass --allow-rollback to accept it)`,
      'rollback-refused',
      'rejected',
      false,
    );
  }
}

/** The manifest's signed expiry has passed: the store serves an old manifest (a replay, or a publisher that stopped). */
export class ExpiredManifestError extends SqliteningError {
  constructor(where: string, expiresAt: string) {
    super(
      `${where} expired at ${expiresAt}; a store serving an expired manifest is a replay or a freeze, or publishing has stopped (the next publish signs a new one)`,
      'manifest-expired',
      'rejected',
      false,
    );
  }
}

/** The manifest is for another database than the one this pod was told to install (`--name`). */
export class WrongDatabaseError extends SqliteningError {
  constructor(expected: string, actual: string | undefined, where: string) {
    super(
      actual === undefined
        ? `${where} names no database, but this pod installs only '${expected}' (--name); publish with --name ${expected}`
        : `${where} is for the database '${actual}', but this pod installs '${expected}' (--name); refusing to install it`,
      'wrong-database',
      'rejected',
      false,
    );
  }
}

/** The agent's state file exists but cannot be read as one: refusing to guess, since it holds the rollback floor. */
export class StateError extends SqliteningError {
  constructor(file: string, problem: string) {
    super(
      `the agent's state file ${file} is unreadable (${problem}); it holds the rollback floor, so the agent will not start over on its own: remove the file to start over`,
      'state-corrupt',
      'failed',
      false,
    );
  }
}

/** The manifest's signature is missing, does not verify, or was made by a key the agent does not trust. */
export class SignatureError extends SqliteningError {
  constructor(message: string, code: 'unsigned-manifest' | 'bad-signature' | 'untrusted-key' | 'unproven-start') {
    super(message, code, 'rejected', false);
  }
}

/** The snapshot is larger than this agent accepts, or than the disk can hold: nothing was written. */
export class TooLargeError extends SqliteningError {
  constructor(message: string, code: 'snapshot-too-large' | 'disk-full') {
    super(message, code, code === 'disk-full' ? 'failed' : 'rejected', false);
  }
}

/** The freshness board did not answer, answered with an error, or answered too much; retryable for 5xx, 429, 408, timeouts and the network. */
export class BoardError extends SqliteningError {
  constructor(message: string, retryable: boolean, cause?: unknown) {
    super(message, 'board-error', 'failed', retryable, { cause });
  }
}

/** A git command failed (other than a missing commit); its stderr is in the message. */
export class GitError extends SqliteningError {
  constructor(message: string) {
    super(message, 'git-failed', 'failed', false);
  }
}

/**
 * A manifest did not appear within the time a waiter allowed (`wait --timeout`, `pull --wait`), and the
 * store's last answer was that it is not there. Its own exit code, so a deploy can tell "CI has not
 * published yet" from a broken store (which ends a wait with its own failure) and from a refused manifest.
 */
export class WaitTimeoutError extends SqliteningError {
  constructor(
    readonly key: string,
    readonly location: string,
    readonly waitedMs: number,
    readonly polls: number,
  ) {
    super(
      `${key} did not appear in ${location} within ${formatDuration(waitedMs)} (${polls} poll${polls === 1 ? '' : 's'}): the commit's snapshot is not published yet; publish it, or wait longer`,
      'wait-timeout',
      'timed-out',
      false,
    );
  }
}

/**
 * With several stores (mirrors), some succeeded and the others failed, each after its retries. Its own exit
 * code, so a pipeline can tell "the snapshot is live, a mirror lags" from "nothing was published".
 */
export class SomeStoresFailedError extends SqliteningError {
  constructor(
    readonly what: string,
    /** Each failed store's location and reason. */
    readonly failures: ReadonlyArray<{ location: string; reason: string; message: string }>,
    readonly succeeded: number,
  ) {
    super(
      `${what} in ${succeeded} of ${succeeded + failures.length} stores; failed in ${failures.map((f) => `${f.location} (${f.reason}: ${f.message})`).join(', ')}`,
      'some-stores-failed',
      'partial',
      true,
    );
  }
}

/** Readers of the live file kept a transaction open longer than an install waits: retried, as any SQLite writer would. */
export class ReadersBusyError extends SqliteningError {
  constructor(file: string, waitedMs: number) {
    super(
      `readers kept a transaction open on ${file} for more than ${waitedMs / 1000} s, so the install could not take SQLite's lock; it is tried again (an app that holds a read transaction, an unfinished statement or iterator, this long delays every install)`,
      'readers-busy',
      'failed',
      true,
    );
  }
}
