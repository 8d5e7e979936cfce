import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../src/index.js';

/** The worker's fetch handler called directly, with an environment that sets a read token. */
async function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`https://board.test${path}`, { headers }) as never, { ...env, READ_TOKEN: 'read-token-123' }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe('optional bearer token for reads', () => {
  it('refuses reads without it and serves them with it', async () => {
    for (const path of ['/', '/v1/board', '/badge/eu-west.svg']) {
      const refused = await get(path);
      expect(refused.status, path).toBe(401);
      expect(await refused.json()).toEqual({ status: 401, error: 'reads need Authorization: Bearer <token>' });
      expect((await get(path, { authorization: 'Bearer wrong' })).status).toBe(401);
      expect((await get(path, { authorization: 'Bearer read-token-123' })).status, path).toBe(200);
    }
  });

  it('answers 404 for unknown routes', async () => {
    expect((await get('/nowhere')).status).toBe(404);
  });
});
