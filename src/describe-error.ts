import { SqliteningError, type ErrorKind } from '@sqlitening/contract';

/**
 * Exit codes of every command, with what each means. The CLI's help text and
 * the README's table are generated from this list.
 */
export const EXIT_CODES = [
  { code: 0, name: 'ok', meaning: 'done, including nothing to do (an unchanged snapshot)' },
  { code: 1, name: 'failed', meaning: 'store, network or disk failure; retrying may help (the reason says)' },
  { code: 2, name: 'usage', meaning: 'invalid command line, settings or inputs; fix them' },
  { code: 3, name: 'rejected', meaning: 'data rejected: a migration, loader or check failed, or a document or file breaks the contract' },
  { code: 4, name: 'bug', meaning: 'internal error: a bug in Sqlitening, not in the data or settings; please report it' },
] as const;

export type ExitName = (typeof EXIT_CODES)[number]['name'];
export const EXIT = Object.fromEntries(EXIT_CODES.map((e) => [e.name, e.code])) as {
  [K in ExitName]: Extract<(typeof EXIT_CODES)[number], { name: K }>['code'];
};

/** What any thrown value means: the one answer every part (CLI, agent, retries, metrics, the Action) uses. */
export interface ErrorInfo {
  /** Stable and short, for metrics labels, `/healthz`, heartbeats and scripts: `store-error`, `connection-reset`, `internal-error`… */
  code: string;
  kind: ErrorKind | 'bug' | 'aborted';
  /** Whether trying again can help. */
  retryable: boolean;
  exitCode: (typeof EXIT_CODES)[number]['code'];
  message: string;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** System error codes from sockets and DNS: the network, worth another try. */
const NETWORK: Record<string, string> = {
  ECONNRESET: 'connection-reset',
  EPIPE: 'connection-reset',
  ECONNABORTED: 'connection-reset',
  UND_ERR_SOCKET: 'connection-reset',
  UND_ERR_CLOSED: 'connection-reset',
  ECONNREFUSED: 'connection-refused',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EHOSTUNREACH: 'network-unreachable',
  ENETUNREACH: 'network-unreachable',
  ENETDOWN: 'network-unreachable',
};

/** System error codes from files: the disk. Only running out of handles or a busy file can pass by itself. */
const DISK: Record<string, { code: string; retryable: boolean }> = {
  ENOSPC: { code: 'disk-full', retryable: false },
  EDQUOT: { code: 'disk-full', retryable: false },
  EACCES: { code: 'permission-denied', retryable: false },
  EPERM: { code: 'permission-denied', retryable: false },
  EROFS: { code: 'read-only-file-system', retryable: false },
  EIO: { code: 'disk-io', retryable: false },
  EMFILE: { code: 'too-many-open-files', retryable: true },
  ENFILE: { code: 'too-many-open-files', retryable: true },
  EBUSY: { code: 'file-busy', retryable: true },
};

/** SQLite result codes that mean the file itself is not a usable database: the data is wrong, not the machine. */
const SQLITE_REJECTED = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CORRUPT_VTAB', 'ERR_SQLITE_ERROR']);

function systemCode(error: unknown): string | undefined {
  // fetch wraps socket errors: TypeError('fetch failed' | 'terminated', { cause: { code } }).
  for (let current = error, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

const info = (code: string, kind: ErrorInfo['kind'], retryable: boolean, message: string): ErrorInfo => ({
  code,
  kind,
  retryable,
  exitCode: kind === 'bug' ? EXIT.bug : kind === 'usage' ? EXIT.usage : kind === 'rejected' ? EXIT.rejected : EXIT.failed,
  message,
});

/**
 * The one error model: what `error` means, whether retrying can help, and the
 * exit code. Errors raised on purpose carry their own facts; everything else
 * is classified by what it is: a socket or DNS failure (retryable), a disk
 * failure, an invalid compressed stream, a file SQLite cannot read, an abort,
 * or a programming error (a bug: never "usage", never retried).
 */
export function describeError(error: unknown): ErrorInfo {
  const message = errorMessage(error);
  if (error instanceof SqliteningError) return info(error.code, error.kind, error.retryable, message);
  if ((error as Error)?.name === 'AbortError') return { ...info('aborted', 'aborted', false, message), exitCode: EXIT.failed };
  const code = systemCode(error);
  if (code !== undefined) {
    if (code in NETWORK) return info(NETWORK[code]!, 'failed', true, message);
    if (code in DISK) return info(DISK[code]!.code, 'failed', DISK[code]!.retryable, message);
    // zlib and brotli: the compressed body is not what was published; a new download may be whole.
    if (code.startsWith('Z_') || code.startsWith('ERR_BROTLI') || code === 'ERR_ZSTD_DECOMPRESSION_FAILED')
      return info('corrupt-body', 'failed', true, message);
    if (SQLITE_REJECTED.has(code)) return info('not-a-database', 'rejected', false, message);
    if (code.startsWith('SQLITE_')) return info('sqlite-error', 'failed', false, message);
    if (/^E[A-Z]+$/.test(code)) return info(code.toLowerCase(), 'failed', false, message);
  }
  // undici ends a body cut short with TypeError('terminated') and no code.
  if (error instanceof TypeError && /^(terminated|fetch failed|other side closed)$/i.test(message)) return info('connection-reset', 'failed', true, message);
  if (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError) {
    return info('internal-error', 'bug', false, message);
  }
  // Anything else comes from a library we call; it may well be transient.
  return info('error', 'failed', true, message);
}
