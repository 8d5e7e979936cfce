import { checkStartForSigning } from '../builder/start-record.js';
import { Command, Option } from 'commander';
import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Encoding, formatBytes, formatDuration } from '@sqlitening/contract';
import { SomeStoresFailedError, UsageError } from '../errors.js';
import { describeError, errorMessage } from '../describe-error.js';
import { parseGitShaArg, resolveGitSha } from '../git.js';
import { builderFromEnv } from '../publish/builder-info.js';
import { betterSqlite3Driver } from '../sqlite/better-sqlite3-driver.js';
import { pruneCommits } from '../publish/prune-commits.js';
import { DEFAULT_DELTA_MAX_SHARE, publishToStores, type StorePublishResult } from '../publish/publish.js';
import { generateSigningKeyPair, publisherTrust, readSigningKey, readTrustedKeys } from '../signing/keys.js';
import { withRetries } from '../retry.js';
import type { ObjectStore } from '../store/object-store.js';
import type { Reporter } from './reporter.js';
import {
  addStoreOptions,
  addTransferOptions,
  collect,
  durationArg,
  encodingOption,
  integerArg,
  nameOption,
  openStores,
  shareArg,
  storeAttemptsOption,
  type StoreFlags,
  transferLimits,
} from './options.js';

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

export function keygenCommand(reporter: () => Reporter): Command {
  return new Command('keygen')
    .description('Make an Ed25519 key pair for signing manifests: PREFIX.key (private, for publish) and PREFIX.pub (public, for agents).')
    .argument('<prefix>', 'path and name of the two files, e.g. keys/snapshots-2026')
    .action(async (prefix: string) => {
      const { privateKeyPem, publicKeyPem, keyId } = generateSigningKeyPair();
      const key = path.resolve(`${prefix}.key`);
      const pub = path.resolve(`${prefix}.pub`);
      // 'wx': never overwrite a key; the private key is readable by its owner only.
      try {
        await writeFile(key, privateKeyPem, { flag: 'wx', mode: 0o600 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${key} exists; choose another prefix (keys are never overwritten)`);
        throw error;
      }
      await writeFile(pub, publicKeyPem, { flag: 'wx' });
      reporter().result(
        { command: 'keygen', keyId, privateKey: key, publicKey: pub },
        `Key ${keyId}: ${key} (private: give it to publish, e.g. as the secret SQLITENING_SIGNING_KEY) and ${pub} (public: give it to agents as --trust-key)`,
      );
    });
}

export function publishCommand(reporter: () => Reporter): Command {
  const command = new Command('publish')
    .description('Check, hash, compress and upload a database as the snapshot of a commit, then its manifest; prune old snapshots.')
    .argument('<database>', 'SQLite file to publish (rollback-journal mode)')
    .option('--git-sha <sha>', 'commit the snapshot belongs to (default: $GITHUB_SHA, then git rev-parse HEAD)')
    .addOption(encodingOption())
    .option('--level <n>', 'compression level (default per encoding: gzip 1, br 4, zstd 3)', integerArg(0, 22))
    .option('--keep <n>', 'newest snapshots kept per commit', integerArg(1, 1000), 5)
    .addOption(
      new Option('--grace <duration>', 'snapshots younger than this are never pruned (pods may be downloading them)')
        .argParser(durationArg)
        .default(3_600_000, '1h'),
    )
    .option('--no-check', 'skip integrity_check and foreign_key_check (only when the database was just checked by build)')
    .option(
      '--delta-max-share <share>',
      'write a delta from each kept earlier snapshot of the commit unless it is larger than this share of the full object (0: none)',
      shareArg,
      DEFAULT_DELTA_MAX_SHARE,
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
  command.action(async (database: string, flags: PublishFlags) => {
    const out = reporter();
    const stores = await openStores(flags);
    for (const store of stores) {
      if (!store.writable) throw new UsageError(`cannot publish to ${store.location}: it is read-only; use s3:// or a folder`);
    }
    const file = path.resolve(database);
    try {
      await access(file);
    } catch {
      throw new UsageError(`database ${file} does not exist`);
    }
    const { sha, source } = resolveGitSha(flags.gitSha, process.env, process.cwd());
    const where = stores.map((s) => s.location).join(', ');
    out.event(
      'start',
      { database: file, store: stores[0]!.location, stores: stores.map((s) => s.location), gitSha: sha, gitShaSource: source },
      `Publishing ${file} for ${sha.slice(0, 12)} to ${where}`,
    );
    const signingKey = await readSigningKey(flags.signingKey, process.env);
    const trustedKeys = (await readTrustedKeys(flags.trustKey)) ?? [];
    // Signing vouches for every row: not for rows a build took from a snapshot nobody proved.
    if (signingKey) await checkStartForSigning(file, publisherTrust(signingKey, trustedKeys) ?? [], flags.allowUnprovenStart === true);
    const several = stores.length > 1;
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
      baseFiles: flags.base?.map((file) => path.resolve(file)),
      dryRun: flags.dryRun === true,
      attempts: flags.attempts,
      onStep: (step, detail) => out.event(`publish.${step}`, detail, publishStepLine(step, detail, several)),
      onProgress: (phase, bytes, total) => out.progress(phase === 'read' ? 'hash+compress' : 'upload', bytes, total),
    });
    const done = result.stores.filter((r): r is Exclude<StorePublishResult, { status: 'failed' }> => r.status !== 'failed');
    const failed = result.stores.filter((r): r is Extract<StorePublishResult, { status: 'failed' }> => r.status === 'failed');
    // Nothing anywhere: the (preferred store's) failure is the answer, with its own exit code.
    if (done.length === 0) throw failed[0]!.error;
    const first = done[0]!;
    const { manifest } = first;
    const ratio = manifest.object.size / Math.max(1, manifest.database.size);
    const verbs = { published: 'Published', unchanged: 'Unchanged (already published)', 'dry-run': 'Would publish', failed: 'FAILED' };
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
      `${verbs[first.status]}: ${first.location}/${first.objectKey}\n` +
        `  sha256 ${manifest.database.sha256}\n` +
        `  ${formatBytes(manifest.database.size)} → ${formatBytes(manifest.object.size)} ${manifest.object.encoding} (${(ratio * 100).toFixed(1)}%) in ${formatDuration(result.durationMs)}` +
        [...manifest.deltas, ...manifest.patches]
          .map(
            (d) =>
              `\n  delta from ${d.base.sha256.slice(0, 12)} (format ${d.format ?? 1}): ${d.pages} pages, ${formatBytes(d.size)} (${((d.size / manifest.object.size) * 100).toFixed(1)}% of the full object)`,
          )
          .join('') +
        (first.pruned.length ? `\n  pruned ${first.pruned.length}: ${first.pruned.join(', ')}` : '') +
        (several
          ? result.stores
              .slice(1)
              .map((r) =>
                r.status === 'failed'
                  ? `\n  ${r.location}: FAILED (${describeError(r.error).code}: ${errorMessage(r.error)})`
                  : `\n  ${r.location}: ${verbs[r.status].toLowerCase()}, ${r.manifest.deltas.length} delta(s)${r.pruned.length ? `, pruned ${r.pruned.length}` : ''}`,
              )
              .join('')
          : ''),
    );
    if (failed.length > 0) {
      throw new SomeStoresFailedError(
        flags.dryRun ? 'checked' : 'published',
        failed.map((r) => ({ location: r.location, reason: describeError(r.error).code, message: errorMessage(r.error) })),
        done.length,
      );
    }
  });
  return command;
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

