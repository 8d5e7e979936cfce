import { type KeyObject, sign, verify } from 'node:crypto';
import {
  fromBase64,
  isEnvelope,
  MANIFEST_PAYLOAD_TYPE,
  type Manifest,
  parseEnvelope,
  parseJson,
  parseManifest,
  preAuthEncoding,
  serializeManifest,
  toBase64,
} from '@sqlitening/contract';
import { SignatureError } from '../errors.js';
import { keyIdOf, type TrustedKey } from './keys.js';

/** The manifest as a DSSE envelope signed with `privateKey` (Ed25519 over DSSE's pre-authentication encoding). */
export function signManifest(manifest: Manifest, privateKey: KeyObject): string {
  const payload = Buffer.from(serializeManifest(manifest));
  const sig = sign(null, preAuthEncoding(MANIFEST_PAYLOAD_TYPE, payload), privateKey);
  const envelope = { payloadType: MANIFEST_PAYLOAD_TYPE, payload: toBase64(payload), signatures: [{ keyid: keyIdOf(privateKey), sig: toBase64(sig) }] };
  return `${JSON.stringify(envelope, null, 2)}\n`;
}

export interface OpenedManifest {
  manifest: Manifest;
  /** The id of the trusted key whose signature verified; null when no keys were required. */
  signedBy: string | null;
}

/**
 * Reads a manifest document: a bare manifest or a signed envelope. With
 * `trusted` keys, only an envelope carrying a valid signature by one of them
 * is accepted, and the manifest is read from the bytes that signature covers.
 * Without, either form is read and signatures are not checked.
 * Throws `SignatureError` (unsigned, untrusted key, bad signature) or `ContractError`.
 */
export function openManifest(text: string, trusted: readonly TrustedKey[] | null, where: string): OpenedManifest {
  const document = parseJson(text, 'manifest');
  if (!isEnvelope(document)) {
    if (trusted) throw new SignatureError(`${where} is not signed, and this agent accepts only manifests signed by ${keyList(trusted)}`, 'unsigned-manifest');
    return { manifest: parseManifest(document), signedBy: null };
  }
  const envelope = parseEnvelope(document);
  const payload = fromBase64(envelope.payload);
  if (trusted) {
    const message = preAuthEncoding(envelope.payloadType, payload);
    const named = envelope.signatures.filter((s) => trusted.some((t) => t.keyId === s.keyid) || s.keyid === undefined);
    if (named.length === 0) {
      const by = envelope.signatures.map((s) => s.keyid ?? '(no key id)').join(', ') || 'no key';
      throw new SignatureError(`${where} is signed by ${by}, not by a trusted key (${keyList(trusted)})`, 'untrusted-key');
    }
    const signedBy = named
      .flatMap((s) => trusted.filter((t) => s.keyid === undefined || t.keyId === s.keyid).map((t) => ({ t, s })))
      .find(({ t, s }) => {
        // One malformed signature must not keep a later, valid one from being tried.
        try {
          return verify(null, message, t.key, fromBase64(s.sig));
        } catch {
          return false;
        }
      })?.t.keyId;
    if (!signedBy)
      throw new SignatureError(`${where}: the signature does not match its content (altered after signing, or a forged signature)`, 'bad-signature');
    return { manifest: parseManifest(parseJson(new TextDecoder().decode(payload), 'manifest')), signedBy };
  }
  return { manifest: parseManifest(parseJson(new TextDecoder().decode(payload), 'manifest')), signedBy: null };
}

function keyList(trusted: readonly TrustedKey[]): string {
  return trusted.map((t) => t.keyId).join(', ');
}
