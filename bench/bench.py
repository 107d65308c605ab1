#!/usr/bin/env python3
"""`make bench`: Greenlight measured against the limit set by its own database.

Every figure that matters is a ratio taken side by side in the same run:
the service under load (wrk over HTTP) next to the same SQL executed straight
against the same kind of database (pgbench on PostgreSQL, bench/sqlite-baseline
on SQLite). The machine is shared and noisy; a ratio survives that better than
an absolute number.

Scenarios, each on SQLite and on PostgreSQL:
  1. new releases   POST /release, a new release per request, at 1/16/64 connections
  2. polls          POST /release and GET /releases/... for existing releases
  3. end to end     POST -> last of the release's 3 emails accepted by the SMTP sink
  4. scale          poll p50 with 1,000 and with 1,000,000 releases stored
  5. memory         RSS idle, and peak (VmHWM) under scenario 1 at 64 connections

Run through bench/run.sh (it installs wrk, aiosmtpd and builds the binaries).
A benchmark reports; it fails only when something is broken (non-2xx answers,
socket errors, lost emails, rows missing), never because a number moved.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
GREENLIGHT = ROOT / "target" / "release" / "greenlight"
SQLITE_BASELINE = OUT / "target" / "release" / "sqlite-baseline"
WRK_SCRIPT = BENCH / "wrk.lua"
PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = os.environ.get("PGPORT", "5432")
PG_USER = os.environ.get("PGUSER", "postgres")

# Service settings the operator may set to experiment (README's table); they
# pass through to every service the bench starts and are printed in the report.
# Every other GREENLIGHT_* variable is removed so that a stray one in the
# caller's shell cannot change what is measured.
TUNABLES = (
    "GREENLIGHT_DB_POOL_SIZE",
    "GREENLIGHT_HTTP_WORKERS",
    "GREENLIGHT_JOB_CONCURRENCY",
    "GREENLIGHT_JOB_POLL_MS",
    "GREENLIGHT_DB_TIMEOUT_MS",
)


@dataclass
class Plan:
    """How long and how big: the full run, or a smoke run with --quick."""

    seconds: int = 8  # per measurement
    new_conns: tuple = (1, 16, 64)
    poll_conns: tuple = (16, 64)
    small: int = 1_000  # releases stored for polls
    large: int = 1_000_000  # releases stored for the scale scenario
    e2e_releases: int = 200  # the burst: all at once, then the drain
    paced_releases: int = 60  # a steady trickle well below the worker's capacity
    paced_rate: int = 10  # releases/s
    scenarios: tuple = ("new", "polls", "e2e")

    @classmethod
    def quick(cls):
        return cls(seconds=2, large=20_000)


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


def wrk(run: Run, port: int, conns: int, mode: str, arg) -> Result:
    """wrk with bench/wrk.lua; its done() prints one WRKJSON line."""
    cmd = [
        "wrk", f"-t{min(conns, 2)}", f"-c{conns}", f"-d{run.plan.seconds}s", "--timeout", "10s",
        "-s", WRK_SCRIPT, f"http://127.0.0.1:{port}", "--", mode, str(arg),
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
            INSERT INTO releases (team_project, release_id, release_name, status,
                                  required_approvals, created_at, expires_at)
            SELECT 'Bench', CAST(i AS TEXT), 'bench', 'pending', 3,
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

    def _baseline(self, args) -> Result:
        cmd = [SQLITE_BASELINE, *args]
        self.run.record(cmd)
        out = json.loads(sh(cmd).strip().splitlines()[-1])
        return Result(out["ops_per_s"], out["p50_ms"], out["p99_ms"], out["operations"], out["errors"])

    def baseline_insert(self, url, conns, prefix) -> Result:
        return self._baseline(["insert", url, conns, self.run.plan.seconds, prefix])

    def baseline_poll(self, url, conns, releases) -> Result:
        return self._baseline(["poll", url, conns, self.run.plan.seconds, releases])


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
            INSERT INTO releases (team_project, release_id, release_name, status,
                                  required_approvals, created_at, expires_at)
            SELECT 'Bench', i::text, 'bench', 'pending', 3, t, t + interval '7 days'
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

    def baseline_insert(self, url, conns, prefix) -> Result:
        return self._pgbench(url, "new_release.sql", conns)

    def baseline_poll(self, url, conns, releases) -> Result:
        return self._pgbench(url, "poll.sql", conns, [f"releases={releases}"])


# --------------------------------------------------------------------------
# The service under test and its two stubs.
# --------------------------------------------------------------------------


@dataclass
class Stubs:
    approvers_port: int
    smtp_port: int
    mail_log: Path

    def approvers_url(self, failing: bool) -> str:
        # /fail/... answers 404: a permanent failure, the release fails after one try.
        base = f"http://127.0.0.1:{self.approvers_port}"
        return base + ("/fail" if failing else "") + "/{team_project}/{release_id}"

    def mail_count(self) -> int:
        with open(self.mail_log, "rb") as f:
            return sum(1 for _ in f)


def start_stubs(run: Run) -> Stubs:
    stubs = Stubs(free_port(), free_port(), run.workdir / "mail.jsonl")
    stubs.mail_log.touch()
    py = sys.executable
    for args in (["approvers", stubs.approvers_port], ["smtp", stubs.smtp_port, stubs.mail_log]):
        cmd = [py, BENCH / "stubs.py", *args]
        run.record(cmd)
        run.spawn(cmd, run.workdir / f"stub-{args[0]}.log")
    for port in (stubs.approvers_port, stubs.smtp_port):
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


def migrate(run: Run, url: str):
    env = {"DATABASE_URL": url, "RUST_LOG": "warn"}
    run.record([GREENLIGHT, "migrate"], env)
    subprocess.run([str(GREENLIGHT), "migrate"], env=service_env(env), check=True,
                   cwd=run.workdir, capture_output=True)


class Service:
    """One greenlight process on a free port, ready once /healthz answers."""

    def __init__(self, run: Run, url: str, stubs: Stubs, failing_approvers=False, label="svc"):
        self.run = run
        self.port = free_port()
        self.log = run.workdir / f"{label}.log"
        # The request-path variant fails every release in the worker on
        # purpose; its one error line per release would only cost CPU.
        rust_log = "warn,greenlight::worker=off" if failing_approvers else "warn"
        self.env = {
            "DATABASE_URL": url,
            "GREENLIGHT_LISTEN": f"127.0.0.1:{self.port}",
            "GREENLIGHT_APPROVERS_URL": stubs.approvers_url(failing_approvers),
            "GREENLIGHT_SMTP_URL": f"smtp://127.0.0.1:{stubs.smtp_port}",
            "GREENLIGHT_SECRET": "bench-secret-0123456789abcdef0123456789",
            "RUST_LOG": rust_log,
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
        text = self.log.read_text(errors="replace")
        return [l for l in text.splitlines() if re.search(pattern, l)]

    def stop(self):
        self.run.stop(self.proc)


# --------------------------------------------------------------------------
# Scenarios.
# --------------------------------------------------------------------------


def scenario_new_releases(run: Run, db, stubs: Stubs) -> dict:
    """1 (and 5): new releases at each concurrency, on a fresh database and a
    fresh process each time (so one step's job backlog cannot slow the next,
    and VmHWM is that step's peak), beside the direct INSERT transaction."""
    out = {}
    for conns in run.plan.new_conns:
        for variant, failing in (("emails", False), ("request_path", True)):
            label = f"{db.key}_new_{variant}_{conns}"
            url = db.create(label)
            svc = Service(run, url, stubs, failing_approvers=failing, label=label)
            time.sleep(1)  # idle: pool open, worker waiting
            idle = svc.memory_kib("VmRSS")
            mails_before = stubs.mail_count()
            r = wrk(run, svc.port, conns, "new", f"{db.key[:2]}{variant[0]}{conns}")
            r.extra.update(
                idle_rss_kib=idle,
                peak_kib=svc.memory_kib("VmHWM"),
                emails_during=stubs.mail_count() - mails_before,
            )
            stored = int(db.scalar(url, "SELECT count(*) FROM releases"))
            r.extra["stored"] = stored
            check_wrk(run, f"{db.name} new releases ({variant}, {conns} conns)", r)
            # Every answered POST created a row; a few more may be in flight at the end.
            if not r.count <= stored <= r.count + conns:
                run.problem(f"{db.name} new releases ({variant}, {conns} conns): {r.count} answered "
                            f"but {stored} releases stored")
            if variant == "emails":
                r.extra["log_problems"] = svc.log_lines()[:5]
                if r.extra["log_problems"]:
                    run.problem(f"{db.name} new releases ({conns} conns): service logged "
                                f"{len(svc.log_lines())} WARN/ERROR lines, e.g. {r.extra['log_problems'][0][:200]}")
            svc.stop()
            db.drop(url)
            out[(variant, conns)] = r
            show(f"{db.name} new {variant:12} c={conns:<3}", r)
        url = db.create(f"{db.key}_new_base_{conns}")
        migrate(run, url)
        b = db.baseline_insert(url, conns, f"b{conns}")
        if b.errors:
            run.problem(f"{db.name} baseline insert at {conns}: {b.errors} errors")
        db.drop(url)
        out[("baseline", conns)] = b
        show(f"{db.name} new baseline     c={conns:<3}", b)
    return out


def seeded_service(run: Run, db, stubs: Stubs, n: int, label: str):
    url = db.create(label)
    migrate(run, url)
    t = time.time()
    db.seed(url, n)
    print(f"  seeded {n:,} releases (+{3 * n:,} approvals) in {time.time() - t:.1f}s", flush=True)
    return url, Service(run, url, stubs, label=label)


def scenario_polls_and_scale(run: Run, db, stubs: Stubs) -> dict:
    """2 and 4: polls against a small store, then the scale comparison with a
    large one. The service runs first and is stopped before its baselines, so
    that 64 pgbench clients and the service's pool never compete for
    PostgreSQL's connection slots (or the CPU)."""
    p, out = run.plan, {}
    url, svc = seeded_service(run, db, stubs, p.small, f"{db.key}_polls_small")
    for conns in p.poll_conns:
        out[("post", conns)] = wrk(run, svc.port, conns, "poll", p.small)
        out[("get", conns)] = wrk(run, svc.port, conns, "get", p.small)
    out[("scale_small", 1)] = wrk(run, svc.port, 1, "poll", p.small)
    out[("scale_small", 16)] = out[("post", 16)] if 16 in p.poll_conns else wrk(run, svc.port, 16, "poll", p.small)
    svc.stop()
    for conns in p.poll_conns:
        out[("baseline", conns)] = db.baseline_poll(url, conns, p.small)
    out[("scale_small_base", 1)] = db.baseline_poll(url, 1, p.small)
    db.drop(url)

    url, svc = seeded_service(run, db, stubs, p.large, f"{db.key}_polls_large")
    out[("scale_large", 1)] = wrk(run, svc.port, 1, "poll", p.large)
    out[("scale_large", 16)] = wrk(run, svc.port, 16, "poll", p.large)
    svc.stop()
    out[("scale_large_base", 1)] = db.baseline_poll(url, 1, p.large)
    db.drop(url)

    for (what, conns), r in out.items():
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
    svc = Service(run, url, stubs, label=f"{db.key}_e2e")
    out = {
        "paced": e2e_round(run, db, svc, stubs, "paced", p.paced_releases, 1, p.paced_rate),
        "burst": e2e_round(run, db, svc, stubs, "burst", p.e2e_releases, 16, None),
    }
    svc.stop()
    db.drop(url)
    return out


def show(label: str, r: Result):
    print(f"  {label}: {r.rps:10.0f}/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms"
          + (f"  ERRORS {r.errors}" if r.errors else ""), flush=True)


# --------------------------------------------------------------------------
# Machine facts and the report.
# --------------------------------------------------------------------------


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


def verdict(ok):
    return "met" if ok else "**missed**"


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
    write_polls(w, results, p)
    write_e2e(w, results, p)
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
    w("Our goals, and where this run stands. A target is never a pass/fail of the benchmark.")
    w("")
    w("| target | backend | measured | |")
    w("|---|---|---|---|")
    for key, r in each_backend(results, "new"):
        new = r["new"]
        for variant, label in (("emails", "with the worker sending emails"), ("request_path", "request path only")):
            ratios = [new[(variant, c)].rps / new[("baseline", c)].rps for c in p.new_conns]
            text = ", ".join(f"{c} conns: {x:.2f}" for c, x in zip(p.new_conns, ratios))
            if key == "postgresql":
                w(f"| new releases ≥ 0.8 × baseline (PostgreSQL) | {NAMES[key]}, {label} | {text} | "
                  f"{verdict(min(ratios) >= 0.8)} |")
            else:
                w(f"| (new releases / baseline, for reference) | {NAMES[key]}, {label} | {text} | |")
    for key, r in each_backend(results, "polls"):
        polls = r["polls"]
        for kind, label in (("post", "POST /release poll"), ("get", "GET /releases/…")):
            rps = [polls[(kind, c)].rps for c in p.poll_conns]
            ratios = [polls[(kind, c)].rps / polls[("baseline", c)].rps for c in p.poll_conns]
            if key == "sqlite":
                w(f"| polls ≥ 15,000 req/s (SQLite) | {NAMES[key]}, {label} | "
                  + ", ".join(f"{c} conns: {rate(x)}/s" for c, x in zip(p.poll_conns, rps))
                  + f" | {verdict(min(rps) >= 15000)} |")
            w(f"| polls ≥ 0.5 × baseline | {NAMES[key]}, {label} | "
              + ", ".join(f"{c} conns: {x:.2f}" for c, x in zip(p.poll_conns, ratios))
              + f" | {verdict(min(ratios) >= 0.5)} |")
    for key, r in each_backend(results, "new"):
        if 16 in p.new_conns:
            for variant, label in (("emails", "with emails"), ("request_path", "request path only")):
                v = r["new"][(variant, 16)].p99_ms
                w(f"| new-release POST p99 < 5 ms at 16 conns | {NAMES[key]}, {label} | {ms(v)} ms | {verdict(v < 5)} |")
    for key, r in each_backend(results, "polls"):
        if 16 in p.poll_conns:
            v = r["polls"][("post", 16)].p99_ms
            w(f"| (poll POST p99 at 16 conns, for reference) | {NAMES[key]} | {ms(v)} ms | |")
    for key, r in each_backend(results, "e2e"):
        for kind in ("paced", "burst"):
            v = r["e2e"][kind]["p50_ms"]
            w(f"| end-to-end p50 < 50 ms | {NAMES[key]}, {kind} | {ms(v)} ms | {verdict(v < 50)} |")
    for key, r in each_backend(results, "polls"):
        for conns in (1, 16):
            small, large = r["polls"][("scale_small", conns)], r["polls"][("scale_large", conns)]
            x = large.p50_ms / small.p50_ms
            w(f"| poll p50 {p.large:,} / {p.small:,} releases ≤ 1.2 | {NAMES[key]}, {conns} conn{'s' * (conns > 1)} | "
              f"{x:.2f} ({ms(large.p50_ms)} / {ms(small.p50_ms)} ms) | {verdict(x <= 1.2)} |")
    for key, r in each_backend(results, "new"):
        if 64 in p.new_conns:
            idle = r["new"][("emails", 64)].extra["idle_rss_kib"] / 1024
            peak = max(r["new"][(v, 64)].extra["peak_kib"] for v in ("emails", "request_path")) / 1024
            w(f"| RSS < 30 MiB idle | {NAMES[key]} | {idle:.1f} MiB | {verdict(idle < 30)} |")
            w(f"| RSS < 100 MiB loaded (64 conns) | {NAMES[key]} | {peak:.1f} MiB | {verdict(peak < 100)} |")
    w("")


def write_machine(w, facts):
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    for key, label in (("cpu", "CPU"), ("memory", "memory"), ("os", "OS"), ("kernel", "kernel"),
                       ("sqlite", "SQLite (bundled, as in the service)"), ("postgresql", "PostgreSQL"),
                       ("postgresql_settings", "PostgreSQL settings"), ("commit", "commit"), ("rustc", "rustc"),
                       ("wrk", "wrk"), ("pgbench", "pgbench"), ("python", "python (stubs)"),
                       ("load_before", "load average before the run"), ("load_after", "load average after the run")):
        if key in facts:
            w(f"| {label} | {facts[key]} |")
    env = facts["service_env"]
    w(f"| service settings | {', '.join(f'{k}={v}' for k, v in env.items()) if env else 'defaults (pool 16, one HTTP worker per core, job concurrency 8)'} |")
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
      "release once: the closest to the request path alone. **Baseline**: the release row and its job row "
      "inserted in one transaction straight against the database, at the same concurrency.")
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


