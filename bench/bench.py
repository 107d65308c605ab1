#!/usr/bin/env python3
"""`make bench`: Greenlight measured against the limit set by its own database.

Every figure that matters is a ratio taken side by side in the same run:
the service under load (wrk over HTTP) next to the same SQL executed straight
against the same kind of database (pgbench on PostgreSQL, bench/sqlite-baseline
on SQLite). The machine is shared and noisy; a ratio survives that better than
an absolute number.

Scenarios, each on SQLite and on PostgreSQL:
  1. new releases   POST /release, a new release per request, at 1/16/64 connections;
                    on SQLite also at synchronous=NORMAL (1/16): the cost of the FULL default
  2. polls          POST /release and GET /releases/... for existing releases, beside
                    GET /healthz: the server's own ceiling, same process, same concurrency
  3. end to end     POST -> last of the release's 3 emails accepted by the SMTP sink
  4. scale          poll p50 with 1,000 and with 1,000,000 releases stored
  5. memory         RSS idle, and peak (VmHWM) under scenario 1 at 64 connections
  6. notify         an approval -> the Azure DevOps callback, the webhook, Slack
  7. variables      GET .../environments/prod/variables?format=dotenv, 1,000 variables
                    each overridden at the environment's level, at 16 connections (p99)
  8. plane          the control plane: deployments, log followers, runner claims,
                    inventory, stacks (bench/plane.py)

Run through bench/run.sh (it installs wrk, aiosmtpd and builds the binaries).
A benchmark reports; it fails only when something is broken (non-2xx answers,
socket errors, lost emails, rows missing), never because a number moved.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import plane  # noqa: E402 - bench/plane.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
# GREENLIGHT_BENCH_BIN runs another build (a debug one, to try a scenario);
# its figures are not the release binary's.
GREENLIGHT = Path(os.environ.get("GREENLIGHT_BENCH_BIN") or ROOT / "target" / "release" / "greenlight")
SQLITE_BASELINE = OUT / "target" / "release" / "sqlite-baseline"
WRK_SCRIPT = BENCH / "wrk.lua"
PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = os.environ.get("PGPORT", "5432")
PG_USER = os.environ.get("PGUSER", "postgres")
# The services' signing secret: the notify scenario mints approval tokens with it.
BENCH_SECRET = "bench-secret-0123456789abcdef0123456789"

# Service settings the operator may set to experiment (README's table); they
# pass through to every service the bench starts and are printed in the report.
# Every other GREENLIGHT_* variable is removed so that a stray one in the
# caller's shell cannot change what is measured.
TUNABLES = (
    "GREENLIGHT_DB_POOL_SIZE",
    "GREENLIGHT_HTTP_WORKERS",
    "GREENLIGHT_JOB_CONCURRENCY",
    "GREENLIGHT_JOB_POLL",
    "GREENLIGHT_DB_TIMEOUT",
    # The older names, in milliseconds (still read by the service).
    "GREENLIGHT_JOB_POLL_MS",
    "GREENLIGHT_DB_TIMEOUT_MS",
    "GREENLIGHT_SQLITE_SYNCHRONOUS",
)
# The service's defaults for the two settings the SQLite baseline copies.
DEFAULT_SYNCHRONOUS = "full"
DEFAULT_DB_TIMEOUT_MS = "5000"


def db_timeout_ms(env: dict) -> str:
    """The service's GREENLIGHT_DB_TIMEOUT in milliseconds: `2s`, `500ms`,
    or the older GREENLIGHT_DB_TIMEOUT_MS."""
    text = env.get("GREENLIGHT_DB_TIMEOUT")
    if text is None:
        return env.get("GREENLIGHT_DB_TIMEOUT_MS", DEFAULT_DB_TIMEOUT_MS)
    for unit, factor in (("ms", 1), ("s", 1000), ("m", 60_000)):
        if text.endswith(unit) and text[: -len(unit)].strip().isdigit():
            return str(int(text[: -len(unit)]) * factor)
    raise SystemExit(f"GREENLIGHT_DB_TIMEOUT={text!r}: the bench reads 500ms, 5s or 1m")


@dataclass
class Plan:
    """How long and how big: the full run, or a smoke run with --quick."""

    seconds: int = 8  # per measurement
    new_conns: tuple = (1, 16, 64)
    poll_conns: tuple = (16, 64)  # POST and GET polls; POST polls also at 1 (see poll_levels)
    small: int = 1_000  # releases stored for polls
    large: int = 1_000_000  # releases stored for the scale scenario
    e2e_releases: int = 200  # the burst: all at once, then the drain
    paced_releases: int = 60  # a steady trickle well below the worker's capacity
    paced_rate: int = 10  # releases/s
    notify_releases: int = 50  # decisions timed to the pipeline's callback and webhook
    plane_samples: int = 50  # latency samples per control-plane measure (follow, claim, waiter)
    scenarios: tuple = ("new", "polls", "e2e", "notify", "vars", "plane")
    # SQLite new releases (with emails) also run at the other synchronous
    # mode at these concurrencies: "the cost of synchronous=FULL". Cheap
    # enough for --quick too.
    sync_conns: tuple = (1, 16)

    @classmethod
    def quick(cls):
        return cls(seconds=2, large=20_000, notify_releases=10, plane_samples=10)

    def poll_levels(self) -> tuple:
        """Concurrencies of the POST polls, their /healthz ceiling and their
        baseline: 1 and 16 always, since the scale comparison and the targets
        are read at those."""
        return tuple(sorted({1, 16, *self.poll_conns}))

    def sync_levels(self) -> tuple:
        """Concurrencies of the synchronous comparison: scenario 1's own, so
        that one side of it is scenario 1's figure."""
        return tuple(c for c in self.new_conns if c in self.sync_conns)


# --------------------------------------------------------------------------
# Bookkeeping: processes we start, commands we run, problems we find.
# --------------------------------------------------------------------------


class Run:
    def __init__(self, plan: Plan, workdir: Path):
        self.plan = plan
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []
        self.commands: list[str] = []
        self.problems: list[str] = []
        self.cleanups: list = []
        # Backend key -> the settings its first service logged at start (None:
        # this build logs none), for the report's machine table.
        self.service_settings: dict[str, dict | None] = {}

    def record(self, cmd, env: dict | None = None):
        """Keeps the exact command line (and the env it was given) for the report."""
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        line = " ".join(shlex.quote(str(c)) for c in cmd)
        self.commands.append(f"{prefix} {line}".strip())

    def problem(self, text: str):
        print(f"  !! {text}", flush=True)
        self.problems.append(text)

    def spawn(self, cmd, log: Path, env=None, cwd=None) -> subprocess.Popen:
        # Own process group: stopping it never reaches anything we did not start.
        p = subprocess.Popen(
            [str(c) for c in cmd],
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def close(self):
        for p in list(self.procs):
            try:
                self.stop(p)
            except ProcessLookupError:
                pass
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # cleanup must go on
                print(f"cleanup: {e}", file=sys.stderr)
        self.cleanups.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(cmd, **kw) -> str:
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(str(c) for c in cmd)} failed ({p.returncode}):\n{p.stderr.strip()[-2000:]}")
    return p.stdout


@dataclass
class Result:
    """One measurement: throughput and latency, plus what went wrong."""

    rps: float
    p50_ms: float
    p99_ms: float
    count: int
    errors: int = 0
    extra: dict = field(default_factory=dict)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


# --------------------------------------------------------------------------
# Load generators: wrk against the service.
# --------------------------------------------------------------------------


