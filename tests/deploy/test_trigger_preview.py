"""`pipelinectl trigger --mr N` and the start hint of `status`, on the cronjob engine against the
fake API server: a merge request's preview run once (the Job read back), a missing preview
refused with nothing written, another preview and the production deploy left alone; and
`status` saying `pipelinectl trigger ...` for a suspended CronJob, with --mr or --environment
where trigger needs them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from pipelinectl import wiring
from pipelinectl.deploy import engine
from pipelinectl.render.desired import desired
from pipelinectl.spec import environments, platform, previews
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import load_pipelines
from pipelinectl.vocabulary import PREVIEW_LABEL
from tests.support.deploying import IMAGE, commit, context
from tests.support.fakekube import FakeKube

EXTRA = """\
  staging: {branch: staging, namespace: "{namespace}-staging", schedules: suspended}
previews: {namespace: "{namespace}-preview", expire_after: 2d}
"""


@pytest.fixture
def repo(run, git_repo: Path, fake: FakeKube, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    """etl deployed to production, to staging (suspended), and previewed for merge requests
    7 and 8 (after `run`, which clears PIPELINECTL_PLATFORM)."""
    for namespace in ("default-preview", "default-staging"):
        fake.add_namespace(namespace)
        fake.put(("", "v1", "secrets"), namespace, {"metadata": {"name": "db"}})
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    for variable in wiring.TARGET_BRANCH_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("GITLAB_USER_LOGIN", "ada")
    text = platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", "")
    (tmp_path / "platform.yaml").write_text(text + EXTRA)
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(tmp_path / "platform.yaml"))
    commit(git_repo, "etl")
    config = platform.load(str(tmp_path / "platform.yaml"))
    _deploy(git_repo, tmp_path, config.in_environment("production"), "production")
    _deploy(git_repo, tmp_path, config.in_environment("staging"), "staging")
    for number in (7, 8):
        _deploy(git_repo, tmp_path, config.in_previews("production"), f"preview-mr{number}",
                number)
    return git_repo


def _deploy(repo: Path, tmp_path: Path, view: platform.Platform, environment: str,
            number: int | None = None) -> None:
    pipelines = [environments.in_environment(p, view)[0]
                 for p in load_pipelines(find_pipelines([], repo), view, None, repo)]
    revision = wiring.revisions(repo.resolve(), pipelines)
    wanted = [desired(p if number is None else previews.as_preview(p, number), view,
                      IMAGE.format(name=p.metadata.name), revision[p.file]) for p in pipelines]
    ctx = dataclasses.replace(context(repo, tmp_path / "kubeconfig", config=view),
                              environment=environment, guard=number is None)
    engine.run(wanted, ctx, prune_removed=number is None)


def jobs(fake: FakeKube) -> list[dict[str, Any]]:
    return [o for k, o in fake.objects.items() if k[1] == "jobs"]


def test_trigger_mr_runs_that_preview_once(repo: Path, fake: FakeKube, run) -> None:
    cronjobs = {k: dict(o) for k, o in fake.objects.items() if k[1] == "cronjobs"}
    result = run("trigger", "etl", "--mr", "7", "--logical-date", "2026-03-31", cwd=repo)
    assert result.code == 0, result.err
    [job] = jobs(fake)
    meta = job["metadata"]
    cron = fake.get("cronjobs", "default-preview", "etl-mr7")
    assert cron is not None
    assert meta["namespace"] == "default-preview"
    assert meta["name"].startswith("etl-mr7-m20") and len(meta["name"]) <= 63
    assert meta["labels"] == {"app.kubernetes.io/managed-by": "pipelinectl",
                              "pipelinectl.io/pipeline": "etl-mr7",
                              "pipelinectl.io/team": "default", PREVIEW_LABEL: "7",
                              "pipelinectl.io/trigger": "manual"}
    assert job["spec"]["template"]["metadata"]["labels"][PREVIEW_LABEL] == "7"
    assert meta["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert meta["annotations"]["pipelinectl.io/triggered-by"] == "ada"
    assert meta["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob",
                                        "name": "etl-mr7", "uid": cron["metadata"]["uid"],
                                        "controller": True}]
    [container] = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PIPELINECTL_LOGICAL_DATE"] == "2026-03-31T00:00:00+00:00"
    assert container["image"] == \
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert result.out.startswith(f"started etl-mr7: Job {meta['name']} in namespace "
                                 "default-preview (")
    # the other preview, the production deploy and staging: untouched, no run of theirs
    assert {k: o for k, o in fake.objects.items() if k[1] == "cronjobs"} == cronjobs


def test_a_merge_request_without_a_preview_is_refused(repo: Path, fake: FakeKube,
                                                      run) -> None:
    before = len(fake.writes())
    result = run("trigger", "etl", "--mr", "9", cwd=repo)
    assert result.code == 1
    assert result.err == (
        "error: merge request 9 has no preview of etl (no etl-mr9 in namespace "
        "default-preview): nothing started\n"
        "  hint: `pipelinectl preview deploy` makes it, on the merge request; pipelinectl "
        "status --mr 9 shows what it holds\n")
    bad = run("trigger", "etl", "--mr", "x7", cwd=repo)
    assert (bad.code, bad.err.splitlines()[0]) == (
        1, "error: merge request 'x7' is not a number of 1 to 9 digits")
    assert len(fake.writes()) == before and jobs(fake) == []


def test_a_preview_cronjob_of_another_merge_request_is_not_triggered(
        repo: Path, fake: FakeKube, run) -> None:
    """A CronJob etl-mr7 whose preview label says 8 (edited by hand) is not preview 7's."""
    cron = fake.get("cronjobs", "default-preview", "etl-mr7")
    assert cron is not None
    cron["metadata"]["labels"][PREVIEW_LABEL] = "8"
    fake.put(("batch", "v1", "cronjobs"), "default-preview", cron)
    before = len(fake.writes())
    result = run("trigger", "etl", "--mr", "7", cwd=repo)
    assert result.code == 1
    assert "is not this pipeline's" in result.err
    assert len(fake.writes()) == before and jobs(fake) == []


