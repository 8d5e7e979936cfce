import type { z } from 'zod';
import { ContractError } from './errors.js';

function describeInput(input: unknown): string {
  if (input === undefined) return 'nothing';
  const text = JSON.stringify(input);
  if (text === undefined) return String(input);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describeIssue(issue: z.core.$ZodIssue, showInput: boolean): string {
  const path = issue.path.length > 0 ? issue.path.join('.') : '(document)';
  const input = 'input' in issue ? issue.input : undefined;
  const message = issue.message.replace(/^Invalid input: /, '');
  return showInput ? `${path}: ${message}, got ${describeInput(input)}` : `${path}: ${message} (value not shown)`;
}

export interface ValidateOptions {
  /**
   * Whether messages quote the value that failed. Turn off for secrets and
   * URLs that carry tokens: the message then names the field and the problem only.
   * @default true
   */
  showInput?: boolean;
}

/**
 * Validates `value` against `schema`. Unknown fields are dropped (a newer writer
 * may add some); missing or invalid ones throw a {@link ContractError} whose
 * message starts with `what` ("manifest", "heartbeat") and lists the problems.
 */
export function validate<T extends z.ZodType>(schema: T, value: unknown, what: string, options: ValidateOptions = {}): z.output<T> {
  const result = schema.safeParse(value, { reportInput: options.showInput !== false });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => describeIssue(issue, options.showInput !== false));
  const shown = problems.slice(0, 3).join('; ');
  const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
  throw new ContractError(`invalid ${what}: ${shown}${more}`, problems);
}

/** Parses JSON text, turning a syntax error into a {@link ContractError}. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ContractError(`invalid ${what}: expected JSON, got text that does not parse (${reason})`);
  }
}

/** The schema library the contract is written in, for code that validates its own documents with `validate` (the board's settings), so there is one copy of it. */
export { z } from 'zod';