def wrk(run: Run, port: int, conns: int, mode: str, arg=None) -> Result:
    """wrk with bench/wrk.lua; its done() prints one WRKJSON line."""
    cmd = [
        "wrk", f"-t{min(conns, 2)}", f"-c{conns}", f"-d{run.plan.seconds}s", "--timeout", "10s",
        "-s", WRK_SCRIPT, f"http://127.0.0.1:{port}", "--", mode, *([] if arg is None else [str(arg)]),
    ]
    run.record(cmd)
    out = sh(cmd)
    m = re.search(r"^WRKJSON (.*)$", out, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    w = json.loads(m.group(1))
    errors = w["non2xx"] + w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    return Result(
        rps=w["requests"] / (w["duration_us"] / 1e6),
        p50_ms=w["p50_us"] / 1000,
        p99_ms=w["p99_us"] / 1000,
        count=w["requests"],
        errors=errors,
        extra=w,
    )


def check_wrk(run: Run, what: str, r: Result):
    if r.errors:
        e = r.extra
        run.problem(
            f"{what}: {r.errors} failed requests (non-2xx {e['non2xx']}, connect {e['connect_errors']}, "
            f"read {e['read_errors']}, write {e['write_errors']}, timeouts {e['timeouts']})"
        )


# --------------------------------------------------------------------------
# The two backends: fresh databases, seeding, and the direct baseline.
# --------------------------------------------------------------------------


class Sqlite:
    key, name = "sqlite", "SQLite"

    def __init__(self, run: Run):
        self.run = run

    def create(self, label: str) -> str:
        path = self.run.workdir / f"{label}.db"
        self.drop(str(path))
        return str(path)

    def drop(self, url: str):
        for suffix in ("", "-wal", "-shm"):
            Path(url + suffix).unlink(missing_ok=True)

    def scalar(self, url: str, sql: str):
        with sqlite3.connect(url, timeout=15) as c:
            return c.execute(sql).fetchone()[0]

    def version(self) -> str:
        # The baseline links the same libsqlite3-sys (0.38.2, bundled) as the service.
        return sh([SQLITE_BASELINE, "version"]).strip()

    def seed(self, url: str, n: int):
        """n pending releases with 3 emailed approvals each, as the app writes
        them: timestamps are UTC text "%F %T%.f" with microseconds, created
        within the last day and expiring 7 days later (so no poll settles
        them as expired, which would turn reads into writes)."""
        c = sqlite3.connect(url, isolation_level=None, timeout=15)
        c.execute("PRAGMA busy_timeout = 15000")
        c.execute("PRAGMA cache_size = -1000000")  # 1 GB: the random token index fits
        c.execute("BEGIN")
        c.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?),
                 t(i, created) AS (SELECT i, julianday('now') - (i % 86400) / 86400.0 FROM n)
            INSERT INTO releases (team_project, environment, release_id, team_project_key,
                                  environment_key, release_name, status,
                                  required_approvals, created_at, expires_at)
            SELECT 'Bench', 'production', CAST(i AS TEXT), 'bench', 'production', 'bench', 'pending', 3,
                   strftime('%Y-%m-%d %H:%M:%f', created) || '000',
                   strftime('%Y-%m-%d %H:%M:%f', created + 7) || '000'
            FROM t""",
            (n,),
        )
        c.execute(
            """
            INSERT INTO approvals (release_pk, email, email_key, name, token_id,
                                   token_expires_at, email_sent_at, created_at)
            SELECT r.id, 'a' || k.k || '@example.com', 'a' || k.k || '@example.com', NULL,
                   lower(hex(randomblob(16))), r.expires_at, r.created_at, r.created_at
            FROM releases r CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) k
            ORDER BY r.id, k.k"""
        )
        c.execute("COMMIT")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.close()

    def _baseline(self, args, synchronous: str | None) -> Result:
        """The baseline with the pragmas of the service it is compared with:
        its synchronous mode (`synchronous`; None: what a service started now
        runs with) and its busy_timeout, which is GREENLIGHT_DB_TIMEOUT."""
        cmd = [SQLITE_BASELINE, *args]
        want = synchronous or service_synchronous()
        env = {"SQLITE_SYNCHRONOUS": want,
               "SQLITE_BUSY_TIMEOUT_MS": db_timeout_ms(service_env({}))}
        self.run.record(cmd, env)
        out = json.loads(sh(cmd, env={**os.environ, **env}).strip().splitlines()[-1])
        ran = str(out.get("synchronous", "?")).lower()
        if ran != want:  # e.g. a stale build that ignores SQLITE_SYNCHRONOUS
            self.run.problem(f"sqlite-baseline {args[0]} ran with synchronous={ran}, not {want}: rebuild it "
                             "(bash bench/run.sh builds it)")
        return Result(out["ops_per_s"], out["p50_ms"], out["p99_ms"], out["operations"], out["errors"],
                      extra={"synchronous": ran, "busy_timeout_ms": out.get("busy_timeout_ms")})

    def baseline_insert(self, url, conns, prefix, synchronous=None) -> Result:
        return self._baseline(["insert", url, conns, self.run.plan.seconds, prefix], synchronous)

    def baseline_poll(self, url, conns, releases, synchronous=None) -> Result:
        return self._baseline(["poll", url, conns, self.run.plan.seconds, releases], synchronous)


class Postgres:
    key, name = "postgresql", "PostgreSQL"

    def __init__(self, run: Run):
        self.run = run
        self.created: set[str] = set()
        run.cleanups.append(self.drop_all)

    def _psql(self, db: str, sql: str) -> str:
        # SQL on stdin, not -c: each statement runs on its own (VACUUM cannot
        # run inside the one transaction that -c makes of several statements).
        return sh(["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", db,
                   "-v", "ON_ERROR_STOP=1", "-Atq", "-f", "-"], input=sql)

    @staticmethod
    def dbname(url: str) -> str:
        return url.rsplit("/", 1)[1].split("?")[0]

    def create(self, label: str) -> str:
        name = f"glbench_{os.getpid()}_{label}"
        self._psql("postgres", f"DROP DATABASE IF EXISTS {name}")
        self._psql("postgres", f"CREATE DATABASE {name}")
        self.created.add(name)
        return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}?sslmode=disable"

    def drop(self, url: str):
        name = self.dbname(url)
        self._psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.created.discard(name)

    def drop_all(self):
        for name in list(self.created):
            self._psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            self.created.discard(name)

    def scalar(self, url: str, sql: str):
        return self._psql(self.dbname(url), sql).strip()

    def version(self) -> str:
        return self._psql("postgres", "SHOW server_version").strip()

    def settings(self) -> str:
        rows = self._psql("postgres", "SELECT name || '=' || setting || coalesce(unit, '') FROM pg_settings "
                          "WHERE name IN ('shared_buffers','synchronous_commit','max_connections','fsync') ORDER BY 1")
        return ", ".join(rows.split())

    def seed(self, url: str, n: int):
        """As Sqlite.seed, with generate_series. Two shortcuts keep 3M approvals
        under half a minute: foreign-key triggers are skipped
        (session_replication_role = replica; the rows are consistent by
        construction), and the unique index on the random token is dropped and
        re-added after the insert under its own name, which builds it by sort
        instead of 3M random inserts. ANALYZE then, as autovacuum would."""
        self._psql(self.dbname(url), f"""
            INSERT INTO releases (team_project, environment, release_id, team_project_key,
                                  environment_key, release_name, status,
                                  required_approvals, created_at, expires_at)
            SELECT 'Bench', 'production', i::text, 'bench', 'production', 'bench', 'pending', 3,
                   t, t + interval '7 days'
            FROM generate_series(1, {int(n)}) AS i,
                 LATERAL (SELECT (now() AT TIME ZONE 'utc') - make_interval(secs => i % 86400) AS t) AS x;
            SET session_replication_role = replica;
            SET maintenance_work_mem = '256MB';
            ALTER TABLE approvals DROP CONSTRAINT approvals_token_id_key;
            INSERT INTO approvals (release_pk, email, email_key, name, token_id,
                                   token_expires_at, email_sent_at, created_at)
            SELECT r.id, 'a' || k || '@example.com', 'a' || k || '@example.com', NULL,
                   md5(random()::text || r.id || '-' || k), r.expires_at, r.created_at, r.created_at
            FROM releases r CROSS JOIN generate_series(1, 3) AS k ORDER BY r.id, k;
            ALTER TABLE approvals ADD CONSTRAINT approvals_token_id_key UNIQUE (token_id);
            RESET session_replication_role;
            VACUUM ANALYZE releases;
            VACUUM ANALYZE approvals;""")

    def _pgbench(self, url, script: str, conns: int, defines=()) -> Result:
        """pgbench with a custom script, prepared statements (diesel prepares
        and caches its statements too), one log line per transaction for
        the percentiles."""
        logdir = Path(tempfile.mkdtemp(dir=self.run.workdir, prefix="pgbench-"))
        cmd = ["pgbench", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-n", "-M", "prepared",
               "-c", conns, "-j", min(conns, 2), "-T", self.run.plan.seconds,
               "-f", BENCH / "pgbench" / script, "-l", "--log-prefix", logdir / "tx"]
        for d in defines:
            cmd += ["-D", d]
        cmd.append(self.dbname(url))
        self.run.record(cmd)
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
        out = proc.stdout + proc.stderr
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
        failed = re.search(r"number of failed transactions: (\d+)", out)
        latencies = []
        for f in logdir.iterdir():
            for line in f.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    latencies.append(int(parts[2]) / 1000)  # µs -> ms
        shutil.rmtree(logdir, ignore_errors=True)
        if proc.returncode != 0 or not tps:
            self.run.problem(f"pgbench {script} at {conns} clients failed: {out.strip()[-400:]}")
        latencies.sort()
        errors = int(failed.group(1)) if failed else (0 if proc.returncode == 0 else 1)
        return Result(float(tps.group(1)) if tps else 0.0, percentile(latencies, 50),
                      percentile(latencies, 99), len(latencies), errors)

    # `synchronous` is SQLite's; PostgreSQL's own settings are in the machine table.
    def baseline_insert(self, url, conns, prefix, synchronous=None) -> Result:
        return self._pgbench(url, "new_release.sql", conns)

    def baseline_poll(self, url, conns, releases, synchronous=None) -> Result:
        return self._pgbench(url, "poll.sql", conns, [f"releases={releases}"])


# --------------------------------------------------------------------------
# The service under test and its two stubs.
# --------------------------------------------------------------------------


@dataclass
class Stubs:
    approvers_port: int
    smtp_port: int
    mail_log: Path
    receiver_port: int
    receiver_log: Path

    def approvers_url(self, failing: bool) -> str:
        # /fail/... answers 404: a permanent failure, the release fails after one try.
        base = f"http://127.0.0.1:{self.approvers_port}"
        return base + ("/fail" if failing else "") + "/{team_project}/{release_id}"

    def mail_count(self) -> int:
        with open(self.mail_log, "rb") as f:
            return sum(1 for _ in f)


def start_stubs(run: Run) -> Stubs:
    stubs = Stubs(free_port(), free_port(), run.workdir / "mail.jsonl",
                  free_port(), run.workdir / "received.jsonl")
    stubs.mail_log.touch()
    stubs.receiver_log.touch()
    py = sys.executable
    for args in (["approvers", stubs.approvers_port], ["smtp", stubs.smtp_port, stubs.mail_log],
                 ["receiver", stubs.receiver_port, stubs.receiver_log]):
        cmd = [py, BENCH / "stubs.py", *args]
        run.record(cmd)
        run.spawn(cmd, run.workdir / f"stub-{args[0]}.log")
    for port in (stubs.approvers_port, stubs.smtp_port, stubs.receiver_port):
        wait_port(port, 20)
    return stubs


def wait_port(port: int, seconds: float):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


def service_env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("GREENLIGHT_") or k == "DATABASE_URL") or k in TUNABLES}
    env.update(extra)
    return env


def service_synchronous(extra: dict | None = None) -> str:
    """The synchronous mode ("full" or "normal") a SQLite service started
    with `extra` runs with: GREENLIGHT_SQLITE_SYNCHRONOUS (set by `extra`, or
    by the operator: it is a tunable), else the service's default, full."""
    value = service_env(extra or {}).get("GREENLIGHT_SQLITE_SYNCHRONOUS", DEFAULT_SYNCHRONOUS)
    return value.strip().lower()


