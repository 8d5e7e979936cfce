import { z } from 'zod';
import { ContractError } from './errors.js';

/** A full git commit id: 40 hex digits (SHA-1 repositories) or 64 (SHA-256 repositories), lower case. */
export const gitShaSchema = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, 'expected a full git commit sha (40 or 64 lowercase hex digits)');

/**
 * Validates a git commit sha taken from `source` (a flag, an environment
 * variable, `git rev-parse`). Abbreviated shas are refused: every snapshot
 * belongs to exactly one commit, and a prefix can name several.
 */
export function parseGitSha(value: string, source: string): string {
  const trimmed = value.trim();
  if (gitShaSchema.safeParse(trimmed).success) return trimmed;
  const hint = /^[0-9A-F]+$/.test(trimmed) ? ' (use lower case)' : '';
  throw new ContractError(`invalid git sha from ${source}: expected a full commit sha (40 or 64 lowercase hex digits)${hint}, got ${JSON.stringify(value)}`);
}
