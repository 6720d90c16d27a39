#!/usr/bin/env bash
# Imports: a 1,000,000-row CSV (1,000 KPIs x 1,000 days) uploaded and imported
# to SUCCESS (rows/s end to end, the worker's peak RSS), beside `psql \copy`
# of the same rows into an identical table (the database's ceiling); then a
# 100,000-row XLSX (100 KPIs x 1,000 days, real date cells) on a fresh worker.
# Targets: end to end >= 0.5 x \copy; worker peak RSS < 150 MB; XLSX < 10 s.
#   bench/import.sh    (env: IMPORT_KPIS, IMPORT_PERIODS, XLSX_KPIS, XLSX_PERIODS)
source "$(dirname "$0")/lib.sh"

KPIS="${IMPORT_KPIS:-1000}"
PERIODS="${IMPORT_PERIODS:-1000}"
XLSX_KPIS="${XLSX_KPIS:-100}"
XLSX_PERIODS="${XLSX_PERIODS:-1000}"
PASSWORD="bench-password-0123"
COLUMNS="id, organization_id, kpi_id, period_start, period_end, value, status, critical, threshold_green, threshold_orange, threshold_red, direction, comment, created_by, import_job_id, import_row"

python3 -c 'import xlsxwriter' 2>/dev/null || bdie "python3 needs xlsxwriter: pip install xlsxwriter"
bench_init import
start_api
start_worker
py() { python3 "$BENCH_DIR/kpix_bench.py" "$@"; }

admin="$(py signup "$API_URL" "bench-admin@example.com" "$PASSWORD")"
read -r TOKEN USER_ID ORG_ID < <(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); print(a["token"], a["user_id"], a["organization_id"])' "$admin")
blog "creating $KPIS DAILY KPIs B0000.. through the API"
py kpis "$API_URL" "$TOKEN" "$(( (KPIS + 99) / 100 ))" "$(( KPIS < 100 ? KPIS : 100 ))" B "$BENCH_TMP/kpis.json"

rows=$((KPIS * PERIODS))
blog "generating the files ($rows CSV rows, $((XLSX_KPIS * XLSX_PERIODS)) XLSX rows)"
py csv "$BENCH_TMP/kpis.json" "$PERIODS" 2020-01-01 "$BENCH_TMP/values.csv"
py copy-csv "$BENCH_TMP/kpis.json" "$PERIODS" 2020-01-01 "$ORG_ID" "$USER_ID" "$BENCH_TMP/copy.csv"
py xlsx "$BENCH_TMP/kpis.json" "$XLSX_KPIS" "$XLSX_PERIODS" 2026-01-01 "$BENCH_TMP/values.xlsx"
ls -l "$BENCH_TMP"/values.csv "$BENCH_TMP"/copy.csv "$BENCH_TMP"/values.xlsx >&2

# ---- CSV through the API and the worker
sql -c checkpoint
wait_for_quiet
csv_load="$QUIET"
blog "CSV import: $rows rows ($csv_load)"
py upload "$API_URL" "$TOKEN" "$BENCH_TMP/values.csv" >"$BENCH_TMP/csv.json"
csv_worker_rss="$(rss_mib "$WORKER_PID")"
csv_worker_cpu="$(cpu_secs "$WORKER_PID")"
csv_rows="$(sql -c "select count(*) from kpi_value where period_start < '2026-01-01'")"
# vacuum now, untimed, so that autovacuum of these rows does not run during the next steps
sql -c "vacuum analyze kpi_value"

# ---- the ceiling: \copy of the same rows, every column, into an identical table
sql -c "create table bench_copy (like kpi_value including all)"
sql -c checkpoint
wait_for_quiet
copy_load="$QUIET"
blog "\\copy: $rows rows ($copy_load)"
c0=$(date +%s.%N)
sql -c "\\copy bench_copy ($COLUMNS) from '$BENCH_TMP/copy.csv' with (format csv)"
c1=$(date +%s.%N)
copy_rows="$(sql -c "select count(*) from bench_copy")"
sql -c "vacuum analyze bench_copy"

# what-if: a per-row foreign key to the KPI, as kpi_value had before its
# trigger checked the KPI once per statement
sql -c "create table bench_copy_kfk (like kpi_value including all);
  alter table bench_copy_kfk add foreign key (kpi_id) references kpi (id)"
sql -c checkpoint
wait_for_quiet
blog "\\copy with a KPI foreign key: $rows rows ($QUIET)"
k0=$(date +%s.%N)
sql -c "\\copy bench_copy_kfk ($COLUMNS) from '$BENCH_TMP/copy.csv' with (format csv)"
k1=$(date +%s.%N)
sql -c "vacuum analyze bench_copy_kfk"

# ---- XLSX on a fresh worker (its own peak RSS)
kill -TERM "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true; forget_pid "$WORKER_PID"
start_worker
sql -c checkpoint
wait_for_quiet
xlsx_load="$QUIET"
blog "XLSX import: $((XLSX_KPIS * XLSX_PERIODS)) rows ($xlsx_load)"
py upload "$API_URL" "$TOKEN" "$BENCH_TMP/values.xlsx" >"$BENCH_TMP/xlsx.json"
xlsx_worker_rss="$(rss_mib "$WORKER_PID")"
xlsx_worker_cpu="$(cpu_secs "$WORKER_PID")"
xlsx_rows="$(sql -c "select count(*) from kpi_value where period_start >= '2026-01-01'")"
api_rss="$(rss_mib "$API_PID")"

