#!/usr/bin/env node
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';

const require = createRequire(import.meta.url);
const POD_COMMANDS = new Set(['agent', 'sync', 'pull', 'wait', 'touch']);
const podCommand = POD_COMMANDS.has(process.argv.slice(2).find((arg) => !arg.startsWith('-')) ?? '');

// Node's built-in modules come with code caches made under V8's default flags. Once a pod command's compiler flags
// are set (below), V8 refuses those caches, and Node compiles each module it then loads from its source and keeps the
// cache it makes for the life of the process. So a pod command loads the built-in modules it uses first, by their
// shipped caches. A process loading these modules before --no-opt rather than after: glibc's main arena 2.74 vs
// 3.05 MB in use (malloc_stats), RSS 46.8 vs 47.3 MiB. (A hashing thread starts under V8's defaults: below.)
const POD_BUILTINS = [
  'child_process',
  'cluster',
  'crypto',
  'dgram',
  'dns',
  'fs/promises',
  'http',
  'net',
  'os',
  'perf_hooks',
  'timers/promises',
  'worker_threads',
  'zlib',
];
if (podCommand) for (const name of POD_BUILTINS) require(`node:${name}`);

/** The V8 flags this process sets, each with V8's default for it (`node --v8-options`), or undefined where unknown. */
const flagsSet = [];
/** The one default among them that differs between the V8s of Node 20 (11.3), 22 (12.4) and 24 (13.6). */
const BYTECODE_OLD_AGE_DEFAULT = { 11.3: 5, 12.4: 6, 13.6: 6 }[process.versions.v8.split('.', 2).join('.')];
function setFlag(ours, v8Default) {
  v8.setFlagsFromString(ours);
  flagsSet.push({ ours, v8Default });
}

// The AWS SDK warns on every start under Node 20 about its future releases; the
// CLI's stderr is for its own messages (scripts parse it), so that notice lives in the README.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// A transfer streams a GiB through short-lived objects; V8 answers by growing the young
// generation to 16 MiB a half, memory that stays resident. Kept at its starting size, the
// scavenges that stream causes are still cheap, and a sync peaks about 13 MiB lower (measured,
// 1 GiB). Set here, for the CLI's own process only: the library leaves a host's heap sizes alone.
setFlag('--semi-space-growth-factor=1', '--semi-space-growth-factor=2');
// A transfer also collects its young generation every MiB to free dead read buffers
// (src/reclaim-buffers.ts). On V8's helper threads each such collection costs more in handing
// work over than it saves, and on a small machine they take cores from the hashing thread and
// the store: done on this thread, a 1 GiB sync spends 0.29 s in them instead of 0.84 s.
setFlag('--no-parallel-scavenge', '--parallel-scavenge');
setFlag('--no-concurrent-array-buffer-sweeping', '--concurrent-array-buffer-sweeping');
// On a pod the bytes are hashed, decoded and written by native code; V8's optimizing compiler speeds up little
// of what is left, and its machine code and the compiler's own pages stay resident for the life of an agent.
// Without it (measured, 1 GiB, `sqlitening sync`: 4.32 s vs 4.40 s full, 2.84 s vs 2.85 s by delta) a sync
// peaks about 8 MiB lower and an agent at rest holds about 6 MiB less. The baseline compiler stays (without it a
// full sync of 256 MiB took 6-8% longer, for 1 MiB less at rest), but its code and the bytecode of functions
// that a full collection finds unused since the last one (the code of a sync, between syncs) are dropped: about
// 0.5 MiB less at rest (node bench/idle.js, AMD EPYC). A publish keeps the optimizing compiler: encoding
// format-2 deltas is JavaScript's own work (256 MiB with --base: 2.71 s without it, 2.11 s with it).
if (podCommand) {
  setFlag('--no-opt', '--opt');
  setFlag('--flush-baseline-code', '--no-flush-baseline-code');
  setFlag('--bytecode-old-age=1', BYTECODE_OLD_AGE_DEFAULT && `--bytecode-old-age=${BYTECODE_OLD_AGE_DEFAULT}`);
}
// The process's own settings, through the hooks the library offers (it changes none by itself):
// a young collection every MiB of a transfer, a full one when a run that moved a snapshot ends (the agent
// then rests with its heap shrunk back), and the failpoint a crash test names.
// The CLI runs from its bundle (scripts/bundle-cli.js: what an agent keeps loaded for the life of its pod, as
// CommonJS so that V8 holds its text in one byte a character).
const { main, setReadBufferReclaimer, setRestReclaimer, setThreadStartHook, armFailpoint } = require('../lib/cli-bundle/sqlitening.cjs');
const collect = collector();
setReadBufferReclaimer(collect && (() => collect({ type: 'minor' })));
setRestReclaimer(collect && (() => collect({ type: 'major' })));
// A hashing thread starts under V8's default flags, so that it loads Node's built-in modules by their shipped
// caches rather than compiling each (src/thread-start.ts); this thread's JavaScript waits meanwhile. Where a
// default is not known (a V8 not listed above), threads start as any other: under this process's flags.
if (flagsSet.every(({ v8Default }) => v8Default))
  setThreadStartHook((start) => {
    for (const { v8Default } of flagsSet) v8.setFlagsFromString(v8Default);
    try {
      start();
    } finally {
      for (const { ours } of flagsSet) v8.setFlagsFromString(ours);
    }
  });
if (process.env.SQLITENING_FAILPOINT) armFailpoint(process.env.SQLITENING_FAILPOINT);

/**
 * V8's collector, `gc`: --expose-gc is set just long enough to take it from a new context, then put back, so
 * the process's own contexts see no change. Null where the runtime does not allow it.
 */
function collector() {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    return typeof gc === 'function' ? gc : null;
  } catch {
    return null;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

process.exitCode = await main(process.argv.slice(2));
