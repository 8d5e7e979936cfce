import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Board } from '../src/board.js';
import { MIGRATIONS, SCHEMA_VERSION, SchemaTooNewError, migrate, storedSchemaVersion, type Migration } from '../src/schema.js';

const BOARD_TABLES = ['alerts', 'clusters', 'deliveries', 'meta', 'pods', 'sightings', 'signatures'];

/**
 * What the constructor ran before the ladder existed (commits 1eb156a to
 * cde8dac), frozen here: every deployed object holds these tables and no
 * recorded version.
 */
const PRE_LADDER_TABLES = `
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
    `;

/** A Board object of its own, so a test that breaks its storage breaks no other test. */
const stub = (name: string) => env.BOARD.get(env.BOARD.idFromName(`schema-test-${name}`));

/** The board's tables and how SQLite records each one's definition (internal `sqlite_*` and `_cf_*` tables left out). */
function tables(sql: SqlStorage): Record<string, string> {
  const rows = sql
    .exec(
      "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name",
    )
    .toArray();
  return Object.fromEntries(rows.map((r) => [String(r.name), String(r.sql)]));
}

const recordedVersion = (sql: SqlStorage) => sql.exec("SELECT value FROM meta WHERE key = 'schema_version'").toArray()[0]?.value ?? null;

/** Turns a fresh object's storage into one deployed before the ladder, holding a few rows. */
function preLadderObject(sql: SqlStorage): void {
  for (const name of BOARD_TABLES) sql.exec(`DROP TABLE ${name}`);
  sql.exec(PRE_LADDER_TABLES);
  sql.exec(
    `INSERT INTO pods (cluster, pod, last_heartbeat_at, app_git_sha, db_git_sha, db_sha256, db_created_at, last_success_at, last_error, tasks)
     VALUES ('eu-west', 'web-1', 1000, 'a', 'a', 's1', 900, 950, NULL, '[]'), ('eu-west', 'web-2', 1001, 'a', 'a', 's1', 900, 951, 'boom', '[]')`,
  );
  sql.exec("INSERT INTO alerts (cluster, kind, at, reasons) VALUES ('eu-west', 'stale', 1000, '[\"2 of 2 pods stale\"]')");
  sql.exec("INSERT INTO meta (key, value) VALUES ('deadman_at', '2026-11-26T12:00:00.000Z'), ('deadman_result', 'ok')");
}

const dump = (sql: SqlStorage) => ({
  pods: sql.exec('SELECT * FROM pods ORDER BY pod').toArray(),
  alerts: sql.exec('SELECT * FROM alerts ORDER BY id').toArray(),
  deadMan: sql.exec("SELECT * FROM meta WHERE key LIKE 'deadman%' ORDER BY key").toArray(),
});

