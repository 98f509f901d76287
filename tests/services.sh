#!/usr/bin/env bash
# Starts the real servers the tests use, if they are not running yet: dockerd and a Docker
# registry on 127.0.0.1:5000 (Debian's docker.io and docker-registry), installing them from
# Debian when missing. Idempotent; logs go to ${TMPDIR:-/tmp}/pipelinectl-services/.
set -euo pipefail
state=${TMPDIR:-/tmp}/pipelinectl-services
mkdir -p "$state"
docker_cli=/usr/bin/docker  # Debian's CLI (a newer one elsewhere on PATH may lack builders)

missing=()
[ -x "$docker_cli" ] && command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v curl >/dev/null || missing+=(curl)
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

wait_for() {  # wait_for WHAT COMMAND...: retry for up to 60 s
  local what=$1; shift
  for _ in $(seq 60); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "error: $what did not start; see $state" >&2
  return 1
}

if ! "$docker_cli" info >/dev/null 2>&1; then
  echo "== starting dockerd (log: $state/dockerd.log)"
  nohup dockerd >"$state/dockerd.log" 2>&1 &
  wait_for dockerd "$docker_cli" info
fi

if ! curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1; then
  echo "== starting the registry on 127.0.0.1:5000 (log: $state/registry.log)"
  cat >"$state/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $state/registry-data
http:
  addr: 127.0.0.1:5000
YAML
  nohup docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 &
  wait_for registry curl -fsS http://127.0.0.1:5000/v2/
fi
