import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { escapeHtml, formatDuration, type LiveCommit } from '@sqlitening/contract';
import { describeError, errorMessage } from '../describe-error.js';
import { fetchLiveCommits, type BoardReadSettings, type LiveCommitsOptions } from '../live/board-client.js';
import { repositoryRoot, withWorktree } from '../live/worktree.js';
import type { BuilderInfo, PublishResult } from '../publish/publish.js';
import { withRetries } from '../retry.js';
import { openStore } from '../store/open-store.js';
import { Outputs } from './constants.js';
import { type ActionIo, type ActionReport, buildAndPublish } from './run-action.js';
import { type ActionSettings, forCheckout } from './settings.js';

/*
 * `git-sha: live`: the board knows which commits the pods run (the
 * `appGitSha` of their heartbeats); each of those commits gets a fresh
 * snapshot, built from its own migrations and loaders.
 */

/** One live commit's outcome: the `results` output holds a list of these. */
export interface LiveResult {
  gitSha: string;
  status: PublishResult['status'] | 'failed';
  /** SHA-256 of the published (or unchanged) database; null when it failed. */
  sha256: string | null;
  objectKey: string | null;
  /** The reason code when it failed (`loader-failed`, `commit-not-in-clone`, …). */
  reason: string | null;
  error: string | null;
}

export interface LiveReport {
  board: string;
  commits: Array<{ commit: LiveCommit; result: LiveResult; report: ActionReport | null }>;
  durationMs: number;
}

type LiveIo = Pick<ActionIo, 'setOutput' | 'info' | 'warning'>;

/** Asks the board (retrying what can pass), logs what it says, and sets the `live-commits` output. */
async function liveCommits(board: BoardReadSettings, io: LiveIo, options: LiveCommitsOptions | undefined): Promise<LiveCommit[]> {
  const commits = await withRetries(() => fetchLiveCommits(board, options), {
    onRetry: (error, attempt, delayMs) => io.warning(`asking the board failed (${errorMessage(error)}); try ${attempt + 1} in ${delayMs} ms`),
  });
  io.info(`The board at ${board.url} reports ${commits.length} live commit${commits.length === 1 ? '' : 's'}:`);
  for (const c of commits) io.info(`  ${c.gitSha}: ${podsText(c)}`);
  if (commits.length === 0) {
    io.warning('The board reports no live commit: no pod reported its app commit within the pod TTL (agents report it unless started with --any-commit)');
  }
  io.setOutput(Outputs.LiveCommits, JSON.stringify(commits.map((c) => c.gitSha)));
  return commits;
}

function podsText(commit: LiveCommit): string {
  return `${commit.pods} live pod${commit.pods === 1 ? '' : 's'} (${commit.clusters.map((k) => `${k.cluster} ${k.pods}`).join(', ')})`;
}

/** `live-mode: matrix`: only the `live-commits` output (a JSON array of shas), for `strategy.matrix`. */
export async function listLiveCommits(
  settings: Extract<ActionSettings, { mode: 'live-matrix' }>,
  io: LiveIo,
  options?: LiveCommitsOptions,
): Promise<LiveCommit[]> {
  return liveCommits(settings.board, io, options);
}

/**
 * `live-mode: refresh`: refreshes the snapshot of every live commit, one
 * after another, each built in a worktree of the workflow's clone at that
 * commit. One commit's failure is reported and the others go on; the caller
 * fails the step at the end ({@link liveFailure}). Sets `live-commits` and `results`.
 */
export async function refreshLiveCommits(
  settings: Extract<ActionSettings, { mode: 'live-refresh' }>,
  builder: BuilderInfo,
  io: ActionIo,
  options?: LiveCommitsOptions,
): Promise<LiveReport> {
  const started = Date.now();
  const root = await repositoryRoot(settings.build.workingDirectory);
  forCheckout(settings.build, root, root); // refuses migrations from outside the repository before anything runs
  const commits = await liveCommits(settings.board, io, options);
  const store = await openStore(settings.build.store);
  await mkdir(settings.tempDirectory, { recursive: true });
  const done: LiveReport['commits'] = [];
  for (const commit of commits) {
    const { gitSha } = commit;
    try {
      const report = await io.group(`Refresh ${gitSha}: ${podsText(commit)}`, () =>
        withWorktree(root, gitSha, settings.tempDirectory, async (checkout) => {
          const build = forCheckout(settings.build, root, checkout);
          await mkdir(path.dirname(build.database), { recursive: true });
          return buildAndPublish(build, gitSha, store, builder, io);
        }),
      );
      const { result } = report;
      io.info(`${gitSha}: ${result.status} ${result.objectKey} (sha256 ${result.manifest.database.sha256})`);
      const sha256 = result.manifest.database.sha256;
      done.push({ commit, result: { gitSha, status: result.status, sha256, objectKey: result.objectKey, reason: null, error: null }, report });
    } catch (error) {
      const described = describeError(error);
      io.error(`${gitSha}: ${described.code}: ${described.message}`);
      done.push({
        commit,
        result: { gitSha, status: 'failed', sha256: null, objectKey: null, reason: described.code, error: described.message },
        report: null,
      });
    }
  }
  io.setOutput(Outputs.Results, JSON.stringify(done.map((d) => d.result)));
  return { board: settings.board.url, commits: done, durationMs: Date.now() - started };
}

/** Why the step fails, when any live commit did; null when none did. */
export function liveFailure(report: LiveReport): string | null {
  const failed = report.commits.filter((c) => c.result.status === 'failed');
  if (failed.length === 0) return null;
  const which = failed.map((c) => `${c.result.gitSha} (${c.result.reason})`).join(', ');
  return `${failed.length} of ${report.commits.length} live commit${report.commits.length === 1 ? '' : 's'} failed: ${which}; each one's error is above`;
}

/** Text for a Markdown table cell: no markup, no column breaks, one line. */
function cell(text: string): string {
  return escapeHtml(text).replace(/\|/g, '\\|').replace(/\s+/g, ' ');
}

/** The job summary of a live refresh: one line per commit. */
export function liveSummaryMarkdown(report: LiveReport): string {
  const total = report.commits.length;
  const failed = report.commits.filter((c) => c.result.status === 'failed').length;
  const headline =
    total === 0 ? 'no live commits' : failed > 0 ? `${failed} of ${total} live commits failed` : `refreshed ${total} live commit${total === 1 ? '' : 's'}`;
  const lines = [
    `## Sqlitening: ${headline}`,
    '',
    `Live commits from the board at ${cell(report.board)}, newest first; each built from its own code in a worktree of this clone, in ${formatDuration(report.durationMs)}.`,
    '',
  ];
  if (total === 0) return [...lines, 'No pod reported its app commit within the board’s pod TTL, so nothing was refreshed.', ''].join('\n');
  lines.push('| Commit | Live pods | Status | SHA-256 | Tables, or why it failed |', '|---|---|---|---|---|');
  for (const { commit, result, report: built } of report.commits) {
    const pods = `${commit.pods}: ${commit.clusters.map((k) => `${cell(k.cluster)} ${k.pods}`).join(', ')}`;
    const detail = built
      ? built.result.manifest.database.tables.map((t) => `${cell(t.name)} ${t.rows}`).join(', ') || 'no tables'
      : cell(`${result.reason}: ${result.error}`);
    const status = result.status === 'failed' ? '**failed**' : result.status;
    lines.push(`| \`${commit.gitSha}\` | ${pods} | ${status} | ${result.sha256 ? `\`${result.sha256.slice(0, 16)}…\`` : ''} | ${detail} |`);
  }
  lines.push('');
  return lines.join('\n');
}
