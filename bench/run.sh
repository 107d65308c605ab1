#!/usr/bin/env bash
# `make bench`: installs what the benchmark needs (once), builds the release
# binary and the SQLite baseline, then runs bench/bench.py, which starts and
# stops everything it measures and writes BENCHMARKS.md.
#   bash bench/run.sh            the full run (under 10 minutes on 2 cores)
#   bash bench/run.sh --quick    a smoke run, seconds per scenario
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  # `apt-get update` once per run, and only if something must be installed.
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need_tools() {
  command -v wrk >/dev/null || { echo "installing wrk"; apt_install wrk; }
  # pgbench and psql come with PostgreSQL's packages.
  command -v pgbench >/dev/null || { echo "installing pgbench"; apt_install postgresql-contrib; }
  command -v psql >/dev/null || { echo "installing psql"; apt_install postgresql-client; }
}

need_python() {
  python3 -c 'import aiosmtpd' 2>/dev/null && return
  echo "installing aiosmtpd"
  python3 -m pip install --quiet aiosmtpd 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages aiosmtpd 2>/dev/null \
    || apt_install python3-aiosmtpd
  python3 -c 'import aiosmtpd'
}

build() {
  # The service, as shipped; then the baseline, in its own workspace and
  # target dir (bench/out is ignored by git).
  cargo build --release --bin greenlight
  cargo build --release --manifest-path bench/sqlite-baseline/Cargo.toml --target-dir bench/out/target
}

need_postgres() {
  if ! pg_isready -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -q; then
    echo "error: PostgreSQL is not reachable at ${PGHOST:-127.0.0.1}:${PGPORT:-5432} (user ${PGUSER:-postgres});" >&2
    echo "       start it, or run with --backends sqlite" >&2
    exit 1
  fi
}

need_tools
need_python
build
case " $* " in *" --backends sqlite "*|*" --backends=sqlite "*) ;; *) need_postgres ;; esac
exec python3 bench/bench.py "$@"