export function pruneCommand(reporter: () => Reporter): Command {
  const command = new Command('prune')
    .description('Delete the snapshots of old commits: whole commit folders, manifest first. Publishing already prunes within a commit.')
    .option('--keep-commits <n>', 'newest commits kept whatever their age', integerArg(1, 100_000), 20)
    .addOption(
      new Option('--older-than <duration>', 'commits with any object younger than this are kept').argParser(durationArg).default(30 * 86_400_000, '30d'),
    )
    .option('--protect <sha>', 'a commit never to delete, such as one deployed somewhere (repeatable)', collect)
    .option('--dry-run', 'list what would be deleted, delete nothing')
    .addOption(storeAttemptsOption());
  addStoreOptions(command);
  command.addHelpText(
    'after',
    '\nThe commit latest.json points to is always kept. Protect every commit that is deployed: its pods need its manifest.\nWith several --store, each store is pruned by its own latest.json and listing.',
  );
  command.action(async (flags: StoreFlags & { keepCommits: number; olderThan: number; protect?: string[]; dryRun?: boolean; attempts: number }) => {
    const out = reporter();
    const stores = await openStores(flags);
    for (const store of stores) {
      if (!store.writable) throw new UsageError(`cannot prune ${store.location}: it is read-only; use s3:// or a folder`);
    }
    const protect = new Set((flags.protect ?? []).map((sha) => parseGitShaArg(sha, '--protect')));
    const rule = { keepCommits: flags.keepCommits, olderThanMs: flags.olderThan, protect };
    // Each store by its own latest.json and listing: mirrors that differ keep what each one's pods need.
    const results: Array<{ store: ObjectStore; pruned?: Awaited<ReturnType<typeof pruneCommits>>; error?: unknown }> = [];
    for (const store of stores) {
      try {
        const pruned = await withRetries(() => pruneCommits(store, rule, { dryRun: flags.dryRun === true }), {
          attempts: flags.attempts,
          onRetry: (error, attempt, delayMs) =>
            out.event(
              'prune.retry',
              { store: store.location, attempt, delayMs, reason: describeError(error).code, message: errorMessage(error) },
              `${store.location}: prune failed (${describeError(error).code}: ${errorMessage(error)}); retry ${attempt} in ${formatDuration(delayMs)}`,
            ),
        });
        results.push({ store, pruned });
      } catch (error) {
        results.push({ store, error });
      }
    }
    const done = results.filter((r) => r.pruned);
    const failed = results.filter((r) => !r.pruned);
    if (done.length === 0) throw failed[0]!.error;
    const line = (pruned: Awaited<ReturnType<typeof pruneCommits>>) => {
      const objects = pruned.reduce((n, f) => n + f.objects.length, 0);
      const bytes = pruned.reduce((n, f) => n + f.objects.reduce((m, o) => m + o.size, 0), 0);
      return { commits: pruned.map((f) => f.gitSha), objects, bytes };
    };
    const first = line(done[0]!.pruned!);
    out.result(
      {
        command: 'prune',
        dryRun: flags.dryRun === true,
        ...first,
        stores: results.map((r) =>
          r.pruned
            ? { location: r.store.location, status: 'pruned', ...line(r.pruned) }
            : { location: r.store.location, status: 'failed', reason: describeError(r.error).code, message: errorMessage(r.error) },
        ),
      },
      results
        .map((r) => {
          const prefix = stores.length > 1 ? `${r.store.location}: ` : '';
          if (!r.pruned) return `${prefix}FAILED (${describeError(r.error).code}: ${errorMessage(r.error)})`;
          const { commits, objects, bytes } = line(r.pruned);
          return `${prefix}${flags.dryRun ? 'Would delete' : 'Deleted'} ${commits.length} commit(s), ${objects} object(s), ${formatBytes(bytes)}${commits.length ? `: ${commits.map((sha) => sha.slice(0, 12)).join(', ')}` : ''}`;
        })
        .join('\n'),
    );
    if (failed.length > 0) {
      throw new SomeStoresFailedError(
        flags.dryRun ? 'checked' : 'pruned',
        failed.map((r) => ({ location: r.store.location, reason: describeError(r.error).code, message: errorMessage(r.error) })),
        done.length,
      );
    }
  });
  return command;
}
