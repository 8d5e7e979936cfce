import Database from 'better-sqlite3';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseManifestJson, UsageError } from '@sqlitening/contract';
import { describe, expect, it } from 'vitest';
import { describeError } from '../src/describe-error.js';
import { EXIT_CODES, REASONS } from '../src/reasons.js';
import { redactText } from '../src/redact.js';
import {
  AccessDeniedError,
  BoardError,
  BucketMissingError,
  ChecksumMismatchError,
  ContractError,
  CorruptDeltaError,
  DatabaseError,
  DeadlineError,
  GitError,
  LockedError,
  NotFoundError,
  ReadersBusyError,
  ReadOnlyStoreError,
  RollbackError,
  ExpiredManifestError,
  WrongDatabaseError,
  StateError,
  SignatureError,
  SizeMismatchError,
  SomeStoresFailedError,
  StalledError,
  StoreError,
  StoreUnreachableError,
  TooLargeError,
  WaitTimeoutError,
  WrongCommitError,
} from '../src/errors.js';
import { CommitNotAllowedError, CommitNotInCloneError, TooManyLiveCommitsError } from '../src/live/commit-errors.js';
import { withRetries } from '../src/retry.js';
import { assertValidKey } from '../src/store/object-store.js';
import { tempFolder } from './helpers/fixtures.js';

