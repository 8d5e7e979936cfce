// What the agent costs at rest, beside what Node itself needs, measured in the same run:
//   resident memory of `sqlitening agent` between polls (after its first sync and re-verification),
//   sampled from /proc every second   vs  `node` idle, and `node` with better-sqlite3 loaded and an
//                                         HTTP server listening (the runtime's floor for an agent)
//   CPU per unchanged poll (user + system time from /proc over the sampled polls, each a 304 or an
//   unchanged manifest from a folder store)
//   node bench/idle.js [--size 64MiB] [--seconds 60] [--interval 2s]   (after npm run build)
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, cliJson, contentDatabase, cpuModel, median, parseFlags, parseSize, root, usageError } from './lib.js';

const USAGE = `Usage: npm run build && node bench/idle.js [--size 64MiB] [--seconds 60] [--interval 2s]
  --size      the database the agent keeps (default 64MiB)
  --seconds   how long to sample each process at rest (default 60)
  --interval  the agent's --interval (default 2s)`;
const flags = parseFlags(
  { size: { type: 'string', default: '64MiB' }, seconds: { type: 'string', default: '60' }, interval: { type: 'string', default: '2s' } },
  USAGE,
);
const seconds = Number(flags.seconds);
if (!Number.isInteger(seconds) || seconds < 5) usageError(`Expected --seconds as a whole number from 5, got "${flags.seconds}"`, USAGE);
const size = parseSize(flags.size);
const sha = '0123456789abcdef0123456789abcdef01234567';
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Resident memory (MiB) and CPU seconds used so far of a process, from /proc. */
async function usage(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
  // utime and stime are fields 14 and 15; the command name before them may hold spaces, so count from its ')'.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  return { rss, cpuSeconds };
}

/** Samples a process once a second for `seconds`: median and peak resident memory, and CPU seconds used meanwhile. */
async function sample(pid) {
  const first = await usage(pid);
  const rss = [];
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    rss.push((await usage(pid)).rss);
  }
  const last = await usage(pid);
  return { medianRss: median(rss), peakRss: Math.max(...rss), cpuSeconds: last.cpuSeconds - first.cpuSeconds };
}

/** Starts `node` with `args`, waits `settleMs`, samples it, and stops it. */
async function baseline(args, settleMs) {
  const child = spawn(process.execPath, args, { stdio: 'ignore', cwd: root });
  try {
    await sleep(settleMs);
    return await sample(child.pid);
  } finally {
    child.kill();
  }
}

const work = await mkdtemp(path.join(os.tmpdir(), 'sqlitening-bench-idle-'));
try {
  const nodeIdle = await baseline(['-e', 'setInterval(() => {}, 1000)'], 1000);
  const floor = await baseline(
    [
      '-e',
      "const Database = require('better-sqlite3'); const db = new Database(':memory:'); db.prepare('SELECT 1').get(); require('node:http').createServer((q, s) => s.end()).listen(0); setInterval(() => {}, 1000);",
    ],
    1000,
  );

  const database = await contentDatabase(size);
  const store = path.join(work, 'store');
  await cliJson('publish', database, '--store', store, '--git-sha', sha, '--grace', '0s');
  const live = path.join(work, 'pod', 'site.db');
  const agent = spawn(
    process.execPath,
    [cli, 'agent', '--database', live, '--store', store, '--git-sha', sha, '--interval', flags.interval, '--jitter', '0', '--listen', '127.0.0.1:0', '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let polls = 0;
  let installed = false;
  // The first poll after the install: the run that re-verifies the new file whole (which every agent does at its
  // start) has ended, and the agent rests from here on.
  let settled = false;
  let lines = '';
  agent.stdout.on('data', (chunk) => {
    lines += chunk;
    for (let end = lines.indexOf('\n'); end !== -1; end = lines.indexOf('\n')) {
      const event = JSON.parse(lines.slice(0, end)).event;
      lines = lines.slice(end + 1);
      if (event === 'agent.installed') installed = true;
      if (event === 'agent.not-modified' || event === 'agent.unchanged') {
        polls++;
        settled ||= installed;
      }
    }
  });
  try {
    for (let i = 0; i < 1200 && !settled; i++) await sleep(100);
    if (!settled) throw new Error('the agent did not install the snapshot and poll again within two minutes');
    // Past the first sync and the re-verification: the agent at rest. V8 gives back the pages of the collection
    // that ends that run some seconds later (measured, 1 GiB: 74 -> 55 MiB 6 to 7 s after the re-verification).
    await sleep(10_000);
    const pollsBefore = polls;
    const agentIdle = await sample(agent.pid);
    const sampledPolls = polls - pollsBefore;
    const cpuPerPollMs = sampledPolls > 0 ? (agentIdle.cpuSeconds * 1000) / sampledPolls : null;

    const f = (n) => n.toFixed(1);
    console.log(
      `\nThe agent at rest: a ${Math.round(size / 1048576)} MiB database, a folder store, --interval ${flags.interval}, sampled for ${seconds} s (${await cpuModel()}, ${os.cpus().length} cores, Node.js ${process.version})`,
    );
    console.log('| process | resident memory, median | peak | CPU in the sample |\n|---|---:|---:|---:|');
    console.log(`| node, idle | ${f(nodeIdle.medianRss)} MiB | ${f(nodeIdle.peakRss)} MiB | ${f(nodeIdle.cpuSeconds * 1000)} ms |`);
    console.log(
      `| node + better-sqlite3 + an HTTP server listening | ${f(floor.medianRss)} MiB | ${f(floor.peakRss)} MiB | ${f(floor.cpuSeconds * 1000)} ms |`,
    );
    console.log(
      `| sqlitening agent, between polls | ${f(agentIdle.medianRss)} MiB (${(agentIdle.medianRss / floor.medianRss).toFixed(2)}x the floor) | ${f(agentIdle.peakRss)} MiB | ${f(agentIdle.cpuSeconds * 1000)} ms over ${sampledPolls} polls: ${cpuPerPollMs === null ? '-' : f(cpuPerPollMs)} ms a poll |`,
    );
  } finally {
    agent.kill('SIGTERM');
    await new Promise((resolve) => agent.once('close', resolve));
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