OTHER_SYNCHRONOUS = {"full": "normal", "normal": "full"}


def migrate(run: Run, url: str):
    env = {"DATABASE_URL": url, "RUST_LOG": "warn"}
    run.record([GREENLIGHT, "migrate"], env)
    subprocess.run([str(GREENLIGHT), "migrate"], env=service_env(env), check=True,
                   cwd=run.workdir, capture_output=True)


# ANSI colours: tracing's fmt layer writes them to a file too.
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The startup line's settings field, as tracing prints a Debug string:
# settings="pool=4 http_workers=2 ...".
SETTINGS_FIELD = re.compile(r'\bsettings="((?:[^"\\]|\\.)*)"')
# The level of a tracing line: "<timestamp> <LEVEL> <target>: ...".
LOG_LEVEL = re.compile(r"^\S+\s+(TRACE|DEBUG|INFO|WARN|ERROR)\b")


def parse_settings(log_text: str) -> dict | None:
    """The settings field of the service's startup line as key -> value, in
    the service's order (a token without "=" maps to None); None if absent."""
    for line in log_text.splitlines():
        m = SETTINGS_FIELD.search(ANSI.sub("", line))
        if m:
            text = re.sub(r"\\(.)", r"\1", m.group(1))
            return {k: (v[0] if v else None) for k, *v in (t.split("=", 1) for t in text.split())}
    return None


