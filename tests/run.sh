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

echo "== mypy (strict)"
.venv/bin/mypy
echo "== ruff"
.venv/bin/ruff check pipelinectl tests bench
echo "== pytest"
.venv/bin/python -m pytest "$@"
