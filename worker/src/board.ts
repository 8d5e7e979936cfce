import { DurableObject } from 'cloudflare:workers';
import type { Heartbeat } from '@sqlitening/contract';
import { readConfig, readSecrets, type BoardConfig } from './config.js';
import { storeHeartbeats, type IngestResult } from './ingest.js';
import { deliverDue, nextDeliveryAt, pingDeadMan } from './outbox.js';
import { recordRound } from './round.js';
import type { ClusterVerdict } from './rules.js';
import { migrate } from './schema.js';
import { buildView, commitViews, type BoardView, type CommitView } from './views.js';

/**
 * The board's state, in one Durable Object with SQLite storage: pods per
 * cluster, snapshot sightings, cluster alert states, alert history, webhook
 * deliveries (an outbox retried with backoff), and seen signatures (replay
 * protection). Its alarm evaluates the rules every `evaluateEvery`.
 *
 * This class only wires the RPC methods and the alarm to the modules that do
 * the work: schema.ts (tables), ingest.ts, round.ts (rules applied and
 * transitions recorded), outbox.ts (webhooks, dead man's switch), views.ts.
 */
export class Board extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #alarmKnown = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    // Upgrades this object's tables to the code's version; throws if they are newer (a rolled-back worker).
    migrate(ctx.storage);
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
    const result = storeHeartbeats(this.#sql, heartbeats, signature, now);
    if (result.status === 'accepted') await this.ensureAlarm();
    return result;
  }

  /** Schedules the evaluation alarm if none is pending (after deploys, or when no pod has reported yet). */
  async ensureAlarm(): Promise<void> {
    if (this.#alarmKnown) return;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + this.#config.evaluateEvery);
    // Once set, the alarm reschedules itself after every round; this instance need not ask again.
    this.#alarmKnown = true;
  }

  /** Everything the board shows. Times are absolute, so the view (and its ETag) changes only when the data does. */
  view(now = Date.now(), only?: string): BoardView {
    return buildView(this.#sql, this.#config, now, only);
  }

  /** Which commits of the app are live in which clusters. */
  commits(now = Date.now()): CommitView[] {
    return commitViews(this.#sql, this.#config, now);
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
    const result = recordRound(this.#sql, now, config, secrets.webhooks);
    await deliverDue(this.#sql, now, config, secrets.webhookSecret);
    if (result.length > 0 && result.every((v) => v.state === 'ok') && secrets.deadManUrl) await pingDeadMan(this.#sql, secrets.deadManUrl, now);
    const next = nextDeliveryAt(this.#sql);
    await this.ctx.storage.setAlarm(Math.min(now + config.evaluateEvery, next ?? Number.POSITIVE_INFINITY));
    return result;
  }
}