class Service:
    """One greenlight process on a free port, ready once /healthz answers."""

    def __init__(self, run: Run, db, url: str, stubs: Stubs, failing_approvers=False, label="svc",
                 extra_env: dict | None = None):
        self.run = run
        self.backend = db.key
        # A service given settings of its own (extra_env) does not speak for
        # its backend in the machine table.
        self.extra_env = dict(extra_env or {})
        self.settings: dict | None = None  # as logged at start; read by stop()
        self.port = free_port()
        self.log = run.workdir / f"{label}.log"
        # The request-path variant fails every release in the worker on
        # purpose; its one error line per release would only cost CPU.
        # greenlight::startup at INFO: its one line at start carries the
        # settings in effect (pool, workers, ...), which the report prints.
        rust_log = ("warn,greenlight::worker=off" if failing_approvers else "warn") + ",greenlight::startup=info"
        self.env = {
            "DATABASE_URL": url,
            "GREENLIGHT_LISTEN": f"127.0.0.1:{self.port}",
            "GREENLIGHT_APPROVERS_URL": stubs.approvers_url(failing_approvers),
            "GREENLIGHT_SMTP_URL": f"smtp://127.0.0.1:{stubs.smtp_port}",
            "GREENLIGHT_SECRET": BENCH_SECRET,
            # The load comes from one address: per-client limits would
            # measure 429s (the bench approves hundreds a second).
            "GREENLIGHT_APPROVAL_RATE_LIMIT": "off",
            "GREENLIGHT_AUTH_FAILURE_LIMIT": "off",
            "RUST_LOG": rust_log,
            **self.extra_env,
        }
        run.record([GREENLIGHT, "serve"], self.env)
        self.proc = run.spawn([GREENLIGHT, "serve"], self.log, env=service_env(self.env), cwd=run.workdir)
        self._wait_healthy(60)

    def _wait_healthy(self, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"greenlight exited ({self.proc.returncode}); see {self.log}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"greenlight not healthy after {seconds}s; see {self.log}")

    def memory_kib(self, field_name: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
        return 0

    def log_lines(self, pattern=r"\b(WARN|ERROR)\b") -> list[str]:
        """Lines matching `pattern`, but never a line logged at INFO or below:
        the startup lines now logged on purpose mention settings, not trouble."""
        def quiet(line):
            level = LOG_LEVEL.match(line)
            return level is not None and level.group(1) in ("TRACE", "DEBUG", "INFO")

        lines = (ANSI.sub("", l) for l in self.log.read_text(errors="replace").splitlines())
        return [l for l in lines if re.search(pattern, l) and not quiet(l)]

    def stop(self):
        self.run.stop(self.proc)
        # Read once the process is gone, so the startup line is in the file
        # wherever the service logs it; the first service of a backend speaks
        # for all of them (they differ only in database and approvers URL),
        # unless it was given settings of its own.
        self.settings = parse_settings(self.log.read_text(errors="replace"))
        if not self.extra_env and self.backend not in self.run.service_settings:
            self.run.service_settings[self.backend] = self.settings

    def synchronous(self) -> str:
        """SQLite's synchronous mode this service ran with: as it logged it at
        start (after stop()), else as it was configured."""
        return (self.settings or {}).get("sqlite_synchronous") or service_synchronous(self.extra_env)


# --------------------------------------------------------------------------
# Scenarios.
# --------------------------------------------------------------------------


def scenario_new_releases(run: Run, db, stubs: Stubs) -> dict:
    """1 (and 5): new releases at each concurrency, on a fresh database and a
    fresh process each time (so one step's job backlog cannot slow the next,
    and VmHWM is that step's peak), beside the direct INSERT transaction,
    which on SQLite runs with the synchronous mode of the "with emails" step
    it is compared with. On SQLite, at plan.sync_levels(), the "with emails"
    step and its baseline run again at the other synchronous mode, right
    after the first: ("sync", mode, conns) and ("sync_base", mode, conns)
    hold both modes' figures, one of them scenario 1's own."""
    out = {}
    sync_levels = run.plan.sync_levels() if db.key == "sqlite" else ()
    other = OTHER_SYNCHRONOUS.get(service_synchronous())
    for conns in run.plan.new_conns:
        emails = new_release_step(run, db, stubs, conns, "emails", failing=False)
        out[("emails", conns)] = emails
        mode = emails.extra.get("synchronous")
        if conns in sync_levels and other:
            out[("sync", mode, conns)] = emails
            out[("sync", other, conns)] = new_release_step(
                run, db, stubs, conns, f"emails_{other}", failing=False,
                extra_env={"GREENLIGHT_SQLITE_SYNCHRONOUS": other})
        out[("request_path", conns)] = new_release_step(run, db, stubs, conns, "request_path", failing=True)
        # The baseline of the "with emails" step, and that of its other-mode twin.
        base_modes = [mode] + ([other] if conns in sync_levels and other else [])
        for m in base_modes:
            twin = m != mode
            url = db.create(f"{db.key}_new_base{'_' + m if twin else ''}_{conns}")
            migrate(run, url)
            b = db.baseline_insert(url, conns, f"b{m[0] if twin else ''}{conns}", synchronous=m)
            what = f"baseline insert at {conns}" + (f" (synchronous={m})" if db.key == "sqlite" else "")
            if b.errors:
                run.problem(f"{db.name} {what}: {b.errors} errors")
            db.drop(url)
            if not twin:
                out[("baseline", conns)] = b
            if conns in sync_levels and other:
                out[("sync_base", m, conns)] = b
            show(f"{db.name} new {('baseline_' + m) if twin else 'baseline':14} c={conns:<3}", b)
    return out


def new_release_step(run: Run, db, stubs: Stubs, conns: int, variant: str, failing: bool,
                     extra_env: dict | None = None) -> Result:
    """One step of scenario 1: a fresh database and a fresh service (given
    `extra_env` over the run's settings), wrk posting new releases, checks."""
    label = f"{db.key}_new_{variant}_{conns}"
    url = db.create(label)
    svc = Service(run, db, url, stubs, failing_approvers=failing, label=label, extra_env=extra_env)
    time.sleep(1)  # idle: pool open, worker waiting
    idle = svc.memory_kib("VmRSS")
    mails_before = stubs.mail_count()
    # Release ids unique to the step: the database's prefix, the variant's
    # initial (its synchronous mode's for a twin), the concurrency.
    tag = variant.rsplit("_", 1)[1][0] if variant.startswith("emails_") else variant[0]
    r = wrk(run, svc.port, conns, "new", f"{db.key[:2]}{tag}{conns}")
    r.extra.update(
        idle_rss_kib=idle,
        peak_kib=svc.memory_kib("VmHWM"),
        emails_during=stubs.mail_count() - mails_before,
    )
    stored = int(db.scalar(url, "SELECT count(*) FROM releases"))
    r.extra["stored"] = stored
    what = f"{db.name} new releases ({variant}, {conns} conns)"
    check_wrk(run, what, r)
    # Every answered POST created a row; a few more may be in flight at the end.
    if not r.count <= stored <= r.count + conns:
        run.problem(f"{what}: {r.count} answered but {stored} releases stored")
    if not failing:
        r.extra["log_problems"] = svc.log_lines()[:5]
        if r.extra["log_problems"]:
            run.problem(f"{what}: service logged {len(svc.log_lines())} WARN/ERROR lines, "
                        f"e.g. {r.extra['log_problems'][0][:200]}")
    svc.stop()
    if db.key == "sqlite":
        # What the service says it ran with; its baseline runs with the same.
        want, ran = service_synchronous(extra_env), svc.synchronous()
        r.extra["synchronous"] = ran
        if ran != want:
            run.problem(f"{what}: the service ran with synchronous={ran}, not {want} as configured")
    db.drop(url)
    show(f"{db.name} new {variant:14} c={conns:<3}", r)
    return r


def seeded_service(run: Run, db, stubs: Stubs, n: int, label: str):
    url = db.create(label)
    migrate(run, url)
    t = time.time()
    db.seed(url, n)
    print(f"  seeded {n:,} releases (+{3 * n:,} approvals) in {time.time() - t:.1f}s", flush=True)
    return url, Service(run, db, url, stubs, label=label)


def scenario_polls_and_scale(run: Run, db, stubs: Stubs) -> dict:
    """2 and 4: polls against a small store, each level beside the server's
    own ceiling (GET /healthz, no database), then the scale comparison with a
    large one. The service runs first and is stopped before its baselines, so
    that 64 pgbench clients and the service's pool never compete for
    PostgreSQL's connection slots (or the CPU)."""
    p, out = run.plan, {}
    url, svc = seeded_service(run, db, stubs, p.small, f"{db.key}_polls_small")
    for conns in p.poll_levels():
        # The ceiling right before the polls it is compared with: same
        # process, same concurrency, seconds apart, so the machine's noise
        # weighs on both alike.
        out[("healthz", conns)] = wrk(run, svc.port, conns, "healthz")
        out[("post", conns)] = wrk(run, svc.port, conns, "poll", p.small)
        if conns in p.poll_conns:
            out[("get", conns)] = wrk(run, svc.port, conns, "get", p.small)
    svc.stop()
    for conns in p.poll_levels():
        out[("baseline", conns)] = db.baseline_poll(url, conns, p.small)
    db.drop(url)
    # Scale (4) compares the large store with these same figures.
    for conns in (1, 16):
        out[("scale_small", conns)] = out[("post", conns)]
    out[("scale_small_base", 1)] = out[("baseline", 1)]

    url, svc = seeded_service(run, db, stubs, p.large, f"{db.key}_polls_large")
    out[("scale_large", 1)] = wrk(run, svc.port, 1, "poll", p.large)
    out[("scale_large", 16)] = wrk(run, svc.port, 16, "poll", p.large)
    svc.stop()
    out[("scale_large_base", 1)] = db.baseline_poll(url, 1, p.large)
    db.drop(url)

    shown = set()
    for (what, conns), r in out.items():
        if id(r) in shown:  # a scale_* alias of a figure already shown (and checked)
            continue
        shown.add(id(r))
        show(f"{db.name} {what:16} c={conns:<3}", r)
        if r.errors:
            run.problem(f"{db.name} {what} at {conns} conns: {r.errors} failed requests/transactions")
    return out


def post_releases(port: int, ids: list[str], workers: int, rate: float | None) -> dict:
    """POSTs one new release per id; returns id -> time just before sending.
    `rate` paces the POSTs (one worker); None sends them as fast as `workers`
    keep-alive connections allow."""
    sent, lock, todo = {}, threading.Lock(), list(reversed(ids))
    failures = []

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start = time.time()
        n = 0
        while True:
            with lock:
                if not todo:
                    return
                rid = todo.pop()
            if rate:
                time.sleep(max(0.0, start + n / rate - time.time()))
                n += 1
            body = json.dumps({"ReleaseName": "bench", "ReleaseId": rid, "TeamProject": "Bench"})
            t = time.time()
            conn.request("POST", "/release", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            with lock:
                sent[rid] = t
                if resp.status != 202:
                    failures.append((rid, resp.status))

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"sent": sent, "failures": failures}


SUBJECT_ID = re.compile(r"\(Bench #(.+)\)$")


def wait_for_emails(stubs: Stubs, offset: int, ids: set[str], per_id: int, timeout: float) -> dict:
    """Reads the sink's log from `offset` until every id has `per_id` emails
    (or the timeout); returns id -> sorted arrival times."""
    arrivals: dict[str, list[float]] = {}
    deadline = time.time() + timeout
    with open(stubs.mail_log) as f:
        f.seek(offset)
        buf = ""
        while True:
            buf += f.read()
            *lines, buf = buf.split("\n")
            for line in lines:
                m = json.loads(line)
                sid = SUBJECT_ID.search(m.get("subject") or "")
                if sid and sid.group(1) in ids:
                    arrivals.setdefault(sid.group(1), []).append(m["t"])
            done = all(len(arrivals.get(i, ())) >= per_id for i in ids)
            if done or time.time() > deadline:
                break
            time.sleep(0.02)
        if done:  # a moment more, to catch duplicate sends, if any
            time.sleep(0.5)
            for line in (buf + f.read()).split("\n"):
                if line.strip():
                    m = json.loads(line)
                    sid = SUBJECT_ID.search(m.get("subject") or "")
                    if sid and sid.group(1) in ids:
                        arrivals.setdefault(sid.group(1), []).append(m["t"])
    return {k: sorted(v) for k, v in arrivals.items()}


def e2e_round(run: Run, db, svc: Service, stubs: Stubs, name: str, n: int, workers: int, rate) -> dict:
    ids = [f"{db.key}-{name}-{i}" for i in range(n)]
    offset = stubs.mail_log.stat().st_size
    posted = post_releases(svc.port, ids, workers, rate)
    arrivals = wait_for_emails(stubs, offset, set(ids), 3, timeout=120)
    sent = posted["sent"]
    complete = [i for i in ids if len(arrivals.get(i, ())) >= 3]
    latencies = sorted((arrivals[i][2] - sent[i]) * 1000 for i in complete)
    emails = sum(len(v) for v in arrivals.values())
    last = max((max(v) for v in arrivals.values()), default=float("nan"))
    first_post = min(sent.values())
    res = {
        "releases": n,
        "complete": len(complete),
        "emails": emails,
        "duplicates": sum(max(0, len(v) - 3) for v in arrivals.values()),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "post_seconds": max(sent.values()) - first_post,
        "drain_s": last - first_post,
        "failures": posted["failures"],
    }
    if posted["failures"] or len(complete) < n or res["duplicates"]:
        run.problem(f"{db.name} end to end ({name}): {len(posted['failures'])} POSTs not 202, "
                    f"{n - len(complete)} releases without their 3 emails, {res['duplicates']} duplicate emails")
    print(f"  {db.name} e2e {name:6}: p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms, "
          f"{emails} emails drained in {res['drain_s']:.2f}s", flush=True)
    return res


def scenario_end_to_end(run: Run, db, stubs: Stubs) -> dict:
    """3: POST -> last of the release's 3 emails accepted by the SMTP sink.
    Paced (a steady trickle, the latency a pipeline sees) and burst (all 200
    at once: how fast the queue drains 600 emails)."""
    p = run.plan
    url = db.create(f"{db.key}_e2e")
    svc = Service(run, db, url, stubs, label=f"{db.key}_e2e")
    out = {
        "paced": e2e_round(run, db, svc, stubs, "paced", p.paced_releases, 1, p.paced_rate),
        "burst": e2e_round(run, db, svc, stubs, "burst", p.e2e_releases, 16, None),
    }
    svc.stop()
    db.drop(url)
    return out


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def approval_token(email: str, team_project: str, release_id: str, token_id: str) -> str:
    """An approval link's token, as the service mints it (HS256, our bench
    secret): the approver's click without reading their email."""
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"iss": "greenlight", "aud": "greenlight-approval", "sub": email,
                                "tp": team_project, "rid": release_id, "jti": token_id,
                                "iat": now, "exp": now + 3600}).encode())
    mac = hmac.new(BENCH_SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64url(mac)}"


