import path from 'node:path';
import { once } from 'node:events';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { setThreadStartHook, startThread, THREAD_LOADED_SOURCE } from '../src/thread-start.js';
import { runCli } from './helpers/cli.js';
import { makeContentDatabase, tempFolder } from './helpers/fixtures.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';

/** A thread that takes `loadMs` to "load its modules", says so, then answers one message with its double. */
const doubler = (loadMs: number) => `
  const { parentPort, workerData } = require('node:worker_threads');
  const until = Date.now() + ${loadMs};
  while (Date.now() < until);
  ${THREAD_LOADED_SOURCE}
  parentPort.once('message', (n) => parentPort.postMessage(n * 2));`;

async function ask(worker: import('node:worker_threads').Worker, n: number): Promise<unknown> {
  worker.postMessage(n);
  const [answer] = await once(worker, 'message');
  await worker.terminate();
  return answer;
}

describe('a thread started through the host’s hook', () => {
  afterEach(() => setThreadStartHook(null));

  it('starts as any other without a hook: nothing waits for it', async () => {
    const started = performance.now();
    const worker = startThread(doubler(1000), {});
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await ask(worker, 21)).toBe(42);
  });

  it('runs inside the hook, which gets control back only once the thread has loaded its modules', async () => {
    const calls: number[] = [];
    setThreadStartHook((start) => {
      const started = performance.now();
      start();
      calls.push(performance.now() - started);
    });
    const worker = startThread(doubler(300), {});
    expect(calls).toHaveLength(1);
    // Told, not timed out (the wait gives up after a second).
    expect(calls[0]).toBeGreaterThanOrEqual(290);
    expect(calls[0]).toBeLessThan(950);
    expect(await ask(worker, 21)).toBe(42);
  });

  it('says so when a hook returns without starting the thread, or starts it twice', () => {
    setThreadStartHook(() => {});
    expect(() => startThread(doubler(0), {})).toThrow("the host's thread-start hook returned without calling start()");
    setThreadStartHook((start) => {
      start();
      start();
    });
    expect(() => startThread(doubler(0), {})).toThrow("the host's thread-start hook called start() twice");
  });

  it('waits no longer than a second for a thread that never says it has loaded', async () => {
    setThreadStartHook((start) => start());
    const started = performance.now();
    const worker = startThread(
      "require('node:worker_threads').parentPort.once('message', (n) => require('node:worker_threads').parentPort.postMessage(n + 1));",
      {},
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect(await ask(worker, 1)).toBe(2);
  });
});

describe('the CLI’s hashing threads', () => {
  const folder = tempFolder('thread-start');
  afterAll(async () => (await folder).cleanup());

  it('load Node’s built-in modules by the caches Node ships, not compiled anew under the CLI’s flags', async () => {
    const { dir } = await folder;
    // Large enough (over 32 MiB) for a publish and a sync to hash on a thread.
    const db = path.join(dir, 'site.db');
    makeContentDatabase(db, 45_000);
    const store = path.join(dir, 'store');
    const env = { NODE_DEBUG_NATIVE: 'CODE_CACHE' };
    const publish = await runCli(['publish', db, '--store', store, '--git-sha', SHA], { env });
    const sync = await runCli(['sync', '--database', path.join(dir, 'live', 'site.db'), '--store', store, '--git-sha', SHA], { env });
    for (const run of [publish, sync]) {
      expect(run.code, run.stderr.slice(-2000)).toBe(0);
      // Only a thread loads this module: V8 took its shipped cache, so the thread ran under V8's default flags.
      expect(run.stderr).toContain('Code cache of internal/main/worker_thread (BufferNotOwned) is accepted');
      expect(run.stderr).not.toContain('Code cache of internal/main/worker_thread (BufferNotOwned) is rejected');
    }
    // The thread's own modules too, the last it loads before it says so (a sync loads crypto on its main thread
    // before it sets its flags, so any refusal is the thread's).
    expect(sync.stderr).not.toContain('Code cache of crypto (BufferNotOwned) is rejected');
  });
});
