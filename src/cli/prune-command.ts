import { DEFAULTS } from '../defaults.js';
import { formatBytes, formatDuration } from '@sqlitening/contract';
import { Command, Option } from 'commander';
import { describeError, errorMessage } from '../describe-error.js';
import { parseGitShaArg } from '../git.js';
import { type CommitFolder, type CommitPruneRule, pruneCommits } from '../publish/prune-commits.js';
import { StoreFanOut, throwIfNoStoreSucceeded, throwIfSomeStoresFailed } from '../store/fan-out.js';
import { addStoreOptions, collect, durationArg, integerArg, openWritableStores, stallTimeoutOption, storeAttemptsOption, type StoreFlags } from './options.js';
import type { Reporter } from './reporter.js';

interface PruneFlags extends StoreFlags {
  keepCommits: number;
  olderThan: number;
  protect?: string[];
  dryRun?: boolean;
  attempts: number;
}

export function pruneCommand(reporter: () => Reporter): Command {
  const command = new Command('prune')
    .description('Delete the snapshots of old commits: whole commit folders, manifest first. Publishing already prunes within a commit.')
    .option('--keep-commits <n>', 'newest commits kept whatever their age', integerArg(1, 100_000), DEFAULTS.keepCommits)
    .addOption(
      new Option('--older-than <duration>', 'commits with any object younger than this are kept')
        .argParser(durationArg)
        .default(DEFAULTS.olderThanMs, formatDuration(DEFAULTS.olderThanMs)),
    )
    .option('--protect <sha>', 'a commit never to delete, such as one deployed somewhere (repeatable)', collect)
    .option('--dry-run', 'list what would be deleted, delete nothing')
    .addOption(storeAttemptsOption())
    .addOption(stallTimeoutOption());
  addStoreOptions(command);
  command.addHelpText(
    'after',
    '\nThe commit latest.json points to is always kept. Protect every commit that is deployed: its pods need its manifest.\nWith several --store, each store is pruned by its own latest.json and listing.',
  );
  command.action(async (flags: PruneFlags) => prune(reporter(), flags));
  return command;
}

async function prune(out: Reporter, flags: PruneFlags): Promise<void> {
  const stores = await openWritableStores(flags, 'prune');
  const protect = new Set((flags.protect ?? []).map((sha) => parseGitShaArg(sha, '--protect')));
  const rule: CommitPruneRule = { keepCommits: flags.keepCommits, olderThanMs: flags.olderThan, protect };
  const dryRun = flags.dryRun === true;
  const fan = new StoreFanOut<'prune', { pruned?: CommitFolder[] }>(
    stores,
    { attempts: flags.attempts, alwaysNameStore: true, onStep: (step, detail) => out.event(`prune.${step}`, detail, pruneStepLine(step, detail)) },
    () => ({}),
  );
  // Each store by its own latest.json and listing: mirrors that differ keep what each one's pods need.
  await fan.each('prune', async (t) => {
    t.pruned = await fan.retrying(t, 'prune', () => pruneCommits(t.store, rule, { dryRun }));
  });
  type Pruned = { location: string; status: 'pruned'; commits: string[]; objects: number; bytes: number };
  const results = fan.targets.map((t): Pruned | { location: string; status: 'failed'; error: unknown } =>
    t.failure
      ? { location: t.store.location, status: 'failed', error: t.failure.error }
      : { location: t.store.location, status: 'pruned', ...totals(t.pruned!) },
  );
  throwIfNoStoreSucceeded(results);
  const first = results.find((r): r is Pruned => r.status === 'pruned')!;
  const line = (r: (typeof results)[number]): string => {
    const prefix = stores.length > 1 ? `${r.location}: ` : '';
    if (r.status === 'failed') return `${prefix}FAILED (${describeError(r.error).code}: ${errorMessage(r.error)})`;
    const shas = r.commits.length ? `: ${r.commits.map((sha) => sha.slice(0, 12)).join(', ')}` : '';
    return `${prefix}${dryRun ? 'Would delete' : 'Deleted'} ${r.commits.length} commit(s), ${r.objects} object(s), ${formatBytes(r.bytes)}${shas}`;
  };
  out.result(
    {
      command: 'prune',
      dryRun,
      commits: first.commits,
      objects: first.objects,
      bytes: first.bytes,
      stores: results.map((r) =>
        r.status === 'failed' ? { location: r.location, status: r.status, reason: describeError(r.error).code, message: errorMessage(r.error) } : r,
      ),
    },
    results.map(line).join('\n'),
  );
  throwIfSomeStoresFailed(dryRun ? 'checked' : 'pruned', results);
}

function totals(pruned: CommitFolder[]): { commits: string[]; objects: number; bytes: number } {
  const objects = pruned.reduce((n, f) => n + f.objects.length, 0);
  const bytes = pruned.reduce((n, f) => n + f.objects.reduce((m, o) => m + o.size, 0), 0);
  return { commits: pruned.map((f) => f.gitSha), objects, bytes };
}

/** The prune steps people see a line for; the rest are for --json. */
function pruneStepLine(step: string, detail: Record<string, unknown>): string | undefined {
  if (step !== 'retry') return undefined;
  return `${String(detail.store)}: prune failed (${String(detail.reason)}: ${String(detail.message)}); retry ${String(detail.attempt)} in ${formatDuration(Number(detail.delayMs))}`;
}
