// The board under `wrangler dev`, sent a hostile mix of requests on a few
// kept-alive connections: oversize bodies (with and without a length),
// malformed JSON and bad signatures among valid heartbeats and reads. Each
// request must get its own answer; none may be a 5xx, a reset or a hang.
// How the worker refuses a body decides whether the connection it came on
// survives for the next request (src/body.ts, README "Oversize bodies").
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEARTBEAT_LIMITS, SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody, type Heartbeat } from '@sqlitening/contract';
import { startWranglerDev } from '../scripts/wrangler-dev.js';

type DevServer = Awaited<ReturnType<typeof startWranglerDev>>;

const SECRET = 'eu-west-secret-0123456789';
const LIMIT = HEARTBEAT_LIMITS.maxBodyBytes;
/** Rounds of the mix below, on each of `LANES` connections (660 requests, about 5 s here). */
const ROUNDS = 15;
const LANES = 4;
/** One request that gets no answer in this long counts as a failure (and ends its connection). */
const REQUEST_TIMEOUT_MS = 5_000;
/** Past this, a connection stops sending and what it did not send counts as failed: the test ends in bounded time. */
const MIX_DEADLINE_MS = 75_000;

let board: DevServer;
let agent: http.Agent;

type Outcome = { status: number | string; reused: boolean; body: string };

/**
 * One request on the shared keep-alive agent. `body`: a string sent with its
 * Content-Length, or chunks sent with Transfer-Encoding: chunked (no length).
 */
function request(method: string, path: string, body?: string | string[], headers: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const url = new URL(board.url);
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, body: text }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ status: `response ${error.code ?? error.message}`, reused: req.reusedSocket, body: '' }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message, reused: req.reusedSocket, body: '' }));
    req.setTimeout(REQUEST_TIMEOUT_MS, () => {
      req.destroy();
      resolve({ status: 'timeout', reused: req.reusedSocket, body: '' });
    });
    if (Array.isArray(body)) {
      for (const chunk of body) req.write(chunk);
      req.end();
    } else {
      req.end(body);
    }
  });
}

function heartbeat(pod: string): Heartbeat {
  const now = new Date().toISOString();
  return {
    version: 1,
    cluster: 'eu-west',
    pod,
    sentAt: now,
    appGitSha: 'a'.repeat(40),
    database: { gitSha: 'a'.repeat(40), sha256: 'c'.repeat(64), createdAt: now },
    lastRunAt: now,
    lastSuccessAt: now,
    lastError: null,
    tasks: [{ name: 'database', ageSeconds: 4, limitSeconds: 600, ok: true }],
  };
}

async function signed(body: string, secret = SECRET): Promise<Record<string, string>> {
  const timestamp = Math.floor(Date.now() / 1000);
  return { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: await signBody(secret, timestamp, body) };
}

/** `n` bytes of JSON-looking text in chunks of `size`. */
function chunks(n: number, size = 64 * 1024): string[] {
  const out: string[] = [];
  for (let at = 0; at < n; at += size) out.push('x'.repeat(Math.min(size, n - at)));
  return out;
}

const justOver = 'x'.repeat(LIMIT + 4096);
const mebibyte = 'x'.repeat(1024 * 1024);
/** Past the most the worker reads of a refused body (src/body.ts): a declared length over the limit is refused unread, whatever its size. */
const huge = 'x'.repeat(8 * 1024 * 1024);

/** A heartbeat batch signed with `secret` (the cluster's own, or not). */
async function postHeartbeat(lane: number, round: number, secret = SECRET): Promise<Outcome> {
  const body = JSON.stringify([heartbeat(`pod-${lane}-${round}`)]);
  return request('POST', '/v1/heartbeats', body, await signed(body, secret));
}

/** A body that is not JSON, signed. */
async function postMalformed(): Promise<Outcome> {
  const body = '[{"version": 1, "cluster": "eu-west",';
  return request('POST', '/v1/heartbeats', body, await signed(body));
}