/** The error `fn` throws (or rejects with). */
async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('describeError, the one error model', () => {
  it('lists every reason an error class raises, with the same kind and retryability', () => {
    const raised = [
      new UsageError('x'),
      new ReadOnlyStoreError('https://x', 'write'),
      new StoreUnreachableError('s3://b', 'x'),
      new StoreError('x', true),
      new NotFoundError('k', 'l'),
      new BucketMissingError('b', 'e'),
      new AccessDeniedError('x'),
      new StalledError('x', 1),
      new DeadlineError('x', 1),
      new SizeMismatchError('x', 1, 2),
      new ChecksumMismatchError('x', 'a', 'b'),
      new LockedError('f', 'h'),
      new RollbackError('a', 'b'),
      new ExpiredManifestError('w', 'a'),
      new WrongDatabaseError('a', 'b', 'w'),
      new StateError('f', 'p'),
      new SignatureError('x', 'unsigned-manifest'),
      new SignatureError('x', 'untrusted-key'),
      new SignatureError('x', 'bad-signature'),
      new TooLargeError('x', 'snapshot-too-large'),
      new TooLargeError('x', 'disk-full'),
      new ReadersBusyError('f', 1),
      new DatabaseError('x', 'live-file-wal'),
      new DatabaseError('x', 'rollback-failed'),
      new WrongCommitError('a', 'b', 'w'),
      new ContractError('x'),
      new BoardError('x', true),
      new CommitNotInCloneError('a'.repeat(40), '/repo', true),
      new CommitNotAllowedError('a'.repeat(40), 'origin/main'),
      new TooManyLiveCommitsError('a'.repeat(40), 10),
      new GitError('x'),
      new WaitTimeoutError('k', 'l', 1, 1),
      new SomeStoresFailedError('published', [{ location: 's3://b', reason: 'store-unreachable', message: 'x' }], 1),
      new CorruptDeltaError('x'),
      ...[
        'database-check',
        'not-a-database',
        'quick-check',
        'integrity-check',
        'foreign-key-check',
        'journal-mode',
        'not-quiescent',
        'migration-changed',
        'migration-failed',
        'migration-command-failed',
        'loader-failed',
        'load-mismatch',
        'malformed-input',
      ].map((code) => new DatabaseError('x', code)),
    ];
    for (const error of raised) {
      const listed = REASONS.find((r) => r.code === error.code);
      expect(listed, error.code).toBeDefined();
      expect({ kind: error.kind, retryable: error.retryable }, error.code).toEqual({ kind: listed?.kind, retryable: listed?.retryable });
    }
    expect(new Set(REASONS.map((r) => r.code)).size).toBe(REASONS.length);
  });

  it('gives every exit code one meaning', () => {
    expect(EXIT_CODES.map((e) => e.code)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(new Set(EXIT_CODES.map((e) => e.name)).size).toBe(EXIT_CODES.length);
  });

  it('keeps the facts of errors raised on purpose', () => {
    expect(describeError(new UsageError('bad flag'))).toMatchObject({ code: 'usage', kind: 'usage', retryable: false, exitCode: 2 });
    expect(describeError(new DatabaseError('integrity_check failed'))).toMatchObject({ code: 'database-check', retryable: false, exitCode: 3 });
    expect(describeError(new ChecksumMismatchError('x', 'a', 'b'))).toMatchObject({ code: 'checksum-mismatch', retryable: true, exitCode: 1 });
    expect(describeError(new StalledError('x', 5))).toMatchObject({ code: 'stalled', retryable: true, exitCode: 1 });
    expect(describeError(new LockedError('/data', '1@host'))).toMatchObject({ code: 'locked', retryable: false, exitCode: 1 });
    expect(describeError(new WaitTimeoutError('k', 'l', 1, 1))).toMatchObject({ code: 'wait-timeout', kind: 'timed-out', retryable: false, exitCode: 5 });
    expect(describeError(new SomeStoresFailedError('published', [{ location: 's3://b', reason: 'store-error', message: 'x' }], 1))).toMatchObject({
      code: 'some-stores-failed',
      kind: 'partial',
      retryable: true,
      exitCode: 6,
    });
  });

  it('treats a document or key that breaks the contract as rejected data, not usage', async () => {
    expect(describeError(await caught(() => parseManifestJson('{')))).toMatchObject({ code: 'invalid-document', exitCode: 3, retryable: false });
    expect(describeError(await caught(() => assertValidKey('abc/../../etc/passwd')))).toMatchObject({ exitCode: 3, retryable: false });
  });

  it('retries a refused connection and names it', async () => {
    const port = await closedPort();
    const refused = await caught(() => fetch(`http://127.0.0.1:${port}/`));
    expect(describeError(refused)).toMatchObject({ code: 'connection-refused', kind: 'failed', retryable: true, exitCode: 1 });
  });

  it('calls a corrupt compressed body retryable (a new download may be whole)', async () => {
    const error = await caught(() => gunzipSync(Buffer.from('not gzip at all')));
    expect(describeError(error)).toMatchObject({ code: 'corrupt-body', retryable: true, exitCode: 1 });
  });

  it('calls a file SQLite cannot read rejected data, never retried', async () => {
    const { dir, cleanup } = await tempFolder('describe-error');
    try {
      const file = path.join(dir, 'not.db');
      await writeFile(file, Buffer.alloc(8192, 7));
      const error = await caught(() => new Database(file, { readonly: true }).pragma('quick_check'));
      expect(describeError(error)).toMatchObject({ code: 'not-a-database', kind: 'rejected', retryable: false, exitCode: 3 });
    } finally {
      await cleanup();
    }
  });

  it('tells disk failures apart from the network', async () => {
    const { dir, cleanup } = await tempFolder('describe-error');
    try {
      const error = await caught(() => writeFile(path.join(dir, 'missing-folder', 'x'), 'x'));
      expect(describeError(error)).toMatchObject({ code: 'enoent', kind: 'failed', retryable: false, exitCode: 1 });
      const isDir = await caught(() => writeFile(dir, 'x'));
      expect(describeError(isDir)).toMatchObject({ code: 'eisdir', exitCode: 1 });
    } finally {
      await cleanup();
    }
  });

  it('calls a programming error a bug: exit 4, never usage, never retried', async () => {
    const error = await caught(() => (undefined as unknown as { x: () => void }).x());
    expect(error).toBeInstanceOf(TypeError);
    expect(describeError(error)).toMatchObject({ code: 'internal-error', kind: 'bug', retryable: false, exitCode: 4 });
    let tries = 0;
    await expect(
      withRetries(
        async () => {
          tries++;
          throw error;
        },
        { attempts: 3, baseDelayMs: 1 },
      ),
    ).rejects.toBe(error);
    expect(tries).toBe(1);
  });

  it('does not retry an abort', async () => {
    const error = await caught(() => fetch('http://127.0.0.1:9/', { signal: AbortSignal.abort() }));
    expect(describeError(error)).toMatchObject({ code: 'aborted', retryable: false });
  });
});

describe('redactText, the one redaction of every message', () => {
  it('removes user, password, query and fragment from every URL in a text, even one URL cannot parse', () => {
    const text =
      'cannot reach s3://bucket/site?endpoint=http://deploy:hunter2@127.0.0.1:9000&credentials-env=R2, nor https://u:hunter2@cdn.example.com/a?sig=hunter2#frag (redirect to http://h:99999/x?token=hunter2).';
    const redacted = redactText(text);
    expect(redacted).not.toContain('hunter2');
    expect(redacted).toContain('s3://bucket/site,');
    expect(redacted).toContain('https://cdn.example.com/a ');
    expect(redacted).toContain('http://h:99999/x).');
    expect(redactText('no address here: s3://bucket[/prefix] or a folder')).toBe('no address here: s3://bucket[/prefix] or a folder');
  });
});
