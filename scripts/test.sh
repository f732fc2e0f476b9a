#!/usr/bin/env bash
# The one test command: makes sure PostgreSQL answers on 127.0.0.1:5432 (installing and
# starting it on a fresh Debian machine if needed), then runs rustfmt, clippy and every test.
#
#   scripts/test.sh                      # everything
#   scripts/test.sh -E 'test(routing)'   # extra arguments go to the test runner
#
# Environment (all optional):
#   SB_TEST_TIMEOUT   seconds the test run may take in total (default 2400)
#   SB_LINT_TIMEOUT   seconds rustfmt + clippy may take, cold build included (default 1200)
#   SB_SKIP_LINT=1    skip rustfmt and clippy (quick local iterations only; CI never sets it)
#   SB_KEEP_DB_MIN    leftover sbtest_* databases younger than this many minutes are kept,
#                     so a test run going on beside this one is not disturbed (default 10)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PG_HOST=127.0.0.1
PG_PORT=5432
PG_WAIT_SECS=30
TEST_TIMEOUT=${SB_TEST_TIMEOUT:-2400}
LINT_TIMEOUT=${SB_LINT_TIMEOUT:-1200}
KEEP_DB_MIN=${SB_KEEP_DB_MIN:-10}
MIN_MAX_CONNECTIONS=100

started=$SECONDS
say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------------
# Privileges: PostgreSQL setup may need root (apt, pg_hba.conf) or the postgres OS user.
# ---------------------------------------------------------------------------------------------
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        die "'$*' needs root (run as root, or set up passwordless sudo)"
    fi
}

as_postgres() {
    if [[ $(id -un) == postgres ]]; then
        "$@"
    elif [[ $EUID -eq 0 ]] && command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    elif [[ $EUID -eq 0 ]]; then
        su -s /bin/bash postgres -c "$(printf '%q ' "$@")"
    else
        as_root runuser -u postgres -- "$@"
    fi
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
pg_answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2
    else
        timeout 3 bash -c "exec 3<>/dev/tcp/$PG_HOST/$PG_PORT" 2>/dev/null
    fi
}

wait_for_pg() {
    local deadline=$((SECONDS + PG_WAIT_SECS))
    until pg_answers; do
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}

# psql as the postgres role over TCP, never prompting and ignoring any stored password: this
# is exactly how the tests connect (postgres://postgres@127.0.0.1:5432/...).
tcp_psql() {
    env -u PGPASSWORD PGPASSFILE=/nonexistent/pgpass PGCONNECT_TIMEOUT=5 \
        psql -X -w -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres "$@"
}

# The Debian cluster serving port 5432 as "version name status", else the first one.
debian_cluster() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 1
    local listing
    listing=$(pg_lsclusters -h 2>/dev/null || true)
    [[ -n $listing ]] || return 1
    awk -v port="$PG_PORT" '$3 == port { print $1, $2, $4; found = 1; exit }
        END { if (!found) exit 1 }' <<<"$listing" ||
        awk 'NR == 1 { print $1, $2, $4 }' <<<"$listing"
}

install_postgres() {
    command -v apt-get >/dev/null 2>&1 ||
        die "PostgreSQL is not running on $PG_HOST:$PG_PORT and apt-get is not available to install it"
    say "installing PostgreSQL from Debian's packages"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 \
        apt-get install -y -q --no-install-recommends postgresql postgresql-client
}

newest_server_version() {
    local bin
    for bin in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x $bin ]] && basename "$(dirname "$(dirname "$bin")")"
    done | sort -V | tail -n 1
}

start_postgres() {
    local cluster
    if ! cluster=$(debian_cluster); then
        # pg_lsclusters also comes with the client packages: look for a server binary.
        [[ -n $(newest_server_version) ]] || install_postgres
        command -v pg_lsclusters >/dev/null 2>&1 ||
            die "PostgreSQL is not running on $PG_HOST:$PG_PORT and this is not a Debian-style install (no pg_lsclusters): start it yourself"
        if ! cluster=$(debian_cluster); then
            # Installed without a cluster (create_main_cluster = false): make one.
            local version
            version=$(newest_server_version)
            [[ -n $version ]] || die "PostgreSQL is installed but no server binary was found"
            say "creating PostgreSQL cluster $version/main on port $PG_PORT"
            as_root pg_createcluster --port "$PG_PORT" "$version" main
            cluster=$(debian_cluster) || die "pg_createcluster did not create a cluster"
        fi
    fi
    local version name status
    read -r version name status <<<"$cluster"
    if [[ $status != online ]]; then
        say "starting PostgreSQL cluster $version/$name"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start ||
            warn "pg_ctlcluster start failed; waiting in case it is starting anyway"
    fi
}

