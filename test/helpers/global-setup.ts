import { execFileSync } from 'node:child_process';

/**
 * The CLI tests run the compiled `lib/` and the CLI's bundle of it, as users do; build both once so neither
 * lags behind `src/`.
 */
export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-b'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/bundle-cli.js'], { stdio: 'inherit' });
}
