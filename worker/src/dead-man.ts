import { describeFailure } from './outbox.js';

/**
 * The dead man's switch: the board's index pings it after every round in
 * which every cluster is healthy and has been evaluated recently, and records
 * when, and what it answered, in its `meta` table.
 */

const DEAD_MAN_AT = 'deadman_at';
const DEAD_MAN_RESULT = 'deadman_result';

/** Pings the dead man's switch and records when, and what it answered. */
export async function pingDeadMan(sql: SqlStorage, url: string, now: number): Promise<void> {
  let result: string;
  try {
    const response = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(10_000) });
    await response.body?.cancel();
    result = response.ok ? 'ok' : `HTTP ${response.status}`;
  } catch (e) {
    result = describeFailure(e, url);
  }
  sql.exec(
    'INSERT INTO meta (key, value) VALUES (?, ?), (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    DEAD_MAN_AT,
    new Date(now).toISOString(),
    DEAD_MAN_RESULT,
    result,
  );
}

/** The last ping of the dead man's switch, if any. */
export function readDeadMan(sql: SqlStorage): { lastPingAt: string | null; lastResult: string | null } {
  const meta = new Map(
    sql
      .exec('SELECT key, value FROM meta WHERE key IN (?, ?)', DEAD_MAN_AT, DEAD_MAN_RESULT)
      .toArray()
      .map((r) => [String(r.key), r.value as string | null]),
  );
  return { lastPingAt: meta.get(DEAD_MAN_AT) ?? null, lastResult: meta.get(DEAD_MAN_RESULT) ?? null };
}