describe('schema version ladder', () => {
  it('leaves a fresh object at the latest version with every table present', async () => {
    await runInDurableObject(stub('fresh'), (_: Board, state) => {
      expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
      expect(Object.keys(tables(state.storage.sql))).toEqual(BOARD_TABLES);
      expect(recordedVersion(state.storage.sql)).toBe(String(SCHEMA_VERSION));
      expect(storedSchemaVersion(state.storage.sql)).toEqual({ version: SCHEMA_VERSION, recorded: true });
      // Starting again changes nothing.
      expect(migrate(state.storage)).toBe(SCHEMA_VERSION);
      expect(Object.keys(tables(state.storage.sql))).toEqual(BOARD_TABLES);
    });
  });

  it('recognises an object deployed before the ladder as version 1 and keeps its rows', async () => {
    await runInDurableObject(stub('pre-ladder'), (board: Board, state) => {
      const { sql } = state.storage;
      const current = tables(sql);
      preLadderObject(sql);
      // Version 1 is exactly what deployed objects hold.
      expect(tables(sql)).toEqual(current);
      const before = dump(sql);
      expect(before.pods).toHaveLength(2);
      expect(storedSchemaVersion(sql)).toEqual({ version: 1, recorded: false });

      expect(migrate(state.storage, MIGRATIONS.slice(0, 1))).toBe(1);
      expect(recordedVersion(sql)).toBe('1');
      expect(dump(sql)).toEqual(before);
      expect(tables(sql)).toEqual(current);
      // Up the rest of the ladder, the board reads them as before.
      migrate(state.storage);
      const view = board.view(2000);
      expect(view.clusters.find((c) => c.id === 'eu-west')?.pods.map((p) => [p.pod, p.lastError])).toEqual([
        ['web-1', null],
        ['web-2', 'boom'],
      ]);
      expect(view.alerts.map((a) => [a.kind, a.reasons])).toEqual([['stale', ['2 of 2 pods stale']]]);
      expect(view.deadMan).toEqual({ lastPingAt: '2026-11-26T12:00:00.000Z', lastResult: 'ok' });
    });
  });

  it('upgrades a pre-ladder object through later steps without losing rows', async () => {
    const ladder: Migration[] = [
      ...MIGRATIONS,
      {
        version: MIGRATIONS.length + 1,
        description: 'test: a note per pod',
        up: (sql) => sql.exec("ALTER TABLE pods ADD COLUMN note TEXT NOT NULL DEFAULT ''"),
      },
      { version: MIGRATIONS.length + 2, description: 'test: notes say hello', up: (sql) => sql.exec("UPDATE pods SET note = 'hello'") },
    ];
    await runInDurableObject(stub('upgrade'), (_: Board, state) => {
      const { sql } = state.storage;
      preLadderObject(sql);
      const before = dump(sql);
      expect(migrate(state.storage, ladder)).toBe(ladder.length);
      expect(recordedVersion(sql)).toBe(String(ladder.length));
      const after = dump(sql);
      expect(after.pods.map(({ note, ...rest }) => [note, rest])).toEqual(before.pods.map((row) => ['hello', row]));
      expect(after.alerts).toEqual(before.alerts);
      expect(after.deadMan).toEqual(before.deadMan);
    });
  });

  it('applies each step in a transaction: a failing step leaves tables and version as they were', async () => {
    const ladder: Migration[] = [
      ...MIGRATIONS,
      {
        version: MIGRATIONS.length + 1,
        description: 'test: fails halfway',
        up(sql) {
          sql.exec('CREATE TABLE half_done (x INTEGER)');
          sql.exec('DELETE FROM pods');
          sql.exec('INSERT INTO no_such_table VALUES (1)');
        },
      },
    ];
    await runInDurableObject(stub('failing-step'), (_: Board, state) => {
      const { sql } = state.storage;
      preLadderObject(sql);
      migrate(state.storage);
      const before = dump(sql);
      const current = tables(sql);
      expect(() => migrate(state.storage, ladder)).toThrow(/no such table: no_such_table/);
      expect(recordedVersion(sql)).toBe(String(MIGRATIONS.length));
      expect(tables(sql)).toEqual(current);
      expect(dump(sql)).toEqual(before);
    });
  });

  it('refuses to start on tables newer than the code, naming both versions', async () => {
    await runInDurableObject(stub('too-new'), (_: Board, state) => {
      const { sql } = state.storage;
      const newer = SCHEMA_VERSION + 1;
      sql.exec("UPDATE meta SET value = ? WHERE key = 'schema_version'", String(newer));
      const message = `board storage is at schema version ${newer}, newer than version ${SCHEMA_VERSION} that this worker knows`;

      let error: unknown;
      try {
        migrate(state.storage);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SchemaTooNewError);
      expect(error).toMatchObject({ name: 'SchemaTooNewError', stored: newer, supported: SCHEMA_VERSION });
      expect((error as Error).message).toContain(message);
      // The Durable Object itself does not start on them…
      expect(() => new Board(state, env)).toThrow(message);
      // …and touches nothing.
      expect(recordedVersion(sql)).toBe(String(newer));
      expect(Object.keys(tables(sql))).toEqual(BOARD_TABLES);
    });
  });

  it('refuses a recorded version that is not a whole number, and a ladder with a gap', async () => {
    await runInDurableObject(stub('garbage'), (_: Board, state) => {
      state.storage.sql.exec("UPDATE meta SET value = 'two' WHERE key = 'schema_version'");
      expect(() => migrate(state.storage)).toThrow('board storage records schema_version "two" in meta, expected a whole number >= 1');
    });
    await runInDurableObject(stub('gap'), (_: Board, state) => {
      const gap: Migration[] = [...MIGRATIONS, { version: MIGRATIONS.length + 2, description: 'test: skips one', up: () => {} }];
      expect(() => migrate(state.storage, gap)).toThrow(
        `Expected migration ${MIGRATIONS.length + 1} at position ${MIGRATIONS.length} of the ladder, got version ${MIGRATIONS.length + 2}`,
      );
    });
  });
});
