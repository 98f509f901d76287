#!/usr/bin/env bash
# Starts the real servers the tests use, if they are not running yet: dockerd and a Docker
# registry on 127.0.0.1:5000 (Debian's docker.io and docker-registry), installing them from
# Debian when missing; then makes the tests' base image pipelinectl-test/debian:bookworm
# (public registries are out of reach: debootstrap --variant=minbase + docker import, its
# root filesystem cached in ~/.cache/pipelinectl). Idempotent; logs go to
# ${TMPDIR:-/tmp}/pipelinectl-services/.
set -euo pipefail
state=${TMPDIR:-/tmp}/pipelinectl-services
mkdir -p "$state"
docker_cli=/usr/bin/docker  # Debian's CLI (a newer one elsewhere on PATH may lack builders)

missing=()
[ -x "$docker_cli" ] && command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v curl >/dev/null || missing+=(curl)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v openssl >/dev/null || missing+=(openssl)
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

base_image=pipelinectl-test/debian:bookworm
if ! "$docker_cli" image inspect "$base_image" >/dev/null 2>&1; then
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/pipelinectl/debian-bookworm-minbase.tar
  if [ ! -f "$cache" ]; then
    echo "== debootstrap --variant=minbase bookworm (once; about a minute)"
    mkdir -p "$(dirname "$cache")"
    rm -rf "$state/rootfs"
    debootstrap --variant=minbase bookworm "$state/rootfs" http://deb.debian.org/debian \
      >"$state/debootstrap.log" 2>&1 || { tail -20 "$state/debootstrap.log" >&2; exit 1; }
    tar -C "$state/rootfs" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
    rm -rf "$state/rootfs"
  fi
  echo "== importing $base_image"
  "$docker_cli" import "$cache" "$base_image" >/dev/null
fi
