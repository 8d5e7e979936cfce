import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { manifestKey } from '@sqlitening/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../src/signing/keys.js';
import { CLI, type CliResult, closedPort, expectOneLineError, runCli } from './helpers/cli.js';
import { makeContentDatabase, SHA_A, tempFolder } from './helpers/fixtures.js';
import { type S3TestServer, startS3Server } from './helpers/s3-server.js';

/*
 * `wait` and `pull --wait` as a deploy runs them: real CLI processes polling
 * an S3-protocol server on 127.0.0.1 or a folder, while another CLI process
 * publishes.
 */

let s3: S3TestServer;
let dir: string;
let cleanup: () => Promise<void>;
let db: string;
let s3Env: Record<string, string>;
const keys: Record<'ours' | 'theirs', { key: string; pub: string }> = { ours: { key: '', pub: '' }, theirs: { key: '', pub: '' } };
let n = 0;

beforeAll(async () => {
  s3 = await startS3Server(['wait']);
  ({ dir, cleanup } = await tempFolder('wait'));
  db = path.join(dir, 'site.db');
  makeContentDatabase(db, 50);
  s3Env = { ...s3.env, SQLITENING_S3_ENDPOINT: s3.endpoint, SQLITENING_S3_PATH_STYLE: 'true' };
  for (const who of ['ours', 'theirs'] as const) {
    const pair = generateSigningKeyPair();
    keys[who] = { key: path.join(dir, `${who}.key`), pub: path.join(dir, `${who}.pub`) };
    await writeFile(keys[who].key, pair.privateKeyPem, { mode: 0o600 });
    await writeFile(keys[who].pub, pair.publicKeyPem);
  }
});
afterAll(async () => {
  await s3?.stop();
  await cleanup?.();
});

/** A folder store of its own per test; it does not exist until something is published to it. */
const freshFolder = (): string => path.join(dir, `store-${++n}`);

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

interface Running {
  /** Resolves once the process's stdout satisfies `ready`; rejects if it ends first. */
  until(ready: (stdout: string) => boolean): Promise<void>;
  /** The process's result, and when it ended. */
  done: Promise<CliResult & { endedAt: number }>;
}

/** Starts the CLI and lets the test act while it runs (runCli only answers once it has ended). Killed after `timeoutMs`. */
function startCli(args: string[], env: Record<string, string> = {}, timeoutMs = 45_000): Running {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ ready: (text: string) => boolean; resolve: () => void }> = [];
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    for (const waiter of waiters.splice(0)) {
      if (waiter.ready(stdout)) waiter.resolve();
      else waiters.push(waiter);
    }
  });
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult & { endedAt: number }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const endedAt = Date.now();
      clearTimeout(timer);
      const events = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, signal, stdout, stderr, events, endedAt });
    });
  });
  return {
    until: (ready) =>
      new Promise<void>((resolve, reject) => {
        if (ready(stdout)) return resolve();
        waiters.push({ ready, resolve });
        done.then((result) => reject(new Error(`the CLI ended (exit ${result.code}) first:\n${result.stdout}\n${result.stderr}`)));
      }),
    done,
  };
}

const count = (text: string, event: string): number => text.split(`"event":"${event}"`).length - 1;
const errorOf = (result: CliResult) => result.events.find((e) => e.event === 'error');

