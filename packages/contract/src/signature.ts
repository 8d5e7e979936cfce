import { UsageError } from './errors.js';
import { fromHex, toHex } from './hex.js';

/*
 * Request signing shared by the agent (signs heartbeats) and the board
 * (verifies them), and by the board's outgoing webhooks. Runtime-neutral:
 * Web Crypto only, so it runs in Node and in workerd alike.
 *
 *   x-sqlitening-timestamp: <unix seconds>
 *   x-sqlitening-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 *
 * The timestamp is inside the MAC, so a captured request cannot be replayed
 * outside the window; inside it, the receiver remembers signatures it has seen.
 */

export const TIMESTAMP_HEADER = 'x-sqlitening-timestamp';
export const SIGNATURE_HEADER = 'x-sqlitening-signature';
/** How far a timestamp may be from the receiver's clock, either way. */
export const SIGNATURE_WINDOW_SECONDS = 300;

const SCHEME = 'v1=';
const encoder = new TextEncoder();

async function hmacKey(secret: string, usage: 'sign' | 'verify'): ReturnType<typeof crypto.subtle.importKey> {
  if (secret.length === 0) throw new UsageError('invalid signing secret: expected a non-empty secret, got an empty string');
  return crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);
}

/** The signature header value for `body` sent at `timestamp` (unix seconds). */
export async function signBody(secret: string, timestamp: number, body: string): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', await hmacKey(secret, 'sign'), encoder.encode(`${timestamp}.${body}`));
  return `${SCHEME}${toHex(mac)}`;
}

/** Both headers for a signed request, ready to merge into `fetch` headers. */
export async function signatureHeaders(secret: string, body: string, now = Date.now()): Promise<Record<string, string>> {
  const timestamp = Math.floor(now / 1000);
  return { [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: await signBody(secret, timestamp, body) };
}

export type SignatureCheck = 'ok' | 'missing' | 'malformed' | 'expired' | 'mismatch';

/**
 * Checks a signed request. Never throws for bad input: the result says why it
 * was refused. The comparison is constant-time (Web Crypto `verify`).
 */
export async function verifySignature(input: {
  secret: string;
  body: string;
  timestamp: string | null;
  signature: string | null;
  now?: number;
  windowSeconds?: number;
}): Promise<SignatureCheck> {
  const { timestamp, signature } = input;
  if (!timestamp || !signature) return 'missing';
  if (!/^\d{1,12}$/.test(timestamp) || !signature.startsWith(SCHEME)) return 'malformed';
  const mac = fromHex(signature.slice(SCHEME.length));
  if (mac?.length !== 32) return 'malformed';
  const skew = Math.abs((input.now ?? Date.now()) / 1000 - Number(timestamp));
  if (skew > (input.windowSeconds ?? SIGNATURE_WINDOW_SECONDS)) return 'expired';
  const valid = await crypto.subtle.verify('HMAC', await hmacKey(input.secret, 'verify'), mac, encoder.encode(`${timestamp}.${input.body}`));
  return valid ? 'ok' : 'mismatch';
}
