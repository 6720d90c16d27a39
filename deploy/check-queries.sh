#!/usr/bin/env bash
# The compile-time-checked queries' offline data (.sqlx/, read when building
# with SQLX_OFFLINE=true, so that building needs no database) against the
# code and the migrations:
#   deploy/check-queries.sh           fails when .sqlx/ is stale (CI)
#   deploy/check-queries.sh --write   rewrites .sqlx/ (after changing a query
#                                     or a migration; commit the result)
# No sqlx-cli: sqlx's macros themselves, run against a fresh database
# (SQLX_OFFLINE=false, DATABASE_URL), write the data of every query they
# check to SQLX_OFFLINE_DIR, a temporary folder compared with .sqlx/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KPIX_ROOT"

write=false
case "${1:-}" in
  "") ;;
  --write) write=true ;;
  *) die "unknown option $1 (use --write)" ;;
esac

admin_url="$(ensure_postgres)"
db="kpix_queries_$$"
url="${admin_url%/*}/$db"
out="$(mktemp -d)"
stamp="$out.mtime"
cleanup() {
  # lib.rs gets its time back: later builds need not redo the crate
  [ -e "$stamp" ] && touch -r "$stamp" shared/src/lib.rs
  rm -rf "$out" "$stamp"
  psql "$admin_url" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql "$admin_url" -qc "create database \"$db\"" >/dev/null

# The crates that ship their own query data (apalis-postgres) and where.
mapfile -t shipped < <(cargo metadata --format-version 1 --locked | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
members = set(m["workspace_members"])
for p in m["packages"]:
    d = os.path.dirname(p["manifest_path"])
    if p["id"] not in members and os.path.isdir(os.path.join(d, ".sqlx")):
        print(d)
')

# The schema, with psql rather than kpix-api (which migrates at startup):
# kpix-api is built from the very queries being checked, and cannot build
# while their data is stale. The queue's migrations too (schema `apalis`, as
# its sqlx.toml says), for a build that recompiles apalis-postgres: its
# macros then also read this database.
migrate() {
  PGOPTIONS="-c client_min_messages=warning" psql "$url" -qX -v ON_ERROR_STOP=1 --single-transaction -f "$1" >/dev/null \
    || die "migration $1 failed"
}
psql "$url" -qc "create schema apalis" >/dev/null
for dir in "${shipped[@]}"; do
  for f in "$dir"/migrations/*.sql; do
    [ -e "$f" ] && migrate "$f"
  done
done
for f in migrations/*.sql; do migrate "$f"; done

# Cargo does not track the environment: touching the crate with the query
# macros (kpix-shared) makes it re-run them. The workspace's selection, as
# clippy's, so that the dependencies already checked are reused.
log "checking the queries against a fresh database ($db)"
touch -r shared/src/lib.rs "$stamp"
touch shared/src/lib.rs
SQLX_OFFLINE=false DATABASE_URL="$url" SQLX_OFFLINE_DIR="$out" \
  cargo check --workspace --all-targets --locked --quiet

# A dependency recompiled here wrote its own queries too: they are its data.
for dir in "${shipped[@]}"; do
  for f in "$dir"/.sqlx/query-*.json; do
    [ -e "$f" ] && rm -f "$out/$(basename "$f")"
  done
done

if $write; then
  mkdir -p .sqlx
  rm -f .sqlx/query-*.json
  cp "$out"/query-*.json .sqlx/
  log ".sqlx/ rewritten: $(ls .sqlx | wc -l) queries"
elif ! diff -r "$out" .sqlx >/dev/null 2>&1; then
  diff -r "$out" .sqlx | sed "s|$out|(the code)|" | head -n 40 >&2 || true
  die ".sqlx/ is stale: run deploy/check-queries.sh --write and commit .sqlx/"
else
  log ".sqlx/ is current ($(ls .sqlx | wc -l) queries)"
fi
