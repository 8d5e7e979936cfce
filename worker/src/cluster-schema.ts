import type { Ladder } from './schema.js';

/**
 * The tables of one cluster's object (`ClusterBoard`, named after the
 * cluster): its pods, snapshot sightings, alert state, alerts and their
 * webhook deliveries (the outbox), seen signatures (replay protection), and
 * its rate-limit bucket.
 */
export const CLUSTER_LADDER: Ladder = {
  what: 'cluster',
  steps: [
    {
      version: 1,
      description: 'cluster, pods, sightings, alerts, deliveries, signatures, meta',
      up(sql) {
        sql.exec(`
      CREATE TABLE cluster (
        id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL,
        state TEXT, since INTEGER, last_alert_at INTEGER,
        tokens REAL, tokens_at INTEGER, reported_at INTEGER);
      CREATE TABLE pods (
        pod TEXT PRIMARY KEY, last_heartbeat_at INTEGER NOT NULL,
        app_git_sha TEXT, db_git_sha TEXT, db_sha256 TEXT, db_created_at INTEGER,
        last_success_at INTEGER, last_error TEXT, tasks TEXT NOT NULL);
      CREATE TABLE sightings (
        sha256 TEXT PRIMARY KEY, db_git_sha TEXT NOT NULL, created_at INTEGER NOT NULL, first_seen_at INTEGER NOT NULL);
      CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, at INTEGER NOT NULL, reasons TEXT NOT NULL);
      CREATE TABLE deliveries (
        alert_id INTEGER NOT NULL, target INTEGER NOT NULL, url TEXT NOT NULL, kind TEXT NOT NULL,
        body TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL, last_error TEXT,
        PRIMARY KEY (alert_id, target));
      CREATE TABLE signatures (signature TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
      CREATE INDEX signatures_expiry ON signatures (expires_at);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
    `);
      },
    },
    {
      version: 2,
      description: 'pods: the store each pod last read from (mirrors)',
      up(sql) {
        // NULL for pods whose agents do not report it (before mirrors), until their next heartbeat says.
        sql.exec('ALTER TABLE pods ADD COLUMN store_index INTEGER');
        sql.exec('ALTER TABLE pods ADD COLUMN store_location TEXT');
      },
    },
  ],
};