def request_status(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> int:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def scenario_notify(run: Run, db, stubs: Stubs) -> dict:
    """6: an approver's click -> the pipeline told. Each release waits in
    Azure DevOps' callback mode and its policy has a webhook; one approval
    decides it (quorum 1). Timed from just before the approving request to
    the TaskCompleted and the webhook arriving at the receiver stub."""
    n = run.plan.notify_releases
    url = db.create(f"{db.key}_notify")
    receiver = f"http://127.0.0.1:{stubs.receiver_port}"
    svc = Service(run, db, url, stubs, label=f"{db.key}_notify", extra_env={
        "GREENLIGHT_WEBHOOK_URL": f"{receiver}/webhook",
        "GREENLIGHT_WEBHOOK_SECRET": "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtb2YtMzItYnl0ZXM=",
        "GREENLIGHT_REQUIRED_APPROVALS": "1",
        "GREENLIGHT_AZURE_DEVOPS_HOSTS": "127.0.0.1",
        # The PlanUrl is a caller-named target on loopback.
        "GREENLIGHT_OUTBOUND_ALLOW_PRIVATE": "true",
        "GREENLIGHT_SLACK_BOT_TOKEN": "xoxb-bench",
        "GREENLIGHT_SLACK_SIGNING_SECRET": "bench-slack-signing-secret",
        "GREENLIGHT_SLACK_API_URL": f"{receiver}/slack",
        "GREENLIGHT_SLACK_CHANNEL": "C0BENCH",
    })
    base = f"http://127.0.0.1:{svc.port}"
    offset = stubs.receiver_log.stat().st_size
    clicked, answered = {}, []
    for i in range(n):
        rid = f"{db.key}-notify-{i}"
        body = json.dumps({"ReleaseName": "Bench", "ReleaseId": rid, "TeamProject": "Bench"}).encode()
        start = time.time()
        status = request_status("POST", f"{base}/release?completion=callback", body, {
            "Content-Type": "application/json", "PlanUrl": f"{receiver}/azure", "ProjectId": "bench",
            "HubName": "build", "PlanId": f"plan-{rid}", "JobId": "job", "TaskInstanceId": "task",
            "AuthToken": "bench-azure-token"})
        if status != 202:
            run.problem(f"{db.name} notify: POST /release answered {status}")
            continue
        answered.append((time.time() - start) * 1000)
        row = ""
        deadline = time.time() + 20
        while not row and time.time() < deadline:
            row = str(db.scalar(url, "SELECT COALESCE((SELECT a.token_id || ' ' || a.email FROM approvals a "
                                     "JOIN releases r ON r.id = a.release_pk "
                                     f"WHERE r.release_id = '{rid}' ORDER BY a.id LIMIT 1), '')") or "")
            if not row:
                time.sleep(0.01)
        if not row:
            run.problem(f"{db.name} notify: release {rid} never got its approvers")
            continue
        token_id, email = row.split(" ", 1)
        token = approval_token(email, "Bench", rid, token_id)
        clicked[rid] = time.time()
        code = request_status("GET", f"{base}/approval?token={token}", headers={"Accept": "application/json"})
        if code != 200:
            run.problem(f"{db.name} notify: the approval answered {code}")
    callback, webhook, slack = {}, {}, {}
    deadline = time.time() + 30
    with open(stubs.receiver_log) as f:
        f.seek(offset)
        buf = ""
        while time.time() < deadline and min(len(callback), len(webhook), len(slack)) < len(clicked):
            buf += f.read()
            *lines, buf = buf.split("\n")
            for line in lines:
                m = json.loads(line)
                if m["path"].startswith("/azure/"):
                    plan = re.search(r"/plans/plan-([^/]+)/events", m["path"])
                    if plan:
                        callback.setdefault(plan.group(1), m["t"])
                elif m["path"] == "/webhook":
                    rid = json.loads(m["body"])["data"]["release_id"]
                    webhook.setdefault(rid, m["t"])
                elif m["path"] == "/slack/chat.update":
                    # The message names its release as "Bench (<id>)"; the
                    # first update after the click is the decision's.
                    rid = re.search(r"Bench \(([^)]+)\)", m["body"])
                    if rid and rid.group(1) in clicked and m["t"] >= clicked[rid.group(1)]:
                        slack.setdefault(rid.group(1), m["t"])
            time.sleep(0.01)
    svc.stop()
    db.drop(url)
    lat = lambda arrivals: sorted((arrivals[r] - clicked[r]) * 1000 for r in clicked if r in arrivals)
    cb, wh, sl = lat(callback), lat(webhook), lat(slack)
    if min(len(cb), len(wh), len(sl)) < len(clicked):
        run.problem(f"{db.name} notify: {len(clicked) - len(cb)} callbacks, {len(clicked) - len(wh)} "
                    f"webhooks and {len(clicked) - len(sl)} Slack updates never arrived")
    answered.sort()
    res = {"releases": n, "decided": len(clicked), "callbacks": len(cb), "webhooks": len(wh),
           "callback_p50_ms": percentile(cb, 50), "callback_p99_ms": percentile(cb, 99),
           "webhook_p50_ms": percentile(wh, 50), "webhook_p99_ms": percentile(wh, 99),
           "slack": len(sl), "slack_p50_ms": percentile(sl, 50), "slack_p99_ms": percentile(sl, 99),
           "post_p99_ms": percentile(answered, 99)}
    print(f"  {db.name} notify: callback p50 {res['callback_p50_ms']:.1f} ms p99 {res['callback_p99_ms']:.1f} ms; "
          f"webhook p50 {res['webhook_p50_ms']:.1f} ms p99 {res['webhook_p99_ms']:.1f} ms; "
          f"Slack update p50 {res['slack_p50_ms']:.1f} ms p99 {res['slack_p99_ms']:.1f} ms", flush=True)
    return res


def scenario_variables(run: Run, db, stubs: Stubs) -> dict:
    """7: an environment's merged variables as a pipeline reads them,
    `GET /projects/Bench/environments/prod/variables?format=dotenv`, with
    1,000 variables at the project's level each overridden at the
    environment's (the merge at its largest), at 16 connections."""
    url = db.create(f"{db.key}_vars")
    svc = Service(run, db, url, stubs, label=f"{db.key}_vars")
    project = {f"VAR_{i:04}": f"project value {i}: $HOME, `quotes` and 'single'" for i in range(1000)}
    config = {"version": "2.0", "app_name": "Bench", "environment_variables": project,
              "stages": {"prod": {"environment_variables": {k: v.replace("project", "prod")
                                                            for k, v in project.items()}}}}
    status = request_status("PUT", f"http://127.0.0.1:{svc.port}/projects/Bench/variables?format=chalice",
                            json.dumps(config).encode(), {"Content-Type": "application/json"})
    if status != 200:
        run.problem(f"{db.name} variables: the Chalice import answered {status}")
    r = wrk(run, svc.port, 16, "path", "/projects/Bench/environments/prod/variables?format=dotenv")
    check_wrk(run, f"{db.name} variables dotenv at 16", r)
    show(f"{db.name} variables dotenv c=16", r)
    svc.stop()
    db.drop(url)
    return {"dotenv_16": r}


def show(label: str, r: Result):
    print(f"  {label}: {r.rps:10.0f}/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms"
          + (f"  ERRORS {r.errors}" if r.errors else ""), flush=True)


# --------------------------------------------------------------------------
# Machine facts and the report.
# --------------------------------------------------------------------------


def filesystem_of(path: Path) -> dict:
    """The mount holding `path`, from /proc/mounts: type and a line of text."""
    path = str(Path(path).resolve())
    best = None
    for line in Path("/proc/mounts").read_text().splitlines():
        dev, mnt, fstype = line.split()[:3]
        mnt = mnt.replace("\\040", " ")
        if (path + "/").startswith(mnt.rstrip("/") + "/") and (best is None or len(mnt) >= len(best[1])):
            best = (dev, mnt, fstype)
    if best is None:
        return {"type": "?", "text": path}
    dev, mnt, fstype = best
    return {"type": fstype, "text": f"{path}: {fstype} ({dev} on {mnt})"}


def machine_facts(backends) -> dict:
    def first(path, key):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
        return "?"

    def tool_version(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    git = lambda *a: subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout.strip()
    dirty = git("status", "--porcelain", "--", "src", "migrations", "templates", "Cargo.toml", "Cargo.lock")
    facts = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git("rev-parse", "--short", "HEAD") + (" + uncommitted changes in the service's sources" if dirty else ""),
        "cpu": f"{os.cpu_count()} cores, {first('/proc/cpuinfo', 'model name')}",
        "memory": f"{int(first('/proc/meminfo', 'MemTotal').split()[0]) / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "os": next((l.split("=", 1)[1].strip('"') for l in Path("/etc/os-release").read_text().splitlines()
                    if l.startswith("PRETTY_NAME=")), "?"),
        "rustc": tool_version(["rustc", "--version"]),
        "wrk": tool_version(["wrk", "--version"]),
        "pgbench": tool_version(["pgbench", "--version"]),
        "python": platform.python_version(),
        "load_before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "service_env": {k: os.environ[k] for k in TUNABLES if k in os.environ},
    }
    for db in backends:
        facts[db.key] = db.version()
        if isinstance(db, Postgres):
            facts["postgresql_settings"] = db.settings()
    return facts


def ms(v):
    if v != v:  # NaN: nothing measured
        return "–"
    return f"{v:.3f}" if v < 0.1 else f"{v:.2f}" if v < 10 else f"{v:.1f}"


def rate(v):
    return f"{v:,.0f}"


def ratio(a, b):
    return f"{a / b:.2f}" if b else "–"


def secs(v):
    return "–" if v != v else f"{v:.2f}"


def conns_text(c):
    return f"{c} conn{'s' * (c > 1)}"


def div(a, b):
    return a / b if b else float("nan")


def at_least(x, limit):
    """None (nothing to judge) when x was not measured (NaN)."""
    return None if x != x else x >= limit


def below(x, limit):
    return None if x != x else x < limit


def verdict(ok):
    return "–" if ok is None else "met" if ok else "**missed**"


def incomplete(e2e: dict) -> str:
    """A note for an end-to-end figure taken over fewer releases than were sent."""
    if e2e["complete"] < e2e["releases"]:
        return f" (only {e2e['complete']}/{e2e['releases']} releases got their 3 emails)"
    return ""


def report(run: Run, facts: dict, results: dict, elapsed: float, path: Path):
    p = run.plan
    L = []
    w = L.append
    w("# Benchmarks")
    w("")
    w("Greenlight measured against the limit set by its own database, side by side in one run: the service "
      "under HTTP load (wrk) beside the same SQL run straight against the same database (pgbench on "
      "PostgreSQL, `bench/sqlite-baseline` on SQLite). **This file is written by `make bench`**; the figures "
      f"below come from the run of {facts['date']} ({'quick smoke run' if p.seconds < 5 else 'full run'}, "
      f"{p.seconds} s per measurement, {elapsed / 60:.1f} min in all, builds excluded).")
    w("")
    w("```sh")
    w("make bench                        # the full run (under 10 minutes on 2 cores); rewrites this file")
    w("make bench BENCH_ARGS=--quick     # smoke run, seconds per scenario; writes bench/out/BENCHMARKS.quick.md")
    w("```")
    w("")
    if run.problems:
        w("## Problems in this run")
        w("")
        for pr in run.problems:
            w(f"- {pr}")
        w("")
    write_targets(w, results, p)
    # The analysis is written by people and kept across runs.
    findings = Path(__file__).with_name("FINDINGS.md")
    if findings.exists():
        L.extend(findings.read_text().rstrip("\n").split("\n"))
        w("")
    write_machine(w, facts)
    write_new_releases(w, results, p)
    write_sync_cost(w, results, p, facts)
    write_polls(w, results, p)
    write_e2e(w, results, p)
    write_notify(w, results, p)
    plane.write_plane(w, results, p, sys.modules[__name__])
    write_scale(w, results, p)
    write_memory(w, results, p)
    write_method(w, p)
    w("## Commands")
    w("")
    w("Every command the run executed, in order, with the environment it set (ports, paths and database "
      "names are this run's).")
    w("")
    w("<details><summary>" + f"{len(run.commands)} commands" + "</summary>")
    w("")
    w("```sh")
    L.extend(run.commands)
    w("```")
    w("")
    w("</details>")
    path.write_text("\n".join(L) + "\n")


