import { SELF, reset } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterView } from '../src/cluster-view.js';
import { heartbeat, post } from './helpers.js';

afterEach(async () => {
  await reset();
});

const MIRROR = { index: 1, location: 'https://mirror.example.com/www' };

async function clusterJson(id: string): Promise<ClusterView> {
  const response = await SELF.fetch(`https://board.test/v1/clusters/${id}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { cluster: ClusterView }).cluster;
}

/** One pod's row of the cluster page. */
function podRow(html: string, pod: string): string {
  const start = html.indexOf(`data-pod="${pod}"`);
  expect(start).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf('</tr>', start));
}

describe('pods that read from a mirror', () => {
  it('are marked in the cluster JSON and page; pods on their first store, and agents that do not say, are not', async () => {
    const old = heartbeat('eu-west', 'web-old');
    delete old.store;
    expect(
      (await post([heartbeat('eu-west', 'web-1', { store: MIRROR }), heartbeat('eu-west', 'web-2', { store: { index: 0, location: 's3://site' } }), old]))
        .status,
    ).toBe(202);

    const cluster = await clusterJson('eu-west');
    expect(cluster.podsOnMirror).toBe(1);
    expect(cluster.pods.map((p) => [p.pod, p.onMirror, p.store])).toEqual([
      ['web-1', true, MIRROR],
      ['web-2', false, { index: 0, location: 's3://site' }],
      ['web-old', false, null],
    ]);

    const html = await (await SELF.fetch('https://board.test/clusters/eu-west')).text();
    expect(podRow(html, 'web-1')).toContain(
      `<small class="mirror" data-store="1" title="reads from store 1, not its first: ${MIRROR.location}">mirror 1</small>`,
    );
    expect(podRow(html, 'web-2')).not.toContain('class="mirror"');
    expect(podRow(html, 'web-old')).not.toContain('class="mirror"');
    expect(html).toContain('1 pod reading from a mirror, not the first store');

    // Back on its first store: the next heartbeat clears the mark.
    expect((await post(heartbeat('eu-west', 'web-1', { store: { index: 0, location: 's3://site' } }))).status).toBe(202);
    expect((await clusterJson('eu-west')).podsOnMirror).toBe(0);
  });

  it('escapes the location on the page, and refuses one past the limit', async () => {
    const location = 'https://cdn.example.com/"><script>alert(1)</script>';
    expect((await post(heartbeat('eu-west', 'web-1', { store: { index: 2, location } }))).status).toBe(202);
    const html = await (await SELF.fetch('https://board.test/clusters/eu-west')).text();
    expect(html).not.toContain('<script>alert(1)');
    expect(podRow(html, 'web-1')).toContain('&lt;script&gt;');
    expect((await post(heartbeat('eu-west', 'web-2', { store: { index: 1, location: `https://${'x'.repeat(300)}` } }))).status).toBe(400);
    expect((await post(heartbeat('eu-west', 'web-3', { store: { index: 99, location: 's3://site' } }))).status).toBe(400);
  });

  it('takes heartbeats with fields it does not know, as a board older than its agents must', async () => {
    const newer = {
      ...heartbeat('eu-west', 'web-1', { store: MIRROR }),
      cdn: { hit: true },
      lastInstall: { method: 'full', bytes: 1, at: new Date().toISOString(), store: MIRROR },
    };
    expect((await post(JSON.stringify(newer))).status).toBe(202);
    expect((await clusterJson('eu-west')).pods[0]).toMatchObject({ pod: 'web-1', store: MIRROR });
  });
});
