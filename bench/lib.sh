#!/usr/bin/env bash
# Shared by the benchmarks: release binaries, a fresh database, the API and
# the worker on loopback, and clean-up of everything a script started.
# Sourced, never run. Every function logs to stderr; figures go to stdout.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KPIX_ROOT="$(cd "$BENCH_DIR/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/kpix-target}"
# queries checked at compile time read their committed data, never a database
export SQLX_OFFLINE=true
# KPIX_BENCH_BIN: run other binaries (an A/B build) instead of building this tree
BIN="${KPIX_BENCH_BIN:-$CARGO_TARGET_DIR/release}"
PG_ADMIN_URL="${KPIX_BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

blog() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
bdie() { blog "error: $*"; exit 1; }

# Pids this script started, stopped by bench_cleanup (and only those).
BENCH_PIDS=()
BENCH_DB=""
BENCH_TMP=""

bench_cleanup() {
  local status=$?
  set +e
  for pid in "${BENCH_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${BENCH_PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ -n "$BENCH_DB" ]; then
    psql "$PG_ADMIN_URL" -qAtc "drop database if exists \"$BENCH_DB\" with (force)" >/dev/null 2>&1 \
      && blog "dropped database $BENCH_DB"
  fi
  if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ] && [ -z "${KPIX_BENCH_KEEP_TMP:-}" ]; then
    rm -rf "$BENCH_TMP"
  fi
  exit "$status"
}

# bench_init NAME: temp dir, trap, tools present, binaries built, fresh database.
bench_init() {
  local name="$1"
  BENCH_TMP="$(mktemp -d "/tmp/kpix-bench-$name.XXXXXX")"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  for tool in wrk psql pgbench python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || bdie "$tool is missing (wrk: apt-get install -y wrk)"
  done
  if [ -z "${KPIX_BENCH_NO_BUILD:-}" ] && [ -z "${KPIX_BENCH_BIN:-}" ]; then
    blog "building release binaries (cargo waits if another build holds the lock)"
    (cd "$KPIX_ROOT" && cargo build --release -q -p kpix-api -p kpix-worker --bins) >&2
  fi
  [ -x "$BIN/kpix-api" ] && [ -x "$BIN/kpix-worker" ] || bdie "no release binaries in $BIN"
  psql "$PG_ADMIN_URL" -qAtc 'select 1' >/dev/null || bdie "PostgreSQL is not reachable at $PG_ADMIN_URL"
  BENCH_DB="kpix_bench_${name}_$$"
  psql "$PG_ADMIN_URL" -qAtc "create database \"$BENCH_DB\"" >/dev/null
  DB_URL="${PG_ADMIN_URL%/*}/$BENCH_DB"
  export DB_URL
  blog "database $BENCH_DB, scratch $BENCH_TMP"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Environment both processes share.
bench_env() {
  export DATABASE_URL="$DB_URL"
  export STORAGE_URL="file://$BENCH_TMP/uploads"
  export LOG_FORMAT=json RUST_LOG="${KPIX_BENCH_RUST_LOG:-warn}"
  mkdir -p "$BENCH_TMP/uploads"
}

# start_api: sets API_PID and API_URL (http://127.0.0.1:PORT).
start_api() {
  bench_env
  local port; port="$(free_port)"
  JWT_SECRET="$(head -c 36 /dev/urandom | base64 | tr -d '\n')"   # 48 characters
  [ "${#JWT_SECRET}" -eq 48 ] || bdie "JWT secret is ${#JWT_SECRET} characters"
  # the load generators stand for many users behind one address: the
  # per-address rate limits, there to stop floods, would measure themselves
  BIND_ADDR="127.0.0.1:$port" JWT_SECRET="$JWT_SECRET" ACCESS_TOKEN_TTL_SECONDS=3600 \
    RATE_LIMIT_SIGNUPS_PER_HOUR=0 RATE_LIMIT_LOGINS_PER_MINUTE=0 \
    RATE_LIMIT_REFRESHES_PER_MINUTE=0 RATE_LIMIT_UPLOADS_PER_MINUTE=0 \
    "$BIN/kpix-api" >"$BENCH_TMP/api.log" 2>&1 &
  API_PID=$!
  BENCH_PIDS+=("$API_PID")
  API_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 120); do
    curl -fsS "$API_URL/health/ready" >/dev/null 2>&1 && { blog "kpix-api pid $API_PID at $API_URL"; return; }
    kill -0 "$API_PID" 2>/dev/null || { cat "$BENCH_TMP/api.log" >&2; bdie "kpix-api exited"; }
    sleep 0.25
  done
  bdie "kpix-api not ready"
}

