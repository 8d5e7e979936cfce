import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { buildFrom } from '../builder/build-from.js';
import { formatBytes, formatDuration } from '@sqlitening/contract';
import { type BuilderInfo, type PublishResult, publishToStores, type StorePublishResult } from '../publish/publish.js';
import { describeError } from '../describe-error.js';
import { throwIfNoStoreSucceeded, throwIfSomeStoresFailed } from '../store/fan-out.js';
import { MirrorStore } from '../store/mirror-store.js';
import type { SqliteDriver } from '../sqlite/driver.js';
import type { ObjectStore } from '../store/object-store.js';
import { openStore } from '../store/open-store.js';
import { publisherTrust } from '../signing/keys.js';
import { Inputs, Outputs } from './constants.js';
import type { BuildSettings } from './settings.js';

/** What the action needs from its runner; `@actions/core` in production, anything in tests. */
export interface ActionIo {
  setOutput(name: Outputs, value: string): void;
  info(message: string): void;
  /** A warning annotation: the step goes on. */
  warning(message: string): void;
  /** An error annotation for one part of the step (one live commit); the step goes on and fails at the end. */
  error(message: string): void;
  /** Folds what `fn` logs under `title` (a log group on GitHub). */
  group<T>(title: string, fn: () => Promise<T>): Promise<T>;
  /** Where migration and loader output goes. */
  commandOutput: NodeJS.WritableStream;
  /** The SQLite library: `node:sqlite` in production, which needs no native addon in dist/. */
  sqlite: SqliteDriver;
}

export interface ActionReport {
  /** The preferred store's result (the first that got the snapshot). */
  result: PublishResult;
  /** What every store got; one that failed after its retries fails the step once the outputs are set (`some-stores-failed`). */
  stores: StorePublishResult[];
  migrationsApplied: string[];
  startedFrom: string;
  vacuumed: boolean;
  durationMs: number;
  publicUrl: string | undefined;
  manifestUrl: string | undefined;
  storeLocation: string;
}

/** Opens the settings' stores, the preferred one first (credentials of `?credentials-env=` from the step's environment). */
export function openStores(settings: BuildSettings): Promise<ObjectStore[]> {
  return Promise.all(settings.stores.map((store) => openStore(store, process.env)));
}

/** Builds, checks and publishes the snapshot of `gitSha` to `stores` (mirrors after the first), as the settings say. Sets no outputs. */
export async function buildAndPublish(
  settings: BuildSettings,
  gitSha: string,
  stores: readonly ObjectStore[],
  builder: BuilderInfo,
  io: Pick<ActionIo, 'info' | 'commandOutput' | 'sqlite'>,
): Promise<ActionReport> {
  const started = Date.now();
  // The snapshot the build starts from is kept until the publish: deltas from it then come as patches
  // against the pods' pages (delta format 2), several times smaller than its changed pages whole.
  const base = path.join(path.dirname(path.resolve(settings.database)), `.sqlitening-base-${randomBytes(4).toString('hex')}.db`);
  try {
    return await buildAndPublishFrom(settings, gitSha, stores, builder, io, base, started);
  } finally {
    await rm(base, { force: true });
  }
}

async function buildAndPublishFrom(
  settings: BuildSettings,
  gitSha: string,
  stores: readonly ObjectStore[],
  builder: BuilderInfo,
  io: Pick<ActionIo, 'info' | 'commandOutput' | 'sqlite'>,
  base: string,
  started: number,
): Promise<ActionReport> {
  // The start is read from the first store that answers, as a pod reads mirrors.
  const store =
    stores.length === 1
      ? stores[0]!
      : new MirrorStore(stores, { onFailover: (event) => io.info(`store ${event.from.location} failed (${event.reason}); reading from the next one`) });
  const { built, startedFrom } = await buildFrom(
    settings.startFrom === 'published'
      ? { kind: 'published', store, mirrors: stores, gitSha, trustedKeys: publisherTrust(settings.signingKey), name: settings.name, keepAs: base }
      : { kind: 'empty' },
    {
      output: settings.database,
      migrationsDir: settings.migrationsDir,
      migrateCommand: settings.migrateCommand,
      loaders: settings.loaders,
      vacuum: settings.vacuum,
      vacuumThreshold: settings.vacuumThreshold,
      cwd: settings.workingDirectory,
      // The key stays out of the commands' environment (they may be another commit's code); the step's own
      // process environment is another matter (docs/ARCHITECTURE.md, the threat model).
      env: { ...withoutSigningKey(process.env), SQLITENING_GIT_SHA: gitSha },
      commandOutput: io.commandOutput,
      sqlite: io.sqlite,
      onStep: (step, detail) => io.info(`build ${step} ${JSON.stringify(detail)}`),
    },
    { onStart: (from) => io.info(`Starting from ${from.description}`) },
  );
  const published = await publishToStores({
    stores,
    database: built.path,
    gitSha,
    encoding: settings.encoding,
    level: settings.level,
    retention: { keep: settings.keep, graceMs: settings.graceMs },
    check: false, // build has just run the checks on this very file
    stats: built.stats,
    sqlite: io.sqlite,
    builder,
    signingKey: settings.signingKey,
    name: settings.name,
    expiresInMs: settings.expiresInMs,
    baseFiles: startedFrom.keptAs ? [startedFrom.keptAs] : [],
    dryRun: settings.dryRun,
    onStep: (step, detail) => io.info(`publish ${step} ${JSON.stringify(detail)}`),
  });
  throwIfNoStoreSucceeded(published.stores);
  const first = published.stores.find((r): r is Exclude<StorePublishResult, { status: 'failed' }> => r.status !== 'failed')!;
  const result: PublishResult = { ...first, durationMs: published.durationMs };
  return {
    result,
    stores: published.stores,
    migrationsApplied: built.migrationsApplied,
    startedFrom: startedFrom.description,
    vacuumed: built.vacuumed,
    durationMs: Date.now() - started,
    publicUrl: settings.publicBaseUrl ? `${settings.publicBaseUrl}/${result.objectKey}` : undefined,
    manifestUrl: settings.publicBaseUrl ? `${settings.publicBaseUrl}/${result.manifestKey}` : undefined,
    storeLocation: first.location,
  };
}

