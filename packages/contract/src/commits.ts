import { z } from 'zod';
import { gitShaSchema } from './git-sha.js';
import { utcTimeSchema } from './manifest.js';
import { nameSchema } from './names.js';
import { parseJson, validate } from './validation.js';

/*
 * The board's answer to `GET /v1/commits`: which commits of the app are live,
 * and in which clusters. The board writes it; the Action reads it to refresh
 * the snapshot of every live commit (`git-sha: live`).
 */

export const COMMITS_PATH = '/v1/commits';

/** Bounds a reader holds the answer to. */
export const COMMITS_LIMITS = {
  /**
   * Largest answer read, in bytes. 1,000 clusters running two commits answer
   * about 150 KiB; this leaves room for fifty times that.
   */
  maxBodyBytes: 8 * 1024 * 1024,
} as const;

const podCount = z.number().int().nonnegative();

/** One cluster's live pods on a commit, as of that cluster's last summary. */
export const liveCommitClusterSchema = z.object({
  cluster: nameSchema,
  pods: podCount,
  /** When a pod of this cluster last reported the commit. */
  lastSeenAt: utcTimeSchema,
});

/** A commit the app's live pods report (`appGitSha` in heartbeats), over all clusters. */
export const liveCommitSchema = z.object({
  gitSha: gitShaSchema,
  /** Live pods on this commit, in all clusters. */
  pods: podCount,
  /** When any pod last reported it. */
  lastSeenAt: utcTimeSchema,
  /** Newest sighting first. */
  clusters: z.array(liveCommitClusterSchema),
});

/** `GET /v1/commits`: live commits, newest sighting first; empty before any pod reports a commit. */
export const commitsResponseSchema = z.object({ commits: z.array(liveCommitSchema) });

export type LiveCommitCluster = z.output<typeof liveCommitClusterSchema>;
export type LiveCommit = z.output<typeof liveCommitSchema>;
export type CommitsResponse = z.output<typeof commitsResponseSchema>;

/** Parses the body of `GET /v1/commits`. Throws `ContractError` naming the field. */
export function parseCommitsResponse(body: string): CommitsResponse {
  return validate(commitsResponseSchema, parseJson(body, 'board commits'), 'board commits');
}
