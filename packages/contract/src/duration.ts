import { z } from 'zod';
import { UsageError } from './errors.js';

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const EXPECTED = 'a number with a unit (500ms, 30s, 10m, 1h, 2d)';

function toMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  return match ? Math.round(Number(match[1]) * UNITS[match[2] as keyof typeof UNITS]) : undefined;
}

/**
 * Parses a duration like `90s`, `10m`, `1h`, `2d` or `1500ms` into
 * milliseconds. Throws `UsageError` naming `what`, what was expected and what came.
 */
export function parseDuration(text: string, what: string): number {
  const ms = toMs(text);
  if (ms === undefined) throw new UsageError(`invalid ${what}: expected ${EXPECTED}, got ${JSON.stringify(text)}`);
  return ms;
}

/** The same rule as {@link parseDuration}, for documents validated with zod: text in, milliseconds out. */
export const durationSchema = z
  .string()
  .regex(DURATION, `expected ${EXPECTED}`)
  .transform((text) => toMs(text)!);
