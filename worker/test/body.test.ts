import { describe, expect, it } from 'vitest';
import { HEARTBEAT_LIMITS } from '@sqlitening/contract';
import { DISCARD_MAX_BYTES, readRequestText } from '../src/body.js';

const LIMIT = HEARTBEAT_LIMITS.maxBodyBytes;

/** A request whose body is `total` bytes in 16 KiB pieces, recording how much of it was read and whether it was cancelled. */
function streamedRequest(total: number, headers: Record<string, string> = {}) {
  const seen = { sent: 0, cancelled: false, ended: false };
  const piece = new Uint8Array(16 * 1024).fill(0x78);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (seen.sent >= total) {
        seen.ended = true;
        controller.close();
        return;
      }
      const chunk = piece.subarray(0, Math.min(piece.byteLength, total - seen.sent));
      seen.sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  const request = new Request('https://board.test/v1/heartbeats', { method: 'POST', headers, body, duplex: 'half' } as RequestInit);
  return { request, seen };
}

describe('readRequestText: what a refused body leaves for the next request on its connection', () => {
  it('reads a body within the limit', async () => {
    const { request, seen } = streamedRequest(1000);
    const read = await readRequestText(request, LIMIT);
    expect(read.status).toBe('ok');
    expect(seen).toEqual({ sent: 1000, cancelled: false, ended: true });
  });

  it('refuses a body whose Content-Length is over the limit without reading or cancelling it: the runtime takes care of it', async () => {
    const declared = DISCARD_MAX_BYTES * 2;
    const { request, seen } = streamedRequest(declared, { 'content-length': String(declared) });
    expect(await readRequestText(request, LIMIT)).toEqual({ status: 'too-large', declared });
    expect(seen.cancelled).toBe(false);
    // At most what the stream queues by itself before anyone reads.
    expect(seen.sent).toBeLessThanOrEqual(16 * 1024);
    expect(request.bodyUsed).toBe(false);
  });

  it('refuses a chunked body over the limit, and reads the rest of it rather than cancel it', async () => {
    const { request, seen } = streamedRequest(1024 * 1024);
    expect(await readRequestText(request, LIMIT)).toEqual({ status: 'too-large', declared: null });
    expect(seen).toEqual({ sent: 1024 * 1024, cancelled: false, ended: true });
  });

  it('cancels a chunked body past the bound instead of reading it all', async () => {
    const { request, seen } = streamedRequest(DISCARD_MAX_BYTES * 2);
    expect(await readRequestText(request, LIMIT)).toEqual({ status: 'too-large', declared: null });
    expect(seen.cancelled).toBe(true);
    expect(seen.sent).toBeLessThanOrEqual(DISCARD_MAX_BYTES + 64 * 1024);
  });
});
