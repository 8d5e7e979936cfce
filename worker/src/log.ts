import { secretValues, type SettingsEnv } from './config.js';

/**
 * Error logging for the worker and its Durable Objects. Workers Logs
 * (`observability` in wrangler.jsonc) indexes the fields of a logged object,
 * so each line is one object: what failed, where (request id and route, or
 * cluster), and the error's name, message and stack.
 *
 * Messages are written never to quote a secret (settings errors name the
 * field, not the value); as a last line of defence every secret value in the
 * settings is cut out of the text before it is logged.
 */

export interface LogFields {
  /** The request's id (`cf-ray` at Cloudflare, else one made up), also given to the client in a 500's body. */
  requestId?: string;
  /** `METHOD /path`, with the path's variable parts as the route names them (`/v1/clusters/:id`). */
  route?: string;
  cluster?: string;
  [field: string]: string | number | undefined;
}

/** `text` with every secret value of `env` replaced by `[secret]`. */
export function scrub(text: string, env: SettingsEnv): string {
  let result = text;
  for (const secret of secretValues(env)) result = result.replaceAll(secret, '[secret]');
  return result;
}

/** Logs `error` as one line (`console.error`), with `fields`, scrubbed of secrets. */
export function logError(env: SettingsEnv, message: string, fields: LogFields, error: unknown): void {
  const name = error instanceof Error ? error.name : typeof error;
  const text = error instanceof Error ? error.message : String(error);
  const stack = error instanceof Error && error.stack ? error.stack : undefined;
  const entry: Record<string, string | number> = { message, ...definedOnly(fields), error: `${name}: ${scrub(text, env)}` };
  if (stack) entry.stack = scrub(stack, env);
  console.error(entry);
}

function definedOnly(fields: LogFields): Record<string, string | number> {
  return Object.fromEntries(Object.entries(fields).filter((entry): entry is [string, string | number] => entry[1] !== undefined));
}
