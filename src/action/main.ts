import { errorMessage } from '../describe-error.js';
import * as core from '@actions/core';
import { builderFromEnv } from '../publish/builder-info.js';
import { nodeSqliteDriver } from '../sqlite/node-sqlite-driver.js';
import { Inputs } from './constants.js';
import { type ActionIo, runAction, summaryMarkdown, throwIfSomeFailed } from './run-action.js';
import { listLiveCommits, liveFailure, liveSummaryMarkdown, refreshLiveCommits } from './run-live.js';
import { readSettings } from './settings.js';

/** The action's whole life: read inputs once, run, report; any throw fails the step. */
export async function run(): Promise<void> {
  try {
    // Masked in the log whatever happens next (a secret passed through another expression is not masked by GitHub).
    const token = core.getInput(Inputs.BoardToken);
    if (token) core.setSecret(token);
    const settings = readSettings((name) => core.getInput(name), process.env);
    const io: ActionIo = {
      setOutput: (name, value) => core.setOutput(name, value),
      info: (message) => core.info(message),
      warning: (message) => core.warning(message),
      error: (message) => core.error(message),
      group: (title, fn) => core.group(title, fn),
      commandOutput: process.stdout,
      sqlite: nodeSqliteDriver,
    };
    const builder = builderFromEnv(process.env);
    if (settings.mode === 'live-matrix') {
      await listLiveCommits(settings, io);
    } else if (settings.mode === 'live-refresh') {
      const report = await refreshLiveCommits(settings, builder, io);
      await core.summary.addRaw(liveSummaryMarkdown(report), true).write();
      const failure = liveFailure(report);
      if (failure) core.setFailed(failure);
    } else {
      const report = await runAction(settings.build, settings.gitSha, builder, io);
      core.info(`${report.result.status}: ${report.result.objectKey} (sha256 ${report.result.manifest.database.sha256})`);
      await core.summary.addRaw(summaryMarkdown(report), true).write();
      throwIfSomeFailed(report);
    }
  } catch (error) {
    core.setFailed(errorMessage(error));
  }
}
