"""Scenario 8 of `make bench`: the release control plane's own targets.

Each figure is measured on a fresh database and a fresh service, the way
its wing is used:

  deployments  `POST /deployments`, a new deployment per request, 16 conns (wrk)
  follow       a chunk appended (`POST …/logs`) → received by a follower
               (`GET …/logs?follow=true`) on the same replica, and on
               another replica of the same database
  claim        a runner long-polling `POST /runners/claim` → the deployment
               created meanwhile received
  provisioning `GET /provisioning/{id}` of a version with 100 instances, 16 conns (wrk)
  stacks       `POST /stacks/request` with 1,000 stacks in the pool, 16 conns
               (wrk); a release → the waiting request granted

bench.py imports this module; it uses bench.py's Service, wrk and the
report's helpers, handed in as `b` so that the import runs one way.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

JSON = {"Content-Type": "application/json"}


def call(port: int, method: str, path: str, body=None, headers=None, timeout=70):
    """One request on a new connection: (status, headers, parsed JSON or text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
    c.request(method, path, body=data, headers={**(JSON if body is not None else {}), **(headers or {})})
    r = c.getresponse()
    raw = r.read()
    c.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return r.status, dict(r.getheaders()), parsed


def must(run, what: str, got, *ok):
    status = got[0]
    if status not in ok:
        run.problem(f"plane: {what} answered {status}: {str(got[2])[:300]}")
        return None
    return got[2]


def deployment(port: int, sha: str, project="Bench", environment="staging") -> tuple:
    return call(port, "POST", "/deployments", {
        "repository_url": "github.com/bench/app", "commit_sha": sha,
        "environment": environment, "team_project": project})


class Follower(threading.Thread):
    """`GET /deployments/{id}/logs?follow=true`, noting when each line came."""

    def __init__(self, port: int, dep_id: str):
        super().__init__(daemon=True)
        self.port, self.dep_id = port, dep_id
        self.arrivals: dict[str, float] = {}
        self.ready = threading.Event()
        self.error = None

    def run(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            c.request("GET", f"/deployments/{self.dep_id}/logs?follow=true")
            r = c.getresponse()
            if r.status != 200:
                self.error = f"follow answered {r.status}"
                return
            self.ready.set()
            while True:
                line = r.readline()
                if not line:
                    return
                self.arrivals.setdefault(line.decode(errors="replace").strip(), time.time())
        except Exception as e:  # noqa: BLE001 - reported as a problem
            self.error = repr(e)
        finally:
            self.ready.set()


def follow_latency(run, b, writer_port: int, reader_port: int, n: int, label: str) -> list[float]:
    """n chunks appended on `writer_port`, each timed to its arrival at a
    follower on `reader_port`; the deployment then ends, closing the stream."""
    got = deployment(writer_port, f"f011{label.encode().hex()[:8]}".ljust(12, "0"))
    doc = must(run, f"{label}: POST /deployments", got, 201)
    if doc is None:
        return []
    dep = doc["id"]
    follower = Follower(reader_port, dep)
    follower.start()
    follower.ready.wait(10)
    time.sleep(0.2)  # the follower has read what is stored and waits
    sent = {}
    for i in range(n):
        mark = f"mark-{i}"
        sent[mark] = time.time()
        must(run, f"{label}: append", call(writer_port, "POST", f"/deployments/{dep}/logs", f"{mark}\n",
                                           {"Content-Type": "text/plain"}), 200, 201, 202)
        deadline = time.time() + 5
        while mark not in follower.arrivals and time.time() < deadline:
            time.sleep(0.0005)
    must(run, f"{label}: success", call(writer_port, "POST", f"/deployments/{dep}/statuses",
                                        {"state": "success"}), 200, 201)
    follower.join(10)
    if follower.error:
        run.problem(f"plane: {label}: {follower.error}")
    lost = [m for m in sent if m not in follower.arrivals]
    if lost:
        run.problem(f"plane: {label}: {len(lost)} of {n} chunks never reached the follower")
    return sorted((follower.arrivals[m] - t) * 1000 for m, t in sent.items() if m in follower.arrivals)


def claim_latency(run, port: int, n: int) -> list[float]:
    """A runner waits in `POST /runners/claim`; a deployment is created; the
    time from just before that `POST /deployments` to the claim's answer."""
    out = []
    for i in range(n):
        answer = {}

        def claim():
            answer["got"] = call(port, "POST", "/runners/claim",
                                 {"environments": ["claims"], "team_projects": ["Bench"], "wait": 30})
            answer["t"] = time.time()

        t = threading.Thread(target=claim, daemon=True)
        t.start()
        time.sleep(0.3)  # the claim is waiting
        start = time.time()
        must(run, "claim: POST /deployments", deployment(port, f"c1a1{i:08x}", environment="claims"), 201)
        t.join(35)
        if must(run, "claim", answer.get("got", (0, {}, "no answer")), 200) is None:
            continue
        out.append((answer["t"] - start) * 1000)
        dep = answer["got"][2]["id"]
        token = answer["got"][2]["claim"]["token"]
        call(port, "POST", f"/deployments/{dep}/statuses", {"state": "success"}, {"Greenlight-Claim": token})
    return sorted(out)


def waiter_latency(run, port: int, n: int) -> list[float]:
    """A one-stack project: the holder releases; the time from just before
    that release to the waiting request's grant."""
    out = []
    held = must(run, "stacks: first lease", call(port, "POST", "/stacks/request",
                                                 {"branch": "holder-0", "team_project": "Wait", "wait": 0}), 200)
    if held is None:
        return out
    for i in range(n):
        answer = {}

        def wait():
            answer["got"] = call(port, "POST", "/stacks/request",
                                 {"branch": f"waiter-{i}", "team_project": "Wait", "wait": 30})
            answer["t"] = time.time()

        t = threading.Thread(target=wait, daemon=True)
        t.start()
        time.sleep(0.3)  # the request is waiting
        start = time.time()
        must(run, "stacks: release", call(port, "POST", f"/stacks/{held['stackName']}/release?team_project=Wait", None,
                                          {"Greenlight-Lease": held["lease"]["token"]}), 200, 204)
        t.join(35)
        granted = must(run, "stacks: waiter", answer.get("got", (0, {}, "no answer")), 200)
        if granted is None:
            return sorted(out)
        out.append((answer["t"] - start) * 1000)
        held = granted
    return sorted(out)


def scenario_plane(run, db, stubs, b) -> dict:
    p = run.plan
    res = {}
    config = run.workdir / "plane.toml"
    config.write_text('[projects.Wait]\nmax_stacks = 1\n')
    key = "GREENLIGHT_ENCRYPTION_KEY"
    env = {"GREENLIGHT_CONFIG": str(config), key: "YmVuY2gtZW5jcnlwdGlvbi1rZXktb2YtMzItYnl0ZXM="}

    # Deployments, follow on one replica, claims.
    url = db.create(f"{db.key}_plane")
    svc = b.Service(run, db, url, stubs, label=f"{db.key}_plane", extra_env=env)
    r = b.wrk(run, svc.port, 16, "deploy", f"{db.key}{int(time.time()) % 100000:05d}")
    b.check_wrk(run, f"{db.name} POST /deployments", r)
    b.show(f"{db.name} POST /deployments, 16 conns", r)
    res["deploy"] = r
    res["follow_same"] = follow_latency(run, b, svc.port, svc.port, p.plane_samples, "follow")
    res["claim"] = claim_latency(run, svc.port, p.plane_samples)

    # Provisioning: a version with 100 instances.
    doc = must(run, "POST /provisioning", call(svc.port, "POST", "/provisioning/Bench", {
        "provisioned_version": {"stack_name": "Demo", "version": "1.0.0", "environment": "Production"}}), 201)
    if doc is not None:
        vid = doc["provisioned_version"]["id"]
        instances = [{"provisioned_instance": {"instance_type": "vm", "instance_id": f"i-{i}",
                                               "resource_id": f"r-{i}", "properties": {"zone": "a", "n": i}}}
                     for i in range(100)]
        must(run, "POST instances", call(svc.port, "POST", f"/provisioning/{vid}/instances",
                                         {"instances": instances}), 200)
        r = b.wrk(run, svc.port, 16, "path", f"/provisioning/{vid}")
        b.check_wrk(run, f"{db.name} GET /provisioning/id", r)
        b.show(f"{db.name} GET /provisioning/{{id}} (100 instances), 16 conns", r)
        res["provisioning"] = r

    # Stacks: 1,000 in the pool (leased once each, then released).
    for i in range(1000):
        got = must(run, "stacks: fill", call(svc.port, "POST", "/stacks/request",
                                             {"branch": f"fill-{i}", "team_project": "Bench"}), 200)
        if got is None:
            break
        must(run, "stacks: fill release", call(svc.port, "POST", f"/stacks/{got['stackName']}/release?team_project=Bench", None,
                                               {"Greenlight-Lease": got["lease"]["token"]}), 200, 204)
    r = b.wrk(run, svc.port, 16, "stack", f"{db.key}{int(time.time()) % 100000:05d}")
    b.check_wrk(run, f"{db.name} POST /stacks/request", r)
    b.show(f"{db.name} POST /stacks/request (1,000 stacks), 16 conns", r)
    res["stacks"] = r
    res["waiter"] = waiter_latency(run, svc.port, p.plane_samples)
    svc.stop()

    # Follow across two replicas of one database.
    other = b.Service(run, db, url, stubs, label=f"{db.key}_plane_b", extra_env=env)
    again = b.Service(run, db, url, stubs, label=f"{db.key}_plane_c", extra_env=env)
    res["follow_across"] = follow_latency(run, b, other.port, again.port, p.plane_samples, "across")
    other.stop()
    again.stop()
    db.drop(url)

    pct = b.percentile
    for name in ("follow_same", "follow_across", "claim", "waiter"):
        v = res[name]
        print(f"  {db.name} {name}: p50 {pct(v, 50):.1f} ms p99 {pct(v, 99):.1f} ms ({len(v)} samples)", flush=True)
    return res


def target_rows(row, results, b):
    """The control plane's rows of the Targets table (issue 26's list)."""
    ms, pct = b.ms, b.percentile
    for key, r in b.each_backend(results, "plane"):
        x = r["plane"]
        sqlite = key == "sqlite"
        row("`POST /deployments` p99, 16 conns", key, f"{ms(x['deploy'].p99_ms)} ms",
            "< 5 ms" if sqlite else None, b.below(x["deploy"].p99_ms, 5))
        v = pct(x["follow_same"], 50)
        row("log append → follower received, same replica: p50", key, f"{ms(v)} ms", "< 50 ms", b.below(v, 50))
        v = pct(x["follow_across"], 50)
        row("log append → follower received, across replicas: p50", key, f"{ms(v)} ms",
            None if sqlite else "< 250 ms", b.below(v, 250))
        v = pct(x["claim"], 50)
        row("deployment queued → waiting runner's claim answered: p50", key, f"{ms(v)} ms", "< 100 ms",
            b.below(v, 100))
        if "provisioning" in x:
            row("`GET /provisioning/{id}`, 100 instances: p99, 16 conns", key,
                f"{ms(x['provisioning'].p99_ms)} ms", "< 5 ms" if sqlite else None,
                b.below(x["provisioning"].p99_ms, 5))
        if "stacks" in x:
            row("`POST /stacks/request`, 1,000 stacks: p99, 16 conns", key, f"{ms(x['stacks'].p99_ms)} ms",
                "< 5 ms" if sqlite else None, b.below(x["stacks"].p99_ms, 5))
        v = pct(x["waiter"], 50)
        row("stack released → waiting request granted: p50", key, f"{ms(v)} ms", "< 50 ms", b.below(v, 50))


def write_plane(w, results, p, b):
    if not b.each_backend(results, "plane"):
        return
    ms, pct = b.ms, b.percentile
    w("## 8. The control plane: deployments, logs, runners, inventory, stacks")
    w("")
    w("One fresh database and service per backend. Throughput rows are wrk at 16 connections for "
      f"{p.seconds} s; latency rows are {p.plane_samples} samples, one at a time, each timed from just "
      "before the request that causes it to the moment the waiting client read it: a log chunk at a "
      "follower (`?follow=true`, on the same replica and on a second replica of the same database), a "
      "deployment at a runner long-polling `POST /runners/claim`, a stack at a request waiting in a "
      "one-stack project's queue.")
    w("")
    w("| backend | measure | req/s | p50 ms | p99 ms |")
    w("|---|---|---|---|---|")
    for key, r in b.each_backend(results, "plane"):
        x = r["plane"]
        name = b.NAMES[key]
        for label, k in (("`POST /deployments`", "deploy"), ("`GET /provisioning/{id}` (100 instances)", "provisioning"),
                         ("`POST /stacks/request` (1,000 stacks)", "stacks")):
            if k in x:
                v = x[k]
                w(f"| {name} | {label} | {b.rate(v.rps)} | {ms(v.p50_ms)} | {ms(v.p99_ms)} |")
        for label, k in (("append → follower, same replica", "follow_same"),
                         ("append → follower, across replicas", "follow_across"),
                         ("queued → claim answered", "claim"), ("release → waiter granted", "waiter")):
            v = x[k]
            w(f"| {name} | {label} ({len(v)}) | | {ms(pct(v, 50))} | {ms(pct(v, 99))} |")
    w("")
