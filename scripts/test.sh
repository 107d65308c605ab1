#!/usr/bin/env bash
# Runs every test. The integration tests run each flow on SQLite and on
# PostgreSQL (tests named *_postgres). Without a reachable PostgreSQL the
# PostgreSQL half is skipped and reported as not run, unless
# GREENLIGHT_REQUIRE_PG=1 (CI), which makes that an error.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url=${GREENLIGHT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
hostport=${pg_url#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
pg_host=${hostport%%:*}; pg_port=${hostport##*:}; [ "$pg_port" = "$hostport" ] && pg_port=5432

pg_up() { timeout 3 bash -c "exec 3<>/dev/tcp/$pg_host/$pg_port" 2>/dev/null; }

if command -v cargo-nextest >/dev/null 2>&1; then
  # No retries: a flaky test is a defect to pin down, not to hide.
  runner=(cargo nextest run --no-fail-fast)
  skip_pg=(-E 'not test(/postgres/)')
else
  runner=(cargo test --no-fail-fast)
  skip_pg=(-- --skip postgres)
fi

if pg_up; then
  echo "PostgreSQL reachable at $pg_host:$pg_port: running the SQLite and PostgreSQL tests"
  "${runner[@]}"
  # Doc tests are not run by nextest; the crate has none worth a second build.
elif [ "${GREENLIGHT_REQUIRE_PG:-0}" = "1" ]; then
  echo "error: PostgreSQL is not reachable at $pg_host:$pg_port and GREENLIGHT_REQUIRE_PG=1" >&2
  exit 1
else
  "${runner[@]}" "${skip_pg[@]}"
  not_run=$(cargo test --test api --test chaos -- --list 2>/dev/null | grep -c 'postgres: test' || true)
  echo
  echo "WARNING: PostgreSQL is not reachable at $pg_host:$pg_port."
  echo "WARNING: $not_run PostgreSQL tests did NOT run; only the SQLite half passed."
  echo "WARNING: start PostgreSQL (or set GREENLIGHT_TEST_PG_URL) to run them."
fi