def test_without_previews_mr_is_refused(repo: Path, fake: FakeKube, run,
                                        tmp_path: Path) -> None:
    text = (tmp_path / "platform.yaml").read_text()
    (tmp_path / "platform.yaml").write_text(text.split("previews:")[0])
    before = len(fake.writes())
    result = run("trigger", "etl", "--mr", "7", cwd=repo)
    assert (result.code, result.err) == (1, "error: --mr: the platform has no previews\n"
                                            "  hint: see docs/how-to/previews.md\n")
    assert len(fake.writes()) == before


def test_status_says_which_trigger_starts_a_suspended_cronjob(repo: Path, fake: FakeKube,
                                                              run) -> None:
    production = run("status", cwd=repo).out.splitlines()
    assert not any(x.startswith("  start a run: ") for x in production)  # it runs on schedule
    preview = run("status", "--mr", "7", cwd=repo).out.splitlines()
    assert "  start a run: pipelinectl trigger etl --mr 7" in preview
    assert not any("create job --from" in x for x in preview)
    staging = run("status", "--environment", "staging", cwd=repo).out.splitlines()
    assert "  start a run: pipelinectl trigger etl --environment staging" in staging
    # and that command does start it
    started = run("trigger", "etl", "--environment", "staging", cwd=repo)
    assert started.code == 0, started.err
    [job] = jobs(fake)
    assert job["metadata"]["namespace"] == "default-staging"
    assert PREVIEW_LABEL not in job["metadata"]["labels"]


def test_status_json_keeps_no_hint_field_change(repo: Path, run) -> None:
    """The JSON document is unchanged by the hint (it is a text line)."""
    import json

    found = json.loads(run("status", "--mr", "7", "--format", "json", cwd=repo).out)
    [pipeline] = found["pipelines"]
    assert pipeline["pipeline"] == "etl-mr7" and pipeline["deployed"]["preview"] == 7
