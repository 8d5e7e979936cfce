import type { KeyRecord } from './key-record.js';
import type { KeyRegistry } from './key-rows.js';

/*
 * When a worker isolate may use its copy of the key records (cluster-auth.ts
 * keeps the copy; the board's index holds the records). Pure, so the rules
 * are tested at any clock:
 * - fresh for KEY_RECORDS_MAX_AGE_MS after the index last answered: used
 *   without asking;
 * - when the index cannot be read, the copy still serves for at most
 *   KEY_RECORDS_MAX_STALE_MS after the index last answered (heartbeats go on
 *   through a short outage: a dropped heartbeat means false alerts); past
 *   that, a revocation must not be ignored any longer, so heartbeats are
 *   refused until the index answers again;
 * - never older than `floor`, the generation of the last change this isolate
 *   made through the admin routes: an answer read before that change, even
 *   one arriving after it, must not bring the old records back.
 */

/** How long an isolate's copy is used without asking the index: a rotation or revocation reaches every isolate within this. */
export const KEY_RECORDS_MAX_AGE_MS = 10_000;
/** How long a copy keeps serving while the index cannot be read. */
export const KEY_RECORDS_MAX_STALE_MS = 5 * 60_000;

export interface KeyCopy {
  generation: number;
  records: ReadonlyMap<string, KeyRecord>;
  /** When the index was last asked (answered or not): the next request after KEY_RECORDS_MAX_AGE_MS asks again. */
  checkedAt: number;
  /** When the index last answered for this generation. */
  readAt: number;
}

/** Whether the copy may be used without asking the index. */
export function isFresh(copy: KeyCopy | null, floor: number, now: number): copy is KeyCopy {
  return copy !== null && copy.generation >= floor && now - copy.checkedAt < KEY_RECORDS_MAX_AGE_MS;
}

/** Whether the copy may still be used when the index cannot be read. */
export function servesWhileUnread(copy: KeyCopy | null, floor: number, now: number): copy is KeyCopy {
  return copy !== null && copy.generation >= floor && now - copy.readAt < KEY_RECORDS_MAX_STALE_MS;
}

/**
 * The copy after the index answered a request that asked with `known` (the
 * generation it had; null when it had none): `read` is null when nothing
 * changed since `known`. Requests ask side by side, so an answer older than
 * what another request stored meanwhile, or than `floor`, is dropped.
 */
export function afterRead(copy: KeyCopy | null, read: KeyRegistry | null, known: number | null, floor: number, now: number): KeyCopy | null {
  const generation = read === null ? known : read.generation;
  if (generation === null || generation < floor) return copy;
  if (copy !== null && generation < copy.generation) return copy;
  if (read === null) return copy !== null && copy.generation === generation ? { ...copy, checkedAt: now, readAt: now } : copy;
  return { generation, records: new Map(read.records.map((r) => [r.cluster, r])), checkedAt: now, readAt: now };
}
