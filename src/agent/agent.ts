import { describeError, errorMessage } from '../describe-error.js';
import { withRetries } from '../retry.js';
import type { TrustedKey } from '../signing/keys.js';
import { storeSource } from '../store/mirror-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { evaluateHealth, type HealthReport, type TaskInput } from './health.js';
import { heartbeatFrom, sendHeartbeat, type BoardSettings } from './heartbeat-client.js';
import { acquireLock } from './lock.js';
import type { AgentMetrics } from './metrics.js';
import { DATABASE_TASK, agentPaths, type AgentPaths } from './paths.js';
import { readState, writeState, type AgentState } from './state.js';
import { raiseFloor } from '../install/accept-manifest.js';
import { DEFAULT_TRANSFER_LIMITS, type TransferLimits } from '../transfer/transfer-limits.js';
import { reverifyLiveFile } from '../install/live-hashes.js';
import { rollBackInterruptedInstall } from '../sqlite/hot-journal.js';
import { RetiredFiles, removeInstallLeftovers } from '../install/live-install.js';
import { liveFileExists, policyOf, removeStaleTemps, syncOnce, type SyncOutcome } from './sync.js';
import { readTasks, touchTask } from './tasks.js';

export interface AgentOptions {
  /** Where snapshots are: one store, or several read as one (a `MirrorStore`, whose answering store the agent reports). */
  store: ObjectStore;
  /** Path of the live database the app reads. */
  database: string;
  /** The commit the app runs; `null` (`--any-commit`) installs the newest snapshot of any commit. */
  appGitSha: string | null;
  /** Time between runs. @default 5 minutes */
  intervalMs?: number;
  /** Random spread of each interval, as a share of it (0.1 = ±10%), so a fleet does not poll in step. @default 0.1 */
  jitter?: number;
  /** The database task fails health when its last success is older than this. @default 10 minutes */
  databaseLimitMs?: number;
  /** Limits of other tasks by name (marker files touched by other jobs); any other marker found gets `databaseLimitMs`. */
  taskLimits?: Map<string, number>;
  /** Stall timeout and deadline of every transfer; the agent adds its own abort signal. @default DEFAULT_TRANSFER_LIMITS */
  limits?: Omit<TransferLimits, 'signal'>;
  /** Refuse manifests that declare a larger database. @default 64 GiB */
  maxDatabaseBytes?: number;
  /** Accept only manifests signed by one of these keys; null or absent: signatures are not checked. */
  trustedKeys?: readonly TrustedKey[] | null;
  /** The database this pod installs (`--name`); null or absent: any. */
  databaseName?: string | null;
  /** Install a manifest older than the newest accepted for the commit, or past its expiry. @default false */
  allowRollback?: boolean;
  /** Always download whole objects, never deltas. @default false */
  noDelta?: boolean;
  /** Also run `quick_check` on each new file before it is swapped in. @default false */
  quickCheck?: boolean;
  /** How often the whole live file is read and checked against its manifest. @default 24 hours */
  reverifyMs?: number;
  /** Also check it at the first run of this process, however recent the last check (the long-running agent). @default false */
  reverifyAtStart?: boolean;
  /** Tries per run for transient failures. @default 3 */
  attempts?: number;
  /** @default 1000 */
  retryBaseDelayMs?: number;
  board?: BoardSettings;
  /** Keep Prometheus metrics (`agent.metrics`); a one-shot sync has no one to scrape them and skips loading prom-client. @default true */
  metrics?: boolean;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export type RunResult = { ok: true; outcome: SyncOutcome } | { ok: false; error: unknown; code: string };

/**
 * The pod agent: keeps the live database in step with its commit's manifest,
 * records state and task markers, exposes health and metrics, and sends
 * heartbeats. One per data folder, across processes and within one (a kernel
 * lock on a file in the folder guards it: see `acquireLock`).
 */
export class Agent {
  readonly paths: AgentPaths;
  /** Null when the options turned metrics off. */
  readonly metrics: AgentMetrics | null;
  readonly #options: AgentOptions;
  readonly #release: () => Promise<void>;
  #state: AgentState;
  #running: Promise<RunResult> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #abort = new AbortController();
  /** Files that were live before a replace, held so that connections left on them never play a later install's journal. */
  readonly #retired = new RetiredFiles();
  /** Whether this process has checked the live file yet (the agent does at its start, whatever the state says). */
  #verifiedHere = false;
  #stopped = false;

