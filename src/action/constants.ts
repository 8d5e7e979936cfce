/** Input and output names of action.yml, in one place. */
export enum Inputs {
  Store = 'store',
  Endpoint = 'endpoint',
  Region = 'region',
  PathStyle = 'path-style',
  Migrations = 'migrations',
  MigrateCommand = 'migrate-command',
  Loaders = 'loaders',
  StartFrom = 'start-from',
  Database = 'database',
  Encoding = 'encoding',
  Level = 'level',
  Keep = 'keep',
  Grace = 'grace',
  Vacuum = 'vacuum',
  VacuumThreshold = 'vacuum-threshold',
  GitSha = 'git-sha',
  PublicBaseUrl = 'public-base-url',
  WorkingDirectory = 'working-directory',
  DryRun = 'dry-run',
  SigningKey = 'signing-key',
  Name = 'name',
  ExpiresIn = 'expires-in',
  BoardUrl = 'board-url',
  BoardToken = 'board-token',
  LiveMode = 'live-mode',
  LiveBranch = 'live-branch',
  LiveAllow = 'live-allow',
  LiveMaxCommits = 'live-max-commits',
}

/** The `git-sha` value that means every commit the board reports live. */
export const LIVE = 'live';

/** The most live commits built in one run when `live-max-commits` is empty. */
export const LIVE_MAX_COMMITS = 10;

export enum Outputs {
  Published = 'published',
  Status = 'status',
  GitSha = 'git-sha',
  Sha256 = 'sha256',
  ObjectKey = 'object-key',
  ManifestKey = 'manifest-key',
  Size = 'size',
  CompressedSize = 'compressed-size',
  PublicUrl = 'public-url',
  ManifestUrl = 'manifest-url',
  LiveCommits = 'live-commits',
  Results = 'results',
}
