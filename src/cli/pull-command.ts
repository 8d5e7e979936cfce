import { Command, Option } from 'commander';
import path from 'node:path';
import { databaseVerifier } from '../agent/file-checks.js';
import { formatBytes } from '@sqlitening/contract';
import { NotFoundError, UsageError } from '../errors.js';
import { findManifest } from '../install/find-manifest.js';
import { pullSnapshot } from '../install/pull.js';
import { storeSource } from '../store/mirror-store.js';
import { addManifestOptions, addStoreOptions, addTransferOptions, durationArg, pollOption } from './options.js';
import type { Reporter } from './reporter.js';
import { QUICK_CHECK_FLAG, QUICK_CHECK_HELP } from './sync-options.js';
import { type ManifestLookupFlags, manifestLookup, waitWithProgress, withStopSignal } from './wait-command.js';

export function pullCommand(reporter: () => Reporter): Command {
  const command = new Command('pull')
    .description('Download the newest snapshot of a commit (or of any commit with --latest), verified, to a file. No credentials needed over http(s).')
    .argument('<destination>', 'where to write the database')
    .option('--latest', 'the newest snapshot of any commit (latest.json)')
    .option('--no-delta', 'download the whole snapshot even when the destination holds one the manifest has a delta from')
    .option(QUICK_CHECK_FLAG, QUICK_CHECK_HELP)
    .addOption(
      new Option(
        '--wait <duration>',
        'when the manifest is not published yet, poll for it this long (as `sqlitening wait --timeout`) instead of failing',
      ).argParser(durationArg),
    )
    .addOption(pollOption());
  addStoreOptions(addTransferOptions(addManifestOptions(command)));
  command.addHelpText('after', '\nExample (a Dockerfile or a new machine):\n  sqlitening pull data/site.db --store https://snapshots.example.com/www --latest');
  command.action(
    async (
      destination: string,
      flags: ManifestLookupFlags & {
        latest?: boolean;
        delta: boolean;
        quickCheck?: boolean;
        wait?: number;
        poll: number;
      },
    ) => {
      const out = reporter();
      if (flags.wait === undefined && command.getOptionValueSource('poll') === 'cli') throw new UsageError('--poll is the interval of --wait: give --wait too');
      await withStopSignal(async (signal) => {
        const lookup = await manifestLookup(flags, { latest: flags.latest === true, signal, out });
        // The same lookup and acceptance whether it waits or not; only a missing manifest is treated differently.
        const found =
          flags.wait === undefined ? await findManifest(lookup) : await waitWithProgress(out, lookup, { pollMs: flags.poll, timeoutMs: flags.wait });
        if (!found) throw new NotFoundError(lookup.key, lookup.store.location);
        const { manifest } = found;
        const file = path.resolve(destination);
        const pulled = await pullSnapshot({
          store: lookup.store,
          manifest,
          destination: file,
          noDelta: flags.delta === false,
          signed: found.signedBy !== null,
          limits: lookup.limits,
          verify: databaseVerifier({ quickCheck: flags.quickCheck === true }),
          onProgress: (bytes, total) => out.progress('pull', bytes, total),
        });
        const how = {
          current: 'already current',
          delta: `a delta of ${formatBytes(pulled.bytesReceived)}`,
          full: `${formatBytes(pulled.bytesReceived)} downloaded`,
        }[pulled.method];
        out.result(
          {
            command: 'pull',
            path: file,
            gitSha: manifest.gitSha,
            sha256: manifest.database.sha256,
            createdAt: manifest.createdAt,
            method: pulled.method,
            bytesReceived: pulled.bytesReceived,
            fallback: pulled.fallback,
            // With several --store, the one that served the snapshot (0 is the first).
            store: storeSource(lookup.store),
          },
          `Pulled ${file}: commit ${manifest.gitSha.slice(0, 12)}, built ${manifest.createdAt}, ${formatBytes(manifest.database.size)}, ${how} (verified)`,
        );
      });
    },
  );
  return command;
}
