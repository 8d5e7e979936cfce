import type { HistoryEntry, Manifest } from '@sqlitening/contract';

/** A manifest holds at most this many history entries: 31 recent ones and the commit's first. */
const MAX_HISTORY = 32;

/**
 * The snapshots the next publish may make deltas from: the previous one and its own history, as many as are
 * kept, and always the commit's first snapshot (the last entry), which images that bake a snapshot at build
 * time hold: a pod started from such an image, however old, gets a delta rather than the whole object. Only
 * its chunk list is kept for that; its object goes with the others.
 */
export function nextHistory(previous: Manifest | undefined, sha256: string, keep: number): HistoryEntry[] {
  if (!previous?.chunks) return [];
  const known = [
    { sha256: previous.database.sha256, size: previous.database.size, createdAt: previous.createdAt, chunks: previous.chunks },
    ...previous.history,
  ].filter((entry) => entry.sha256 !== sha256);
  const recent = known.slice(0, Math.min(Math.max(0, keep - 1), MAX_HISTORY - 1));
  const first = known.at(-1);
  return first && !recent.includes(first) ? [...recent, first] : recent;
}
