#!/usr/bin/env bash
# README command 1 as a newcomer runs it: `deploy/run.sh --demo` with a
# database of its own, until the API answers; then sign in as the demo admin,
# import a file and wait for the job, and stop it with Ctrl-C (SIGINT).
set -euo pipefail
cd "$(dirname "$0")/.."

admin_url="${KPIX_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="kpix_ci_command1_$$"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port/api/v1"
log="$(mktemp)"

say() { printf '[command 1] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; say "its output:"; tail -n 80 "$log" >&2; exit 1; }

started=$(date +%s)
# its own process group, so that Ctrl-C reaches it as it would in a terminal
DATABASE_URL="${admin_url%/*}/$db" BIND_ADDR="127.0.0.1:$port" setsid bash deploy/run.sh --demo >"$log" 2>&1 &
run=$!
cleanup() {
  kill -INT -- "-$run" 2>/dev/null || true
  wait "$run" 2>/dev/null || true
  psql "$admin_url" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true
  rm -f "$log"
}
trap cleanup EXIT

# a first build takes minutes: wait for the line run.sh prints once the API,
# the worker and the demo data are up
until grep -q 'kpix is running' "$log"; do
  kill -0 "$run" 2>/dev/null || fail "deploy/run.sh --demo exited before kpix was running"
  [ $(( $(date +%s) - started )) -lt 3600 ] || fail "not running after an hour"
  sleep 2
done
say "running after $(( $(date +%s) - started )) s"
grep -q 'demo data not created' "$log" && fail "the demo data were not created"

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
token="$(curl -fsS -X POST "$url/auth/login" -H 'content-type: application/json' \
  -d '{"email":"admin@demo-industrie.example","password":"kpix-demo-2026"}' | json '["access_token"]')" \
  || fail "the demo admin cannot sign in"
curl -fsS "$url/auth/me" -H "authorization: Bearer $token" | json '["email"]' >&2

# a monthly KPI of the demo, in a month before its two years of values
printf 'Indicateur;Mois;Valeur;Commentaire\r\nRH-ABS;2020-01;3,5;import du CI\r\n' > "$log.csv"
job="$(curl -fsS -X POST "$url/imports/kpi-values" -H "authorization: Bearer $token" \
  -F "file=@$log.csv;filename=absences.csv" | json '["id"]')" || fail "the upload was refused"
rm -f "$log.csv"
for _ in $(seq 1 120); do
  status="$(curl -fsS "$url/imports/jobs/$job" -H "authorization: Bearer $token" | json '["status"]')"
  case "$status" in SUCCESS|FAILED) break ;; esac
  sleep 0.5
done
report="$(curl -fsS "$url/imports/jobs/$job" -H "authorization: Bearer $token")"
say "import job: $report"
echo "$report" | json '["status"]' | grep -qx SUCCESS || fail "the import did not succeed"
echo "$report" | json '["rows_inserted"]' | grep -qx 1 || fail "the import did not insert its row"

kill -INT -- "-$run"
for _ in $(seq 1 60); do kill -0 "$run" 2>/dev/null || break; sleep 0.5; done
kill -0 "$run" 2>/dev/null && fail "still running 30 s after Ctrl-C"
if curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1; then fail "the API still answers after Ctrl-C"; fi
say "stopped cleanly; $(( $(date +%s) - started )) s in all"
