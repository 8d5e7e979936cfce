// Prints cluster heartbeat keys for the board (README, "Cluster keys"):
//   node worker/scripts/cluster-key.js root                                  a new root secret, for `wrangler secret put CLUSTER_ROOT_KEY`
//   CLUSTER_ROOT_KEY=… node worker/scripts/cluster-key.js key <cluster> [--version N]
//                                                                           that cluster's key, for its agents' SQLITENING_BOARD_SECRET
// The root is read from the environment, not the command line, so it stays out of shell history and `ps`.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { deriveClusterKey } from '../src/cluster-key.js';

const USAGE = `Usage:
  node worker/scripts/cluster-key.js root
      prints a new root secret (64 hex digits): wrangler secret put CLUSTER_ROOT_KEY
  CLUSTER_ROOT_KEY=<root> node worker/scripts/cluster-key.js key <cluster> [--version N]
      prints the cluster's heartbeat key at version N (default 1; after a rotation,
      the version GET /v1/admin/clusters/<cluster>/key shows): give it to the
      cluster's agents as SQLITENING_BOARD_SECRET`;

/**
 * What the command prints, or throws a TypeError that says what was expected and what came.
 * @param {string[]} args
 * @param {Record<string, string | undefined>} env
 * @returns {Promise<string>}
 */
export async function clusterKeyCommand(args, env) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { version: { type: 'string', default: '1' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return USAGE;
  const [command, cluster, ...extra] = positionals;
  if (command === 'root' && cluster === undefined) return randomBytes(32).toString('hex');
  if (command !== 'key' || cluster === undefined || extra.length > 0) {
    throw new TypeError(`Expected "root" or "key <cluster>", got ${JSON.stringify(positionals.join(' '))}`);
  }
  const root = env.CLUSTER_ROOT_KEY;
  if (!root) throw new TypeError('Expected the root secret in the CLUSTER_ROOT_KEY environment variable, got none');
  if (!/^\d+$/.test(values.version ?? '')) throw new TypeError(`Expected --version as a whole number from 1, got ${JSON.stringify(values.version)}`);
  return deriveClusterKey(root, cluster, Number(values.version));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    console.log(await clusterKeyCommand(process.argv.slice(2), process.env));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    process.exit(2);
  }
}
