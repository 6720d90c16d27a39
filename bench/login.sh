#!/usr/bin/env bash
# Login throughput, and proof that argon2 runs off the async runtime:
# a flood of correct logins (50 users, wrk -c32, 20 s) and, at the same time,
# GET /health/live (wrk -c4, 20 s), whose p99 should stay under 10 ms.
#   bench/login.sh            (env: LOGIN_SECONDS, LOGIN_CONNECTIONS, HEALTH_CONNECTIONS, BENCH_USERS_N)
source "$(dirname "$0")/lib.sh"

SECONDS_RUN="${LOGIN_SECONDS:-20}"
LOGIN_C="${LOGIN_CONNECTIONS:-32}"
HEALTH_C="${HEALTH_CONNECTIONS:-4}"
USERS_N="${BENCH_USERS_N:-50}"
PASSWORD="bench-password-0123"

bench_init login
export BENCH_STATUSES=1   # wrk counts each status (small bodies, few requests)
start_api
py() { python3 "$BENCH_DIR/kpix_bench.py" "$@"; }

admin="$(py signup "$API_URL" "bench-admin@example.com" "$PASSWORD")"
token="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$admin")"
blog "creating $USERS_N users"
py users "$API_URL" "$token" "$USERS_N" "$PASSWORD" "$BENCH_TMP/users.txt"
py login-check "$API_URL" "$BENCH_TMP/users.txt"

# a short baseline of /health/live on an idle server
export BENCH_DIR
wait_for_quiet
BENCH_LABEL=health_idle wrk -t1 -c"$HEALTH_C" -d5s --timeout 10s -s "$BENCH_DIR/wrk/health.lua" \
  "$API_URL/health/live" >"$BENCH_TMP/health_idle.txt"

wait_for_quiet
load_before="$QUIET"
blog "login flood: $LOGIN_C connections + /health/live: $HEALTH_C connections, ${SECONDS_RUN}s ($load_before)"
BENCH_LABEL=login BENCH_USERS="$BENCH_TMP/users.txt" \
  wrk -t2 -c"$LOGIN_C" -d"${SECONDS_RUN}s" --timeout 30s -s "$BENCH_DIR/wrk/login.lua" \
  "$API_URL" >"$BENCH_TMP/login.txt" &
flood=$!
BENCH_PIDS+=("$flood")
sleep 0.5   # the flood is under way before the probe starts
BENCH_LABEL=health_under_flood wrk -t1 -c"$HEALTH_C" -d"$((SECONDS_RUN - 1))s" --timeout 10s \
  -s "$BENCH_DIR/wrk/health.lua" "$API_URL/health/live" >"$BENCH_TMP/health.txt"
wait "$flood"
forget_pid "$flood"
load_after="$(load_now)"

# second phase: the same flood, probed by an authenticated, database-backed
# request (GET /api/v1/auth/me, 2 connections), to see whether logins starve
# the connection pool that every other endpoint needs
ME_S=$(( SECONDS_RUN / 2 ))
echo x >"$BENCH_TMP/none.txt"
wait_for_quiet
blog "login flood + GET /auth/me probe: ${ME_S}s ($QUIET)"
BENCH_LABEL=login2 BENCH_USERS="$BENCH_TMP/users.txt" \
  wrk -t2 -c"$LOGIN_C" -d"${ME_S}s" --timeout 30s -s "$BENCH_DIR/wrk/login.lua" \
  "$API_URL" >"$BENCH_TMP/login2.txt" &
flood=$!
BENCH_PIDS+=("$flood")
sleep 0.5
BENCH_LABEL=me_under_flood BENCH_TOKEN="$token" BENCH_PATH=/api/v1/auth/me BENCH_IDS="$BENCH_TMP/none.txt" \
  wrk -t1 -c2 -d"$((ME_S - 1))s" --timeout 30s -s "$BENCH_DIR/wrk/get_random.lua" "$API_URL" >"$BENCH_TMP/me.txt"
wait "$flood"
forget_pid "$flood"
BENCH_LABEL=me_idle BENCH_TOKEN="$token" BENCH_PATH=/api/v1/auth/me BENCH_IDS="$BENCH_TMP/none.txt" \
  wrk -t1 -c2 -d5s --timeout 30s -s "$BENCH_DIR/wrk/get_random.lua" "$API_URL" >"$BENCH_TMP/me_idle.txt"
api_rss="$(rss_mib "$API_PID")"
api_threads="$(awk '/^Threads/ {print $2}' "/proc/$API_PID/status")"
issued="$(sql -c "select count(*) from refresh_token")"

BENCH_VERSION="$(bench_version)" python3 - "$BENCH_TMP" "$load_before" "$load_after" "$api_rss" "$issued" "$USERS_N" "$LOGIN_C" "$HEALTH_C" "$api_threads" <<'EOF'
import json, sys
tmp, load_before, load_after, api_rss, issued, users, login_c, health_c, threads = sys.argv[1:]
def run(name):
    for line in open(f"{tmp}/{name}.txt"):
        if line.startswith("WRKJSON "):
            return json.loads(line[8:])
    sys.exit(f"no wrk result in {name}.txt:\n" + open(f"{tmp}/{name}.txt").read())
login, health, idle = run("login"), run("health"), run("health_idle")
login2, me, me_idle = run("login2"), run("me"), run("me_idle")
ok = login["statuses"].get("200", 0)
print()
print(f"kpix login benchmark  ({users} users, release build, loopback)")
print("measured: " + __import__("os").environ["BENCH_VERSION"])
print(f"machine before the flood: {load_before}; load after: {load_after}")
print()
print(f"{'phase':<28}{'conns':>6}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
for label, r, c in (("POST /auth/login (flood)", login, login_c), ("GET /health/live (flood)", health, health_c),
                    ("GET /health/live (idle)", idle, health_c),
                    ("POST /auth/login (phase 2)", login2, login_c), ("GET /auth/me (phase 2)", me, "2"),
                    ("GET /auth/me (idle)", me_idle, "2")):
    st = " ".join(f"{k}:{v}" for k, v in sorted(r["statuses"].items()))
    print(f"{label:<28}{c:>6}{r['requests']:>10}{r['rps']:>10.1f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}  {st}")
print()
print(f"logins/s (200 only):            {ok / login['duration_s']:.1f}   (refresh tokens issued: {issued})")
print(f"non-200 logins:                 {login['requests'] - ok}   socket errors: {login['socket_errors']}")
verdict = "PASS" if health["p99_ms"] < 10 else "FAIL"
print(f"/health/live p99 under flood:   {health['p99_ms']:.2f} ms  (target < 10 ms: {verdict})")
print(f"GET /auth/me p99 under flood:   {me['p99_ms']:.2f} ms (idle {me_idle['p99_ms']:.2f} ms); non-200 {me['requests'] - me['statuses'].get('200', 0)}")
print(f"kpix-api peak / current RSS:    {api_rss.split()[0]} / {api_rss.split()[1]} MiB; threads {threads}")
EOF
