import type { Manifest, TaskStatus } from '@sqlitening/contract';
import type { AgentState } from './state.js';

export interface TaskInput {
  name: string;
  /** Last success (the marker's mtime); null when the task never succeeded. */
  lastSuccess: Date | null;
  limitMs: number;
}

export interface HealthReport {
  ok: boolean;
  /** A valid database is in place (readiness). */
  ready: boolean;
  appGitSha: string | null;
  database: (Pick<Manifest, 'gitSha' | 'createdAt'> & { sha256: string; ageSeconds: number; size: number }) | null;
  lastRunAt: string | null;
  lastSuccessAt: string | null;
  lastError: AgentState['lastError'];
  /** How the installed database arrived: method (delta or full), bytes and the store they came from, and any delta fallback. */
  lastInstall: AgentState['lastInstall'];
  /** The store the last successful run read from: its place among the stores given (0 = the first) and its location. */
  store: AgentState['store'];
  tasks: TaskStatus[];
  checkedAt: string;
}

/**
 * Freshness of one pod, from its state and task markers. Healthy when every
 * task succeeded within its limit; ready when a database is installed (stale
 * or not), so a fleet-wide stale snapshot does not take every pod out of service.
 */
export function evaluateHealth(input: { now: Date; appGitSha: string | null; state: AgentState; liveExists: boolean; tasks: TaskInput[] }): HealthReport {
  const { now, state } = input;
  const installed = input.liveExists ? state.installed : null;
  const tasks = input.tasks
    .map((task): TaskStatus => {
      const ageSeconds = task.lastSuccess ? Math.max(0, (now.getTime() - task.lastSuccess.getTime()) / 1000) : null;
      return {
        name: task.name,
        ageSeconds: ageSeconds === null ? null : Math.round(ageSeconds),
        limitSeconds: Math.round(task.limitMs / 1000),
        ok: ageSeconds !== null && ageSeconds * 1000 <= task.limitMs,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  return {
    ok: installed !== null && tasks.every((task) => task.ok),
    ready: installed !== null,
    appGitSha: input.appGitSha,
    database: installed
      ? {
          gitSha: installed.gitSha,
          sha256: installed.database.sha256,
          createdAt: installed.createdAt,
          ageSeconds: Math.round(Math.max(0, now.getTime() - Date.parse(installed.createdAt)) / 1000),
          size: installed.database.size,
        }
      : null,
    lastRunAt: state.lastRunAt,
    lastSuccessAt: state.lastSuccessAt,
    lastError: state.lastError,
    lastInstall: state.lastInstall,
    store: state.store,
    tasks,
    checkedAt: now.toISOString(),
  };
}
