import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

/** Bytes per read: one buffer, reused. */
const READ_BYTES = 1024 * 1024;

/**
 * Reads a whole file into `streams` through one buffer, reused once every stream has copied each read, then
 * ends them and waits for them (and for `done`: what the caller's pipelines settle) to finish. The bytes read.
 * A read stream's fresh buffer per read lived through the reads in flight into the old generation, which only
 * full collections free (measured, hashing 1 GiB: 80 MiB of dead read buffers at peak). The first failure of
 * a stream or of `done` ends the loop whatever write it waits for (a destroyed stream may never call back a
 * write it had taken), and is what this throws rather than a later write's "stream destroyed".
 */
export async function feedFile(
  handle: FileHandle,
  streams: readonly Writable[],
  options: { done?: readonly Promise<unknown>[]; onProgress?: ((bytesRead: number) => void) | undefined } = {},
): Promise<number> {
  const done = options.done ?? [];
  let failure: unknown;
  const failed = new Promise<never>((_, reject) => {
    const fail = (error: unknown): void => {
      failure ??= error;
      reject(error);
    };
    for (const stream of streams) stream.once('error', fail);
    for (const settled of done) settled.catch(fail);
  });
  failed.catch(() => {});
  const step = <T>(work: Promise<T>): Promise<T> => Promise.race([work, failed]);
  try {
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    let size = 0;
    for (;;) {
      const { bytesRead } = await step(handle.read(buffer, 0, buffer.length, size));
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      await step(Promise.all(streams.map((stream) => writeCopied(stream, chunk))));
      size += bytesRead;
      options.onProgress?.(size);
    }
    for (const stream of streams) stream.end();
    await step(Promise.all([...streams.map((stream) => finished(stream)), ...done]));
    return size;
  } catch (error) {
    throw failure ?? error;
  }
}

/** Writes `chunk` and resolves once the stream has processed it (copied it), so the caller may reuse it. */
function writeCopied(stream: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (error) => (error ? reject(error) : resolve()));
  });
}
