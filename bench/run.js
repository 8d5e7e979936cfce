// Runs every benchmark with the same flags (--size, --runs) and prints their tables.
//   npm run bench                 default size: a few minutes on 2 cores
//   npm run bench -- --size 1GiB  the full figures
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { root } from './lib.js';

const scripts = [
  [path.join(root, 'bench', 'publish.js'), ...process.argv.slice(2)],
  [path.join(root, 'bench', 'sync.js'), ...process.argv.slice(2)],
  [path.join(root, 'worker', 'bench', 'board.js')],
];
for (const args of scripts) {
  const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
