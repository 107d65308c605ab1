# Sourced by the scripts that run a Python tool from PyPI (check-deploy.sh,
# api-fuzz.sh). Needs $PYTHON.
#
# pip_tool PACKAGE VERSION CHECK: sets PIP_TOOL_DIR to a folder holding
# PACKAGE==VERSION for this Python, installing it there the first time.
# CHECK is Python code, given VERSION as argv[1], that exits 0 when the
# folder's copy is usable. One folder per tool, version and Python version
# (wheels hold compiled code), under GREENLIGHT_TOOLS_DIR (default
# ~/.cache/greenlight). pip's --target: no virtualenv (python3-venv) needed,
# nothing of the system's Python changed, and Debian's externally managed
# Python (PEP 668) accepts it without --break-system-packages.
pip_tool() {
  local package=$1 version=$2 check=$3 py_version
  py_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  PIP_TOOL_DIR=${GREENLIGHT_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/greenlight}/$package-$version-py$py_version
  PYTHONPATH="$PIP_TOOL_DIR" "$PYTHON" -c "$check" "$version" 2>/dev/null && return 0
  if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    echo "$PYTHON -m pip is missing (Debian: apt-get install python3-pip)" >&2
    return 1
  fi
  echo "installing $package==$version into $PIP_TOOL_DIR"
  rm -rf "$PIP_TOOL_DIR" "$PIP_TOOL_DIR.tmp"
  mkdir -p "$(dirname "$PIP_TOOL_DIR")"
  if ! PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$PYTHON" -m pip install --quiet --no-warn-script-location --target "$PIP_TOOL_DIR.tmp" \
    "$package==$version"; then
    echo "could not install $package==$version from PyPI (see above)" >&2
    return 1
  fi
  mv "$PIP_TOOL_DIR.tmp" "$PIP_TOOL_DIR"
  if ! PYTHONPATH="$PIP_TOOL_DIR" "$PYTHON" -c "$check" "$version" 2>/dev/null; then
    echo "$package==$version installed into $PIP_TOOL_DIR but cannot be imported" >&2
    return 1
  fi
}
