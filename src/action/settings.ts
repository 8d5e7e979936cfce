import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import { type Encoding, ENCODINGS, parseGitSha } from '@sqlitening/contract';
import { UsageError } from '../errors.js';
import { parsePrivateKey } from '../signing/keys.js';
import { parseBoolean, parseChoice, parseDuration, parseHttpUrl, parseInteger, parseShare } from '../values.js';
import type { StoreSettings } from '../store/open-store.js';
import { Inputs } from './constants.js';

/** Everything the action does, decided once from its inputs. */
export interface ActionSettings {
  store: StoreSettings;
  /** Folder of `.sql` migrations, resolved against the working directory. */
  migrationsDir: string | undefined;
  migrateCommand: string | undefined;
  /** Loader commands, one per non-empty input line. */
  loaders: string[];
  /** `published`: refresh the newest snapshot of the commit (empty if none); `fresh`: always start empty. */
  startFrom: 'published' | 'fresh';
  /** Where the database is built. */
  database: string;
  encoding: Encoding;
  level: number | undefined;
  keep: number;
  graceMs: number;
  vacuum: 'auto' | 'always' | 'never';
  vacuumThreshold: number;
  /** The commit the snapshot belongs to: the input (a scheduled refresh of the deployed commit), else the workflow's sha. */
  gitSha: string;
  /** Public base URL of the store's root, for the `public-url` output. */
  publicBaseUrl: string | undefined;
  workingDirectory: string;
  dryRun: boolean;
  /** Signs manifests when set (from a secret). */
  signingKey: KeyObject | null;
}

type GetInput = (name: Inputs) => string;

const name = (input: Inputs): string => `input '${input}'`;

function choice<T extends string>(get: GetInput, input: Inputs, choices: readonly T[], fallback: T): T {
  return parseChoice(get(input) || fallback, name(input), choices);
}

function integer(get: GetInput, input: Inputs, min: number, max: number, fallback: number | undefined): number | undefined {
  const value = get(input);
  return value === '' ? fallback : parseInteger(value, name(input), min, max);
}

/**
 * Reads and validates every input. `get` returns the trimmed input or ''
 * (as `core.getInput` does); `env` is the runner's environment.
 */
export function readSettings(get: GetInput, env: NodeJS.ProcessEnv): ActionSettings {
  const workingDirectory = path.resolve(env.GITHUB_WORKSPACE ?? process.cwd(), get(Inputs.WorkingDirectory) || '.');
  const store = get(Inputs.Store);
  if (store === '') throw new UsageError(`invalid ${name(Inputs.Store)}: expected s3://bucket[/prefix] or a folder path, got ""`);
  const endpoint = get(Inputs.Endpoint);
  if (endpoint !== '') parseHttpUrl(endpoint, name(Inputs.Endpoint));

  const migrations = get(Inputs.Migrations);
  const migrateCommand = get(Inputs.MigrateCommand);
  const loaders = get(Inputs.Loaders)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const startFrom = choice(get, Inputs.StartFrom, ['published', 'fresh'] as const, 'published');
  if (migrations === '' && migrateCommand === '' && loaders.length === 0 && startFrom === 'fresh') {
    throw new UsageError(
      `invalid ${name(Inputs.Migrations)}: expected at least one of '${Inputs.Migrations}', '${Inputs.MigrateCommand}' or '${Inputs.Loaders}', got ""`,
    );
  }

  const shaInput = get(Inputs.GitSha);
  const shaSource = shaInput !== '' ? `input '${Inputs.GitSha}'` : 'GITHUB_SHA';
  const rawSha = shaInput !== '' ? shaInput : (env.GITHUB_SHA ?? '');
  let gitSha: string;
  try {
    gitSha = parseGitSha(rawSha, shaSource);
  } catch (error) {
    throw new UsageError(shaInput !== '' ? `invalid ${name(Inputs.GitSha)}: ${(error as Error).message}` : (error as Error).message);
  }

  const graceMs = parseDuration(get(Inputs.Grace) || '1h', name(Inputs.Grace));
  const vacuumThreshold = parseShare(get(Inputs.VacuumThreshold) || '0.25', name(Inputs.VacuumThreshold));
  const publicBaseUrl = get(Inputs.PublicBaseUrl);
  if (publicBaseUrl !== '') parseHttpUrl(publicBaseUrl, name(Inputs.PublicBaseUrl));

  return {
    store: {
      url: store,
      endpoint: endpoint || undefined,
      region: get(Inputs.Region) || undefined,
      forcePathStyle: parseBoolean(get(Inputs.PathStyle), name(Inputs.PathStyle)),
    },
    migrationsDir: migrations ? path.resolve(workingDirectory, migrations) : undefined,
    migrateCommand: migrateCommand || undefined,
    loaders,
    startFrom,
    database: path.resolve(workingDirectory, get(Inputs.Database) || path.join(env.RUNNER_TEMP ?? workingDirectory, 'sqlitening.db')),
    encoding: choice(get, Inputs.Encoding, ENCODINGS, 'gzip'),
    level: integer(get, Inputs.Level, 0, 22, undefined),
    keep: integer(get, Inputs.Keep, 1, 1000, 5)!,
    graceMs,
    vacuum: choice(get, Inputs.Vacuum, ['auto', 'always', 'never'] as const, 'auto'),
    vacuumThreshold,
    gitSha,
    publicBaseUrl: publicBaseUrl ? publicBaseUrl.replace(/\/+$/, '') : undefined,
    workingDirectory,
    dryRun: parseBoolean(get(Inputs.DryRun), name(Inputs.DryRun)),
    signingKey: get(Inputs.SigningKey) ? parsePrivateKey(get(Inputs.SigningKey), name(Inputs.SigningKey)) : null,
  };
}
