import { DEFAULTS } from '../defaults.js';
import { rm } from 'node:fs/promises';
import { startRecordPath, writeStartRecord } from '../builder/start-record.js';
import { Command, Option } from 'commander';
import path from 'node:path';
import { buildFrom, type BuildStart } from '../builder/build-from.js';
import { betterSqlite3Driver } from '../sqlite/better-sqlite3-driver.js';
import { UsageError } from '../errors.js';
import { formatBytes, formatDuration } from '@sqlitening/contract';
import { readTrustedKeys } from '../signing/keys.js';
import { resolveGitSha } from '../git.js';
import type { Reporter } from './reporter.js';
import { addStoreOptions, addTransferOptions, collect, nameOption, openReadStore, openStores, shareArg, type StoreFlags, transferLimits } from './options.js';

interface BuildFlags extends StoreFlags {
  output: string;
  migrations?: string;
  migrateCommand?: string;
  loader?: string[];
  from?: string;
  keepBase?: string;
  vacuum: 'auto' | 'always' | 'never';
  vacuumThreshold: number;
  gitSha?: string;
  trustKey?: string[];
  name?: string;
  stallTimeout: number;
  deadline: number;
}

export function buildCommand(reporter: () => Reporter): Command {
  const command = new Command('build')
    .description('Build a database: apply migrations, run loaders, check it. Nothing is replaced unless every step passes.')
    .option('-o, --output <file>', 'database file to write', 'sqlitening.db')
    .option('--migrations <folder>', 'folder of .sql migrations, applied in natural order of their names; applied ones are recorded')
    .option('--migrate-command <command>', 'shell command that migrates the database at $SQLITENING_DB (after --migrations)')
    .option('--loader <command>', 'shell command that loads data into $SQLITENING_DB; repeat for several, run in order', collect)
    .option('--from <source>', '"published": start from the newest snapshot of this commit in --store (empty if none); or a database file')
    .option('--keep-base <file>', 'with --from published: keep the snapshot the build started from here (removed when it started empty), for publish --base')
    .addOption(
      new Option('--vacuum <when>', 'VACUUM: auto = when free pages pass --vacuum-threshold').choices(['auto', 'always', 'never']).default(DEFAULTS.vacuum),
    )
    .option('--vacuum-threshold <share>', 'share of free pages that triggers VACUUM in auto mode', shareArg, DEFAULTS.vacuumThreshold)
    .option('--git-sha <sha>', 'commit whose snapshot --from published starts from (default: $GITHUB_SHA, then git rev-parse HEAD)')
    .option(
      '--trust-key <file>',
      '--from published starts only from a manifest signed by this Ed25519 public key (repeatable); give it whenever the result will be signed',
      collect,
    )
    .addOption(nameOption('--from published starts only from a manifest of this database (publish --name)'));
  addStoreOptions(addTransferOptions(command));
  command.addHelpText(
    'after',
    `
VACUUM renumbers nearly every page, which makes the next page-level update as
large as the whole file; auto mode runs it only when free pages pile up.

Examples:
  sqlitening build --migrations db/migrations --loader "node scripts/load-feeds.js"
  sqlitening build --from published --store s3://my-bucket/site --loader "python load.py"
  sqlitening build --from published --keep-base base.db --store s3://my-bucket/site --loader "python load.py" &&
    sqlitening publish sqlitening.db --store s3://my-bucket/site --base base.db`,
  );
  command.action(async (flags: BuildFlags) => build(reporter(), flags));
  return command;
}

/** Where the build starts, as the flags say: a published snapshot, a file, or an empty database. */
async function buildStart(flags: BuildFlags, out: Reporter): Promise<BuildStart> {
  if (!flags.migrations && !flags.migrateCommand && !flags.loader?.length && !flags.from) {
    throw new UsageError('nothing to build: give --migrations, --migrate-command, --loader or --from');
  }
  if (flags.keepBase && flags.from !== 'published') throw new UsageError('--keep-base keeps the snapshot of --from published; give --from published');
  return flags.from === 'published'
    ? {
        kind: 'published',
        store: await openReadStore(flags, out),
        mirrors: await openStores(flags),
        gitSha: resolveGitSha(flags.gitSha, process.env, process.cwd()).sha,
        trustedKeys: await readTrustedKeys(flags.trustKey),
        name: flags.name ?? null,
        limits: transferLimits(flags),
        keepAs: flags.keepBase,
      }
    : flags.from
      ? { kind: 'file', file: flags.from }
      : { kind: 'empty' };
}

async function build(out: Reporter, flags: BuildFlags): Promise<void> {
  const start = await buildStart(flags, out);
  // An older record beside the output must not outlive the build (a crash before the new one is written).
  await rm(startRecordPath(path.resolve(flags.output)), { force: true });
  const { built: result, startedFrom } = await buildFrom(
    start,
    {
      output: path.resolve(flags.output),
      migrationsDir: flags.migrations,
      migrateCommand: flags.migrateCommand,
      loaders: flags.loader ?? [],
      vacuum: flags.vacuum,
      vacuumThreshold: flags.vacuumThreshold,
      cwd: process.cwd(),
      env: process.env,
      commandOutput: process.stderr,
      sqlite: betterSqlite3Driver,
      onStep: (step, detail) => out.event(`build.${step}`, detail),
    },
    {
      onProgress: (bytes, total) => out.progress('download', bytes, total),
      onStart: (from) => {
        if (from.key) out.event('from-published', { key: from.key, sha256: from.sha256 }, `Started from ${from.key}`);
        else if (start.kind === 'published') out.event('from-empty', { reason: from.description }, `Starting from ${from.description}`);
      },
    },
  );
  await writeStartRecord(result.path, startedFrom);
  const rows = result.stats.tables.reduce((sum, t) => sum + t.rows, 0);
  const size = result.stats.pageCount * result.stats.pageSize;
  out.result(
    {
      command: 'build',
      path: result.path,
      migrationsApplied: result.migrationsApplied,
      vacuumed: result.vacuumed,
      keptBase: startedFrom.keptAs ?? null,
      startedFrom: startedFrom.key ? { key: startedFrom.key, sha256: startedFrom.sha256, provenBy: startedFrom.provenBy ?? null } : null,
      durationMs: result.durationMs,
      ...result.stats,
    },
    `Built ${result.path}: ${result.stats.tables.length} tables, ${rows} rows, ${formatBytes(size)}; ` +
      `${result.migrationsApplied.length} migration(s) applied${result.vacuumed ? ', vacuumed' : ''} in ${formatDuration(result.durationMs)}`,
  );
}
