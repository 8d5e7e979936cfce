import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../src/index.js';
import { sameSecret } from '../src/same-secret.js';

/** The worker's fetch handler called directly, with an environment that sets a read token. */
async function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`https://board.test${path}`, { headers }) as never, { ...env, READ_TOKEN: 'read-token-123' }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe('optional bearer token for reads', () => {
  it('refuses reads without it and serves them with it', async () => {
    for (const path of ['/', '/v1/board', '/v1/commits', '/badge/eu-west.svg', '/clusters/ap-south', '/v1/clusters/ap-south']) {
      const refused = await get(path);
      expect(refused.status, path).toBe(401);
      expect(await refused.json()).toEqual({ status: 401, error: 'reads need Authorization: Bearer <token>' });
      for (const wrong of ['Bearer wrong', 'Bearer read-token-12', 'Bearer read-token-1234', 'bearer read-token-123', 'read-token-123']) {
        expect((await get(path, { authorization: wrong })).status, `${path} ${wrong}`).toBe(401);
      }
      expect((await get(path, { authorization: 'Bearer read-token-123' })).status, path).toBe(200);
    }
  });

  it('compares in constant time: equal secrets of any length match, different ones do not', async () => {
    expect(await sameSecret('Bearer read-token-123', 'Bearer read-token-123')).toBe(true);
    expect(await sameSecret('', '')).toBe(true);
    expect(await sameSecret('Bearer read-token-12', 'Bearer read-token-123')).toBe(false);
    expect(await sameSecret('x'.repeat(10_000), 'Bearer read-token-123')).toBe(false);
  });

  it('answers 404 for unknown routes', async () => {
    expect((await get('/nowhere')).status).toBe(404);
  });
});
