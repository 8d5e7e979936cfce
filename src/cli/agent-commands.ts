import { Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Agent, type AgentOptions } from '../agent/agent.js';
import { createHealthServer, DEFAULT_HEALTH_LIMITS, listen } from '../agent/health-server.js';
import { DEFAULT_ALLOWED_CIDRS, DEFAULT_ALLOWED_HOSTS, makeHostCheck, makePeerCheck } from '../agent/host-check.js';
import { agentPaths } from '../agent/paths.js';
import { databaseVerifier, DEFAULT_MAX_DATABASE_BYTES } from '../agent/sync.js';
import { readTrustedKeys } from '../signing/keys.js';
import { assertTaskName, touchTask } from '../agent/tasks.js';
import { assertName, assertPodName, formatBytes } from '@sqlitening/contract';
import { NotFoundError, UsageError } from '../errors.js';
import { parseGitShaArg } from '../git.js';
import { findManifest } from '../install/find-manifest.js';
import { pullSnapshot } from '../install/pull.js';
import { storeSource } from '../store/mirror-store.js';
import {
  addManifestOptions,
  addStoreOptions,
  addTransferOptions,
  collect,
  durationArg,
  failbackOption,
  integerArg,
  nameOption,
  openReadStore,
  pollOption,
  shareArg,
  sizeArg,
  type StoreFlags,
  transferLimits,
} from './options.js';
import type { Reporter } from './reporter.js';
import { type ManifestLookupFlags, manifestLookup, waitWithProgress, withStopSignal } from './wait-command.js';

interface SyncFlags extends StoreFlags {
  database: string;
  gitSha?: string;
  anyCommit?: boolean;
  stallTimeout: number;
  deadline: number;
  maxSize: number;
  trustKey?: string[];
  name?: string;
  allowRollback?: boolean;
  delta: boolean;
  quickCheck?: boolean;
  reverify: number;
  attempts: number;
  failback: number;
}

interface AgentFlags extends SyncFlags {
  interval: number;
  jitter: number;
  listen: string;
  maxAge: number;
  task?: string[];
  allowHost?: string[];
  allowCidr?: string[];
  allowPeer?: string[];
  maxConnections: number;
  boardUrl?: string;
  cluster?: string;
  pod?: string;
  boardSecretFile?: string;
}

const QUICK_CHECK_FLAG = '--quick-check';
const QUICK_CHECK_HELP =
  "also run SQLite's quick_check on each new file before it is swapped in; the bytes are already proven identical to the ones the publisher checked, so this is for stores whose publisher skipped its checks (publish --no-check)";

function addSyncOptions(command: Command): Command {
  command
    .addOption(new Option('--database <file>', 'the live database the app reads').env('SQLITENING_DATABASE').makeOptionMandatory())
    .addOption(new Option('--git-sha <sha>', 'the commit the app runs; only its snapshots are installed').env('SQLITENING_GIT_SHA'))
    .option('--any-commit', 'install the newest snapshot of any commit (latest.json): for development only')
    .addOption(
      new Option('--max-size <size>', 'refuse manifests that declare a larger database (e.g. 8GiB)')
        .argParser(sizeArg)
        .default(DEFAULT_MAX_DATABASE_BYTES, formatBytes(DEFAULT_MAX_DATABASE_BYTES).replace(/\.00 /, '')),
    )
    .option('--trust-key <file>', 'accept only manifests signed by this Ed25519 public key (repeatable: any of them, for rotation)', collect)
    .addOption(nameOption('the database this pod installs: refuse manifests published with another --name, or none'))
    .option('--allow-rollback', 'install a manifest older than the newest accepted for the commit, or past its signed expiry (refused by default)')
    .option('--no-delta', 'always download whole snapshots, never deltas from the live file')
    .option(QUICK_CHECK_FLAG, QUICK_CHECK_HELP)
    .addOption(
      new Option('--reverify <duration>', 'read the whole live file and check it against its manifest this often (the agent also at its start)')
        .argParser(durationArg)
        .default(86_400_000, '24h'),
    )
    .option('--attempts <n>', 'tries per run for transient failures (network, 5xx); with several --store, a retry reads from the next', integerArg(1, 10), 3)
    .addOption(failbackOption());
  return addStoreOptions(addTransferOptions(command));
}

