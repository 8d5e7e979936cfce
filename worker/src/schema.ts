/**
 * The board's tables and their version ladder.
 *
 * Every Durable Object holds its own copy of the tables, so a deploy cannot
 * migrate them in one place: each object brings its own tables up to date when
 * it starts (`migrate`, called from the Board's constructor). The version it
 * has reached is kept in `meta` under `schema_version`; Durable Object storage
 * refuses most PRAGMAs, `user_version` among them.
 *
 * To add a step:
 * - append `{ version: <last + 1>, description, up(sql) { … } }` to MIGRATIONS;
 * - never edit or reorder a step that has shipped: deployed objects have run it
 *   and will not run it again;
 * - keep `up` synchronous (no await): it runs in one transaction together with
 *   the version bump, so an object ends either fully on the new version or
 *   untouched on the old one;
 * - add a test in test/schema.test.ts that upgrades rows written at the
 *   previous version.
 * Once an object has run a step, a worker rolled back to before it refuses to
 * start that object (SchemaTooNewError) instead of misreading its tables: roll
 * forward to recover.
 */

import { SqliteningError } from '@sqlitening/contract';

/** One rung of the ladder: brings the tables from `version - 1` to `version`. */
export interface Migration {
  version: number;
  description: string;
  up(sql: SqlStorage): void;
}

/** Where the version lives in `meta`. */
export const SCHEMA_VERSION_KEY = 'schema_version';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    // Exactly the statement the constructor ran before the ladder existed, so deployed objects are at version 1 as they are.
    description: 'pods, sightings, clusters, alerts, deliveries, signatures, meta',
    up(sql) {
      sql.exec(`
      CREATE TABLE IF NOT EXISTS pods (
        cluster TEXT NOT NULL, pod TEXT NOT NULL, last_heartbeat_at INTEGER NOT NULL,
        app_git_sha TEXT, db_git_sha TEXT, db_sha256 TEXT, db_created_at INTEGER,
        last_success_at INTEGER, last_error TEXT, tasks TEXT NOT NULL,
        PRIMARY KEY (cluster, pod));
      CREATE TABLE IF NOT EXISTS sightings (
        cluster TEXT NOT NULL, db_git_sha TEXT NOT NULL, sha256 TEXT NOT NULL,
        created_at INTEGER NOT NULL, first_seen_at INTEGER NOT NULL,
        PRIMARY KEY (cluster, sha256));
      CREATE TABLE IF NOT EXISTS clusters (
        cluster TEXT PRIMARY KEY, state TEXT NOT NULL, since INTEGER NOT NULL, last_alert_at INTEGER);
      CREATE TABLE IF NOT EXISTS alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, cluster TEXT NOT NULL, kind TEXT NOT NULL,
        at INTEGER NOT NULL, reasons TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS deliveries (
        alert_id INTEGER NOT NULL, target INTEGER NOT NULL, url TEXT NOT NULL, kind TEXT NOT NULL,
        body TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL, last_error TEXT,
        PRIMARY KEY (alert_id, target));
      CREATE TABLE IF NOT EXISTS signatures (signature TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
    `);
    },
  },
];

/** The version this code reads and writes: the top of the ladder. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Version 1's tables. Objects deployed before the ladder have them and no recorded version. */
const VERSION_1_TABLES = ['pods', 'sightings', 'clusters', 'alerts', 'deliveries', 'signatures', 'meta'];

/** The stored tables are newer than this code: reading them could go wrong in ways no test has seen. */
export class SchemaTooNewError extends SqliteningError {
  constructor(
    readonly stored: number,
    readonly supported: number,
  ) {
    super(
      `board storage is at schema version ${stored}, newer than version ${supported} that this worker knows: ` +
        `refusing to start rather than misread its tables (was the worker rolled back? deploy a release that knows version ${stored})`,
      'schema-too-new',
      'failed',
      false,
    );
  }
}

export interface StoredVersion {
  /** 0 for an object that has no tables yet. */
  version: number;
  /** False for an empty object and for one deployed before the ladder. */
  recorded: boolean;
}

/** The version of the tables in `sql`, as recorded in `meta`, else inferred from the tables present. */
export function storedSchemaVersion(sql: SqlStorage): StoredVersion {
  const tables = new Set(
    sql
      .exec(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${VERSION_1_TABLES.map(() => '?').join(', ')})`, ...VERSION_1_TABLES)
      .toArray()
      .map((r) => String(r.name)),
  );
  if (tables.has('meta')) {
    const row = sql.exec('SELECT value FROM meta WHERE key = ?', SCHEMA_VERSION_KEY).toArray()[0];
    if (row) {
      const version = Number(row.value);
      if (!Number.isSafeInteger(version) || version < 1) {
        throw new Error(`board storage records ${SCHEMA_VERSION_KEY} ${JSON.stringify(row.value)} in meta, expected a whole number >= 1`);
      }
      return { version, recorded: true };
    }
  }
  // Before the ladder, the constructor created all of version 1's tables in one statement and recorded nothing.
  return { version: tables.size > 0 ? 1 : 0, recorded: false };
}

/**
 * Brings the tables up to the top of `ladder`, one step per transaction, and
 * records each version reached. Throws SchemaTooNewError, touching nothing,
 * when the stored version is newer than the ladder. Returns the version reached.
 */
export function migrate(storage: Pick<DurableObjectStorage, 'sql' | 'transactionSync'>, ladder: readonly Migration[] = MIGRATIONS): number {
  ladder.forEach((step, index) => {
    if (step.version !== index + 1) throw new TypeError(`Expected migration ${index + 1} at position ${index} of the ladder, got version ${step.version}`);
  });
  const { sql } = storage;
  const stored = storedSchemaVersion(sql);
  if (stored.version > ladder.length) throw new SchemaTooNewError(stored.version, ladder.length);
  if (stored.version > 0 && !stored.recorded) storage.transactionSync(() => recordVersion(sql, stored.version));
  for (const step of ladder.slice(stored.version)) {
    storage.transactionSync(() => {
      step.up(sql);
      recordVersion(sql, step.version);
    });
  }
  return ladder.length;
}

function recordVersion(sql: SqlStorage, version: number): void {
  sql.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', SCHEMA_VERSION_KEY, String(version));
}
