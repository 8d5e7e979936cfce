import { reset } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { escapeMrkdwn, jsonPayload, mrkdwnCode, slackPayload, type Alert } from '../src/alerts.js';
import { clusterSql, evaluate, heartbeat, post, received, waitFor } from './helpers.js';

const HOSTILE_POD = 'web-1` <!channel> <https://evil.example/login|Re-authenticate>';
const HOSTILE_TASK = '<!here> & <@U123>';

beforeEach(async () => {
  await received(true);
});
afterEach(async () => {
  await reset();
});

describe('text in Slack mrkdwn', () => {
  it("escapes &, < and > as Slack asks, and keeps a code span's backticks its own", () => {
    expect(escapeMrkdwn('a & b <!channel> <https://x|y>')).toBe('a &amp; b &lt;!channel&gt; &lt;https://x|y&gt;');
    expect(mrkdwnCode('web-1` <!here>')).toBe("`web-1' &lt;!here&gt;`");
  });

  it('leaves no live mention or link in an alert, and the JSON body holds the text exactly', () => {
    const alert: Alert = {
      id: 1,
      kind: 'stale',
      cluster: 'eu-west',
      at: '2026-11-26T12:00:00.000Z',
      reasons: [`task ${HOSTILE_TASK} never succeeded`],
      pods: [{ pod: HOSTILE_POD, stale: true, reasons: [`task ${HOSTILE_TASK} never succeeded`] }],
    };
    const text = JSON.parse(slackPayload(alert)).text as string;
    expect(text).not.toMatch(/<[!@#]|<https?:/);
    expect(text).toContain('&lt;!channel&gt; &lt;https://evil.example/login|Re-authenticate&gt;');
    // One code span, closed where it should be: the pod's own backtick is replaced.
    expect(text.split('\n')[1]).toBe(
      "• `web-1' &lt;!channel&gt; &lt;https://evil.example/login|Re-authenticate&gt;`: task &lt;!here&gt; &amp; &lt;@U123&gt; never succeeded",
    );
    expect(JSON.parse(jsonPayload(alert))).toEqual({ type: 'sqlitening.alert', version: 1, ...alert });
  });
});

describe('alerts about pods with markup in their names', () => {
  it('are refused at ingest, and escaped in both webhook kinds when such a row is already stored', async () => {
    expect((await post(heartbeat('eu-west', HOSTILE_POD))).status).toBe(400);
    // A row stored before pod names were checked.
    expect((await post(heartbeat('eu-west', 'web-2'))).status).toBe(202);
    await clusterSql(
      'eu-west',
      'INSERT INTO pods (pod, last_heartbeat_at, last_success_at, db_sha256, tasks) VALUES (?, ?, ?, ?, ?)',
      HOSTILE_POD,
      Date.now(),
      Date.now(),
      '1'.repeat(64),
      JSON.stringify([{ name: HOSTILE_TASK, ageSeconds: null, limitSeconds: 600, ok: false }]),
    );
    expect(await evaluate('eu-west')).toMatchObject({ state: 'stale' });
    const log = await waitFor(async () => {
      const all = await received();
      return all.some((r) => r.path === '/fail-2/json' && r.status === 200) ? all : undefined;
    });
    const slack = JSON.parse(log.find((r) => r.path === '/slack')!.body).text as string;
    expect(slack).not.toMatch(/<[!@#]|<https?:/);
    expect(slack).toContain(
      "• `web-1' &lt;!channel&gt; &lt;https://evil.example/login|Re-authenticate&gt;`: task &lt;!here&gt; &amp; &lt;@U123&gt; never succeeded",
    );
    const json = JSON.parse(log.find((r) => r.path === '/fail-2/json' && r.status === 200)!.body);
    expect(json.pods.find((p: { pod: string }) => p.pod === HOSTILE_POD)).toEqual({
      pod: HOSTILE_POD,
      stale: true,
      reasons: [`task ${HOSTILE_TASK} never succeeded (limit 10m)`],
    });
  });
});
