"""`pipelinectl preview deploy|delete|prune` end to end: a real build and registry, the fake
API server, the merge request and its target branch from CI's variables, as GitLab sets
them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelinectl.deploy import state
from tests.deploy.test_promotion import SPEC, env_of
from tests.support.fakekube import FakeKube
from tests.support.repo import git, write
from tests.support.services import BASE, HOST, PREFIX

PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: {registry}
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  default: {{namespace: default}}
environments:
  dev: {{branch: main, namespace: "{{namespace}}-dev"}}
  production: {{branch: production, build: false}}
previews: {{namespace: "{{namespace}}-preview", expire_after: 2d}}
"""


@pytest.fixture
def repo(services: None, fake_kube: FakeKube, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    for namespace in ("default", "default-dev", "default-preview"):
        fake_kube.add_namespace(namespace)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv("CI_PROJECT_PATH", "epi/covid")
    monkeypatch.setenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
    folder = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "feature", str(folder))
    write(folder / "etl" / "pipeline.yaml", SPEC)
    write(folder / "etl" / "Dockerfile", f"FROM {BASE}\nCOPY etl.sh /app/\nUSER 10001\n")
    write(folder / "etl" / "etl.sh", "echo cases\n")
    write(folder / "platform.yaml", PLATFORM.format(
        registry=f"{HOST}/{PREFIX}/preview-{tmp_path.name}"))
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "A")
    return folder


def preview(run, repo: Path, *args: str):
    return run("preview", *args, "--platform", str(repo / "platform.yaml"), cwd=repo)


def test_deploy_then_delete_a_preview(run, repo: Path, fake_kube: FakeKube,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "7")
    done = preview(run, repo, "deploy")
    assert done.code == 0, done.err
    assert done.out == (
        "etl-mr7: image built; CronJob default-preview/etl-mr7 (schedule suspended)\n"
        "  start a run: pipelinectl trigger etl --mr 7\n")
    commit = git(repo, "rev-parse", "HEAD")
    assert done.err.endswith(f"preview of merge request 7 ({commit[:12]}, as dev runs it) "
                             "deployed\n")
    job = fake_kube.get("cronjobs", "default-preview", "etl-mr7")
    assert job is not None and job["spec"]["suspend"] is True
    assert env_of(job)["DB_HOST"] == "dev-db.internal"  # as dev runs it
    assert fake_kube.get("cronjobs", "default-dev", "etl") is None  # nothing else deployed

    gone = preview(run, repo, "delete", "--mr", "7")
    assert (gone.code, gone.out) == (0, "etl-mr7: removed CronJob default-preview/etl-mr7 "
                                        "and its state\n"), gone.err
    assert fake_kube.get("cronjobs", "default-preview", "etl-mr7") is None
    again = preview(run, repo, "delete", "--mr", "7")
    assert (again.code, again.out) == (0, "no preview of merge request 7 to delete\n")


def test_prune_removes_previews_past_their_time(run, repo: Path, fake_kube: FakeKube) -> None:
    for number in ("8", "9"):
        assert preview(run, repo, "deploy", "--mr", number).code == 0
    old = fake_kube.get("configmaps", "default-preview", state.object_name("etl-mr8"))
    assert old is not None
    document = json.loads(old["data"][state.STATE_DATA_KEY])
    document["current"]["deployed_at"] = "2026-01-01T00:00:00Z"  # long ago
    old["data"][state.STATE_DATA_KEY] = json.dumps(document)
    fake_kube.put(("", "v1", "configmaps"), "default-preview", old)
    pruned = preview(run, repo, "prune")
    assert (pruned.code, pruned.out) == (0, "etl-mr8: removed CronJob default-preview/etl-mr8 "
                                            "and its state\n"), pruned.err
    assert fake_kube.get("cronjobs", "default-preview", "etl-mr9") is not None
    assert preview(run, repo, "prune").out == "no preview older than 2d\n"


def test_without_previews_or_a_merge_request(run, repo: Path) -> None:
    write(repo / "platform.yaml", (repo / "platform.yaml").read_text().split("previews:")[0])
    off = preview(run, repo, "deploy", "--mr", "7")
    assert (off.code, off.err) == (1, "error: the platform has no previews\n"
                                      "  hint: the platform team adds `previews: {namespace: "
                                      "\"{namespace}-preview\", expire_after: 7d}`; see "
                                      "docs/how-to/previews.md\n")


def test_status_of_a_preview_says_how_to_start_it(run, repo: Path) -> None:
    assert preview(run, repo, "deploy", "--mr", "7").code == 0
    shown = run("status", "--mr", "7", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0].startswith("etl-mr7: ") and " in preview-mr7, deployed " in lines[0]
    assert "  next run: paused (suspend: true)" in lines
    assert "  start a run: pipelinectl trigger etl --mr 7" in lines
    bad = run("status", "--mr", "x7", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert (bad.code, bad.err.splitlines()[0]) == (
        1, "error: merge request 'x7' is not a number of 1 to 9 digits")


def test_delete_needs_no_checkout(run, repo: Path, fake_kube: FakeKube, tmp_path: Path) -> None:
    """A stop job may run after the branch is gone: delete reads only state objects."""
    assert preview(run, repo, "deploy", "--mr", "5").code == 0
    empty = tmp_path / "no-checkout"
    empty.mkdir()
    gone = run("preview", "delete", "--mr", "5", "--platform", str(repo / "platform.yaml"),
               cwd=empty)
    assert (gone.code, gone.out) == (0, "etl-mr5: removed CronJob default-preview/etl-mr5 and "
                                        "its state\n"), gone.err
    assert fake_kube.get("cronjobs", "default-preview", "etl-mr5") is None
