import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { CLI } from './cli.js';
import type { TestClock } from './clock.js';
import { waitFor } from './poll.js';

export interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A real `sqlitening --json agent …` process. */
export interface AgentProcess {
  child: ChildProcess;
  /** The health server's port once it listens, or `null` when the process ended first. */
  listening: Promise<number | null>;
  exited: Promise<AgentExit>;
  /** The agent's JSON events so far. */
  events: Array<Record<string, unknown>>;
}

/**
 * Starts the agent as a user would, with `--json` and a clean environment.
 * `wrapper` runs it through another command first (`unshare -pf --mount-proc`); `clock` sets its wall clock.
 */
export function startAgent(args: string[], options: { wrapper?: string[]; timeoutMs?: number; clock?: TestClock } = {}): AgentProcess {
  const command = [...(options.wrapper ?? []), process.execPath, CLI, '--json', 'agent', ...args];
  const child = spawn(command[0]!, command.slice(1), {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...options.clock?.env() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Array<Record<string, unknown>> = [];
  let stdout = '';
  let stderr = '';
  let resolveListening: (port: number | null) => void = () => {};
  const listening = new Promise<number | null>((resolve) => (resolveListening = resolve));
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
    const lines = stdout.split('\n');
    for (const line of lines.slice(events.length, -1)) {
      const event = JSON.parse(line) as Record<string, unknown>;
      events.push(event);
      if (event.event === 'listening') resolveListening(event.port as number);
    }
  });
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  // A bound on every test that starts one: an agent left running is killed.
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 50_000);
  const exited = new Promise<AgentExit>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveListening(null);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, listening, exited, events };
}

/** The pid, as this process sees it, of the one child of `pid` (the process `unshare -f` forks into the new namespace). */
export async function childPid(pid: number): Promise<number> {
  const children = await waitFor(
    `a child of process ${pid}`,
    async () => (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim() || undefined,
    5_000,
  );
  return Number(children.split(' ')[0]);
}

export interface HttpAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One GET on a fresh connection, with a Host header (default `localhost`). */
export function get(port: number, pathname: string, headers: Record<string, string> = {}, host = '127.0.0.1'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: pathname, agent: false, headers: { host: 'localhost', ...headers } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${pathname}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}
