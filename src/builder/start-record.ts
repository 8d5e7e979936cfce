import { readFile, rm } from 'node:fs/promises';
import { z } from 'zod';
import { SignatureError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import type { TrustedKey } from '../signing/keys.js';
import type { StartedFrom } from './build-from.js';

/*
 * What a build started from, kept beside its output (`<output>.start.json`) for the publish that follows:
 * a publish that signs refuses a database built on a published snapshot that no key it trusts proved, since
 * it would sign a store writer's rows as its own. The Action builds and publishes in one run and checks the
 * same thing in memory (it starts only from a manifest its own signing key proves).
 */

const recordSchema = z.object({
  version: z.literal(1),
  from: z.object({ key: z.string(), sha256: z.string(), createdAt: z.string() }),
  /** The key id that proved the manifest started from; null: none was given, the store was trusted. */
  provenBy: z.string().nullable(),
});

export const startRecordPath = (database: string): string => `${database}.start.json`;

/** Records a published start beside the output; any other start (empty, a local file) removes an older record. */
export async function writeStartRecord(database: string, from: StartedFrom): Promise<void> {
  if (!from.key || !from.sha256 || !from.createdAt) {
    await rm(startRecordPath(database), { force: true });
    return;
  }
  const record = { version: 1, from: { key: from.key, sha256: from.sha256, createdAt: from.createdAt }, provenBy: from.provenBy ?? null };
  await writeFileAtomic(startRecordPath(database), `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * Refuses to sign a database whose build started from a published snapshot no key in `trusted` proved
 * (`unproven-start`), unless `allowUnproven`. No record: the database was not built on a published snapshot.
 */
export async function checkStartForSigning(database: string, trusted: readonly TrustedKey[], allowUnproven: boolean): Promise<void> {
  let text: string;
  try {
    text = await readFile(startRecordPath(database), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (allowUnproven) return;
  const parsed = recordSchema.safeParse(JSON.parse(text));
  const where = startRecordPath(database);
  if (!parsed.success)
    throw new SignatureError(`refusing to sign: ${where} does not say which key proved the snapshot the build started from`, 'unproven-start');
  const { from, provenBy } = parsed.data;
  if (provenBy === null || !trusted.some((key) => key.keyId === provenBy)) {
    throw new SignatureError(
      `refusing to sign ${database}: its build started from ${from.key} (created ${from.createdAt}), which ${provenBy === null ? 'no key proved (build --from published without --trust-key trusts the store)' : `key ${provenBy} proved, a key this publish does not trust`}. Build again with --trust-key <the signing key's .pub>, or pass --allow-unproven-start if the store is trusted`,
      'unproven-start',
    );
  }
}
