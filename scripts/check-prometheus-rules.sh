#!/usr/bin/env bash
# Checks the example alerting rules with Prometheus' own tool: that they load
# (syntax, PromQL, annotation templates), then their unit tests
# (examples/prometheus/rules.test.yml). promtool comes with Debian's
# prometheus package.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null; then
  echo "promtool not found: it comes with Debian's prometheus package." >&2
  echo "Install it with: sudo apt-get install -y --no-install-recommends prometheus   (or run: bash .ci/run)" >&2
  exit 1
fi
promtool check rules examples/prometheus/rules.yml
promtool test rules examples/prometheus/rules.test.yml
