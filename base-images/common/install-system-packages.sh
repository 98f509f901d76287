#!/bin/sh
# Installs the Debian packages named one per line in $1 (pipeline.yaml image.system_packages).
# Names were checked against Debian's package-name rules by `pipelinectl validate`, so they
# are safe as words. The platform's CA bundle, when given, is a BuildKit secret mounted at
# /run/secrets/ca-bundle for this step only: it never lands in a layer.
set -eu
list=$1
[ -s "$list" ] || exit 0
set --
if [ -f /run/secrets/ca-bundle ]; then
  set -- -o Acquire::https::CaInfo=/run/secrets/ca-bundle
fi
export DEBIAN_FRONTEND=noninteractive
apt-get "$@" update
xargs apt-get "$@" install -y --no-install-recommends <"$list"
apt-get clean
rm -rf /var/lib/apt/lists/*
