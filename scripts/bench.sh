#!/usr/bin/env bash
# Switchboard benchmark, in one run:
#   1. builds the release binaries (server and `bench`) into target-bench/;
#   2. creates a fresh database (dropped first) and supervisors, starts the server;
#   3. (a) idle sockets: server RSS per idle visitor socket with $BENCH_VISITORS sockets;
#      (b) latency: $BENCH_VISITORS sockets, $BENCH_RATE msgs/s for $BENCH_DURATION s, with
#          $BENCH_OPERATORS supervisors receiving every event (online before the visitors come);
#      (b') the same with the supervisors connecting after the visitors;
#      (c) throughput: as fast as acks allow, $BENCH_TP_WINDOW in flight per visitor;
#   4. stops the server and runs the pgbench baselines on the same PostgreSQL: one 200-byte row
#      per transaction, and 100 rows per transaction ($BENCH_PGBENCH_CLIENTS clients);
#   5. prints the figures, the targets and the ratio of max acked msgs/s to the one-row tps.
# Everything it starts is stopped on exit. Results land in bench/results/<UTC time>/.
#
# Usage: scripts/bench.sh            (about 7 minutes on 2 cores, plus the build)
#        BENCH_REPEAT=3 scripts/bench.sh   (repeat (b), (b'), (c) and pgbench; medians reported)
#        BENCH_NO_BUILD=1 scripts/bench.sh (use the binaries already in target-bench/release)
# Other knobs (environment): BENCH_VISITORS, BENCH_IDLE_SECS, BENCH_OPERATORS, BENCH_RATE,
# BENCH_DURATION, BENCH_TP_VISITORS, BENCH_TP_WINDOW, BENCH_TP_DURATION, BENCH_PGBENCH_CLIENTS,
# BENCH_PGBENCH_SECS, BENCH_LISTEN, BENCH_DB, BENCH_OUT; SWITCHBOARD_* are passed to the server.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
BIN=$CARGO_TARGET_DIR/release
OUT=${BENCH_OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
PG_BASE=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-switchboard_bench}
LISTEN=${BENCH_LISTEN:-127.0.0.1:18480}
URL=http://$LISTEN
VISITORS=${BENCH_VISITORS:-10000}
IDLE_SECS=${BENCH_IDLE_SECS:-20}
OPERATORS=${BENCH_OPERATORS:-3}
RATE=${BENCH_RATE:-1000}
DURATION=${BENCH_DURATION:-30}
TP_VISITORS=${BENCH_TP_VISITORS:-2000}
TP_WINDOW=${BENCH_TP_WINDOW:-2}
TP_DURATION=${BENCH_TP_DURATION:-20}
PGB_CLIENTS=${BENCH_PGBENCH_CLIENTS:-32}
PGB_SECS=${BENCH_PGBENCH_SECS:-20}
REPEAT=${BENCH_REPEAT:-1}
PASSWORD=bench-password-123
# Upper bound for one `bench` invocation (connects, idles, loads and drains well within it).
BENCH_LIMIT_SECS=${BENCH_LIMIT_SECS:-900}

