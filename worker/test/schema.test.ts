import { FIRST_PAGE } from '../src/board-query.js';
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { BoardIndex } from '../src/board-index.js';
import { ClusterBoard } from '../src/cluster-board.js';
import { CLUSTER_LADDER } from '../src/cluster-schema.js';
import { INDEX_LADDER } from '../src/index-schema.js';
import { readPods } from '../src/pod-rows.js';
import { SchemaTooNewError, migrate, storedSchemaVersion, type Ladder, type Migration } from '../src/schema.js';

const INDEX_TABLES = ['cluster_keys', 'meta', 'recent_alerts', 'summaries'];
const INDEX_VERSION_2_TABLES = ['meta', 'recent_alerts', 'summaries'];
const CLUSTER_TABLES = ['alerts', 'cluster', 'deliveries', 'meta', 'pods', 'sightings', 'signatures'];
const VERSION_1_TABLES = ['alerts', 'clusters', 'deliveries', 'meta', 'pods', 'sightings', 'signatures'];

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

/** An index object of its own, so a test that breaks its storage breaks no other test. */
const indexObject = (name: string) => env.BOARD.get(env.BOARD.idFromName(`schema-test-${name}`));
const clusterObject = (name: string) => env.CLUSTERS.get(env.CLUSTERS.idFromName(`schema-test-${name}`));

/** The object's tables and how SQLite records each one's definition (internal `sqlite_*` and `_cf_*` tables left out). */
function tables(sql: SqlStorage): Record<string, string> {
  const rows = sql
    .exec(
      "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name",
    )
    .toArray();
  return Object.fromEntries(rows.map((r) => [String(r.name), String(r.sql)]));
}

const recordedVersion = (sql: SqlStorage) => sql.exec("SELECT value FROM meta WHERE key = 'schema_version'").toArray()[0]?.value ?? null;