/** One commit: build, check and publish, as the settings say; sets every output (the caller then fails the step if a mirror failed: {@link throwIfSomeFailed}). */
export async function runAction(settings: BuildSettings, gitSha: string, builder: BuilderInfo, io: ActionIo): Promise<ActionReport> {
  const report = await buildAndPublish(settings, gitSha, await openStores(settings), builder, io);
  const { result } = report;
  io.setOutput(Outputs.Published, String(result.status === 'published'));
  io.setOutput(Outputs.Status, result.status);
  io.setOutput(Outputs.GitSha, gitSha);
  io.setOutput(Outputs.Sha256, result.manifest.database.sha256);
  io.setOutput(Outputs.ObjectKey, result.objectKey);
  io.setOutput(Outputs.ManifestKey, result.manifestKey);
  io.setOutput(Outputs.Size, String(result.manifest.database.size));
  io.setOutput(Outputs.CompressedSize, String(result.manifest.object.size));
  io.setOutput(Outputs.PublicUrl, report.publicUrl ?? '');
  io.setOutput(Outputs.ManifestUrl, report.manifestUrl ?? '');
  return report;
}

/** Fails the step (after its outputs) when a mirror did not get the snapshot: the others did, and say so. */
export function throwIfSomeFailed(report: ActionReport): void {
  throwIfSomeStoresFailed(report.result.status === 'dry-run' ? 'checked' : 'published', report.stores);
}

/** The job summary as Markdown: what was published, sizes, tables, and links. */
export function summaryMarkdown(report: ActionReport): string {
  const { manifest } = report.result;
  const ratio = manifest.object.size / Math.max(1, manifest.database.size);
  const headline = {
    published: 'Published a new snapshot',
    unchanged: 'Unchanged: these bytes were already published',
    'dry-run': 'Dry run: nothing was written',
  }[report.result.status];
  const objectCell = report.publicUrl ? `[${report.result.objectKey}](${report.publicUrl})` : `\`${report.result.objectKey}\``;
  const lines = [
    `## Sqlitening: ${headline}`,
    '',
    '| | |',
    '|---|---|',
    `| Commit | \`${manifest.gitSha}\` |`,
    `| SHA-256 | \`${manifest.database.sha256}\` |`,
    `| Object | ${objectCell} in \`${report.storeLocation}\` |`,
    `| Size | ${formatBytes(manifest.database.size)} → ${formatBytes(manifest.object.size)} ${manifest.object.encoding} (${(ratio * 100).toFixed(1)}%) |`,
    `| Started from | ${report.startedFrom} |`,
    `| Migrations applied | ${report.migrationsApplied.length ? report.migrationsApplied.map((m) => `\`${m}\``).join(', ') : 'none'} |`,
    `| SQLite | ${manifest.database.sqliteVersion}, user_version ${manifest.database.userVersion}, ${manifest.database.pageCount} pages of ${manifest.database.pageSize} B, ${manifest.database.freePages} free${report.vacuumed ? ', vacuumed' : ''} |`,
    `| Duration | ${formatDuration(report.durationMs)} |`,
  ];
  if (report.result.pruned.length) lines.push(`| Pruned | ${report.result.pruned.map((k) => `\`${k}\``).join(', ')} |`);
  if (report.stores.length > 1) {
    for (const store of report.stores) {
      const what = store.status === 'failed' ? `**failed** at ${store.step}: ${describeError(store.error).code}` : store.status;
      lines.push(`| Store ${store.index} | \`${store.location}\`: ${what} |`);
    }
  }
  lines.push('', '| Table | Rows |', '|---|---:|', ...manifest.database.tables.map((t) => `| \`${t.name}\` | ${t.rows} |`), '');
  return lines.join('\n');
}

/** The environment without the signing key, as the runner passes it (INPUT_SIGNING-KEY) or as the CLI reads it. */
function withoutSigningKey(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const rest = { ...env };
  for (const name of [`INPUT_${Inputs.SigningKey.toUpperCase()}`, 'SQLITENING_SIGNING_KEY']) delete rest[name];
  return rest;
}
