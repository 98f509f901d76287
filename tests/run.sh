#!/usr/bin/env bash
# The test command (README, "Run the tests"): installs pipelinectl with its test tools into
# .venv, then type-checks, lints and runs every test. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --editable '.[test]'

echo "== mypy (strict)"
.venv/bin/mypy
echo "== ruff"
.venv/bin/ruff check pipelinectl tests bench
echo "== pytest"
.venv/bin/python -m pytest "$@"
