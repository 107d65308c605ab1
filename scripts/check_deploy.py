#!/usr/bin/env python3
"""Checks the fields of the deployment files that Greenlight depends on.

Run by scripts/check-deploy.sh after the schema validation (which checks that
every manifest is a well-formed Kubernetes object); this checks what a schema
cannot: that the probes hit the right routes on the right port, that the
secrets come from the Secret, that the Service and the PodDisruptionBudget
select the pods, that docker-compose has a healthcheck on every service...

Standard library and PyYAML only. Prints every violation and exits 1 if any.
Usage: python3 scripts/check_deploy.py [REPO_ROOT]
"""

import os
import re
import sys

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("check_deploy: FAIL: PyYAML is not installed (pip install pyyaml, "
             "or run scripts/check-deploy.sh, which installs it)")

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), ".."))
DEPLOY = os.path.join(ROOT, "deploy")
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")

APP = "greenlight"
SECRET_KEYS = ("GREENLIGHT_SECRET", "DATABASE_URL")
REPLICAS = 2

failures = []
passed = 0


def check(ok, where, message):
    """Records one check; `message` says what is expected."""
    global passed
    if ok:
        passed += 1
    else:
        failures.append(f"{where}: {message}")
    return ok


def rel(path):
    return os.path.relpath(path, ROOT)


