#!/usr/bin/env bash
# The cost of row-level security (DESIGN §8) on the core reads and writes:
# the data of core.sh (1,000 KPIs x 100 values), one API, and for each of
#   GET  /api/v1/kpis/{id}/values
#   GET  /api/v1/dashboards/{id}/kpis
#   POST /api/v1/kpis/{id}/values          (every request a new KPI x day)
# RLS_ROUNDS rounds of two RLS_SECONDS runs, one with the policies on and
# one with them off (ALTER TABLE … DISABLE ROW LEVEL SECURITY on every
# table that has them), the order alternating between rounds so a drift of
# the machine weighs on both sides alike. Same binary, same data, same
# connections: the difference is the policies' alone (the organization is
# set in the statement that opens each transaction either way).
# Target: on / off >= 0.90 in requests per second.
#   bench/rls.sh     (env: RLS_SECONDS, RLS_ROUNDS, CORE_CLIENTS)
source "$(dirname "$0")/lib.sh"

RUN_S="${RLS_SECONDS:-10}"
ROUNDS="${RLS_ROUNDS:-3}"
CLIENTS="${CORE_CLIENTS:-50}"
WARMUP_S=3
DASHBOARDS=10
PER_DASHBOARD=100
KPIS=$((DASHBOARDS * PER_DASHBOARD))
VALUES_PER_KPI=100
PASSWORD="bench-password-0123"

bench_init rls
start_api
source "$BENCH_DIR/core_common.sh"

RLS_TABLES="$(sql -c "select string_agg(quote_ident(relname), ' ' order by relname) from pg_class
                       where relrowsecurity and relnamespace = 'public'::regnamespace")"
[ -n "$RLS_TABLES" ] || bdie "no table has row-level security"
blog "tables with policies: $RLS_TABLES"

# set_rls on|off
set_rls() {
  local verb=enable table
  [ "$1" = on ] || verb=disable
  for table in $RLS_TABLES; do
    sql -c "alter table $table $verb row level security"
  done
}

# Each run of the POST writes its own days: run n from 2030-01-01 + n years.
run=0
measure() {
  local endpoint="$1" script="$2"; shift 2
  set_rls on
  api_run "warmup" "$script" "$WARMUP_S" "$@" BENCH_START=2029-01-01
  for round in $(seq 1 "$ROUNDS"); do
    local order="on off"
    [ $((round % 2)) -eq 0 ] && order="off on"
    for state in $order; do
      set_rls "$state"
      run=$((run + 1))
      api_run "${endpoint}_${state}_${round}" "$script" "$RUN_S" "$@" BENCH_START="$((2030 + run))-01-01"
    done
  done
  set_rls on
}

measure get_values get_random.lua BENCH_PATH="/api/v1/kpis/{id}/values" BENCH_IDS="$BENCH_TMP/kpi_ids.txt"
measure dashboard_kpis get_random.lua BENCH_PATH="/api/v1/dashboards/{id}/kpis" BENCH_IDS="$BENCH_TMP/dashboard_ids.txt"
measure post_values post_values.lua BENCH_IDS="$BENCH_TMP/kpi_ids.txt"

BENCH_VERSION="$(bench_version)" python3 - "$BENCH_TMP" "$CLIENTS" "$RUN_S" "$ROUNDS" "$rows" <<'EOF'
import json, os, statistics, sys
tmp, clients, run_s, rounds, rows = sys.argv[1:]
def wrk(name):
    for line in open(f"{tmp}/{name}.txt"):
        if line.startswith("WRKJSON "):
            return json.loads(line[8:])
    sys.exit(f"no wrk result for {name}:\n" + open(f"{tmp}/{name}.txt").read())
print()
print(f"kpix row-level security cost  ({int(rows):,} values; {clients} clients; {rounds} rounds of {run_s} s per side; release build, loopback)")
print("measured: " + os.environ["BENCH_VERSION"])
print()
head = f"{'endpoint':<28}{'RLS on req/s':>13}{'off req/s':>11}{'on/off':>8}{'p50 on':>8}{'p50 off':>8}{'p99 on':>8}{'p99 off':>8}{'non-2xx':>8}  verdict (>= 0.90)"
print(head)
print("-" * len(head))
for label, endpoint in (("GET /kpis/{id}/values", "get_values"),
                        ("GET /dashboards/{id}/kpis", "dashboard_kpis"),
                        ("POST /kpis/{id}/values", "post_values")):
    side = {s: [wrk(f"{endpoint}_{s}_{r}") for r in range(1, int(rounds) + 1)] for s in ("on", "off")}
    med = lambda s, k: statistics.median(x[k] for x in side[s])
    ratio = med("on", "rps") / med("off", "rps")
    bad = sum(x["non_2xx_3xx"] + sum(x["socket_errors"].values()) for s in side for x in side[s])
    print(f"{label:<28}{med('on', 'rps'):>13.1f}{med('off', 'rps'):>11.1f}{ratio:>8.3f}"
          f"{med('on', 'p50_ms'):>8.2f}{med('off', 'p50_ms'):>8.2f}{med('on', 'p99_ms'):>8.2f}{med('off', 'p99_ms'):>8.2f}"
          f"{bad:>8}  {'PASS' if ratio >= 0.90 else 'FAIL'}")
    print(f"{'':<28}rounds on:  " + " ".join(f"{x['rps']:.0f}" for x in side["on"]) + ";  off: " + " ".join(f"{x['rps']:.0f}" for x in side["off"]))
print()
print("Medians over the rounds; each round ran both sides back to back, in alternating order.")
EOF
