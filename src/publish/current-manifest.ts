import type { Manifest } from '@sqlitening/contract';
import { SignatureError } from '../errors.js';
import { manifestProblem, type ManifestProblem } from '../install/accept-manifest.js';
import type { TrustedKey } from '../signing/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import type { TransferLimits } from '../transfer/transfer-limits.js';
import { readManifest } from '../wire/manifest-store.js';

/**
 * The commit's current manifest, when the publisher may build on it: signed by a trusted key (when it has
 * keys), and one a pod of this commit and database would accept now (the pods' own rules, with an unnamed
 * publish taking only unnamed manifests). Anything else is treated as absent, and the step says why: a
 * store writer cannot get their manifest re-signed, nor their history carried into the next signed one.
 * An expired manifest is never renewed as it is: it may be an old one put back.
 */
export async function readBuildableManifest(
  store: ObjectStore,
  key: string,
  expected: { gitSha: string; name: string | undefined; trust: TrustedKey[] | null; limits: TransferLimits; now: Date },
  step: (step: string, detail: Record<string, unknown>) => void,
): Promise<Manifest | undefined> {
  let read: Awaited<ReturnType<typeof readManifest>>;
  try {
    read = await readManifest(store, key, { trustedKeys: expected.trust, limits: expected.limits });
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
    step('ignored-current', { key, reason: error.code, message: `${error.message}; publishing a new manifest that does not build on it` });
    return undefined;
  }
  if (read.status !== 'ok') return undefined;
  const policy = { appGitSha: expected.gitSha, databaseName: expected.name ?? null, exactName: true, floor: null, allowRollback: false, now: expected.now };
  const problem = manifestProblem(read.manifest, policy);
  if (problem) {
    const message = `${store.location}/${key}: ${describeProblem(problem)}; publishing a new manifest that does not build on it`;
    step('ignored-current', { key, reason: 'mismatch', message });
    return undefined;
  }
  return read.manifest;
}

function describeProblem(problem: ManifestProblem): string {
  switch (problem.kind) {
    case 'wrong-commit':
      return `it is for commit ${problem.actual}`;
    case 'wrong-database':
      return `it names the database ${JSON.stringify(problem.actual ?? null)}, this publish ${JSON.stringify(problem.expected ?? null)}`;
    case 'expired':
      return `it expired at ${problem.expiresAt}`;
    case 'rollback':
      return `it is older than ${problem.floor}`;
  }
}
