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

/**
 * Refuses a (verified) manifest the pod must not install, for whatever
 * bytes it names: another commit's, another database's, one past its signed
 * expiry, or one older than the floor. Checked before the "already
 * installed" shortcut, so that a replayed older manifest of the same bytes
 * is refused too, rather than quietly lowering the floor.
 */
export function acceptManifest(manifest: Manifest, policy: ManifestPolicy, where: string): void {
  if (policy.appGitSha !== null && manifest.gitSha !== policy.appGitSha) throw new WrongCommitError(policy.appGitSha, manifest.gitSha, where);
  if (policy.databaseName !== null && manifest.name !== policy.databaseName) throw new WrongDatabaseError(policy.databaseName, manifest.name, where);
  if (policy.allowRollback) return;
  if (manifest.expiresAt !== undefined && Date.parse(manifest.expiresAt) <= policy.now.getTime()) throw new ExpiredManifestError(where, manifest.expiresAt);
  const floor = policy.floor;
  if (floor && floor.gitSha === manifest.gitSha && Date.parse(manifest.createdAt) < Date.parse(floor.createdAt)) {
    throw new RollbackError(floor.createdAt, manifest.createdAt);
  }
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
