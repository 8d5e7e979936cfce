import { redactText } from './redact.js';
import { SqliteningError, type ErrorKind } from '@sqlitening/contract';
import { type EXIT_CODES, exitCodeOf, type Fault, REASONS } from './reasons.js';

const reason = (code: string) => {
  const found = REASONS.find((r) => r.code === code);
  if (!found) throw new Error(`no reason ${code} in REASONS`);
  return found;
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
  return redactText(error instanceof Error ? error.message : String(error));
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
const DISK: Record<string, string> = {
  ENOSPC: 'disk-full',
  EDQUOT: 'disk-full',
  EACCES: 'permission-denied',
  EPERM: 'permission-denied',
  EROFS: 'read-only-file-system',
  EIO: 'disk-io',
  EMFILE: 'too-many-open-files',
  ENFILE: 'too-many-open-files',
  EBUSY: 'file-busy',
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
  exitCode: exitCodeOf(kind),
  message,
});

/** The facts of a listed reason. */
const listed = (code: string, message: string): ErrorInfo => {
  const r = reason(code);
  return info(r.code, r.kind, r.retryable, message);
};

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
  if ((error as Error)?.name === 'AbortError') return listed('aborted', message);
  const code = systemCode(error);
  if (code !== undefined) {
    if (code in NETWORK) return listed(NETWORK[code]!, message);
    if (code in DISK) return listed(DISK[code]!, message);
    // zlib and brotli: the compressed body is not what was published; a new download may be whole.
    if (code.startsWith('Z_') || code.startsWith('ERR_BROTLI') || code.startsWith('ZSTD_error') || code === 'ERR_ZSTD_DECOMPRESSION_FAILED')
      return listed('corrupt-body', message);
    if (SQLITE_REJECTED.has(code)) return listed('not-a-database', message);
    if (code.startsWith('SQLITE_')) return listed('sqlite-error', message);
    if (/^E[A-Z]+$/.test(code)) return info(code.toLowerCase(), 'failed', false, message);
  }
  // undici ends a body cut short with TypeError('terminated') and no code.
  if (error instanceof TypeError && /^(terminated|fetch failed|other side closed)$/i.test(message)) return listed('connection-reset', message);
  if (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError) {
    return listed('internal-error', message);
  }
  // Anything else comes from a library we call; it may well be transient.
  return listed('error', message);
}

/** Whether `error` says a store (or the way to it) is failing: the next store may answer (see {@link Fault}). */
export function isStoreFault(error: unknown): boolean {
  return faultOf(error) === 'store';
}

/** Whether `error` is about the app's live file, which no other download changes (see {@link Fault}). */
export function isLiveFileFault(error: unknown): boolean {
  return faultOf(error) === 'live-file';
}

function faultOf(error: unknown): Fault | undefined {
  const code = describeError(error).code;
  return REASONS.find((r) => r.code === code)?.fault;
}
