# Sourced by core.sh and rls.sh after start_api: signs up an organization
# and loads DASHBOARDS x PER_DASHBOARD KPIs (DAILY, 80/50/20) through the
# API, then VALUES_PER_KPI values per KPI by SQL. Sets TOKEN, USER_ID, ORG_ID,
# SESSION_ID, rows, t0 / t1 / t2 (set-up timings), writes
# $BENCH_TMP/kpi_ids.txt and dashboard_ids.txt, and defines api_run.
py() { python3 "$BENCH_DIR/kpix_bench.py" "$@"; }
export BENCH_DIR

admin="$(py signup "$API_URL" "bench-admin@example.com" "$PASSWORD")"
read -r TOKEN USER_ID ORG_ID < <(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); print(a["token"], a["user_id"], a["organization_id"])' "$admin")
# the token's session, which the API checks on every request as pgbench does
SESSION_ID="$(python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["sid"])' "$TOKEN")"
blog "creating $DASHBOARDS dashboards x $PER_DASHBOARD KPIs through the API"
t0=$(date +%s.%N)
py kpis "$API_URL" "$TOKEN" "$DASHBOARDS" "$PER_DASHBOARD" C "$BENCH_TMP/kpis.json"
t1=$(date +%s.%N)
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write("\n".join(k["id"] for k in d["kpis"])+"\n"); open(sys.argv[3],"w").write("\n".join(d["dashboards"])+"\n")' \
  "$BENCH_TMP/kpis.json" "$BENCH_TMP/kpi_ids.txt" "$BENCH_TMP/dashboard_ids.txt"

blog "loading $VALUES_PER_KPI values per KPI by SQL"
sql <<SQL
-- UUID v7 as the application makes them (time-ordered), for the pgbench inserts too
create function bench_uuidv7() returns uuid language sql volatile as \$\$
  select encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
    substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
    from 1 for 6), 52, 1), 53, 1), 'hex')::uuid
\$\$;
-- the status rule of shared/src/domain/status.rs (all KPIs are UP_IS_BETTER)
insert into kpi_value (id, organization_id, kpi_id, period_start, period_end, value, status, critical,
  threshold_green, threshold_orange, threshold_red, direction, created_by)
select bench_uuidv7(), k.organization_id, k.id, x.day, x.day, x.v,
  case when x.v >= k.threshold_green then 'GREEN' when x.v >= k.threshold_orange then 'ORANGE' else 'RED' end,
  x.v < k.threshold_orange and k.threshold_red is not null and x.v <= k.threshold_red,
  k.threshold_green, k.threshold_orange, k.threshold_red, k.direction, '$USER_ID'
from kpi k cross join generate_series(0, $VALUES_PER_KPI - 1) g
cross join lateral (select date '2024-01-01' + g as day, round((random() * 100)::numeric, 2) as v) x;
-- id lookups for pgbench, which draws integers
create table bench_kpi (n int primary key, id uuid not null);
insert into bench_kpi select row_number() over (order by id), id from kpi;
create table bench_dashboard (n int primary key, id uuid not null);
insert into bench_dashboard select row_number() over (order by id), id from dashboard;
vacuum analyze;
SQL
t2=$(date +%s.%N)
rows="$(sql -c 'select count(*) from kpi_value')"
blog "kpi_value has $rows rows"

# One wrk run against the API: LABEL SCRIPT SECONDS [VAR=VALUE...] (the
# script's settings). A label starting with "warmup" is not kept.
api_run() {
  local label="$1" script="$2" secs="$3"; shift 3
  local out="$BENCH_TMP/$label.txt"
  case "$label" in
    warmup*) out=/dev/null ;;
    *) wait_for_quiet; echo "x $QUIET" >"$BENCH_TMP/$label.load"
       blog "API $label: $CLIENTS connections, ${secs}s ($QUIET)" ;;
  esac
  env BENCH_TOKEN="$TOKEN" BENCH_THREADS=2 BENCH_LABEL="$label" "$@" \
    wrk -t2 -c"$CLIENTS" -d"${secs}s" --timeout 10s -s "$BENCH_DIR/wrk/$script" "$API_URL" >"$out"
}
