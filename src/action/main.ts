import * as core from '@actions/core';
import { builderFromEnv } from '../publish/builder-info.js';
import { nodeSqliteDriver } from '../sqlite/node-sqlite-driver.js';
import { runAction, summaryMarkdown } from './run-action.js';
import { readSettings } from './settings.js';

/** The action's whole life: read inputs once, run, report; any throw fails the step. */
export async function run(): Promise<void> {
  try {
    const settings = readSettings((name) => core.getInput(name), process.env);
    const report = await runAction(settings, builderFromEnv(process.env), {
      setOutput: (name, value) => core.setOutput(name, value),
      info: (message) => core.info(message),
      commandOutput: process.stdout,
      sqlite: nodeSqliteDriver,
    });
    core.info(`${report.result.status}: ${report.result.objectKey} (sha256 ${report.result.manifest.database.sha256})`);
    await core.summary.addRaw(summaryMarkdown(report), true).write();
  } catch (error) {
    core.setFailed(error instanceof Error ? error.message : String(error));
  }
}
