#!/usr/bin/env bash
# Shared by run.sh and test.sh: find or start PostgreSQL, and build.
set -euo pipefail

KPIX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/kpix-target}"
# Crates with compile-time-checked queries (the queue's) read their committed
# query data instead of connecting to DATABASE_URL, which at build time may
# name a database that has no schema yet.
export SQLX_OFFLINE=true

log() { printf '\033[1m[kpix]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Echoes the admin URL of a reachable PostgreSQL: $DATABASE_URL's server when
# given, else the local cluster, started (and installed) when needed.
ensure_postgres() {
  local admin_url="${KPIX_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if [ -n "${DATABASE_URL:-}" ]; then
    admin_url="${DATABASE_URL%/*}/postgres"
  fi
  if pg_ready "$admin_url"; then echo "$admin_url"; return; fi
  if [ -n "${DATABASE_URL:-}" ]; then die "PostgreSQL at DATABASE_URL is not reachable"; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql postgresql-client >&2
  fi
  local version
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
  [ -n "$version" ] || die "no PostgreSQL cluster found in /etc/postgresql"
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  for _ in $(seq 1 30); do
    if pg_ready "$admin_url"; then echo "$admin_url"; return; fi
    sleep 1
  done
  # a fresh Debian cluster only trusts local socket peers: allow loopback for this machine's tools
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if [ -f "$hba" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    log "allowing trusted loopback connections in $hba"
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload >&2
    sleep 1
    if pg_ready "$admin_url"; then echo "$admin_url"; return; fi
  fi
  die "PostgreSQL did not become reachable at $admin_url"
}

pg_ready() {
  command -v psql >/dev/null 2>&1 || return 1
  psql "$1" -qAtc 'select 1' >/dev/null 2>&1
}

# The database name of a PostgreSQL URL (no query string).
database_name() {
  local name="${1##*/}"
  echo "${name%%\?*}"
}

# Creates the database of a URL when it does not exist.
ensure_database() {
  local admin_url="$1" name="$2"
  if [ "$(psql "$admin_url" -qAtc "select 1 from pg_database where datname = '$name'")" != "1" ]; then
    log "creating database $name"
    psql "$admin_url" -qc "create database \"$name\"" >/dev/null
  fi
}
