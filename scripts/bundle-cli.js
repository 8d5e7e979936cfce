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
// Bundled: zod and the contract (ES modules that tree-shake), the prom-client modules that the agent's metrics
// use (scripts/cli-bundle/prom-client.js says why not its main module), and commander, which an agent keeps for its
// life though it only parsed the command line: minified, the heap after loading the CLI's entry is 0.18 MiB smaller
// (1,472 -> 1,285 KiB: the pod commands' built-in modules loaded, the entry required, two full collections). The
// other packages stay imports of node_modules, as the library's users load them: better-sqlite3 is a native addon,
// the AWS SDK an optional peer that only an S3 store loads.
// The library itself (lib/index.js) is not bundled: an app that embeds it bundles as it likes.
//
// The chunks are CommonJS, minified and ASCII-only, because V8 keeps each script's source text for the life of the
// process (functions are compiled when first called, from that text). Node reads a CommonJS file into a one-byte
// string when every character fits in one byte, but decodes an ES module's into a two-byte one; non-ASCII text is
// escaped (`charset: 'ascii'`), comments and white space are dropped, names are kept (stack traces stay legible;
// the source maps beside the chunks lead back to lib/). Heap after loading the CLI and its agent command (a
// scratch script: require, then two full collections): 3.61 MiB as ES modules, 2.74 MiB so; the agent's metrics
// module 0.65 -> 0.21 MiB without the OpenTelemetry API (scripts/cli-bundle/opentelemetry-api.cjs).
//   node scripts/bundle-cli.js   (after tsc -b; `npm run build` runs both)
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLED_PACKAGES = ['zod', '@sqlitening/contract', 'prom-client', 'commander'];
const ALIASES = { 'prom-client': path.join(root, 'scripts', 'cli-bundle', 'prom-client.js') };
const LAZY_OPENTELEMETRY = path.join(root, 'scripts', 'cli-bundle', 'opentelemetry-api.cjs');

/** prom-client's own require of the OpenTelemetry API (for exemplars), which LAZY_OPENTELEMETRY answers. */
const isPromClientsOpenTelemetry = (id, importer) => id === '@opentelemetry/api' && importer?.includes(`${path.sep}prom-client${path.sep}`);
const lazyOpenTelemetry = {
  name: 'lazy-opentelemetry',
  resolveId: (id, importer) => (isPromClientsOpenTelemetry(id, importer) ? LAZY_OPENTELEMETRY : null),
};

/** A bare specifier (a package, or a built-in module) that the bundle leaves to Node to load. */
function isExternal(id, importer) {
  if (id.startsWith('.') || path.isAbsolute(id) || id.startsWith('\0')) return false;
  if (isPromClientsOpenTelemetry(id, importer)) return false;
  return !BUNDLED_PACKAGES.some((name) => id === name || id.startsWith(`${name}/`));
}

const out = path.join(root, 'lib', 'cli-bundle');
rmSync(out, { recursive: true, force: true });
await build({
  cwd: root,
  input: { sqlitening: path.join(root, 'lib', 'cli', 'entry.js') },
  platform: 'node',
  external: isExternal,
  resolve: { alias: ALIASES },
  plugins: [lazyOpenTelemetry],
  logLevel: 'warn',
  output: {
    dir: out,
    format: 'cjs',
    entryFileNames: '[name].cjs',
    chunkFileNames: '[name]-[hash].cjs',
    charset: 'ascii',
    minify: { compress: true, mangle: false },
    sourcemap: true,
  },
});
