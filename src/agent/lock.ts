import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { LockedError } from '../errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the data folder's lock, or throws `LockedError` naming the holder.
 * The lock file holds `pid@host`; a lock whose process is gone (a crash,
 * `kill -9`) is taken over.
 */
export async function acquireLock(file: string): Promise<() => Promise<void>> {
  await mkdir(path.dirname(file), { recursive: true });
  const me = `${process.pid}@${hostname()}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(me);
      await handle.close();
      return async () => {
        const holder = await readFile(file, 'utf8').catch(() => '');
        if (holder === me) await rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = (await readFile(file, 'utf8').catch(() => '')).trim();
      const [pid, host] = holder.split('@');
      const sameHost = host === hostname();
      if (holder !== '' && (!sameHost || alive(Number(pid)))) throw new LockedError(path.dirname(path.dirname(file)), holder);
      await rm(file, { force: true });
    }
  }
  throw new LockedError(path.dirname(path.dirname(file)), 'unknown');
}