/** The app's commit: required, unless development mode says any commit will do. */
function appGitSha(flags: SyncFlags): string | null {
  if (flags.anyCommit) {
    if (flags.gitSha) throw new UsageError('give either --git-sha or --any-commit, not both');
    return null;
  }
  if (!flags.gitSha) throw new UsageError("missing the app's commit: pass --git-sha (or SQLITENING_GIT_SHA), or --any-commit for development");
  return parseGitShaArg(flags.gitSha, '--git-sha');
}

async function agentOptions(flags: SyncFlags, out: Reporter): Promise<AgentOptions> {
  return {
    store: await openReadStore(flags, out),
    database: path.resolve(flags.database),
    appGitSha: appGitSha(flags),
    limits: transferLimits(flags),
    maxDatabaseBytes: flags.maxSize,
    trustedKeys: await readTrustedKeys(flags.trustKey),
    databaseName: flags.name ?? null,
    allowRollback: flags.allowRollback === true,
    noDelta: flags.delta === false,
    quickCheck: flags.quickCheck === true,
    reverifyMs: flags.reverify,
    attempts: flags.attempts,
    log: (event, fields) => out.event(`agent.${event}`, fields, `${event} ${JSON.stringify(fields)}`),
  };
}

function parseTaskLimits(specs: string[]): Map<string, number> {
  const limits = new Map<string, number>();
  for (const spec of specs) {
    const [name, limit, extra] = spec.split('=');
    if (!name || !limit || extra !== undefined) throw new UsageError(`invalid --task: expected NAME=DURATION (translations=2h), got ${JSON.stringify(spec)}`);
    assertTaskName(name);
    limits.set(name, durationArg(limit));
  }
  return limits;
}

