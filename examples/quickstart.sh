#!/usr/bin/env bash
# The README's first command. On a fresh Debian/Ubuntu machine (root, or sudo for the docker
# set-up) it installs pipelinectl into .venv, starts dockerd and a registry on 127.0.0.1:5000,
# and runs the main job on the examples against the built-in local platform: validate, build
# and push the images, render, deploy (Kubernetes objects and DAG files to local folders), and
# run the R example's tasks locally in docker. It ends by showing where everything is.
# Idempotent: run it again and nothing is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$python" -m venv .venv
fi
echo "== installing pipelinectl into .venv (dependencies from requirements/runtime.lock)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
  -r requirements/runtime.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
  --no-build-isolation --editable .
pipelinectl="$checkout/.venv/bin/pipelinectl"

echo "== dockerd and a registry on 127.0.0.1:5000 (tests/services.sh, idempotent)"
bash tests/services.sh
docker=/usr/bin/docker

echo
echo "== pipelinectl validate examples/   (built-in local platform)"
"$pipelinectl" validate examples/

# The local platform's base images come from Docker Hub (rocker/r-ver, python:*-slim). Where
# Docker Hub is out of reach (an offline or locked-down machine, this project's CI), stand-ins
# are built from Debian: R and Python from Debian's packages, named for what they are.
demo="$checkout/.pipelinectl/quickstart"
mkdir -p "$demo"
platform_args=()
standin=""
for image in rocker/r-ver:4.4.2 python:3.12-slim; do
  if ! "$docker" image inspect "$image" >/dev/null 2>&1 &&
     ! timeout 120 "$docker" pull -q "$image" >/dev/null 2>&1; then
    standin=1
  fi
done
if [ -n "$standin" ]; then
  echo
  echo "== Docker Hub is out of reach: building stand-in base images from Debian bookworm"
  echo "   (R 4.2 and Python 3.11 from Debian, used for the examples' R 4.4 and Python 3.12)"
  for spec in "r:r-base-core" "python:python3 python3-venv"; do
    name=${spec%%:*}
    packages=${spec#*:}
    printf 'FROM pipelinectl-test/debian:bookworm\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends %s >/dev/null && rm -rf /var/lib/apt/lists/*\n' \
      "$packages" | DOCKER_BUILDKIT=1 "$docker" build -q -t "pipelinectl-local/$name:debian-bookworm" - >/dev/null
  done
  sed -e 's|"4.4": rocker/r-ver:4.4.2|"4.4": pipelinectl-local/r:debian-bookworm|' \
      -e 's|"3.12": python:3.12-slim|"3.12": pipelinectl-local/python:debian-bookworm|' \
      pipelinectl/data/local-platform.yaml >"$demo/platform.yaml"
  platform_args=(--platform "$demo/platform.yaml")
fi

# Deploying takes a commit on main: the examples go into a repository of their own.
repo="$demo/repo"
rm -rf "$repo"
mkdir -p "$repo"
cp -R examples/covid-cases-r examples/python-etl "$repo/"
git -C "$repo" init --quiet -b main
git -C "$repo" add -A
git -C "$repo" -c user.email=quickstart@pipelinectl.invalid -c user.name=quickstart \
  commit --quiet -m "the example pipelines"
cd "$repo"

echo
echo "== pipelinectl build   (content-addressed images, pushed to 127.0.0.1:5000)"
"$pipelinectl" build "${platform_args[@]}"
echo
echo "== pipelinectl render -o ../rendered"
"$pipelinectl" render "${platform_args[@]}" -o "$demo/rendered"
echo
echo "== pipelinectl deploy   (local platform: objects and DAGs to folders)"
"$pipelinectl" deploy "${platform_args[@]}"
echo
echo "== pipelinectl run covid-cases-r   (its three tasks, locally in docker)"
"$pipelinectl" run covid-cases-r "${platform_args[@]}"

workspace="$repo/.pipelinectl/runs/covid-cases-r/workspace"
echo
echo "== the weekly case counts the pipeline computed ($workspace/weekly_by_region.csv):"
head -5 "$workspace/weekly_by_region.csv"
echo
echo "Where everything is:"
echo "  report:            $workspace/report.html"
echo "  rendered objects:  $demo/rendered/"
echo "  deployed CronJob:  $repo/.pipelinectl/kubernetes/default/CronJob/python-etl.yaml"
echo "  deployed DAG:      $repo/.pipelinectl/airflow/dags/default/default__covid-cases-r.py"
echo "  deploy state:      $repo/.pipelinectl/kubernetes/default/ConfigMap/"
echo "  images:            127.0.0.1:5000/default/covid-cases-r, .../python-etl"
cd "$checkout"

echo
echo "== validate on a broken copy of examples/python-etl (this one is meant to fail)"
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