def load_all(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        failures.append(f"{rel(path)}: cannot be read as YAML: {e}")
        return []


def dig(obj, *keys, default=None):
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and -len(obj) <= k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


# --- Kubernetes manifests -------------------------------------------------

def manifest_files():
    return sorted(
        os.path.join(DEPLOY, n) for n in os.listdir(DEPLOY)
        if n.endswith((".yaml", ".yml")) and n not in ("kustomization.yaml", "kustomization.yml")
    )


def check_kustomization(files):
    path = os.path.join(DEPLOY, "kustomization.yaml")
    where = rel(path)
    if not check(os.path.exists(path), where, "missing (`kubectl apply -k deploy/` needs it)"):
        return
    docs = load_all(path)
    k = docs[0] if docs else {}
    resources = k.get("resources") or []
    listed = {os.path.normpath(os.path.join(DEPLOY, r)) for r in resources if isinstance(r, str)}
    for r in resources:
        check(os.path.exists(os.path.join(DEPLOY, str(r))), where, f"lists {r!r}, which does not exist")
    for f in files:
        check(f in listed, where, f"does not list {os.path.basename(f)} under resources")


def objects_by_kind(files):
    objs = {}
    for f in files:
        for d in load_all(f):
            if not check(isinstance(d, dict) and "kind" in d, rel(f), "every document is a Kubernetes object with a kind"):
                continue
            objs.setdefault(d["kind"], []).append((rel(f), d))
    return objs


def one(objs, kind, name=APP):
    found = [(f, o) for f, o in objs.get(kind, []) if dig(o, "metadata", "name") == name]
    check(len(found) == 1, "deploy/", f"exactly one {kind} named {name!r} (found {len(found)})")
    return found[0] if found else (None, None)


def selects(selector, labels):
    """Whether a label selector (matchLabels, or a Service's plain map) selects `labels`."""
    match = selector.get("matchLabels", selector) if isinstance(selector, dict) else None
    if not isinstance(match, dict) or not match:
        return False
    if "matchExpressions" in (selector or {}):
        return False  # not used here; keep the check simple and strict
    return all(labels.get(k) == v for k, v in match.items())


def port_matches(probe_port, container):
    """A probe's or Service's port (name or number) names the container's HTTP port."""
    for p in container.get("ports") or []:
        if probe_port in (p.get("name"), p.get("containerPort")):
            return p.get("containerPort")
    return None


def env_source(container, key):
    """Where `key` comes from in a container: ('secret', name), ('configmap', name),
    ('value', v) or None. `env` wins over `envFrom`, as in Kubernetes."""
    for e in container.get("env") or []:
        if e.get("name") == key:
            if "value" in e:
                return ("value", e["value"])
            ref = dig(e, "valueFrom", "secretKeyRef")
            if ref is not None:
                return ("secret", ref.get("name"), ref.get("key"))
            ref = dig(e, "valueFrom", "configMapKeyRef")
            if ref is not None:
                return ("configmap", ref.get("name"), ref.get("key"))
            return ("other",)
    return None


def env_from(container, kind):
    field = {"secret": "secretRef", "configmap": "configMapRef"}[kind]
    return [dig(e, field, "name") for e in container.get("envFrom") or [] if field in e]


def check_manifests():
    if not check(os.path.isdir(DEPLOY), "deploy/", "the Kubernetes manifests' folder exists"):
        return
    files = manifest_files()
    check_kustomization(files)
    objs = objects_by_kind(files)

    for f, o in [x for v in objs.values() for x in v]:
        if o.get("kind") != "Namespace":
            check(dig(o, "metadata", "namespace") in (None, APP), f,
                  f"{o['kind']} {dig(o, 'metadata', 'name')} is in namespace {APP!r}")

    # Secret and ConfigMap.
    sf, secret = one(objs, "Secret")
    secret_data = {}
    if secret:
        secret_data = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
        for key in SECRET_KEYS:
            check(key in secret_data, sf, f"Secret {APP} holds {key}")
    cf, cm = one(objs, "ConfigMap")
    cm_data = (cm or {}).get("data") or {}
    for key in SECRET_KEYS:
        check(key not in cm_data, cf or "deploy/", f"{key} is a secret: not in the ConfigMap")

    # Deployment.
    df, dep = one(objs, "Deployment")
    if not dep:
        return
    check(dig(dep, "spec", "replicas") == REPLICAS, df,
          f"spec.replicas is {REPLICAS} (found {dig(dep, 'spec', 'replicas')!r})")
    pod = dig(dep, "spec", "template", "spec") or {}
    pod_labels = dig(dep, "spec", "template", "metadata", "labels") or {}
    check(selects(dig(dep, "spec", "selector") or {}, pod_labels), df,
          "spec.selector.matchLabels selects the pod template's labels")
    containers = pod.get("containers") or []
    main = next((c for c in containers if c.get("name") == APP), containers[0] if containers else None)
    if not check(main is not None, df, f"a container named {APP!r}"):
        return
    cname = f"container {main.get('name')}"
    ports = [p.get("containerPort") for p in main.get("ports") or []]
    check(len(ports) >= 1 and all(isinstance(p, int) for p in ports), df, f"{cname} declares its containerPort")
    http_port = ports[0] if ports else None

    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = dig(main, probe, "httpGet")
        if not check(isinstance(get, dict), df, f"{cname} has a {probe} with httpGet"):
            continue
        check(get.get("path") == path, df, f"{cname} {probe}.httpGet.path is {path} (found {get.get('path')!r})")
        check(http_port is not None and port_matches(get.get("port"), main) == http_port, df,
              f"{cname} {probe}.httpGet.port is the container port {http_port} (found {get.get('port')!r})")
    start = dig(main, "startupProbe", "httpGet")
    if start is not None:
        check(start.get("path") in ("/healthz", "/readyz") and port_matches(start.get("port"), main) == http_port,
              df, f"{cname} startupProbe hits /healthz or /readyz on port {http_port}")

    # The app listens where the probes look, and beyond loopback.
    listen = str(cm_data.get("GREENLIGHT_LISTEN", ""))
    m = re.fullmatch(r"(.*):(\d+)", listen)
    check(m is not None and int(m.group(2)) == http_port and m.group(1) not in ("127.0.0.1", "localhost", "[::1]"),
          cf or df, f"GREENLIGHT_LISTEN in the ConfigMap is 0.0.0.0:{http_port} or like it (found {listen!r})")

    # Secrets come from the Secret, in every container (the init container migrates with them).
    for c in containers + (pod.get("initContainers") or []):
        cn = f"container {c.get('name')}"
        for key in SECRET_KEYS:
            src = env_source(c, key)
            if src is not None:
                ok = src[0] == "secret" and src[1] == APP and src[2] == key
            else:
                ok = APP in env_from(c, "secret") and key in secret_data
            check(ok, df, f"{cn} takes {key} from Secret {APP} (secretKeyRef or envFrom secretRef); found {src!r}")
        for name in env_from(c, "configmap"):
            check(name == APP and cm is not None, df, f"{cn} envFrom configMapRef {name!r} is the ConfigMap {APP!r}")
        for name in env_from(c, "secret"):
            check(name == APP and secret is not None, df, f"{cn} envFrom secretRef {name!r} is the Secret {APP!r}")

    # Security context and the disk.
    sc = {**(pod.get("securityContext") or {}), **(main.get("securityContext") or {})}
    check(sc.get("runAsNonRoot") is True, df, f"{cname} runs with runAsNonRoot: true")
    check(isinstance(sc.get("runAsUser"), int) and sc.get("runAsUser") != 0, df,
          f"{cname} has a numeric non-zero runAsUser (runAsNonRoot cannot verify a user name)")
    check(sc.get("allowPrivilegeEscalation") is False, df, f"{cname} has allowPrivilegeEscalation: false")
    if sc.get("readOnlyRootFilesystem") is True:
        check("GREENLIGHT_SMTP_URL" in cm_data or "GREENLIGHT_SMTP_URL" in secret_data, cf or df,
              "GREENLIGHT_SMTP_URL is set (without it emails are written to ./outbox, "
              "which readOnlyRootFilesystem refuses)")
    res = main.get("resources") or {}
    check(bool(res.get("requests")) and bool(res.get("limits")), df, f"{cname} has resource requests and limits")

    # Prometheus annotations name the HTTP port and /metrics.
    ann = dig(dep, "spec", "template", "metadata", "annotations") or {}
    check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/path") == "/metrics"
          and str(ann.get("prometheus.io/port")) == str(http_port), df,
          f"pod template annotations prometheus.io/scrape \"true\", path /metrics, port {http_port}")

    # Service.
    vf, svc = one(objs, "Service")
    if svc:
        check(selects(dig(svc, "spec", "selector") or {}, pod_labels), vf, "the Service selects the Deployment's pods")
        sports = dig(svc, "spec", "ports") or []
        check(any(p.get("port") == 80 and port_matches(p.get("targetPort"), main) == http_port for p in sports),
              vf, f"the Service maps port 80 to the container port {http_port}")

    # PodDisruptionBudget.
    pf, pdb = one(objs, "PodDisruptionBudget")
    if pdb:
        check(selects(dig(pdb, "spec", "selector") or {}, pod_labels), pf,
              "the PodDisruptionBudget selects the Deployment's pods")
        mina = dig(pdb, "spec", "minAvailable")
        check(isinstance(mina, int) and 1 <= mina < REPLICAS, pf,
              f"minAvailable is at least 1 and below the {REPLICAS} replicas, so that drains can proceed (found {mina!r})")