function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new UsageError(`invalid --listen: expected HOST:PORT (0.0.0.0:9090, [::]:9090, :9090), got ${JSON.stringify(value)}`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

export function syncCommand(reporter: () => Reporter): Command {
  const command = addSyncOptions(
    new Command('sync').description(
      "Fetch the newest snapshot of the app's commit once: verify it and swap it in atomically. Exit 0 when the database is current.",
    ),
  );
  command.action(async (flags: SyncFlags) => {
    const out = reporter();
    const agent = await Agent.open({ ...(await agentOptions(flags, out)), metrics: false });
    try {
      const result = await agent.runOnce();
      if (!result.ok) throw result.error;
      const m = result.outcome.manifest;
      out.result(
        { command: 'sync', status: result.outcome.status, sha256: m?.database.sha256 ?? null, bytesReceived: result.outcome.bytesReceived },
        `${result.outcome.status}: ${agent.paths.database}${m ? ` (sha256 ${m.database.sha256.slice(0, 16)}…, built ${m.createdAt})` : ''}`,
      );
    } finally {
      await agent.stop();
    }
  });
  return command;
}

export function agentCommand(reporter: () => Reporter): Command {
  const command = addSyncOptions(
    new Command('agent').description('Run beside the app: sync on an interval, serve /healthz, /livez, /readyz and /metrics, send heartbeats.'),
  )
    .addOption(new Option('--interval <duration>', 'time between syncs').argParser(durationArg).default(300_000, '5m'))
    .option('--jitter <share>', 'random spread of each interval (0.1 = ±10%)', shareArg, 0.1)
    .addOption(new Option('--listen <host:port>', 'address of the health server').env('SQLITENING_LISTEN').default('0.0.0.0:9090'))
    .addOption(new Option('--max-age <duration>', 'health fails when the last successful sync is older').argParser(durationArg).default(600_000, '10m'))
    .option('--task <name=limit>', 'another task whose marker must be younger than limit (repeatable), e.g. translations=2h', collect)
    .option(
      '--allow-host <name>',
      `Host header names allowed (repeatable; .example.com allows subdomains); default: ${DEFAULT_ALLOWED_HOSTS.join(', ')} and this host's name`,
      collect,
    )
    .option('--allow-cidr <range>', `IP ranges allowed as Host (repeatable); default: ${DEFAULT_ALLOWED_CIDRS.join(' ')}`, collect)
    .option('--allow-peer <range>', 'IP ranges the TCP connection may come from (repeatable); default: any', collect)
    .option(
      '--max-connections <n>',
      'health server connections open at once; more are closed on arrival, so slow clients cannot take the files the sync needs',
      integerArg(1, 10_000),
      DEFAULT_HEALTH_LIMITS.maxConnections,
    )
    .addOption(new Option('--board-url <url>', 'freshness board to send heartbeats to').env('SQLITENING_BOARD_URL'))
    .addOption(new Option('--cluster <name>', 'cluster name in heartbeats').env('SQLITENING_CLUSTER'))
    .addOption(new Option('--pod <name>', 'pod name in heartbeats (default: the host name)').env('SQLITENING_POD'))
    .addOption(
      new Option('--board-secret-file <file>', "file holding the cluster's heartbeat secret (or set SQLITENING_BOARD_SECRET)").env(
        'SQLITENING_BOARD_SECRET_FILE',
      ),
    );
  command.addHelpText(
    'after',
    `
Health: /healthz answers 200 while every task is within its limit and 500 when
one is stale; /readyz answers 200 once a valid database is installed, stale or
not, so a fleet-wide stale snapshot does not take every pod out of service.
Tasks are marker files: \`sqlitening touch NAME --database FILE\` records a success.`,
  );
  command.action(async (flags: AgentFlags) => {
    const out = reporter();
    const options = await agentOptions(flags, out);
    options.intervalMs = flags.interval;
    // A long-running agent checks the live file at its start too: a restart is when a bad disk shows.
    options.reverifyAtStart = true;
    options.jitter = flags.jitter;
    options.databaseLimitMs = flags.maxAge;
    options.taskLimits = parseTaskLimits(flags.task ?? []);
    const hostAllowed = makeHostCheck(flags.allowHost ?? [...DEFAULT_ALLOWED_HOSTS, hostname()], flags.allowCidr ?? DEFAULT_ALLOWED_CIDRS);
    const peerAllowed = flags.allowPeer ? makePeerCheck(flags.allowPeer) : undefined;
    const { host, port } = parseListen(flags.listen);
    if (flags.boardUrl) {
      if (!flags.cluster) throw new UsageError('--board-url needs --cluster (or SQLITENING_CLUSTER)');
      const secret = flags.boardSecretFile ? (await readFile(flags.boardSecretFile, 'utf8')).trim() : (process.env.SQLITENING_BOARD_SECRET ?? '');
      if (!secret) throw new UsageError('--board-url needs the cluster secret: --board-secret-file or SQLITENING_BOARD_SECRET');
      // Checked now with the board's own rules, rather than failing every heartbeat later.
      const pod = assertPodName(flags.pod ?? hostname(), '--pod');
      options.board = { url: flags.boardUrl, cluster: assertName(flags.cluster, '--cluster'), pod, secret };
    }
    const agent = await Agent.open(options);
    const server = createHealthServer({
      report: () => agent.report(),
      // Agent.open keeps metrics unless told not to.
      metrics: agent.metrics!,
      hostAllowed,
      peerAllowed,
      limits: { maxConnections: flags.maxConnections },
    });
    let address: Awaited<ReturnType<typeof listen>>;
    try {
      address = await listen(server, host, port);
    } catch (error) {
      await agent.stop();
      throw new UsageError(`cannot listen on ${flags.listen}: ${(error as Error).message}`);
    }
    out.event(
      'listening',
      { host: address.address, port: address.port, database: agent.paths.database },
      `Health server on http://${address.address}:${address.port}/healthz`,
    );
    agent.start();
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
    out.event('stopping', {}, 'Stopping: finishing or aborting the run in flight');
    await agent.stop();
    await new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    out.event('stopped', {}, 'Stopped');
  });
  return command;
}

export function pullCommand(reporter: () => Reporter): Command {
  const command = new Command('pull')
    .description('Download the newest snapshot of a commit (or of any commit with --latest), verified, to a file. No credentials needed over http(s).')
    .argument('<destination>', 'where to write the database')
    .option('--latest', 'the newest snapshot of any commit (latest.json)')
    .option('--no-delta', 'download the whole snapshot even when the destination holds one the manifest has a delta from')
    .option(QUICK_CHECK_FLAG, QUICK_CHECK_HELP)
    .addOption(
      new Option(
        '--wait <duration>',
        'when the manifest is not published yet, poll for it this long (as `sqlitening wait --timeout`) instead of failing',
      ).argParser(durationArg),
    )
    .addOption(pollOption());
  addStoreOptions(addTransferOptions(addManifestOptions(command)));
  command.addHelpText('after', '\nExample (a Dockerfile or a new machine):\n  sqlitening pull data/site.db --store https://snapshots.example.com/www --latest');
  command.action(
    async (
      destination: string,
      flags: ManifestLookupFlags & {
        latest?: boolean;
        delta: boolean;
        quickCheck?: boolean;
        wait?: number;
        poll: number;
      },
    ) => {
      const out = reporter();
      if (flags.wait === undefined && command.getOptionValueSource('poll') === 'cli') throw new UsageError('--poll is the interval of --wait: give --wait too');
      await withStopSignal(async (signal) => {
        const lookup = await manifestLookup(flags, { latest: flags.latest === true, signal, out });
        // The same lookup and acceptance whether it waits or not; only a missing manifest is treated differently.
        const found =
          flags.wait === undefined ? await findManifest(lookup) : await waitWithProgress(out, lookup, { pollMs: flags.poll, timeoutMs: flags.wait });
        if (!found) throw new NotFoundError(lookup.key, lookup.store.location);
        const { manifest } = found;
        const file = path.resolve(destination);
        const pulled = await pullSnapshot({
          store: lookup.store,
          manifest,
          destination: file,
          noDelta: flags.delta === false,
          signed: found.signedBy !== null,
          limits: lookup.limits,
          verify: databaseVerifier({ quickCheck: flags.quickCheck === true }),
          onProgress: (bytes, total) => out.progress('pull', bytes, total),
        });
        const how = {
          current: 'already current',
          delta: `a delta of ${formatBytes(pulled.bytesReceived)}`,
          full: `${formatBytes(pulled.bytesReceived)} downloaded`,
        }[pulled.method];
        out.result(
          {
            command: 'pull',
            path: file,
            gitSha: manifest.gitSha,
            sha256: manifest.database.sha256,
            createdAt: manifest.createdAt,
            method: pulled.method,
            bytesReceived: pulled.bytesReceived,
            fallback: pulled.fallback,
            // With several --store, the one that served the snapshot (0 is the first).
            store: storeSource(lookup.store),
          },
          `Pulled ${file}: commit ${manifest.gitSha.slice(0, 12)}, built ${manifest.createdAt}, ${formatBytes(manifest.database.size)}, ${how} (verified)`,
        );
      });
    },
  );
  return command;
}

export function touchCommand(reporter: () => Reporter): Command {
  return new Command('touch')
    .description("Record a task's success now (its marker's mtime), so the agent's health checks include it.")
    .argument('<name>', 'task name, e.g. translations')
    .addOption(new Option('--database <file>', 'the live database the agent manages').env('SQLITENING_DATABASE').makeOptionMandatory())
    .action(async (name: string, flags: { database: string }) => {
      const paths = agentPaths(flags.database);
      await touchTask(paths.tasks, name);
      reporter().result({ command: 'touch', task: name, folder: paths.tasks }, `Recorded ${name} as succeeded now`);
    });
}
