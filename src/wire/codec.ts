import { PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { Encoding } from '@sqlitening/contract';
import { UsageError } from '../errors.js';
import { ParallelGzip } from './parallel-gzip.js';

/** zstd arrived in Node's zlib in 22.15 / 23.8; older runtimes cannot read or write it. */
type ZstdZlib = {
  createZstdCompress?: (options?: object) => Transform;
  createZstdDecompress?: (options?: object) => Transform;
  constants: Record<string, number>;
};
/** The largest zstd window a pod decodes: 2^24 = 16 MiB. */
export const ZSTD_MAX_WINDOW_LOG = 24;
const zstd = zlib as unknown as ZstdZlib;

export function encodingSupported(encoding: Encoding): boolean {
  return encoding !== 'zstd' || (typeof zstd.createZstdCompress === 'function' && typeof zstd.createZstdDecompress === 'function');
}

function requireSupported(encoding: Encoding): void {
  if (!encodingSupported(encoding)) {
    throw new UsageError(`encoding zstd needs Node.js 22.15 or newer; this is Node.js ${process.versions.node}. Use gzip, br or identity`);
  }
}

/**
 * Default compression level per encoding. Measured (bench/publish.js): gzip -1
 * compresses about 5x faster than -6 for a few points of ratio, and decodes as
 * fast, so publishing stays bound by the upload, not the compressor.
 */
export const DEFAULT_LEVELS: Record<Encoding, number> = { identity: 0, gzip: 1, br: 4, zstd: 3 };

/** Output bytes per chunk of a zlib or zstd stream. */
const CHUNK_BYTES = 256 * 1024;

export function compressor(encoding: Encoding, level = DEFAULT_LEVELS[encoding]): Transform {
  requireSupported(encoding);
  switch (encoding) {
    case 'identity':
      return new PassThrough();
    case 'gzip':
      return new ParallelGzip(level);
    case 'br':
      return zlib.createBrotliCompress({
        chunkSize: CHUNK_BYTES,
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: level, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_GENERIC },
      });
    case 'zstd':
      return zstd.createZstdCompress!({
        chunkSize: CHUNK_BYTES,
        params: {
          [zstd.constants.ZSTD_c_compressionLevel ?? 100]: level,
          // Levels past 19 would ask for windows of 32 to 128 MiB, which pods refuse to decode.
          ...(level > 19 ? { [zstd.constants.ZSTD_c_windowLog ?? 101]: ZSTD_MAX_WINDOW_LOG } : {}),
        },
      });
  }
}

export function decompressor(encoding: Encoding): Transform {
  requireSupported(encoding);
  switch (encoding) {
    case 'identity':
      return new PassThrough();
    case 'gzip':
      return zlib.createGunzip({ chunkSize: CHUNK_BYTES });
    case 'br':
      return zlib.createBrotliDecompress({ chunkSize: CHUNK_BYTES });
    case 'zstd':
      // zstd's default limit lets one stream ask for a 128 MiB window, more than the pod's whole peak; the
      // publisher's levels (up to 19) use at most 8 MiB.
      return zstd.createZstdDecompress!({ chunkSize: CHUNK_BYTES, params: { [zstd.constants.ZSTD_d_windowLogMax ?? 100]: ZSTD_MAX_WINDOW_LOG } });
  }
}
