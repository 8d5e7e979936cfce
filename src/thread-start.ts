import { Worker, type WorkerOptions } from 'node:worker_threads';

/*
 * A worker thread starts by loading a hundred or so of Node's built-in modules. Node ships a code cache for each,
 * made under V8's default flags, and V8 takes a cache only where the process's flags are the ones it was made
 * under. A host that sets flags of its own (the CLI does: bin/sqlitening.js) has every thread compile those
 * modules from their source instead, and Node keeps the caches it then makes, and the allocator the holes that
 * compiling left, for the life of the process.
 *
 * So a host may start threads under settings of its own: `startThread` hands the start to the host's hook, and
 * then waits, with this thread's JavaScript stopped, until the new thread says it has loaded its modules. The CLI's
 * hook puts V8's default flags back for that time and its own after: an agent at rest keeps about 1 MiB less
 * (docs/agent.md). Without a hook (the default), a thread starts as any other and nothing waits.
 */

/**
 * A host's hook around a thread's start: sets what it needs, calls `start` (which returns once the thread has
 * loaded its modules), and puts things back.
 */
export type ThreadStartHook = (start: () => void) => void;

/** How long a start waits for a thread to load its modules (50 to 90 ms, measured) before going on without it. */
const LOADED_WAIT_MS = 1000;

let hook: ThreadStartHook | null = null;

/** Installs the host's hook around each thread's start; null: none (the default). */
export function setThreadStartHook(startHook: ThreadStartHook | null): void {
  hook = startHook;
}

/**
 * Starts a thread running `source` (as `eval: true`: CommonJS, or a module where the host runs its threads so).
 * Under a host's hook, the thread gets an `Int32Array` as its `workerData` and must run {@link THREAD_LOADED_SOURCE}
 * once its modules are loaded, whether or not they loaded.
 */
export function startThread(source: string, options: Omit<WorkerOptions, 'eval' | 'workerData'>): Worker {
  if (!hook) return new Worker(source, { ...options, eval: true });
  const loaded = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  let worker = null as Worker | null;
  try {
    hook(() => {
      if (worker) throw new Error("the host's thread-start hook called start() twice");
      worker = new Worker(source, { ...options, eval: true, workerData: loaded });
      // Stops this thread's JavaScript until the new one has loaded its modules: whatever the host set for the
      // start must not apply to this thread's own work meanwhile. A thread that fails to start says so by its
      // 'error' event, after the wait.
      Atomics.wait(loaded, 0, 0, LOADED_WAIT_MS);
    });
  } catch (error) {
    void (worker as Worker | null)?.terminate();
    throw error;
  }
  if (!worker) throw new Error("the host's thread-start hook returned without calling start()");
  return worker;
}

/** What a thread's source runs once its modules are loaded (with `workerData` in scope): tells a waiting start. */
export const THREAD_LOADED_SOURCE = `if (workerData instanceof Int32Array) { Atomics.store(workerData, 0, 1); Atomics.notify(workerData, 0); }`;