def each_backend(results, scenario):
    """(backend key, its results) for the backends that ran `scenario`."""
    return [(key, results[key]) for key in ("sqlite", "postgresql")
            if key in results and scenario in results[key]]


NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def write_targets(w, results, p):
    w("## Targets")
    w("")
    w("The goals of issue 8, and where this run stands. A target is never a pass/fail of the benchmark: each "
      "row shows the figure as measured (the same as in the tables below), the target, and whether it was met. "
      "Rows marked *reference* have no target and are there to read the others by.")
    w("")
    w("| goal | backend | measured | target | verdict |")
    w("|---|---|---|---|---|")
    refs = []  # reference rows, written after the targets

    def row(goal, key, measured, target=None, ok=None):
        if target is None:
            refs.append(f"| {goal} | {NAMES[key]} | {measured} | *reference* | |")
        else:
            w(f"| {goal} | {NAMES[key]} | {measured} | {target} | {verdict(ok)} |")

    # Polls, as issue 8 sets them: on SQLite against the server's own ceiling
    # (the raw select, microseconds in process, is out of any HTTP server's
    # reach), on PostgreSQL against pgbench, which pays the same round trips.
    for key, r in each_backend(results, "polls"):
        x, hz, b = (r["polls"][(k, 16)] for k in ("post", "healthz", "baseline"))
        if key == "sqlite":
            row("polls ÷ the server's own ceiling: `POST /release` poll ÷ `GET /healthz`, 16 conns", key,
                f"{ratio(x.rps, hz.rps)} ({rate(x.rps)} / {rate(hz.rps)} req/s)", "≥ 0.5",
                at_least(div(x.rps, hz.rps), 0.5))
        else:
            row("polls ÷ pgbench's prepared point select: `POST /release` poll ÷ `poll.sql`, 16 conns", key,
                f"{ratio(x.rps, b.rps)} ({rate(x.rps)} / {rate(b.rps)} req/s)", "≥ 0.5",
                at_least(div(x.rps, b.rps), 0.5))
    for key, r in each_backend(results, "polls"):
        if key == "postgresql":
            x, hz = r["polls"][("post", 16)], r["polls"][("healthz", 16)]
            row("polls ÷ the server's own ceiling, 16 conns", key,
                f"{ratio(x.rps, hz.rps)} ({rate(x.rps)} / {rate(hz.rps)} req/s)")
        else:
            x, b = r["polls"][("post", 16)], r["polls"][("baseline", 16)]
            row("polls ÷ the raw point select (`sqlite-baseline poll`), 16 conns", key,
                f"{ratio(x.rps, b.rps)} ({rate(x.rps)} / {rate(b.rps)} req/s)")

    # New releases against the raw insert transaction, at each concurrency.
    # Both variants count: the worker busy or not, the request is the same.
    for key, r in each_backend(results, "new"):
        new = r["new"]
        for c in p.new_conns:
            b, e, q = new[("baseline", c)], new[("emails", c)], new[("request_path", c)]
            xs = (div(e.rps, b.rps), div(q.rps, b.rps))
            text = (f"with emails {ratio(e.rps, b.rps)} ({rate(e.rps)} / {rate(b.rps)} req/s); "
                    f"request path {ratio(q.rps, b.rps)} ({rate(q.rps)} / {rate(b.rps)} req/s)")
            if key == "postgresql":
                row(f"new releases ÷ the raw insert transaction (`new_release.sql`), {conns_text(c)}", key, text,
                    "≥ 0.8, both", None if any(x != x for x in xs) else min(xs) >= 0.8)
            else:
                row(f"new releases ÷ the raw insert transaction (`sqlite-baseline insert`), {conns_text(c)}",
                    key, text)

    # The tail a pipeline's POST sees while the worker fetches approvers and
    # sends emails: the "with emails" variant is the production case.
    for key, r in each_backend(results, "new"):
        if 16 in p.new_conns:
            v = r["new"][("emails", 16)].p99_ms
            row("new-release `POST /release` p99, 16 conns, worker busy (approvers and emails)", key,
                f"{ms(v)} ms", "< 5 ms", below(v, 5))
            v = r["new"][("request_path", 16)].p99_ms
            row("new-release `POST /release` p99, 16 conns, request path only", key, f"{ms(v)} ms")
    for key, r in each_backend(results, "polls"):
        v = r["polls"][("post", 16)].p99_ms
        row("poll `POST /release` p99, 16 conns", key, f"{ms(v)} ms")
    for key, r in each_backend(results, "vars"):
        x = r["vars"]["dotenv_16"]
        text = f"{ms(x.p99_ms)} ms (p50 {ms(x.p50_ms)} ms, {rate(x.rps)} req/s)"
        goal = "merged `GET …/variables?format=dotenv`, 1,000 variables, p99, 16 conns"
        if key == "sqlite":
            row(goal, key, text, "< 10 ms", below(x.p99_ms, 10))
        else:
            row(goal, key, text)

    # End to end. A release whose emails never came is a miss, whatever the
    # percentile of the others says.
    for key, r in each_backend(results, "e2e"):
        x = r["e2e"]["paced"]
        row(f"`POST` → last of 3 emails accepted, paced ({p.paced_rate}/s): p50", key,
            f"{ms(x['p50_ms'])} ms{incomplete(x)}", "< 15 ms",
            False if x["complete"] < x["releases"] else below(x["p50_ms"], 15))
    for key, r in each_backend(results, "e2e"):
        x = r["e2e"]["burst"]
        row(f"burst of {x['releases']} releases drained: first `POST` → last of {3 * x['releases']} emails "
            "accepted", key, f"{secs(x['drain_s'])} s{incomplete(x)}", "< 1 s",
            False if x["complete"] < x["releases"] else below(x["drain_s"], 1))

    for key, r in each_backend(results, "notify"):
        x = r["notify"]
        complete = x["callbacks"] == x["decided"] == x["releases"] and x["webhooks"] == x["releases"]
        row("approval → Azure DevOps `TaskCompleted` received (callback mode): p50", key,
            f"{ms(x['callback_p50_ms'])} ms (p99 {ms(x['callback_p99_ms'])}; polling floor 300,000 ms)", "< 100 ms",
            complete and below(x["callback_p50_ms"], 100))
        row("approval → signed webhook received: p50", key,
            f"{ms(x['webhook_p50_ms'])} ms (p99 {ms(x['webhook_p99_ms'])})", "< 100 ms",
            complete and below(x["webhook_p50_ms"], 100))
        row("approval → Slack message updated (`chat.update` received): p50", key,
            f"{ms(x['slack_p50_ms'])} ms (p99 {ms(x['slack_p99_ms'])})", "< 100 ms",
            x["slack"] == x["decided"] == x["releases"] and below(x["slack_p50_ms"], 100))
    for key, r in each_backend(results, "polls"):
        for conns in (1, 16):
            small, large = r["polls"][("scale_small", conns)], r["polls"][("scale_large", conns)]
            x = div(large.p50_ms, small.p50_ms)
            row(f"poll p50 with {p.large:,} ÷ with {p.small:,} releases stored, {conns_text(conns)}", key,
                f"{ratio(large.p50_ms, small.p50_ms)} ({ms(large.p50_ms)} / {ms(small.p50_ms)} ms)", "≤ 1.2",
                None if x != x else x <= 1.2)
    for key, r in each_backend(results, "new"):
        if 64 in p.new_conns:
            idle = r["new"][("emails", 64)].extra["idle_rss_kib"] / 1024
            peak = max(r["new"][(v, 64)].extra["peak_kib"] for v in ("emails", "request_path")) / 1024
            row("RSS idle", key, f"{idle:.1f} MiB", "< 30 MiB", idle < 30)
            row("RSS loaded (peak, 64 conns)", key, f"{peak:.1f} MiB", "< 100 MiB", peak < 100)
    plane.target_rows(row, results, sys.modules[__name__])
    for line in refs:
        w(line)
    w("")


def write_machine(w, facts):
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    for key, label in (("cpu", "CPU"), ("memory", "memory"), ("os", "OS"), ("kernel", "kernel"),
                       ("sqlite", "SQLite (bundled, as in the service)"), ("workdir_fs_text", "SQLite databases in"),
                       ("postgresql", "PostgreSQL"),
                       ("postgresql_settings", "PostgreSQL settings"), ("commit", "commit"), ("rustc", "rustc"),
                       ("wrk", "wrk"), ("pgbench", "pgbench"), ("python", "python (stubs)"),
                       ("load_before", "load average before the run"), ("load_after", "load average after the run")):
        if key in facts:
            w(f"| {label} | {facts[key]} |")
    # What the service says it ran with, not what we believe its defaults are.
    for key, settings in facts.get("service_settings", {}).items():
        text = (", ".join(k if v is None else f"{k}={v}" for k, v in settings.items()) if settings
                else "not logged by this build")
        w(f"| service settings, {NAMES[key]} (logged by the service at start) | {text} |")
    env = facts["service_env"]
    w(f"| GREENLIGHT_* set by the operator (passed through to every service) | "
      f"{', '.join(f'{k}={v}' for k, v in env.items()) if env else 'none'} |")
    w("")
    w("The machine is shared: other work (builds, test suites) may run during the bench, which is why every "
      "comparison is a ratio of two figures measured a few seconds apart.")
    w("")


