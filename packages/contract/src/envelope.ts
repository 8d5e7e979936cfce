import { z } from 'zod';
import { ContractError } from './errors.js';
import { validate } from './validation.js';

/*
 * Signed manifests use DSSE (the Dead Simple Signing Envelope of in-toto and
 * Sigstore), not a home-made format: the signature covers the payload type and
 * the exact payload bytes through DSSE's pre-authentication encoding, so
 * nothing is re-serialised before verification.
 *
 *   { "payloadType": "application/vnd.sqlitening.manifest+json",
 *     "payload": "<base64 of the manifest JSON>",
 *     "signatures": [ { "keyid": "<16 hex>", "sig": "<base64 Ed25519 signature>" } ] }
 *
 * A signed `manifest.json` is this envelope; an unsigned one is the manifest
 * itself. The manifest names every other object by its hash, so signing it
 * covers them all.
 */

export const MANIFEST_PAYLOAD_TYPE = 'application/vnd.sqlitening.manifest+json';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64');

export const envelopeSchema = z.object({
  payloadType: z.literal(MANIFEST_PAYLOAD_TYPE, { message: `expected payloadType ${MANIFEST_PAYLOAD_TYPE}` }),
  payload: base64,
  signatures: z.array(z.object({ keyid: z.string().max(128).optional(), sig: base64 })).max(16),
});

export type Envelope = z.output<typeof envelopeSchema>;

const encoder = new TextEncoder();

/** DSSE's pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`, lengths in ASCII decimal bytes. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = encoder.encode(payloadType);
  const head = encoder.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text))
    throw new ContractError(`expected base64 (length a multiple of 4), got ${text.length} characters`);
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new ContractError('expected base64, got text that does not decode');
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Whether a parsed JSON document is an envelope rather than a bare manifest. */
export function isEnvelope(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'payloadType' in value && 'payload' in value;
}

/** Parses envelope JSON text. Throws `ContractError` naming the field. */
export function parseEnvelope(value: unknown): Envelope {
  return validate(envelopeSchema, value, 'signed manifest envelope');
}
