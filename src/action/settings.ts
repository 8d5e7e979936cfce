import { DEFAULTS } from '../defaults.js';
import type { KeyObject } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertName, type Encoding, ENCODINGS, parseGitSha } from '@sqlitening/contract';
import { UsageError } from '../errors.js';
import { parsePrivateKey } from '../signing/keys.js';
import { parseBearerToken, parseBoolean, parseChoice, parseDuration, parseHttpUrl, parseInteger, parseShare } from '../values.js';
import { type StoreSettings, storeSettingsList } from '../store/open-store.js';
import type { BoardReadSettings } from '../live/board-client.js';
import { type CommitPolicy, isBranchName } from '../live/commit-policy.js';
import { Inputs, LIVE, LIVE_MAX_COMMITS } from './constants.js';

/** How a snapshot is built and published: everything the step does but which commit it is for. */
export interface BuildSettings {
  /** The stores, the preferred one first (its keys and URLs are the outputs); the others are mirrors. */
  stores: StoreSettings[];
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
  /** Public base URL of the store's root, for the `public-url` output. */
  publicBaseUrl: string | undefined;
  workingDirectory: string;
  dryRun: boolean;
  /** Signs manifests when set (from a secret); the snapshot a build starts from must then be signed by it too. */
  signingKey: KeyObject | null;
  /** The database's name, signed into the manifest (pods with `--name` check it); null: none. */
  name: string | null;
  /** Pods refuse a manifest this long after it was signed; null: never. */
  expiresInMs: number | null;
}

/** The workflow run's facts that name the repository's default branch when the clone does not (actions/checkout sets no `origin/HEAD`). */
export interface WorkflowEvent {
  /** `GITHUB_EVENT_NAME`: `schedule`, `push`, `workflow_dispatch`, …; '' outside Actions. */
  name: string;
  /** `GITHUB_REF`: a scheduled run's is the default branch. */
  ref: string;
  /** `GITHUB_EVENT_PATH`: the event's JSON, whose `repository.default_branch` most events carry (a schedule's does not). */
  payloadPath: string;
}

/** `git-sha: live`: the board that names the live commits, and which of them may be built. */
export interface LiveSettings {
  board: BoardReadSettings;
  /** Inside the workflow's clone (`working-directory`): the commits are checked against it. */
  workingDirectory: string;
  /** `live-branch`, `live-allow` and `live-max-commits`. */
  policy: CommitPolicy;
  event: WorkflowEvent;
}

/** Everything the action does, decided once from its inputs: which commits, and how each is built. */
export type ActionSettings =
  /** One commit: the `git-sha` input (a scheduled refresh of the deployed commit), else the workflow's sha. */
  | { mode: 'commit'; gitSha: string; build: BuildSettings }
  /**
   * `git-sha: live`: every commit the board reports live that the policy
   * allows, each built from its own code in a worktree of the workflow's
   * clone, under `tempDirectory`.
   */
  | { mode: 'live-refresh'; live: LiveSettings; build: BuildSettings; tempDirectory: string }
  /** `git-sha: live` with `live-mode: matrix`: only the `live-commits` output (the commits the policy allows), for one job per commit. */
  | { mode: 'live-matrix'; live: LiveSettings };

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
  const shaInput = get(Inputs.GitSha);
  const liveMode = choice(get, Inputs.LiveMode, ['refresh', 'matrix'] as const, 'refresh');
  if (shaInput !== LIVE) {
    // The board is asked only for live commits: a board input anywhere else would be silently ignored.
    const notLive = `it is used only with '${Inputs.GitSha}: ${LIVE}', but '${Inputs.GitSha}' is ${JSON.stringify(shaInput)}`;
    for (const input of [Inputs.BoardUrl, Inputs.BoardToken, Inputs.LiveBranch, Inputs.LiveAllow, Inputs.LiveMaxCommits]) {
      if (get(input) !== '') throw new UsageError(`invalid ${name(input)}: ${notLive}`);
    }
    if (liveMode !== 'refresh') throw new UsageError(`invalid ${name(Inputs.LiveMode)}: ${notLive}`);
    const build = readBuildSettings(get, env);
    return { mode: 'commit', gitSha: readGitSha(shaInput, env), build };
  }
  const live: LiveSettings = {
    board: readBoard(get),
    workingDirectory: readWorkingDirectory(get, env),
    policy: readCommitPolicy(get),
    event: { name: env.GITHUB_EVENT_NAME ?? '', ref: env.GITHUB_REF ?? '', payloadPath: env.GITHUB_EVENT_PATH ?? '' },
  };
  if (liveMode === 'matrix') return { mode: 'live-matrix', live };
  return { mode: 'live-refresh', live, build: readBuildSettings(get, env), tempDirectory: env.RUNNER_TEMP || tmpdir() };
}

