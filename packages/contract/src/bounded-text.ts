/** What reading a body within a size limit gave: its text, or why there is none. */
export type BoundedText = { status: 'ok'; text: string } | { status: 'too-large'; declared: number | null } | { status: 'not-utf8' };

/**
 * Reads a request or response body as UTF-8 text, refusing more than `limit`
 * bytes whatever Content-Length claims: the stream is cancelled as soon as
 * the limit is passed. Web streams only, so the board (workerd) and the
 * Action (Node) share it; each turns a refusal into its own error.
 */
export async function readBoundedText(message: { headers: Headers; body: ReadableStream<Uint8Array> | null }, limit: number): Promise<BoundedText> {
  const declared = Number(message.headers.get('content-length') ?? 0);
  if (declared > limit) {
    await message.body?.cancel();
    return { status: 'too-large', declared };
  }
  if (!message.body) return { status: 'ok', text: '' };
  const reader = message.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      return { status: 'too-large', declared: null };
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return { status: 'ok', text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes) };
  } catch {
    return { status: 'not-utf8' };
  }
}
