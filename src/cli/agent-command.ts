import { DEFAULTS } from '../defaults.js';
import { Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Agent, type AgentOptions } from '../agent/agent.js';
import { createHealthServer, DEFAULT_HEALTH_LIMITS, listen } from '../agent/health-server.js';
import { DEFAULT_ALLOWED_CIDRS, DEFAULT_ALLOWED_HOSTS, makeHostCheck, makePeerCheck } from '../agent/host-check.js';
import { assertTaskName } from '../agent/tasks.js';
import { assertName, assertPodName, formatDuration } from '@sqlitening/contract';
import { UsageError } from '../errors.js';
import { collect, durationArg, integerArg, shareArg } from './options.js';
import type { Reporter } from './reporter.js';
import { addSyncOptions, agentOptions, type SyncFlags } from './sync-options.js';

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

export function agentCommand(reporter: () => Reporter): Command {
  const command = addSyncOptions(
    new Command('agent').description('Run beside the app: sync on an interval, serve /healthz, /livez, /readyz and /metrics, send heartbeats.'),
  )
    .addOption(
      new Option('--interval <duration>', 'time between syncs').argParser(durationArg).default(DEFAULTS.intervalMs, formatDuration(DEFAULTS.intervalMs)),
    )
    .option('--jitter <share>', 'random spread of each interval (0.1 = ±10%)', shareArg, DEFAULTS.jitter)
    .addOption(new Option('--listen <host:port>', 'address of the health server').env('SQLITENING_LISTEN').default('0.0.0.0:9090'))
    .addOption(
      new Option('--max-age <duration>', 'health fails when the last successful sync is older')
        .argParser(durationArg)
        .default(DEFAULTS.maxAgeMs, formatDuration(DEFAULTS.maxAgeMs)),
    )
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
  command.action(async (flags: AgentFlags) => runAgent(reporter(), flags));
  return command;
}

/** The agent's options: the sync's, with the schedule, health limits and board the flags set. */
async function longRunningOptions(flags: AgentFlags, out: Reporter): Promise<AgentOptions> {
  const options = await agentOptions(flags, out);
  options.intervalMs = flags.interval;
  // A long-running agent checks the live file at its start too: a restart is when a bad disk shows.
  options.reverifyAtStart = true;
  options.jitter = flags.jitter;
  options.databaseLimitMs = flags.maxAge;
  options.taskLimits = parseTaskLimits(flags.task ?? []);
  if (flags.boardUrl) {
    if (!flags.cluster) throw new UsageError('--board-url needs --cluster (or SQLITENING_CLUSTER)');
    const secret = flags.boardSecretFile ? (await readFile(flags.boardSecretFile, 'utf8')).trim() : (process.env.SQLITENING_BOARD_SECRET ?? '');
    if (!secret) throw new UsageError('--board-url needs the cluster secret: --board-secret-file or SQLITENING_BOARD_SECRET');
    // Checked now with the board's own rules, rather than failing every heartbeat later.
    const pod = assertPodName(flags.pod ?? hostname(), '--pod');
    options.board = { url: flags.boardUrl, cluster: assertName(flags.cluster, '--cluster'), pod, secret };
  }
  return options;
}

/** Runs the agent and its health server until SIGTERM or SIGINT. */
async function runAgent(out: Reporter, flags: AgentFlags): Promise<void> {
  const options = await longRunningOptions(flags, out);
  const hostAllowed = makeHostCheck(flags.allowHost ?? [...DEFAULT_ALLOWED_HOSTS, hostname()], flags.allowCidr ?? DEFAULT_ALLOWED_CIDRS);
  const peerAllowed = flags.allowPeer ? makePeerCheck(flags.allowPeer) : undefined;
  const { host, port } = parseListen(flags.listen);
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
}
