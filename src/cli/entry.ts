/**
 * What `bin/sqlitening.js` takes from the CLI, in one module graph (scripts/bundle-cli.js bundles it from
 * here): the hooks the process installs must be the very ones its commands call.
 */
export { main } from './main.js';
export { setReadBufferReclaimer, setRestReclaimer } from '../reclaim-buffers.js';
export { setThreadStartHook, type ThreadStartHook } from '../thread-start.js';
export { armFailpoint } from '../failpoint.js';
