#!/usr/bin/env bash
# The README's first command: set up pipelinectl in .venv and run the main job on the example
# pipelines against the built-in local platform. Today the main job is `validate`; build,
# render, delivery and a local run join it as those commands land.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$python" -m venv .venv
fi
echo "== installing pipelinectl into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --editable .
pipelinectl="$PWD/.venv/bin/pipelinectl"

echo "== pipelinectl validate examples/   (built-in local platform)"
"$pipelinectl" validate examples/

echo
echo "== the same check on a broken copy of examples/python-etl (this one is meant to fail)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git init --quiet "$scratch"
cp -R examples/python-etl "$scratch/etl"
sed -i -e 's/version: "3.12"/version: 3.10/' -e 's/^  - name: \(.*\)/  - name: \1-Step/' \
  "$scratch/etl/pipeline.yaml"
set +e
(cd "$scratch" && "$pipelinectl" validate)
status=$?
set -e
echo "(exit code $status: 1 means the problems above were found, as intended)"
[ "$status" -eq 1 ]

echo
echo "Done. Next: .venv/bin/pipelinectl init --language r|python DIR scaffolds a pipeline of your own."
