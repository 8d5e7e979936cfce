import { DEFAULTS } from '../defaults.js';
import { type Command, Option } from 'commander';
import path from 'node:path';
import type { AgentOptions } from '../agent/agent.js';
import { readTrustedKeys } from '../signing/keys.js';
import { formatBytes, formatDuration } from '@sqlitening/contract';
import { UsageError } from '../errors.js';
import { parseGitShaArg } from '../git.js';
import {
  addStoreOptions,
  addTransferOptions,
  collect,
  durationArg,
  failbackOption,
  integerArg,
  nameOption,
  openReadStore,
  sizeArg,
  type StoreFlags,
  transferLimits,
} from './options.js';
import type { Reporter } from './reporter.js';

export interface SyncFlags extends StoreFlags {
  database: string;
  gitSha?: string;
  anyCommit?: boolean;
  stallTimeout: number;
  deadline: number;
  maxSize: number;
  trustKey?: string[];
  name?: string;
  allowRollback?: boolean;
  delta: boolean;
  quickCheck?: boolean;
  reverify: number;
  attempts: number;
  failback: number;
}

export const QUICK_CHECK_FLAG = '--quick-check';
export const QUICK_CHECK_HELP =
  "also run SQLite's quick_check on each new file before it is swapped in; the bytes are already proven identical to the ones the publisher checked, so this is for stores whose publisher skipped its checks (publish --no-check)";

export function addSyncOptions(command: Command): Command {
  command
    .addOption(new Option('--database <file>', 'the live database the app reads').env('SQLITENING_DATABASE').makeOptionMandatory())
    .addOption(new Option('--git-sha <sha>', 'the commit the app runs; only its snapshots are installed').env('SQLITENING_GIT_SHA'))
    .option('--any-commit', 'install the newest snapshot of any commit (latest.json): for development only')
    .addOption(
      new Option('--max-size <size>', 'refuse manifests that declare a larger database (e.g. 8GiB)')
        .argParser(sizeArg)
        .default(DEFAULTS.maxDatabaseBytes, formatBytes(DEFAULTS.maxDatabaseBytes).replace(/\.00 /, '')),
    )
    .option('--trust-key <file>', 'accept only manifests signed by this Ed25519 public key (repeatable: any of them, for rotation)', collect)
    .addOption(nameOption('the database this pod installs: refuse manifests published with another --name, or none'))
    .option('--allow-rollback', 'install a manifest older than the newest accepted for the commit, or past its signed expiry (refused by default)')
    .option('--no-delta', 'always download whole snapshots, never deltas from the live file')
    .option(QUICK_CHECK_FLAG, QUICK_CHECK_HELP)
    .addOption(
      new Option('--reverify <duration>', 'read the whole live file and check it against its manifest this often (the agent also at its start)')
        .argParser(durationArg)
        .default(DEFAULTS.reverifyMs, formatDuration(DEFAULTS.reverifyMs)),
    )
    .option(
      '--attempts <n>',
      'tries per run for transient failures (network, 5xx); with several --store, a retry reads from the next',
      integerArg(1, 10),
      DEFAULTS.attempts,
    )
    .addOption(failbackOption());
  return addStoreOptions(addTransferOptions(command));
}

/** The app's commit: required, unless development mode says any commit will do. */
function appGitSha(flags: SyncFlags): string | null {
  if (flags.anyCommit) {
    if (flags.gitSha) throw new UsageError('give either --git-sha or --any-commit, not both');
    return null;
  }
  if (!flags.gitSha) throw new UsageError("missing the app's commit: pass --git-sha (or SQLITENING_GIT_SHA), or --any-commit for development");
  return parseGitShaArg(flags.gitSha, '--git-sha');
}

export async function agentOptions(flags: SyncFlags, out: Reporter): Promise<AgentOptions> {
  return {
    store: await openReadStore(flags, out),
    database: path.resolve(flags.database),
    appGitSha: appGitSha(flags),
    limits: transferLimits(flags),
    maxDatabaseBytes: flags.maxSize,
    trustedKeys: await readTrustedKeys(flags.trustKey),
    databaseName: flags.name ?? null,
    allowRollback: flags.allowRollback === true,
    noDelta: flags.delta === false,
    quickCheck: flags.quickCheck === true,
    reverifyMs: flags.reverify,
    attempts: flags.attempts,
    log: (event, fields) => out.event(`agent.${event}`, fields, `${event} ${JSON.stringify(fields)}`),
  };
}
