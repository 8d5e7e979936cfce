/**
 * What an error is for the person or program that sees it. Each kind maps to
 * one exit code and says whether trying again can help by default; the one
 * place that turns any thrown value into these facts is `describeError` in the
 * `sqlitening` package.
 */
export type ErrorKind =
  /** Bad settings or arguments: fix the command line or the inputs. */
  | 'usage'
  /** The data was refused: a migration, loader or check failed, or a document breaks the contract. */
  | 'rejected'
  /** A store, network or disk failure. */
  | 'failed'
  /** Waited as long as allowed for something that did not come (a snapshot not yet published). */
  | 'timed-out'
  /** Done in some of several stores (mirrors), failed in the others. */
  | 'partial';

/**
 * Base of every error Sqlitening raises on purpose. `code` is stable (scripts,
 * metrics and the board key on it); `retryable` says whether trying again can help.
 */
export class SqliteningError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly kind: ErrorKind,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad settings or arguments: the CLI exits 2, the Action names the input. */
export class UsageError extends SqliteningError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'usage', 'usage', false, options);
  }
}

/**
 * A document or value that breaks the snapshot contract. The message names the
 * field, what was expected and what came, so it can be shown to a person as is.
 */
export class ContractError extends SqliteningError {
  constructor(
    message: string,
    /** Every problem found, one line each (`path: problem, got …`). */
    readonly problems: readonly string[] = [message],
  ) {
    // Retrying cannot help: the same bytes fail the same way.
    super(message, 'invalid-document', 'rejected', false);
  }
}
