/**
 * The worker as the cost model measures it (scripts/cost-model.js), never
 * deployed: the board's own objects, each counting the work Cloudflare bills
 * for, and one route that reads and resets those counts.
 *   POST /__cost/counts/<cluster>   { cluster: Counts, index: Counts }, then both start again from zero
 *
 * Counts are what the Durable Objects pricing names: invocations (RPC calls
 * and alarms, each a billed request), SQLite rows read and written (from each
 * cursor's rowsRead / rowsWritten) and setAlarm calls (each billed as a row
 * written). Duration is not counted here: inside an object the clock stands
 * still while it computes, so the cost model uses the request latency seen
 * from outside instead.
 */
import { BoardIndex as BaseBoardIndex, ClusterBoard as BaseClusterBoard } from '../src/index.js';
import worker from '../src/index.js';

export interface Counts {
  /** RPC calls and alarm handlers, by name. */
  invocations: Record<string, number>;
  rowsRead: number;
  rowsWritten: number;
  setAlarm: number;
  /** The same rows by statement (its text, whitespace collapsed, cut at 80 characters): where they go. */
  statements: Record<string, { calls: number; rowsRead: number; rowsWritten: number }>;
}

/** One object's counts: every SQL statement's rows, every setAlarm, and the RPC calls and alarms it handled. */
class Meter {
  #cursors: { query: string; cursor: SqlStorageCursor<Record<string, SqlStorageValue>> }[] = [];
  #setAlarm = 0;
  #invocations: Record<string, number> = {};

  /**
   * Counts on the object's own storage: its SQL handle's exec and its setAlarm,
   * replaced on the instances the object uses (the runtime hands out the same
   * ones on every access; this checks it).
   */
  attach(ctx: DurableObjectState): void {
    const storage = ctx.storage;
    const sql = storage.sql;
    const exec = sql.exec.bind(sql);
    const setAlarm = storage.setAlarm.bind(storage);
    const countedExec = (query: string, ...bindings: unknown[]) => {
      const cursor = exec(query, ...bindings);
      this.#cursors.push({ query, cursor });
      return cursor;
    };
    const countedSetAlarm = (...args: Parameters<DurableObjectStorage['setAlarm']>) => {
      this.#setAlarm++;
      return setAlarm(...args);
    };
    Object.defineProperty(sql, 'exec', { value: countedExec });
    Object.defineProperty(storage, 'setAlarm', { value: countedSetAlarm });
    if (ctx.storage.sql.exec !== countedExec || ctx.storage.setAlarm !== countedSetAlarm) {
      throw new Error('cost harness: the storage handles are not the same on every access, so nothing would be counted');
    }
  }

  count<T>(name: string, run: () => T): T {
    this.#invocations[name] = (this.#invocations[name] ?? 0) + 1;
    return run();
  }

  take(): Counts {
    let rowsRead = 0;
    let rowsWritten = 0;
    const statements: Counts['statements'] = {};
    for (const { query, cursor } of this.#cursors) {
      rowsRead += cursor.rowsRead;
      rowsWritten += cursor.rowsWritten;
      const text = query.replace(/\s+/g, ' ').trim().slice(0, 80);
      const entry = statements[text] ?? { calls: 0, rowsRead: 0, rowsWritten: 0 };
      statements[text] = entry;
      entry.calls++;
      entry.rowsRead += cursor.rowsRead;
      entry.rowsWritten += cursor.rowsWritten;
    }
    const counts = { invocations: this.#invocations, rowsRead, rowsWritten, setAlarm: this.#setAlarm, statements };
    this.#cursors = [];
    this.#setAlarm = 0;
    this.#invocations = {};
    return counts;
  }
}

export class ClusterBoard extends BaseClusterBoard {
  readonly #meter: Meter;

  constructor(ctx: DurableObjectState, env: Env) {
    const meter = new Meter();
    meter.attach(ctx);
    super(ctx, env);
    this.#meter = meter;
  }

  override ingest(...args: Parameters<BaseClusterBoard['ingest']>): ReturnType<BaseClusterBoard['ingest']> {
    return this.#meter.count('ingest', () => super.ingest(...args));
  }

  override alarm(): Promise<void> {
    return this.#meter.count('alarm', () => super.alarm());
  }

  costCounts(): Counts {
    return this.#meter.take();
  }
}

export class BoardIndex extends BaseBoardIndex {
  readonly #meter: Meter;

  constructor(ctx: DurableObjectState, env: Env) {
    const meter = new Meter();
    meter.attach(ctx);
    super(ctx, env);
    this.#meter = meter;
  }

  override report(...args: Parameters<BaseBoardIndex['report']>): void {
    this.#meter.count('report', () => super.report(...args));
  }

  override alarm(): Promise<void> {
    return this.#meter.count('alarm', () => super.alarm());
  }

  /** Each worker isolate asks at most every 10 s whether the cluster keys' records changed (src/cluster-auth.ts). */
  override keyRegistry(...args: Parameters<BaseBoardIndex['keyRegistry']>): ReturnType<BaseBoardIndex['keyRegistry']> {
    return this.#meter.count('keyRegistry', () => super.keyRegistry(...args));
  }

  costCounts(): Counts {
    return this.#meter.take();
  }
}

export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    const cluster = /^\/__cost\/counts\/([A-Za-z0-9._-]+)$/.exec(pathname)?.[1];
    if (request.method === 'POST' && cluster) {
      const clusterCounts = await (env.CLUSTERS.get(env.CLUSTERS.idFromName(cluster)) as unknown as DurableObjectStub<ClusterBoard>).costCounts();
      const indexCounts = await (env.BOARD.get(env.BOARD.idFromName('global')) as unknown as DurableObjectStub<BoardIndex>).costCounts();
      return Response.json({ cluster: clusterCounts, index: indexCounts });
    }
    return worker.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
