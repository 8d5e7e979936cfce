import { NAME_PATTERN, NAME_RULE } from '@sqlitening/contract';
import type { Health } from './summary.js';

/*
 * Which page of the global board a request asks for (`GET /?health=…&after=…`,
 * the same on `/v1/board`). At 10,000 clusters the whole board is megabytes;
 * a page is at most PAGE_LINES lines, so it stays small enough for a phone.
 */

/** The most lines a page of the board lists (about 600 bytes of HTML each). */
export const PAGE_LINES = 200;

export interface BoardQuery {
  /** null: the first page (stale, then degraded, and fresh clusters too when the whole board fits); else only lines of this health. */
  health: Health | null;
  /** Lines named after this one (in SQLite's order of names): where the page starts. Only with `health`. */
  after: string | null;
}

export const FIRST_PAGE: BoardQuery = { health: null, after: null };

const HEALTHS: readonly Health[] = ['stale', 'degraded', 'ok'];

/** A query parameter that is not one the board knows; the message says what was expected and what came. */
export class BoardQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BoardQueryError';
  }
}

/** The page asked for by `health` and `after`; throws BoardQueryError for anything else. */
export function parseBoardQuery(params: URLSearchParams): BoardQuery {
  const health = params.get('health');
  const after = params.get('after');
  if (health !== null && !HEALTHS.includes(health as Health)) {
    throw new BoardQueryError(`expected health to be ${HEALTHS.join(', ')} or absent, got ${JSON.stringify(health.slice(0, 64))}`);
  }
  if (after !== null && !NAME_PATTERN.test(after))
    throw new BoardQueryError(`expected after to be a cluster name (${NAME_RULE}), got ${JSON.stringify(after.slice(0, 64))}`);
  if (after !== null && health === null)
    throw new BoardQueryError('expected health with after (after=<cluster> pages through one health: stale, degraded or ok)');
  return { health: health as Health | null, after };
}

/** The query string of a page, for links (`?health=stale&after=eu-west`; empty for the first page). */
export function boardQueryString(query: BoardQuery): string {
  const params = new URLSearchParams();
  if (query.health) params.set('health', query.health);
  if (query.after) params.set('after', query.after);
  const text = params.toString();
  return text ? `?${text}` : '';
}
