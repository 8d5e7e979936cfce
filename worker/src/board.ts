import { DurableObject } from 'cloudflare:workers';
import { SIGNATURE_WINDOW_SECONDS, signatureHeaders, type Heartbeat } from '../../src/contract/index.js';
import { alertFrom, jsonPayload, slackPayload, type AlertKind } from './alerts.js';
import { readConfig, readSecrets, ruleFor, type BoardConfig } from './config.js';
import { evaluateCluster, type ClusterVerdict, type PodRecord, type SnapshotSighting } from './rules.js';

export interface PodView {
  pod: string;
  state: 'ok' | 'stale' | 'lagging';
  reasons: string[];
  appGitSha: string | null;
  dbGitSha: string | null;
  dbSha256: string | null;
  dbCreatedAt: string | null;
  lastHeartbeatAt: string;
  lastSuccessAt: string | null;
  lastError: string | null;
  tasks: PodRecord['tasks'];
}

export interface ClusterView {
  id: string;
  state: 'ok' | 'stale';
  /** When the cluster entered its current state, as the alarm saw it. */
  since: string | null;
  reasons: string[];
  expected: boolean;
  lastHeartbeatAt: string | null;
  pods: PodView[];
}

export interface AlertView {
  id: number;
  cluster: string;
  kind: AlertKind;
  at: string;
  reasons: string[];
  deliveries: Array<{ target: number; status: string; attempts: number; lastError: string | null }>;
}

export interface BoardView {
  clusters: ClusterView[];
  alerts: AlertView[];
  deadMan: { lastPingAt: string | null; lastResult: string | null };
}

export type IngestResult = { status: 'accepted'; count: number } | { status: 'replayed' };

/** How long a delivery in flight is reserved for the round sending it. */
const DELIVERY_LEASE_MS = 5 * 60_000;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * The board's state, in one Durable Object with SQLite storage: pods per
 * cluster, snapshot sightings, cluster alert states, alert history, webhook
 * deliveries (an outbox retried with backoff), and seen signatures (replay
 * protection). Its alarm evaluates the rules every `evaluateEvery`.
 */
