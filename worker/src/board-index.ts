import { DurableObject } from 'cloudflare:workers';
import { readBoardPage } from './board-page.js';
import { FIRST_PAGE, type BoardQuery } from './board-query.js';
import { clusterLines, type BoardView, type ClusterLine } from './board-view.js';
import { commitViews, type CommitView } from './commit-view.js';
import { deadManUrl, readConfig, type BoardConfig } from './config.js';
import { pingDeadMan, readDeadMan } from './dead-man.js';
import { INDEX_LADDER } from './index-schema.js';
import {
  anyStaleSummary,
  anySummary,
  forgetSummary,
  readOverdueClusters,
  readRecentAlerts,
  readSummaries,
  readSummariesOf,
  readSummary,
  storeSummary,
  neverReported,
} from './index-rows.js';
import { keyStatus, revoked, rotated, type KeyStatus } from './key-record.js';
import { readKeyRecord, readKeyRegistry, storeKeyRecord, type KeyChange, type KeyRegistry } from './key-rows.js';
import { logError } from './log.js';
import { clusterStub } from './objects.js';
import { migrate } from './schema.js';
import { overdueAfter, type ClusterSummary } from './summary.js';

/** Retry delay for a round that failed before it could read the settings. */
const FAILED_ROUND_RETRY_MS = 60_000;

/** Most clusters one round of the index wakes (the longest overdue first); the rest wait for the next round, so a round's work has a bound. */
export const WAKE_PER_ROUND = 200;

/**
 * The board's index, one Durable Object with SQLite storage (named
 * "global"): the summary each cluster's object sends after its rounds, the
 * latest alerts, and the dead man's switch. It serves the global views (the
 * board, commits, badges) without reading any pod. Its alarm, every
 * `evaluateEvery`, wakes clusters that should be evaluated and are not
 * (expected clusters that never reported, clusters whose summary is overdue)
 * and pings the dead man's switch when every cluster is healthy. It also
 * keeps the versions and revocations of the clusters' derived keys
 * (key-record.ts), which workers read to check signatures (cluster-auth.ts).
 *
 * The class was called `Board` while it held the whole board; the deployed
 * object became this index (see index-schema.ts for what its upgrade does
 * with the old tables), and the class was renamed by a `renamed_classes`
 * migration (wrangler.jsonc), which keeps the object and its storage.
 */
export class BoardIndex extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #alarmKnown = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    // Upgrades this object's tables to the code's version; throws if they are newer (a rolled-back worker).
    migrate(ctx.storage, INDEX_LADDER);
  }

  get #config(): BoardConfig {
    return readConfig(this.env);
  }

  /** Stores the summary a cluster's object sent. */
  report(summary: ClusterSummary): void {
    storeSummary(this.#sql, summary);
  }

  /** Forgets a cluster that was scaled away. */
  forget(cluster: string): void {
    forgetSummary(this.#sql, cluster);
  }

  /** One page of the global board (stale first; see board-page.ts), the latest alerts, the dead man's switch. */
  view(query: BoardQuery = FIRST_PAGE, now = Date.now()): BoardView {
    return { ...readBoardPage(this.#sql, this.#config, query, now), alerts: readRecentAlerts(this.#sql, 50), deadMan: readDeadMan(this.#sql) };
  }

  /** One cluster's line, or null for a cluster the board does not know (neither reporting nor expected). */
  cluster(id: string, now = Date.now()): ClusterLine | null {
    const config = this.#config;
    const summary = readSummary(this.#sql, id);
    if (!summary && !config.expectedClusters.includes(id)) return null;
    return clusterLines(summary ? [summary] : [], config.expectedClusters.includes(id) ? [id] : [], config, now)[0] ?? null;
  }

  /** Which commits of the app are live in which clusters. */
  commits(now = Date.now()): CommitView[] {
    return commitViews(readSummaries(this.#sql), this.#config, now);
  }

  /** Schedules the index's alarm if none is pending (the cron trigger calls this, so the alarm survives anything). */
  async ensureAlarm(): Promise<void> {
    if (this.#alarmKnown) return;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + this.#config.evaluateEvery);
    // Once set, the alarm reschedules itself after every round; this instance need not ask again.
    this.#alarmKnown = true;
  }

  override async alarm(): Promise<void> {
    try {
      await this.evaluate();
    } catch (error) {
      logError(this.env, 'board index round failed', {}, error);
      await this.ctx.storage.setAlarm(Date.now() + FAILED_ROUND_RETRY_MS);
    }
  }

  /**
   * One round of the index: wake the clusters that should have been
   * evaluated and were not (expected clusters that never reported, and up to
   * WAKE_PER_ROUND overdue ones), ping the dead man's switch when every
   * cluster is healthy and recently evaluated, and schedule the next round.
   * Reads through indexes only, so its work does not grow with the number of
   * healthy clusters. Returns the lines of the clusters it woke.
   */
  async evaluate(now = Date.now()): Promise<ClusterLine[]> {
    const config = this.#config;
    const overdueBefore = now - overdueAfter(config);
    const silent = neverReported(this.#sql, config.expectedClusters);
    const overdue = readOverdueClusters(this.#sql, overdueBefore, WAKE_PER_ROUND);
    const asleep = clusterLines(readSummariesOf(this.#sql, overdue), silent, config, now);
    const woken = await Promise.allSettled(asleep.map((line) => clusterStub(this.env, line.id).ensureAlarm(line.id)));
    woken.forEach((result, i) => {
      if (result.status === 'rejected') logError(this.env, 'waking a cluster failed', { cluster: asleep[i]!.id }, result.reason);
    });
    const url = deadManUrl(this.env);
    const healthy = asleep.length === 0 && anySummary(this.#sql) && !anyStaleSummary(this.#sql);
    if (healthy && url) await pingDeadMan(this.#sql, url, now);
    await this.ctx.storage.setAlarm(now + config.evaluateEvery);
    return asleep;
  }

  /** A cluster's key versions (cluster-key.js derives the keys): what is accepted, since when, whether revoked. */
  keyStatus(cluster: string, now = Date.now()): KeyStatus {
    return keyStatus(readKeyRecord(this.#sql, cluster), now);
  }

  /** Every key record, unless the caller has generation `known`'s already (null then): what workers cache to check signatures. */
  keyRegistry(known: number | null): KeyRegistry | null {
    return readKeyRegistry(this.#sql, known);
  }

  /** Moves a cluster to its next key version; the one in use stays accepted for `overlapMs`. */
  rotateKey(cluster: string, overlapMs: number, now = Date.now()): KeyChange {
    const record = rotated(readKeyRecord(this.#sql, cluster), now, overlapMs);
    return { status: keyStatus(record, now), generation: storeKeyRecord(this.#sql, record) };
  }

  /** Refuses every key of a cluster from now on (until it is rotated); other clusters are untouched. */
  revokeKey(cluster: string, now = Date.now()): KeyChange {
    const record = revoked(readKeyRecord(this.#sql, cluster), now);
    return { status: keyStatus(record, now), generation: storeKeyRecord(this.#sql, record) };
  }
}
