#!/usr/bin/env bash
# Core domain: 1,000 KPIs (10 dashboards x 100, DAILY) x 100 values, then
# 50 concurrent clients for 30 s on each of
#   GET  /api/v1/kpis/{id}/values          (random KPI, default limit 100)
#   GET  /api/v1/dashboards/{id}/kpis      (random dashboard of 100 KPIs)
#   POST /api/v1/kpis/{id}/values          (every request a new KPI x day: 201)
# each beside pgbench running the same SQL statements at the same concurrency
# (-c 50 -j 2 -M prepared) as the database's own ceiling.
# Target: API >= 0.5 x pgbench, p99 < 20 ms.
# Then the same POST with all 50 clients writing to 1 KPI, and to 10 KPIs
# (CORE_FEW_SECONDS each): writers of one KPI queue on its latest-value row,
# which a load spread over 1,000 KPIs never shows.
#   bench/core.sh     (env: CORE_SECONDS, CORE_CLIENTS, CORE_WARMUP_SECONDS,
#                      CORE_FEW_SECONDS)
source "$(dirname "$0")/lib.sh"

RUN_S="${CORE_SECONDS:-30}"
CLIENTS="${CORE_CLIENTS:-50}"
WARMUP_S="${CORE_WARMUP_SECONDS:-3}"
PACED_S="${CORE_PACED_SECONDS:-15}"
PACED_SHARE="${CORE_PACED_SHARE:-0.5}"
FEW_S="${CORE_FEW_SECONDS:-15}"
DASHBOARDS=10
PER_DASHBOARD=100
KPIS=$((DASHBOARDS * PER_DASHBOARD))
VALUES_PER_KPI=100
PASSWORD="bench-password-0123"

bench_init core
start_api
source "$BENCH_DIR/core_common.sh"

# pgbench phase: the same statements, same concurrency.
pg_run() {
  local label="$1" script="$2"; shift 2
  wait_for_quiet
  echo "x $QUIET" >"$BENCH_TMP/$label.load"
  blog "pgbench $label: -c $CLIENTS -j 2 -T $RUN_S -M prepared ($QUIET)"
  # -l: one latency per transaction, for pgbench's own p50 / p99
  pgbench "$DB_URL" -n -c "$CLIENTS" -j 2 -T "$RUN_S" -M prepared -r -l --log-prefix="$BENCH_TMP/$label.log" \
    -D uid="$USER_ID" -D sid="$SESSION_ID" -D org="$ORG_ID" -D admin=true -D kpis="$KPIS" -D dashboards="$DASHBOARDS" \
    -D clients="$CLIENTS" -D c=0 "$@" -f "$BENCH_DIR/sql/$script" >"$BENCH_TMP/$label.txt" 2>&1 \
    || { cat "$BENCH_TMP/$label.txt" >&2; bdie "pgbench $label failed"; }
}

# Delay per connection (ms) that paces the API at PACED_SHARE of a pgbench run's tps.
pace_ms() {
  python3 -c 'import re,sys; tps=float(re.search(r"tps = ([\d.]+) \(without", open(sys.argv[1]).read()).group(1)); print(max(1, round(1000 * int(sys.argv[2]) / (float(sys.argv[3]) * tps))))' \
    "$BENCH_TMP/$1.txt" "$CLIENTS" "$PACED_SHARE"
}

# Per endpoint: pgbench (the ceiling), the API saturated by 50 closed-loop
# connections, then the API paced at half the ceiling's rate (latency at a
# load the service should carry, rather than queueing behind 50 clients).
values=(BENCH_PATH="/api/v1/kpis/{id}/values" BENCH_IDS="$BENCH_TMP/kpi_ids.txt")
pg_run pg_get_values get_values.sql
api_run warmup get_random.lua "$WARMUP_S" "${values[@]}"
api_run api_get_values get_random.lua "$RUN_S" "${values[@]}"
api_run api_get_values_paced get_random.lua "$PACED_S" "${values[@]}" BENCH_DELAY_MS="$(pace_ms pg_get_values)"

