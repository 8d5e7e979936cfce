import { initialRecord, type KeyRecord, type KeyStatus } from './key-record.js';

/*
 * The board index's key records (table `cluster_keys`, one row per cluster
 * ever rotated or revoked) and a generation number, bumped by every change,
 * so that workers holding a copy of the records ask "anything new since
 * generation n?" and get nothing back when nothing changed.
 */

const GENERATION_KEY = 'key_generation';

/** The records as a worker keeps them, with the generation they are of. */
export interface KeyRegistry {
  generation: number;
  records: KeyRecord[];
}

function toRecord(row: Record<string, SqlStorageValue>): KeyRecord {
  const orNull = (value: SqlStorageValue | undefined) => (value === null || value === undefined ? null : Number(value));
  return {
    cluster: String(row.cluster),
    version: Number(row.version),
    previousVersion: orNull(row.previous_version),
    previousUntil: orNull(row.previous_until),
    revokedAt: orNull(row.revoked_at),
  };
}

export function readKeyGeneration(sql: SqlStorage): number {
  const row = sql.exec('SELECT value FROM meta WHERE key = ?', GENERATION_KEY).toArray()[0];
  return row ? Number(row.value) : 0;
}

/** A cluster's record; version 1 for one never rotated nor revoked. */
export function readKeyRecord(sql: SqlStorage, cluster: string): KeyRecord {
  const row = sql.exec('SELECT * FROM cluster_keys WHERE cluster = ?', cluster).toArray()[0];
  return row ? toRecord(row) : initialRecord(cluster);
}

/** Every record, unless the caller already has generation `known`'s (then null). */
export function readKeyRegistry(sql: SqlStorage, known: number | null): KeyRegistry | null {
  const generation = readKeyGeneration(sql);
  if (known === generation) return null;
  return { generation, records: sql.exec('SELECT * FROM cluster_keys').toArray().map(toRecord) };
}

/** An admin change: the record's status, and the generation it made (workers use no older copy after it: key-copy.ts). */
export interface KeyChange {
  status: KeyStatus;
  generation: number;
}

/** Stores a cluster's record and bumps the generation, in one transaction (an RPC method's synchronous writes are one); returns the new generation. */
export function storeKeyRecord(sql: SqlStorage, record: KeyRecord): number {
  sql.exec(
    `INSERT INTO cluster_keys (cluster, version, previous_version, previous_until, revoked_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (cluster) DO UPDATE SET version = excluded.version, previous_version = excluded.previous_version,
         previous_until = excluded.previous_until, revoked_at = excluded.revoked_at`,
    record.cluster,
    record.version,
    record.previousVersion,
    record.previousUntil,
    record.revokedAt,
  );
  const generation = readKeyGeneration(sql) + 1;
  sql.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', GENERATION_KEY, String(generation));
  return generation;
}
