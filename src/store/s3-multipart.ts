import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { reclaimReadBuffers } from '../reclaim-buffers.js';

/*
 * A multipart upload from a stream through a fixed pool of part buffers.
 * Not @aws-sdk/lib-storage's Upload: it concatenates each part out of the
 * stream's chunks into new buffers, and a 1 GiB publish peaked at over
 * 200 MiB. Here each part is read into a buffer of the pool, sent as it is
 * (the SDK can retry a part, a buffer being rewindable), and the buffer goes
 * back to the pool: memory is (queueSize + 1) × partSize whatever the size.
 * Parts become an object only when the upload is completed, so readers never
 * see a partial one; on any failure the upload is aborted.
 */

interface Part {
  buffer: Buffer;
  length: number;
}

export interface UploadOptions {
  partSize: number;
  queueSize: number;
  signal?: AbortSignal | undefined;
  onProgress?: ((sentBytes: number) => void) | undefined;
}

export interface MultipartTarget {
  Bucket: string;
  Key: string;
  ContentType?: string | undefined;
  CacheControl?: string | undefined;
}

export async function uploadStream(client: S3Client, target: MultipartTarget, body: Readable, options: UploadOptions): Promise<{ etag: string }> {
  try {
    return await upload(client, target, body, options);
  } finally {
    // Whatever the outcome, the source is done with (a file stream left paused would keep its descriptor).
    body.destroy();
  }
}

async function upload(client: S3Client, target: MultipartTarget, body: Readable, options: UploadOptions): Promise<{ etag: string }> {
  const call = { abortSignal: options.signal };
  const pool = new PartPool(options.partSize, options.queueSize + 1);
  const parts = partsOf(body, pool);
  const first = await parts.next();
  // An object of one part (or none) is a single PUT.
  const firstPart: Part = first.done ? { buffer: Buffer.alloc(0), length: 0 } : first.value;
  const second = first.done ? undefined : await parts.next();
  if (!second || second.done) {
    const result = await client.send(
      new PutObjectCommand({ ...target, Body: firstPart.buffer.subarray(0, firstPart.length), ContentLength: firstPart.length }),
      call,
    );
    options.onProgress?.(firstPart.length);
    return { etag: result.ETag ?? '' };
  }
  const { UploadId } = await client.send(new CreateMultipartUploadCommand(target), call);
  const done: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let failure: unknown;
  const send = (part: Part, PartNumber: number): void => {
    const request = uploadPart(client, target, UploadId!, part, PartNumber, call)
      .then(
        (completed) => {
          done.push(completed);
          sent += part.length;
          options.onProgress?.(sent);
        },
        (error: unknown) => {
          failure ??= error;
        },
      )
      .finally(() => {
        pool.release(part.buffer);
        inFlight.delete(request);
      });
    inFlight.add(request);
  };
  try {
    let number = 1;
    send(firstPart, number++);
    send(second.value, number++);
    for (;;) {
      // The generator takes a buffer from the pool for each part: wait until one is free.
      while (!pool.available && failure === undefined) await Promise.race(inFlight);
      if (failure !== undefined) throw failure;
      const next = await parts.next();
      if (next.done) break;
      send(next.value, number++);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    done.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const result = await client.send(
      new CompleteMultipartUploadCommand({ Bucket: target.Bucket, Key: target.Key, UploadId, MultipartUpload: { Parts: done } }),
      call,
    );
    return { etag: result.ETag ?? '' };
  } catch (error) {
    await Promise.allSettled(inFlight);
    await client.send(new AbortMultipartUploadCommand({ Bucket: target.Bucket, Key: target.Key, UploadId })).catch(() => {});
    throw error;
  }
}

/**
 * One part of a multipart upload. Its checksums go back in the completion: S3 refuses an upload whose
 * parts were sent with checksums (the SDK's default) and completed without them.
 */
async function uploadPart(
  client: S3Client,
  target: MultipartTarget,
  UploadId: string,
  part: Part,
  PartNumber: number,
  call: { abortSignal: AbortSignal | undefined },
): Promise<CompletedPart> {
  const body = part.buffer.subarray(0, part.length);
  const result = await client.send(
    new UploadPartCommand({ Bucket: target.Bucket, Key: target.Key, UploadId, PartNumber, Body: body, ContentLength: part.length }),
    call,
  );
  const { ETag, ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1, ChecksumSHA256 } = result;
  return { ETag: ETag ?? '', PartNumber, ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1, ChecksumSHA256 };
}

/** Part buffers, made when first needed (a small object takes one), at most `max`. */
class PartPool {
  readonly #free: Buffer[] = [];
  #made = 0;
  constructor(
    readonly partSize: number,
    readonly max: number,
  ) {}

  get available(): boolean {
    return this.#free.length > 0 || this.#made < this.max;
  }

  take(): Buffer {
    const buffer = this.#free.pop();
    if (buffer) return buffer;
    if (this.#made >= this.max) throw new Error('PartPool.take() with every buffer in use');
    this.#made++;
    return Buffer.allocUnsafe(this.partSize);
  }

  release(buffer: Buffer): void {
    this.#free.push(buffer);
  }
}

/** Fills buffers taken from `pool` with the stream's bytes, one part each; the last may be short. */
async function* partsOf(body: Readable, pool: PartPool): AsyncGenerator<Part> {
  let part: Buffer | undefined;
  let length = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    let at = 0;
    while (at < chunk.length) {
      part ??= pool.take();
      const take = Math.min(chunk.length - at, part.length - length);
      chunk.copy(part, length, at, at + take);
      length += take;
      at += take;
      if (length === part.length) {
        // The stream's chunks, copied into the part, are garbage now.
        reclaimReadBuffers();
        yield { buffer: part, length };
        part = undefined;
        length = 0;
      }
    }
  }
  if (part && length > 0) yield { buffer: part, length };
}
