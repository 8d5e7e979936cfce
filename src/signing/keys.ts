import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';

/** An Ed25519 public key the agent trusts, with the id that signatures name it by. */
export interface TrustedKey {
  keyId: string;
  key: KeyObject;
}

/** A key's id: the first 16 hex digits of the SHA-256 of its public key (SPKI, DER). Stable, short, and safe to print. */
export function keyIdOf(key: KeyObject): string {
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex').slice(0, 16);
}

/** A new Ed25519 key pair as PEM text: PKCS#8 for the private key, SPKI for the public one. */
export function generateSigningKeyPair(): { privateKeyPem: string; publicKeyPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

function requireEd25519(key: KeyObject, source: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new UsageError(`invalid key in ${source}: expected an Ed25519 key (sqlitening keygen makes one), got ${key.asymmetricKeyType ?? 'a symmetric key'}`);
  }
  return key;
}

/** The private signing key from PEM text; `source` names where it came from, for messages (never the key itself). */
export function parsePrivateKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new UsageError(`invalid signing key in ${source}: expected an Ed25519 private key in PEM (BEGIN PRIVATE KEY)`);
  }
  return requireEd25519(key, source);
}

function isPrivateKey(pem: string): boolean {
  try {
    createPrivateKey(pem);
    return true;
  } catch {
    return false;
  }
}

/** A trusted public key from a PEM file. */
export async function readTrustedKey(file: string): Promise<TrustedKey> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read trust key ${file}: ${(error as Error).message}`);
  }
  // createPublicKey takes a private key too (it derives the public half): a signing key shipped to every
  // pod as its trust key would pass unnoticed.
  if (isPrivateKey(pem))
    throw new UsageError(`invalid trust key ${file}: expected a public key, got a private one; give the .pub file and keep the .key file secret`);
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new UsageError(`invalid trust key ${file}: expected an Ed25519 public key in PEM (BEGIN PUBLIC KEY)`);
  }
  requireEd25519(key, file);
  return { keyId: keyIdOf(key), key };
}

/**
 * The keys a publisher verifies what it reads against (the current manifest, the snapshot a build starts
 * from): its own signing key's public half and any others it was told to trust (a key being rotated out).
 * `null` when it has neither: it signs nothing, so the store is trusted.
 */
export function publisherTrust(signingKey: KeyObject | null | undefined, trusted: readonly TrustedKey[] = []): TrustedKey[] | null {
  const keys = [...trusted];
  if (signingKey) {
    const key = createPublicKey(signingKey);
    if (!keys.some((k) => k.keyId === keyIdOf(key))) keys.unshift({ keyId: keyIdOf(key), key });
  }
  return keys.length > 0 ? keys : null;
}

/** The public keys in `files` (`--trust-key`, repeatable); null when none is given. */
export async function readTrustedKeys(files: readonly string[] | undefined): Promise<TrustedKey[] | null> {
  return files?.length ? Promise.all(files.map(readTrustedKey)) : null;
}

/** The signing key from `--signing-key FILE`, else the PEM in SQLITENING_SIGNING_KEY (a CI secret); none: unsigned. */
export async function readSigningKey(file: string | undefined, env: NodeJS.ProcessEnv): Promise<KeyObject | null> {
  if (file) {
    let pem: string;
    try {
      pem = await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read --signing-key ${file}: ${(error as Error).message}`);
    }
    return parsePrivateKey(pem, file);
  }
  return env.SQLITENING_SIGNING_KEY ? parsePrivateKey(env.SQLITENING_SIGNING_KEY, 'SQLITENING_SIGNING_KEY') : null;
}
