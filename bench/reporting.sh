#!/usr/bin/env bash
# Reporting benchmark: builds the release binaries, fills a fresh database with
# kpix-demo (10,000 KPIs x 100 values by default), starts kpix-api, then for
# each /reporting endpoint measures p50 / p99 / requests per second over HTTP
# (wrk, 20 concurrent connections) and the same SQL run directly (pgbench, 20
# clients, `-M extended`: unnamed statements planned with their parameters, as
# the API sends them; the user lookup of the auth extractor, then the report
# from `kpix-demo --report-sql`), and prints
# both with their ratio, plus each statement's EXPLAIN ANALYZE timing.
#
#   bench/reporting.sh                     # the full run (about 3 minutes plus the build)
#   KPIS=1000 DURATION=5 bench/reporting.sh
#
# Settings (environment): ADMIN_URL (a PostgreSQL URL allowed to create
# databases, default postgres://postgres@127.0.0.1:5432/postgres), DB (default
# kpix_bench), KPIS (10000), VALUES_PER_KPI (100), CLIENTS (20), DURATION
# (seconds per measurement, 15), PORT (18383), POOL (the API's
# DATABASE_MAX_CONNECTIONS, default 2 x CPUs: more backends than CPUs only
# queue in the kernel instead of the pool), KEEP_DB=1 to keep the database,
# SKIP_LOAD=1 to reuse a database a previous run filled (with the same KPIS).
# Needs: cargo, psql, pgbench, wrk (apt-get install -y wrk), curl, jq.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ADMIN_URL=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=${DB:-kpix_bench}
KPIS=${KPIS:-10000}
VALUES_PER_KPI=${VALUES_PER_KPI:-100}
CLIENTS=${CLIENTS:-20}
DURATION=${DURATION:-15}
PORT=${PORT:-18383}
THREADS=${THREADS:-2}
POOL=${POOL:-$(( 2 * $(nproc) ))}
ENDPOINTS=(overview top-risks direction missing)

for tool in cargo psql pgbench wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required (wrk: apt-get install -y wrk)" >&2; exit 2; }
done

