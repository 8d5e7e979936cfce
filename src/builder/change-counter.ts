import { open } from 'node:fs/promises';

/*
 * SQLite's header change counter (bytes 24–27, repeated at 92–95 as "version-valid-for"): every
 * connection keeps its page cache while bytes 24–39 of the file stay as it last read them. A pod writes
 * each new snapshot into the live file in place, which is safe for the connections apps keep open only if
 * the new counter exceeds the old one; the pod checks, and otherwise renames a new file into place. Two
 * builds that run the same transactions from scratch end with the same counter, so the builder stamps it
 * with the time: counters of a commit's snapshots then rise from one publish to the next.
 */

/** The header's change counter; null for a file too short to have a header. */
export async function readChangeCounter(file: string): Promise<number | null> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(100);
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    return bytesRead < header.length ? null : header.readUInt32BE(24);
  } finally {
    await handle.close();
  }
}

/**
 * Raises the change counter of a closed, finished database to the current time in seconds, unless nothing
 * was written since it read `started` (the same bytes as the starting snapshot, which a publish then finds
 * unchanged) or it is higher already. Returns the counter the file ends with.
 */
export async function stampChangeCounter(file: string, started: number | null, now: Date): Promise<number | null> {
  const handle = await open(file, 'r+');
  try {
    const header = Buffer.alloc(100);
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    if (bytesRead < header.length) return null;
    const counter = header.readUInt32BE(24);
    const stamp = Math.floor(now.getTime() / 1000);
    if (counter === started || counter >= stamp || stamp > 0xffffffff) return counter;
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(stamp);
    await handle.write(bytes, 0, 4, 24);
    await handle.write(bytes, 0, 4, 92);
    await handle.sync();
    return stamp;
  } finally {
    await handle.close();
  }
}
