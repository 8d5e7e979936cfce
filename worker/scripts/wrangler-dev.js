// Runs the worker under `wrangler dev` (local workerd) on 127.0.0.1, for the
// browser test, the benchmark and the demo. Wrangler spawns workerd, so the
// whole process group is stopped together.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const workerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * A wrangler config for the bench entry (bench/harness.ts, never deployed):
 * the board's own bindings and migrations, no cron (rounds run when asked).
 * Full-line comments only in wrangler.jsonc.
 * @returns {Promise<string>} its path
 */
export async function benchConfig() {
  const board = JSON.parse(
    readFileSync(path.join(workerDir, 'wrangler.jsonc'), 'utf8')
      .split('\n')
      .filter((line) => !/^\s*\/\//.test(line))
      .join('\n'),
  );
  const dir = path.join(workerDir, '.wrangler', 'bench');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'wrangler.json');
  const config = { ...board, $schema: undefined, main: path.relative(dir, path.join(workerDir, 'bench', 'harness.ts')), triggers: undefined };
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/** @returns {Promise<number>} a free port on 127.0.0.1 */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `wrangler dev` with the given variables and secrets; resolves once it answers.
 * @param {Record<string, string>} vars
 * @param {{ port?: number, config?: string }} [options] `config`: another wrangler config (the benchmark's)
 * @returns {Promise<{ url: string, pid: number, output: () => string, stop: () => Promise<void> }>}
 *   `pid` leads the process group (wrangler and its workerd); `output` is everything they printed so far
 */
export async function startWranglerDev(vars, options = {}) {
  const port = options.port ?? (await freePort());
  const state = await mkdtemp(path.join(tmpdir(), 'sqlitening-board-'));
  const envFile = path.join(state, 'board.env');
  await writeFile(
    envFile,
    Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  );
  const args = [
    'wrangler',
    'dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--inspector-port',
    String(await freePort()),
    '--env-file',
    envFile,
    '--persist-to',
    state,
    '--show-interactive-dev-session=false',
    ...(options.config ? ['--config', options.config] : []),
  ];
  const child = spawn('npx', args, {
    cwd: workerDir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
  });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    // The whole group even when wrangler itself has already exited (it can crash): its workerd may still run.
    if (child.pid) {
      const exited = child.exitCode === null && child.signalCode === null ? new Promise((resolve) => child.once('exit', resolve)) : Promise.resolve();
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // stopped by SIGTERM
      }
    }
    await rm(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      // With READ_TOKEN set, reads need it: a 401 would look like a board that never started.
      const response = await fetch(`${url}/v1/board`, { headers: vars.READ_TOKEN ? { authorization: `Bearer ${vars.READ_TOKEN}` } : {} });
      if (response.ok) return { url, pid: /** @type {number} */ (child.pid), output: () => output, stop };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not start:\n${output.slice(-3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
