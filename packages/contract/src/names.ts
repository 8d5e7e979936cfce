import { z } from 'zod';
import { UsageError } from './errors.js';

/**
 * The rule for cluster and task names: they appear in URLs, file names,
 * metrics labels and alert text, so only letters, digits, dots, dashes and
 * underscores, 1-63 of them, starting with a letter or digit.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const NAME_RULE = '1-63 letters, digits, dots, dashes or underscores, starting with a letter or digit';

export const nameSchema = z.string().regex(NAME_PATTERN, `expected ${NAME_RULE}`);

/** Throws `UsageError` naming `what` unless `name` follows {@link NAME_PATTERN}. */
export function assertName(name: string, what: string): string {
  if (!NAME_PATTERN.test(name)) throw new UsageError(`invalid ${what}: expected ${NAME_RULE}, got ${JSON.stringify(name)}`);
  return name;
}
