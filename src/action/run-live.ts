import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { escapeHtml, formatDuration, type LiveCommit } from '@sqlitening/contract';
import { describeError, errorMessage } from '../describe-error.js';
import { fetchLiveCommits, type LiveCommitsOptions } from '../live/board-client.js';
import { type BranchHint, type CommitDecision, decideCommits, isBranchName } from '../live/commit-policy.js';
import { repositoryRoot, withWorktree } from '../live/worktree.js';
import type { BuilderInfo, PublishResult } from '../publish/publish.js';
import { withRetries } from '../retry.js';
import { Inputs, Outputs } from './constants.js';
import { type ActionIo, type ActionReport, buildAndPublish, openStores, throwIfSomeFailed } from './run-action.js';
import { type ActionSettings, forCheckout, type LiveSettings, type WorkflowEvent } from './settings.js';

/*
 * `git-sha: live`: the board knows which commits the pods run (the
 * `appGitSha` of their heartbeats); each of those commits that the policy
 * allows (in the history of the live branch, or listed by sha; at most
 * `live-max-commits` per run) gets a fresh snapshot, built from its own
 * migrations and loaders. The others are skipped with a warning.
 */

/** One live commit's outcome: the `results` output holds a list of these. */
export interface LiveResult {
  gitSha: string;
  status: PublishResult['status'] | 'failed' | 'skipped';
  /** SHA-256 of the published (or unchanged) database; null when it failed or was skipped. */
  sha256: string | null;
  objectKey: string | null;
  /** The reason code when it failed (`loader-failed`, …) or was skipped (`commit-not-allowed`, `commit-not-in-clone`, `too-many-live-commits`). */
  reason: string | null;
  /** Why it failed or was skipped. */
  error: string | null;
}

export interface LiveReport {
  board: string;
  /** The branch whose history may be built, as people read it. */
  branch: string;
  commits: Array<{ commit: LiveCommit; result: LiveResult; report: ActionReport | null }>;
  durationMs: number;
}

type LiveIo = Pick<ActionIo, 'setOutput' | 'info' | 'warning'>;

/** Asks the board, retrying what can pass, and logs what it says. */
async function askBoard(live: LiveSettings, io: LiveIo, options: LiveCommitsOptions | undefined): Promise<LiveCommit[]> {
  const commits = await withRetries(() => fetchLiveCommits(live.board, options), {
    onRetry: (error, attempt, delayMs) => io.warning(`asking the board failed (${errorMessage(error)}); try ${attempt + 1} in ${delayMs} ms`),
  });
  io.info(`The board at ${live.board.url} reports ${commits.length} live commit${commits.length === 1 ? '' : 's'}:`);
  for (const c of commits) io.info(`  ${c.gitSha}: ${podsText(c)}`);
  if (commits.length === 0) {
    io.warning('The board reports no live commit: no pod reported its app commit within the pod TTL (agents report it unless started with --any-commit)');
  }
  return commits;
}

/**
 * Default branch names the workflow run knows, for a clone without
 * `origin/HEAD`: the event's `repository.default_branch` (push,
 * workflow_dispatch, …), and a scheduled run's `GITHUB_REF`.
 */