dashboards=(BENCH_PATH="/api/v1/dashboards/{id}/kpis" BENCH_IDS="$BENCH_TMP/dashboard_ids.txt")
pg_run pg_dashboard_kpis dashboard_kpis.sql
api_run warmup get_random.lua "$WARMUP_S" "${dashboards[@]}"
api_run api_dashboard_kpis get_random.lua "$RUN_S" "${dashboards[@]}"
api_run api_dashboard_kpis_paced get_random.lua "$PACED_S" "${dashboards[@]}" BENCH_DELAY_MS="$(pace_ms pg_dashboard_kpis)"

# POST: pgbench writes days from 2040-01-01, the warm-up from 2029-01-01, the
# measured run from 2030-01-01 (1,000 requests per day of KPIs), the paced
# run from 2035-01-01: every request a new (KPI, day).
post=(BENCH_IDS="$BENCH_TMP/kpi_ids.txt")
pg_run pg_post_values post_value.sql -D start=2040-01-01
pg_rows="$(sql -c "select count(*) from kpi_value where period_start >= '2040-01-01'")"
api_run warmup post_values.lua "$WARMUP_S" "${post[@]}" BENCH_START=2029-01-01
api_run api_post_values post_values.lua "$RUN_S" "${post[@]}" BENCH_START=2030-01-01
api_inserted="$(sql -c "select count(*) from kpi_value where period_start >= '2030-01-01' and period_start < '2035-01-01'")"
api_run api_post_values_paced post_values.lua "$PACED_S" "${post[@]}" BENCH_START=2035-01-01 BENCH_DELAY_MS="$(pace_ms pg_post_values)"

# POST to few KPIs. Days from 1900-01-01 (one KPI takes a day a request:
# 15 s at 1,500/s reach 1961, before the values above): pgbench on KPI 1,
# the API on KPI 2 alone, then pgbench on KPIs 1-10 from 2100-01-01 and the
# API on KPIs 3-12 from 1900-01-01.
sed -n 2p "$BENCH_TMP/kpi_ids.txt" >"$BENCH_TMP/one_kpi.txt"
sed -n 3,12p "$BENCH_TMP/kpi_ids.txt" >"$BENCH_TMP/ten_kpis.txt"
RUN_S="$FEW_S" pg_run pg_post_one_kpi post_value.sql -D kpis=1 -D start=1900-01-01
api_run api_post_one_kpi post_values.lua "$FEW_S" BENCH_IDS="$BENCH_TMP/one_kpi.txt" BENCH_START=1900-01-01
RUN_S="$FEW_S" pg_run pg_post_ten_kpis post_value.sql -D kpis=10 -D start=2100-01-01
api_run api_post_ten_kpis post_values.lua "$FEW_S" BENCH_IDS="$BENCH_TMP/ten_kpis.txt" BENCH_START=1900-01-01
api_rss="$(rss_mib "$API_PID")"

PACED_SHARE="$PACED_SHARE" BENCH_VERSION="$(bench_version)" python3 - "$BENCH_TMP" "$CLIENTS" "$RUN_S" "$rows" "$api_inserted" "$pg_rows" "$api_rss" \
  "$(python3 -c "print(round($t1 - $t0, 1), round($t2 - $t1, 1))")" <<'EOF'
import glob, json, re, sys
tmp, clients, run_s, rows, api_inserted, pg_inserted, api_rss, setup = sys.argv[1:]
def wrk(name):
    for line in open(f"{tmp}/{name}.txt"):
        if line.startswith("WRKJSON "):
            return json.loads(line[8:])
    sys.exit(f"no wrk result for {name}:\n" + open(f"{tmp}/{name}.txt").read())
def pgbench(name):
    text = open(f"{tmp}/{name}.txt").read()
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", text).group(1))
    lat = float(re.search(r"latency average = ([\d.]+) ms", text).group(1))
    failed = int(re.search(r"number of failed transactions: (\d+)", text).group(1))
    done = int(re.search(r"number of transactions actually processed: (\d+)", text).group(1))
    # per-transaction logs: the 3rd column is the latency in microseconds
    lats = sorted(int(line.split()[2]) for log in glob.glob(f"{tmp}/{name}.log.*") for line in open(log))
    pct = lambda q: lats[min(len(lats) - 1, int(len(lats) * q))] / 1000
    return {"tps": tps, "lat": lat, "failed": failed, "done": done, "p50": pct(0.50), "p99": pct(0.99)}
def load(name):
    return open(f"{tmp}/{name}.load").read().split(" ", 1)[1].strip()
