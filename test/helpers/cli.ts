import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { TestClock } from './clock.js';

export const CLI = fileURLToPath(new URL('../../bin/sqlitening.js', import.meta.url));

export interface CliResult {
  code: number | null;
  /** The signal that ended the process, if one did. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (with `--json`). */
  events: Array<Record<string, unknown>>;
}

/**
 * Runs the CLI (`cli`: another build of it) as a user would, with a clean environment plus `env`;
 * with `clock`, its wall clock is the test clock's (test/helpers/clock.ts).
 */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; cli?: string; clock?: TestClock } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.cli ?? CLI, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...options.env, ...options.clock?.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 50_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const events = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, signal, stdout, stderr, events });
    });
  });
}

/** The CLI failed with `code` and said why in one last line on stderr (progress lines and a loader's own output may come first). */
export function expectOneLineError(result: CliResult, code: number, message: string | RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines.filter((line) => line.startsWith('sqlitening: error: '))).toHaveLength(1);
  const last = lines.at(-1)!;
  expect(last).toMatch(/^sqlitening: error: /);
  if (typeof message === 'string') expect(last).toContain(message);
  else expect(last).toMatch(message);
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago): connections to it are refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
