#!/usr/bin/env bash
# Validates the deployment files without a Docker engine or a cluster:
#   1. docker-compose.yml with `docker-compose config -q` (Debian's 1.29);
#   2. every Kubernetes manifest in deploy/ against the Kubernetes API's JSON
#      schemas, strictly (an unknown or misspelt field is an error), with
#      kubernetes-validate from PyPI, which bundles the schemas and works
#      offline; installed by this script on first use;
#   3. the fields Greenlight depends on (scripts/check_deploy.py): probes on
#      /readyz and /healthz, two replicas, secrets from the Secret, compose
#      healthchecks and depends_on...
# Exits non-zero, saying what is wrong, at the first step that fails.
#
# Environment: PYTHON (default python3); GREENLIGHT_K8S_VERSIONS, the
# Kubernetes versions to validate against (default "1.30 1.37", from 1.25 to
# 1.37 are bundled); GREENLIGHT_TOOLS_DIR, where the validator is installed
# (default ~/.cache/greenlight; see scripts/pip-tool.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VALIDATE_VERSION=1.37.0
PYTHON=${PYTHON:-python3}
read -r -a k8s_versions <<<"${GREENLIGHT_K8S_VERSIONS:-1.30 1.37}"

fail() {
  echo "check-deploy: FAIL: $*" >&2
  exit 1
}

echo "== docker-compose -f docker-compose.yml config -q"
command -v docker-compose >/dev/null 2>&1 ||
  fail "docker-compose is not installed (Debian: apt-get install docker-compose)"
docker-compose -f docker-compose.yml config -q ||
  fail "docker-compose.yml is not valid for docker-compose $(docker-compose version --short 2>/dev/null) (see above)"
echo "docker-compose.yml: valid"

echo "== kubernetes-validate $KUBERNETES_VALIDATE_VERSION (strict)"
command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON is not installed (Debian: apt-get install python3 python3-pip)"
# shellcheck source=scripts/pip-tool.sh
. scripts/pip-tool.sh
pip_tool kubernetes-validate "$KUBERNETES_VALIDATE_VERSION" '
import sys, kubernetes_validate.version as v, yaml
sys.exit(v.__version__ != sys.argv[1])' ||
  fail "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION is not available (above)"
export PYTHONPATH="$PIP_TOOL_DIR${PYTHONPATH:+:$PYTHONPATH}"

manifests=()
for f in deploy/*.yaml deploy/*.yml; do
  [ -e "$f" ] || continue
  case "$(basename "$f")" in kustomization.yaml | kustomization.yml) continue ;; esac
  manifests+=("$f")
done
[ ${#manifests[@]} -gt 0 ] || fail "no Kubernetes manifests found in deploy/"
k_args=()
for v in "${k8s_versions[@]}"; do k_args+=(-k "$v"); done
# --strict refuses unknown fields; exit status non-zero on any error.
"$PYTHON" -m kubernetes_validate --strict --quiet "${k_args[@]}" "${manifests[@]}" ||
  fail "a manifest in deploy/ does not match the Kubernetes schema (see the ERROR lines above)"
echo "${#manifests[@]} manifests valid against Kubernetes ${k8s_versions[*]}: ${manifests[*]}"

echo "== scripts/check_deploy.py"
"$PYTHON" scripts/check_deploy.py ||
  fail "deploy/ or docker-compose.yml lacks a field Greenlight depends on (see the FAIL lines above)"
echo "check-deploy: OK"