# DB_URL: ADMIN_URL with its database replaced by $DB
base=${ADMIN_URL%%\?*}
query=${ADMIN_URL#"$base"}
DB_URL="${base%/*}/$DB$query"
ORG_NAME="Bench $KPIS"
ADMIN_EMAIL="admin@bench-$KPIS.example"
PASSWORD=kpix-bench-password
WORK=$(mktemp -d -t kpix-bench-XXXXXX)
API_PID=

cleanup() {
    if [[ -n "$API_PID" ]]; then kill "$API_PID" 2>/dev/null || true; wait "$API_PID" 2>/dev/null || true; fi
    if [[ "${KEEP_DB:-}" != 1 && "${SKIP_LOAD:-}" != 1 ]]; then
        psql "$ADMIN_URL" -qc "drop database if exists \"$DB\" with (force)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== build (release)"
(cd "$ROOT" && cargo build --release -p kpix-api --bins)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release

if [[ "${SKIP_LOAD:-}" != 1 ]]; then
    echo "== fresh database $DB: $KPIS KPIs x $VALUES_PER_KPI values"
    psql "$ADMIN_URL" -qc "drop database if exists \"$DB\" with (force)" >/dev/null
    psql "$ADMIN_URL" -qc "create database \"$DB\"" >/dev/null
    "$BIN/kpix-demo" --database-url "$DB_URL" --kpis "$KPIS" --values-per-kpi "$VALUES_PER_KPI" \
        --organization-name "$ORG_NAME" --password "$PASSWORD" | head -1
fi
psql "$DB_URL" -Atc "select 'rows: ' || (select count(*) from kpi) || ' KPIs, ' || (select count(*) from kpi_value) \
    || ' values, ' || (select count(*) from action_plan) || ' actions; kpi_value ' \
    || pg_size_pretty(pg_total_relation_size('kpi_value'))"

echo "== start kpix-api on 127.0.0.1:$PORT"
DATABASE_URL=$DB_URL JWT_SECRET=bench-secret-0123456789abcdef0123456789 BIND_ADDR=127.0.0.1:$PORT \
    LOG_FORMAT=json RUST_LOG=warn ACCESS_TOKEN_TTL_SECONDS=3600 STORAGE_URL="file://$WORK/storage" \
    DATABASE_MAX_CONNECTIONS=$POOL "$BIN/kpix-api" >"$WORK/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
    kill -0 "$API_PID" 2>/dev/null || { cat "$WORK/api.log" >&2; exit 1; }
    sleep 0.2
done
# kpix-demo vacuums the tables it fills but not kpi_latest, which the API's
# migrations may also just have rewritten: the reports read its indexes
# index-only and plan with its statistics (autovacuum may be off or late)
psql "$DB_URL" -qc "vacuum (analyze) kpi_latest"
TOKEN=$(curl -fs "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$PASSWORD\"}" | jq -r .access_token)
ORG_ID=$(psql "$DB_URL" -Atc "select organization_id from app_user where lower(email) = lower('$ADMIN_EMAIL')")
USER_ID=$(psql "$DB_URL" -Atc "select id from app_user where lower(email) = lower('$ADMIN_EMAIL')")
SESSION_ID="$(python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["sid"])' "$TOKEN")"
TODAY=$(date -u +%F)
WEEK_START="$(date -u -d "$TODAY -$(( $(date -u +%u) - 1 )) days" +%F)T00:00:00Z"
VARS=(-D "organization_id=$ORG_ID" -D "user_id=$USER_ID" -D "session_id=$SESSION_ID" -D is_admin=true -D "today=$TODAY"
      -D limit=10 -D "week_start=$WEEK_START")

# p50 and p99 (ms) of the latencies (µs, 3rd column) of pgbench transaction logs
pgbench_percentiles() {
    cat "$@" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {
        if (NR == 0) { print "- -"; exit }
        p50 = a[int(NR * 0.50) > 0 ? int(NR * 0.50) : 1]; p99 = a[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1];
        printf "%.1f %.1f\n", p50 / 1000, p99 / 1000 }'
}

# wrk's "50% 12.34ms" lines, in ms
wrk_ms() {
    awk -v p="$1%" '$1 == p {
        v = $2; unit = v; gsub(/[0-9.]/, "", unit); sub(/[a-z]+$/, "", v);
        if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; else if (unit == "m") v *= 60000;
        printf "%.1f", v }' "$2"
}

echo "== plans (EXPLAIN ANALYZE, first lines) in $WORK/plans.txt"
PSQL_VARS=(-v "organization_id='$ORG_ID'" -v "user_id='$USER_ID'" -v is_admin=true -v "today='$TODAY'"
           -v limit=10 -v "week_start='$WEEK_START'")
for name in "${ENDPOINTS[@]}"; do
    "$BIN/kpix-demo" --report-sql "$name" >"$WORK/$name.sql"
    # what the endpoint sends the database: the auth extractor's user lookup
    # (shared/src/db/users.rs, find_in_session), then the report
    { echo "select id, organization_id, email, full_name, role, is_active, created_at, updated_at from app_user u where u.id = :user_id and exists (select 1 from refresh_token t where t.family_id = :session_id and t.user_id = u.id) and not exists (select 1 from refresh_token t where t.family_id = :session_id and t.revoked_at is not null);"
      cat "$WORK/$name.sql"; } >"$WORK/$name.pgbench.sql"
    {
        echo "--- $name"
        (echo "explain (analyze, buffers)"; cat "$WORK/$name.sql") | psql "$DB_URL" -X -q "${PSQL_VARS[@]}"
    } >>"$WORK/plans.txt"
    grep -E "^ +(Planning|Execution) Time" "$WORK/plans.txt" | tail -2 | sed "s/^ */  $name: /"
done

printf '\n== %d clients, %ss each, %s KPIs, API pool %d\n' "$CLIENTS" "$DURATION" "$KPIS" "$POOL"
printf '%-10s | %9s %9s %8s | %9s %9s %8s | %9s %9s\n' endpoint "http p50" "http p99" "http rps" \
    "sql p50" "sql p99" "sql tps" "p50 ratio" "p99 ratio"
RESULTS="$WORK/results.txt"
for name in "${ENDPOINTS[@]}"; do
    url="http://127.0.0.1:$PORT/api/v1/reporting/$name"
    status=$(curl -s -o "$WORK/$name.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$url")
    [[ "$status" == 200 ]] || { echo "bench: GET $url answered $status: $(cat "$WORK/$name.json")" >&2; exit 1; }

    # warm-up of both paths, then the measurements
    wrk -t"$THREADS" -c"$CLIENTS" -d3s --timeout 30s -H "Authorization: Bearer $TOKEN" "$url" >/dev/null
    pgbench -n -M extended -c "$CLIENTS" -j "$THREADS" -T 3 -f "$WORK/$name.pgbench.sql" "${VARS[@]}" "$DB_URL" >/dev/null 2>&1

    wrk -t"$THREADS" -c"$CLIENTS" -d"${DURATION}s" --timeout 30s --latency -H "Authorization: Bearer $TOKEN" "$url" >"$WORK/$name.wrk"
    if grep -q "Non-2xx" "$WORK/$name.wrk"; then cat "$WORK/$name.wrk" >&2; echo "bench: errors under load" >&2; exit 1; fi
    http_p50=$(wrk_ms 50 "$WORK/$name.wrk"); http_p99=$(wrk_ms 99 "$WORK/$name.wrk")
    http_rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$WORK/$name.wrk")

    mkdir -p "$WORK/$name.logs"
    (cd "$WORK/$name.logs" && pgbench -n -M extended -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -l \
        -f "$WORK/$name.pgbench.sql" "${VARS[@]}" "$DB_URL" >"$WORK/$name.pgbench" 2>&1) \
        || { cat "$WORK/$name.pgbench" >&2; exit 1; }
    read -r sql_p50 sql_p99 < <(pgbench_percentiles "$WORK/$name.logs"/pgbench_log.*)
    sql_tps=$(awk '/^tps = / {printf "%.0f", $3}' "$WORK/$name.pgbench")

    ratio50=$(awk -v a="$http_p50" -v b="$sql_p50" 'BEGIN {printf "%.2f", a / b}')
    ratio99=$(awk -v a="$http_p99" -v b="$sql_p99" 'BEGIN {printf "%.2f", a / b}')
    printf '%-10s | %7sms %7sms %8s | %7sms %7sms %8s | %9s %9s\n' "$name" "$http_p50" "$http_p99" "$http_rps" \
        "$sql_p50" "$sql_p99" "$sql_tps" "$ratio50" "$ratio99" | tee -a "$RESULTS"
done

echo
echo "targets: http p50 < 100 ms and p50 ratio <= 1.5 (load generator, API and PostgreSQL share $(nproc) CPUs)"
awk '{ gsub(/ms/, ""); if ($3 + 0 >= 100 || $11 + 0 > 1.5) missed = missed " " $1 }
     END { if (missed) print "missed by:" missed; else print "all targets met" }' "$RESULTS"
if [[ -n "${PLANS_OUT:-}" ]]; then cp "$WORK/plans.txt" "$PLANS_OUT"; fi
