import { SELF, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { SIGNATURE_WINDOW_SECONDS, signBody } from '@sqlitening/contract';
import type { ClusterBoard } from '../src/cluster-board.js';
import { SECRETS, clusterStub, evaluate, heartbeat, post } from './helpers.js';

describe('POST /v1/heartbeats: authentication', () => {
  it('accepts a signed heartbeat, and a batch', async () => {
    const one = await post(heartbeat('eu-west', 'web-1'));
    expect(one.status).toBe(202);
    expect(await one.json()).toEqual({ accepted: 1 });
    const batch = await post([heartbeat('eu-west', 'web-2'), heartbeat('eu-west', 'web-3')]);
    expect(await batch.json()).toEqual({ accepted: 2 });
  });

  const cases: Array<[string, Parameters<typeof post>[1], string]> = [
    ['missing signature', { signature: null }, 'signature missing'],
    ['wrong secret', { secret: 'not-the-right-secret-at-all' }, 'signature mismatch'],
    ["another cluster's secret", { secret: SECRETS['us-east']! }, 'signature mismatch'],
    ['expired timestamp', { timestamp: Math.floor(Date.now() / 1000) - 600 }, 'signature expired'],
    ['timestamp from the future', { timestamp: Math.floor(Date.now() / 1000) + 600 }, 'signature expired'],
    ['malformed signature', { signature: 'sha256=abc' }, 'signature malformed'],
  ];
  for (const [name, options, message] of cases) {
    it(`refuses ${name} with 401`, async () => {
      const response = await post(heartbeat('eu-west', 'web-1'), options);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ status: 401, error: message });
    });
  }

  it('accepts every secret of a cluster in rotation, and no other', async () => {
    expect((await post(heartbeat('rotating', 'r-1'), { secret: 'rotating-old-secret-0123' })).status).toBe(202);
    expect((await post(heartbeat('rotating', 'r-2'), { secret: 'rotating-new-secret-0123' })).status).toBe(202);
    expect((await post(heartbeat('rotating', 'r-3'), { secret: SECRETS['eu-west']! })).status).toBe(401);
  });

  it('refuses a cluster it has no secret for, as a mismatch', async () => {
    const response = await post(heartbeat('unknown-cluster', 'p'), { secret: 'whatever-secret-0123456789' });
    expect(response.status).toBe(401);
  });

  for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf']) {
    it(`refuses a cluster named ${name} with 401, like any unknown cluster (not a 500)`, async () => {
      expect((await post(heartbeat(name, 'p'), { secret: 'whatever-secret-0123456789' })).status).toBe(401);
      expect((await post(heartbeat(name, 'p'), { signature: null })).status).toBe(401);
    });
  }

  it('accepts a signed request once: a replay gets 401', async () => {
    const body = JSON.stringify(heartbeat('eu-west', 'web-9'));
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = await signBody(SECRETS['eu-west']!, timestamp, body);
    expect((await post(body, { timestamp, signature })).status).toBe(202);
    const replay = await post(body, { timestamp, signature });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual({ status: 401, error: 'signature replayed' });
  });

  it('refuses the replay of a request signed ahead of its clock, even after a round forgets old signatures', async () => {
    // Signed 290 s in the future (a pod whose clock is fast): inside the 300 s window, so accepted once.
    const body = JSON.stringify(heartbeat('eu-west', 'skewed'));
    const timestamp = Math.floor(Date.now() / 1000) + 290;
    const signature = await signBody(SECRETS['eu-west']!, timestamp, body);
    expect((await post(body, { timestamp, signature })).status).toBe(202);
    expect((await post(body, { timestamp, signature })).status).toBe(401);
    // The signature is kept until its own timestamp leaves the window (plus a margin), not until now + the window.
    const expiresAt = await runInDurableObject(clusterStub('eu-west'), (_: ClusterBoard, state) =>
      Number(state.storage.sql.exec('SELECT expires_at FROM signatures WHERE signature = ?', signature).one().expires_at),
    );
    expect(expiresAt).toBe((timestamp + SIGNATURE_WINDOW_SECONDS + 60) * 1000);
    // A round 361 s from now once forgot it, and the replay (still inside the window) got in.
    await evaluate('eu-west', Date.now() + 361_000);
    const replay = await post(body, { timestamp, signature });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual({ status: 401, error: 'signature replayed' });
  });
});

describe('POST /v1/heartbeats: bad bodies', () => {
  it('400 for JSON that does not parse, with the reason', async () => {
    const response = await post('{"version": 1,');
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/^invalid heartbeat: expected JSON/);
  });

  it('400 for a heartbeat that breaks the schema, naming the field', async () => {
    const response = await post(JSON.stringify({ ...heartbeat('eu-west', 'web-1'), sentAt: 'now' }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/sentAt: expected a UTC time/);
  });

  it('400 for a pod name that could be markup (Slack, HTML), naming the rule', async () => {
    for (const pod of ['web-1` <!channel> <https://evil.example/login|Re-authenticate>', '<img src=x onerror=alert(1)>', 'web 1', 'x'.repeat(254)]) {
      const response = await post(heartbeat('eu-west', pod));
      expect(response.status, pod).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe(
        'invalid heartbeat: pod: expected 1-253 letters, digits, dots, dashes or underscores, starting with a letter or digit, got ' +
          (JSON.stringify(pod).length > 80 ? `${JSON.stringify(pod).slice(0, 77)}...` : JSON.stringify(pod)),
      );
    }
    expect((await post(heartbeat('eu-west', 'ip-10-0-1-12.eu-west-1.compute.internal'))).status).toBe(202);
  });

  it('400 for a batch from two clusters', async () => {
    const response = await post([heartbeat('eu-west', 'a'), heartbeat('us-east', 'b')]);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe('a batch must come from one cluster, got eu-west, us-east');
  });

  it('413 for a body over the limit, whether or not Content-Length says so', async () => {
    const huge = JSON.stringify({ ...heartbeat('eu-west', 'web-1'), padding: 'x'.repeat(300 * 1024) });
    expect((await post(huge)).status).toBe(413);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 40; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(10_000)));
        controller.close();
      },
    });
    const chunked = await SELF.fetch('https://board.test/v1/heartbeats', { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it('400 for an empty body and for binary junk; never a 500', async () => {
    expect((await post('')).status).toBe(400);
    const junk = await SELF.fetch('https://board.test/v1/heartbeats', { method: 'POST', body: new Uint8Array([0xff, 0xfe, 0x00, 0x80]) });
    expect(junk.status).toBe(400);
    expect((await SELF.fetch('https://board.test/v1/heartbeats', { method: 'POST', body: 'null' })).status).toBe(400);
  });
});
