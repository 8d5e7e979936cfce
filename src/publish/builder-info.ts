import type { BuilderInfo } from './publish-types.js';

/**
 * Builder fields from the variables GitHub Actions sets on every runner
 * (the same ones `@actions/github`'s context reads); empty elsewhere.
 */
export function builderFromEnv(env: NodeJS.ProcessEnv): BuilderInfo {
  const server = env.GITHUB_SERVER_URL || 'https://github.com';
  return {
    repository: env.GITHUB_REPOSITORY || undefined,
    ref: env.GITHUB_REF || undefined,
    runUrl: env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined,
  };
}
