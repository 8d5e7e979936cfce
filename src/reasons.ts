import type { ErrorKind } from '@sqlitening/contract';

/**
 * Exit codes of every command, with what each means. The CLI's help text and
 * docs/exit-codes.md's table are generated from this list.
 */
export const EXIT_CODES = [
  { code: 0, name: 'ok', meaning: 'done, including nothing to do (an unchanged snapshot)' },
  { code: 1, name: 'failed', meaning: 'store, network or disk failure; retrying may help (the reason says)' },
  { code: 2, name: 'usage', meaning: 'invalid command line, settings or inputs; fix them' },
  {
    code: 3,
    name: 'rejected',
    meaning: 'data rejected: a migration, loader or check failed, a document or file breaks the contract, or a manifest is refused (signature, name, expiry)',
  },
  { code: 4, name: 'bug', meaning: 'internal error: a bug in Sqlitening, not in the data or settings; please report it' },
  {
    code: 5,
    name: 'timed-out',
    meaning: 'waited as long as allowed (`wait --timeout`, `pull --wait`), and the snapshot is still not published',
  },
  {
    code: 6,
    name: 'partial',
    meaning:
      'with several `--store`: done in some stores, failed in others (`publish`: the snapshot and its manifest are in the stores that succeeded; each failure is named)',
  },
] as const;

export type ExitName = (typeof EXIT_CODES)[number]['name'];
export const EXIT = Object.fromEntries(EXIT_CODES.map((e) => [e.name, e.code])) as {
  [K in ExitName]: Extract<(typeof EXIT_CODES)[number], { name: K }>['code'];
};

/**
 * Where a failure lies, when that decides what happens next: `store`, a store (or the way to it) is failing,
 * not the caller, the local disk or the request, so a call moves to the next store (`not-found` and
 * `access-denied` too: a mirror that missed a publish lacks the new commit's manifest, and a public bucket
 * answers 403 for a missing key, while another store may hold it); `live-file`, the app's live file is in a
 * state no download changes, so an install stops rather than falling back to a full download.
 */
export type Fault = 'store' | 'live-file';

export interface Reason {
  code: string;
  kind: ErrorKind | 'bug' | 'aborted';
  retryable: boolean;
  fault?: Fault;
  meaning: string;
}

/**
 * Every reason code the agent, the CLI and the Action report, with its kind and
 * whether a retry can help. Errors raised on purpose carry these facts
 * themselves; a test holds each error class to this list, and docs/exit-codes.md's
 * table is generated from it.
 */
