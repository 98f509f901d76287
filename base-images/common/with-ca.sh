#!/bin/sh
# Runs "$@" with the platform's CA bundle (a BuildKit secret at /run/secrets/ca-bundle, present
# only during this step) in the variables pip, R's libcurl, curl and OpenSSL read.
set -eu
if [ -f /run/secrets/ca-bundle ]; then
  export PIP_CERT=/run/secrets/ca-bundle SSL_CERT_FILE=/run/secrets/ca-bundle \
    CURL_CA_BUNDLE=/run/secrets/ca-bundle REQUESTS_CA_BUNDLE=/run/secrets/ca-bundle
fi
exec "$@"
