import { SELF, env } from 'cloudflare:test';
import { signBody, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '@sqlitening/contract';
import { describe, expect, it } from 'vitest';
import { CANDIDATES, checkClusterSignature, KEYS_UNAVAILABLE } from '../src/cluster-auth.js';
import { deriveClusterKey } from '../src/cluster-key.js';
import { clusterRootKeys } from '../src/config.js';
import { afterRead, isFresh, KEY_RECORDS_MAX_AGE_MS, KEY_RECORDS_MAX_STALE_MS, servesWhileUnread, type KeyCopy } from '../src/key-copy.js';
import { initialRecord, revoked } from '../src/key-record.js';
import { heartbeat, post } from './helpers.js';

/*
 * What a heartbeat learns of a cluster's keys (nothing), how a key record
 * ends a cluster's CLUSTER_SECRETS entry, and how long a worker trusts its
 * copy of the key records when the index cannot be read.
 */

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
const key = (cluster: string, version = 1) => deriveClusterKey(env.CLUSTER_ROOT_KEY, cluster, version);
const worker = async () => (await import('../src/index.js')).default;

/** Calls the worker in this test's isolate, with an env of the test's own (so a change and the heartbeats after it see one copy of the key records). */
async function call(path: string, init: RequestInit, overrides: Partial<Env> = {}): Promise<Response> {
  return (await worker()).fetch(new Request(`https://board.test${path}`, init) as never, { ...env, ...overrides }, {} as ExecutionContext);
}

async function signedInit(cluster: string, secret: string, pod = 'web-1'): Promise<RequestInit> {
  const body = JSON.stringify(heartbeat(cluster, pod));
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: await signBody(secret, timestamp, body) };
  return { method: 'POST', headers, body };
}

describe('a refused heartbeat says nothing about its cluster', () => {
  it('answers an unsigned, malformed, expired or wrongly signed request the same for a known, an unknown and a revoked cluster', async () => {
    expect((await SELF.fetch('https://board.test/v1/admin/clusters/same-revoked/revoke', { method: 'POST', headers: ADMIN })).status).toBe(200);
    expect((await post(heartbeat('same-known', 'web-1'), { secret: await key('same-known') })).status).toBe(202);
    const hour = Math.floor(Date.now() / 1000) - 3600;
    const requests: Record<string, { secret?: string; timestamp?: number; signature?: string | null }> = {
      unsigned: { signature: null },
      malformed: { signature: 'v1=not-hex' },
      expired: { timestamp: hour },
      wrongKey: { secret: 'not-the-key-of-any-cluster-0123' },
    };
    // `CLUSTER_ROOT_KEY` unset: a cluster nobody configured has no secret at all.
    const unknown = (body: string, options: { secret?: string; timestamp?: number; signature?: string | null }) =>
      signedInitFor(body, options).then((init) => call('/v1/heartbeats', init, { CLUSTER_ROOT_KEY: '' }));
    for (const [name, options] of Object.entries(requests)) {
      const answers = [];
      for (const cluster of ['same-known', 'same-revoked']) {
        const response = await post(heartbeat(cluster, 'web-2'), { ...options, secret: options.secret ?? (await key(cluster)) });
        answers.push({ status: response.status, body: await response.json() });
      }
      const response = await unknown(JSON.stringify(heartbeat('same-unknown', 'web-2')), { ...options, secret: options.secret ?? 'x'.repeat(16) });
      answers.push({ status: response.status, body: await response.json() });
      expect(answers[0]!.status, name).toBe(401);
      expect(answers, name).toEqual([answers[0], answers[0], answers[0]]);
    }
  });

  it('verifies as many secrets for a revoked or unknown cluster as for one with every slot filled', async () => {
    const calls: number[] = [];
    const verify = crypto.subtle.verify.bind(crypto.subtle);
    let count = 0;
    crypto.subtle.verify = ((...args: Parameters<typeof verify>) => {
      count++;
      return verify(...args);
    }) as typeof verify;
    try {
      const body = JSON.stringify(heartbeat('x', 'p'));
      const timestamp = Math.floor(Date.now() / 1000);
      const request = { body, timestamp: String(timestamp), signature: await signBody('not-the-key-0123456789', timestamp, body) };
      for (const cluster of ['same-revoked', 'rotating', 'never-heard-of']) {
        count = 0;
        expect(await checkClusterSignature(env, cluster, request)).toBe('mismatch');
        calls.push(count);
      }
    } finally {
      crypto.subtle.verify = verify;
    }
    expect(calls).toEqual([calls[0], calls[0], calls[0]]);
    expect(calls[0]).toBe(CANDIDATES + 1);
  });
});

