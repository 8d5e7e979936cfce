import { execFileSync } from 'node:child_process';

/** The CLI tests run the compiled `lib/`, as users do; compile it once so it never lags behind `src/`. */
export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