def write_new_releases(w, results, p):
    if not each_backend(results, "new"):
        return
    w("## 1. New releases: `POST /release`, a new release per request")
    w("")
    w("Each step starts a fresh database and a fresh process. **With emails**: the approvers stub answers and "
      "the worker processes the new releases *during* the run (fetch approvers, store them, send 3 emails "
      "each), competing with the requests for the CPU and the database, as in production. "
      "**Request path**: the approvers stub answers 404 (a permanent failure), so the worker only fails each "
      "release once: the closest to the request path alone. **Baseline**: what the service writes for a new "
      "release, in one transaction straight against the database, at the same concurrency: the release row "
      "and its two jobs (`process_release`, due now; `expire_release`, due at the release's deadline); on "
      "SQLite with the service's synchronous mode.")
    w("")
    w("| backend | conns | what | req/s | p50 ms | p99 ms | Greenlight / baseline | failed | emails sent during the run |")
    w("|---|---|---|---|---|---|---|---|---|")
    for key, r in each_backend(results, "new"):
        new = r["new"]
        for c in p.new_conns:
            b = new[("baseline", c)]
            for variant, label in (("emails", "Greenlight, with emails"), ("request_path", "Greenlight, request path"),
                                   ("baseline", "baseline")):
                x = new[(variant, c)]
                rt = ratio(x.rps, b.rps) if variant != "baseline" else ""
                mails = x.extra.get("emails_during", "") if variant == "emails" else ""
                w(f"| {NAMES[key]} | {c} | {label} | {rate(x.rps)} | {ms(x.p50_ms)} | {ms(x.p99_ms)} | {rt} | {x.errors} | {mails} |")
    w("")