async function signedInitFor(body: string, options: { secret?: string; timestamp?: number; signature?: string | null }): Promise<RequestInit> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = options.signature === undefined ? await signBody(options.secret!, timestamp, body) : options.signature;
  const headers: Record<string, string> = { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(timestamp) };
  if (signature !== null) headers[SIGNATURE_HEADER] = signature;
  return { method: 'POST', headers, body };
}

describe('rotating the root', () => {
  const previous = 'previous-root-key-0123456789abcdef0123456789';

  it('accepts keys derived from CLUSTER_ROOT_KEY_PREVIOUS beside the new root’s while it is set, and not after', async () => {
    const old = await deriveClusterKey(previous, 'root-move', 1);
    const during = { CLUSTER_ROOT_KEY_PREVIOUS: previous };
    expect((await call('/v1/heartbeats', await signedInit('root-move', old), during)).status).toBe(202);
    expect((await call('/v1/heartbeats', await signedInit('root-move', await key('root-move'), 'web-2'), during)).status).toBe(202);
    expect((await call('/v1/heartbeats', await signedInit('root-move', old, 'web-3'))).status).toBe(401);
  });

  it('refuses a previous root without a current one, or one too short', async () => {
    for (const [overrides, error] of [
      [{ CLUSTER_ROOT_KEY: '', CLUSTER_ROOT_KEY_PREVIOUS: previous }, 'invalid CLUSTER_ROOT_KEY_PREVIOUS: set only beside CLUSTER_ROOT_KEY (the new root)'],
      [{ CLUSTER_ROOT_KEY_PREVIOUS: 'short' }, 'invalid CLUSTER_ROOT_KEY_PREVIOUS: expected at least 32 characters, got 5 (value not shown)'],
    ] as const) {
      const response = await call('/v1/heartbeats', await signedInit('root-move', await key('root-move')), overrides);
      expect(response.status).toBe(500);
      expect(String(JSON.stringify(await response.json()))).not.toContain(previous);
      expect(() => clusterRootKeys({ ...env, ...overrides })).toThrow(error);
    }
  });
});

describe('a key record ends the cluster’s CLUSTER_SECRETS entry', () => {
  const listed = { CLUSTER_SECRETS: JSON.stringify({ 'legacy-back': 'legacy-back-secret-0123' }) };
  const unlisted = { CLUSTER_SECRETS: '{}' };

  it('refuses to rotate a cluster still in CLUSTER_SECRETS, saying why', async () => {
    const response = await call('/v1/admin/clusters/legacy-back/rotate', { method: 'POST', headers: ADMIN }, listed);
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: string }).error).toMatch(/^legacy-back is still in CLUSTER_SECRETS: move its agents to its derived key/);
  });

  it('does not bring a revoked cluster’s CLUSTER_SECRETS secret back when it is rotated', async () => {
    expect((await call('/v1/heartbeats', await signedInit('legacy-back', 'legacy-back-secret-0123'), listed)).status).toBe(202);
    expect((await call('/v1/admin/clusters/legacy-back/revoke', { method: 'POST', headers: ADMIN }, listed)).status).toBe(200);
    // The operator removes it from CLUSTER_SECRETS and rotates; a deploy that still lists it must not accept the old secret.
    expect((await call('/v1/admin/clusters/legacy-back/rotate', { method: 'POST', headers: ADMIN }, unlisted)).status).toBe(200);
    expect((await call('/v1/heartbeats', await signedInit('legacy-back', 'legacy-back-secret-0123', 'web-2'), listed)).status).toBe(401);
    expect((await call('/v1/heartbeats', await signedInit('legacy-back', await key('legacy-back', 2), 'web-3'), listed)).status).toBe(202);
  });
});

