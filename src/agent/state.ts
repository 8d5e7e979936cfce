import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { type Manifest, manifestSchema, validate } from '@sqlitening/contract';
import { writeFileAtomic } from '../fs-atomic.js';

const errorSchema = z.object({ code: z.string(), message: z.string(), at: z.iso.datetime() });

const installSchema = z.object({
  /** `delta`: built from the previous file and the changed pages; `full`: the whole object. */
  method: z.enum(['delta', 'full']),
  /** Bytes received from the store for it. */
  bytes: z.number().int().nonnegative(),
  at: z.iso.datetime(),
  /** Why a delta was offered but not used (the full object was fetched instead). */
  fallback: z.string().nullable().default(null),
});

const stateSchema = z.object({
  version: z.literal(1),
  /** The manifest of the installed database; null before the first install. */
  installed: manifestSchema.nullable(),
  /** ETag of the manifest as last fetched, for the conditional GET. */
  manifestEtag: z.string().nullable(),
  lastRunAt: z.iso.datetime().nullable(),
  lastSuccessAt: z.iso.datetime().nullable(),
  lastError: errorSchema.nullable(),
  /** How the installed database arrived. */
  lastInstall: installSchema.nullable().default(null),
  /** When the live file was last read whole and checked against its manifest (installs count). */
  verifiedAt: z.iso.datetime().nullable().default(null),
});

/** What the agent knows between runs and restarts. */
export type AgentState = z.output<typeof stateSchema>;
export type RecordedError = z.output<typeof errorSchema>;
export type InstallRecord = z.output<typeof installSchema>;

export const EMPTY_STATE: AgentState = {
  version: 1,
  installed: null,
  manifestEtag: null,
  lastRunAt: null,
  lastSuccessAt: null,
  lastError: null,
  lastInstall: null,
  verifiedAt: null,
};

/**
 * Reads the state file. A missing file is a first start; an unreadable one is
 * treated as a first start too (the next sync re-downloads and rewrites it),
 * because refusing to run would leave the pod without fresh data.
 */
export async function readState(file: string): Promise<AgentState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return EMPTY_STATE;
  }
  try {
    return validate(stateSchema, JSON.parse(text), 'agent state');
  } catch {
    return EMPTY_STATE;
  }
}

export async function writeState(file: string, state: AgentState): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
}

export function installedSummary(manifest: Manifest | null): { gitSha: string; sha256: string; createdAt: string } | null {
  return manifest ? { gitSha: manifest.gitSha, sha256: manifest.database.sha256, createdAt: manifest.createdAt } : null;
}
