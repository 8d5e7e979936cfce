import { DurableObject } from 'cloudflare:workers';
import type { Heartbeat } from '@sqlitening/contract';
import { alertViews, type AlertView } from './alert-view.js';
import { claimCluster, readClusterName, readReportedAt, readStateSince, recordReportedAt } from './cluster-row.js';
import { CLUSTER_LADDER } from './cluster-schema.js';
import { clusterView, type ClusterView } from './cluster-view.js';
import { limitsFor, readConfig, ruleFor, webhookSecret, webhooks, type BoardConfig } from './config.js';
import { storeHeartbeats, type IngestResult } from './ingest.js';
import { logError } from './log.js';
import { indexStub } from './objects.js';
import { deliverDue, nextDeliveryAt } from './outbox.js';
import { readPods, readSightings } from './pod-rows.js';
import { recordRound } from './round.js';
import { evaluateCluster, type ClusterVerdict, type PodRecord } from './rules.js';
import { migrate } from './schema.js';
import { SUMMARY_ALERTS, summarize } from './summary.js';

/** Retry delay for a round that failed before it could read the settings. */
const FAILED_ROUND_RETRY_MS = 60_000;

/**
 * One cluster's state, in its own Durable Object with SQLite storage (named
 * after the cluster): its pods, snapshot sightings, alert state, alerts and
 * their webhook deliveries (an outbox retried with backoff), seen signatures
 * (replay protection) and its rate-limit bucket. Its alarm evaluates the
 * cluster every `evaluateEvery` and sends the board's index a summary.
 *
 * A cluster's secret reaches only this object, so however much one cluster
 * sends, the work stays here: other clusters' rounds and alerts, and the
 * index, see one small summary per round.
 *
 * This class only wires the RPC methods and the alarm to the modules that do
 * the work: cluster-schema.ts (tables), cluster-row.ts, ingest.ts, round.ts,
 * outbox.ts, summary.ts, cluster-view.ts, alert-view.ts.
 */
export class ClusterBoard extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  /** The cluster this object holds, once told (every RPC names it). */
  #name: string | null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    // Upgrades this object's tables to the code's version; throws if they are newer (a rolled-back worker).
    migrate(ctx.storage, CLUSTER_LADDER);
    this.#name = readClusterName(this.#sql);
  }

  get #config(): BoardConfig {
    return readConfig(this.env);
  }

  /** Records which cluster this object holds; refuses another name (an object is found by its cluster's name, so this is a bug). */
  #claim(cluster: string): string {
    if (this.#name === null) {
      claimCluster(this.#sql, cluster);
      this.#name = cluster;
    } else if (this.#name !== cluster) {
      throw new Error(`this object holds cluster ${this.#name}, not ${cluster}`);
    }
    return cluster;
  }

  /**
   * Stores heartbeats already authenticated by the worker, unless their
   * signature was seen before or the cluster is over a limit. `signature`,
   * made at `timestamp` (unix seconds), is remembered until that timestamp
   * leaves the window, so the same signed request is accepted once.
   */
  async ingest(cluster: string, heartbeats: Heartbeat[], signature: string, timestamp: number, now = Date.now()): Promise<IngestResult> {
    this.#claim(cluster);
    const config = this.#config;
    const result = storeHeartbeats(this.#sql, cluster, heartbeats, signature, timestamp, now, limitsFor(config, cluster));
    if (result.status !== 'accepted') return result;
    await this.#scheduleBy(now + config.evaluateEvery);
    const reportedAt = readReportedAt(this.#sql);
    if (reportedAt === null || now - reportedAt >= config.summaryEvery) {
      await this.#report(now, config);
    } else {
      // Reported a moment ago: an early round brings the index up to date, once per summaryEvery however many heartbeats arrive.
      await this.#scheduleBy(reportedAt + config.summaryEvery);
    }
    return result;
  }

  /** Makes sure the alarm runs (the index asks for expected clusters that never reported, and for clusters it has not heard from). */
  async ensureAlarm(cluster: string): Promise<void> {
    this.#claim(cluster);
    await this.#scheduleBy(Date.now() + this.#config.evaluateEvery);
  }

  /** The cluster with every live pod, and its latest alerts. */
  view(cluster: string, now = Date.now()): { cluster: ClusterView; alerts: AlertView[] } {
    const name = this.#claim(cluster);
    return { cluster: clusterView(this.#sql, name, this.#config, now), alerts: alertViews(this.#sql, name, 50) };
  }

  override async alarm(): Promise<void> {
    try {
      await this.evaluate();
    } catch (error) {
      // Logged, and tried again: an alarm handler that throws is retried a few times and then dropped.
      logError(this.env, 'cluster round failed', { cluster: this.#name ?? undefined }, error);
      await this.ctx.storage.setAlarm(Date.now() + FAILED_ROUND_RETRY_MS);
    }
  }

  /**
   * One round: forget expired pods, evaluate the cluster, record an alert on
   * a transition (or a reminder), deliver due webhooks, send the index this
   * cluster's summary (or tell it the cluster is gone), and schedule the next
   * round. Returns null for an object that holds no cluster yet.
   */
  async evaluate(now = Date.now()): Promise<ClusterVerdict | null> {
    const name = this.#name;
    if (name === null) return null;
    const config = this.#config;
    const round = recordRound(this.#sql, name, now, config, webhooks(this.env));
    await deliverDue(this.#sql, name, now, config, webhookSecret(this.env));
    if (round.tracked) await this.#report(now, config, round.verdict, round.pods);
    else await this.#forget(name);
    const next = nextDeliveryAt(this.#sql);
    if (round.tracked || next !== null) {
      await this.ctx.storage.setAlarm(Math.min(now + config.evaluateEvery, next ?? Number.POSITIVE_INFINITY));
    } else {
      // Scaled away: nothing to evaluate until a pod reports again (ingest schedules the alarm then).
      await this.ctx.storage.deleteAlarm();
    }
    return round.verdict;
  }

  #required(): string {
    if (this.#name === null) throw new Error('this cluster object holds no cluster yet');
    return this.#name;
  }

  /** Sets the alarm to `at` unless it is already due sooner. */
  async #scheduleBy(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /**
   * Sends the index this cluster's summary: from a round's verdict, or made
   * now from the live pods. A failure is logged, not thrown: heartbeats and
   * alerts go on without the index, and the next round sends it again.
   */
  async #report(now: number, config: BoardConfig, verdict?: ClusterVerdict, pods?: PodRecord[]): Promise<void> {
    const name = this.#required();
    const live = pods ?? readPods(this.#sql, now - config.podTtl);
    const current = verdict ?? evaluateCluster(name, live, readSightings(this.#sql), ruleFor(config, name), now);
    const since = readStateSince(this.#sql);
    const summary = summarize(current, live, since, alertViews(this.#sql, name, SUMMARY_ALERTS), now);
    recordReportedAt(this.#sql, now);
    try {
      await indexStub(this.env).report(summary);
    } catch (error) {
      logError(this.env, 'sending the summary to the board index failed', { cluster: name }, error);
    }
  }

  async #forget(name: string): Promise<void> {
    try {
      await indexStub(this.env).forget(name);
    } catch (error) {
      logError(this.env, 'telling the board index a cluster is gone failed', { cluster: name }, error);
    }
  }
}