/** Which live commits may be built: `live-branch`, `live-allow`, `live-max-commits`. */
function readCommitPolicy(get: GetInput): CommitPolicy {
  const branch = get(Inputs.LiveBranch);
  if (branch !== '' && !isBranchName(branch)) {
    throw new UsageError(
      `invalid ${name(Inputs.LiveBranch)}: expected a branch name (main, release/2026) or a full ref (refs/remotes/origin/main), or empty for the repository's default branch, got ${JSON.stringify(branch)}`,
    );
  }
  const allow = get(Inputs.LiveAllow)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .flatMap((line) => line.split(/[\s,]+/));
  for (const sha of allow) {
    if (!/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(sha)) {
      const why = /^([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/.test(sha)
        ? ' (use lower case)'
        : /^[0-9a-f]{1,39}$/.test(sha)
          ? ' (a prefix is not enough: whoever pushes a commit can choose its first digits)'
          : '';
      throw new UsageError(
        `invalid ${name(Inputs.LiveAllow)}: expected full commit shas (40 or 64 lowercase hex digits), one per line${why}, got ${JSON.stringify(sha)}`,
      );
    }
  }
  return { branch: branch || null, allow: [...new Set(allow)], maxCommits: integer(get, Inputs.LiveMaxCommits, 1, 1000, LIVE_MAX_COMMITS)! };
}

function readGitSha(shaInput: string, env: NodeJS.ProcessEnv): string {
  const shaSource = shaInput !== '' ? `input '${Inputs.GitSha}'` : 'GITHUB_SHA';
  const rawSha = shaInput !== '' ? shaInput : (env.GITHUB_SHA ?? '');
  try {
    return parseGitSha(rawSha, shaSource);
  } catch (error) {
    throw new UsageError(shaInput !== '' ? `invalid ${name(Inputs.GitSha)}: ${(error as Error).message}` : (error as Error).message);
  }
}

/** The board that says which commits are live; required with `git-sha: live`. */
function readBoard(get: GetInput): BoardReadSettings {
  const url = get(Inputs.BoardUrl);
  if (url === '') {
    throw new UsageError(
      `invalid ${name(Inputs.BoardUrl)}: '${Inputs.GitSha}: ${LIVE}' asks the freshness board which commits are live; expected its URL (https://board.example.workers.dev), got ""`,
    );
  }
  parseHttpUrl(url, name(Inputs.BoardUrl));
  const token = get(Inputs.BoardToken);
  return { url: url.replace(/\/+$/, ''), token: token === '' ? null : parseBearerToken(token, name(Inputs.BoardToken)) };
}

/** `working-directory`, against the workspace. */
function readWorkingDirectory(get: GetInput, env: NodeJS.ProcessEnv): string {
  return path.resolve(env.GITHUB_WORKSPACE ?? process.cwd(), get(Inputs.WorkingDirectory) || '.');
}

function readBuildSettings(get: GetInput, env: NodeJS.ProcessEnv): BuildSettings {
  const workingDirectory = readWorkingDirectory(get, env);
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
  const startFrom = choice(get, Inputs.StartFrom, ['published', 'fresh'] as const, DEFAULTS.startFrom);
  if (migrations === '' && migrateCommand === '' && loaders.length === 0 && startFrom === 'fresh') {
    throw new UsageError(
      `invalid ${name(Inputs.Migrations)}: expected at least one of '${Inputs.Migrations}', '${Inputs.MigrateCommand}' or '${Inputs.Loaders}', got ""`,
    );
  }

  const graceMs = get(Inputs.Grace) ? parseDuration(get(Inputs.Grace), name(Inputs.Grace)) : DEFAULTS.graceMs;
  const vacuumThreshold = get(Inputs.VacuumThreshold) ? parseShare(get(Inputs.VacuumThreshold), name(Inputs.VacuumThreshold)) : DEFAULTS.vacuumThreshold;
  const publicBaseUrl = get(Inputs.PublicBaseUrl);
  if (publicBaseUrl !== '') parseHttpUrl(publicBaseUrl, name(Inputs.PublicBaseUrl));

  return {
    // One store per line (mirrors after the first); `endpoint`, `region` and `path-style` are the defaults
    // of every s3:// one, which may carry its own after `?`, as a `--store` of the CLI does.
    stores: storeSettingsList(
      store.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#')),
      {
        endpoint: endpoint || undefined,
        region: get(Inputs.Region) || undefined,
        forcePathStyle: parseBoolean(get(Inputs.PathStyle), name(Inputs.PathStyle)),
      },
    ),
    migrationsDir: migrations ? path.resolve(workingDirectory, migrations) : undefined,
    migrateCommand: migrateCommand || undefined,
    loaders,
    startFrom,
    database: path.resolve(workingDirectory, get(Inputs.Database) || path.join(env.RUNNER_TEMP ?? workingDirectory, 'sqlitening.db')),
    encoding: choice(get, Inputs.Encoding, ENCODINGS, DEFAULTS.encoding),
    level: integer(get, Inputs.Level, 0, 22, undefined),
    keep: integer(get, Inputs.Keep, 1, 1000, DEFAULTS.keep)!,
    graceMs,
    vacuum: choice(get, Inputs.Vacuum, ['auto', 'always', 'never'] as const, DEFAULTS.vacuum),
    vacuumThreshold,
    publicBaseUrl: publicBaseUrl ? publicBaseUrl.replace(/\/+$/, '') : undefined,
    workingDirectory,
    dryRun: parseBoolean(get(Inputs.DryRun), name(Inputs.DryRun)),
    signingKey: get(Inputs.SigningKey) ? parsePrivateKey(get(Inputs.SigningKey), name(Inputs.SigningKey)) : null,
    name: get(Inputs.Name) ? assertName(get(Inputs.Name), name(Inputs.Name)) : null,
    expiresInMs: get(Inputs.ExpiresIn) ? parseDuration(get(Inputs.ExpiresIn), name(Inputs.ExpiresIn)) : null,
  };
}

/** Whether `file` is `folder` or inside it. */
function isInside(file: string, folder: string): boolean {
  const relative = path.relative(folder, file);
  return relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

/**
 * The same build, taken from another checkout of the repository at `root`:
 * the working directory and migrations at the same place in `checkout`; a
 * database path inside the repository too, one outside it (the runner's temp
 * folder) as it is. Migrations outside the repository are refused, since they
 * would not be the commit's own.
 */
export function forCheckout(build: BuildSettings, root: string, checkout: string): BuildSettings {
  const moved = (file: string) => path.join(checkout, path.relative(root, file));
  if (!isInside(build.workingDirectory, root)) {
    throw new UsageError(
      `invalid ${name(Inputs.WorkingDirectory)}: with '${Inputs.GitSha}: ${LIVE}' it must be inside the repository ${root}, got ${build.workingDirectory}`,
    );
  }
  if (build.migrationsDir && !isInside(build.migrationsDir, root)) {
    throw new UsageError(
      `invalid ${name(Inputs.Migrations)}: with '${Inputs.GitSha}: ${LIVE}' each commit's own migrations are used, so they must be inside the repository ${root}, got ${build.migrationsDir}`,
    );
  }
  return {
    ...build,
    workingDirectory: moved(build.workingDirectory),
    migrationsDir: build.migrationsDir ? moved(build.migrationsDir) : undefined,
    database: isInside(build.database, root) ? moved(build.database) : build.database,
  };
}
