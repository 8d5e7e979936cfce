import { buildFrom } from '../builder/build-from.js';
import { formatBytes, formatDuration } from '@sqlitening/contract';
import { publishSnapshot, type BuilderInfo, type PublishResult } from '../publish/publish.js';
import type { SqliteDriver } from '../sqlite/driver.js';
import { openStore } from '../store/open-store.js';
import { Outputs } from './constants.js';
import type { ActionSettings } from './settings.js';

/** What the action needs from its runner; `@actions/core` in production, anything in tests. */
export interface ActionIo {
  setOutput(name: Outputs, value: string): void;
  info(message: string): void;
  /** Where migration and loader output goes. */
  commandOutput: NodeJS.WritableStream;
  /** The SQLite library: `node:sqlite` in production, which needs no native addon in dist/. */
  sqlite: SqliteDriver;
}

export interface ActionReport {
  result: PublishResult;
  migrationsApplied: string[];
  startedFrom: string;
  vacuumed: boolean;
  durationMs: number;
  publicUrl: string | undefined;
  manifestUrl: string | undefined;
  storeLocation: string;
}

/** Build, check and publish, as the settings say; sets every output. */
export async function runAction(settings: ActionSettings, builder: BuilderInfo, io: ActionIo): Promise<ActionReport> {
  const started = Date.now();
  const store = await openStore(settings.store);
  const { built, startedFrom } = await buildFrom(
    settings.startFrom === 'published' ? { kind: 'published', store, gitSha: settings.gitSha } : { kind: 'empty' },
    {
      output: settings.database,
      migrationsDir: settings.migrationsDir,
      migrateCommand: settings.migrateCommand,
      loaders: settings.loaders,
      vacuum: settings.vacuum,
      vacuumThreshold: settings.vacuumThreshold,
      cwd: settings.workingDirectory,
      env: { ...process.env, SQLITENING_GIT_SHA: settings.gitSha },
      commandOutput: io.commandOutput,
      sqlite: io.sqlite,
      onStep: (step, detail) => io.info(`build ${step} ${JSON.stringify(detail)}`),
    },
    { onStart: (from) => io.info(`Starting from ${from.description}`) },
  );
  const result = await publishSnapshot({
    store,
    database: built.path,
    gitSha: settings.gitSha,
    encoding: settings.encoding,
    level: settings.level,
    retention: { keep: settings.keep, graceMs: settings.graceMs },
    check: false, // build has just run the checks on this very file
    stats: built.stats,
    sqlite: io.sqlite,
    builder,
    signingKey: settings.signingKey,
    dryRun: settings.dryRun,
    onStep: (step, detail) => io.info(`publish ${step} ${JSON.stringify(detail)}`),
  });
  const publicUrl = settings.publicBaseUrl ? `${settings.publicBaseUrl}/${result.objectKey}` : undefined;
  const manifestUrl = settings.publicBaseUrl ? `${settings.publicBaseUrl}/${result.manifestKey}` : undefined;
  io.setOutput(Outputs.Published, String(result.status === 'published'));
  io.setOutput(Outputs.Status, result.status);
  io.setOutput(Outputs.GitSha, settings.gitSha);
  io.setOutput(Outputs.Sha256, result.manifest.database.sha256);
  io.setOutput(Outputs.ObjectKey, result.objectKey);
  io.setOutput(Outputs.ManifestKey, result.manifestKey);
  io.setOutput(Outputs.Size, String(result.manifest.database.size));
  io.setOutput(Outputs.CompressedSize, String(result.manifest.object.size));
  io.setOutput(Outputs.PublicUrl, publicUrl ?? '');
  io.setOutput(Outputs.ManifestUrl, manifestUrl ?? '');
  return {
    result,
    migrationsApplied: built.migrationsApplied,
    startedFrom: startedFrom.description,
    vacuumed: built.vacuumed,
    durationMs: Date.now() - started,
    publicUrl,
    manifestUrl,
    storeLocation: store.location,
  };
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
  lines.push('', '| Table | Rows |', '|---|---:|', ...manifest.database.tables.map((t) => `| \`${t.name}\` | ${t.rows} |`), '');
  return lines.join('\n');
}
