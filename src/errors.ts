/**
 * Base of every error Sqlitening raises on purpose. `code` is stable (scripts
 * and metrics key on it); `retryable` says whether trying again can help.
 */
export class SqliteningError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad settings or arguments: the CLI exits 2, the action names the input. */
export class UsageError extends SqliteningError {
  constructor(message: string) {
    super(message, 'usage', false);
  }
}

/** The object does not exist in the store. */
export class NotFoundError extends SqliteningError {
  constructor(
    readonly key: string,
    readonly location: string,
  ) {
    super(`${key} not found in ${location}`, 'not-found', false);
  }
}

/** The store cannot be reached at all (DNS, refused connection, timeout). */
export class StoreUnreachableError extends SqliteningError {
  constructor(location: string, reason: string, cause?: unknown) {
    super(`cannot reach the store ${location}: ${reason}`, 'store-unreachable', true, { cause });
  }
}

/** The bucket named in the store settings does not exist. */
export class BucketMissingError extends SqliteningError {
  constructor(
    readonly bucket: string,
    endpoint: string,
  ) {
    super(`bucket "${bucket}" does not exist at ${endpoint}; create it or fix --store`, 'bucket-missing', false);
  }
}

/** The store refused the credentials, or they are missing. */
export class AccessDeniedError extends SqliteningError {
  constructor(message: string, cause?: unknown) {
    super(message, 'access-denied', false, { cause });
  }
}

/** Any other answer from the store; retryable when the store says it is busy or broken (5xx, 429). */
export class StoreError extends SqliteningError {
  constructor(message: string, retryable: boolean, cause?: unknown) {
    super(message, 'store-error', retryable, { cause });
  }
}

/** A write, list or delete on a store that can only read (public HTTP). */
export class ReadOnlyStoreError extends SqliteningError {
  constructor(location: string, operation: string) {
    super(`${location} is read-only (public HTTP); it cannot ${operation}. Use an s3:// or file:// store to publish`, 'read-only-store', false);
  }
}

/** The database failed a check (integrity, foreign keys, journal mode) or a build step. */
export class DatabaseError extends SqliteningError {
  constructor(message: string, code = 'database-check') {
    super(message, code, false);
  }
}

/** The downloaded bytes are not the ones the manifest describes. */
export class ChecksumMismatchError extends SqliteningError {
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${what}: sha256 mismatch, expected ${expected}, got ${actual}`, 'checksum-mismatch', true);
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
    super(`${what}: expected ${expected} bytes, got ${actual}${detail}`, 'size-mismatch', true);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The body stopped arriving: no bytes for longer than the stall timeout. */
export class StalledError extends SqliteningError {
  constructor(what: string, timeoutMs: number) {
    super(`${what}: no data for ${timeoutMs} ms (stalled connection)`, 'stalled', true);
  }
}

/** The manifest names another commit than the one the app runs. */
export class WrongCommitError extends SqliteningError {
  constructor(
    readonly expected: string,
    readonly actual: string,
    where: string,
  ) {
    super(`${where} is for commit ${actual}, but the app runs ${expected}; refusing to install it`, 'wrong-commit', false);
  }
}

/** Another agent holds the data folder. */
export class LockedError extends SqliteningError {
  constructor(folder: string, holder: string) {
    super(`another agent (${holder}) already manages ${folder}; run one agent per data folder`, 'locked', false);
  }
}
