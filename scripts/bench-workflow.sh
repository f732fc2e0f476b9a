#!/usr/bin/env bash
# Switchboard issue-3 benchmark: routing and API at scale, in one run:
#   1. builds the release binaries into target-bench/ (BENCH_NO_BUILD=1 skips it);
#   2. fresh database switchboard_bench_workflow (dropped first); one supervisor via the CLI and
#      200 agents (max_concurrent 30, in the default group) inserted with SQL, sharing the
#      supervisor's argon2 hash; starts the server on 127.0.0.1:18490;
#   3. assignment latency (`bench assign`): 5,000 widget sessions with nobody online, then the 200
#      agents connect and the router drains the backlog (created → an operator socket gets
#      `conversation` with status active); then 1,000 more at 100/s (steady state);
#   4. stops the server, loads 100,000 conversations and 1,000,000 events with SQL
#      (bench/sql/workflow-data.sql), restarts the server;
#   5. list, events and search latency over HTTP (`bench api`, 8 clients, 20 s per scenario);
#   6. stops the server; pgbench baselines of the same queries (8 clients, 10 s each) and
#      EXPLAIN ANALYZE of each.
# Results land in bench/results/workflow-<UTC time>/. Everything it starts is stopped on exit.
# Knobs: BENCH_API_SECS (20), BENCH_PGBENCH_SECS (10), BENCH_BACKLOG (5000), BENCH_STEADY (1000),
# BENCH_AGENTS (200), BENCH_NO_BUILD, BENCH_PG, BENCH_OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
BIN=$CARGO_TARGET_DIR/release
OUT=${BENCH_OUT:-$ROOT/bench/results/workflow-$(date -u +%Y%m%dT%H%M%SZ)}
PG_BASE=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=switchboard_bench_workflow
LISTEN=127.0.0.1:18490
URL=http://$LISTEN
AGENTS=${BENCH_AGENTS:-200}
BACKLOG=${BENCH_BACKLOG:-5000}
STEADY=${BENCH_STEADY:-1000}
API_SECS=${BENCH_API_SECS:-20}
PGB_SECS=${BENCH_PGBENCH_SECS:-10}
PASSWORD=bench-password-123
DEFAULT_GROUP=00000000-0000-7000-8000-000000000001

PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -n 1 || true)
for tool in psql jq; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done
ulimit -n 20000
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
SERVER_PID=
BENCH_PID=
log() { printf '[bench-workflow.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

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

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel: $(uname -sr)"
    free -h
    echo "postgres: $(psql "$PG_BASE/postgres" -Atc 'select version()')"
    echo "server source: commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "loadavg at start: $(cat /proc/loadavg)"
} | tee "$OUT/machine.txt" >&2

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    cargo build --release -p switchboard -p switchboard-bench >&2
fi

export DATABASE_URL=$PG_BASE/$DB
log "fresh database $DB"
psql "$PG_BASE/postgres" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
"$BIN/switchboard" migrate >&2
echo "$PASSWORD" | "$BIN/switchboard" operator add --email sup@wf.local --name "WF Supervisor" \
    --role supervisor --max-concurrent 30 >&2
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q <<SQL
INSERT INTO operators (id, email, name, password_hash, role, max_concurrent)
SELECT gen_random_uuid(), 'op' || lpad(g::text, 3, '0') || '@wf.local', 'Agent ' || g,
       (SELECT password_hash FROM operators WHERE email = 'sup@wf.local'), 'agent', 30
FROM generate_series(1, $AGENTS) g;
INSERT INTO group_members (group_id, operator_id)
SELECT '$DEFAULT_GROUP', id FROM operators WHERE email LIKE 'op%@wf.local'
ON CONFLICT DO NOTHING;
SQL
psql "$DATABASE_URL" -Atc "SELECT email FROM operators WHERE email LIKE 'op%@wf.local' ORDER BY email" \
    >"$OUT/agents.txt"
log "$(wc -l <"$OUT/agents.txt") agents inserted"

