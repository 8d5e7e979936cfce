import { DEFAULTS } from '../defaults.js';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { type Encoding, formatBytes, formatDuration } from '@sqlitening/contract';
import { Command, Option } from 'commander';
import { checkStartForSigning } from '../builder/start-record.js';
import { UsageError } from '../errors.js';
import { resolveGitSha } from '../git.js';
import { builderFromEnv } from '../publish/builder-info.js';
import { type PublishToStoresResult, publishToStores, type StorePublishResult } from '../publish/publish.js';
import { publisherTrust, readSigningKey, readTrustedKeys } from '../signing/keys.js';
import { betterSqlite3Driver } from '../sqlite/better-sqlite3-driver.js';
import { throwIfNoStoreSucceeded, throwIfSomeStoresFailed } from '../store/fan-out.js';
import { describeError, errorMessage } from '../describe-error.js';
import type { ObjectStore } from '../store/object-store.js';
import {
  addStoreOptions,
  addTransferOptions,
  collect,
  durationArg,
  encodingOption,
  integerArg,
  nameOption,
  openWritableStores,
  shareArg,
  storeAttemptsOption,
  type StoreFlags,
  transferLimits,
} from './options.js';
import type { Reporter } from './reporter.js';

interface PublishFlags extends StoreFlags {
  gitSha?: string;
  encoding: Encoding;
  level?: number;
  keep: number;
  grace: number;
  check: boolean;
  deltaMaxShare: number;
  base?: string[];
  signingKey?: string;
  trustKey?: string[];
  allowUnprovenStart?: boolean;
  name?: string;
  expiresIn?: number;
  stallTimeout: number;
  deadline: number;
  dryRun?: boolean;
  attempts: number;
}

export function publishCommand(reporter: () => Reporter): Command {
  const command = new Command('publish')
    .description('Check, hash, compress and upload a database as the snapshot of a commit, then its manifest; prune old snapshots.')
    .argument('<database>', 'SQLite file to publish (rollback-journal mode)')
    .option('--git-sha <sha>', 'commit the snapshot belongs to (default: $GITHUB_SHA, then git rev-parse HEAD)')
    .addOption(encodingOption())
    .option('--level <n>', 'compression level (default per encoding: gzip 1, br 4, zstd 3)', integerArg(0, 22))
    .option('--keep <n>', 'newest snapshots kept per commit', integerArg(1, 1000), DEFAULTS.keep)
    .addOption(
      new Option('--grace <duration>', 'snapshots younger than this are never pruned (pods may be downloading them)')
        .argParser(durationArg)
        .default(DEFAULTS.graceMs, formatDuration(DEFAULTS.graceMs)),
    )
    .option('--no-check', 'skip integrity_check and foreign_key_check (only when the database was just checked by build)')
    .option(
      '--delta-max-share <share>',
      'write a delta from each kept earlier snapshot of the commit unless it is larger than this share of the full object (0: none)',
      shareArg,
      DEFAULTS.deltaMaxShare,
    )
    .option(
      '--base <file>',
      "a file of an earlier snapshot of the commit (build --keep-base keeps the one a build started from); deltas from it also come as patches against the pod's pages, several times smaller. Proven page by page against the snapshot's chunk list; a file that is none of them fails the publish (repeatable)",
      collect,
    )
    .addOption(
      new Option(
        '--signing-key <file>',
        'sign the manifest with this Ed25519 private key (sqlitening keygen); or the PEM itself in SQLITENING_SIGNING_KEY',
      ).env('SQLITENING_SIGNING_KEY_FILE'),
    )
    .option(
      '--trust-key <file>',
      "also accept the store's current manifest when signed by this public key (repeatable; a key being rotated out); the signing key's own is always accepted",
      collect,
    )
    .addOption(nameOption('name the database in the signed manifest; pods started with --name refuse manifests of other databases'))
    .addOption(
      new Option(
        '--expires-in <duration>',
        'pods refuse the manifest this long after it is signed (manifest-expired): bounds replays for pods with no floor yet; publish (even unchanged data) more often than this',
      ).argParser(durationArg),
    )
    .option(
      '--allow-unproven-start',
      'sign even a database whose build started from a published snapshot no trusted key proved (build --from published without --trust-key): only for a store no one else can write',
    )
    .option('--dry-run', 'do everything but write: report what would be uploaded and pruned')
    .addOption(storeAttemptsOption());
  addStoreOptions(addTransferOptions(command));
  command.addHelpText(
    'after',
    `
Publishing the same bytes again for the same commit changes nothing and says so
(with --signing-key or --expires-in it signs the manifest again, with a new expiry).
With a signing key, the store's current manifest counts only when signed by it
(or a --trust-key): anything else is treated as absent, never re-signed.
The manifest (<commit>/manifest.json, Cache-Control: no-cache) is written only
after the store has confirmed the snapshot object. With several --store
(mirrors), every store gets its objects before any gets a manifest; a store
that still fails after --attempts is named, the others go on, and the exit
code is 6 when only some stores got the snapshot.

Examples:
  sqlitening publish sqlitening.db --store s3://my-bucket/site
  sqlitening publish sqlitening.db --store s3://snapshots --endpoint https://<account>.r2.cloudflarestorage.com
  sqlitening publish sqlitening.db --store s3://my-bucket/site \\
    --store 's3://snapshots/site?endpoint=https://<account>.r2.cloudflarestorage.com&credentials-env=R2'`,
  );
  command.action(async (database: string, flags: PublishFlags) => publish(reporter(), database, flags));
  return command;
}

