import { COMMITS_LIMITS, COMMITS_PATH, ContractError, type LiveCommit, parseCommitsResponse, readBoundedText } from '@sqlitening/contract';
import { errorMessage } from '../describe-error.js';
import { AccessDeniedError, BoardError } from '../errors.js';

/** How to read the freshness board. */
export interface BoardReadSettings {
  /** Base URL of the board, without a trailing slash: `https://board.example.workers.dev`. */
  url: string;
  /** The board's `READ_TOKEN`, sent as `Authorization: Bearer <token>`; null when its reads are public. */
  token: string | null;
}

export interface LiveCommitsOptions {
  /** The whole request, answer included, must finish within this. @default 30000 */
  timeoutMs?: number;
  /** Largest answer read, in bytes. @default COMMITS_LIMITS.maxBodyBytes (8 MiB) */
  maxBytes?: number;
  signal?: AbortSignal;
}

/** Reads at most `maxBytes` of the body as UTF-8, cancelling it as soon as more arrive. */
async function boundedText(response: Response, url: string, maxBytes: number): Promise<string> {
  const read = await readBoundedText(response, maxBytes);
  if (read.status === 'ok') return read.text;
  if (read.status === 'not-utf8') throw new ContractError(`invalid board commits from ${url}: expected UTF-8 JSON, got bytes that are not UTF-8`);
  throw new BoardError(
    read.declared === null
      ? `${url} answered more than the ${maxBytes} bytes a commits list may have`
      : `${url} answered ${read.declared} bytes, more than the ${maxBytes} a commits list may have`,
    false,
  );
}

/**
 * Asks the board which commits of the app are live (`GET /v1/commits`):
 * newest sighting first, each once. The request is bounded in time and size,
 * is never redirected (the token goes to the board's own origin only), and
 * the answer is validated against the contract's schema.
 */
export async function fetchLiveCommits(board: BoardReadSettings, options: LiveCommitsOptions = {}): Promise<LiveCommit[]> {
  const url = `${board.url}${COMMITS_PATH}`;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let text: string;
  try {
    const response = await fetch(url, {
      headers: { accept: 'application/json', ...(board.token ? { authorization: `Bearer ${board.token}` } : {}) },
      redirect: 'manual',
      signal,
    });
    if (response.status >= 300 && response.status <= 399) {
      await response.body?.cancel();
      throw new BoardError(
        `${url} redirects (HTTP ${response.status}) to ${response.headers.get('location') ?? 'nowhere'}; give board-url as the board's own URL`,
        false,
      );
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw new AccessDeniedError(
        `${url} answered ${response.status}: ${board.token ? 'the board refused the read token' : 'the board needs a read token (its READ_TOKEN)'}`,
      );
    }
    if (!response.ok) {
      const detail = (await boundedText(response, url, 4096).catch(() => '')).trim().slice(0, 200);
      const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
      throw new BoardError(`${url} answered HTTP ${response.status}${detail ? `: ${detail}` : ''}`, retryable);
    }
    text = await boundedText(response, url, options.maxBytes ?? COMMITS_LIMITS.maxBodyBytes);
  } catch (error) {
    if (error instanceof BoardError || error instanceof AccessDeniedError || error instanceof ContractError) throw error;
    if (timeout.aborted) throw new BoardError(`${url} did not answer within ${timeoutMs} ms`, true, error);
    if (options.signal?.aborted) throw error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new BoardError(`cannot reach the board at ${url}: ${cause?.code ?? cause?.message ?? errorMessage(error)}`, true, error);
  }
  let commits: LiveCommit[];
  try {
    commits = parseCommitsResponse(text).commits;
  } catch (error) {
    if (error instanceof ContractError) throw new ContractError(`${error.message} (from ${url})`, error.problems);
    throw error;
  }
  const seen = new Set<string>();
  return commits.filter((commit) => !seen.has(commit.gitSha) && seen.add(commit.gitSha));
}