PGBENCH=$(command -v pgbench || true)
if [[ -z $PGBENCH ]]; then
    for candidate in /usr/lib/postgresql/*/bin/pgbench; do
        if [[ -x $candidate ]]; then PGBENCH=$candidate; fi
    done
fi
if [[ -z $PGBENCH ]]; then
    echo "pgbench not found: installing postgresql-contrib" >&2
    timeout 600 apt-get update -qq && timeout 600 apt-get install -y -qq postgresql-contrib >&2
    PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -n 1)
fi
for tool in psql jq; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

# Both the server and the load tool hold up to ~10k sockets each: the hard limit here is 20000.
ulimit -n 20000

mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
SERVER_PID=
BENCH_PID=

log() { printf '[bench.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

stop_pid() { # pid [seconds]: TERM, wait (bounded), then KILL
    local pid=$1 limit=${2:-15} i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < limit * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$BENCH_PID" 5
    stop_pid "$SERVER_PID" 15
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

machine_info() {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel: $(uname -sr)"
    echo "memory:"
    free -h
    echo "postgres: $(psql "$PG_BASE/postgres" -Atc 'select version()')"
    echo "rustc: $(rustc --version)"
    echo "server source: commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')," \
        "$(git -C "$ROOT" status --porcelain -- src migrations Cargo.toml Cargo.lock 2>/dev/null |
            wc -l) uncommitted file(s) under src/, migrations/, Cargo.*"
    echo "open files: soft $(ulimit -Sn), hard $(ulimit -Hn)"
}

# The machine may be shared (builds, test runs): before each measurement wait, bounded, until
# no compiler or test runner is busy, and record the load either way (load.txt).
QUIET_WAIT=${BENCH_QUIET_WAIT_SECS:-120}
wait_quiet() {
    local waited=0
    while ps -eo comm= | grep -xE 'rustc|clippy-driver|cargo|cargo-nextest|cc|ld' >/dev/null; do
        if ((waited >= QUIET_WAIT)); then
            log "builds still running after ${QUIET_WAIT}s; measuring anyway (see load.txt)"
            echo "--- $(date -u +%H:%M:%S) NOT QUIET after ${QUIET_WAIT}s" >>"$OUT/load.txt"
            return 0
        fi
        sleep 5
        waited=$((waited + 5))
    done
    ((waited == 0)) || log "waited ${waited}s for other builds to finish"
}

# run_bench OUTPUT-FILE ARGS...: runs `bench run` in the background (so that signals reach the
# trap at once), bounded in time; its summary goes to OUTPUT-FILE and to stdout. A failed
# scenario is logged and the next one runs; a dead server ends the script.
run_bench() {
    local output=$1 rc=0
    shift
    wait_quiet
    { echo "--- $(date -u +%H:%M:%S) before: bench $*"; cat /proc/loadavg;
      ps -eo pcpu,etimes,comm --sort=-pcpu | head -n 6; } >>"$OUT/load.txt" 2>&1 || true
    timeout --kill-after=10 "$BENCH_LIMIT_SECS" "$BIN/bench" run --url "$URL" \
        --server-pid "$SERVER_PID" --json-out "$RESULTS" "$@" >"$output" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=
    cat "$output"
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "the server is gone (see $OUT/server.log)"
        tail -n 40 "$OUT/server.log" >&2 || true
        exit 1
    fi
    if ((rc != 0)); then
        log "bench run failed with status $rc: $*"
    fi
}

log "results in $OUT"
machine_info | tee "$OUT/machine.txt" >&2

if [[ ${BENCH_NO_BUILD:-0} == 1 ]]; then
    log "BENCH_NO_BUILD=1: using the binaries already in $BIN"
else
    log "building release binaries (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    wait_quiet # one heavy build at a time on this machine
    cargo build --release -p switchboard -p switchboard-bench >&2
fi
for bin in switchboard bench; do
    [[ -x $BIN/$bin ]] || { echo "$BIN/$bin is missing" >&2; exit 1; }
done

export DATABASE_URL=$PG_BASE/$DB
log "fresh database $DB"
psql "$PG_BASE/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
"$BIN/switchboard" migrate >&2

OPERATOR_ARGS=()
for i in 1 2 3; do
    echo "$PASSWORD" | "$BIN/switchboard" operator add --email "sup$i@bench.local" \
        --name "Bench Supervisor $i" --role supervisor --max-concurrent 100 >&2
    OPERATOR_ARGS+=(--operator "sup$i@bench.local:$PASSWORD")
done

if (exec 3<>"/dev/tcp/${LISTEN%:*}/${LISTEN##*:}") 2>/dev/null; then
    echo "something already listens on $LISTEN: set BENCH_LISTEN to a free address" >&2
    exit 1
fi
log "starting the server on $LISTEN"
SERVER_ENV=(
    "SWITCHBOARD_LISTEN=$LISTEN"
    "SWITCHBOARD_SESSIONS_PER_IP_PER_MIN=${SWITCHBOARD_SESSIONS_PER_IP_PER_MIN:-1000000}"
    "SWITCHBOARD_LOGINS_PER_IP_PER_MIN=${SWITCHBOARD_LOGINS_PER_IP_PER_MIN:-1000}"
    "SWITCHBOARD_VISITOR_MESSAGES_PER_SEC=${SWITCHBOARD_VISITOR_MESSAGES_PER_SEC:-100000}"
    "SWITCHBOARD_VISITOR_BURST=${SWITCHBOARD_VISITOR_BURST:-100000}"
    "SWITCHBOARD_CONVERSATION_IDLE_SECS=${SWITCHBOARD_CONVERSATION_IDLE_SECS:-60}"
    # The load generator opens thousands of sockets from one address at once.
    "SWITCHBOARD_UNAUTHENTICATED_SOCKETS_PER_IP=${SWITCHBOARD_UNAUTHENTICATED_SOCKETS_PER_IP:-1000000}"
    "RUST_LOG=${RUST_LOG:-info}"
)
# Any other SWITCHBOARD_* in the environment reaches the server too; record them all.
{ printf '%s\n' "${SERVER_ENV[@]}"; env | grep -E '^SWITCHBOARD_' || true; } >"$OUT/server-env.txt"
env "${SERVER_ENV[@]}" "$BIN/switchboard" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
"$BIN/bench" wait --url "$URL" --timeout-secs 60
kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/server.log" >&2; exit 1; }
log "server pid $SERVER_PID is up"

log "(a) $VISITORS idle visitor sockets, held ${IDLE_SECS}s"
run_bench "$OUT/a-idle.txt" --label idle --mode idle --visitors "$VISITORS" \
    --idle-secs "$IDLE_SECS"

for ((r = 1; r <= REPEAT; r++)); do
    log "(b) run $r/$REPEAT: $VISITORS visitors, $RATE msgs/s for ${DURATION}s," \
        "$OPERATORS supervisors online first"
    run_bench "$OUT/b-latency-$r.txt" --label latency --mode latency \
        --visitors "$VISITORS" --operators "$OPERATORS" "${OPERATOR_ARGS[@]}" \
        --rate "$RATE" --duration "$DURATION" --idle-secs 5

    log "(b') run $r/$REPEAT: the same, supervisors connecting after the visitors"
    run_bench "$OUT/b-latency-late-$r.txt" --label latency-late --mode latency \
        --visitors "$VISITORS" --operators "$OPERATORS" --operators-late "${OPERATOR_ARGS[@]}" \
        --rate "$RATE" --duration "$DURATION" --idle-secs 5

    log "(c) run $r/$REPEAT: max throughput, $TP_VISITORS visitors, window $TP_WINDOW," \
        "${TP_DURATION}s"
    run_bench "$OUT/c-throughput-$r.txt" --label throughput --mode throughput \
        --visitors "$TP_VISITORS" --operators "$OPERATORS" --operators-late \
        "${OPERATOR_ARGS[@]}" --window "$TP_WINDOW" --duration "$TP_DURATION" --idle-secs 2
done

log "stopping the server"
stop_pid "$SERVER_PID" 15
SERVER_PID=
grep -cE ' (WARN|ERROR) ' "$OUT/server.log" >"$OUT/server-warnings.count" || true

log "pgbench baselines: $PGB_CLIENTS clients, ${PGB_SECS}s each"
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qc \
    "DROP TABLE IF EXISTS pgbench_rows; CREATE TABLE pgbench_rows (id bigserial PRIMARY KEY, body text NOT NULL);"
echo "INSERT INTO pgbench_rows (body) VALUES (repeat('x', 200));" >"$OUT/pgbench-one.sql"
echo "INSERT INTO pgbench_rows (body) SELECT repeat('x', 200) FROM generate_series(1, 100);" \
    >"$OUT/pgbench-hundred.sql"
PGB_ONE=()
PGB_HUNDRED=()
pgbench_tps() { # script output-file
    wait_quiet
    { echo "--- $(date -u +%H:%M:%S) before: pgbench $1"; cat /proc/loadavg; } >>"$OUT/load.txt"
    timeout --kill-after=10 $((PGB_SECS + 120)) "$PGBENCH" -n -c "$PGB_CLIENTS" -j 2 \
        -T "$PGB_SECS" -f "$1" "$DATABASE_URL" >"$2" 2>&1
    grep -oE 'tps = [0-9.]+' "$2" | head -n 1 | cut -d' ' -f3
}
# Diagnostic, best effort: 100 rows per transaction into a copy of the server's own events table
# (its indexes, including the full-text one, and generated column; no foreign key).
psql "$DATABASE_URL" -qc "DROP TABLE IF EXISTS pgbench_events;
    CREATE TABLE pgbench_events (LIKE events INCLUDING ALL);" >/dev/null 2>&1 || true
cat >"$OUT/pgbench-events.sql" <<'SQL'
INSERT INTO pgbench_events (conversation_id, seq, kind, author, author_id, author_name, body, client_id)
SELECT gen_random_uuid(), 1, 'message', 'visitor', gen_random_uuid(), 'User',
       substr(repeat(md5(random()::text) || ' hello world ', 5), 1, 200), md5(random()::text)
FROM generate_series(1, 100);
SQL
PGB_EVENTS=()
for ((r = 1; r <= REPEAT; r++)); do
    PGB_ONE+=("$(pgbench_tps "$OUT/pgbench-one.sql" "$OUT/pgbench-one-$r.txt")")
    PGB_HUNDRED+=("$(pgbench_tps "$OUT/pgbench-hundred.sql" "$OUT/pgbench-hundred-$r.txt")")
    PGB_EVENTS+=("$(pgbench_tps "$OUT/pgbench-events.sql" "$OUT/pgbench-events-$r.txt" || true)")
    log "pgbench run $r: one row/txn ${PGB_ONE[-1]} tps; 100 rows/txn ${PGB_HUNDRED[-1]} tps;" \
        "100 events-shaped rows/txn ${PGB_EVENTS[-1]:-n/a} tps"
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : 0)}'; }
pick() { # label jq-expression → median over the runs with that label
    jq -r --arg l "$1" "select(.label == \$l) | ($2 // \"n/a\")" "$RESULTS" | sort -g |
        awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "n/a")}'
}

ONE_TPS=$(median "${PGB_ONE[@]}")
HUNDRED_TPS=$(median "${PGB_HUNDRED[@]}")
HUNDRED_ROWS=$(awk -v t="$HUNDRED_TPS" 'BEGIN {printf "%.0f", t * 100}')
EVENTS_ROWS=$(awk -v t="$(median "${PGB_EVENTS[@]:-0}")" 'BEGIN {printf "%.0f", t * 100}')
IDLE_KIB=$(pick idle '.rss_per_idle_socket_kib')
IDLE_CONNECTED=$(pick idle '.visitors_connected')
LAT_P50=$(pick latency '.delivery_latency.p50_ms')
LAT_P99=$(pick latency '.delivery_latency.p99_ms')
LAT_MAX=$(pick latency '.delivery_latency.max_ms')
LAT_ACKED=$(pick latency '.acked_per_sec')
LAT_ERRORS=$(pick latency '.errors_total')
ACK_P99=$(pick latency '.ack_latency.p99_ms')
TP=$(pick throughput '.acked_per_sec')
TP_ERRORS=$(pick throughput '.errors_total')
TP_P99=$(pick throughput '.delivery_latency.p99_ms')
RATIO=$(awk -v a="$TP" -v b="$ONE_TPS" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
verdict() { # awk condition; a missing figure (n/a) is a miss
    if [[ $1 != *n/a* ]] && awk "BEGIN {exit !($1)}"; then echo MET; else echo MISSED; fi
}

{
    echo "== Switchboard benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), runs: $REPEAT, medians) =="
    echo "(a) idle: $IDLE_CONNECTED visitor sockets held; server RSS per idle socket: $IDLE_KIB KiB" \
        "(target <= 32 KiB: $(verdict "$IDLE_KIB <= 32 && $IDLE_CONNECTED >= $VISITORS"))"
    echo "(b) latency: $VISITORS sockets, $RATE msgs/s, ${DURATION}s, $OPERATORS supervisors:" \
        "visitor->operator p50 $LAT_P50 ms, p99 $LAT_P99 ms, max $LAT_MAX ms;" \
        "visitor->ack p99 $ACK_P99 ms; acked $LAT_ACKED msgs/s; errors $LAT_ERRORS" \
        "(target p99 <= 50 ms and 0 errors: $(verdict "$LAT_P99 <= 50 && $LAT_ERRORS == 0"))"
    echo "(b') latency, supervisors connecting after the visitors: visitor->operator p50" \
        "$(pick latency-late '.delivery_latency.p50_ms') ms, p99 $(pick latency-late '.delivery_latency.p99_ms') ms," \
        "max $(pick latency-late '.delivery_latency.max_ms') ms; errors $(pick latency-late '.errors_total')"
    echo "(c) throughput: $TP_VISITORS visitors, window $TP_WINDOW: $TP durable acked msgs/s" \
        "(delivery p99 $TP_P99 ms, errors $TP_ERRORS)"
    echo "pgbench ($PGB_CLIENTS clients, ${PGB_SECS}s): one 200-byte row/txn $ONE_TPS tps;" \
        "100 rows/txn $HUNDRED_TPS tps = $HUNDRED_ROWS rows/s;" \
        "diagnostic: 100 events-table rows/txn = $EVENTS_ROWS rows/s"
    echo "ratio max acked msgs/s / pgbench one-row tps: $RATIO" \
        "(target >= 3: $(verdict "$RATIO >= 3"))"
    echo "server log: $(cat "$OUT/server-warnings.count" 2>/dev/null || echo 0) WARN/ERROR lines ($OUT/server.log)"
    echo "raw results: $RESULTS"
} | tee "$OUT/summary.txt"