# Lets the postgres role in over TCP from localhost without a password.
allow_trust_auth() {
    say "allowing password-less TCP logins for local connections (pg_hba.conf)"
    local hba
    hba=$(as_postgres psql -X -w -Atc 'SHOW hba_file' 2>/dev/null || true)
    if [[ -z $hba ]]; then
        local version name status
        read -r version name status <<<"$(debian_cluster)" ||
            die "cannot find pg_hba.conf (is this a Debian PostgreSQL?)"
        hba=/etc/postgresql/$version/$name/pg_hba.conf
    fi
    as_root test -f "$hba" || die "pg_hba.conf not found at $hba"
    local tmp
    tmp=$(mktemp)
    {
        echo '# Added by switchboard scripts/test.sh: tests connect as postgres without a password.'
        echo 'host    all    all    127.0.0.1/32    trust'
        echo 'host    all    all    ::1/128         trust'
        as_root cat "$hba"
    } >"$tmp"
    as_root cp "$tmp" "$hba"
    rm -f "$tmp"
    if ! as_postgres psql -X -w -qAtc 'SELECT pg_reload_conf()' >/dev/null; then
        local version name status
        read -r version name status <<<"$(debian_cluster)"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload
    fi
    sleep 1
}

ensure_max_connections() {
    local current
    current=$(tcp_psql -Atc 'SHOW max_connections') || return 0
    if ((current >= MIN_MAX_CONNECTIONS)); then
        return 0
    fi
    local cluster version name status
    cluster=$(debian_cluster) || {
        warn "max_connections is $current (< $MIN_MAX_CONNECTIONS); raise it for reliable tests"
        return 0
    }
    read -r version name status <<<"$cluster"
    say "raising max_connections from $current to 200 (restarts PostgreSQL)"
    tcp_psql -c 'ALTER SYSTEM SET max_connections = 200'
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" restart
    wait_for_pg || die "PostgreSQL did not come back after the restart"
}

ensure_postgres() {
    if ! pg_answers; then
        say "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
        start_postgres
        wait_for_pg || die "PostgreSQL still does not answer on $PG_HOST:$PG_PORT after ${PG_WAIT_SECS}s"
    fi
    if ! command -v psql >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1; then
            as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -q
            as_root env DEBIAN_FRONTEND=noninteractive timeout 600 \
                apt-get install -y -q --no-install-recommends postgresql-client
        else
            warn "psql is not installed: cannot check logins or clean old test databases"
            return 0
        fi
    fi
    if ! tcp_psql -Atc 'SELECT 1' >/dev/null 2>&1; then
        allow_trust_auth
        tcp_psql -Atc 'SELECT 1' >/dev/null ||
            die "the postgres role cannot log in over TCP from $PG_HOST without a password"
    fi
    ensure_max_connections
    say "PostgreSQL answers on $PG_HOST:$PG_PORT ($(tcp_psql -Atc 'SHOW server_version'))"
}

# Tests make one database each (sbtest_<uuid>) and leave it behind; drop old ones. Databases
# still in use or younger than SB_KEEP_DB_MIN minutes may belong to a run going on beside this
# one, so they stay.
drop_old_test_databases() {
    command -v psql >/dev/null 2>&1 || return 0
    local names
    names=$(tcp_psql -Atc "
        SELECT d.datname FROM pg_database d
        WHERE d.datname LIKE 'sbtest\_%'
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)
          AND (pg_stat_file('base/' || d.oid || '/PG_VERSION')).modification
              < now() - interval '$KEEP_DB_MIN minutes'" 2>/dev/null) || {
        warn "could not list leftover test databases"
        return 0
    }
    [[ -n $names ]] || return 0
    # Each DROP DATABASE waits for a checkpoint (seconds on a busy disk); several at once share
    # checkpoints, so they run in parallel.
    local count
    count=$(wc -l <<<"$names")
    say "dropping $count leftover test database(s)"
    export -f tcp_psql
    export PG_HOST PG_PORT
    xargs -P 8 -I '{}' bash -c 'tcp_psql -c "DROP DATABASE IF EXISTS \"$1\"" 2>/dev/null || true' _ '{}' \
        <<<"$names"
}

