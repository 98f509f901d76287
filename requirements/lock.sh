#!/usr/bin/env bash
# Regenerates the committed locks from pyproject.toml (README, "Development"):
#   bash requirements/lock.sh             keep the locked versions that still fit
#   bash requirements/lock.sh --upgrade   the newest releases that fit
# runtime.lock: what pipelinectl needs (examples/quickstart.sh, the tool image);
# dev.lock: that plus the test and docs tools (tests/run.sh). Universal (every platform and
# Python >= 3.11), with hashes; uv comes from dev.lock itself. Renovate reruns the same
# commands from the headers (renovate.json).
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-.venv/bin/uv}
common=(--universal --python-version 3.11 --generate-hashes --quiet "$@")
"$uv" pip compile pyproject.toml requirements/build.in "${common[@]}" -o requirements/runtime.lock
"$uv" pip compile pyproject.toml requirements/build.in --extra test --extra docs "${common[@]}" \
  -o requirements/dev.lock
"$uv" pip compile requirements/airflow.in "${common[@]}" -o requirements/airflow.lock
"$uv" pip compile pyproject.toml requirements/oldest.in --resolution lowest-direct \
  "${common[@]}" -o requirements/oldest.lock