def write_sync_cost(w, results, p, facts):
    """Scenario 1's SQLite "with emails" step at synchronous=FULL and NORMAL."""
    new = results.get("sqlite", {}).get("new", {})
    levels = [c for c in p.sync_levels() if ("sync", "full", c) in new and ("sync", "normal", c) in new]
    if not levels:
        return
    main = new[("emails", levels[0])].extra.get("synchronous", DEFAULT_SYNCHRONOUS)
    other = OTHER_SYNCHRONOUS[main]
    w("### The cost of `synchronous=FULL` (SQLite)")
    w("")
    w("The service's default, `synchronous=FULL`, syncs the WAL to disk at every commit, so a committed "
      "release or approval survives a power loss; `GREENLIGHT_SQLITE_SYNCHRONOUS=normal` syncs only at "
      "checkpoints, so it survives a crash of the process but the last commits may be lost with the machine. "
      f"The {main.upper()} figures are scenario 1's \"with emails\" steps above (the mode this run's services "
      f"ran with); the {other.upper()} ones come from the same step run again right after each (fresh "
      "database, fresh process, worker busy: approvers fetched and emails sent during the run), the service "
      f"started with `GREENLIGHT_SQLITE_SYNCHRONOUS={other}`. **Baseline**: `sqlite-baseline insert` with "
      "`SQLITE_SYNCHRONOUS` set to each mode. FULL ÷ NORMAL below 1 is what the safe default costs.")
    w("")
    fs = facts.get("workdir_fs", {})
    if fs.get("type") in ("tmpfs", "ramfs"):
        w(f"**The databases were on {fs['type']}** ({fs['text']}), where a sync writes nothing to a disk: "
          "the two modes cost the same there, and these figures say nothing of a real disk. Point TMPDIR at a "
          "disk-backed directory to measure it.")
    else:
        w(f"The databases were in {fs.get('text', '?')}.")
    w("")
    w("| conns | what | req/s FULL | req/s NORMAL | FULL ÷ NORMAL | p50 ms FULL | p50 ms NORMAL | p99 ms FULL | "
      "p99 ms NORMAL | failed FULL / NORMAL |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for c in levels:
        for kind, label in (("sync", "Greenlight, with emails"), ("sync_base", "baseline")):
            f, n = new.get((kind, "full", c)), new.get((kind, "normal", c))
            if f is None or n is None:
                continue
            w(f"| {c} | {label} | {rate(f.rps)} | {rate(n.rps)} | {ratio(f.rps, n.rps)} | {ms(f.p50_ms)} | "
              f"{ms(n.p50_ms)} | {ms(f.p99_ms)} | {ms(n.p99_ms)} | {f.errors} / {n.errors} |")
    w("")


def write_polls(w, results, p):
    if not each_backend(results, "polls"):
        return
    w(f"## 2. Polls: existing releases ({p.small:,} stored, 3 approvals each)")
    w("")
    w("`POST /release` for an existing release (what a pipeline's gate does) and `GET /releases/Bench/<id>`, "
      f"a random release per request (GET at {' and '.join(map(str, p.poll_conns))} connections only). "
      "**Ceiling**: `GET /healthz`, which "
      "answers a constant without touching the database, against the same process at the same concurrency, "
      "measured just before its polls: the most this HTTP stack serves on this machine, so polls / healthz "
      "is the share of it a poll keeps once its database work is added. **Baseline**: the point select of "
      "the release by (team_project, release_id) and the select of its approvals, straight against the "
      "database.")
    w("")
    w("| backend | conns | what | req/s | p50 ms | p99 ms | Greenlight / baseline | polls / healthz | failed |")
    w("|---|---|---|---|---|---|---|---|---|")
    for key, r in each_backend(results, "polls"):
        polls = r["polls"]
        for c in p.poll_levels():
            b, hz = polls[("baseline", c)], polls[("healthz", c)]
            for kind, label in (("healthz", "Greenlight, GET /healthz (ceiling)"),
                                ("post", "Greenlight, POST /release"), ("get", "Greenlight, GET /releases/…"),
                                ("baseline", "baseline")):
                x = polls.get((kind, c))
                if x is None:  # GET is not measured at every level
                    continue
                poll = kind in ("post", "get")
                rb = ratio(x.rps, b.rps) if poll else ""
                rh = ratio(x.rps, hz.rps) if poll else ""
                w(f"| {NAMES[key]} | {c} | {label} | {rate(x.rps)} | {ms(x.p50_ms)} | {ms(x.p99_ms)} | {rb} | {rh} | "
                  f"{x.errors} |")
    w("")


def write_e2e(w, results, p):
    if not each_backend(results, "e2e"):
        return
    w(f"## 3. End to end: {p.e2e_releases} releases × 3 approvers")
    w("")
    w("From just before each `POST /release` to the moment the SMTP sink accepted the last of that release's "
      f"3 emails. **Burst**: all {p.e2e_releases} POSTed at once over 16 connections; the drain time is "
      f"from the first POST to the last of the {3 * p.e2e_releases} emails accepted. **Paced**: "
      f"{p.paced_releases} releases, one every {1000 / p.paced_rate:.0f} ms, well below the worker's "
      "capacity: the latency a pipeline sees when the queue is not backed up.")
    w("")
    w("| backend | mode | releases complete | emails | p50 ms | p99 ms | max ms | drain s | emails/s |")
    w("|---|---|---|---|---|---|---|---|---|")
    for key, r in each_backend(results, "e2e"):
        for kind in ("paced", "burst"):
            x = r["e2e"][kind]
            # For the paced run the "drain" is the pacing itself: only the burst's says anything.
            drain, per_s = ("–", "–") if kind == "paced" else (f"{x['drain_s']:.2f}", f"{x['emails'] / x['drain_s']:.0f}")
            w(f"| {NAMES[key]} | {kind} | {x['complete']}/{x['releases']} | {x['emails']} | {ms(x['p50_ms'])} | "
              f"{ms(x['p99_ms'])} | {ms(x['max_ms'])} | {drain} | {per_s} |")
    w("")


def write_notify(w, results, p):
    if not each_backend(results, "notify"):
        return
    w("## 6. Decision to pipeline: the callback, the webhook and Slack")
    w("")
    w(f"{p.notify_releases} releases, one at a time, each waiting in Azure DevOps' callback mode (headers on "
      "`POST /release`) with a webhook and a Slack channel in its policy, and decided by one approval (quorum 1). Timed from "
      "just before the approving `GET /approval` to the `TaskCompleted`, the signed webhook and Slack's "
      "`chat.update` (the release's message now saying who decided) arriving at a loopback "
      "receiver (`bench/stubs.py receiver`). The polling floor for comparison: an Azure DevOps release gate "
      "samples at most every **5 minutes** (300,000 ms), so a polled gate moves on average 150 s after the "
      "decision, up to 300 s.")
    w("")
    w("| backend | decided | callback p50 ms | callback p99 ms | webhook p50 ms | webhook p99 ms | Slack update p50 ms | Slack update p99 ms | callback-mode `POST /release` p99 ms |")
    w("|---|---|---|---|---|---|---|---|---|")
    for key, r in each_backend(results, "notify"):
        x = r["notify"]
        w(f"| {NAMES[key]} | {x['decided']}/{x['releases']} | {ms(x['callback_p50_ms'])} | {ms(x['callback_p99_ms'])} | "
          f"{ms(x['webhook_p50_ms'])} | {ms(x['webhook_p99_ms'])} | {ms(x['slack_p50_ms'])} | "
          f"{ms(x['slack_p99_ms'])} | {ms(x['post_p99_ms'])} |")
    w("")


def write_scale(w, results, p):
    if not each_backend(results, "polls"):
        return
    w(f"## 4. Scale: polls with {p.small:,} and with {p.large:,} releases stored")
    w("")
    w(f"Same poll (`POST /release`, random existing release) against a store of {p.small:,} and one of "
      f"{p.large:,} releases (3 approvals each, {3 * p.large:,} approval rows), bulk-loaded with SQL.")
    w("")
    w(f"| backend | conns | what | p50 ms at {p.small:,} | p50 ms at {p.large:,} | ratio | req/s at {p.small:,} | req/s at {p.large:,} |")
    w("|---|---|---|---|---|---|---|---|")
    for key, r in each_backend(results, "polls"):
        polls = r["polls"]
        rows = [(1, "Greenlight", "scale_small", "scale_large"), (16, "Greenlight", "scale_small", "scale_large"),
                (1, "baseline", "scale_small_base", "scale_large_base")]
        for c, label, small_key, large_key in rows:
            s, l = polls[(small_key, c)], polls[(large_key, c)]
            w(f"| {NAMES[key]} | {c} | {label} | {ms(s.p50_ms)} | {ms(l.p50_ms)} | {ratio(l.p50_ms, s.p50_ms)} | "
              f"{rate(s.rps)} | {rate(l.rps)} |")
    w("")


def write_memory(w, results, p):
    if not each_backend(results, "new"):
        return
    w("## 5. Memory")
    w("")
    w("VmRSS of the service one second after `/healthz` answered (idle: pool open, worker waiting), and "
      "VmHWM (peak RSS) at the end of scenario 1's step, from `/proc/PID/status`. Each step is its own process.")
    w("")
    w("| backend | scenario 1 step | idle RSS MiB | peak RSS MiB |")
    w("|---|---|---|---|")
    for key, r in each_backend(results, "new"):
        for c in p.new_conns:
            for variant in ("emails", "request_path"):
                x = r["new"][(variant, c)].extra
                w(f"| {NAMES[key]} | {c} conns, {variant.replace('_', ' ')} | {x['idle_rss_kib'] / 1024:.1f} | "
                  f"{x['peak_kib'] / 1024:.1f} |")
    w("")


def write_method(w, p):
    w("## How it is measured")
    w("")
    w(f"- **Load**: `wrk` ({p.seconds} s per measurement, `-t` = min(conns, 2), 10 s timeout) with "
      "`bench/wrk.lua`, which makes every scenario-1 body a new release and picks a random existing release "
      "for polls, sends a plain `GET /healthz` for the ceiling (`-- healthz`), and prints the figures "
      "(requests, p50/p99, non-2xx and socket errors). Latency is per request, from wrk's view, on loopback.")
    w("- **Service**: `target/release/greenlight serve`, `RUST_LOG=warn,greenlight::startup=info` (the one "
      "startup line logs the settings in effect, which the machine table prints), approvers from "
      "`bench/stubs.py approvers` (three approvers per release), emails to `bench/stubs.py smtp` (aiosmtpd; "
      "records each message's arrival time, Message-ID and subject). Everything on 127.0.0.1.")
    w("- **Baselines**: PostgreSQL: `pgbench -M prepared` with `bench/pgbench/new_release.sql` and "
      "`bench/pgbench/poll.sql`, `-j` = min(clients, 2), latencies from its per-transaction log. SQLite: "
      "`bench/sqlite-baseline` (Rust, rusqlite over the same bundled SQLite as the service, one connection "
      "per thread) with the service's pragmas: WAL, foreign_keys ON, busy_timeout = the service's "
      "`GREENLIGHT_DB_TIMEOUT` (5s unless set), and the synchronous mode the service it is compared with "
      "logged at start, passed as `SQLITE_SYNCHRONOUS`: FULL, the service's default, unless "
      "`GREENLIGHT_SQLITE_SYNCHRONOUS` is set; each mode for its own column of *the cost of "
      "synchronous=FULL*. The baseline's threads each commit their own transaction, waiting for SQLite's "
      "write lock (`BEGIN IMMEDIATE`, in the busy handler); the service sends every write of a process to one "
      "writer thread that commits whatever is waiting as one transaction (group commit), so under "
      "concurrency it can exceed a baseline bound by one disk sync per release. Their "
      "schema is the service's own: `greenlight migrate` creates every baseline database.")
    w("- **Baseline SQL**: new release = `BEGIN; INSERT INTO releases … ON CONFLICT DO NOTHING RETURNING id; "
      "INSERT INTO events … 'release.created'; "
      "INSERT INTO jobs … 'process_release' (due now); INSERT INTO jobs … 'expire_release' (due at the "
      "release's expires_at); COMMIT`, both jobs with kind, subject, payload `{\"release_pk\":<id>}`, "
      "max_attempts 20, run_at and created_at (what `lifecycle::create` writes). Poll = `SELECT … FROM releases "
      "WHERE team_project = $1 AND release_id = $2 LIMIT 1` then `SELECT … FROM approvals WHERE release_pk = "
      "$1 ORDER BY id`. The service does more per request than its baseline: a new release first tries the "
      "poll's select (a miss), then runs the same transaction, its `RETURNING` reading back the whole row.")
    w("- **Seeding** (scenarios 2 and 4): pending releases with 3 emailed approvals each, timestamps as the app "
      "writes them (UTC; on SQLite text `YYYY-MM-DD HH:MM:SS.ffffff`), created within the last day so none "
      "expires during a poll; SQLite with a recursive CTE, PostgreSQL with generate_series (foreign-key "
      "triggers off during the load, the token index re-added after it, then VACUUM ANALYZE).")
    w("- **End to end**: the POSTs are sent by `bench/bench.py` itself (Python `http.client`, keep-alive "
      "connections); it then reads the sink's log for the 3 emails of each release, matched by the subject's "
      "`(Bench #<id>)`.")
    w("- **Checks** that make the run fail (exit status 1, listed under *Problems* above): non-2xx answers or "
      "socket errors, fewer releases stored than answered, baseline transaction failures, releases whose 3 "
      "emails did not arrive, duplicate emails, WARN/ERROR lines in the service's log during scenario 1, a "
      "SQLite service or baseline that ran with another synchronous mode than it was given.")
    w("")


def dump_raw(results: dict, facts: dict, path: Path):
    """Every figure, unrounded, for whoever wants to compare runs."""
    def plain(x):
        if isinstance(x, Result):
            return {"rps": x.rps, "p50_ms": x.p50_ms, "p99_ms": x.p99_ms, "count": x.count,
                    "errors": x.errors, **x.extra}
        if isinstance(x, dict):
            return {("/".join(map(str, k)) if isinstance(k, tuple) else k): plain(v) for k, v in x.items()}
        return x
    path.write_text(json.dumps({"facts": facts, "results": plain(results)}, indent=1, default=str))


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 s per measurement, 20k releases for scale")
    ap.add_argument("--seconds", type=int, help="seconds per measurement (overrides the mode's default)")
    ap.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    ap.add_argument("--scenarios", default="new,polls,e2e,notify,vars,plane",
                    help="comma-separated subset of new (1, 5), polls (2, 4), e2e (3), notify (6), vars (7), plane (8)")
    ap.add_argument("--output", help="report path (default: BENCHMARKS.md, or bench/out/BENCHMARKS.quick.md with --quick)")
    args = ap.parse_args()

    plan = Plan.quick() if args.quick else Plan()
    if args.seconds:
        plan.seconds = args.seconds
    plan.scenarios = tuple(x.strip() for x in args.scenarios.split(","))
    output = Path(args.output) if args.output else (OUT / "BENCHMARKS.quick.md" if args.quick else ROOT / "BENCHMARKS.md")
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="greenlight-bench-"))
    run = Run(plan, workdir)
    # atexit runs last-registered first: stop processes, then remove their files.
    atexit.register(shutil.rmtree, workdir, True)
    atexit.register(run.close)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(130))

    backends = []
    for key in args.backends.split(","):
        backends.append({"sqlite": Sqlite, "postgresql": Postgres}[key.strip()](run))
    facts = machine_facts(backends)
    # Where the SQLite databases live decides what a sync costs (tmpfs: nothing).
    if any(isinstance(db, Sqlite) for db in backends):
        facts["workdir_fs"] = filesystem_of(workdir)
        facts["workdir_fs_text"] = facts["workdir_fs"]["text"]
    print(f"greenlight bench: {plan}, workdir {workdir}", flush=True)
    started = time.time()
    stubs = start_stubs(run)
    results = {}
    for db in backends:
        print(f"== {db.name}", flush=True)
        scenarios = {"new": scenario_new_releases, "polls": scenario_polls_and_scale, "e2e": scenario_end_to_end,
                     "notify": scenario_notify, "vars": scenario_variables,
                     "plane": lambda run, db, stubs: plane.scenario_plane(run, db, stubs, sys.modules[__name__])}
        results[db.key] = {name: scenarios[name](run, db, stubs) for name in plan.scenarios}
    elapsed = time.time() - started
    facts["load_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    facts["service_settings"] = {db.key: run.service_settings.get(db.key) for db in backends}
    report(run, facts, results, elapsed, output)
    dump_raw(results, facts, OUT / f"{output.stem}.json")
    print(f"\nwrote {output} ({elapsed / 60:.1f} min)", flush=True)
    if run.problems:
        print(f"{len(run.problems)} problem(s): the service misbehaved under load; see the report.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
