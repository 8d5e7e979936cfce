import { SELF, env, runInDurableObject } from 'cloudflare:test';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody, type Heartbeat } from '@sqlitening/contract';
import type { Board } from '../src/board.js';

export const SECRETS: Record<string, string> = {
  'eu-west': 'eu-west-secret-0123456789',
  'us-east': 'us-east-secret-0123456789',
  'ap-south': 'ap-south-secret-0123456789',
};
export const SHA_A = 'a'.repeat(40);
export const SHA_B = 'b'.repeat(40);
export const DB_1 = '1'.repeat(64);
export const DB_2 = '2'.repeat(64);

export function heartbeat(cluster: string, pod: string, overrides: Partial<Heartbeat> = {}, now = Date.now()): Heartbeat {
  const at = new Date(now).toISOString();
  return {
    version: 1,
    cluster,
    pod,
    sentAt: at,
    appGitSha: SHA_A,
    database: { gitSha: SHA_A, sha256: DB_1, createdAt: new Date(now - 60_000).toISOString() },
    lastRunAt: at,
    lastSuccessAt: at,
    lastError: null,
    tasks: [{ name: 'database', ageSeconds: 5, limitSeconds: 600, ok: true }],
    ...overrides,
  };
}

export const staleTasks = [{ name: 'database', ageSeconds: 1800, limitSeconds: 600, ok: false }];

/** Posts heartbeats signed as an agent signs them; options break the signature on purpose. */
export async function post(
  body: Heartbeat | Heartbeat[] | string,
  options: { secret?: string; timestamp?: number; signature?: string | null; headers?: Record<string, string> } = {},
): Promise<Response> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const cluster = Array.isArray(body) ? body[0]?.cluster : typeof body === 'string' ? 'eu-west' : body.cluster;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = options.signature === undefined ? await signBody(options.secret ?? SECRETS[cluster ?? 'eu-west']!, timestamp, text) : options.signature;
  const headers: Record<string, string> = { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(timestamp), ...options.headers };
  if (signature !== null) headers[SIGNATURE_HEADER] = signature;
  return SELF.fetch('https://board.test/v1/heartbeats', { method: 'POST', headers, body: text });
}

export function boardStub() {
  return env.BOARD.get(env.BOARD.idFromName('global'));
}

/** Runs one evaluation round inside the Durable Object, at `now`. */
export function evaluate(now = Date.now()) {
  return runInDurableObject(boardStub(), (board: Board) => board.evaluate(now));
}

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
}

export async function received(clear = false): Promise<Received[]> {
  const response = await fetch(`${env.RECEIVER_URL}/__log`, { method: clear ? 'DELETE' : 'GET' });
  return response.json();
}

/** Simulates pods that keep reporting healthy syncs until `at` (all pods, or one cluster's). */
export function keepAlive(at: number, cluster?: string) {
  return runInDurableObject(boardStub(), (_: Board, state) => {
    if (cluster) state.storage.sql.exec('UPDATE pods SET last_heartbeat_at = ?, last_success_at = ? WHERE cluster = ?', at, at, cluster);
    else state.storage.sql.exec('UPDATE pods SET last_heartbeat_at = ?, last_success_at = ?', at, at);
  });
}

/** Polls `check` until it returns a value other than undefined (the alarm works in the background). */
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
