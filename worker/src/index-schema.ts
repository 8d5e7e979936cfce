import type { Ladder } from './schema.js';

/**
 * The tables of the board's index: the `BoardIndex` class (named `Board`
 * until the class migration v3), one object named "global". Until version 2
 * this object held the whole board (every cluster's pods, alert states,
 * outbox and replay memory); since then each cluster has its own
 * `ClusterBoard` object (cluster-schema.ts) and this one keeps only what the
 * global view needs: a summary per cluster, the latest alerts, and the dead
 * man's switch.
 */
export const INDEX_LADDER: Ladder = {
  what: 'board index',
  // Objects deployed before the ladder created all of version 1's tables at once and recorded nothing.
  unrecordedVersion1Tables: ['pods', 'sightings', 'clusters', 'alerts', 'deliveries', 'signatures', 'meta'],
  steps: [
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
    {
      version: 2,
      /*
       * The per-cluster state moved to one ClusterBoard object per cluster,
       * which starts empty; this object's copies of it are dropped rather
       * than handed over. What that means at the deploy, documented in
       * worker/README.md: pods reappear with their next heartbeat; a cluster
       * stale at the time alerts "stale" once more from its new object;
       * undelivered webhook deliveries and the alert history are dropped.
       * The dead man's switch record in `meta` stays.
       */
      description: 'index of cluster summaries; per-cluster tables dropped (now in ClusterBoard objects)',
      up(sql) {
        sql.exec(`
      DROP TABLE IF EXISTS pods;
      DROP TABLE IF EXISTS sightings;
      DROP TABLE IF EXISTS clusters;
      DROP TABLE IF EXISTS alerts;
      DROP TABLE IF EXISTS deliveries;
      DROP TABLE IF EXISTS signatures;
      CREATE TABLE summaries (cluster TEXT PRIMARY KEY, state TEXT NOT NULL, reported_at INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE TABLE recent_alerts (
        cluster TEXT NOT NULL, id INTEGER NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (cluster, id));
      CREATE INDEX recent_alerts_at ON recent_alerts (at);
    `);
      },
    },
    {
      version: 3,
      /*
       * For 10,000 clusters: each summary's health (stale, degraded, ok) in a
       * column with an index, so a page of the board, its counts and the
       * index's round read what they show and no more; an index on
       * reported_at finds overdue clusters. And the key records of clusters
       * rotated or revoked (key-rows.ts).
       */
      description: 'summaries: health column and indexes for paging; cluster_keys',
      up(sql) {
        sql.exec(`
      ALTER TABLE summaries ADD COLUMN health TEXT NOT NULL DEFAULT 'ok';
      UPDATE summaries SET health = CASE
        WHEN state = 'stale' THEN 'stale'
        WHEN coalesce(json_extract(body, '$.pods.stale'), 0) + coalesce(json_extract(body, '$.pods.lagging'), 0) > 0 THEN 'degraded'
        ELSE 'ok' END;
      CREATE INDEX summaries_health ON summaries (health, cluster);
      CREATE INDEX summaries_reported_at ON summaries (reported_at);
      CREATE TABLE cluster_keys (
        cluster TEXT PRIMARY KEY, version INTEGER NOT NULL,
        previous_version INTEGER, previous_until INTEGER, revoked_at INTEGER);
    `);
      },
    },
  ],
};
