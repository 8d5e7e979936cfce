#!/usr/bin/env node
import v8 from 'node:v8';
import vm from 'node:vm';

// The AWS SDK warns on every start under Node 20 about its future releases; the
// CLI's stderr is for its own messages (scripts parse it), so that notice lives in the README.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// A transfer streams a GiB through short-lived objects; V8 answers by growing the young
// generation to 16 MiB a half, memory that stays resident. Kept at its starting size, the
// scavenges that stream causes are still cheap, and a sync peaks about 13 MiB lower (measured,
// 1 GiB). Set here, for the CLI's own process only: the library leaves a host's heap sizes alone.
v8.setFlagsFromString('--semi-space-growth-factor=1');
// A transfer also collects its young generation every MiB to free dead read buffers
// (src/reclaim-buffers.ts). On V8's helper threads each such collection costs more in handing
// work over than it saves, and on a small machine they take cores from the hashing thread and
// the store: done on this thread, a 1 GiB sync spends 0.29 s in them instead of 0.84 s.
v8.setFlagsFromString('--no-parallel-scavenge');
v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
// The process's own settings, through the hooks the library offers (it changes none by itself):
// a young collection every MiB of a transfer, and the failpoint a crash test names.
const { setReadBufferReclaimer } = await import('../lib/reclaim-buffers.js');
setReadBufferReclaimer(youngCollector());
if (process.env.SQLITENING_FAILPOINT) (await import('../lib/failpoint.js')).armFailpoint(process.env.SQLITENING_FAILPOINT);
const { main } = await import('../lib/cli/main.js');

/**
 * A young-generation collection: V8's --expose-gc is set just long enough to take `gc` from a new context,
 * then put back, so the process's own contexts see no change. Null where the runtime does not allow it.
 */
function youngCollector() {
  if (typeof globalThis.gc === 'function') return () => globalThis.gc({ type: 'minor' });
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    return typeof gc === 'function' ? () => gc({ type: 'minor' }) : null;
  } catch {
    return null;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

process.exitCode = await main(process.argv.slice(2));
