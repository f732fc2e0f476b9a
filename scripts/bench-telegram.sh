#!/usr/bin/env bash
# Switchboard issue-9 benchmark: the Telegram webhook's intake, and outbound calls under
# Telegram's limits, beside a same-run baseline (an empty actix-web handler).
#   1. builds the release binaries into target-bench/ (BENCH_NO_BUILD=1 skips it);
#   2. starts a fake Bot API (`bench telegram-fake`, 127.0.0.1:18602) that records every call;
#   3. each round: the baseline (`bench empty-server` on 127.0.0.1:18601, 2 workers) takes the
#      load, then the server (fresh database switchboard_bench_tg, 127.0.0.1:18600, the
#      Telegram channel on against the fake, no support group) takes the same load; the load is
#      BENCH_RATE (500) updates/s from BENCH_USERS (1000) users for BENCH_DURATION (30) s,
#      open loop. After it: how long the server took to handle every stored update, and, from
#      the fake, the outbound calls (one "ticket created" per user) per second.
# Results land in bench/results/telegram-<UTC time>/. BENCH_REPEAT (3) rounds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
BIN=$CARGO_TARGET_DIR/release
OUT=${BENCH_OUT:-$ROOT/bench/results/telegram-$(date -u +%Y%m%dT%H%M%SZ)}
PG_BASE=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=switchboard_bench_tg
RATE=${BENCH_RATE:-500}
USERS=${BENCH_USERS:-1000}
DURATION=${BENCH_DURATION:-30}
SECRET=bench-secret
FAKE=127.0.0.1:18602
PIDS=()
log() { printf '[bench-telegram.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
stop_all() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
trap stop_all EXIT

mkdir -p "$OUT"
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    log "building release binaries into $CARGO_TARGET_DIR"
    cargo build --release -p switchboard -p switchboard-bench --bins
fi
{ uname -a; nproc; free -m; } >"$OUT/machine.txt"

for ((round = 1; round <= ${BENCH_REPEAT:-3}; round++)); do
    log "round $round: baseline (empty actix-web handler)"
    "$BIN/bench" empty-server --listen 127.0.0.1:18601 --workers 2 &
    PIDS+=($!)
    "$BIN/bench" wait --url http://127.0.0.1:18601 --timeout-secs 30 2>/dev/null || sleep 1
    "$BIN/bench" telegram-load --url http://127.0.0.1:18601 --rate "$RATE" --users "$USERS" \
        --duration "$DURATION" --handled-wait-secs 0 --label "baseline-$round" |
        tee "$OUT/baseline-$round.txt"
    stop_all

    log "round $round: switchboard"
    "$BIN/bench" telegram-fake --listen "$FAKE" --workers 2 &
    PIDS+=($!)
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null
    env DATABASE_URL="$PG_BASE/$DB" SWITCHBOARD_LISTEN=127.0.0.1:18600 \
        TELEGRAM_BOT_TOKEN=7000000001:bench-token TELEGRAM_WEBHOOK_SECRET=$SECRET \
        TELEGRAM_API_URL=http://$FAKE SWITCHBOARD_IDENTITY_KEY="$(head -c 32 /dev/urandom | base64)" \
        RUST_LOG=${RUST_LOG:-warn} "$BIN/switchboard" serve >"$OUT/server-$round.log" 2>&1 &
    PIDS+=($!)
    "$BIN/bench" wait --url http://127.0.0.1:18600 --timeout-secs 60
    "$BIN/bench" telegram-load --url http://127.0.0.1:18600 --rate "$RATE" --users "$USERS" \
        --duration "$DURATION" --label "switchboard-$round" | tee "$OUT/switchboard-$round.txt"
    # Outbound: one "ticket created" per user, at most 30 a second in all.
    for _ in $(seq 120); do
        sends=$(curl -s "http://$FAKE/stats" | sed -n 's/.*"sends":\([0-9]*\).*/\1/p')
        [[ ${sends:-0} -ge $USERS ]] && break
        sleep 1
    done
    curl -s "http://$FAKE/stats" | tee "$OUT/outbound-$round.json"
    echo
    stop_all
done
log "results in $OUT"