  private constructor(
    options: AgentOptions,
    paths: AgentPaths,
    release: () => Promise<void>,
    state: AgentState,
    metrics: typeof import('./metrics.js') | null,
  ) {
    this.#options = options;
    this.paths = paths;
    this.#release = release;
    this.#state = state;
    this.metrics = metrics ? new metrics.AgentMetrics(() => this.report()) : null;
  }

  /** Takes the folder's lock, removes temp files of a crashed run, and loads the state. */
  static async open(options: AgentOptions): Promise<Agent> {
    const paths = agentPaths(options.database);
    const release = await acquireLock(paths.lock, paths.lockHolder, paths.folder);
    try {
      const removed = await removeStaleTemps(paths.folder);
      if (removed.length) options.log?.('cleanup', { removed });
      // An install killed mid-way: SQLite rolls the live file back from its journal, as any connection would.
      const rollback = await rollBackInterruptedInstall(paths.database);
      if (rollback !== 'none') options.log?.('recovered', { journal: rollback });
      await removeInstallLeftovers(paths);
      const metrics = options.metrics === false ? null : await import('./metrics.js');
      return new Agent(options, paths, release, await readState(paths.state), metrics);
    } catch (error) {
      await release();
      throw error;
    }
  }

  get state(): AgentState {
    return this.#state;
  }

