"""`pipelinectl platform manifests`: golden files, real Kubernetes schemas, and a deployer Role
that grants exactly what the commands do (read from the fake API server's request log)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from pipelinectl import manifests, platform
from pipelinectl.render.yamlout import dump_all
from tests import test_deploy_core as core
from tests.conftest import REPO, write
from tests.support.fakekube import FakeKube
from tests.test_deploy_core import fake  # noqa: F401 - a fixture

GOLDEN = REPO / "tests" / "golden" / "manifests"
PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: registry.example.org/data-pipelines
base_images: {python: {"3.12": python:3.12-slim}}
teams:
  epi-surveillance:
    namespace: epi-surveillance
    service_account: pipeline-runner
    repos: [epi/covid-pipelines]
    max_task_resources: {cpu: "8", memory: 32Gi}
  default: {namespace: default}
"""


@pytest.fixture
def config(tmp_path: Path) -> platform.Platform:
    return platform.load(str(write(tmp_path / "platform.yaml", PLATFORM)))


@pytest.mark.parametrize("team", ["default", "epi-surveillance"])
def test_golden(config: platform.Platform, team: str) -> None:
    text = dump_all(manifests.team_manifests(config, team))
    path = GOLDEN / f"{team}.yaml"
    if os.environ.get("PIPELINECTL_UPDATE_GOLDEN"):
        assert not os.environ.get("CI"), "golden files are never regenerated in CI"
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("version", ["1.27.0", kubernetes_validate.utils.latest_version()])
@pytest.mark.parametrize("team", ["default", "epi-surveillance"])
def test_passes_kubernetes_schema_strictly(team: str, version: str) -> None:
    for document in yaml.safe_load_all((GOLDEN / f"{team}.yaml").read_text(encoding="utf-8")):
        kubernetes_validate.validate(document, version, strict=True)


def test_command(run, tmp_path: Path) -> None:
    write(tmp_path / "platform.yaml", PLATFORM)
    printed = run("platform", "manifests", "--team", "default", "--platform",
                  str(tmp_path / "platform.yaml"), cwd=tmp_path)
    assert printed.code == 0 and printed.out == (GOLDEN / "default.yaml").read_text()
    written = run("platform", "manifests", "-o", str(tmp_path / "out"), "--platform",
                  str(tmp_path / "platform.yaml"), cwd=tmp_path)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "default.yaml", "epi-surveillance.yaml"]
    assert written.out.splitlines() == [str(tmp_path / "out" / "default.yaml"),
                                        str(tmp_path / "out" / "epi-surveillance.yaml")]
    unknown = run("platform", "manifests", "--team", "epi", "--platform",
                  str(tmp_path / "platform.yaml"), cwd=tmp_path)
    assert unknown.code == 1
    assert unknown.err.startswith("error: no team 'epi' in ")


_RESOURCE = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/v1)/namespaces/(?P<ns>[^/]+)/"
                       r"(?P<resource>[^/]+)(?P<name>/[^/]+)?$")
_VERB = {"GET": "get", "PATCH": "patch", "DELETE": "delete", "POST": "create", "PUT": "update"}


def test_the_deployer_role_is_exactly_what_the_commands_use(git_repo: Path, fake: FakeKube,  # noqa: F811
                                                            tmp_path: Path, run,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    # A full life: deploy, change, rename (prune), then status, history and plan read it all.
    core.commit(git_repo, "etl")
    core.run(git_repo, fake, tmp_path)
    core.commit(git_repo, "etl", cron="0 8 * * *")
    core.run(git_repo, fake, tmp_path)
    core.git(git_repo, "mv", "etl", "etl2")
    (git_repo / "etl2" / "pipeline.yaml").write_text(
        core.SPEC.format(name="etl2", cron="0 7 * * *", secrets="db"))
    core.git(git_repo, "commit", "-qam", "rename")
    core.run(git_repo, fake, tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    cluster_platform = tmp_path / "cluster-platform.yaml"
    cluster_platform.write_text(platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", ""))
    for command in ("status", "history"):
        assert run(command, "--platform", str(cluster_platform), cwd=git_repo).code == 0
    used = set()
    for request in fake.requests:
        if request.path.endswith("selfsubjectaccessreviews"):
            continue  # every authenticated user may ask what it may do
        if request.path == "/api/v1/namespaces/default":
            continue  # the ClusterRole limited to this one Namespace
        match = _RESOURCE.match(request.path)
        assert match, request.path
        verb = _VERB[request.method]
        if request.method == "GET" and match.group("name") is None:
            verb = "list"
        used.add((match.group("group") or "", match.group("resource"), verb))
    granted = {(group, resource, verb) for group, resource, verbs in manifests.DEPLOYER_RULES
               for verb in verbs}
    assert used == granted
