import { parseDuration, UsageError } from '@sqlitening/contract';

/*
 * Parsers for setting values given as text, shared by the CLI's flags and the
 * Action's inputs. Each names the setting (`what`) and says what was expected
 * and what came.
 */

function invalid(what: string, expected: string, got: string): UsageError {
  return new UsageError(`invalid ${what}: expected ${expected}, got ${JSON.stringify(got)}`);
}

export function parseInteger(text: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || value < min || value > max) throw invalid(what, `a whole number from ${min} to ${max}`, text);
  return value;
}

/** A share from 0 to 1, e.g. `0.25` = 25%. */
export function parseShare(text: string, what: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) throw invalid(what, 'a share from 0 to 1 (0.25 = 25%)', text);
  return value;
}

const TRUE_WORDS = new Set(['true', 'yes', '1']);
const FALSE_WORDS = new Set(['false', 'no', '0']);

/**
 * A yes-or-no setting, the one reading of every flag, input, variable and URL parameter that takes one:
 * `true`, `yes` or `1`; `false`, `no` or `0` (any case); '' is false (not given).
 */
export function parseBoolean(text: string, what: string): boolean {
  const value = text.trim().toLowerCase();
  if (value === '' || FALSE_WORDS.has(value)) return false;
  if (TRUE_WORDS.has(value)) return true;
  throw invalid(what, 'true or false (yes or no, 1 or 0)', text);
}

export function parseChoice<T extends string>(text: string, what: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw invalid(what, `one of ${choices.join(', ')}`, text);
  return text as T;
}

/** An http(s) URL with a host. */
export function parseHttpUrl(text: string, what: string): string {
  if (!/^https?:\/\/[^/\s]+/.test(text)) throw invalid(what, 'an http(s)://host[:port][/path] URL', text);
  return text;
}

/**
 * A token sent as `Authorization: Bearer <token>`: printable characters
 * without spaces, since a line break would end the header early. The value is
 * a secret, so the message never shows it.
 */
export function parseBearerToken(text: string, what: string): string {
  if (!/^[\x21-\x7e]+$/.test(text)) throw new UsageError(`invalid ${what}: expected a token of printable characters without spaces (value not shown)`);
  return text;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** A size in bytes: `512MiB`, `64GiB`, `1048576`. */
export function parseSize(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|tib)?$/i.exec(text.trim());
  if (!match) throw invalid(what, 'a size such as 512MiB, 64GiB or a number of bytes', text);
  return Math.round(Number(match[1]) * SIZE_UNITS[(match[2] ?? '').toLowerCase()]!);
}

export { parseDuration };
