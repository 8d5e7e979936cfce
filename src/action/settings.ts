import path from 'node:path';
import { parseGitSha } from '../contract/git-sha.js';
import { ENCODINGS, type Encoding } from '../contract/manifest.js';
import { parseDuration } from '../duration.js';
import { UsageError } from '../errors.js';
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
}

type GetInput = (name: Inputs) => string;

function invalid(name: Inputs, expected: string, got: string): UsageError {
  return new UsageError(`Invalid input '${name}': expected ${expected}, got ${JSON.stringify(got)}`);
}

function choice<T extends string>(get: GetInput, name: Inputs, choices: readonly T[], fallback: T): T {
  const value = get(name) || fallback;
  if (!(choices as readonly string[]).includes(value)) throw invalid(name, `one of ${choices.join(', ')}`, value);
  return value as T;
}

function integer(get: GetInput, name: Inputs, min: number, max: number, fallback: number | undefined): number | undefined {
  const value = get(name);
  if (value === '') return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw invalid(name, `a whole number from ${min} to ${max}`, value);
  return Number(value);
}

function boolean(get: GetInput, name: Inputs): boolean {
  const value = get(name).toLowerCase();
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  throw invalid(name, 'true or false', get(name));
}

/**
 * Reads and validates every input. `get` returns the trimmed input or ''
 * (as `core.getInput` does); `env` is the runner's environment.
 */
export function readSettings(get: GetInput, env: NodeJS.ProcessEnv): ActionSettings {
  const workingDirectory = path.resolve(env.GITHUB_WORKSPACE ?? process.cwd(), get(Inputs.WorkingDirectory) || '.');
  const store = get(Inputs.Store);
  if (store === '') throw invalid(Inputs.Store, 's3://bucket[/prefix] or a folder path', store);
  const endpoint = get(Inputs.Endpoint);
  if (endpoint !== '' && !/^https?:\/\/[^/\s]+/.test(endpoint)) throw invalid(Inputs.Endpoint, 'http(s)://host[:port]', endpoint);

  const migrations = get(Inputs.Migrations);
  const migrateCommand = get(Inputs.MigrateCommand);
  const loaders = get(Inputs.Loaders)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const startFrom = choice(get, Inputs.StartFrom, ['published', 'fresh'] as const, 'published');
  if (migrations === '' && migrateCommand === '' && loaders.length === 0 && startFrom === 'fresh') {
    throw invalid(Inputs.Migrations, `at least one of '${Inputs.Migrations}', '${Inputs.MigrateCommand}' or '${Inputs.Loaders}'`, '');
  }

  const shaInput = get(Inputs.GitSha);
  const shaSource = shaInput !== '' ? `input '${Inputs.GitSha}'` : 'GITHUB_SHA';
  const rawSha = shaInput !== '' ? shaInput : (env.GITHUB_SHA ?? '');
  let gitSha: string;
  try {
    gitSha = parseGitSha(rawSha, shaSource);
  } catch (error) {
    throw new UsageError(shaInput !== '' ? `Invalid input '${Inputs.GitSha}': ${(error as Error).message}` : (error as Error).message);
  }

  let graceMs: number;
  try {
    graceMs = parseDuration(get(Inputs.Grace) || '1h', `input '${Inputs.Grace}'`);
  } catch {
    throw invalid(Inputs.Grace, 'a duration such as 30m, 1h or 2d', get(Inputs.Grace));
  }
  const thresholdText = get(Inputs.VacuumThreshold) || '0.25';
  const vacuumThreshold = Number(thresholdText);
  if (!Number.isFinite(vacuumThreshold) || vacuumThreshold < 0 || vacuumThreshold > 1) {
    throw invalid(Inputs.VacuumThreshold, 'a share from 0 to 1', thresholdText);
  }
  const publicBaseUrl = get(Inputs.PublicBaseUrl);
  if (publicBaseUrl !== '' && !/^https?:\/\/[^/\s]+/.test(publicBaseUrl)) throw invalid(Inputs.PublicBaseUrl, 'an http(s):// URL', publicBaseUrl);

  return {
    store: { url: store, endpoint: endpoint || undefined, region: get(Inputs.Region) || undefined, forcePathStyle: boolean(get, Inputs.PathStyle) },
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
    dryRun: boolean(get, Inputs.DryRun),
  };
}
