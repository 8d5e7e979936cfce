#!/usr/bin/env node
// Bundles the CLI that bin/sqlitening.js runs, from the compiled lib/ into lib/cli-bundle/, one chunk per command
// as the commands are loaded (src/cli/main.ts).
//
// Why a bundle: an agent keeps every module it ever loaded for the life of its pod. Loaded as published, zod
// brings all of itself (its core re-exports ~85 error-message locales, JSON-schema generators and compilers):
// about 7 MiB resident for the few schemas of the contract. Bundled, only what the contract's schemas reach is
// kept (about 3 MiB), and so is this package's own code, from one file per chunk instead of one per module.
// Measured with `node bench/idle.js`: an agent at rest, 63.4 MiB loaded from lib/, 59.9 MiB from the bundle.
//
// Only ES modules that tree-shake are bundled (zod and the contract); the other packages stay imports of
// node_modules, as the library's users load them: CommonJS ones (commander, prom-client) gain nothing from a
// bundle, better-sqlite3 is a native addon, and the AWS SDK is an optional peer that only an S3 store loads.
// The library itself (lib/index.js) is not bundled: an app that embeds it bundles as it likes.
//   node scripts/bundle-cli.js   (after tsc -b; `npm run build` runs both)
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLED_PACKAGES = ['zod', '@sqlitening/contract'];

/** A bare specifier (a package, or a built-in module) that the bundle leaves to Node to load. */
function isExternal(id) {
  if (id.startsWith('.') || path.isAbsolute(id) || id.startsWith('\0')) return false;
  return !BUNDLED_PACKAGES.some((name) => id === name || id.startsWith(`${name}/`));
}

const out = path.join(root, 'lib', 'cli-bundle');
rmSync(out, { recursive: true, force: true });
await build({
  cwd: root,
  input: { sqlitening: path.join(root, 'lib', 'cli', 'entry.js') },
  platform: 'node',
  external: isExternal,
  logLevel: 'warn',
  output: { dir: out, format: 'esm', chunkFileNames: '[name]-[hash].js', sourcemap: true },
});