describe('the copy of the key records when the index cannot be read', () => {
  const records = new Map([['c', revoked(initialRecord('c'), 0)]]);
  const copy: KeyCopy = { generation: 4, records, checkedAt: 1_000, readAt: 1_000 };

  it('is used without asking for a while, then serves through an outage for at most KEY_RECORDS_MAX_STALE_MS', () => {
    expect(isFresh(copy, 0, 1_000 + KEY_RECORDS_MAX_AGE_MS - 1)).toBe(true);
    expect(isFresh(copy, 0, 1_000 + KEY_RECORDS_MAX_AGE_MS)).toBe(false);
    // A failed read moves checkedAt, never readAt: the outage cannot keep the copy forever.
    const afterFailures = { ...copy, checkedAt: 1_000 + KEY_RECORDS_MAX_STALE_MS };
    expect(servesWhileUnread(afterFailures, 0, 1_000 + KEY_RECORDS_MAX_STALE_MS - 1)).toBe(true);
    expect(servesWhileUnread(afterFailures, 0, 1_000 + KEY_RECORDS_MAX_STALE_MS)).toBe(false);
    expect(servesWhileUnread(null, 0, 1_000)).toBe(false);
  });

  it('never goes back past a change made in this isolate, even for an answer already on its way', () => {
    // The index answered generation 4 to a request sent before this isolate's change made generation 5.
    expect(afterRead(null, { generation: 4, records: [] }, null, 5, 2_000)).toBeNull();
    expect(isFresh(copy, 5, 1_001)).toBe(false);
    expect(servesWhileUnread(copy, 5, 1_001)).toBe(false);
    const newer = afterRead(copy, { generation: 5, records: [] }, 4, 5, 2_000);
    expect(newer).toMatchObject({ generation: 5, checkedAt: 2_000, readAt: 2_000 });
    // Side by side: an older answer does not replace a newer copy, and "unchanged since 4" does not refresh a copy at 5.
    expect(afterRead(newer, { generation: 4, records: [] }, null, 0, 3_000)).toBe(newer);
    expect(afterRead(newer, null, 4, 0, 3_000)).toBe(newer);
    expect(afterRead(newer, null, 5, 0, 3_000)).toMatchObject({ generation: 5, readAt: 3_000 });
  });

  it('answers 503 once the copy is too old, and uses it before', async () => {
    const down = {
      ...env,
      BOARD: { idFromName: () => ({}), get: () => ({ keyRegistry: () => Promise.reject(new Error('index unavailable')) }) } as never,
    };
    const now = Date.now();
    const signed = async (at: number) => {
      const body = JSON.stringify(heartbeat('stale-copy', 'p', {}, at));
      const timestamp = Math.floor(at / 1000);
      return { body, timestamp: String(timestamp), signature: await signBody(await key('stale-copy'), timestamp, body) };
    };
    expect(await checkClusterSignature(env, 'stale-copy', await signed(now), now)).toBe('ok');
    const later = now + KEY_RECORDS_MAX_AGE_MS + 1;
    expect(await checkClusterSignature(down, 'stale-copy', await signed(later), later)).toBe('ok');
    const tooLate = now + KEY_RECORDS_MAX_STALE_MS + 1;
    await expect(checkClusterSignature(down, 'stale-copy', await signed(tooLate), tooLate)).rejects.toMatchObject({ status: 503, message: KEYS_UNAVAILABLE });
  });
});
