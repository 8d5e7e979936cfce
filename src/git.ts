import { execFileSync } from 'node:child_process';
import { parseGitSha as parseContractGitSha } from '@sqlitening/contract';
import { UsageError } from './errors.js';

/** Validates a sha from the command line or the environment: a bad one is a usage error, not bad data. */
export function parseGitShaArg(value: string, source: string): string {
  try {
    return parseContractGitSha(value, source);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * The commit a snapshot belongs to: the explicit value, else `GITHUB_SHA`,
 * else `git rev-parse HEAD` in `cwd`. Always validated as a full sha.
 */
export function resolveGitSha(explicit: string | undefined, env: NodeJS.ProcessEnv, cwd: string): { sha: string; source: string } {
  if (explicit !== undefined) return { sha: parseGitShaArg(explicit, '--git-sha'), source: '--git-sha' };
  if (env.GITHUB_SHA) return { sha: parseGitShaArg(env.GITHUB_SHA, 'GITHUB_SHA'), source: 'GITHUB_SHA' };
  let output: string;
  try {
    output = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    throw new UsageError(`no git sha: pass --git-sha, set GITHUB_SHA, or run inside a git checkout with a commit (${cwd} is not one)`);
  }
  return { sha: parseGitShaArg(output, 'git rev-parse HEAD'), source: 'git rev-parse HEAD' };
}
