import { createExecutionContext, env, reset, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody } from '@sqlitening/contract';
import { BoardIndex } from '../src/board-index.js';
import { ClusterBoard } from '../src/cluster-board.js';
import worker from '../src/index.js';
import { clusterStub, heartbeat, indexStub, post, staleTasks } from './helpers.js';

/*
 * The worker and its Durable Objects run in this test's isolate, so what
 * they log goes through this `console`: every line is captured and searched
 * for the secrets.
 */
let lines: string[] = [];
beforeEach(() => {
  lines = [];
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
    });
  }
});
afterEach(async () => {
  vi.restoreAllMocks();
  await reset();
});

const SHORT_SECRET = 'hunter2-short';
const SLACK_TOKEN = 'T000/B000/XXXXsecretTOKEN';
const DEAD_MAN_TOKEN = 'a1b2c3d4-dead-man-uuid';

/** A signed heartbeat through the worker's fetch handler, with some settings replaced. */
async function ingestWith(overrides: Partial<Env>, secret = SHORT_SECRET): Promise<Response> {
  const body = JSON.stringify(heartbeat('eu-west', 'web-1'));
  const timestamp = Math.floor(Date.now() / 1000);
  const request = new Request('https://board.test/v1/heartbeats', {
    method: 'POST',
    headers: { [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: await signBody(secret, timestamp, body) },
    body,
  });
  const ctx = createExecutionContext();
  const response = await worker.fetch(request as never, { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe('logs', () => {
  it('name a bad CLUSTER_SECRETS and the problem without the secret; the client gets a request id to quote', async () => {
    const response = await ingestWith({ CLUSTER_SECRETS: JSON.stringify({ 'eu-west': SHORT_SECRET }) });
    expect(response.status).toBe(500);
    const body = (await response.json()) as { status: number; error: string; requestId: string };
    expect(body).toMatchObject({ status: 500, error: 'internal error' });
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const logged = lines.filter((l) => l.includes(body.requestId));
    expect(logged).toHaveLength(1);
    const entry = JSON.parse(logged[0]!);
    expect(entry).toMatchObject({
      message: 'request failed',
      requestId: body.requestId,
      route: 'POST /v1/heartbeats',
      error: 'SettingsError: invalid CLUSTER_SECRETS: eu-west.0: expected a secret of at least 16 characters (value not shown)',
    });
    expect(lines.join('\n')).not.toContain(SHORT_SECRET);
  });

  it('name CLUSTER_SECRETS that is not JSON without quoting any of it', async () => {
    const response = await ingestWith({ CLUSTER_SECRETS: `{"eu-west": "${SHORT_SECRET}-0123456789"` });
    expect(response.status).toBe(500);
    expect(lines.join('\n')).toContain('SettingsError: CLUSTER_SECRETS is not valid JSON');
    expect(lines.join('\n')).not.toContain(SHORT_SECRET);
  });

  it("name a bad webhook URL without the URL when a cluster's alarm fails, and the alarm keeps running", async () => {
    expect((await post(heartbeat('eu-west', 'web-1', { tasks: staleTasks }))).status).toBe(202);
    const badWebhooks = JSON.stringify([{ url: `hooks.slack.com/services/${SLACK_TOKEN}`, kind: 'slack' }]);
    await runInDurableObject(clusterStub('eu-west'), async (_: ClusterBoard, state) => {
      await state.storage.deleteAlarm();
      await new ClusterBoard(state, { ...env, WEBHOOKS: badWebhooks }).alarm();
      // Tried again in a minute, rather than dropped after the platform's retries.
      expect(await state.storage.getAlarm()).toBeGreaterThan(Date.now());
    });
    const entry = JSON.parse(lines.find((l) => l.includes('cluster round failed'))!);
    expect(entry).toMatchObject({
      message: 'cluster round failed',
      cluster: 'eu-west',
      error: 'SettingsError: invalid WEBHOOKS: 0.url: expected an http(s) URL (value not shown)',
    });
    expect(lines.join('\n')).not.toContain(SLACK_TOKEN);
  });

  it("name a bad DEAD_MAN_URL without the URL when the index's alarm fails", async () => {
    expect((await post(heartbeat('ap-south', 'ap-1'))).status).toBe(202);
    await runInDurableObject(indexStub(), async (_: BoardIndex, state) => {
      await new BoardIndex(state, { ...env, DEAD_MAN_URL: `hc-ping.com/${DEAD_MAN_TOKEN}` }).alarm();
      expect(await state.storage.getAlarm()).toBeGreaterThan(Date.now());
    });
    const entry = JSON.parse(lines.find((l) => l.includes('board index round failed'))!);
    expect(entry.error).toBe('SettingsError: invalid DEAD_MAN_URL: (document): expected an http(s) URL (value not shown)');
    expect(lines.join('\n')).not.toContain(DEAD_MAN_TOKEN);
  });

  it('keep webhook URLs out of delivery errors shown on the board', async () => {
    // Nothing listens on port 9: the fetch fails with the runtime's own message.
    const url = `http://127.0.0.1:9/services/${SLACK_TOKEN}`;
    expect((await post(heartbeat('eu-west', 'web-1', { tasks: staleTasks }))).status).toBe(202);
    const errors = await runInDurableObject(clusterStub('eu-west'), async (_: ClusterBoard, state) => {
      await new ClusterBoard(state, { ...env, WEBHOOKS: JSON.stringify([{ url, kind: 'json' }]) }).evaluate();
      return state.storage.sql.exec('SELECT last_error FROM deliveries').toArray();
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]!.last_error).toBeTruthy();
    expect(String(errors[0]!.last_error)).not.toContain(SLACK_TOKEN);
    expect(lines.join('\n')).not.toContain(SLACK_TOKEN);
  });

  it('cut any configured secret out of a logged error, whatever its message says', async () => {
    const { logError } = await import('../src/log.js');
    const settings = { CLUSTER_SECRETS: JSON.stringify({ 'eu-west': 'eu-west-secret-0123456789' }), READ_TOKEN: 'read-token-0123456789' };
    logError(settings, 'test', { route: 'GET /' }, new Error('boom: eu-west-secret-0123456789 and read-token-0123456789'));
    expect(JSON.parse(lines.at(-1)!).error).toBe('Error: boom: [secret] and [secret]');
    expect(lines.join('\n')).not.toContain('0123456789');
  });
});
