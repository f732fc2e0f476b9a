#!/usr/bin/env bash
# Switchboard issue-4 benchmark: what the widget and the operator panel cost on top of the
# server, in Debian's headless Chromium against a release build (bench/ui/ui-bench.mjs):
#   1. builds the release binary into target-bench/ (BENCH_NO_BUILD=1 skips it);
#   2. runs bench/ui/ui-bench.mjs, which starts the server on a fresh sbtest_* database and
#      measures, each beside a baseline from the same run:
#      - visitor → operator and operator → visitor latency through the widget and the panel
#        (key press to text in the other page's DOM) vs two bare WebSocket clients;
#      - the panel's load time and JS heap with BENCH_UI_CONVERSATIONS open conversations vs
#        with two;
#      - the widget's script size (raw and gzip), time to launcher and JS heap vs the same
#        page without the widget.
# Results land in bench/results/ui-<UTC time>/ (result.json, machine.txt).
# Knobs: BENCH_UI_ROUNDS (60), BENCH_UI_CONVERSATIONS (500), BENCH_UI_REPEAT (5), BENCH_NO_BUILD.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
OUT=${BENCH_OUT:-$ROOT/bench/results/ui-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    cargo build --release --bin switchboard
fi
if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
    (cd tests/browser && npm ci --no-audit --no-fund)
fi

{
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty)')"
    echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null)"
    echo "node: $(node --version)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

SWITCHBOARD_BIN=$CARGO_TARGET_DIR/release/switchboard BENCH_UI_OUT=$OUT/result.json \
    node bench/ui/ui-bench.mjs
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
echo "results in $OUT"