describe('sqlitening wait', () => {
  it('started before the publish, exits 0 within one poll interval of the manifest appearing (S3 API)', async () => {
    const url = `s3://wait/t${++n}`;
    const pollMs = 2_000;
    const waiting = startCli(['--json', 'wait', '--store', url, '--git-sha', SHA_A, '--poll', '2s', '--timeout', '40s'], s3Env);
    // Two answers of "not there" first: the wait really started before the publish.
    await waiting.until((out) => count(out, 'wait.missing') >= 2);
    const published = await runCli(['--json', 'publish', db, '--store', url, '--git-sha', SHA_A], { env: s3Env });
    expect(published.code, published.stderr).toBe(0);
    // The manifest was written before the publisher exited, so this instant is after it appeared.
    const publishedAt = Date.now();
    const result = await waiting.done;

    expect(result.code, result.stderr).toBe(0);
    expect(result.events.at(-1)).toMatchObject({
      event: 'result',
      command: 'wait',
      gitSha: SHA_A,
      sha256: published.events.at(-1)?.sha256,
      signedBy: null,
    });
    // Polls for a missing manifest never back off: each next poll is at most one interval away.
    const missing = result.events.filter((e) => e.event === 'wait.missing');
    expect(missing.length).toBeGreaterThanOrEqual(2);
    for (const poll of missing) expect(poll.nextInMs as number).toBeLessThanOrEqual(pollMs);
    // One interval, plus a second for a poll's own read and the process ending on a busy machine.
    expect(result.endedAt - publishedAt).toBeLessThan(pollMs + 1_000);
  });

  it('times out with its own exit code (5), with progress on stderr', async () => {
    const root = freshFolder();
    const result = await runCli(['wait', '--store', root, '--git-sha', SHA_A, '--poll', '200ms', '--timeout', '1s'], { timeoutMs: 20_000 });
    expectOneLineError(result, 5, `${manifestKey(SHA_A)} did not appear in file://${root} within 1s`);
    expect(result.stderr).toContain(`Waiting for file://${root}/${manifestKey(SHA_A)} (a poll every 200ms, for up to 1s)\n`);
    expect(result.stderr).toMatch(/^Not published yet after \d+ms \(1 poll\); next poll in \d+ms$/m);
    expect(result.stdout).toBe('');
  });

  it('refuses an unsigned manifest when a key is required: exit 3 at once, not at the timeout', async () => {
    const root = freshFolder();
    expect((await runCli(['publish', db, '--store', root, '--git-sha', SHA_A])).code).toBe(0);
    // A timeout far beyond the process's own limit: only a refusal at the first poll ends it in time.
    const result = await runCli(['--json', 'wait', '--store', root, '--git-sha', SHA_A, '--trust-key', keys.ours.pub, '--poll', '200ms', '--timeout', '10m'], {
      timeoutMs: 20_000,
    });
    expect(result.code, result.stderr).toBe(3);
    expect(errorOf(result)).toMatchObject({ code: 'unsigned-manifest', retryable: false });
    expect(result.events.filter((e) => e.event === 'wait.missing' || e.event === 'wait.failed')).toEqual([]);
  });

  it('refuses a manifest signed by a key it does not trust, and one of another --name', async () => {
    const root = freshFolder();
    const signed = await runCli(['publish', db, '--store', root, '--git-sha', SHA_A, '--signing-key', keys.theirs.key, '--name', 'www']);
    expect(signed.code, signed.stderr).toBe(0);
    const wait = (...extra: string[]) =>
      runCli(['--json', 'wait', '--store', root, '--git-sha', SHA_A, '--poll', '200ms', '--timeout', '10m', ...extra], { timeoutMs: 20_000 });

    const foreign = await wait('--trust-key', keys.ours.pub);
    expect(foreign.code, foreign.stderr).toBe(3);
    expect(errorOf(foreign)).toMatchObject({ code: 'untrusted-key' });

    const otherName = await wait('--trust-key', keys.theirs.pub, '--name', 'docs');
    expect(otherName.code, otherName.stderr).toBe(3);
    expect(errorOf(otherName)).toMatchObject({ code: 'wrong-database' });

    const accepted = await wait('--trust-key', keys.theirs.pub, '--name', 'www');
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.events.at(-1)).toMatchObject({ command: 'wait', name: 'www', polls: 1 });
    expect(accepted.events.at(-1)?.signedBy).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a store that keeps failing is not a refusal nor a late snapshot: backs off, then exits 1 with its reason', async () => {
    const port = await closedPort();
    const store = `http://127.0.0.1:${port}/www`;
    const result = await runCli(['--json', 'wait', '--store', store, '--git-sha', SHA_A, '--poll', '200ms', '--timeout', '2s'], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(1);
    expect(errorOf(result)).toMatchObject({ code: 'store-unreachable', retryable: true });
    const failed = result.events.filter((e) => e.event === 'wait.failed');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    for (const poll of failed) expect(poll).toMatchObject({ reason: 'store-unreachable' });
    // Backing off: the waits after failures grow from the interval (jitter takes each down to half of its step).
    const steps = failed.filter((e) => (e.nextInMs as number) > 0).map((e) => e.nextInMs as number);
    expect(Math.max(...steps)).toBeGreaterThan(200);
  });
});

describe('sqlitening pull --wait', () => {
  it('waits for the snapshot, then pulls it, verified (folder store)', async () => {
    const root = freshFolder();
    const target = path.join(dir, `pulled-${n}.db`);
    const pulling = startCli(['--json', 'pull', target, '--store', root, '--git-sha', SHA_A, '--wait', '30s', '--poll', '300ms']);
    await pulling.until((out) => count(out, 'wait.missing') >= 1);
    expect((await runCli(['publish', db, '--store', root, '--git-sha', SHA_A])).code).toBe(0);
    const result = await pulling.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.events.at(-1)).toMatchObject({ command: 'pull', gitSha: SHA_A, method: 'full', sha256: sha256(db) });
    expect(sha256(target)).toBe(sha256(db));
  });
});
