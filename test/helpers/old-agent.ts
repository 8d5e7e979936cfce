import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The last commit whose agent reads delta format 1 only: what pods that have not been upgraded run. Its code
 * is compiled from the repository's history, so the test runs the real old agent, not an imitation of it.
 */
export const FORMAT_1_COMMIT = 'a1a72eec784896da948d89ca3baa03fd2c15f350';

const root = path.resolve('.');

/** Whether the clone holds the commit (a shallow clone may not: `actions/checkout` with `fetch-depth: 0` does). */
export function hasCommit(commit: string): boolean {
  try {
    execFileSync('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: root, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiles the CLI of `commit` into test-artifacts/ (once; later runs reuse it) and returns the path of its
 * `bin/sqlitening.js`. Its dependencies are this checkout's, except its own contract package.
 */
export function buildOldCli(commit: string): string {
  const folder = path.join(root, 'test-artifacts', `agent-${commit.slice(0, 12)}`);
  const cli = path.join(folder, 'bin', 'sqlitening.js');
  if (existsSync(path.join(folder, 'lib', 'cli', 'main.js'))) return cli;
  const temp = `${folder}.building-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(path.join(temp, 'node_modules', '@sqlitening'), { recursive: true });
  const tar = path.join(temp, 'source.tar');
  const paths = [
    'bin',
    'src',
    'packages/contract/src',
    'packages/contract/package.json',
    'packages/contract/tsconfig.json',
    'package.json',
    'tsconfig.json',
    'tsconfig.base.json',
  ];
  execFileSync('git', ['archive', '--output', tar, commit, ...paths], { cwd: root });
  execFileSync('tar', ['-xf', tar, '-C', temp]);
  rmSync(tar);
  for (const name of readdirSync(path.join(root, 'node_modules'))) {
    if (name !== '@sqlitening') symlinkSync(path.join(root, 'node_modules', name), path.join(temp, 'node_modules', name));
  }
  // The old contract (its manifest schema is the point), as the workspace links it.
  symlinkSync(path.join('..', '..', 'packages', 'contract'), path.join(temp, 'node_modules', '@sqlitening', 'contract'));
  // Its S3 store was written for @aws-sdk/lib-storage, no longer installed: declared for the compiler only, since a
  // folder store never loads the S3 one.
  writeFileSync(
    path.join(temp, 'src', 'old-upload-library.d.ts'),
    "declare module '@aws-sdk/lib-storage' {\n  export class Upload {\n    constructor(options: unknown);\n    on(event: string, listener: (progress: { loaded?: number }) => void): void;\n    abort(): Promise<void>;\n    done(): Promise<{ ETag?: string }>;\n  }\n}\n",
  );
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b'], { cwd: temp, stdio: 'inherit' });
  rmSync(folder, { recursive: true, force: true });
  renameSync(temp, folder);
  return cli;
}