# start_worker: sets WORKER_PID (a fresh process, so its VmHWM is this run's).
start_worker() {
  bench_env
  "$BIN/kpix-worker" >"$BENCH_TMP/worker.log" 2>&1 &
  WORKER_PID=$!
  BENCH_PIDS+=("$WORKER_PID")
  sleep 1
  kill -0 "$WORKER_PID" 2>/dev/null || { cat "$BENCH_TMP/worker.log" >&2; bdie "kpix-worker exited"; }
  blog "kpix-worker pid $WORKER_PID"
}

# Removes a pid that has ended from the ones clean-up stops.
forget_pid() {
  local keep=() pid
  for pid in "${BENCH_PIDS[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
  BENCH_PIDS=("${keep[@]}")
}

# Peak and current resident memory of a pid, in MiB: "peak current".
rss_mib() {
  awk '/^VmHWM/ {h=$2} /^VmRSS/ {r=$2} END {printf "%.1f %.1f\n", h/1024, r/1024}' "/proc/$1/status"
}

# CPU seconds (user + system) a pid has used so far.
cpu_secs() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f\n", ($14 + $15) / hz}' "/proc/$1/stat"
}

# The machine's load when a phase starts, for the report.
load_now() { cut -d' ' -f1-3 /proc/loadavg; }

# Percent of the machine's CPU busy over the next 2 s (0-100, all cores).
cpu_busy() {
  local a b
  a="$(head -1 /proc/stat)"; sleep 2; b="$(head -1 /proc/stat)"
  awk -v a="$a" -v b="$b" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); t = 0
    for (i = 2; i <= n; i++) t += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%.0f\n", (t > 0 ? 100 * (t - idle) / t : 0) }'
}

# Waits (bounded) until the machine is quiet before a phase: less than
# KPIX_BENCH_QUIET_CPU % (default 15) of the CPU busy over 2 s while this
# script runs nothing; the 1-minute load average lags (and counts this
# script's own previous phase), so it is printed but not used. Sets QUIET to
# "cpu N% busy, load A B C" for the report; never blocks long.
wait_for_quiet() {
  local limit="${KPIX_BENCH_QUIET_WAIT:-90}" threshold="${KPIX_BENCH_QUIET_CPU:-15}" busy waited=0
  while :; do
    busy="$(cpu_busy)"; waited=$((waited + 2))
    [ "$busy" -lt "$threshold" ] && break
    if [ "$waited" -ge "$limit" ]; then
      blog "machine still ${busy}% busy after ${limit}s; measuring anyway"
      break
    fi
  done
  QUIET="cpu ${busy}% busy before, load $(load_now)"
}

sql() { psql "$DB_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }

# What was measured: the commit, and whether the tree had uncommitted changes.
bench_version() {
  local rev dirty=""
  rev="$(git -C "$KPIX_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  git -C "$KPIX_ROOT" diff --quiet HEAD -- api shared worker migrations Cargo.toml Cargo.lock 2>/dev/null || dirty=" + uncommitted changes"
  local bins=""
  [ -n "${KPIX_BENCH_BIN:-}" ] && bins=", binaries from $KPIX_BENCH_BIN"
  echo "commit $rev$dirty$bins, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
}
