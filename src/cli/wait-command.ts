import { Command, Option } from 'commander';
import { formatDuration, LATEST_KEY, manifestKey } from '@sqlitening/contract';
import { describeError, errorMessage } from '../describe-error.js';
import { UsageError } from '../errors.js';
import { resolveGitSha } from '../git.js';
import { readTrustedKeys } from '../signing/keys.js';
import { type FindManifestOptions, type FoundManifest, waitForManifest } from '../install/find-manifest.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import { addManifestOptions, addStoreOptions, addTransferOptions, durationArg, openReadStore, pollOption, type StoreFlags, transferLimits } from './options.js';
import type { Reporter } from './reporter.js';

/** The flags of {@link addManifestOptions}, the store and the transfer limits. */
export interface ManifestLookupFlags extends StoreFlags {
  gitSha?: string;
  trustKey?: string[];
  name?: string;
  stallTimeout: number;
  deadline: number;
}

/**
 * What `pull` and `wait` look for and accept, from their shared flags: the commit's manifest (or
 * `latest.json` with `latest`), signed by a trusted key when any is given, of the `--name` database, not
 * expired. A one-shot command keeps no state, so it has no rollback floor.
 */
export async function manifestLookup(
  flags: ManifestLookupFlags,
  options: { latest: boolean; signal: AbortSignal; out: Reporter },
): Promise<FindManifestOptions> {
  if (options.latest && flags.gitSha) throw new UsageError('give either --git-sha or --latest, not both');
  const store = await openReadStore(flags, options.out);
  const gitSha = options.latest ? null : resolveGitSha(flags.gitSha, process.env, process.cwd()).sha;
  const limits: TransferLimits = { ...transferLimits(flags), signal: options.signal };
  return {
    store,
    key: gitSha === null ? LATEST_KEY : manifestKey(gitSha),
    trustedKeys: await readTrustedKeys(flags.trustKey),
    policy: { appGitSha: gitSha, databaseName: flags.name ?? null, floor: null, allowRollback: false },
    limits,
  };
}

/**
 * Runs `work` with a signal that SIGTERM or SIGINT aborts, so a stopped command ends its store calls and
 * removes its temp files (an abort, exit 1) instead of dying in the middle of them.
 */
export async function withStopSignal<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    stoppedBy = signal;
    controller.abort();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    return await work(controller.signal);
  } catch (error) {
    // Whatever the abort interrupted (a sleep, a read), the cause to report is the signal.
    if (stoppedBy) throw new DOMException(`stopped by ${stoppedBy}`, 'AbortError');
    throw error;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

/** A "still waiting" line at most this often: a deploy's log should show progress, not every poll. */
const MISSING_LINE_EVERY_MS = 30_000;

/**
 * Waits for the lookup's manifest with progress on stderr (or JSON lines): a line when it starts, a
 * "not there yet" line at most every 30 s, and one for every failed poll (those are backed off, and their
 * reason is what a person needs to see).
 */
export async function waitWithProgress(
  out: Reporter,
  lookup: FindManifestOptions,
  wait: { pollMs: number; timeoutMs: number },
): Promise<FoundManifest & { polls: number; waitedMs: number }> {
  const where = `${lookup.store.location}/${lookup.key}`;
  out.event(
    'wait.start',
    { manifest: where, pollMs: wait.pollMs, timeoutMs: wait.timeoutMs },
    `Waiting for ${where} (a poll every ${formatDuration(wait.pollMs)}, for up to ${formatDuration(wait.timeoutMs)})`,
  );
  let lastMissingLine = Number.NEGATIVE_INFINITY;
  return waitForManifest({
    ...lookup,
    ...wait,
    onPoll: (poll) => {
      const next = poll.nextInMs > 0 ? `; next poll in ${formatDuration(poll.nextInMs)}` : '';
      if (poll.status === 'failed') {
        const { code, retryable } = describeError(poll.error);
        out.event(
          'wait.failed',
          { poll: poll.poll, elapsedMs: poll.elapsedMs, nextInMs: poll.nextInMs, reason: code, retryable, message: errorMessage(poll.error) },
          `Poll ${poll.poll} failed after ${formatDuration(poll.elapsedMs)} (${code}: ${errorMessage(poll.error)})${next}`,
        );
        return;
      }
      const human = poll.elapsedMs - lastMissingLine >= MISSING_LINE_EVERY_MS || poll.nextInMs === 0;
      if (human) lastMissingLine = poll.elapsedMs;
      // JSON lines get every poll (scripts may count them); people get one line now and then.
      out.event(
        'wait.missing',
        { poll: poll.poll, elapsedMs: poll.elapsedMs, nextInMs: poll.nextInMs },
        human ? `Not published yet after ${formatDuration(poll.elapsedMs)} (${poll.poll} poll${poll.poll === 1 ? '' : 's'})${next}` : undefined,
      );
    },
  });
}

interface WaitFlags extends ManifestLookupFlags {
  poll: number;
  timeout: number;
}

export function waitCommand(reporter: () => Reporter): Command {
  const command = new Command('wait')
    .description(
      "Wait until the commit's snapshot is published: poll its manifest and exit 0 once one is there that pull would accept. For deploys that can start before CI has published.",
    )
    .addOption(pollOption())
    .addOption(
      new Option('--timeout <duration>', 'give up after this long (exit 5); a store still failing by then exits 1 with its reason')
        .argParser(durationArg)
        .default(600_000, '10m'),
    );
  addStoreOptions(addTransferOptions(addManifestOptions(command)));
  command.addHelpText(
    'after',
    `
A manifest that is there but refused (unsigned or foreign with --trust-key,
another --name, expired, invalid) ends the wait at once with exit 3: the
publish of this commit wrote it, and another one will not come by waiting.

Example (an init container, before pull):
  sqlitening wait --store https://snapshots.example.com/www --git-sha "$APP_GIT_SHA" --timeout 15m`,
  );
  command.action(async (flags: WaitFlags) => {
    const out = reporter();
    await withStopSignal(async (signal) => {
      const lookup = await manifestLookup(flags, { latest: false, signal, out });
      const found = await waitWithProgress(out, lookup, { pollMs: flags.poll, timeoutMs: flags.timeout });
      const m = found.manifest;
      out.result(
        {
          command: 'wait',
          manifest: `${lookup.store.location}/${lookup.key}`,
          gitSha: m.gitSha,
          name: m.name ?? null,
          sha256: m.database.sha256,
          createdAt: m.createdAt,
          signedBy: found.signedBy,
          polls: found.polls,
          waitedMs: found.waitedMs,
        },
        `Published: commit ${m.gitSha.slice(0, 12)}, built ${m.createdAt}, sha256 ${m.database.sha256.slice(0, 16)}…${found.signedBy ? `, signed by ${found.signedBy}` : ''} (found after ${formatDuration(found.waitedMs)}, ${found.polls} poll${found.polls === 1 ? '' : 's'})`,
      );
    });
  });
  return command;
}