def write_polls(w, results, p):
    if not each_backend(results, "polls"):
        return
    w(f"## 2. Polls: existing releases ({p.small:,} stored, 3 approvals each)")
    w("")
    w("`POST /release` for an existing release (what a pipeline's gate does) and `GET /releases/Bench/<id>`, "
      "a random release per request. Baseline: the point select of the release by (team_project, release_id) "
      "and the select of its approvals, straight against the database.")
    w("")
    w("| backend | conns | what | req/s | p50 ms | p99 ms | Greenlight / baseline | failed |")
    w("|---|---|---|---|---|---|---|---|")
    for key, r in each_backend(results, "polls"):
        polls = r["polls"]
        for c in p.poll_conns:
            b = polls[("baseline", c)]
            for kind, label in (("post", "Greenlight, POST /release"), ("get", "Greenlight, GET /releases/…"),
                                ("baseline", "baseline")):
                x = polls[(kind, c)]
                rt = ratio(x.rps, b.rps) if kind != "baseline" else ""
                w(f"| {NAMES[key]} | {c} | {label} | {rate(x.rps)} | {ms(x.p50_ms)} | {ms(x.p99_ms)} | {rt} | {x.errors} |")
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
      "for polls, and prints the figures (requests, p50/p99, non-2xx and socket errors). Latency is per "
      "request, from wrk's view, on loopback.")
    w("- **Service**: `target/release/greenlight serve`, `RUST_LOG=warn`, approvers from "
      "`bench/stubs.py approvers` (three approvers per release), emails to `bench/stubs.py smtp` (aiosmtpd; "
      "records each message's arrival time, Message-ID and subject). Everything on 127.0.0.1.")
    w("- **Baselines**: PostgreSQL: `pgbench -M prepared` with `bench/pgbench/new_release.sql` and "
      "`bench/pgbench/poll.sql`, `-j` = min(clients, 2), latencies from its per-transaction log. SQLite: "
      "`bench/sqlite-baseline` (Rust, rusqlite over the same bundled SQLite as the service, one connection "
      "per thread, the service's pragmas: busy_timeout 15000, WAL, synchronous NORMAL, foreign_keys ON). Their "
      "schema is the service's own: `greenlight migrate` creates every baseline database.")
    w("- **Baseline SQL**: new release = `BEGIN; INSERT INTO releases … ON CONFLICT DO NOTHING RETURNING id; "
      "INSERT INTO jobs …; COMMIT` (what `releases::insert_with_job` writes). Poll = `SELECT … FROM releases "
      "WHERE team_project = $1 AND release_id = $2 LIMIT 1` then `SELECT … FROM approvals WHERE release_pk = "
      "$1 ORDER BY id`. The service does more per request than its baseline: a new release first tries the "
      "poll's select, then inserts, re-reads the row and selects its approvals.")
    w("- **Seeding** (scenarios 2 and 4): pending releases with 3 emailed approvals each, timestamps as the app "
      "writes them (UTC; on SQLite text `YYYY-MM-DD HH:MM:SS.ffffff`), created within the last day so none "
      "expires during a poll; SQLite with a recursive CTE, PostgreSQL with generate_series (foreign-key "
      "triggers off during the load, the token index re-added after it, then VACUUM ANALYZE).")
    w("- **End to end**: the POSTs are sent by `bench/bench.py` itself (Python `http.client`, keep-alive "
      "connections); it then reads the sink's log for the 3 emails of each release, matched by the subject's "
      "`(Bench #<id>)`.")
    w("- **Checks** that make the run fail (exit status 1, listed under *Problems* above): non-2xx answers or "
      "socket errors, fewer releases stored than answered, baseline transaction failures, releases whose 3 "
      "emails did not arrive, duplicate emails, WARN/ERROR lines in the service's log during scenario 1.")
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
    ap.add_argument("--scenarios", default="new,polls,e2e",
                    help="comma-separated subset of new (1, 5), polls (2, 4), e2e (3)")
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
    print(f"greenlight bench: {plan}, workdir {workdir}", flush=True)
    started = time.time()
    stubs = start_stubs(run)
    results = {}
    for db in backends:
        print(f"== {db.name}", flush=True)
        scenarios = {"new": scenario_new_releases, "polls": scenario_polls_and_scale, "e2e": scenario_end_to_end}
        results[db.key] = {name: scenarios[name](run, db, stubs) for name in plan.scenarios}
    elapsed = time.time() - started
    facts["load_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    report(run, facts, results, elapsed, output)
    dump_raw(results, facts, OUT / f"{output.stem}.json")
    print(f"\nwrote {output} ({elapsed / 60:.1f} min)", flush=True)
    if run.problems:
        print(f"{len(run.problems)} problem(s): the service misbehaved under load; see the report.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