start_server() { # log-file
    if (exec 3<>"/dev/tcp/${LISTEN%:*}/${LISTEN##*:}") 2>/dev/null; then
        echo "something already listens on $LISTEN" >&2
        exit 1
    fi
    env SWITCHBOARD_LISTEN=$LISTEN SWITCHBOARD_SESSIONS_PER_IP_PER_MIN=1000000 \
        SWITCHBOARD_LOGINS_PER_IP_PER_MIN=100000 SWITCHBOARD_API_REQUESTS_PER_SEC=1000000 \
        SWITCHBOARD_API_BURST=1000000 RUST_LOG=${RUST_LOG:-warn} \
        "$BIN/switchboard" serve >"$1" 2>&1 &
    SERVER_PID=$!
    "$BIN/bench" wait --url "$URL" --timeout-secs 120
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$1" >&2; exit 1; }
    log "server pid $SERVER_PID is up"
}
bounded() { # seconds command...: runs in the background so that signals reach the trap
    local limit=$1 rc=0
    shift
    timeout --kill-after=10 "$limit" "$@" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=
    return "$rc"
}

start_server "$OUT/server-1.log"
log "(1) assignment: $BACKLOG queued, then $AGENTS agents connect; then $STEADY at 100/s"
bounded 900 "$BIN/bench" assign --url "$URL" --operators-file "$OUT/agents.txt" \
    --password "$PASSWORD" --backlog "$BACKLOG" --steady "$STEADY" --steady-rate 100 \
    --json-out "$RESULTS" >"$OUT/assign.txt" || log "bench assign failed"
cat "$OUT/assign.txt"
stop_pid "$SERVER_PID" 15
SERVER_PID=

log "(2) loading 100,000 conversations and 1,000,000 events"
SECONDS=0
bounded 1200 psql "$DATABASE_URL" -q -f "$ROOT/bench/sql/workflow-data.sql" >&2
log "loaded in ${SECONDS}s"
psql "$DATABASE_URL" -At -F ' ' -c "SELECT 'conversations', count(*) FROM conversations
    UNION ALL SELECT 'events', count(*) FROM events
    UNION ALL SELECT 'open', count(*) FROM conversations WHERE status IN ('pending', 'active')
    UNION ALL SELECT 'db_size_mb', pg_database_size(current_database()) / 1048576" |
    tee "$OUT/data.txt" >&2

start_server "$OUT/server-2.log"
AGENT=op001@wf.local
bounded 900 "$BIN/bench" api --url "$URL" --supervisor "sup@wf.local:$PASSWORD" \
    --agent "$AGENT:$PASSWORD" --concurrency 8 --duration "$API_SECS" --rare zanzibar \
    --common order --json-out "$RESULTS" >"$OUT/api.txt" || log "bench api failed"
cat "$OUT/api.txt"
stop_pid "$SERVER_PID" 15
SERVER_PID=

log "(3) SQL baselines: pgbench, 8 clients, ${PGB_SECS}s each; EXPLAIN ANALYZE"
AGENT_ID=$(psql "$DATABASE_URL" -Atc "SELECT id FROM operators WHERE email = '$AGENT'")
CURSOR=$(psql "$DATABASE_URL" -At -F ' ' -c \
    "SELECT created_at, id FROM conversations ORDER BY created_at DESC, id DESC OFFSET 999 LIMIT 1")
