#!/usr/bin/env bash
# Switchboard issue-11 benchmark: durable timers, beside a same-run baseline (the same server
# on an empty database).
#   1. builds the release binaries into target-bench/ (BENCH_NO_BUILD=1 skips it);
#   2. each round: the baseline server starts on a fresh, empty database and idles for
#      BENCH_IDLE_SECS (60): its RSS and CPU time are read from /proc;
#   3. a control: the same conversations as in 4 with their deadline rows deleted, so what
#      timers add to RSS and idle CPU shows beside what the open conversations themselves cost;
#   4. then a fresh database gets BENCH_IDLE (100,000) open conversations, each with one customer
#      message and its idle deadline a day away, and BENCH_DUE (1,000) more whose deadlines all
#      fall due in the same second, after the idle period (bench/sql/timers-data.sql). The
#      server starts on it: the time to re-arm the timers ("timers armed" in its log), its RSS
#      and CPU while idle, and how long after the due second the last of the BENCH_DUE
#      conversations was closed (each deadline fires through its conversation's actor: a
#      system event, the snapshot and the deadline's deletion in one transaction).
# Results land in bench/results/timers-<UTC time>/. BENCH_REPEAT (3) rounds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
BIN=$CARGO_TARGET_DIR/release
OUT=${BENCH_OUT:-$ROOT/bench/results/timers-$(date -u +%Y%m%dT%H%M%SZ)}
PG_BASE=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=switchboard_bench_timers
IDLE=${BENCH_IDLE:-100000}
DUE=${BENCH_DUE:-1000}
IDLE_SECS=${BENCH_IDLE_SECS:-60}
LISTEN=127.0.0.1:18610
PID=
log() { printf '[bench-timers.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
stop_server() {
    if [[ -n $PID ]]; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=
    fi
}
trap stop_server EXIT

mkdir -p "$OUT"
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    log "building release binaries into $CARGO_TARGET_DIR"
    cargo build --release -p switchboard -p switchboard-bench --bins
fi
{ uname -a; nproc; free -m; } >"$OUT/machine.txt"

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now_ms() { date +%s%3N; }

fresh_db() {
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null
    DATABASE_URL="$PG_BASE/$DB" "$BIN/switchboard" migrate >/dev/null
}

# Starts the server on $DB; sets PID and STARTED_MS; waits for /health.
start_server() {
    local logfile=$1
    STARTED_MS=$(now_ms)
    env DATABASE_URL="$PG_BASE/$DB" SWITCHBOARD_LISTEN=$LISTEN \
        RUST_LOG=${RUST_LOG:-warn,switchboard::automation=info} \
        "$BIN/switchboard" serve >"$logfile" 2>&1 &
    PID=$!
    "$BIN/bench" wait --url "http://$LISTEN" --timeout-secs 120 2>/dev/null
    HEALTHY_MS=$(now_ms)
}

# Idles IDLE_SECS; prints "rss_kib cpu_ms".
idle_sample() {
    local hz before after
    hz=$(getconf CLK_TCK)
    before=$(cpu_ticks "$PID")
    sleep "$IDLE_SECS"
    after=$(cpu_ticks "$PID")
    echo "$(rss_kib "$PID") $(((after - before) * 1000 / hz))"
}

RESULTS=$OUT/results.txt
for ((round = 1; round <= ${BENCH_REPEAT:-3}; round++)); do
    log "round $round: baseline (empty database)"
    fresh_db
    start_server "$OUT/baseline-$round.log"
    read -r base_rss base_cpu < <(idle_sample)
    stop_server

    log "round $round: control ($IDLE + $DUE open conversations, no deadlines)"
    fresh_db
    psql "$PG_BASE/$DB" -q -v idle="$IDLE" -v due="$DUE" -v due_at="$(date -u '+%Y-%m-%d %H:%M:%S+00')" \
        -f bench/sql/timers-data.sql >/dev/null
    psql "$PG_BASE/$DB" -qc "DELETE FROM deadlines" >/dev/null
    start_server "$OUT/control-$round.log"
    read -r control_rss control_cpu < <(idle_sample)
    stop_server

    log "round $round: $IDLE idle conversations with timers, $DUE falling due together"
    fresh_db
    # The due second: after start-up and the idle sample, with a margin.
    due_at=$(date -u -d "+$((IDLE_SECS + 40)) seconds" '+%Y-%m-%d %H:%M:%S+00')
    seed_start=$(now_ms)
    psql "$PG_BASE/$DB" -q -v idle="$IDLE" -v due="$DUE" -v due_at="$due_at" \
        -f bench/sql/timers-data.sql >/dev/null
    log "seeded in $(($(now_ms) - seed_start)) ms; due at $due_at"
    start_server "$OUT/server-$round.log"
    start_ms=$((HEALTHY_MS - STARTED_MS))
    armed=$(grep -m1 'timers armed' "$OUT/server-$round.log" | grep -o 'took_ms=[0-9]*' | cut -d= -f2 || true)
    read -r rss cpu < <(idle_sample)
    due_epoch_ms=$(($(date -u -d "$due_at" +%s) * 1000))
    while (($(now_ms) < due_epoch_ms)); do sleep 0.05; done
    closed=0
    while ((closed < DUE)); do
        closed=$(psql "$PG_BASE/$DB" -tAc \
            "SELECT count(*) FROM conversations WHERE status = 'closed'")
        if (($(now_ms) - due_epoch_ms > 120000)); then
            log "gave up: $closed of $DUE closed after 120 s"
            break
        fi
        ((closed < DUE)) && sleep 0.1
    done
    fired_ms=$(($(now_ms) - due_epoch_ms))
    left=$(psql "$PG_BASE/$DB" -tAc "SELECT count(*) FROM deadlines WHERE due_at <= now()")
    stop_server
    line="round=$round idle=$IDLE due=$DUE baseline_rss_kib=$base_rss baseline_idle_cpu_ms=$base_cpu \
control_rss_kib=$control_rss control_idle_cpu_ms=$control_cpu \
rss_kib=$rss idle_cpu_ms=$cpu idle_secs=$IDLE_SECS start_to_healthy_ms=$start_ms rearm_ms=${armed:-?} \
all_due_closed_after_ms=$fired_ms closed=$closed due_left=$left"
    log "$line"
    echo "$line" >>"$RESULTS"
done
cat "$RESULTS"
