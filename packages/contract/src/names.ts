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

/** Longest pod name: a DNS name (a Kubernetes pod name, a host name). */
export const MAX_POD_NAME_LENGTH = 253;

/**
 * The rule for pod names: the same characters as {@link NAME_PATTERN}, up to
 * {@link MAX_POD_NAME_LENGTH} of them, so any DNS-style pod or host name fits
 * and nothing in one can be read as markup where it is shown (HTML, Slack
 * mrkdwn, Markdown code spans).
 */
export const POD_NAME_PATTERN = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,${MAX_POD_NAME_LENGTH - 1}}$`);
export const POD_NAME_RULE = `1-${MAX_POD_NAME_LENGTH} letters, digits, dots, dashes or underscores, starting with a letter or digit`;

export const podNameSchema = z.string().regex(POD_NAME_PATTERN, `expected ${POD_NAME_RULE}`);

/** Throws `UsageError` naming `what` unless `name` follows {@link NAME_PATTERN}. */
export function assertName(name: string, what: string): string {
  if (!NAME_PATTERN.test(name)) throw new UsageError(`invalid ${what}: expected ${NAME_RULE}, got ${JSON.stringify(name)}`);
  return name;
}

/** Throws `UsageError` naming `what` unless `name` follows {@link POD_NAME_PATTERN}. */
export function assertPodName(name: string, what: string): string {
  if (!POD_NAME_PATTERN.test(name)) throw new UsageError(`invalid ${what}: expected ${POD_NAME_RULE}, got ${JSON.stringify(name)}`);
  return name;
}