  async report(now = new Date()): Promise<HealthReport> {
    const markers = await readTasks(this.paths.tasks);
    const limit = this.#options.databaseLimitMs ?? 10 * 60_000;
    const limits = new Map(this.#options.taskLimits ?? []);
    const names = new Set([DATABASE_TASK, ...limits.keys(), ...markers.keys()]);
    const tasks: TaskInput[] = [...names].map((name) => ({
      name,
      lastSuccess: markers.get(name) ?? null,
      limitMs: name === DATABASE_TASK ? limit : (limits.get(name) ?? limit),
    }));
    const liveExists = await liveFileExists(this.paths.database);
    return evaluateHealth({ now, appGitSha: this.#options.appGitSha, state: this.#state, liveExists, tasks });
  }

  /** One run (with retries); never throws: the result says how it went. Concurrent calls share a run. */
  runOnce(): Promise<RunResult> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<RunResult> {
    const log = this.#options.log ?? (() => {});
    const startedAt = new Date();
    let result: RunResult;
    try {
      await this.#reverifyWhenDue(startedAt);
      const outcome = await withRetries(
        () =>
          syncOnce(
            {
              store: this.#options.store,
              paths: this.paths,
              appGitSha: this.#options.appGitSha,
              limits: { ...DEFAULT_TRANSFER_LIMITS, ...this.#options.limits, signal: this.#abort.signal },
              maxDatabaseBytes: this.#options.maxDatabaseBytes,
              trustedKeys: this.#options.trustedKeys,
              databaseName: this.#options.databaseName,
              allowRollback: this.#options.allowRollback,
              noDelta: this.#options.noDelta,
              quickCheck: this.#options.quickCheck,
              retired: this.#retired,
              onDeltaFailed: (delta, error) =>
                log('delta-failed', { key: delta.key, reason: describeError(error).code, message: errorMessage(error), next: 'full download' }),
            },
            this.#state,
          ),
        {
          attempts: this.#options.attempts ?? 3,
          baseDelayMs: this.#options.retryBaseDelayMs ?? 1000,
          signal: this.#abort.signal,
          onRetry: (error, attempt, delayMs) => log('retry', { attempt, delayMs, reason: describeError(error).code, message: errorMessage(error) }),
        },
      );
      const done = new Date();
      // The store whose answer ended the run: the snapshot's bytes when it installed one, else the manifest.
      const source = storeSource(this.#options.store);
      this.#state = {
        ...this.#state,
        installed: outcome.manifest ?? this.#state.installed,
        installedSignedBy: outcome.status === 'not-modified' ? this.#state.installedSignedBy : outcome.signedBy,
        manifestEtag: outcome.status === 'not-modified' ? this.#state.manifestEtag : outcome.etag,
        acceptedUnder: outcome.status === 'not-modified' ? this.#state.acceptedUnder : policyOf(this.#options),
        lastRunAt: startedAt.toISOString(),
        lastSuccessAt: done.toISOString(),
        lastError: null,
        // Only a full read of the live file resets the re-verification clock: a delta hashed just its pages.
        verifiedAt: outcome.status === 'installed' && outcome.method === 'full' ? done.toISOString() : this.#state.verifiedAt,
        floor: outcome.manifest ? raiseFloor(this.#state.floor, outcome.manifest, this.#options.allowRollback === true) : this.#state.floor,
        lastInstall:
          outcome.status === 'installed'
            ? { method: outcome.method, bytes: outcome.bytesReceived, at: done.toISOString(), fallback: outcome.fallback, store: source }
            : this.#state.lastInstall,
        store: source,
      };
      await writeState(this.paths.state, this.#state);
      await touchTask(this.paths.tasks, DATABASE_TASK, done);
      this.metrics?.runs.inc({ result: outcome.status });
      this.metrics?.bytes.inc(outcome.bytesReceived);
      if (outcome.status === 'installed') {
        const labels = { method: outcome.method, store: String(source.index), store_location: source.location };
        this.metrics?.installs.inc(labels);
        this.metrics?.installBytes.inc(labels, outcome.bytesReceived);
      }
      log(outcome.status, {
        sha256: outcome.manifest?.database.sha256 ?? null,
        bytes: outcome.bytesReceived,
        store: source.index,
        ...(outcome.status === 'installed'
          ? { method: outcome.method, objectBytes: outcome.manifest.object.size, fallback: outcome.fallback, replaced: outcome.replaced }
          : {}),
      });
      result = { ok: true, outcome };
    } catch (error) {
      const code = describeError(error).code;
      if (this.#stopped && this.#abort.signal.aborted) return { ok: false, error, code: 'stopped' };
      // Counted before the state shows the error, so that /healthz never reports a failure the metrics lack.
      this.metrics?.runs.inc({ result: 'failed' });
      this.metrics?.failures.inc({ reason: code });
      this.#state = {
        ...this.#state,
        lastRunAt: startedAt.toISOString(),
        lastError: { code, message: errorMessage(error), at: new Date().toISOString() },
      };
      await writeState(this.paths.state, this.#state).catch(() => {});
      log('failed', { reason: code, message: errorMessage(error) });
      result = { ok: false, error, code };
    }
    await this.#heartbeat();
    return result;
  }

  /**
   * At the first run and every `reverifyMs`, reads the whole live file and
   * checks it against the installed manifest. A file that no longer matches
   * (disk corruption, a hand edit) is forgotten, so this run downloads it whole.
   */
  async #reverifyWhenDue(now: Date): Promise<void> {
    const installed = this.#state.installed;
    const last = this.#state.verifiedAt ? Date.parse(this.#state.verifiedAt) : 0;
    const atStart = this.#options.reverifyAtStart === true && !this.#verifiedHere;
    if (!installed || (!atStart && now.getTime() - last < (this.#options.reverifyMs ?? 24 * 3_600_000))) return;
    if (!(await liveFileExists(this.paths.database))) return;
    // A live file that cannot be read is as good as a corrupt one: the full download below replaces it.
    // The root alone proves the file only while the key that signed its manifest is still trusted.
    const signedBy = this.#state.installedSignedBy;
    const signed = signedBy !== null && (this.#options.trustedKeys ?? []).some((key) => key.keyId === signedBy);
    const ok = await reverifyLiveFile(this.paths, installed, { signed }).catch(() => false);
    this.#verifiedHere = true;
    this.metrics?.reverifications.inc({ result: ok ? 'ok' : 'mismatch' });
    this.#options.log?.('reverified', { ok, sha256: installed.database.sha256 });
    // A mismatch forgets the installed file (this run downloads it whole) but keeps the rollback floor.
    this.#state = ok
      ? { ...this.#state, verifiedAt: now.toISOString() }
      : { ...this.#state, installed: null, installedSignedBy: null, manifestEtag: null, verifiedAt: null };
  }

  async #heartbeat(): Promise<void> {
    const board = this.#options.board;
    if (!board) return;
    try {
      await sendHeartbeat(board, heartbeatFrom(await this.report(), board));
    } catch (error) {
      this.metrics?.heartbeatFailures.inc();
      this.#options.log?.('heartbeat-failed', { message: errorMessage(error) });
    }
  }

  /** Runs now, then every interval (with jitter) until `stop`. */
  start(): void {
    const interval = this.#options.intervalMs ?? 5 * 60_000;
    const jitter = this.#options.jitter ?? 0.1;
    const loop = async (): Promise<void> => {
      if (this.#stopped) return;
      await this.runOnce();
      if (this.#stopped) return;
      const delay = Math.max(0, Math.round(interval * (1 + (Math.random() * 2 - 1) * jitter)));
      this.#timer = setTimeout(() => void loop(), delay);
    };
    void loop();
  }

  /**
   * Stops the loop, aborts a download in flight (its temp file is removed;
   * the live database is never half-written), waits for the run to end, and
   * releases the lock.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#running?.catch(() => {});
    this.#retired.close();
    await this.#release();
  }
}
