import { gitShaSchema, LATEST_KEY, MANIFEST_NAME } from '@sqlitening/contract';
import { DEFAULT_TRANSFER_LIMITS } from '../transfer/transfer-limits.js';
import { readManifest } from '../wire/manifest-store.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';

export interface CommitPruneRule {
  /** The newest commits (by their newest object) kept whatever their age. At least 1. */
  keepCommits: number;
  /** Commits with any object younger than this are kept. */
  olderThanMs: number;
  /** Commits never deleted: those deployed somewhere (a rollback target, a long-lived environment). */
  protect: ReadonlySet<string>;
}

export interface CommitFolder {
  gitSha: string;
  objects: ObjectInfo[];
  newest: Date;
}

/** Groups a listing of the store's root by commit folder; other keys are ignored. */
export function commitFolders(objects: ObjectInfo[]): CommitFolder[] {
  const folders = new Map<string, CommitFolder>();
  for (const object of objects) {
    const gitSha = object.key.split('/')[0] ?? '';
    if (!object.key.includes('/') || !gitShaSchema.safeParse(gitSha).success) continue;
    const folder = folders.get(gitSha) ?? { gitSha, objects: [], newest: new Date(0) };
    folder.objects.push(object);
    if (object.lastModified > folder.newest) folder.newest = object.lastModified;
    folders.set(gitSha, folder);
  }
  return [...folders.values()].sort((a, b) => b.newest.getTime() - a.newest.getTime());
}

/** Which commit folders may go: not among the newest, not recently active, not protected. Pure. */
export function planCommitPrune(folders: CommitFolder[], rule: CommitPruneRule, now: Date): CommitFolder[] {
  return folders.filter(
    (folder, rank) => rank >= rule.keepCommits && now.getTime() - folder.newest.getTime() >= rule.olderThanMs && !rule.protect.has(folder.gitSha),
  );
}

/**
 * Deletes whole commit folders that the rule allows, the manifest first (so
 * no pod is ever pointed at objects being deleted), then the snapshots. The
 * commit `latest.json` names is always kept; an invalid `latest.json` stops
 * the prune with its error.
 */
export async function pruneCommits(
  store: ObjectStore,
  rule: CommitPruneRule,
  options: { now?: Date; dryRun: boolean; signal?: AbortSignal },
): Promise<CommitFolder[]> {
  const { signal } = options;
  // Only a missing latest.json means "no commit to keep": an unreadable or invalid one stops the prune,
  // since the commit it names cannot be known and must not be deleted.
  const latest = await readManifest(store, LATEST_KEY, { limits: { ...DEFAULT_TRANSFER_LIMITS, signal } });
  const protect = new Set(rule.protect);
  if (latest.status === 'ok') protect.add(latest.manifest.gitSha);
  const doomed = planCommitPrune(commitFolders(await store.list('', { signal })), { ...rule, protect }, options.now ?? new Date());
  if (options.dryRun) return doomed;
  for (const folder of doomed) {
    const manifest = folder.objects.find((o) => o.key === `${folder.gitSha}/${MANIFEST_NAME}`);
    if (manifest) await store.delete(manifest.key, { signal });
    for (const object of folder.objects) if (object !== manifest) await store.delete(object.key, { signal });
  }
  return doomed;
}
