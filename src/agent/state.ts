import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { gitShaSchema, type Manifest, manifestSchema, utcTimeSchema, validate } from '@sqlitening/contract';
import { StateError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';

const errorSchema = z.object({ code: z.string(), message: z.string(), at: z.iso.datetime() });

/** Which store served: its place among the agent's stores (0 = the first `--store`) and its location, with no credentials. */
const storeSchema = z.object({ index: z.number().int().nonnegative(), location: z.string() });

const installSchema = z.object({
  /** `delta`: built from the previous file and the changed pages; `full`: the whole object. */
  method: z.enum(['delta', 'full']),
  /** Bytes received from the store for it. */
  bytes: z.number().int().nonnegative(),
  at: z.iso.datetime(),
  /** Why a delta was offered but not used (the full object was fetched instead). */
  fallback: z.string().nullable().default(null),
  /** The store that served its bytes; null in state written before mirrors. */
  store: storeSchema.nullable().default(null),
});

const stateSchema = z.object({
  version: z.literal(1),
  /** The manifest of the installed database; null before the first install. */
  installed: manifestSchema.nullable(),
  /**
   * The trusted key whose signature the installed manifest carried; null when it was not checked. A file
   * installed under a trusted signature is re-verified by its chunk root alone, as it was downloaded.
   */
  installedSignedBy: z.string().nullable().default(null),
  /** ETag of the manifest as last fetched, for the conditional GET. */
  manifestEtag: z.string().nullable(),
  /**
   * The policy the installed manifest was accepted under (trusted keys, database name, commit: see
   * `policyOf`). A pod started under another one reads the manifest whole again rather than trust a 304.
   */
  acceptedUnder: z.string().nullable().default(null),
  lastRunAt: z.iso.datetime().nullable(),
  lastSuccessAt: z.iso.datetime().nullable(),
  lastError: errorSchema.nullable(),
  /** How the installed database arrived. */
  lastInstall: installSchema.nullable().default(null),
  /** When the live file was last read whole and checked against its manifest (full downloads count; deltas do not). */
  verifiedAt: z.iso.datetime().nullable().default(null),
  /**
   * The newest manifest accepted (commit and creation time): the rollback floor. Kept apart from
   * `installed`, so that neither a failed re-verification nor a replay of older bytes lowers it.
   */
  floor: z.object({ gitSha: gitShaSchema, createdAt: utcTimeSchema }).nullable().default(null),
  /** The store the last successful run read from (with several, the one it failed over to, if it did). */
  store: storeSchema.nullable().default(null),
});

/** What the agent knows between runs and restarts. */
export type AgentState = z.output<typeof stateSchema>;
export type RecordedError = z.output<typeof errorSchema>;
export type InstallRecord = z.output<typeof installSchema>;

export const EMPTY_STATE: AgentState = {
  version: 1,
  installed: null,
  installedSignedBy: null,
  manifestEtag: null,
  acceptedUnder: null,
  lastRunAt: null,
  lastSuccessAt: null,
  lastError: null,
  lastInstall: null,
  verifiedAt: null,
  floor: null,
  store: null,
};

/**
 * Reads the state file. A missing file is a first start. One that exists but
 * cannot be read as state is an error that names itself (`state-corrupt`):
 * starting over would forget the rollback floor, so that takes a person.
 */
export async function readState(file: string): Promise<AgentState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_STATE;
    throw new StateError(file, (error as Error).message);
  }
  let state: AgentState;
  try {
    state = validate(stateSchema, JSON.parse(text), 'agent state');
  } catch (error) {
    throw new StateError(file, (error as Error).message);
  }
  // State written before the floor had its own field: the installed manifest was the floor.
  if (!state.floor && state.installed) state = { ...state, floor: { gitSha: state.installed.gitSha, createdAt: state.installed.createdAt } };
  return state;
}

/**
 * Whether `next` differs from `previous` in more than the times of its runs. A poll that finds the snapshot
 * unchanged moves only those; it leaves state.json as it is (no rewrite, no fsync on every poll), since the
 * success it records lasts in the `database` task marker, which health reads. The times in the file are then
 * those of the last run that changed anything; a restarted agent's first run sets them again.
 */
export function stateChanged(previous: AgentState, next: AgentState): boolean {
  // Compared where they lie, not serialised: an unchanged poll keeps the very manifest object, which this passes over.
  const { lastRunAt: _run, lastSuccessAt: _success, ...before } = previous;
  const { lastRunAt: _nextRun, lastSuccessAt: _nextSuccess, ...after } = next;
  return !isDeepStrictEqual(before, after);
}

export async function writeState(file: string, state: AgentState): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
}

export function installedSummary(manifest: Manifest | null): { gitSha: string; sha256: string; createdAt: string } | null {
  return manifest ? { gitSha: manifest.gitSha, sha256: manifest.database.sha256, createdAt: manifest.createdAt } : null;
}
