/**
 * Schema version ladders for the Durable Objects' tables.
 *
 * Every Durable Object holds its own copy of its tables, so a deploy cannot
 * migrate them in one place: each object brings its own tables up to date when
 * it starts (`migrate`, called from its constructor). The version it has
 * reached is kept in `meta` under `schema_version`; Durable Object storage
 * refuses most PRAGMAs, `user_version` among them. Each class has its own
 * ladder: the board's index (`BoardIndex`, index-schema.ts) and each cluster
 * (`ClusterBoard`, cluster-schema.ts).
 *
 * To add a step to a ladder:
 * - append `{ version: <last + 1>, description, up(sql) { … } }` to its steps;
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

/** One rung of a ladder: brings the tables from `version - 1` to `version`. */
export interface Migration {
  version: number;
  description: string;
  up(sql: SqlStorage): void;
}

/** One Durable Object class's tables, as a list of steps. */
export interface Ladder {
  /** Names the object's storage in errors ("board index", "cluster"). */
  what: string;
  steps: readonly Migration[];
  /**
   * Tables that, present with no recorded version, mean version 1: the
   * class's objects deployed before the ladder existed created them and
   * recorded nothing.
   */
  unrecordedVersion1Tables?: readonly string[];
}

/** Where the version lives in `meta`. */
export const SCHEMA_VERSION_KEY = 'schema_version';

/** The stored tables are newer than this code: reading them could go wrong in ways no test has seen. */
export class SchemaTooNewError extends SqliteningError {
  constructor(
    readonly what: string,
    readonly stored: number,
    readonly supported: number,
  ) {
    super(
      `${what} storage is at schema version ${stored}, newer than version ${supported} that this worker knows: ` +
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
export function storedSchemaVersion(sql: SqlStorage, ladder: Ladder): StoredVersion {
  const hasMeta = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").toArray().length > 0;
  if (hasMeta) {
    const row = sql.exec('SELECT value FROM meta WHERE key = ?', SCHEMA_VERSION_KEY).toArray()[0];
    if (row) {
      const version = Number(row.value);
      if (!Number.isSafeInteger(version) || version < 1) {
        throw new Error(`${ladder.what} storage records ${SCHEMA_VERSION_KEY} ${JSON.stringify(row.value)} in meta, expected a whole number >= 1`);
      }
      return { version, recorded: true };
    }
  }
  const old = ladder.unrecordedVersion1Tables ?? [];
  if (old.length === 0) return { version: 0, recorded: false };
  const present = sql.exec(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN (${old.map(() => '?').join(', ')})`, ...old).one()
    .n as number;
  return { version: present > 0 ? 1 : 0, recorded: false };
}

/**
 * Brings the tables up to the top of `ladder`, one step per transaction, and
 * records each version reached. Throws SchemaTooNewError, touching nothing,
 * when the stored version is newer than the ladder. Returns the version reached.
 */
export function migrate(storage: Pick<DurableObjectStorage, 'sql' | 'transactionSync'>, ladder: Ladder): number {
  const { steps } = ladder;
  steps.forEach((step, index) => {
    if (step.version !== index + 1) throw new TypeError(`Expected migration ${index + 1} at position ${index} of the ladder, got version ${step.version}`);
  });
  const { sql } = storage;
  const stored = storedSchemaVersion(sql, ladder);
  if (stored.version > steps.length) throw new SchemaTooNewError(ladder.what, stored.version, steps.length);
  if (stored.version > 0 && !stored.recorded) storage.transactionSync(() => recordVersion(sql, stored.version));
  for (const step of steps.slice(stored.version)) {
    storage.transactionSync(() => {
      step.up(sql);
      recordVersion(sql, step.version);
    });
  }
  return steps.length;
}

function recordVersion(sql: SqlStorage, version: number): void {
  sql.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)');
  sql.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', SCHEMA_VERSION_KEY, String(version));
}
