import { HEARTBEAT_LIMITS, readBoundedText } from '@sqlitening/contract';

/**
 * How much of a refused request body (a 413) the worker goes on reading, and
 * throws away, before it answers, once it has started reading it.
 *
 * Why not simply cancel it: when a handler answers having cancelled the
 * request body, or having read only part of it, workerd's HTTP server reads
 * at most 64 KiB (or 1 s) more of it and then closes the connection, though
 * the answer it already sent did not say `Connection: close` (a `Connection`
 * header set by the worker does not change that). A client that keeps its
 * connections alive sends its next request on that connection and gets a
 * reset. Under `wrangler dev` that client is wrangler's own proxy, which
 * pools its connections to the worker's workerd: the next request, whoever
 * sent it, fails with "Network connection lost", which the proxy turns into
 * a 503 "Your worker restarted mid-request", a 500, or wrangler exiting.
 * Leaving the rest of a half-read body alone, neither read nor cancelled, is
 * worse: requests hang, then wrangler exits.
 *
 * What works: a body the worker never touches is taken care of by the
 * runtime (measured up to 64 MiB under wrangler dev), so a body whose
 * Content-Length is over the limit is refused without a read or a cancel;
 * and a body without a length (chunked), found too long while reading it, is
 * read to its end.
 *
 * Why a bound: every byte the worker reads costs CPU in this invocation
 * (workerd hands the body over in pieces of about 4 KiB), and a client can
 * send far more than we would ever accept. A chunked body longer than this
 * is cancelled as before, and its connection closed by workerd (README,
 * "Oversize bodies").
 */
export const DISCARD_MAX_BYTES = 16 * HEARTBEAT_LIMITS.maxBodyBytes;

/** Reads `reader`'s stream to its end, throwing the bytes away; cancels it instead once more than `budget` bytes have gone by. */
async function discard(reader: ReadableStreamDefaultReader<Uint8Array>, budget: number): Promise<void> {
  let left = budget;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    left -= value.byteLength;
    if (left < 0) {
      await reader.cancel();
      return;
    }
  }
}

/**
 * The request's body as a stream for readers like `readBoundedText` that
 * cancel once they have seen enough: cancelling it before the first read
 * leaves the body untouched, and after, reads the rest (see `DISCARD_MAX_BYTES`).
 */
function refusable(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let taken = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reader ??= body.getReader();
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        taken += value.byteLength;
        controller.enqueue(value);
      },
      // A client that goes away while we read gets no answer anyway: nothing to report.
      cancel: () => (reader ? discard(reader, DISCARD_MAX_BYTES - taken).catch(() => undefined) : undefined),
    },
    { highWaterMark: 0 },
  );
}

/** `readBoundedText` of a request, leaving its connection usable when the body is refused (see `DISCARD_MAX_BYTES`). */
export async function readRequestText(request: Request, limit: number): ReturnType<typeof readBoundedText> {
  return readBoundedText({ headers: request.headers, body: request.body && refusable(request.body) }, limit);
}