CUR_AT=${CURSOR% *}
CUR_ID=${CURSOR##* }
COLS="c.*, ct.alias"
LIST="SELECT $COLS FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
SEARCH="SELECT e.conversation_id, c.ticket, ct.alias, e.seq, e.kind, e.author, e.author_name,
  ts_headline('simple', e.body, q.query, 'StartSel=\"\", StopSel=\"\", MaxWords=35, MinWords=15') AS snippet,
  e.created_at
FROM websearch_to_tsquery('simple', '__WORD__') AS q(query)
JOIN events e ON e.search @@ q.query
JOIN conversations c ON c.id = e.conversation_id
JOIN contacts ct ON ct.id = c.contact_id
WHERE e.kind IN ('message', 'note') AND (:agent::uuid IS NULL OR c.status = 'pending' OR c.assignee_id = :agent::uuid)
ORDER BY e.created_at DESC, e.conversation_id DESC, e.seq DESC LIMIT 50"
declare -A Q
Q[list_supervisor]="$LIST ORDER BY c.created_at DESC, c.id DESC LIMIT 50"
Q[list_agent_active_mine]="$LIST WHERE (c.status = 'pending' OR c.assignee_id = '$AGENT_ID') AND c.status = 'active' AND c.assignee_id = '$AGENT_ID' ORDER BY c.created_at DESC, c.id DESC LIMIT 50"
Q[list_agent_default]="$LIST WHERE (c.status = 'pending' OR c.assignee_id = '$AGENT_ID') ORDER BY c.created_at DESC, c.id DESC LIMIT 50"
Q[list_deep_cursor_page20]="$LIST WHERE (c.created_at < '$CUR_AT' OR (c.created_at = '$CUR_AT' AND c.id < '$CUR_ID')) ORDER BY c.created_at DESC, c.id DESC LIMIT 50"
Q[events_newest_page]="SELECT * FROM events WHERE conversation_id = md5('v' || :n)::uuid ORDER BY seq DESC LIMIT 50"
Q[search_rare_supervisor]=${SEARCH//__WORD__/zanzibar}
Q[search_rare_agent]=${SEARCH//__WORD__/zanzibar}
Q[search_common_supervisor]=${SEARCH//__WORD__/order}
Q[search_common_agent]=${SEARCH//__WORD__/order}
: >"$OUT/pgbench.txt"
for name in list_supervisor list_agent_active_mine list_agent_default list_deep_cursor_page20 \
    events_newest_page search_rare_supervisor search_rare_agent search_common_supervisor \
    search_common_agent; do
    sql=${Q[$name]}
    if [[ $name == *_agent ]]; then agent="'$AGENT_ID'"; else agent=NULL; fi
    sql=${sql//:agent/$agent}
    { [[ $name == events_newest_page ]] && echo '\set n random(1, 100000)'; echo "$sql;"; } \
        >"$OUT/pgbench-$name.sql"
    if [[ -n $PGBENCH ]]; then
        bounded $((PGB_SECS + 120)) "$PGBENCH" -n -c 8 -j 2 -T "$PGB_SECS" -r \
            -f "$OUT/pgbench-$name.sql" "$DATABASE_URL" >"$OUT/pgbench-$name.txt" 2>&1 || true
        tps=$(grep -oE 'tps = [0-9.]+' "$OUT/pgbench-$name.txt" | head -n 1 | cut -d' ' -f3)
        lat=$(grep -oE 'latency average = [0-9.]+ ms' "$OUT/pgbench-$name.txt" | grep -oE '[0-9.]+')
        echo "$name: tps ${tps:-n/a}, latency average ${lat:-n/a} ms" | tee -a "$OUT/pgbench.txt" >&2
    fi
    explain=$(sed 's/:n/42/' <<<"$sql")
    psql "$DATABASE_URL" -c "EXPLAIN (ANALYZE, BUFFERS) $explain" >"$OUT/explain-$name.txt" 2>&1 || true
    echo "$name: EXPLAIN ANALYZE $(grep -oE 'Execution Time: [0-9.]+ ms' "$OUT/explain-$name.txt")" |
        tee -a "$OUT/pgbench.txt" >&2
done

{
    echo "== Switchboard issue-3 benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ)) =="
    jq -r 'select(.label == "assign") |
        "assignment: \(.operators_connected) agents, backlog \(.backlog): created->told p50 \(.backlog_latency.p50_ms) ms, p99 \(.backlog_latency.p99_ms) ms, max \(.backlog_latency.max_ms) ms; drained in \(.backlog_drain_secs) s after the first connect (not assigned: \(.backlog_not_assigned))\nsteady \(.steady) at \(.steady_rate)/s: p50 \(.steady_latency.p50_ms) ms, p99 \(.steady_latency.p99_ms) ms, max \(.steady_latency.max_ms) ms (not assigned: \(.steady_not_assigned)); errors \(.create_errors), socket failures \(.operator_socket_failures)"' "$RESULTS"
    cat "$OUT/data.txt"
    jq -r 'select(.label == "api") | .scenarios | to_entries[] |
        "\(.key): p50 \(.value.p50_ms) ms, p99 \(.value.p99_ms) ms, max \(.value.max_ms) ms, \(.value.req_per_sec) req/s, \(.value.items_per_req) items/req, errors \(.value.errors)"' "$RESULTS"
    cat "$OUT/pgbench.txt"
    echo "server log WARN/ERROR lines: $(cat "$OUT"/server-*.log | grep -cE 'WARN|ERROR' || true)"
} | tee "$OUT/summary.txt"
