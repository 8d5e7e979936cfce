import { CommanderError } from 'commander';
import { ContractError } from '../contract/validation.js';
import { DatabaseError, SqliteningError, UsageError } from '../errors.js';

/** Exit codes of every command (also listed in `sqlitening --help`). */
export const EXIT = {
  /** Done, including "nothing to do" (an unchanged snapshot). */
  ok: 0,
  /** The operation failed: store, network, disk, or an unexpected error. Often worth retrying. */
  failed: 1,
  /** Invalid invocation: unknown flag, missing or invalid setting. Fix the command line. */
  usage: 2,
  /** The data was rejected: a failing migration, loader or database check, or an invalid manifest. */
  rejected: 3,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  done (including nothing to do)
  1  failed: store, network or disk error; retrying may help
  2  invalid command line or settings
  3  data rejected: migration, loader or database check failed, or an invalid manifest`;

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError || error instanceof TypeError || error instanceof CommanderError) return EXIT.usage;
  if (error instanceof DatabaseError || error instanceof ContractError) return EXIT.rejected;
  if (error instanceof SqliteningError) return EXIT.failed;
  return EXIT.failed;
}
