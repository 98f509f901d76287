"""The pipelinectl tool image (ci/image/Dockerfile), built on the Debian test base: it holds this
repository's pipelinectl, git and a BuildKit-capable docker CLI; the CA bundle given as a
build secret stays out of it; its entrypoint picks up Docker-in-Docker's TLS client
certificates as the official docker image does. (The CI template tests run every job in it.)"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

import pipelinectl
from tests.support.citools import CA_BUNDLE, DOCKER, REPO, TOOL_IMAGE

pytestmark = pytest.mark.usefixtures("tool_image")


def in_image(*argv: str, env: tuple[str, ...] = (), volumes: tuple[str, ...] = ()) -> str:
    flags = [f for e in env for f in ("-e", e)] + [f for v in volumes for f in ("-v", v)]
    done = subprocess.run([DOCKER, "run", "--rm", *flags, TOOL_IMAGE, *argv],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_holds_this_pipelinectl_git_and_a_buildkit_docker_cli() -> None:
    assert in_image("pipelinectl", "--version") == f"pipelinectl {pipelinectl.__version__}\n"
    assert in_image("git", "--version").startswith("git version 2.")
    client = in_image("docker", "version", "--format", "{{.Client.Version}}",
                      volumes=("/var/run/docker.sock:/var/run/docker.sock",))
    assert int(client.split(".")[0]) >= 20  # BuildKit without a buildx plugin
    assert in_image("sh", "-c", "echo $DOCKER_BUILDKIT") == "1\n"
    assert in_image("git", "config", "--system", "--get-all", "safe.directory") == "*\n"
    # The default command is the help, so `docker run IMAGE` explains itself.
    assert in_image().startswith("usage: pipelinectl")


def test_validates_the_examples() -> None:
    out = in_image("pipelinectl", "validate", "/examples",
                   volumes=(f"{REPO / 'examples'}:/examples:ro",))
    assert out == "4 pipeline files valid\n"


def host_only_certificates(image_bundle: str) -> list[str]:
    """Stretches of the certificates the build's CA bundle has and the image's own bundle
    lacks: the canary's and a proxy's, which reached the build only as a secret."""
    host = CA_BUNDLE.read_text()
    bodies = ["".join(block.split("-----")[0].split()) for block in
              host.split("-----BEGIN CERTIFICATE-----")[1:]]
    own = "".join(image_bundle.split())
    return [body[40:100] for body in bodies if body[40:100] not in own]


def test_the_ca_bundle_secret_is_in_no_layer() -> None:
    image_bundle = in_image("cat", "/etc/ssl/certs/ca-certificates.crt")
    markers = host_only_certificates(image_bundle)
    assert markers, "the canary certificate is in the build's bundle and not in the image's"
    saved = subprocess.run([DOCKER, "save", TOOL_IMAGE], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        layers = [outer.extractfile(m).read()  # type: ignore[union-attr]
                  for m in outer.getmembers() if m.name.endswith("layer.tar")]
    assert len(layers) >= 5
    for data in layers:
        flat = data.replace(b"\n", b"")
        assert not [m for m in markers if m.encode() in flat]
    assert in_image("sh", "-c", "env | grep -c -E '^(PIP_CERT|SSL_CERT_FILE)=' || true") == "0\n"


def test_entrypoint_uses_dind_tls_client_certificates(tmp_path: Path) -> None:
    (tmp_path / "client").mkdir()
    (tmp_path / "client" / "ca.pem").write_text("not checked here\n")
    show = ("echo ${DOCKER_TLS_VERIFY:-unset} ${DOCKER_CERT_PATH:-unset}",)
    assert in_image("sh", "-c", *show, env=("DOCKER_TLS_CERTDIR=/certs",),
                    volumes=(f"{tmp_path}:/certs:ro",)) == "1 /certs/client\n"
    # No certificates (a socket runner): plain docker settings, untouched.
    assert in_image("sh", "-c", *show, env=("DOCKER_TLS_CERTDIR=/certs",)) == "unset unset\n"
    assert in_image("sh", "-c", *show, env=("DOCKER_TLS_CERTDIR=/certs", "DOCKER_CERT_PATH=/x"),
                    volumes=(f"{tmp_path}:/certs:ro",)) == "unset /x\n"