const json = { 'content-type': 'application/json' };

/** The mix, in the order each connection sends it: what is sent, and the one answer expected. */
const MIX: Array<[string, number, (lane: number, round: number) => Promise<Outcome>]> = [
  ['valid heartbeat', 202, (lane, round) => postHeartbeat(lane, round)],
  ['oversize, Content-Length just over the limit', 413, () => request('POST', '/v1/heartbeats', justOver, json)],
  ['board GET', 200, () => request('GET', '/v1/board')],
  ['oversize, Content-Length 1 MiB', 413, () => request('POST', '/v1/heartbeats', mebibyte, json)],
  ['malformed JSON, signed', 400, () => postMalformed()],
  ['oversize, chunked 1 MiB (no length)', 413, () => request('POST', '/v1/heartbeats', chunks(1024 * 1024), json)],
  ['bad signature', 401, (lane, round) => postHeartbeat(lane, round, 'not-the-secret-0123456789')],
  ['oversize, chunked just over the limit (no length)', 413, () => request('POST', '/v1/heartbeats', chunks(LIMIT + 4096, 16 * 1024), json)],
  ['a route that never reads its body, 1 MiB', 404, () => request('POST', '/v1/board', mebibyte)],
  ['oversize, Content-Length 8 MiB', 413, () => request('POST', '/v1/heartbeats', huge, json)],
  ['board page GET', 200, () => request('GET', '/')],
];

beforeAll(async () => {
  board = await startWranglerDev({ CLUSTER_SECRETS: JSON.stringify({ 'eu-west': SECRET }) });
  // Connections are kept alive and reused, as a pod's agent or a proxy would: each carries every kind of request in turn.
  agent = new http.Agent({ keepAlive: true, maxSockets: LANES });
});
afterAll(async () => {
  agent?.destroy();
  await board?.stop();
});

describe('a hostile mix against the board under wrangler dev', () => {
  it('answers every request with its own status on reused connections: no 5xx, no reset, no hang', async () => {
    const tally = new Map<string, number>();
    const failures: Array<{ status: number | string; text: string }> = [];
    let reused = 0;
    let unsent = 0;
    const deadline = Date.now() + MIX_DEADLINE_MS;
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        for (let round = 0; round < ROUNDS; round++) {
          for (const [name, expected, send] of MIX) {
            if (Date.now() > deadline) {
              unsent += 1;
              continue;
            }
            const outcome = await send(lane, round);
            if (outcome.reused) reused += 1;
            const key = `${name}: ${outcome.status}`;
            tally.set(key, (tally.get(key) ?? 0) + 1);
            if (outcome.status !== expected) {
              failures.push({ status: outcome.status, text: `${name}: expected ${expected}, got ${outcome.status} ${outcome.body.slice(0, 120)}` });
            }
          }
        }
      }),
    );
    const total = LANES * ROUNDS * MIX.length;
    const count = (match: (status: number | string) => boolean) => failures.filter((f) => match(f.status)).length;
    const serverErrors = count((status) => typeof status === 'number' && status >= 500);
    const noAnswer = count((status) => typeof status === 'string');
    console.log(
      `hostile mix: ${failures.length} of ${total} requests not answered as expected: ${serverErrors} 5xx, ${noAnswer} without an answer (reset, refused, timeout); ${unsent} not sent (deadline); ${reused} sent on a reused connection`,
    );
    console.log([...tally].map(([k, n]) => `  ${k} × ${n}`).join('\n'));
    expect(serverErrors).toBe(0);
    expect(noAnswer).toBe(0);
    expect(failures.slice(0, 10).map((f) => f.text)).toEqual([]);
    expect(unsent).toBe(0);
    expect(reused).toBeGreaterThan(total / 2);
    expect(board.output()).not.toContain('[ERROR]');
  });
});
