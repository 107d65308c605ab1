#!/usr/bin/env bash
# Schemathesis (from PyPI) against a live Greenlight, on SQLite and then on
# PostgreSQL: it generates requests from /openapi.json (valid and invalid
# ones) and checks every answer: no 5xx, only documented status codes and
# content types, bodies that match their documented schemas. Any failure
# fails the script. `make api-fuzz`; CI runs it after `make test`.
#
# Environment: API_FUZZ_EXAMPLES (cases per operation and phase, default
# 100), API_FUZZ_SEED (default 1: CI runs are repeatable; set another to
# explore; one worker: schemathesis 4.32 crashed in its own regex compiling
# with two), API_FUZZ_BACKENDS (default "sqlite postgres"), PG_ADMIN_URL
# (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
PYTHON=${PYTHON:-python3}
EXAMPLES=${API_FUZZ_EXAMPLES:-100}
SEED=${API_FUZZ_SEED:-1}
read -r -a backends <<<"${API_FUZZ_BACKENDS:-sqlite postgres}"
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# shellcheck source=scripts/pip-tool.sh
. scripts/pip-tool.sh
pip_tool schemathesis "$SCHEMATHESIS_VERSION" '
import sys, importlib.metadata as m
sys.exit(m.version("schemathesis") != sys.argv[1])'
tools=$PIP_TOOL_DIR
st() { PYTHONPATH="$tools" "$PYTHON" -c 'import sys; from schemathesis.cli import schemathesis; sys.argv[0] = "st"; sys.exit(schemathesis())' "$@"; }

cargo build --quiet --bin greenlight
work=$(mktemp -d)
pid=""
pg_db=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$pg_db" ] && psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for backend in "${backends[@]}"; do
  case "$backend" in
    sqlite) database_url="$work/fuzz.db" ;;
    postgres)
      pg_db="greenlight_api_fuzz_$$"
      psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $pg_db" >/dev/null
      database_url="${PG_ADMIN_URL%/*}/$pg_db"
      ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  echo "== schemathesis $SCHEMATHESIS_VERSION against Greenlight on $backend (seed $SEED, $EXAMPLES examples)"
  # Every route reachable: a GitHub App configured (its deliveries get 401
  # for a bad signature rather than 404), static approvers, emails to an
  # outbox, and the per-client limits off (one client sends everything).
  (cd "$work" && exec env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
    DATABASE_URL="$database_url" \
    GREENLIGHT_LISTEN="127.0.0.1:$port" \
    GREENLIGHT_SECRET="api-fuzz-secret-api-fuzz-secret-0123" \
    GREENLIGHT_APPROVERS="Ana <ana@example.com>, bruno@example.com" \
    GREENLIGHT_APPROVAL_RATE_LIMIT=off GREENLIGHT_AUTH_FAILURE_LIMIT=off \
    GREENLIGHT_GITHUB_APP_ID=1 \
    GREENLIGHT_GITHUB_PRIVATE_KEY="$(cat "$OLDPWD/tests/fixtures/github-app-test.pem")" \
    GREENLIGHT_GITHUB_WEBHOOK_SECRET=api-fuzz \
    RUST_LOG=warn \
    "$OLDPWD/target/debug/greenlight" serve >"$work/greenlight-$backend.log" 2>&1) &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    sleep 0.1
  done
  status=0
  # POST /runners/claim long-polls up to its `wait` (0 to 60 s) when no
  # deployment of its environments is queued, which is every generated
  # case: it would hold the run for hours. Its answers are checked against
  # the document in tests/api/openapi.rs and deployment_runners.rs instead.
  st run "http://127.0.0.1:$port/openapi.json" \
    --exclude-path /runners/claim \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 --no-color 2>&1 | tee "$work/st-$backend.txt" || status=$?
  kill "$pid" && wait "$pid" 2>/dev/null || true
  pid=""
  if [ "$status" -ne 0 ]; then
    echo "api-fuzz: schemathesis found failures on $backend (above); Greenlight's log:" >&2
    tail -n 50 "$work/greenlight-$backend.log" >&2
    exit 1
  fi
  echo "api-fuzz: $backend: $(grep -E '[0-9]+ generated' "$work/st-$backend.txt" | tr -s ' ' | sed 's/^ //')"
done
