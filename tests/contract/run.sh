#!/usr/bin/env bash
# The published API contract, checked against the running server:
#  1. openapi-spec-validator on the document the API serves;
#  2. schemathesis, every check and every phase (examples, coverage,
#     fuzzing, stateful), once with an ADMIN's token and once with a USER's
#     (a member of a team who owns a dashboard with a KPI, a value, an action
#     and a comment), each in an organization of its own so that neither run
#     changes what the other sees; any failure fails the script;
#  3. openapi-typescript generates the client types from the served
#     document, and tsc type-checks tests/contract/client.ts against them.
#
# Needs the binaries built (`cargo build --workspace --bins`), a PostgreSQL
# that can create databases, Python 3.11 with pip and Node 20 with npm; it
# installs the pinned tools itself (requirements.txt, package-lock.json) and
# removes its database and processes on exit.
#
# `run.sh --serve` only starts the seeded server and prints its URL, the
# tokens and ids, for a manual schemathesis run (see schemathesis.toml).
#
# Environment:
#   KPIX_TEST_ADMIN_URL  PostgreSQL admin URL
#                        (default postgres://postgres@127.0.0.1:5432/postgres)
#   CARGO_TARGET_DIR     where the binaries are (default: ./target);
#                        KPIX_API_BIN / KPIX_WORKER_BIN override each binary
#   CONTRACT_MAX_EXAMPLES  test cases per operation and phase (default 25,
#                        from schemathesis.toml)
#   KPIX_CONTRACT_CACHE  where the Python tools are installed
#                        (default ~/.cache/kpix-contract)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
api_bin="${KPIX_API_BIN:-$target/debug/kpix-api}"
worker_bin="${KPIX_WORKER_BIN:-$target/debug/kpix-worker}"
admin_url="${KPIX_TEST_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
max_examples="${CONTRACT_MAX_EXAMPLES:-}"
cache="${KPIX_CONTRACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kpix-contract}"

started=$SECONDS
log() { printf '[contract %3ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for bin in "$api_bin" "$worker_bin"; do
  [ -x "$bin" ] || die "$bin not found: run \`cargo build --workspace --bins\` first"
done

# -- tools --------------------------------------------------------------------
python="${PYTHON:-python3}"
tools="$cache/python-$(sha256sum "$here/requirements.txt" | cut -c1-16)"
if [ ! -f "$tools/.complete" ]; then
  log "installing the Python tools into $tools"
  rm -rf "$tools"
  if "$python" -m venv "$tools" >/dev/null 2>&1; then
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  else
    # no venv module (Debian without python3-venv): a folder on PYTHONPATH
    "$python" -m pip install --quiet --disable-pip-version-check \
      --target "$tools/lib" -r "$here/requirements.txt"
  fi
  touch "$tools/.complete"
fi
if [ -x "$tools/bin/python" ]; then
  py=("$tools/bin/python")
else
  py=(env "PYTHONPATH=$tools/lib" "$python")
fi
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.kpix-lock" 2>/dev/null; then
  log "installing the Node tools (npm ci)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$here/node_modules/.kpix-lock"
fi

# -- database and processes ---------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/kpix-contract.XXXXXX")"
database="kpix_contract_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
base_url="${admin_url%%\?*}"
database_url="${base_url%/*}/$database"
case "$admin_url" in *\?*) database_url="$database_url?${admin_url#*\?}" ;; esac
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "${py[@]}" "$here/contract.py" db drop "$admin_url" "$database" || true
  if [ "$status" -ne 0 ] && [ -f "$work/api.log" ]; then
    log "last lines of the API's log:"
    tail -n 20 "$work/api.log" >&2 || true
  fi
  rm -rf "$work"
  log "done in $((SECONDS - started)) s (exit $status)"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${py[@]}" "$here/contract.py" db create "$admin_url" "$database"
common_env=(
  "PATH=$PATH" "HOME=$HOME"
  "DATABASE_URL=$database_url"
  "STORAGE_URL=file://$work/storage"
  "LOG_FORMAT=json" "RUST_LOG=info"
)
mkdir -p "$work/storage"
# the runs last a few minutes: their tokens must outlive them
env -i "${common_env[@]}" \
  "JWT_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" \
  "BIND_ADDR=127.0.0.1:0" \
  "ACCESS_TOKEN_TTL_SECONDS=7200" \
  "$api_bin" >"$work/api.log" 2>&1 &
pids+=($!)
addr="$("${py[@]}" "$here/contract.py" listening "$work/api.log" 60)"
base="http://$addr"
env -i "${common_env[@]}" "$worker_bin" >"$work/worker.log" 2>&1 &
pids+=($!)
log "API at $base (database $database)"

# ADMIN_TOKEN ADMIN_ID SPARE_ID USER_TOKEN USER_ID TEAM_ID
eval "$("${py[@]}" "$here/contract.py" seed "$base")"
if [ "${1:-}" = "--serve" ]; then
  # for a manual run: keep the seeded server up until Ctrl-C
  printf 'BASE=%s\nADMIN_TOKEN=%s\nUSER_TOKEN=%s\nADMIN_ID=%s\nUSER_ID=%s\nTEAM_ID=%s\nSPARE_ID=%s\n' \
    "$base" "$ADMIN_TOKEN" "$USER_TOKEN" "$ADMIN_ID" "$USER_ID" "$TEAM_ID" "$SPARE_ID"
  wait "${pids[0]}"
  exit 0
fi

# -- 1. the document is valid OpenAPI 3.1 -------------------------------------
"${py[@]}" "$here/contract.py" fetch "$base/api/v1/openapi.json" "$work/openapi.json"
log "openapi-spec-validator"
"${py[@]}" -m openapi_spec_validator "$work/openapi.json"

# -- 2. schemathesis as ADMIN and as USER --------------------------------------
# $3..$6: the ids hooks.py gives the positive cases (caller, team, member,
# spare; see there)
run_schemathesis() {
  local who="$1" token="$2"
  log "schemathesis as $who"
  (cd "$here" && CONTRACT_CALLER_ID="$3" CONTRACT_TEAM_ID="$4" CONTRACT_MEMBER_ID="$5" \
    CONTRACT_SPARE_ID="$6" "${py[@]}" -m schemathesis.cli run "$base/api/v1/openapi.json" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    ${max_examples:+--max-examples "$max_examples"} \
    --header "Authorization: Bearer $token" \
    --no-color)
}
status=0
run_schemathesis ADMIN "$ADMIN_TOKEN" "$ADMIN_ID" "" "$SPARE_ID" "$SPARE_ID" || status=1
run_schemathesis USER "$USER_TOKEN" "$USER_ID" "$TEAM_ID" "$USER_ID" "" || status=1

# -- 3. a typed client type-checks against the document ------------------------
log "openapi-typescript and tsc"
(cd "$here" && npx --no-install openapi-typescript "$work/openapi.json" -o generated/api.d.ts \
  && npx --no-install tsc --noEmit -p tsconfig.json) || status=1

[ "$status" -eq 0 ] || die "the contract check failed (see above)"
log "contract OK"
