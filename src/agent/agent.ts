import { DEFAULTS } from '../defaults.js';
import { describeError, errorMessage } from '../describe-error.js';
import type { AgentOptions } from './agent-options.js';
import { withRetries } from '../retry.js';
import { storeSource } from '../store/mirror-store.js';
import { evaluateHealth, type HealthReport, type TaskInput } from './health.js';
import { heartbeatFrom, sendHeartbeat } from './heartbeat-client.js';
import { acquireLock } from './lock.js';
import type { AgentMetrics } from './metrics.js';
import { DATABASE_TASK, agentPaths, type AgentPaths } from './paths.js';
import { readState, stateChanged, writeState, type AgentState } from './state.js';
import { raiseFloor } from '../install/accept-manifest.js';
import { reclaimAtRest } from '../reclaim-buffers.js';
import { DEFAULT_TRANSFER_LIMITS } from '../transfer/transfer-limits.js';
import { reverifyLiveFile } from '../install/live-hashes.js';
import { rollBackInterruptedInstall } from '../sqlite/hot-journal.js';
import { RetiredFiles, removeInstallLeftovers } from '../install/live-install.js';
import { fileExists } from '../install/destination.js';
import { policyOf, removeStaleTemps, syncOnce, type SyncOptions, type SyncOutcome } from './sync.js';
import { readTasks, touchTask } from './tasks.js';

export type { AgentOptions } from './agent-options.js';

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
    const limit = this.#options.databaseLimitMs ?? DEFAULTS.maxAgeMs;
    const limits = new Map(this.#options.taskLimits ?? []);
    const names = new Set([DATABASE_TASK, ...limits.keys(), ...markers.keys()]);
    const tasks: TaskInput[] = [...names].map((name) => ({
      name,
      lastSuccess: markers.get(name) ?? null,
      limitMs: name === DATABASE_TASK ? limit : (limits.get(name) ?? limit),
    }));
    const liveExists = await fileExists(this.paths.database);
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
    const startedAt = new Date();
    let result: RunResult;
    let readWhole = false;
    try {
      readWhole = await this.#reverifyWhenDue(startedAt);
      const outcome = await withRetries(() => syncOnce(this.#syncOptions(), this.#state), {
        attempts: this.#options.attempts,
        baseDelayMs: this.#options.retryBaseDelayMs,
        signal: this.#abort.signal,
        onRetry: (error, attempt, delayMs) => this.#log('retry', { attempt, delayMs, reason: describeError(error).code, message: errorMessage(error) }),
      });
      await this.#recordSuccess(outcome, startedAt);
      readWhole ||= outcome.status === 'installed';
      result = { ok: true, outcome };
    } catch (error) {
      const code = describeError(error).code;
      if (this.#stopped && this.#abort.signal.aborted) return { ok: false, error, code: 'stopped' };
      await this.#recordFailure(error, code, startedAt);
      result = { ok: false, error, code };
    }
    await this.#heartbeat();
    // The agent rests until the next poll: what a whole snapshot's transfer or read left behind goes now.
    if (readWhole) reclaimAtRest();
    return result;
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.#options.log?.(event, fields);
  }

  #syncOptions(): SyncOptions {
    return {
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
        this.#log('delta-failed', { key: delta.key, reason: describeError(error).code, message: errorMessage(error), next: 'full download' }),
    };
  }

  /** The state, metrics and log after a run that succeeded. */
  async #recordSuccess(outcome: SyncOutcome, startedAt: Date): Promise<void> {
    const done = new Date();
    // The store whose answer ended the run: the snapshot's bytes when it installed one, else the manifest.
    const source = storeSource(this.#options.store);
    const fresh = outcome.status !== 'not-modified';
    const previous = this.#state;
    this.#state = {
      ...this.#state,
      installed: outcome.manifest ?? this.#state.installed,
      installedSignedBy: fresh ? outcome.signedBy : this.#state.installedSignedBy,
      manifestEtag: fresh ? outcome.etag : this.#state.manifestEtag,
      acceptedUnder: fresh ? policyOf(this.#options) : this.#state.acceptedUnder,
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
    if (stateChanged(previous, this.#state)) await writeState(this.paths.state, this.#state);
    await touchTask(this.paths.tasks, DATABASE_TASK, done);
    this.metrics?.runs.inc({ result: outcome.status });
    this.metrics?.bytes.inc(outcome.bytesReceived);
    if (outcome.status === 'installed') {
      const labels = { method: outcome.method, store: String(source.index), store_location: source.location };
      this.metrics?.installs.inc(labels);
      this.metrics?.installBytes.inc(labels, outcome.bytesReceived);
    }
    this.#log(outcome.status, {
      sha256: outcome.manifest?.database.sha256 ?? null,
      bytes: outcome.bytesReceived,
      store: source.index,
      ...(outcome.status === 'installed'
        ? { method: outcome.method, objectBytes: outcome.manifest.object.size, fallback: outcome.fallback, replaced: outcome.replaced }
        : {}),
    });
  }

  async #recordFailure(error: unknown, code: string, startedAt: Date): Promise<void> {
    // Counted before the state shows the error, so that /healthz never reports a failure the metrics lack.
    this.metrics?.runs.inc({ result: 'failed' });
    this.metrics?.failures.inc({ reason: code });
    this.#state = { ...this.#state, lastRunAt: startedAt.toISOString(), lastError: { code, message: errorMessage(error), at: new Date().toISOString() } };
    await writeState(this.paths.state, this.#state).catch(() => {});
    this.#log('failed', { reason: code, message: errorMessage(error) });
  }

  /**
   * At the first run and every `reverifyMs`, reads the whole live file and
   * checks it against the installed manifest. A file that no longer matches
   * (disk corruption, a hand edit) is forgotten, so this run downloads it whole.
   * True when it read the file.
   */
  async #reverifyWhenDue(now: Date): Promise<boolean> {
    const installed = this.#state.installed;
    const last = this.#state.verifiedAt ? Date.parse(this.#state.verifiedAt) : 0;
    const atStart = this.#options.reverifyAtStart === true && !this.#verifiedHere;
    if (!installed || (!atStart && now.getTime() - last < (this.#options.reverifyMs ?? DEFAULTS.reverifyMs))) return false;
    if (!(await fileExists(this.paths.database))) return false;
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
    return true;
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
    const interval = this.#options.intervalMs ?? DEFAULTS.intervalMs;
    const jitter = this.#options.jitter ?? DEFAULTS.jitter;
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