/** The command's run: its inputs, the publish, the report, then the exit for stores that failed. */
async function publish(out: Reporter, database: string, flags: PublishFlags): Promise<void> {
  const stores = await openWritableStores(flags, 'publish to');
  const file = path.resolve(database);
  await access(file).catch(() => {
    throw new UsageError(`database ${file} does not exist`);
  });
  const { sha, source } = resolveGitSha(flags.gitSha, process.env, process.cwd());
  out.event(
    'start',
    { database: file, store: stores[0]!.location, stores: stores.map((s) => s.location), gitSha: sha, gitShaSource: source },
    `Publishing ${file} for ${sha.slice(0, 12)} to ${stores.map((s) => s.location).join(', ')}`,
  );
  const signingKey = await readSigningKey(flags.signingKey, process.env);
  const trustedKeys = (await readTrustedKeys(flags.trustKey)) ?? [];
  // Signing vouches for every row: not for rows a build took from a snapshot nobody proved.
  if (signingKey) await checkStartForSigning(file, publisherTrust(signingKey, trustedKeys) ?? [], flags.allowUnprovenStart === true);
  const result = await publishToStores({
    stores,
    sqlite: betterSqlite3Driver,
    database: file,
    gitSha: sha,
    encoding: flags.encoding,
    level: flags.level,
    retention: { keep: flags.keep, graceMs: flags.grace },
    check: flags.check,
    builder: builderFromEnv(process.env),
    signingKey,
    trustedKeys,
    name: flags.name ?? null,
    expiresInMs: flags.expiresIn ?? null,
    limits: transferLimits(flags),
    deltaMaxShare: flags.deltaMaxShare,
    baseFiles: flags.base?.map((base) => path.resolve(base)),
    dryRun: flags.dryRun === true,
    attempts: flags.attempts,
    onStep: (step, detail) => out.event(`publish.${step}`, detail, publishStepLine(step, detail, stores.length > 1)),
    onProgress: (phase, bytes, total) => out.progress(phase === 'read' ? 'hash+compress' : 'upload', bytes, total),
  });
  throwIfNoStoreSucceeded(result.stores);
  reportPublish(out, sha, stores, result);
  throwIfSomeStoresFailed(flags.dryRun ? 'checked' : 'published', result.stores);
}

const VERBS = { published: 'Published', unchanged: 'Unchanged (already published)', 'dry-run': 'Would publish', failed: 'FAILED' };

function reportPublish(out: Reporter, sha: string, stores: ObjectStore[], result: PublishToStoresResult): void {
  const first = result.stores.find((r): r is Exclude<StorePublishResult, { status: 'failed' }> => r.status !== 'failed')!;
  const { manifest } = first;
  const ratio = manifest.object.size / Math.max(1, manifest.database.size);
  out.result(
    {
      command: 'publish',
      status: first.status,
      outcome: result.outcome,
      gitSha: sha,
      sha256: manifest.database.sha256,
      objectKey: first.objectKey,
      manifestKey: first.manifestKey,
      size: manifest.database.size,
      encodedSize: manifest.object.size,
      encoding: manifest.object.encoding,
      pruned: first.pruned,
      deltas: manifest.deltas,
      patches: manifest.patches,
      stores: result.stores.map((r) =>
        r.status === 'failed'
          ? { location: r.location, status: r.status, step: r.step, reason: describeError(r.error).code, message: errorMessage(r.error) }
          : { location: r.location, status: r.status, objectKey: r.objectKey, deltas: r.manifest.deltas.length, pruned: r.pruned },
      ),
      durationMs: result.durationMs,
    },
    `${VERBS[first.status]}: ${first.location}/${first.objectKey}\n` +
      `  sha256 ${manifest.database.sha256}\n` +
      `  ${formatBytes(manifest.database.size)} → ${formatBytes(manifest.object.size)} ${manifest.object.encoding} (${(ratio * 100).toFixed(1)}%) in ${formatDuration(result.durationMs)}` +
      [...manifest.deltas, ...manifest.patches]
        .map(
          (d) =>
            `\n  delta from ${d.base.sha256.slice(0, 12)} (format ${d.format ?? 1}): ${d.pages} pages, ${formatBytes(d.size)} (${((d.size / manifest.object.size) * 100).toFixed(1)}% of the full object)`,
        )
        .join('') +
      (first.pruned.length ? `\n  pruned ${first.pruned.length}: ${first.pruned.join(', ')}` : '') +
      (stores.length > 1 ? result.stores.slice(1).map(otherStoreLine).join('') : ''),
  );
}

function otherStoreLine(r: StorePublishResult): string {
  if (r.status === 'failed') return `\n  ${r.location}: FAILED (${describeError(r.error).code}: ${errorMessage(r.error)})`;
  return `\n  ${r.location}: ${VERBS[r.status].toLowerCase()}, ${r.manifest.deltas.length} delta(s)${r.pruned.length ? `, pruned ${r.pruned.length}` : ''}`;
}

/** The publish steps people see a line for; the rest are for --json. With several stores, each line names its store. */
function publishStepLine(step: string, detail: Record<string, unknown>, several: boolean): string | undefined {
  const where = several ? `${String(detail.store)}: ` : '';
  if (step === 'retry')
    return `${where}${String(detail.what)} failed (${String(detail.reason)}: ${String(detail.message)}); retry ${String(detail.attempt)} in ${formatDuration(Number(detail.delayMs))}`;
  if (step === 'store-failed' && several)
    return `${where}gave up at ${String(detail.failedStep)} (${String(detail.reason)}: ${String(detail.message)}); the other stores go on`;
  if (step === 'prune-failed') return `${where}pruning failed (${String(detail.reason)}: ${String(detail.message)}); the next publish prunes again`;
  return undefined;
}