# --- docker-compose.yml --------------------------------------------------

def check_compose():
    where = rel(COMPOSE)
    docs = load_all(COMPOSE)
    if not check(len(docs) == 1 and isinstance(docs[0], dict), where, "one YAML mapping"):
        return
    services = docs[0].get("services") or {}
    for name in ("greenlight", "postgres", "mailpit"):
        check(name in services, where, f"has a service {name!r}")
    for name, svc in services.items():
        hc = (svc or {}).get("healthcheck")
        test = (hc or {}).get("test")
        check(isinstance(hc, dict) and not hc.get("disable") and bool(test) and test not in (["NONE"], "NONE"),
              where, f"service {name} has a healthcheck with a test")
    gl = services.get("greenlight") or {}
    deps = gl.get("depends_on")
    for dep in ("postgres", "mailpit"):
        cond = dig(deps, dep, "condition") if isinstance(deps, dict) else None
        check(cond == "service_healthy", where,
              f"greenlight depends_on {dep} with condition service_healthy (found {cond!r})")
    # A healthcheck command must exist in the image built from the Dockerfile.
    test = dig(gl, "healthcheck", "test") or []
    cmd = " ".join(test) if isinstance(test, list) else str(test)
    if "curl" in cmd and gl.get("build") is not None:
        try:
            with open(DOCKERFILE, encoding="utf-8") as f:
                stages = re.split(r"(?im)^FROM\s", f.read())
            runtime = stages[-1]
        except OSError:
            runtime = ""
        check(re.search(r"apt-get install[^\n]*\bcurl\b", runtime) is not None, rel(DOCKERFILE),
              "the runtime stage installs curl, which greenlight's compose healthcheck runs")


def main():
    check_manifests()
    check_compose()
    if failures:
        for f in failures:
            print(f"check_deploy: FAIL: {f}", file=sys.stderr)
        print(f"check_deploy: {len(failures)} of {len(failures) + passed} checks FAILED", file=sys.stderr)
        return 1
    print(f"check_deploy: all {passed} checks of deploy/ and docker-compose.yml passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
