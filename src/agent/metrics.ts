import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { HealthReport } from './health.js';

const DEFAULT_PREFIX = 'sqlitening_agent_';
const EVENT_LOOP_SAMPLE_MS = 1000;
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** The agent's Prometheus metrics, in a registry of its own (several agents may share a process in tests). */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly runs = new Counter({
    name: 'sqlitening_sync_runs_total',
    help: 'Sync runs by result: installed, unchanged, not-modified, failed.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: 'sqlitening_sync_failures_total',
    help: 'Failed sync runs by reason (error code).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: 'sqlitening_downloaded_bytes_total',
    help: 'Snapshot bytes received from the store (as stored, before decompression).',
    registers: [this.registry],
  });
  readonly installs = new Counter({
    name: 'sqlitening_sync_total',
    help: 'Snapshots installed, by method (delta: changed pages on the previous file; full: the whole object) and by the store that served them (store: 0 for the first --store; store_location).',
    labelNames: ['method', 'store', 'store_location'] as const,
    registers: [this.registry],
  });
  readonly installBytes = new Counter({
    name: 'sqlitening_sync_bytes_total',
    help: 'Bytes received from the store for installed snapshots, by method and store.',
    labelNames: ['method', 'store', 'store_location'] as const,
    registers: [this.registry],
  });
  readonly reverifications = new Counter({
    name: 'sqlitening_reverifications_total',
    help: 'Full re-reads of the live file checked against its manifest, by result (ok, mismatch).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly heartbeatFailures = new Counter({
    name: 'sqlitening_heartbeat_failures_total',
    help: 'Heartbeats to the board that failed.',
    registers: [this.registry],
  });
  readonly droppedConnections = new Counter({
    name: 'sqlitening_health_dropped_connections_total',
    help: 'Connections to the health server closed on arrival because it had as many open as it allows.',
    registers: [this.registry],
  });

  constructor(produceReport: () => Promise<HealthReport>) {
    const registry = this.registry;
    // The gauges below are collected together on each scrape: they share one report (one read of the task markers).
    let pending: Promise<HealthReport> | undefined;
    const report = (): Promise<HealthReport> => {
      if (!pending) {
        pending = produceReport();
        void pending.finally(() => setImmediate(() => (pending = undefined))).catch(() => {});
      }
      return pending;
    };
    new Gauge({
      name: 'sqlitening_database_age_seconds',
      help: 'Age of the installed snapshot (since it was built); absent before the first install.',
      registers: [registry],
      async collect() {
        const health = await report();
        this.reset();
        if (health.database) this.set(health.database.ageSeconds);
      },
    });
    new Gauge({
      name: 'sqlitening_last_success_timestamp_seconds',
      help: 'Unix time of the last successful sync; 0 before the first.',
      registers: [registry],
      async collect() {
        const health = await report();
        this.set(health.lastSuccessAt ? Date.parse(health.lastSuccessAt) / 1000 : 0);
      },
    });
    new Gauge({
      name: 'sqlitening_task_age_seconds',
      help: 'Seconds since each task last succeeded (its marker file); -1 when it never has.',
      labelNames: ['task'] as const,
      registers: [registry],
      async collect() {
        const health = await report();
        this.reset();
        for (const task of health.tasks) this.set({ task: task.name }, task.ageSeconds ?? -1);
      },
    });
    new Gauge({
      name: 'sqlitening_store_index',
      help: 'The store the last successful run read from: 0 for the first --store, more after a failover to a mirror; absent before the first success.',
      registers: [registry],
      async collect() {
        const health = await report();
        this.reset();
        if (health.store) this.set(health.store.index);
      },
    });
    new Gauge({
      name: 'sqlitening_healthy',
      help: '1 when every task is within its limit, else 0.',
      registers: [registry],
      async collect() {
        this.set((await report()).ok ? 1 : 0);
      },
    });
    // The event-loop delay histogram samples on a timer of this period: prom-client's 10 ms default wakes an idle
    // agent 100 times a second, which was nine tenths of its CPU at rest. Stalls of a second or more still show
    // for certain, shorter ones as often as they overlap a tick (the lag gauge, measured at each scrape, stays).
    collectDefaultMetrics({ register: registry, prefix: DEFAULT_PREFIX, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    // Gauges named like counters break Prometheus' naming rule (promtool check metrics); each is the sum of a
    // gauge that stays, by type (sum(sqlitening_agent_nodejs_active_handles) gives the same number).
    for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(`${DEFAULT_PREFIX}${name}`);
  }
}
