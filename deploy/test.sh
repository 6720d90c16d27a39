#!/usr/bin/env bash
# README command 2: PostgreSQL ready, then every test (unit, property, and
# black-box tests that start the real binaries).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KPIX_ROOT"

admin_url="$(ensure_postgres)"
export KPIX_TEST_ADMIN_URL="$admin_url"
log "building binaries"
cargo build --workspace --bins
log "running tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