# ---------------------------------------------------------------------------------------------
# Rust
# ---------------------------------------------------------------------------------------------
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
        PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 ||
        die "cargo was not found: install a Rust toolchain (https://rustup.rs, Rust >= 1.85) with the rustfmt and clippy components"
    local component
    for component in fmt clippy; do
        if ! cargo "$component" --version >/dev/null 2>&1; then
            if command -v rustup >/dev/null 2>&1; then
                rustup component add "$([[ $component == fmt ]] && echo rustfmt || echo clippy)" ||
                    die "cargo $component is missing and rustup could not add it"
            else
                die "cargo $component is missing: install the $component component"
            fi
        fi
    done
    say "$(cargo --version)"
}

# The browser tests (tests/browser.rs) need Debian's Chromium, Node.js and the npm packages
# in tests/browser (playwright-core drives the system Chromium; it never downloads a browser).
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "$* missing and apt-get is not available to install it"
    say "installing $* from Debian's packages"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends "$@"
}

ensure_browser_tools() {
    local missing=()
    [[ -x ${SB_CHROMIUM:-/usr/bin/chromium} ]] || missing+=(chromium)
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
    local node_major
    node_major=$(node -p 'process.versions.node.split(".")[0]')
    ((node_major >= 20)) ||
        die "the browser tests need Node.js 20 or newer (playwright-core); this is $(node --version). Debian 12 ships 18: install nodejs 20 (Debian 13, or NodeSource's packages)"
    local dir=tests/browser
    if [[ ! -d $dir/node_modules/playwright-core || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
        say "installing the browser tests' npm packages"
        (cd "$dir" && timeout 600 npm ci --no-audit --no-fund) || die "npm ci failed in $dir"
    fi
    say "$(${SB_CHROMIUM:-/usr/bin/chromium} --version 2>/dev/null || echo chromium), node $(node --version)"
}

timed_out() {
    # timeout(1) exits 124 when the limit is hit (137 if it had to SIGKILL).
    [[ $1 -eq 124 || $1 -eq 137 ]]
}

# ---------------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------------
ensure_rust
ensure_postgres
drop_old_test_databases
ensure_browser_tools
prep_done=$SECONDS
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

if [[ ${SB_SKIP_LINT:-0} == 1 ]]; then
    warn "SB_SKIP_LINT=1: skipping rustfmt and clippy"
    fmt_done=$SECONDS
    lint_done=$SECONDS
else
    say "stage 1/3: cargo fmt --check"
    status=0
    timeout -k 30 300 cargo fmt --all -- --check || status=$?
    if ((status != 0)); then
        timed_out "$status" && die "rustfmt timed out"
        die "code is not formatted: run 'cargo fmt --all'"
    fi
    fmt_done=$SECONDS

    say "stage 2/3: cargo clippy -D warnings"
    status=0
    timeout -k 30 "$LINT_TIMEOUT" cargo clippy --workspace --all-targets -- -D warnings || status=$?
    if ((status != 0)); then
        timed_out "$status" && die "clippy timed out after ${LINT_TIMEOUT}s"
        die "clippy found problems (see above)"
    fi
    lint_done=$SECONDS
fi

say "stage 3/3: tests"
status=0
if cargo nextest --version >/dev/null 2>&1; then
    # Per-test limit: a test still running after 5 minutes is killed and reported, instead of
    # eating the whole budget. A .config/nextest.toml in the repository overrides this.
    nextest_config=$(mktemp --suffix=.toml)
    trap 'rm -f "$nextest_config"' EXIT
    cat >"$nextest_config" <<'EOF'
[profile.default]
slow-timeout = { period = "60s", terminate-after = 5, grace-period = "10s" }
EOF
    timeout -k 60 "$TEST_TIMEOUT" cargo nextest run --workspace --no-fail-fast \
        --tool-config-file "switchboard-test-sh:$nextest_config" "$@" || status=$?
else
    warn "cargo-nextest is not installed; using cargo test (install it with 'cargo install cargo-nextest')"
    timeout -k 60 "$TEST_TIMEOUT" cargo test --workspace --no-fail-fast "$@" || status=$?
fi
tests_done=$SECONDS
if timed_out "$status"; then
    die "the test run was stopped after ${TEST_TIMEOUT}s"
fi

say "timing: setup $((prep_done - started))s, fmt $((fmt_done - prep_done))s, clippy $((lint_done - fmt_done))s, tests $((tests_done - lint_done))s, total $((SECONDS - started))s"
if ((status != 0)); then
    die "tests failed (exit status $status)"
fi
say "all checks passed"