export const REASONS: ReadonlyArray<Reason> = [
  { code: 'usage', kind: 'usage', retryable: false, meaning: 'an invalid flag, setting or input' },
  { code: 'read-only-store', kind: 'usage', retryable: false, meaning: 'a write to a public HTTP store' },
  {
    code: 'commit-not-in-clone',
    kind: 'usage',
    retryable: false,
    meaning: 'a live commit is not in the clone (actions/checkout with fetch-depth: 0), or does not exist: skipped',
  },
  {
    code: 'too-many-live-commits',
    kind: 'usage',
    retryable: false,
    meaning: 'a live commit past `live-max-commits` in one run: skipped, not checked or built',
  },
  { code: 'store-unreachable', kind: 'failed', retryable: true, fault: 'store', meaning: 'the store did not answer (DNS, refused, timeout)' },
  { code: 'store-error', kind: 'failed', retryable: true, fault: 'store', meaning: 'the store answered with an error (retried for 5xx, 429, 408)' },
  {
    code: 'board-error',
    kind: 'failed',
    retryable: true,
    meaning: 'the freshness board did not answer, answered with an error, or answered too much (retried for 5xx, 429, 408, timeouts)',
  },
  { code: 'git-failed', kind: 'failed', retryable: false, meaning: 'a git command failed (adding or removing a worktree)' },
  { code: 'not-found', kind: 'failed', retryable: false, meaning: 'no such object: no snapshot of this commit yet' },
  { code: 'bucket-missing', kind: 'failed', retryable: false, fault: 'store', meaning: 'the bucket does not exist' },
  { code: 'access-denied', kind: 'failed', retryable: false, fault: 'store', meaning: 'credentials missing or refused' },
  { code: 'connection-reset', kind: 'failed', retryable: true, fault: 'store', meaning: 'the connection broke mid-answer' },
  { code: 'connection-refused', kind: 'failed', retryable: true, fault: 'store', meaning: 'nothing listens at the address' },
  { code: 'timeout', kind: 'failed', retryable: true, fault: 'store', meaning: 'a connection or response timed out' },
  { code: 'dns', kind: 'failed', retryable: true, fault: 'store', meaning: 'the host name did not resolve' },
  { code: 'network-unreachable', kind: 'failed', retryable: true, fault: 'store', meaning: 'no route to the host' },
  { code: 'stalled', kind: 'failed', retryable: true, fault: 'store', meaning: 'no bytes for longer than the stall timeout' },
  { code: 'deadline-exceeded', kind: 'failed', retryable: true, fault: 'store', meaning: 'a read went on past its deadline (a trickling peer)' },
  {
    code: 'size-mismatch',
    kind: 'failed',
    retryable: true,
    fault: 'store',
    meaning: 'more or fewer bytes than the manifest says (or than any manifest may have)',
  },
  { code: 'checksum-mismatch', kind: 'failed', retryable: true, meaning: 'the bytes are not the ones the manifest names' },
  { code: 'corrupt-body', kind: 'failed', retryable: true, fault: 'store', meaning: 'the compressed stream is invalid' },
  { code: 'locked', kind: 'failed', retryable: false, meaning: 'another agent manages this data folder' },
  {
    code: 'state-corrupt',
    kind: 'failed',
    retryable: false,
    meaning: 'the agent’s state file is unreadable; remove it to start over (this forgets the rollback floor)',
  },
  { code: 'disk-full', kind: 'failed', retryable: false, meaning: 'not enough free space for the new database (checked first), or ENOSPC' },
  { code: 'permission-denied', kind: 'failed', retryable: false, meaning: 'EACCES or EPERM on a file or folder' },
  { code: 'read-only-file-system', kind: 'failed', retryable: false, meaning: 'EROFS' },
  { code: 'disk-io', kind: 'failed', retryable: false, meaning: 'EIO: the disk failed' },
  { code: 'too-many-open-files', kind: 'failed', retryable: true, meaning: 'EMFILE or ENFILE' },
  { code: 'file-busy', kind: 'failed', retryable: true, meaning: 'EBUSY' },
  { code: 'sqlite-error', kind: 'failed', retryable: false, meaning: 'SQLite failed on a file it could read' },
  {
    code: 'error',
    kind: 'failed',
    retryable: true,
    meaning: 'anything else from a library; other system errors are reported by their own code (enoent, enotdir, …), not retried',
  },
  { code: 'aborted', kind: 'aborted', retryable: false, meaning: 'stopped on purpose (SIGTERM)' },
  { code: 'invalid-document', kind: 'rejected', retryable: false, meaning: 'a manifest, key or setting document breaks the contract' },
  { code: 'wrong-commit', kind: 'rejected', retryable: false, meaning: 'the manifest belongs to another commit' },
  {
    code: 'commit-not-allowed',
    kind: 'rejected',
    retryable: false,
    meaning: 'a live commit is neither in the history of `live-branch` nor listed in `live-allow`: skipped, its code never run',
  },
  {
    code: 'rollback-refused',
    kind: 'rejected',
    retryable: false,
    meaning: 'the manifest names other bytes than the pod serves and is older than the newest it accepted for its commit (--allow-rollback)',
  },
  {
    code: 'manifest-expired',
    kind: 'rejected',
    retryable: false,
    meaning: 'the manifest’s signed expiry has passed (a replay, a freeze, or publishing stopped)',
  },
  { code: 'wrong-database', kind: 'rejected', retryable: false, meaning: 'the manifest names another database than --name' },
  { code: 'unsigned-manifest', kind: 'rejected', retryable: false, meaning: 'the manifest is not signed, and --trust-key requires it' },
  { code: 'untrusted-key', kind: 'rejected', retryable: false, meaning: 'the manifest is signed, but by no key given with --trust-key' },
  { code: 'unproven-start', kind: 'rejected', retryable: false, meaning: 'publish would sign a database built on a published snapshot no trusted key proved' },
  { code: 'bad-signature', kind: 'rejected', retryable: false, meaning: 'the signature does not match the manifest (altered or forged)' },
  { code: 'snapshot-too-large', kind: 'rejected', retryable: false, meaning: 'the manifest declares more than --max-size' },
  { code: 'not-a-database', kind: 'rejected', retryable: false, meaning: 'the file is not an installable SQLite database (header, WAL mode, size)' },
  { code: 'quick-check', kind: 'rejected', retryable: false, meaning: 'the downloaded database failed quick_check' },
  {
    code: 'readers-busy',
    kind: 'failed',
    retryable: true,
    fault: 'live-file',
    meaning: 'app connections held a read transaction open past the install’s wait for SQLite’s lock',
  },
  {
    code: 'live-file-wal',
    kind: 'rejected',
    retryable: false,
    fault: 'live-file',
    meaning: 'an app switched the live file to WAL mode; installs keep rollback-journal rules only',
  },
  {
    code: 'rollback-failed',
    kind: 'rejected',
    retryable: false,
    fault: 'live-file',
    meaning: 'an interrupted install’s journal could not be rolled back; nothing replaces the live file until it is',
  },
  { code: 'integrity-check', kind: 'rejected', retryable: false, meaning: 'the built database failed integrity_check' },
  { code: 'foreign-key-check', kind: 'rejected', retryable: false, meaning: 'the built database failed foreign_key_check' },
  { code: 'journal-mode', kind: 'rejected', retryable: false, meaning: 'the database is not in rollback-journal mode' },
  { code: 'not-quiescent', kind: 'rejected', retryable: false, meaning: 'a -journal or -wal file lies beside the database' },
  { code: 'migration-changed', kind: 'rejected', retryable: false, meaning: 'an applied migration file was edited' },
  { code: 'migration-failed', kind: 'rejected', retryable: false, meaning: 'a migration failed' },
  { code: 'migration-command-failed', kind: 'rejected', retryable: false, meaning: 'the migrate command failed' },
  { code: 'loader-failed', kind: 'rejected', retryable: false, meaning: 'a loader failed' },
  {
    code: 'load-mismatch',
    kind: 'rejected',
    retryable: false,
    meaning: '`load`: the rows do not fit the table (no such table or column, a key missing, null or repeated, a constraint refused a row)',
  },
  { code: 'malformed-input', kind: 'rejected', retryable: false, meaning: '`load`: the file is not valid JSON lines, JSON or CSV (the line is named)' },
  { code: 'database-check', kind: 'rejected', retryable: false, meaning: 'another database check failed' },
  { code: 'internal-error', kind: 'bug', retryable: false, meaning: 'a bug in Sqlitening' },
  {
    code: 'some-stores-failed',
    kind: 'partial',
    retryable: true,
    meaning: '`publish`, `prune` with several `--store`: some stores failed (after retries) while others succeeded; running it again brings the failed ones up',
  },
  {
    code: 'wait-timeout',
    kind: 'timed-out',
    retryable: false,
    meaning:
      '`wait`, `pull --wait`: the store still had no manifest of the commit when the time allowed ran out (its CI has not published yet, or failed to); a store still failing then exits 1 with its own reason',
  },
];

/** The exit code of a kind of error. */
export function exitCodeOf(kind: Reason['kind']): (typeof EXIT_CODES)[number]['code'] {
  if (kind === 'timed-out') return EXIT['timed-out'];
  if (kind === 'partial') return EXIT.partial;
  return kind === 'bug' ? EXIT.bug : kind === 'usage' ? EXIT.usage : kind === 'rejected' ? EXIT.rejected : EXIT.failed;
}
