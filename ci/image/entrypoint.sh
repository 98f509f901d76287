#!/bin/sh
# As the official docker image does: with Docker-in-Docker's TLS (DOCKER_TLS_CERTDIR shared
# with the dind service), talk to the daemon with the client certificates it generated.
if [ -n "${DOCKER_TLS_CERTDIR:-}" ] && [ -z "${DOCKER_CERT_PATH:-}" ] \
   && [ -f "$DOCKER_TLS_CERTDIR/client/ca.pem" ]; then
  export DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$DOCKER_TLS_CERTDIR/client"
fi
exec "$@"
