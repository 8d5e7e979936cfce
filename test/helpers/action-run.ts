import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { TestClock } from './clock.js';
import { NODE24 } from './node24.js';

/** GitHub runs `node24` actions on Node 24; so do the tests, with the committed dist/. */
export const ACTION_ENTRY = path.resolve('dist/index.js');
export const actionYml = parseYaml(readFileSync('action.yml', 'utf8')) as {
  inputs: Record<string, { default?: string }>;
  outputs: Record<string, unknown>;
  runs: { using: string; main: string };
};

export interface ActionRun {
  code: number | null;
  /** stdout and stderr together, as the step's log shows them. */
  stdout: string;
  outputs: Record<string, string>;
  summary: string;
}

let runs = 0;

/**
 * Runs dist/index.js the way the runner does: every input as an INPUT_*
 * variable (action.yml's defaults, then `inputs`), files for outputs and the
 * job summary (written in `files`), and `env` as the rest of the environment;
 * with `clock`, its wall clock (and its loaders') is the test clock's.
 */
export async function runActionEntry(options: {
  inputs: Record<string, string>;
  env: Record<string, string>;
  cwd: string;
  files: string;
  clock?: TestClock;
}): Promise<ActionRun> {
  const id = `${process.pid}-${++runs}`;
  const outputFile = path.join(options.files, `output-${id}`);
  const summaryFile = path.join(options.files, `summary-${id}`);
  await writeFile(outputFile, '');
  await writeFile(summaryFile, '');
  const env: Record<string, string> = { ...options.env, ...options.clock?.env(), GITHUB_OUTPUT: outputFile, GITHUB_STEP_SUMMARY: summaryFile };
  for (const [name, spec] of Object.entries(actionYml.inputs)) env[`INPUT_${name.toUpperCase()}`] = spec.default ?? '';
  for (const [name, value] of Object.entries(options.inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(NODE24, [ACTION_ENTRY], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('close', (exit) => resolve({ code: exit, stdout: out }));
  });
  const outputs: Record<string, string> = {};
  const text = await readFile(outputFile, 'utf8');
  for (const match of text.matchAll(/^([\w-]+)<<(ghadelimiter_[\w-]+)\n([\s\S]*?)\n\2$/gm)) outputs[match[1]!] = match[3]!;
  return { code, stdout, outputs, summary: await readFile(summaryFile, 'utf8') };
}
