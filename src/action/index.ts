import { setReadBufferReclaimer, youngGenerationCollector } from '../reclaim-buffers.js';
import { run } from './main.js';

// The Action's own process: a young collection every MiB of an upload frees its read buffers (the library
// leaves a host's collector alone unless told).
setReadBufferReclaimer(youngGenerationCollector());
await run();
