#!/usr/bin/env bash
# README command 1: PostgreSQL ready, migrations, kpix-api and one
# kpix-worker with a local object store. Ctrl-C stops both.
#   deploy/run.sh [--demo] [--release]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KPIX_ROOT"

demo=false; profile=debug
for arg in "$@"; do
  case "$arg" in
    --demo) demo=true ;;
    --release) profile=release ;;
    *) die "unknown option $arg (use --demo, --release)" ;;
  esac
done

admin_url="$(ensure_postgres)"
export DATABASE_URL="${DATABASE_URL:-${admin_url%/*}/kpix}"
ensure_database "$admin_url" "$(database_name "$DATABASE_URL")"
mkdir -p .data/uploads
if [ -z "${JWT_SECRET:-}" ]; then
  # generated once for this checkout; never a built-in default
  [ -s .data/jwt_secret ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > .data/jwt_secret
  export JWT_SECRET="$(cat .data/jwt_secret)"
fi
export STORAGE_URL="${STORAGE_URL:-file://$KPIX_ROOT/.data/uploads}"
export BIND_ADDR="${BIND_ADDR:-127.0.0.1:8080}"
export LOG_FORMAT="${LOG_FORMAT:-pretty}"
export CORS_ALLOWED_ORIGINS="${CORS_ALLOWED_ORIGINS:-http://localhost:3000,http://localhost:5173}"

log "building ($profile)"
flag=(); [ "$profile" = release ] && flag=(--release)
cargo build "${flag[@]}" -p kpix-api -p kpix-worker --bins
bin="$CARGO_TARGET_DIR/$profile"

"$bin/kpix-api" & api=$!
trap 'kill $api ${worker:-} 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
url="http://$BIND_ADDR"
for _ in $(seq 1 60); do
  curl -fsS "$url/health/ready" >/dev/null 2>&1 && break
  kill -0 $api 2>/dev/null || die "kpix-api exited; see its log above"
  sleep 0.5
done
"$bin/kpix-worker" & worker=$!

if $demo; then
  "$bin/kpix-demo" --database-url "$DATABASE_URL" || log "demo data not created (see above)"
fi
log "kpix is running at $url   (API: $url/api/v1, OpenAPI: $url/api/v1/openapi.json)"
log "Ctrl-C stops it"
wait $api
