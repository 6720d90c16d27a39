#!/usr/bin/env bash
# The API reference page (/api/v1/docs) in headless Chromium: it renders the
# operations of the OpenAPI document, and asks nothing of another host
# (Chromium's network log lists every URL the page requested; any host but
# the API's fails the check, and other hosts do not even resolve).
#
# Needs the binaries built (`cargo build --workspace --bins`) and a
# PostgreSQL that can create databases; installs Chromium (Debian's package)
# when it is missing. Environment: KPIX_TEST_ADMIN_URL, CARGO_TARGET_DIR or
# KPIX_API_BIN, as tests/contract/run.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
api_bin="${KPIX_API_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/kpix-api}"
admin_url="${KPIX_TEST_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
say() { printf '[docs page] %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null 2>&1; then
  say "installing Chromium (Debian's package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq chromium >&2
fi

work="$(mktemp -d)"
db="kpix_docs_page_$$"
cleanup() {
  [ -n "${api:-}" ] && kill "$api" 2>/dev/null && wait "$api" 2>/dev/null
  psql "$admin_url" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$admin_url" -qc "create database \"$db\"" >/dev/null
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$work/store"
DATABASE_URL="${admin_url%/*}/$db" JWT_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')" \
  STORAGE_URL="file://$work/store" BIND_ADDR="127.0.0.1:$port" LOG_FORMAT=json \
  "$api_bin" >"$work/api.log" 2>&1 &
api=$!
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  kill -0 "$api" 2>/dev/null || { cat "$work/api.log" >&2; say "kpix-api exited"; exit 1; }
  sleep 0.25
done

# the flags the machine's notes give for a closed network, and every host but
# the API's made unresolvable
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" \
  --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
  --log-net-log="$work/net.json" \
  --virtual-time-budget=20000 \
  --dump-dom "http://127.0.0.1:$port/api/v1/docs" >"$work/dom.html" 2>"$work/chromium.log" || {
    cat "$work/chromium.log" >&2; say "Chromium failed"; exit 1; }

python3 - "$work/dom.html" "$work/net.json" "$port" <<'PY'
import json, re, sys
from urllib.parse import urlsplit
dom_path, net_path, port = sys.argv[1], sys.argv[2], sys.argv[3]
dom = open(dom_path, encoding="utf-8").read()
problems = []
# operations are rendered from the document: their summaries, one per operation
for summary in ["Exchange e-mail and password for tokens", "Upload a file of KPI values",
                "Values of a KPI, newest period first", "Direction"]:
    if summary not in dom:
        problems.append(f"the page does not show {summary!r}")
operations = len(set(re.findall(r'id="(?:tag/[^"]+/)?operation/([^"]+)"', dom)))
if operations < 40:
    problems.append(f"only {operations} operations rendered")
# every URL the page asked for: the requests whose initiator is the page's
# origin (Chromium's own update and account pings have none). The log is cut
# off when Chromium exits: it is read an event, that is a line, at a time.
origin = f"http://127.0.0.1:{port}"
urls = set()
for line in open(net_path, encoding="utf-8"):
    line = line.strip().rstrip(",")
    if not line.startswith('{"params"'):
        continue
    params = json.loads(line)["params"]
    if params.get("initiator") == origin and isinstance(params.get("url"), str):
        urls.add(params["url"])
foreign = sorted(u for u in urls if urlsplit(u).hostname != "127.0.0.1")
if foreign:
    problems.append("requests to other hosts: " + ", ".join(foreign))
mine = sorted(u for u in urls if urlsplit(u).hostname == "127.0.0.1")
for needed in ("/api/v1/docs/redoc.standalone.js", "/api/v1/openapi.json"):
    if origin + needed not in mine:
        problems.append(f"the page did not load {needed} (requests seen: {mine})")
print(f"[docs page] {operations} operations rendered; the page requested {len(mine)} URLs of the API, {len(foreign)} elsewhere", file=sys.stderr)
for u in mine:
    print(f"[docs page]   {u}", file=sys.stderr)
if problems:
    for p in problems:
        print(f"[docs page] FAILED: {p}", file=sys.stderr)
    sys.exit(1)
PY
say "ok"
