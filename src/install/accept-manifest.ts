import type { Manifest } from '@sqlitening/contract';
import { ExpiredManifestError, RollbackError, WrongCommitError, WrongDatabaseError } from '../errors.js';

/**
 * The newest manifest a pod has accepted for a commit: it never installs one
 * created earlier (a rollback, or a replay of an older manifest with the same
 * bytes), unless told to.
 */
export interface RollbackFloor {
  gitSha: string;
  createdAt: string;
}

export interface ManifestPolicy {
  /** The commit the app runs; `null` accepts any commit (development). */
  appGitSha: string | null;
  /** The database this pod installs (`--name`); `null` accepts any, named or not. */
  databaseName: string | null;
  /** The newest manifest accepted before, if any. */
  floor: RollbackFloor | null;
  /** Accept a manifest older than the floor, or past its expiry: a deliberate rollback. */
  allowRollback: boolean;
  now: Date;
}

/** Why a manifest may not be used under a policy; the one statement of the rules. */
export type ManifestProblem =
  | { kind: 'wrong-commit'; expected: string; actual: string }
  | { kind: 'wrong-database'; expected: string | undefined; actual: string | undefined }
  | { kind: 'expired'; expiresAt: string }
  | { kind: 'rollback'; floor: string; createdAt: string };

/**
 * What keeps a (verified) manifest from being used, for whatever bytes it names: another commit's, another
 * database's (`exactName`: an unnamed policy takes only unnamed manifests, as a publisher does), one past
 * its signed expiry, or one older than the floor. `null`: none.
 */
export function manifestProblem(manifest: Manifest, policy: ManifestPolicy & { exactName?: boolean }): ManifestProblem | null {
  if (policy.appGitSha !== null && manifest.gitSha !== policy.appGitSha) return { kind: 'wrong-commit', expected: policy.appGitSha, actual: manifest.gitSha };
  const expectedName = policy.databaseName ?? undefined;
  if ((policy.databaseName !== null || policy.exactName) && manifest.name !== expectedName) {
    return { kind: 'wrong-database', expected: expectedName, actual: manifest.name };
  }
  if (policy.allowRollback) return null;
  if (manifest.expiresAt !== undefined && Date.parse(manifest.expiresAt) <= policy.now.getTime()) return { kind: 'expired', expiresAt: manifest.expiresAt };
  const floor = policy.floor;
  if (floor && floor.gitSha === manifest.gitSha && Date.parse(manifest.createdAt) < Date.parse(floor.createdAt)) {
    return { kind: 'rollback', floor: floor.createdAt, createdAt: manifest.createdAt };
  }
  return null;
}

/**
 * Refuses a (verified) manifest the pod must not install ({@link manifestProblem}). Checked before the
 * "already installed" shortcut, so that a replayed older manifest of the same bytes is refused too, rather
 * than quietly lowering the floor.
 */
export function acceptManifest(manifest: Manifest, policy: ManifestPolicy, where: string): void {
  const problem = manifestProblem(manifest, policy);
  if (!problem) return;
  if (problem.kind === 'wrong-commit') throw new WrongCommitError(problem.expected, problem.actual, where);
  if (problem.kind === 'wrong-database') throw new WrongDatabaseError(problem.expected!, problem.actual, where);
  if (problem.kind === 'expired') throw new ExpiredManifestError(where, problem.expiresAt);
  throw new RollbackError(problem.floor, problem.createdAt);
}

/**
 * The floor after accepting `manifest`: raised to it, never lowered, except by
 * a deliberate rollback, which sets it to what was accepted. A manifest of
 * another commit (a pod whose app moved on) starts that commit's floor.
 */
export function raiseFloor(floor: RollbackFloor | null, manifest: Manifest, allowRollback: boolean): RollbackFloor {
  const next = { gitSha: manifest.gitSha, createdAt: manifest.createdAt };
  if (!floor || floor.gitSha !== manifest.gitSha || allowRollback) return next;
  return Date.parse(manifest.createdAt) > Date.parse(floor.createdAt) ? next : floor;
}
