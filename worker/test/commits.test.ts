import { SELF, reset } from 'cloudflare:test';
import { commitsResponseSchema } from '@sqlitening/contract';
import { afterEach, describe, expect, it } from 'vitest';
import { SHA_A, SHA_B, clusterSql, evaluate, heartbeat, post } from './helpers.js';

const SHA_C = 'c'.repeat(40);

afterEach(async () => {
  await reset();
});

/** Sets when the board last heard from a pod. */
function heardAt(cluster: string, pod: string, at: number) {
  return clusterSql(cluster, 'UPDATE pods SET last_heartbeat_at = ? WHERE pod = ?', at, pod);
}

describe('GET /v1/commits', () => {
  it('says which commits are live in which clusters, newest first, counting live pods only', async () => {
    const now = Date.now();
    expect((await post([heartbeat('eu-west', 'web-1'), heartbeat('eu-west', 'web-2'), heartbeat('eu-west', 'web-3', { appGitSha: null })])).status).toBe(202);
    expect(
      (await post([heartbeat('us-east', 'api-1', { appGitSha: SHA_B }), heartbeat('us-east', 'api-2'), heartbeat('us-east', 'old', { appGitSha: SHA_C })]))
        .status,
    ).toBe(202);
    await heardAt('eu-west', 'web-1', now - 60_000);
    await heardAt('eu-west', 'web-2', now - 30_000);
    await heardAt('us-east', 'api-2', now - 90_000);
    await heardAt('us-east', 'api-1', now - 10_000);
    // Past the pod TTL (1h in these tests): no longer live.
    await heardAt('us-east', 'old', now - 2 * 3_600_000);
    // Each cluster's round sends the index its summary, commits included.
    await evaluate('eu-west', now);
    await evaluate('us-east', now);

    const response = await SELF.fetch('https://board.test/v1/commits');
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toMatch(/^"[0-9a-f]{24}"$/);
    const iso = (ms: number) => new Date(ms).toISOString();
    const body = await response.json();
    // The shape the Action reads (git-sha: live), from the contract both import.
    expect(commitsResponseSchema.safeParse(body).success).toBe(true);
    expect(body).toEqual({
      commits: [
        { gitSha: SHA_B, pods: 1, lastSeenAt: iso(now - 10_000), clusters: [{ cluster: 'us-east', pods: 1, lastSeenAt: iso(now - 10_000) }] },
        {
          gitSha: SHA_A,
          pods: 3,
          lastSeenAt: iso(now - 30_000),
          clusters: [
            { cluster: 'eu-west', pods: 2, lastSeenAt: iso(now - 30_000) },
            { cluster: 'us-east', pods: 1, lastSeenAt: iso(now - 90_000) },
          ],
        },
      ],
    });
  });

  it('is empty before any pod reports', async () => {
    expect(await (await SELF.fetch('https://board.test/v1/commits')).json()).toEqual({ commits: [] });
  });
});