BENCH_VERSION="$(bench_version)" python3 - "$BENCH_TMP" "$rows" "$csv_rows" "$copy_rows" "$xlsx_rows" "$(python3 -c "print($c1 - $c0)")" \
  "$csv_worker_rss" "$xlsx_worker_rss" "$api_rss" "$csv_load" "$copy_load" "$xlsx_load" \
  "$csv_worker_cpu" "$xlsx_worker_cpu" "$(python3 -c "print($k1 - $k0)")" <<'EOF'
import json, os, sys
(tmp, rows, csv_rows, copy_rows, xlsx_rows, copy_s, csv_rss, xlsx_rss, api_rss,
 csv_load, copy_load, xlsx_load, csv_cpu, xlsx_cpu, copy_kfk_s) = sys.argv[1:]
rows, copy_s = int(rows), float(copy_s)
csv, xlsx = json.load(open(f"{tmp}/csv.json")), json.load(open(f"{tmp}/xlsx.json"))
mb = lambda p: os.path.getsize(f"{tmp}/{p}") / 1e6
csv_rate, copy_rate = rows / csv["end_to_end_s"], int(copy_rows) / copy_s
ratio = csv_rate / copy_rate
csv_peak, xlsx_peak = float(csv_rss.split()[0]), float(xlsx_rss.split()[0])
mib150 = 150e6 / 2**20   # 150 MB in MiB
print()
print("kpix import benchmark  (release build, loopback, mode=atomic, fresh worker per file)")
print("measured: " + __import__("os").environ["BENCH_VERSION"])
print()
head = f"{'run':<34}{'rows':>10}{'MB':>7}{'upload s':>9}{'after 202':>10}{'total s':>9}{'rows/s':>10}{'peak RSS MiB':>13}"
print(head); print("-" * len(head))
print(f"{'CSV via API + worker -> SUCCESS':<34}{csv['rows_inserted']:>10,}{mb('values.csv'):>7.1f}{csv['upload_s']:>9.2f}{csv['after_202_s']:>10.2f}{csv['end_to_end_s']:>9.2f}{csv_rate:>10,.0f}{csv_peak:>13.1f}")
copy_label = "psql \\copy, same rows (ceiling)"
print(f"{copy_label:<34}{int(copy_rows):>10,}{mb('copy.csv'):>7.1f}{'':>9}{'':>10}{copy_s:>9.2f}{copy_rate:>10,.0f}{'':>13}")
print(f"{'XLSX via API + worker -> SUCCESS':<34}{xlsx['rows_inserted']:>10,}{mb('values.xlsx'):>7.1f}{xlsx['upload_s']:>9.2f}{xlsx['after_202_s']:>10.2f}{xlsx['end_to_end_s']:>9.2f}{xlsx['rows_inserted'] / xlsx['end_to_end_s']:>10,.0f}{xlsx_peak:>13.1f}")
copy_kfk_s = float(copy_kfk_s)
kfk_label = "psql \\copy + a KPI foreign key"
print(f"{kfk_label:<34}{int(copy_rows):>10,}{mb('copy.csv'):>7.1f}{'':>9}{'':>10}{copy_kfk_s:>9.2f}{int(copy_rows) / copy_kfk_s:>10,.0f}{'':>13}")
print()
print(f"worker CPU time (user+sys): CSV {csv_cpu} s over {csv['end_to_end_s']:.1f} s, XLSX {xlsx_cpu} s over {xlsx['end_to_end_s']:.1f} s")
print(f"CSV end to end / \\copy with a KPI foreign key: {csv_rate / (int(copy_rows) / copy_kfk_s):.2f}")
print(f"CSV end to end / \\copy:       {ratio:.2f}   (target >= 0.5: {'PASS' if ratio >= 0.5 else 'FAIL'})")
print(f"worker peak RSS, CSV / XLSX:  {csv_peak:.1f} / {xlsx_peak:.1f} MiB   (target < 150 MB = {mib150:.0f} MiB: {'PASS' if max(csv_peak, xlsx_peak) < mib150 else 'FAIL'})")
print(f"XLSX end to end:              {xlsx['end_to_end_s']:.2f} s   (target < 10 s: {'PASS' if xlsx['end_to_end_s'] < 10 else 'FAIL'})")
print(f"jobs: CSV {csv['status']} ({csv['rows_total']:,} rows, {csv['rows_rejected']} rejected, queue wait {csv['queue_wait_s']} s), "
      f"XLSX {xlsx['status']} ({xlsx['rows_total']:,} rows, {xlsx['rows_rejected']} rejected, queue wait {xlsx['queue_wait_s']} s)")
print(f"rows in the database: CSV {int(csv_rows):,}, XLSX {int(xlsx_rows):,}, bench_copy {int(copy_rows):,}")
print(f"kpix-api peak RSS (uploads streamed): {api_rss.split()[0]} MiB")
print(f"machine at start: CSV {csv_load}; \\copy {copy_load}; XLSX {xlsx_load}")
EOF
