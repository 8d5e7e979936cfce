import { Transform } from 'node:stream';
import { StalledError } from '../errors.js';

/** Passes bytes through and fails the stream when none arrive for `timeoutMs`. */
export function stallWatchdog(what: string, timeoutMs: number): Transform {
  let timer: NodeJS.Timeout | undefined;
  const watchdog: Transform = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      arm();
      callback(null, chunk);
    },
    flush(callback) {
      clearTimeout(timer);
      callback();
    },
    destroy(error, callback) {
      clearTimeout(timer);
      callback(error);
    },
  });
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => watchdog.destroy(new StalledError(what, timeoutMs)), timeoutMs);
    // A body nobody reads must not keep the process alive; a read in flight does that by itself.
    timer.unref();
  };
  arm();
  return watchdog;
}
