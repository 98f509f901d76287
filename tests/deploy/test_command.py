"""`pipelinectl deploy` end to end: real git history, real BuildKit builds pushed to the real
registry, the fake API server behind a real kubeconfig. Deploy A, B; a stale job for A is
refused; `git revert` of B deploys A's objects again with no build."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelinectl.vocabulary import GIT_SHA_ANNOTATION
from tests.support.deploying import without_revision
from tests.support.fakekube import FakeKube
from tests.support.repo import git, write
from tests.support.services import BASE, HOST, PREFIX, PYTHON_SPEC

PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: {registry}
base_images:
  python: {{"3.11": "{base}"}}
build:
  ca_bundle: /etc/ssl/certs/ca-certificates.crt
teams:
  default: {{namespace: default, repos: [epi/covid]}}
airflow:
  dags: {{directory: {dags}}}
environments:
  production: {{branch: main}}
"""


@pytest.fixture
def cluster(fake_kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake_kube.add_namespace("default")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv("CI_PROJECT_PATH", "epi/covid")
    return fake_kube


@pytest.fixture
def repo(services: None, tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    git_init = ["init", "-q", "-b", "main", str(folder)]
    git(tmp_path, *git_init)
    write(folder / "etl" / "pipeline.yaml", PYTHON_SPEC)
    write(folder / "etl" / "requirements.txt", "six==1.16.0\n")
    write(folder / "etl" / "etl.py", "import six\nprint('six', six.__version__)\n")
    write(folder / "platform.yaml", PLATFORM.format(
        registry=f"{HOST}/{PREFIX}/deploy-{tmp_path.name}", base=BASE,
        dags=tmp_path / "dags"))
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "A")
    return folder


def deploy(run, repo: Path, *extra: str):
    return run("deploy", "--platform", str(repo / "platform.yaml"), *extra, cwd=repo)


def cronjob(fake: FakeKube) -> dict:  # type: ignore[type-arg]
    found = fake.get("cronjobs", "default", "etl")
    assert found is not None
    return found


def test_deploy_stale_job_and_rollback_by_revert(run, repo: Path, cluster: FakeKube,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    first = deploy(run, repo)
    assert first.code == 0, first.err
    assert first.out == "etl: image built; applied CronJob default/etl\n"
    a = git(repo, "rev-parse", "HEAD")
    assert first.err.endswith(f"deployed {a[:12]} to production\n")
    image_a = cronjob(cluster)["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]["image"]
    assert re.fullmatch(rf"{HOST}/\S+/default/etl@sha256:[0-9a-f]{{64}}", image_a)
    spec_a = cronjob(cluster)["spec"]

    writes = len(cluster.writes())
    again = deploy(run, repo)
    assert again.out == "etl: image up to date; 1 unchanged\n"
    assert len(cluster.writes()) == writes  # a no-op redeploy writes nothing

    write(repo / "etl" / "etl.py", "import six\nprint('B', six.__version__)\n")
    (repo / "etl" / "pipeline.yaml").write_text(  # B: a task added, the schedule changed
        PYTHON_SPEC.replace("0 7 * * *", "0 8 * * *").replace("tasks:", "engine: cronjob\ntasks:")
        + "  - name: report\n    command: [python, etl.py]\n    depends_on: [main]\n")
    git(repo, "commit", "-qam", "B")
    b = git(repo, "rev-parse", "HEAD")
    second = deploy(run, repo)
    assert second.out == "etl: image built; applied CronJob default/etl\n", second.err
    assert cronjob(cluster)["spec"]["schedule"] == "0 8 * * *"
    pod = cronjob(cluster)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"] + pod["containers"]] == ["main", "report"]

    git(repo, "checkout", "-q", a)  # a stale CI job for A: CI says the branch
    monkeypatch.setenv("CI_COMMIT_BRANCH", "main")
    writes = len(cluster.writes())
    stale = deploy(run, repo)
    assert stale.code == 1
    assert stale.err.endswith(
        f"error: etl: commit {a[:12]} does not descend from the deployed commit {b[:12]}: "
        "refusing to roll default back (a stale CI job?)\n"
        "  hint: deploy a newer commit; to go back, `git revert` and push. --force overrides "
        "(and is recorded in the history); see "
        "docs/explanation/how-deploy-decides.md#the-stale-commit-guard\n"), stale.err
    assert len(cluster.writes()) == writes and cronjob(cluster)["spec"]["schedule"] == "0 8 * * *"

    git(repo, "checkout", "-q", "main")
    git(repo, "revert", "--no-edit", "HEAD")
    rollback = deploy(run, repo)
    assert rollback.code == 0, rollback.err
    assert rollback.out == "etl: image reused; applied CronJob default/etl\n"
    assert "building" not in rollback.err  # the old image, no build
    live = cronjob(cluster)["spec"]
    assert live["schedule"] == "0 7 * * *"
    assert without_revision(live["jobTemplate"]["spec"]) == \
        without_revision(spec_a["jobTemplate"]["spec"])
    assert cronjob(cluster)["metadata"]["annotations"][GIT_SHA_ANNOTATION] == \
        git(repo, "rev-parse", "HEAD")  # the revert is the last commit that changed etl


def test_only_mapped_branches_and_clean_commits_deploy(run, repo: Path,
                                                       cluster: FakeKube) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    feature = deploy(run, repo)
    assert feature.code == 1
    assert feature.err == (
        "error: branch feature deploys to no environment\n"
        "  hint: the platform maps main -> production; feature branches never deploy (in CI "
        "the branch comes from CI_COMMIT_BRANCH or GITHUB_REF_NAME); see "
        "docs/reference/platform.md#environments\n")
    git(repo, "checkout", "-q", "main")
    write(repo / "etl" / "etl.py", "print('edited')\n")
    dirty = deploy(run, repo)
    assert dirty.code == 1
    assert dirty.err.startswith("error: uncommitted changes (etl/etl.py): a deploy is a commit")
    assert cluster.writes() == []


def test_plan_against_a_render_and_against_the_cluster(run, repo: Path,
                                                       cluster: FakeKube,
                                                       tmp_path: Path) -> None:
    platform = str(repo / "platform.yaml")
    assert deploy(run, repo).code == 0
    base = tmp_path / "base"
    assert run("render", "--platform", platform, "-o", str(base), cwd=repo).code == 0
    assert run("plan", "--platform", platform, "--against", str(base), cwd=repo).out == \
        "No changes.\n"
    assert run("plan", "--platform", platform, cwd=repo).out == "No changes.\n"

    (repo / "etl" / "pipeline.yaml").write_text(PYTHON_SPEC.replace("0 7 * * *", "0 8 * * *"))
    write(repo / "etl" / "etl.py", "print('changed')\n")
    git(repo, "commit", "-qam", "B")
    writes = len(cluster.writes())
    for against in (["--against", str(base)], []):
        result = run("plan", "--platform", platform, *against, cwd=repo)
        assert result.code == 0, result.err
        head, _, diff = result.out.partition("\n\n")
        assert head == ("etl (CronJob default/etl):\n"
                        "  schedule 0 7 * * * (UTC) -> 0 8 * * * (UTC)\n"
                        "  image rebuild: code: changed etl.py"), result.out
        assert diff.startswith("--- a/kubernetes/default/etl.yaml\n"
                               "+++ b/kubernetes/default/etl.yaml\n")
        assert "-  schedule: 0 7 * * *\n+  schedule: 0 8 * * *\n" in diff
    assert len(cluster.writes()) == writes  # plan writes nothing
    markdown = run("plan", "--platform", platform, "--format", "markdown", "-o",
                   str(tmp_path / "plan.md"), cwd=repo)
    assert markdown.out.startswith("### pipelinectl plan\n\n**etl (CronJob default/etl)**"
                                   "\n\n- `schedule 0 7 * * * (UTC) -> 0 8 * * * (UTC)`\n")
    assert "<details><summary>diff</summary>\n\n```diff\n--- a/" in markdown.out
    assert (tmp_path / "plan.md").read_text() == markdown.out