print()
print(f"kpix core benchmark  (1,000 KPIs x 100 values = {int(rows):,} rows; {clients} clients x {run_s} s; release build, loopback)")
print("measured: " + __import__("os").environ["BENCH_VERSION"])
print(f"set-up: 10 dashboards + 1,000 KPIs through the API in {setup.split()[0]} s, values by SQL in {setup.split()[1]} s")
print()
head = f"{'endpoint':<30}{'API req/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'non-2xx':>8}{'pgbench tps':>12}{'pg p50':>8}{'pg p99':>8}{'ratio':>7}  verdict"
print(head)
print("-" * len(head))
rows_out = []
for label, a, p in (("GET /kpis/{id}/values", "api_get_values", "pg_get_values"),
                    ("GET /dashboards/{id}/kpis", "api_dashboard_kpis", "pg_dashboard_kpis"),
                    ("POST /kpis/{id}/values", "api_post_values", "pg_post_values")):
    r, g = wrk(a), pgbench(p)
    ratio = r["rps"] / g["tps"]
    ok = ratio >= 0.5 and r["p99_ms"] < 20
    non2xx = r["non_2xx_3xx"] + sum(r["socket_errors"].values())
    verdict = ("PASS" if ok else "FAIL") + ("" if ratio >= 0.5 else " (ratio)") + ("" if r["p99_ms"] < 20 else " (p99)")
    print(f"{label:<30}{r['rps']:>10.1f}{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}{r['max_ms']:>8.1f}{non2xx:>8}{g['tps']:>12.1f}{g['p50']:>8.2f}{g['p99']:>8.2f}{ratio:>7.2f}  {verdict}")
    rows_out.append((label, r, g, a, p))
print()
print("The same endpoints paced at about half of the pgbench rate (each connection waits between requests):")
head2 = f"{'endpoint':<30}{'target/s':>10}{'req/s':>10}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}{'non-2xx':>8}  p99 < 20 ms"
print(head2)
print("-" * len(head2))
for label, r, g, a, p in rows_out:
    q = wrk(a + "_paced")
    non2xx = q["non_2xx_3xx"] + sum(q["socket_errors"].values())
    target = g["tps"] * float(__import__("os").environ.get("PACED_SHARE", "0.5"))
    print(f"{label:<30}{target:>10.0f}{q['rps']:>10.1f}{q['p50_ms']:>8.2f}{q['p90_ms']:>8.2f}{q['p99_ms']:>8.2f}{q['max_ms']:>8.1f}{non2xx:>8}  {'PASS' if q['p99_ms'] < 20 else 'FAIL'}")
print()
for label, r, g, a, p in rows_out:
    st = " ".join(f"{k}:{v}" for k, v in sorted(r["statuses"].items()))
    sp = " ".join(f"{k}:{v}" for k, v in sorted(wrk(a + "_paced")["statuses"].items()))
    print(f"{label:<30} API statuses {st} (paced {sp}); socket errors {r['socket_errors']}; pgbench failed tx {g['failed']}")
    print(f"{'':<30} machine at start: pgbench {load(p)}; API {load(a)}; paced {load(a + '_paced')}")
print()
print(f"POST to few KPIs ({clients} clients, each request a new day of one of them):")
print(head)
print("-" * len(head))
for label, a, p in (("POST, 1 KPI", "api_post_one_kpi", "pg_post_one_kpi"),
                    ("POST, 10 KPIs", "api_post_ten_kpis", "pg_post_ten_kpis")):
    r, g = wrk(a), pgbench(p)
    non2xx = r["non_2xx_3xx"] + sum(r["socket_errors"].values())
    st = " ".join(f"{k}:{v}" for k, v in sorted(r["statuses"].items()))
    print(f"{label:<30}{r['rps']:>10.1f}{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}{r['max_ms']:>8.1f}{non2xx:>8}{g['tps']:>12.1f}{g['p50']:>8.2f}{g['p99']:>8.2f}{r['rps'] / g['tps']:>7.2f}  statuses {st}; pgbench failed tx {g['failed']}")
post = wrk("api_post_values")
print()
print(f"POST check: 2xx responses (201 is the only success) {post['requests'] - post['non_2xx_3xx']}, rows the API inserted {api_inserted}, rows pgbench inserted {pg_inserted}")
print(f"kpix-api peak / current RSS: {api_rss.split()[0]} / {api_rss.split()[1]} MiB")
EOF