export class Board extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #alarmKnown = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`
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
  }

  get #config(): BoardConfig {
    return readConfig(this.env);
  }

  /**
   * Stores heartbeats already authenticated by the worker. `signature` is
   * remembered until it can no longer pass the timestamp window, so the same
   * signed request is accepted once.
   */
  async ingest(heartbeats: Heartbeat[], signature: string, now = Date.now()): Promise<IngestResult> {
    const expires = now + (SIGNATURE_WINDOW_SECONDS + 60) * 1000;
    const fresh = this.#sql.exec('INSERT OR IGNORE INTO signatures (signature, expires_at) VALUES (?, ?) RETURNING signature', signature, expires).toArray();
    if (fresh.length === 0) return { status: 'replayed' };
    for (const h of heartbeats) {
      const dbCreated = h.database ? Date.parse(h.database.createdAt) : null;
      this.#sql.exec(
        `INSERT INTO pods (cluster, pod, last_heartbeat_at, app_git_sha, db_git_sha, db_sha256, db_created_at, last_success_at, last_error, tasks)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (cluster, pod) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at, app_git_sha = excluded.app_git_sha,
           db_git_sha = excluded.db_git_sha, db_sha256 = excluded.db_sha256, db_created_at = excluded.db_created_at,
           last_success_at = excluded.last_success_at, last_error = excluded.last_error, tasks = excluded.tasks`,
        h.cluster,
        h.pod,
        now,
        h.appGitSha,
        h.database?.gitSha ?? null,
        h.database?.sha256 ?? null,
        dbCreated,
        h.lastSuccessAt ? Date.parse(h.lastSuccessAt) : null,
        h.lastError,
        JSON.stringify(h.tasks),
      );
      if (h.database) {
        this.#sql.exec(
          'INSERT OR IGNORE INTO sightings (cluster, db_git_sha, sha256, created_at, first_seen_at) VALUES (?, ?, ?, ?, ?)',
          h.cluster,
          h.database.gitSha,
          h.database.sha256,
          dbCreated,
          now,
        );
      }
    }
    await this.ensureAlarm();
    return { status: 'accepted', count: heartbeats.length };
  }

  /** Schedules the evaluation alarm if none is pending (after deploys, or when no pod has reported yet). */
  async ensureAlarm(): Promise<void> {
    if (this.#alarmKnown) return;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + this.#config.evaluateEvery);
    // Once set, the alarm reschedules itself after every round; this instance need not ask again.
    this.#alarmKnown = true;
  }

  #pods(cluster?: string): PodRecord[] {
    const rows = cluster ? this.#sql.exec('SELECT * FROM pods WHERE cluster = ?', cluster).toArray() : this.#sql.exec('SELECT * FROM pods').toArray();
    return rows.map((r) => ({
      cluster: String(r.cluster),
      pod: String(r.pod),
      lastHeartbeatAt: Number(r.last_heartbeat_at),
      appGitSha: r.app_git_sha as string | null,
      dbGitSha: r.db_git_sha as string | null,
      dbSha256: r.db_sha256 as string | null,
      dbCreatedAt: r.db_created_at === null ? null : Number(r.db_created_at),
      lastSuccessAt: r.last_success_at === null ? null : Number(r.last_success_at),
      lastError: r.last_error as string | null,
      tasks: JSON.parse(String(r.tasks)),
    }));
  }

  #sightings(cluster: string): SnapshotSighting[] {
    return this.#sql.exec('SELECT * FROM sightings WHERE cluster = ?', cluster).toArray().map((r) => ({
      dbGitSha: String(r.db_git_sha),
      sha256: String(r.sha256),
      createdAt: Number(r.created_at),
      firstSeenAt: Number(r.first_seen_at),
    }));
  }

  #clusterIds(config: BoardConfig): string[] {
    const ids = new Set(config.expectedClusters);
    for (const r of this.#sql.exec('SELECT DISTINCT cluster FROM pods UNION SELECT cluster FROM clusters').toArray()) ids.add(String(r.cluster));
    return [...ids].sort();
  }

  #verdicts(now: number, config: BoardConfig, pods: PodRecord[], only?: string): ClusterVerdict[] {
    const ids = only ? [only] : this.#clusterIds(config);
    return ids.map((id) => evaluateCluster(id, pods.filter((p) => p.cluster === id), this.#sightings(id), ruleFor(config, id), now));
  }

  /** Everything the board shows. Times are absolute, so the view (and its ETag) changes only when the data does. */
  view(now = Date.now(), only?: string): BoardView {
    const config = this.#config;
    const stored = new Map(this.#sql.exec('SELECT cluster, since FROM clusters').toArray().map((r) => [String(r.cluster), Number(r.since)]));
    const records = this.#pods(only);
    const pods = new Map(records.map((p) => [`${p.cluster}\u0000${p.pod}`, p]));
    const clusters = this.#verdicts(now, config, records, only).map((verdict): ClusterView => ({
      id: verdict.cluster,
      state: verdict.state,
      since: iso(stored.get(verdict.cluster) ?? null),
      reasons: verdict.reasons,
      expected: config.expectedClusters.includes(verdict.cluster),
      lastHeartbeatAt: iso(verdict.lastHeartbeatAt),
      pods: verdict.pods.map((v) => {
        const p = pods.get(`${verdict.cluster}\u0000${v.pod}`)!;
        return {
          pod: v.pod,
          state: v.lagging ? 'lagging' : v.stale ? 'stale' : 'ok',
          reasons: v.reasons,
          appGitSha: p.appGitSha,
          dbGitSha: p.dbGitSha,
          dbSha256: p.dbSha256,
          dbCreatedAt: iso(p.dbCreatedAt),
          lastHeartbeatAt: iso(p.lastHeartbeatAt)!,
          lastSuccessAt: iso(p.lastSuccessAt),
          lastError: p.lastError,
          tasks: p.tasks,
        };
      }),
    }));
    const alertRows = only
      ? this.#sql.exec('SELECT * FROM alerts WHERE cluster = ? ORDER BY id DESC LIMIT 50', only).toArray()
      : this.#sql.exec('SELECT * FROM alerts ORDER BY id DESC LIMIT 50').toArray();
    const alerts = alertRows.map((r) => ({
      id: Number(r.id),
      cluster: String(r.cluster),
      kind: r.kind as AlertKind,
      at: iso(Number(r.at))!,
      reasons: JSON.parse(String(r.reasons)) as string[],
      deliveries: this.#sql
        .exec('SELECT target, status, attempts, last_error FROM deliveries WHERE alert_id = ? ORDER BY target', r.id)
        .toArray()
        .map((d) => ({ target: Number(d.target), status: String(d.status), attempts: Number(d.attempts), lastError: d.last_error as string | null })),
    }));
    const meta = new Map(this.#sql.exec('SELECT key, value FROM meta').toArray().map((r) => [String(r.key), r.value as string | null]));
    return { clusters, alerts, deadMan: { lastPingAt: meta.get('deadman_at') ?? null, lastResult: meta.get('deadman_result') ?? null } };
  }

  override async alarm(): Promise<void> {
    await this.evaluate();
  }

  /**
   * One round: forget expired pods, evaluate every cluster, record an alert
   * per transition (and reminders), deliver due webhooks, ping the dead man's
   * switch when all is well, and schedule the next round.
   */
  async evaluate(now = Date.now()): Promise<ClusterVerdict[]> {
    const config = this.#config;
    const secrets = readSecrets(this.env);
    this.#sql.exec('DELETE FROM pods WHERE last_heartbeat_at < ?', now - config.podTtl);
    this.#sql.exec('DELETE FROM sightings WHERE first_seen_at < ? AND sha256 NOT IN (SELECT db_sha256 FROM pods WHERE db_sha256 IS NOT NULL)', now - config.podTtl);
    this.#sql.exec('DELETE FROM signatures WHERE expires_at < ?', now);

    const pods = this.#pods();
    const verdicts = this.#verdicts(now, config, pods);
    const live = new Set(pods.map((p) => p.cluster));
    const result: ClusterVerdict[] = [];
    for (const verdict of verdicts) {
      const tracked = live.has(verdict.cluster) || config.expectedClusters.includes(verdict.cluster);
      const previous = this.#sql.exec('SELECT state, last_alert_at FROM clusters WHERE cluster = ?', verdict.cluster).toArray()[0];
      if (!tracked) {
        // Every pod expired and nobody expects the cluster: it was scaled away, not broken.
        this.#sql.exec('DELETE FROM clusters WHERE cluster = ?', verdict.cluster);
        continue;
      }
      result.push(verdict);
      if (!previous) {
        this.#sql.exec('INSERT INTO clusters (cluster, state, since, last_alert_at) VALUES (?, ?, ?, NULL)', verdict.cluster, verdict.state, now);
        if (verdict.state === 'stale') this.#raise('stale', verdict, now, secrets);
      } else if (previous.state !== verdict.state) {
        this.#sql.exec('UPDATE clusters SET state = ?, since = ? WHERE cluster = ?', verdict.state, now, verdict.cluster);
        this.#raise(verdict.state === 'stale' ? 'stale' : 'recovered', verdict, now, secrets);
      } else if (verdict.state === 'stale' && previous.last_alert_at !== null && now - Number(previous.last_alert_at) >= config.reminderEvery) {
        this.#raise('reminder', verdict, now, secrets);
      }
    }
    await this.#deliver(now, config, secrets);
    if (result.length > 0 && result.every((v) => v.state === 'ok') && secrets.deadManUrl) await this.#pingDeadMan(secrets.deadManUrl, now);
    const next = this.#sql.exec("SELECT min(next_attempt_at) AS at FROM deliveries WHERE status = 'pending'").one().at as number | null;
    await this.ctx.storage.setAlarm(Math.min(now + config.evaluateEvery, next ?? Number.POSITIVE_INFINITY));
    return result;
  }

  /** Records an alert and queues one delivery per webhook: exactly one alert per transition. */
  #raise(kind: AlertKind, verdict: ClusterVerdict, now: number, secrets: ReturnType<typeof readSecrets>): void {
    const id = Number(
      this.#sql.exec('INSERT INTO alerts (cluster, kind, at, reasons) VALUES (?, ?, ?, ?) RETURNING id', verdict.cluster, kind, now, JSON.stringify(verdict.reasons)).one().id,
    );
    this.#sql.exec('UPDATE clusters SET last_alert_at = ? WHERE cluster = ?', now, verdict.cluster);
    const alert = alertFrom(id, kind, verdict, now);
    secrets.webhooks.forEach((hook, target) => {
      const body = hook.kind === 'slack' ? slackPayload(alert) : jsonPayload(alert);
      this.#sql.exec(
        "INSERT OR IGNORE INTO deliveries (alert_id, target, url, kind, body, status, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
        id,
        target,
        hook.url,
        hook.kind,
        body,
        now,
      );
    });
    this.#sql.exec('DELETE FROM alerts WHERE id <= ?', id - 500);
  }

  async #deliver(now: number, config: BoardConfig, secrets: ReturnType<typeof readSecrets>): Promise<void> {
    const due = this.#sql.exec("SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY alert_id, target", now).toArray();
    // Claim them before the first await: another round (an alarm while a test or a retry runs one) must not send them too.
    this.#sql.exec("UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at <= ?", now + DELIVERY_LEASE_MS, now);
    for (const d of due) {
      const body = String(d.body);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-sqlitening-alert-id': String(d.alert_id) };
      if (d.kind === 'json' && secrets.webhookSecret) Object.assign(headers, await signatureHeaders(secrets.webhookSecret, body, now));
      let error: string | null = null;
      try {
        const response = await fetch(String(d.url), { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
        await response.body?.cancel();
        if (!response.ok) error = `HTTP ${response.status}`;
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      const attempts = Number(d.attempts) + 1;
      if (error === null) {
        this.#sql.exec("UPDATE deliveries SET status = 'delivered', attempts = ?, last_error = NULL WHERE alert_id = ? AND target = ?", attempts, d.alert_id, d.target);
      } else {
        const status = attempts >= config.maxAttempts ? 'failed' : 'pending';
        const next = now + config.retryBase * 2 ** (attempts - 1);
        this.#sql.exec(
          'UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ? WHERE alert_id = ? AND target = ?',
          status,
          attempts,
          next,
          error,
          d.alert_id,
          d.target,
        );
      }
    }
  }

  async #pingDeadMan(url: string, now: number): Promise<void> {
    let result: string;
    try {
      const response = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(10_000) });
      await response.body?.cancel();
      result = response.ok ? 'ok' : `HTTP ${response.status}`;
    } catch (e) {
      result = e instanceof Error ? e.message : String(e);
    }
    this.#sql.exec("INSERT INTO meta (key, value) VALUES ('deadman_at', ?), ('deadman_result', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", new Date(now).toISOString(), result);
  }
}
