#!/usr/bin/env bash
# Switchboard issue-8 benchmark: what clients that stop reading cost the server.
#   1. builds the release binaries into target-bench/ (BENCH_NO_BUILD=1 skips it);
#   2. for each server binary (this tree's, and BENCH_BASELINE_BIN if set, e.g. a build of an
#      older commit): a fresh database switchboard_bench_slow, one supervisor via the CLI, the
#      server on 127.0.0.1:18495 with 20,000-character messages allowed and visitor limits off;
#   3. `bench slow`: BENCH_STALLED (5) supervisor sockets that stop reading after `welcome`, one
#      that reads, and one visitor sending BENCH_MESSAGES (2000) messages of BENCH_SIZE (20000)
#      characters, 20 in flight; the server's RSS is sampled every 200 ms.
# Results land in bench/results/slow-<UTC time>/ (one JSON line per run in results.jsonl).
# BENCH_REPEAT (1) rounds, each running the current server and then the baseline.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
BIN=$CARGO_TARGET_DIR/release
OUT=${BENCH_OUT:-$ROOT/bench/results/slow-$(date -u +%Y%m%dT%H%M%SZ)}
PG_BASE=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=switchboard_bench_slow
LISTEN=127.0.0.1:18495
URL=http://$LISTEN
PASSWORD=bench-password-123
EMAIL=slow-bench@example.com
STALLED=${BENCH_STALLED:-5}
MESSAGES=${BENCH_MESSAGES:-2000}
SIZE=${BENCH_SIZE:-20000}

mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
SERVER_PID=
log() { printf '[bench-slow.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
trap stop_server EXIT

if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    log "building release binaries into $CARGO_TARGET_DIR"
    cargo build --release -p switchboard -p switchboard-bench --bins
fi
{ uname -a; nproc; free -m; } >"$OUT/machine.txt"

run_one() { # label server-binary
    local label=$1 server=$2
    log "$label: fresh database $DB"
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null
    export DATABASE_URL=$PG_BASE/$DB
    echo "$PASSWORD" | "$server" operator add --email "$EMAIL" --name "Slow Bench" \
        --role supervisor --max-concurrent 0 >/dev/null
    env SWITCHBOARD_LISTEN=$LISTEN SWITCHBOARD_MAX_TEXT_CHARS=$SIZE \
        SWITCHBOARD_VISITOR_MESSAGES_PER_SEC=100000 SWITCHBOARD_VISITOR_BURST=100000 \
        RUST_LOG=${RUST_LOG:-warn} "$server" serve >"$OUT/server-$label.log" 2>&1 &
    SERVER_PID=$!
    "$BIN/bench" wait --url "$URL" --timeout-secs 60
    log "$label: $STALLED stalled sockets, $MESSAGES messages of $SIZE characters"
    "$BIN/bench" slow --url "$URL" --email "$EMAIL" --password "$PASSWORD" \
        --stalled "$STALLED" --messages "$MESSAGES" --size "$SIZE" \
        --server-pid "$SERVER_PID" --label "$label" | tee "$OUT/summary-$label.txt" |
        tail -n 1 >>"$RESULTS"
    stop_server
}

# Interleaved, so that both see the same machine: current, baseline, current, baseline, …
for ((round = 1; round <= ${BENCH_REPEAT:-1}; round++)); do
    run_one "current-$round" "$BIN/switchboard"
    if [[ -n ${BENCH_BASELINE_BIN:-} ]]; then
        run_one "baseline-$round" "$BENCH_BASELINE_BIN"
    fi
done
log "results in $OUT"
grep -v '^{' "$OUT"/summary-*.txt