/** Turns an object's storage into a `Board` deployed before the ladder (and before the split), holding a few rows. */
function preLadderObject(sql: SqlStorage): void {
  for (const name of Object.keys(tables(sql))) sql.exec(`DROP TABLE ${name}`);
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

const upTo = (ladder: Ladder, version: number): Ladder => ({ ...ladder, steps: ladder.steps.slice(0, version) });
const withSteps = (ladder: Ladder, ...steps: Migration[]): Ladder => ({ ...ladder, steps: [...ladder.steps, ...steps] });

describe('schema version ladders', () => {
  it('leaves a fresh index and a fresh cluster object at their latest versions with every table present', async () => {
    await runInDurableObject(indexObject('fresh'), (_: BoardIndex, state) => {
      expect(Object.keys(tables(state.storage.sql))).toEqual(INDEX_TABLES);
      expect(recordedVersion(state.storage.sql)).toBe(String(INDEX_LADDER.steps.length));
      expect(storedSchemaVersion(state.storage.sql, INDEX_LADDER)).toEqual({ version: INDEX_LADDER.steps.length, recorded: true });
      // Starting again changes nothing.
      expect(migrate(state.storage, INDEX_LADDER)).toBe(INDEX_LADDER.steps.length);
      expect(Object.keys(tables(state.storage.sql))).toEqual(INDEX_TABLES);
    });
    await runInDurableObject(clusterObject('fresh'), (_: ClusterBoard, state) => {
      expect(Object.keys(tables(state.storage.sql))).toEqual(CLUSTER_TABLES);
      expect(recordedVersion(state.storage.sql)).toBe(String(CLUSTER_LADDER.steps.length));
      expect(migrate(state.storage, CLUSTER_LADDER)).toBe(CLUSTER_LADDER.steps.length);
    });
  });

  it('recognises a Board (the index class before its rename) deployed before the ladder as version 1, keeps its rows there, then makes it the index', async () => {
    await runInDurableObject(indexObject('pre-ladder'), (index: BoardIndex, state) => {
      const { sql } = state.storage;
      preLadderObject(sql);
      const version1 = tables(sql);
      expect(Object.keys(version1)).toEqual(VERSION_1_TABLES);
      const before = dump(sql);
      expect(before.pods).toHaveLength(2);
      expect(storedSchemaVersion(sql, INDEX_LADDER)).toEqual({ version: 1, recorded: false });

      // Version 1 is exactly what deployed objects hold.
      expect(migrate(state.storage, upTo(INDEX_LADDER, 1))).toBe(1);
      expect(recordedVersion(sql)).toBe('1');
      expect(dump(sql)).toEqual(before);
      expect(tables(sql)).toEqual(version1);

      // Version 2: the per-cluster tables are dropped (clusters now have objects of their own); the dead man's switch stays.
      expect(migrate(state.storage, upTo(INDEX_LADDER, 2))).toBe(2);
      expect(Object.keys(tables(sql))).toEqual(INDEX_VERSION_2_TABLES);
      // Version 3: the summaries' health in a column for paging, and the key records.
      expect(migrate(state.storage, INDEX_LADDER)).toBe(3);
      expect(Object.keys(tables(sql))).toEqual(INDEX_TABLES);
      const view = index.view(FIRST_PAGE, 2000);
      expect(view.clusters.map((c) => c.id)).toEqual(['ap-south']);
      expect(view.alerts).toEqual([]);
      expect(view.deadMan).toEqual({ lastPingAt: '2026-11-26T12:00:00.000Z', lastResult: 'ok' });
    });
  });

  it("works out each stored summary's health when it brings the index to version 3", async () => {
    await runInDurableObject(indexObject('health'), (_: BoardIndex, state) => {
      const { sql } = state.storage;
      for (const name of Object.keys(tables(sql))) sql.exec(`DROP TABLE ${name}`);
      expect(migrate(state.storage, upTo(INDEX_LADDER, 2))).toBe(2);
      const body = (stale: number, lagging: number) => JSON.stringify({ pods: { total: 3, fresh: 3 - stale - lagging, stale, lagging } });
      sql.exec(
        "INSERT INTO summaries (cluster, state, reported_at, body) VALUES ('a', 'stale', 1, ?), ('b', 'ok', 1, ?), ('c', 'ok', 1, ?), ('d', 'ok', 1, ?)",
        body(2, 0),
        body(1, 0),
        body(0, 1),
        body(0, 0),
      );
      expect(migrate(state.storage, INDEX_LADDER)).toBe(3);
      expect(sql.exec('SELECT cluster, health FROM summaries ORDER BY cluster').toArray()).toEqual([
        { cluster: 'a', health: 'stale' },
        { cluster: 'b', health: 'degraded' },
        { cluster: 'c', health: 'degraded' },
        { cluster: 'd', health: 'ok' },
      ]);
    });
  });

  it('upgrades the index through later steps without losing rows', async () => {
    const ladder = withSteps(
      INDEX_LADDER,
      {
        version: INDEX_LADDER.steps.length + 1,
        description: 'test: a note per summary',
        up: (sql) => sql.exec("ALTER TABLE summaries ADD COLUMN note TEXT NOT NULL DEFAULT ''"),
      },
      { version: INDEX_LADDER.steps.length + 2, description: 'test: notes say hello', up: (sql) => sql.exec("UPDATE summaries SET note = 'hello'") },
    );
    await runInDurableObject(indexObject('upgrade'), (_: BoardIndex, state) => {
      const { sql } = state.storage;
      sql.exec("INSERT INTO summaries (cluster, state, reported_at, body) VALUES ('eu-west', 'ok', 1, '{}'), ('us-east', 'stale', 2, '{}')");
      const before = sql.exec('SELECT * FROM summaries ORDER BY cluster').toArray();
      expect(migrate(state.storage, ladder)).toBe(ladder.steps.length);
      expect(recordedVersion(sql)).toBe(String(ladder.steps.length));
      const after = sql.exec('SELECT * FROM summaries ORDER BY cluster').toArray();
      expect(after.map(({ note, ...rest }) => [note, rest])).toEqual(before.map((row) => ['hello', row]));
    });
  });

  it('adds the store columns to a cluster at version 1, keeping its pods, which read as reporting no store until their next heartbeat', async () => {
    await runInDurableObject(clusterObject('store-columns'), (_: ClusterBoard, state) => {
      const { sql } = state.storage;
      for (const name of Object.keys(tables(sql))) sql.exec(`DROP TABLE ${name}`);
      expect(migrate(state.storage, upTo(CLUSTER_LADDER, 1))).toBe(1);
      sql.exec(
        `INSERT INTO pods (pod, last_heartbeat_at, app_git_sha, db_git_sha, db_sha256, db_created_at, last_success_at, last_error, tasks)
         VALUES ('web-1', 1000, 'a', 'a', 's1', 900, 950, NULL, '[]')`,
      );
      expect(migrate(state.storage, CLUSTER_LADDER)).toBe(2);
      expect(recordedVersion(sql)).toBe('2');
      expect(readPods(sql)).toEqual([
        {
          pod: 'web-1',
          lastHeartbeatAt: 1000,
          appGitSha: 'a',
          dbGitSha: 'a',
          dbSha256: 's1',
          dbCreatedAt: 900,
          lastSuccessAt: 950,
          lastError: null,
          tasks: [],
          store: null,
        },
      ]);
    });
  });

  it('applies each step in a transaction: a failing step leaves tables and version as they were', async () => {
    const ladder = withSteps(CLUSTER_LADDER, {
      version: CLUSTER_LADDER.steps.length + 1,
      description: 'test: fails halfway',
      up(sql) {
        sql.exec('CREATE TABLE half_done (x INTEGER)');
        sql.exec('DELETE FROM pods');
        sql.exec('INSERT INTO no_such_table VALUES (1)');
      },
    });
    await runInDurableObject(clusterObject('failing-step'), (_: ClusterBoard, state) => {
      const { sql } = state.storage;
      sql.exec("INSERT INTO pods (pod, last_heartbeat_at, tasks) VALUES ('web-1', 1000, '[]')");
      const before = sql.exec('SELECT * FROM pods').toArray();
      const current = tables(sql);
      expect(() => migrate(state.storage, ladder)).toThrow(/no such table: no_such_table/);
      expect(recordedVersion(sql)).toBe(String(CLUSTER_LADDER.steps.length));
      expect(tables(sql)).toEqual(current);
      expect(sql.exec('SELECT * FROM pods').toArray()).toEqual(before);
    });
  });

  it('refuses to start either object on tables newer than the code, naming both versions', async () => {
    const cases = [
      { stub: indexObject('too-new'), ladder: INDEX_LADDER, make: (state: DurableObjectState) => new BoardIndex(state, env) },
      { stub: clusterObject('too-new'), ladder: CLUSTER_LADDER, make: (state: DurableObjectState) => new ClusterBoard(state, env) },
    ];
    for (const { stub, ladder, make } of cases) {
      await runInDurableObject(stub, (_: unknown, state) => {
        const { sql } = state.storage;
        const supported = ladder.steps.length;
        const newer = supported + 1;
        const names = Object.keys(tables(sql));
        sql.exec("UPDATE meta SET value = ? WHERE key = 'schema_version'", String(newer));
        const message = `${ladder.what} storage is at schema version ${newer}, newer than version ${supported} that this worker knows`;

        let error: unknown;
        try {
          migrate(state.storage, ladder);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(SchemaTooNewError);
        expect(error).toMatchObject({ name: 'SchemaTooNewError', what: ladder.what, stored: newer, supported });
        expect((error as Error).message).toContain(message);
        // The Durable Object itself does not start on them…
        expect(() => make(state)).toThrow(message);
        // …and touches nothing.
        expect(recordedVersion(sql)).toBe(String(newer));
        expect(Object.keys(tables(sql))).toEqual(names);
      });
    }
  });

  it('refuses a recorded version that is not a whole number, and a ladder with a gap', async () => {
    await runInDurableObject(clusterObject('garbage'), (_: ClusterBoard, state) => {
      state.storage.sql.exec("UPDATE meta SET value = 'two' WHERE key = 'schema_version'");
      expect(() => migrate(state.storage, CLUSTER_LADDER)).toThrow('cluster storage records schema_version "two" in meta, expected a whole number >= 1');
    });
    await runInDurableObject(indexObject('gap'), (_: BoardIndex, state) => {
      const n = INDEX_LADDER.steps.length;
      const gap = withSteps(INDEX_LADDER, { version: n + 2, description: 'test: skips one', up: () => {} });
      expect(() => migrate(state.storage, gap)).toThrow(`Expected migration ${n + 1} at position ${n} of the ladder, got version ${n + 2}`);
    });
  });
});

/**
 * The index's storage as the last release whose class was named `Board`
 * (248b1a4) left it: the ladder at version 2, recorded, and rows written as
 * that release wrote them. Frozen here, because the class migration v3 hands
 * exactly this storage to `BoardIndex`.
 */
function boardVersion2Object(sql: SqlStorage): void {
  for (const name of Object.keys(tables(sql))) sql.exec(`DROP TABLE ${name}`);
  sql.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
      CREATE TABLE summaries (cluster TEXT PRIMARY KEY, state TEXT NOT NULL, reported_at INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE TABLE recent_alerts (
        cluster TEXT NOT NULL, id INTEGER NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (cluster, id));
      CREATE INDEX recent_alerts_at ON recent_alerts (at);
    `);
  sql.exec("INSERT INTO meta (key, value) VALUES ('schema_version', '2'), ('deadman_at', '2026-11-26T12:00:00.000Z'), ('deadman_result', 'HTTP 503')");
  const summary = {
    cluster: 'eu-west',
    state: 'stale',
    since: 1_000,
    reasons: ['1 of 2 pods stale'],
    pods: { total: 2, fresh: 1, stale: 1, lagging: 0 },
    commits: [{ gitSha: 'a'.repeat(40), pods: 2, lastSeenAt: 2_000 }],
    lastHeartbeatAt: 2_000,
    oldestSyncAt: 1_500,
    neverSynced: 0,
    reportedAt: 2_000,
  };
  sql.exec("INSERT INTO summaries (cluster, state, reported_at, body) VALUES ('eu-west', 'stale', 2000, ?)", JSON.stringify(summary));
  const alert = {
    id: 1,
    cluster: 'eu-west',
    kind: 'stale',
    at: '1970-01-01T00:00:01.000Z',
    reasons: ['1 of 2 pods stale'],
    deliveries: [{ target: 0, status: 'delivered', attempts: 1, lastError: null }],
  };
  sql.exec("INSERT INTO recent_alerts (cluster, id, at, body) VALUES ('eu-west', 1, 1000, ?)", JSON.stringify(alert));
}

describe('the index class renamed from Board to BoardIndex', () => {
  /*
   * The rename itself happens at Cloudflare when the worker is deployed
   * (wrangler.jsonc, migration v3): the object keeps its id and storage.
   * Locally it cannot be replayed: workerd keys an object's id and storage
   * by worker and class name and applies no class migration, so a `Board`
   * object written here would not be found by `BoardIndex`. What is tested
   * is the other half: `BoardIndex` opens the storage `Board` left and
   * reads it as it is.
   */
  it('starts on the storage the last Board release left, adds version 3 keeping every row, and serves its summaries, alerts and dead man record', async () => {
    await runInDurableObject(indexObject('renamed'), (_: BoardIndex, state) => {
      const { sql } = state.storage;
      boardVersion2Object(sql);
      const before = {
        tables: tables(sql),
        summaries: sql.exec('SELECT * FROM summaries').toArray(),
        meta: sql.exec('SELECT * FROM meta ORDER BY key').toArray(),
      };

      const index = new BoardIndex(state, env);
      // Version 3 adds the health column (worked out from each stored summary) and the key records; nothing else changes.
      const { cluster_keys, ...earlier } = tables(sql);
      expect(cluster_keys).toMatch(/^CREATE TABLE cluster_keys/);
      expect(earlier.summaries).toBe(`${(before.tables as Record<string, string>).summaries!.slice(0, -1)}, health TEXT NOT NULL DEFAULT 'ok')`);
      expect({ ...earlier, summaries: undefined }).toEqual({ ...before.tables, summaries: undefined });
      expect(sql.exec('SELECT * FROM summaries').toArray()).toEqual(before.summaries.map((row) => ({ ...row, health: 'stale' })));
      expect(sql.exec("SELECT * FROM meta WHERE key != 'schema_version' ORDER BY key").toArray()).toEqual(
        before.meta.filter((row) => row.key !== 'schema_version'),
      );
      expect(recordedVersion(sql)).toBe('3');

      const now = 3_000;
      const view = index.view(FIRST_PAGE, now);
      expect(view.clusters.map((c) => [c.id, c.state])).toEqual([
        ['ap-south', 'stale'],
        ['eu-west', 'stale'],
      ]);
      expect(index.cluster('eu-west', now)).toEqual({
        id: 'eu-west',
        state: 'stale',
        health: 'stale',
        since: '1970-01-01T00:00:01.000Z',
        reasons: ['1 of 2 pods stale'],
        expected: false,
        pods: { total: 2, fresh: 1, stale: 1, lagging: 0 },
        commits: [{ gitSha: 'a'.repeat(40), pods: 2 }],
        lastHeartbeatAt: '1970-01-01T00:00:02.000Z',
        oldestSyncAt: '1970-01-01T00:00:01.500Z',
        neverSynced: 0,
        reportedAt: '1970-01-01T00:00:02.000Z',
      });
      expect(view.alerts).toEqual([
        {
          id: 1,
          cluster: 'eu-west',
          kind: 'stale',
          at: '1970-01-01T00:00:01.000Z',
          reasons: ['1 of 2 pods stale'],
          deliveries: [{ target: 0, status: 'delivered', attempts: 1, lastError: null }],
        },
      ]);
      expect(view.deadMan).toEqual({ lastPingAt: '2026-11-26T12:00:00.000Z', lastResult: 'HTTP 503' });
      expect(index.commits(now)).toEqual([
        {
          gitSha: 'a'.repeat(40),
          pods: 2,
          lastSeenAt: '1970-01-01T00:00:02.000Z',
          clusters: [{ cluster: 'eu-west', pods: 2, lastSeenAt: '1970-01-01T00:00:02.000Z' }],
        },
      ]);
    });
  });
});
