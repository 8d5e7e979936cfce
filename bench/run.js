// Runs every benchmark with the same flags (--size, --runs) and prints their tables.
//   npm run bench                 default size: a few minutes on 2 cores
//   npm run bench -- --size 1GiB  the full figures
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { root } from './lib.js';

for (const script of ['publish.js', 'sync.js']) {
  const result = spawnSync(process.execPath, [path.join(root, 'bench', script), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
