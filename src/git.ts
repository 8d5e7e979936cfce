import { execFile, execFileSync } from 'node:child_process';
import { parseGitSha as parseContractGitSha } from '@sqlitening/contract';
import { GitError, UsageError } from './errors.js';

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

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `git args` in `cwd` and resolves with its exit code and output; rejects only when git itself cannot run (ENOENT). */
export function runGit(cwd: string, args: string[]): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, encoding: 'utf8', maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** The stdout of `git args` in `cwd`; a `GitError` with the tail of its stderr when it exits non-zero. */
export async function gitOutput(cwd: string, args: string[]): Promise<string> {
  const result = await runGit(cwd, args);
  if (result.code !== 0) throw gitFailed(cwd, args, result);
  return result.stdout;
}

/** The `GitError` of a git command that exited non-zero. */
export function gitFailed(cwd: string, args: string[], result: GitResult): GitError {
  return new GitError(`git ${args.join(' ')} failed in ${cwd} (exit ${result.code}): ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
}
