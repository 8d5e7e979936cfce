import { SELF, env, runInDurableObject } from 'cloudflare:test';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody, type Heartbeat } from '@sqlitening/contract';
import type { BoardIndex } from '../src/board-index.js';
import type { ClusterBoard } from '../src/cluster-board.js';

export const SECRETS: Record<string, string> = {
  'eu-west': 'eu-west-secret-0123456789',
  'us-east': 'us-east-secret-0123456789',
  'ap-south': 'ap-south-secret-0123456789',
  noisy: 'noisy-secret-0123456789ab',
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

/** The board's index. */
export function indexStub() {
  return env.BOARD.get(env.BOARD.idFromName('global'));
}

/** One cluster's object. */
export function clusterStub(cluster: string) {
  return env.CLUSTERS.get(env.CLUSTERS.idFromName(cluster));
}

/** Runs one evaluation round of a cluster inside its Durable Object, at `now`. */
export function evaluate(cluster: string, now = Date.now()) {
  return runInDurableObject(clusterStub(cluster), (board: ClusterBoard) => board.evaluate(now));
}

/** Runs one round of the board's index, at `now`. */
export function evaluateIndex(now = Date.now()) {
  return runInDurableObject(indexStub(), (index: BoardIndex) => index.evaluate(now));
}

/** Runs a SQL statement in a cluster's object (to set times the test cannot wait for). */
export function clusterSql(cluster: string, query: string, ...bindings: unknown[]) {
  return runInDurableObject(clusterStub(cluster), (_: ClusterBoard, state) => {
    state.storage.sql.exec(query, ...bindings);
  });
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

/** Simulates a cluster's pods that keep reporting healthy syncs until `at`. */
export function keepAlive(cluster: string, at: number) {
  return clusterSql(cluster, 'UPDATE pods SET last_heartbeat_at = ?, last_success_at = ?', at, at);
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
