"""The real servers of the docker tests (tests/services.sh starts them): dockerd with
BuildKit and a registry on 127.0.0.1:5000, the Debian base image that stands in for Docker
Hub's, and helpers to build a pipeline against them. Each test session uses a registry path
of its own (PREFIX), so nothing is found from an earlier run."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from pipelinectl.adapters.registry import RegistryClient
from tests.support.repo import git, write

DOCKER = "/usr/bin/docker"
BASE = "pipelinectl-test/debian:bookworm"
HOST = "127.0.0.1:5000"
SERVICES = Path(os.environ.get("TMPDIR", "/tmp")) / "pipelinectl-services"
REGISTRY_LOG = SERVICES / "registry.log"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
PREFIX = f"t{uuid.uuid4().hex[:8]}"
_ACCESS = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (/v2/[^ ]*) HTTP')

PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: {registry}
base_images:
  python: {{"3.11": "{python}"}}
  r: {{"4.2": "{base}"}}
allowed_base_registries: [docker.io/pipelinectl-test]
build:
  ca_bundle: {ca}
teams:
  default: {{namespace: default}}
"""

PYTHON_SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {name: etl, team: default}
image:
  language: python
  version: "3.11"
  dependencies: requirements.txt
  system_packages: [python3-venv]
schedule: "0 7 * * *"
tasks:
  - name: main
    command: [python, etl.py]
"""


def services_ready() -> bool:
    try:
        urllib.request.urlopen(f"http://{HOST}/v2/", timeout=5).close()
    except OSError:
        return False
    inspect = subprocess.run([DOCKER, "image", "inspect", BASE], capture_output=True,
                             check=False) if os.path.exists(DOCKER) else None
    return inspect is not None and inspect.returncode == 0 and REGISTRY_LOG.is_file()


def platform_file(folder: Path, ca: Path | str = HOST_CA, registry: str | None = None,
                  python: str = BASE) -> Path:
    return write(folder / "platform.yaml", PLATFORM.format(
        registry=registry or f"{HOST}/{PREFIX}/{folder.name}", python=python, base=BASE,
        ca=ca))


def python_repo(folder: Path, ca: Path | str = HOST_CA) -> Path:
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    write(folder / "etl" / "pipeline.yaml", PYTHON_SPEC)
    write(folder / "etl" / "requirements.txt", "six==1.16.0\n")
    write(folder / "etl" / "etl.py", "import six\nprint('six', six.__version__)\n")
    platform_file(folder, ca)
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "etl")
    return folder


def repository(folder: Path, name: str = "etl") -> str:
    return f"{PREFIX}/{folder.name}/default/{name}"


def built_reference(out: str, name: str = "etl") -> str:
    match = re.search(rf": {name}: (?:built|up to date|reused) (\S+@sha256:[0-9a-f]{{64}})$",
                      out, re.MULTILINE)
    assert match, out
    return match.group(1)


class RegistryLog:
    """The requests the registry served from now on (its access log)."""

    def __init__(self) -> None:
        self.offset = REGISTRY_LOG.stat().st_size

    def requests(self, repo: str) -> list[tuple[str, str]]:
        # The registry writes a log line after its response: a marker request made now is
        # logged after every earlier one, so reading up to the marker reads them all.
        marker = f"/v2/log-marker/{uuid.uuid4().hex}/tags/list"
        with contextlib.suppress(urllib.error.HTTPError):  # 404: the log line is the point
            urllib.request.urlopen(f"http://{HOST}{marker}", timeout=10)
        deadline = time.monotonic() + 10
        while True:
            with open(REGISTRY_LOG, "rb") as log:
                log.seek(self.offset)
                text = log.read().decode("utf-8", "replace")
            if f"GET {marker} HTTP" in text or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert f"GET {marker} HTTP" in text, "the registry did not log the marker request"
        return [(m, p) for m, p in _ACCESS.findall(text) if p.startswith(f"/v2/{repo}/")]


def tags(repo: str) -> list[str]:
    return sorted(RegistryClient(HOST, None).tags(repo))


def docker_run(reference: str, *command: str) -> str:
    done = subprocess.run([DOCKER, "run", "--rm", reference, *command], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


