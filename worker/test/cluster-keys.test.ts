import { SELF, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { deriveClusterKey } from '../src/cluster-key.js';
import { acceptedVersions, initialRecord, revoked, rotated } from '../src/key-record.js';
import { heartbeat, post } from './helpers.js';

/*
 * Heartbeat keys derived from the root secret (CLUSTER_ROOT_KEY): any
 * cluster's agents sign with its key, printed by scripts/cluster-key.js;
 * rotation and revocation go through the admin routes. Each test uses
 * clusters of its own: the worker keeps a copy of the key records per isolate.
 */

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
const key = (cluster: string, version = 1) => deriveClusterKey(env.CLUSTER_ROOT_KEY, cluster, version);
const send = async (cluster: string, secret: string, pod = 'web-1') => (await post(heartbeat(cluster, pod), { secret })).status;

function admin(path: string, method = 'POST', headers: Record<string, string> = ADMIN): Promise<Response> {
  return SELF.fetch(`https://board.test/v1/admin/clusters/${path}`, { method, headers });
}

describe('cluster keys derived from the root secret', () => {
  it("accepts any cluster's derived key, and only for that cluster", async () => {
    expect(await send('fleet-0042', await key('fleet-0042'))).toBe(202);
    expect(await send('fleet-0043', await key('fleet-0042'))).toBe(401);
    expect(await send('fleet-0042', await deriveClusterKey('another-root-secret-0123456789abcdef', 'fleet-0042', 1))).toBe(401);
    // A version the cluster was never rotated to.
    expect(await send('fleet-0042', await key('fleet-0042', 2))).toBe(401);
  });

  it('refuses a wrong key and a revoked cluster with the same answer as a cluster nobody configured', async () => {
    const wrong = await post(heartbeat('fleet-7', 'web-1'), { secret: 'not-a-derived-key-0123456789' });
    expect(wrong.status).toBe(401);
    expect((await admin('fleet-8/revoke')).status).toBe(200);
    const gone = await post(heartbeat('fleet-8', 'web-1'), { secret: await key('fleet-8') });
    expect(gone.status).toBe(401);
    expect(await gone.json()).toEqual(await wrong.json());
  });

  it('derives different keys for other names, versions and roots, as 64 hex digits', async () => {
    const keys = new Set([await key('a'), await key('b'), await key('a', 2), await deriveClusterKey('z'.repeat(32), 'a', 1)]);
    expect(keys.size).toBe(4);
    for (const k of keys) expect(k).toMatch(/^[0-9a-f]{64}$/);
    await expect(deriveClusterKey('short', 'a', 1)).rejects.toThrow('Expected a root secret of at least 32 characters, got 5');
    await expect(deriveClusterKey(env.CLUSTER_ROOT_KEY, 'a:b', 1)).rejects.toThrow(/^Expected a cluster name of 1-63 letters/);
    await expect(deriveClusterKey(env.CLUSTER_ROOT_KEY, 'a', 0)).rejects.toThrow('Expected a key version as a whole number from 1, got 0');
  });
});

describe('rotation', () => {
  it('accepts the new key at once and the old one during the overlap; other clusters keep theirs', async () => {
    const rotation = await admin('rot-1/rotate?overlap=1h');
    expect(rotation.status).toBe(200);
    const status = (await rotation.json()) as Record<string, unknown>;
    expect(status).toMatchObject({ cluster: 'rot-1', version: 2, acceptedVersions: [2, 1], previousVersion: 1, revokedAt: null });
    expect(status.printKey).toBe('CLUSTER_ROOT_KEY=… node worker/scripts/cluster-key.js key rot-1 --version 2');
    expect(await send('rot-1', await key('rot-1', 2), 'new')).toBe(202);
    expect(await send('rot-1', await key('rot-1', 1), 'old')).toBe(202);
    expect(await send('rot-2', await key('rot-2', 1))).toBe(202);
    expect(await send('rot-2', await key('rot-2', 2))).toBe(401);
  });

  it('with no overlap, the old key stops at once', async () => {
    expect((await admin('rot-3/rotate?overlap=0s')).status).toBe(200);
    expect(await send('rot-3', await key('rot-3', 1))).toBe(401);
    expect(await send('rot-3', await key('rot-3', 2))).toBe(202);
  });

  it('ends the overlap at its time (the key record, at any clock)', () => {
    const record = rotated(initialRecord('c'), 1_000, 60_000);
    expect(acceptedVersions(record, 1_000)).toEqual([2, 1]);
    expect(acceptedVersions(record, 60_999)).toEqual([2, 1]);
    expect(acceptedVersions(record, 61_000)).toEqual([2]);
    expect(acceptedVersions(rotated(record, 2_000, 60_000), 2_000)).toEqual([3, 2]);
  });
});

describe('revocation', () => {
  it("refuses every key of one cluster, its CLUSTER_SECRETS secret too, and no other cluster's", async () => {
    expect(await send('legacy-revoked', 'legacy-revoked-secret-0123')).toBe(202);
    expect(await send('rev-1', await key('rev-1'))).toBe(202);
    const revocation = await admin('legacy-revoked/revoke');
    expect(await revocation.json()).toMatchObject({ cluster: 'legacy-revoked', acceptedVersions: [], printKey: null });
    expect(await send('legacy-revoked', 'legacy-revoked-secret-0123', 'web-2')).toBe(401);
    expect(await send('legacy-revoked', await key('legacy-revoked'), 'web-3')).toBe(401);
    expect(await send('rev-1', await key('rev-1'), 'web-2')).toBe(202);
  });

  it('brings a revoked cluster back by rotating it: a new key, never the revoked one', async () => {
    await admin('rev-2/rotate?overlap=1h');
    await admin('rev-2/revoke');
    const back = (await (await admin('rev-2/rotate?overlap=1h')).json()) as Record<string, unknown>;
    expect(back).toMatchObject({ version: 3, acceptedVersions: [3], previousVersion: null, revokedAt: null });
    expect(await send('rev-2', await key('rev-2', 2))).toBe(401);
    expect(await send('rev-2', await key('rev-2', 3))).toBe(202);
    expect(acceptedVersions(revoked(initialRecord('c'), 5), 5)).toEqual([]);
  });
});

describe('moving from CLUSTER_SECRETS', () => {
  it("accepts a listed cluster's secret and its derived key side by side, so agents move one at a time", async () => {
    expect(await send('us-east', 'us-east-secret-0123456789', 'on-secret')).toBe(202);
    expect(await send('us-east', await key('us-east'), 'on-derived-key')).toBe(202);
  });
});

describe('the admin routes', () => {
  it('need the admin token, compared as a whole', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${env.ADMIN_TOKEN}x`, `bearer ${env.ADMIN_TOKEN}`, env.ADMIN_TOKEN]) {
      const response = await admin('adm-1/rotate', 'POST', authorization === undefined ? {} : { authorization });
      expect(response.status, authorization).toBe(401);
      expect(await response.json()).toEqual({ status: 401, error: 'admin routes need Authorization: Bearer <ADMIN_TOKEN>' });
    }
    const status = await admin('adm-1/key', 'GET');
    expect(await status.json()).toMatchObject({ cluster: 'adm-1', version: 1, acceptedVersions: [1] });
  });

  it('say what was expected and what came', async () => {
    const overlap = await admin('adm-2/rotate?overlap=soon');
    expect(overlap.status).toBe(400);
    expect(await overlap.json()).toEqual({ status: 400, error: 'invalid overlap: expected a number with a unit (500ms, 30s, 10m, 1h, 2d), got "soon"' });
    expect(await (await admin('adm-2/rotate?overlap=90d')).json()).toEqual({ status: 400, error: 'invalid overlap: expected at most 30d, got "90d"' });
    const name = await admin('a:b/revoke');
    expect(name.status).toBe(400);
    expect(((await name.json()) as { error: string }).error).toBe(
      'expected a cluster name (1-63 letters, digits, dots, dashes or underscores, starting with a letter or digit), got "a:b"',
    );
  });

  it('are off without ADMIN_TOKEN', async () => {
    const worker = (await import('../src/index.js')).default;
    const response = await worker.fetch(
      new Request('https://board.test/v1/admin/clusters/adm-3/revoke', { method: 'POST', headers: ADMIN }) as never,
      { ...env, ADMIN_TOKEN: '' },
      {} as ExecutionContext,
    );
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ status: 404, error: 'the admin routes are off: set the ADMIN_TOKEN secret to use them' });
  });

  it('say what is wrong with an ADMIN_TOKEN too short to use, never its value', async () => {
    const worker = (await import('../src/index.js')).default;
    const response = await worker.fetch(
      new Request('https://board.test/v1/admin/clusters/adm-4/key', { headers: { authorization: 'Bearer short-token' } }) as never,
      { ...env, ADMIN_TOKEN: 'short-token' },
      {} as ExecutionContext,
    );
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 503, error: 'invalid ADMIN_TOKEN: expected at least 16 characters, got 11 (value not shown)' });
  });
});