async function eventBranchHints(event: WorkflowEvent): Promise<BranchHint[]> {
  const hints: BranchHint[] = [];
  if (event.payloadPath !== '') {
    let payload: unknown;
    try {
      payload = JSON.parse(await readFile(event.payloadPath, 'utf8'));
    } catch (error) {
      // Only a hint: a missing or unreadable event file leaves the others.
      if (!(error instanceof SyntaxError) && (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const name = (payload as { repository?: { default_branch?: unknown } } | undefined)?.repository?.default_branch;
    if (typeof name === 'string' && isBranchName(name)) hints.push({ name, source: `the ${event.name || 'workflow'} event's repository.default_branch` });
  }
  if (event.name === 'schedule' && event.ref.startsWith('refs/heads/') && isBranchName(event.ref.slice('refs/heads/'.length))) {
    hints.push({ name: event.ref.slice('refs/heads/'.length), source: "GITHUB_REF (a scheduled run's is the default branch)" });
  }
  return hints;
}

/** Most commits one warning names; the `results` output has them all. */
const NAMED_IN_WARNING = 50;

/**
 * Asks the board, decides which of its commits may be built, warns about
 * each one skipped, and sets the `live-commits` output to the ones to build.
 * Runs none of the commits' code.
 */
async function liveDecisions(
  root: string,
  live: LiveSettings,
  io: LiveIo,
  options: LiveCommitsOptions | undefined,
): Promise<{ branch: string; decisions: Array<CommitDecision<LiveCommit>> }> {
  const commits = await askBoard(live, io, options);
  const { branch, decisions } = await decideCommits(root, commits, live.policy, await eventBranchHints(live.event));
  const allowed = live.policy.allow.length > 0 ? ` or listed in ${Inputs.LiveAllow} (${live.policy.allow.length})` : '';
  io.info(`Building live commits in the history of ${branch.description}${allowed}, at most ${live.policy.maxCommits} per run (${Inputs.LiveMaxCommits})`);
  const tooMany: string[] = [];
  for (const { commit, refused } of decisions) {
    if (!refused) continue;
    const { code, message } = describeError(refused);
    if (code === 'too-many-live-commits') tooMany.push(commit.gitSha);
    else io.warning(`${commit.gitSha}: skipped, ${code}: ${message}`);
  }
  if (tooMany.length > 0) {
    const named = tooMany.slice(0, NAMED_IN_WARNING).join(', ');
    const more = tooMany.length > NAMED_IN_WARNING ? ` and ${tooMany.length - NAMED_IN_WARNING} more (all in the results output)` : '';
    io.warning(
      `${Inputs.LiveMaxCommits} is ${live.policy.maxCommits}: ${tooMany.length} older live commit${tooMany.length === 1 ? '' : 's'} skipped this run, not checked or built: ${named}${more}`,
    );
  }
  io.setOutput(Outputs.LiveCommits, JSON.stringify(decisions.filter((d) => !d.refused).map((d) => d.commit.gitSha)));
  return { branch: branch.description, decisions };
}

function podsText(commit: LiveCommit): string {
  return `${commit.pods} live pod${commit.pods === 1 ? '' : 's'} (${commit.clusters.map((k) => `${k.cluster} ${k.pods}`).join(', ')})`;
}

/**
 * `live-mode: matrix`: only the `live-commits` output (a JSON array of the
 * shas the policy allows), for `strategy.matrix`. Needs the workflow's clone,
 * to check each commit against the live branch.
 */
export async function listLiveCommits(
  settings: Extract<ActionSettings, { mode: 'live-matrix' }>,
  io: LiveIo,
  options?: LiveCommitsOptions,
): Promise<LiveCommit[]> {
  const root = await repositoryRoot(settings.live.workingDirectory);
  const { decisions } = await liveDecisions(root, settings.live, io, options);
  return decisions.filter((d) => !d.refused).map((d) => d.commit);
}

/**
 * `live-mode: refresh`: refreshes the snapshot of every live commit the
 * policy allows, one after another, each built in a worktree of the
 * workflow's clone at that commit; the others are skipped with a warning. One
 * commit's failure is reported and the others go on; the caller fails the
 * step at the end ({@link liveFailure}). Sets `live-commits` and `results`.
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
  const { branch, decisions } = await liveDecisions(root, settings.live, io, options);
  const stores = await openStores(settings.build);
  await mkdir(settings.tempDirectory, { recursive: true });
  const done: LiveReport['commits'] = [];
  for (const { commit, refused } of decisions) {
    const { gitSha } = commit;
    if (refused) {
      const { code, message } = describeError(refused);
      done.push({ commit, result: { gitSha, status: 'skipped', sha256: null, objectKey: null, reason: code, error: message }, report: null });
      continue;
    }
    try {
      const report = await io.group(`Refresh ${gitSha}: ${podsText(commit)}`, () =>
        withWorktree(root, gitSha, settings.tempDirectory, async (checkout) => {
          const build = forCheckout(settings.build, root, checkout);
          await mkdir(path.dirname(build.database), { recursive: true });
          return buildAndPublish(build, gitSha, stores, builder, io);
        }),
      );
      // A mirror that did not get it fails this commit (the others did, as the message says).
      throwIfSomeFailed(report);
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
  return { board: settings.live.board.url, branch, commits: done, durationMs: Date.now() - started };
}

/** Why the step fails, when any live commit failed to build or publish; null when none did (skipped ones are warnings). */
export function liveFailure(report: LiveReport): string | null {
  const failed = report.commits.filter((c) => c.result.status === 'failed');
  if (failed.length === 0) return null;
  const built = report.commits.filter((c) => c.result.status !== 'skipped').length;
  const which = failed.map((c) => `${c.result.gitSha} (${c.result.reason})`).join(', ');
  return `${failed.length} of ${built} live commit${built === 1 ? '' : 's'} failed: ${which}; each one's error is above`;
}

/** Text for a Markdown table cell: no markup, no column breaks, one line. */
function cell(text: string): string {
  return escapeHtml(text).replace(/\|/g, '\\|').replace(/\s+/g, ' ');
}

/** Most skipped commits the job summary lists one per line (a summary has at most 1 MiB); the `results` output has them all. */
const SKIPPED_IN_SUMMARY = 50;

/** The job summary of a live refresh: one line per commit. */
export function liveSummaryMarkdown(report: LiveReport): string {
  const total = report.commits.length;
  const failed = report.commits.filter((c) => c.result.status === 'failed').length;
  const skipped = report.commits.filter((c) => c.result.status === 'skipped').length;
  const tried = total - skipped;
  const skippedText = skipped > 0 ? `, skipped ${skipped}` : '';
  const headline =
    total === 0
      ? 'no live commits'
      : failed > 0
        ? `${failed} of ${tried} live commit${tried === 1 ? '' : 's'} failed${skippedText}`
        : `refreshed ${tried} live commit${tried === 1 ? '' : 's'}${skippedText}`;
  const lines = [
    `## Sqlitening: ${headline}`,
    '',
    `Live commits from the board at ${cell(report.board)}, newest first; those in the history of ${cell(report.branch)} (or listed in ${Inputs.LiveAllow}) each built from its own code in a worktree of this clone, in ${formatDuration(report.durationMs)}.`,
    '',
  ];
  if (total === 0) return [...lines, 'No pod reported its app commit within the board’s pod TTL, so nothing was refreshed.', ''].join('\n');
  lines.push('| Commit | Live pods | Status | SHA-256 | Tables, or why it failed or was skipped |', '|---|---|---|---|---|');
  let skippedShown = 0;
  for (const { commit, result, report: built } of report.commits) {
    if (result.status === 'skipped' && ++skippedShown > SKIPPED_IN_SUMMARY) continue;
    const pods = `${commit.pods}: ${commit.clusters.map((k) => `${cell(k.cluster)} ${k.pods}`).join(', ')}`;
    const detail = built
      ? built.result.manifest.database.tables.map((t) => `${cell(t.name)} ${t.rows}`).join(', ') || 'no tables'
      : cell(`${result.reason}: ${result.error}`);
    const status = result.status === 'failed' ? '**failed**' : result.status;
    lines.push(`| \`${commit.gitSha}\` | ${pods} | ${status} | ${result.sha256 ? `\`${result.sha256.slice(0, 16)}…\`` : ''} | ${detail} |`);
  }
  if (skipped > SKIPPED_IN_SUMMARY) lines.push('', `${skipped - SKIPPED_IN_SUMMARY} more skipped commits are in the \`results\` output.`);
  lines.push('');
  return lines.join('\n');
}
