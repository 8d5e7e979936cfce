import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent/agent.js';
import { LockedError } from '../src/errors.js';
import { publishSnapshot } from '../src/publish/publish.js';
import { betterSqlite3Driver } from '../src/sqlite/better-sqlite3-driver.js';
import { LocalStore } from '../src/store/local-store.js';
import { type AgentProcess, childPid, get, startAgent } from './helpers/agent-process.js';
import { runCli } from './helpers/cli.js';
import { SHA_A, makeContentDatabase, tempFolder } from './helpers/fixtures.js';

/*
 * One agent per data folder, enforced by a lock the kernel drops when its
 * holder dies: real agent processes, killed for real, in their own PID
 * namespaces where every agent is PID 1.
 */

let dir: string;
let cleanup: () => Promise<void>;
let store: string;
let pod: string;
let round = 0;
const started: AgentProcess[] = [];

const LOCKED = /sqlitening: error: another agent \((\d+@[^)]+|unknown)\) already manages .*; run one agent per data folder/;
const live = () => path.join(pod, 'site.db');
const lockFile = () => path.join(pod, '.sqlitening', 'agent.lock');
const holderFile = () => path.join(pod, '.sqlitening', 'agent.lock.holder');
const agentArgs = () => ['--database', live(), '--store', store, '--git-sha', SHA_A, '--listen', '127.0.0.1:0', '--interval', '1h'];

function agent(options: Parameters<typeof startAgent>[1] = {}): AgentProcess {
  const started_ = startAgent(agentArgs(), options);
  started.push(started_);
  return started_;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempFolder('lock'));
  store = path.join(dir, 'store');
  const file = path.join(dir, 'build.db');
  makeContentDatabase(file, 50, 1);
  await publishSnapshot({
    store: new LocalStore(store),
    sqlite: betterSqlite3Driver,
    database: file,
    gitSha: SHA_A,
    encoding: 'gzip',
    retention: { keep: 10, graceMs: 3_600_000 },
    check: true,
    dryRun: false,
    tempDir: dir,
  });
});
afterAll(() => cleanup());
beforeEach(async () => {
  pod = path.join(dir, `pod-${++round}`);
  await mkdir(pod);
});
afterEach(async () => {
  for (const a of started.splice(0)) {
    if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
    await a.exited;
  }
});

const unshare = spawnSync('unshare', ['-pf', '--mount-proc', 'true'], { stdio: 'ignore' });
const noNamespaces = unshare.error ? `unshare is not available: ${unshare.error.message}` : unshare.status !== 0 ? 'unshare -pf --mount-proc fails here' : '';

describe('the data folder lock', () => {
  it.skipIf(noNamespaces !== '')(
    `kill -9 of an agent that is PID 1 in its own PID namespace: a restart the same way runs ${noNamespaces && `(skipped: ${noNamespaces})`}`,
    async () => {
      // --kill-child: killing unshare (the cleanup below) kills the agent inside too.
      const wrapper = ['unshare', '-pf', '--mount-proc', '--kill-child'];
      const first = agent({ wrapper });
      const port = await first.listening;
      expect(port, port === null ? (await first.exited).stderr : '').not.toBeNull();
      expect((await get(port!, '/livez')).status).toBe(200);
      expect((await readFile(holderFile(), 'utf8')).trim()).toBe(`1@${hostname()}`);

      // While it lives, another PID 1 is refused: the lock is the kernel's, not a pid comparison.
      const second = agent({ wrapper });
      const refused = await second.exited;
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(LOCKED);
      expect(refused.stderr).toContain(`another agent (1@${hostname()})`);

      process.kill(await childPid(first.child.pid!), 'SIGKILL');
      await first.exited;
      expect(existsSync(lockFile())).toBe(true);
      expect((await readFile(holderFile(), 'utf8')).trim()).toBe(`1@${hostname()}`);

      const restarted = agent({ wrapper });
      const again = await restarted.listening;
      expect(again, 'the restarted agent should run').not.toBeNull();
      expect((await get(again!, '/livez')).status).toBe(200);
      expect((await get(again!, '/readyz')).status).toBe(200);
      process.kill(await childPid(restarted.child.pid!), 'SIGTERM');
      expect((await restarted.exited).code).toBe(0);
    },
  );

  it('a lock whose recorded holder is another host, or a live process that does not hold it, is taken', async () => {
    await mkdir(path.dirname(lockFile()), { recursive: true });
    // What an earlier version left: `pid@host` in the lock file itself, from a host that is gone.
    await writeFile(lockFile(), '4242@pod-that-is-gone\n');
    await writeFile(holderFile(), '4242@pod-that-is-gone\n');
    const sync = await runCli(['sync', '--database', live(), '--store', store, '--git-sha', SHA_A]);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toMatch(/^installed: /);

    // This test's own process: alive, on this host, and not holding the kernel lock.
    await writeFile(lockFile(), `${process.pid}@${hostname()}\n`);
    await writeFile(holderFile(), `${process.pid}@${hostname()}\n`);
    const running = agent();
    const port = await running.listening;
    expect(port, 'the agent should run').not.toBeNull();
    expect((await get(port!, '/livez')).status).toBe(200);
    expect((await readFile(holderFile(), 'utf8')).trim()).toBe(`${running.child.pid}@${hostname()}`);
    running.child.kill('SIGTERM');
    expect((await running.exited).code).toBe(0);
    expect(existsSync(holderFile())).toBe(false);
  });

  it('four agents started at once on a folder whose holder was killed: exactly one runs, three exit with the locked error (6 rounds)', async () => {
    for (let i = 0; i < 6; i++) {
      const racers = Array.from({ length: 4 }, () => agent());
      const ports = await Promise.all(racers.map((r) => r.listening));
      const winners = racers.filter((_, n) => ports[n] !== null);
      const losers = racers.filter((_, n) => ports[n] === null);
      expect(winners, `round ${i}`).toHaveLength(1);
      for (const loser of losers) {
        const exit = await loser.exited;
        expect(exit.code, `round ${i}: ${exit.stderr}`).toBe(1);
        expect(exit.stderr).toMatch(LOCKED);
      }
      expect((await get(ports.find((p) => p !== null)!, '/livez')).status).toBe(200);
      // Killed, not stopped: the next round races for the lock a crashed holder left.
      winners[0]!.child.kill('SIGKILL');
      await winners[0]!.exited;
    }
  });

  it('a second Agent.open in the same process is refused, and the first keeps the lock', async () => {
    const options = { store: new LocalStore(store), database: live(), appGitSha: SHA_A };
    const first = await Agent.open(options);
    try {
      const second = Agent.open(options);
      await expect(second).rejects.toBeInstanceOf(LockedError);
      await expect(second).rejects.toThrow(`another agent (${process.pid}@${hostname()}, in this process) already manages ${pod}`);
      // The refusal opened no second handle on the lock file, so the kernel lock is still held.
      const other = await runCli(['sync', '--database', live(), '--store', store, '--git-sha', SHA_A]);
      expect(other.code).toBe(1);
      expect(other.stderr).toMatch(LOCKED);
    } finally {
      await first.stop();
    }
    const reopened = await Agent.open(options);
    await reopened.stop();
    const after = await runCli(['sync', '--database', live(), '--store', store, '--git-sha', SHA_A]);
    expect(after.code).toBe(0);
  });
});
