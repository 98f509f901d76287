"""Previews never touch anything else (SPEC 5): a preview and a production deploy of the same
pipeline in one namespace (the platform keeps them apart; the engine must not rely on it),
against the fake API server. A deploy, its prune of a removed pipeline, preview delete and
preview prune each leave the other side's objects and state alone, also when a preview's
state object is edited to name a production object."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pipelinectl import wiring
from pipelinectl.deploy import engine, state
from pipelinectl.render.desired import desired
from pipelinectl.spec import platform, previews
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import load_pipelines
from pipelinectl.vocabulary import PIPELINE_LABEL, PREVIEW_LABEL
from tests.support.deploying import IMAGE, commit, context
from tests.support.fakekube import FakeKube
from tests.support.repo import git


def deploy_preview(repo: Path, kubeconfig: Path, number: int,
                   when: str = "2026-11-23T10:00:00Z") -> list[engine.DeployOutcome]:
    """What `preview deploy` does, into the production namespace itself."""
    config = platform.load(None)
    pipelines = load_pipelines(find_pipelines([], repo), config, None, repo)
    revision = wiring.revisions(repo.resolve(), pipelines)
    wanted = [desired(previews.as_preview(p, number), config,
                      IMAGE.format(name=p.metadata.name), revision[p.file]) for p in pipelines]
    ctx = dataclasses.replace(context(repo, kubeconfig), environment=f"preview-mr{number}",
                              now=when, guard=False)
    return engine.run(wanted, ctx, prune_removed=False)


def deploy_production(repo: Path, kubeconfig: Path) -> list[engine.DeployOutcome]:
    config = platform.load(None)
    pipelines = load_pipelines(find_pipelines([], repo), config, None, repo)
    revision = wiring.revisions(repo.resolve(), pipelines)
    wanted = [desired(p, config, IMAGE.format(name=p.metadata.name), revision[p.file])
              for p in pipelines]
    return engine.run(wanted, context(repo, kubeconfig), prune_removed=True)


def remove(repo: Path, kubeconfig: Path, number: int | None = None,
           older_than: str | None = None) -> list[engine.DeployOutcome]:
    ctx = dataclasses.replace(context(repo, kubeconfig), environment="preview-delete",
                              guard=False)
    return engine.remove(ctx, ["default"], lambda _ns, record: record.preview is not None and (
        record.preview == number if number is not None else
        record.current.deployed_at < (older_than or "")))


def names(fake: FakeKube, plural: str) -> list[str]:
    return sorted(name for (_, res, ns, name) in fake.objects if res == plural and
                  ns == "default")


@pytest.fixture
def both(git_repo: Path, fake: FakeKube, tmp_path: Path) -> Path:
    """etl deployed to production and previewed for merge request 7, in one namespace."""
    commit(git_repo, "etl")
    deploy_production(git_repo, tmp_path / "kubeconfig")
    deploy_preview(git_repo, tmp_path / "kubeconfig", 7)
    assert names(fake, "cronjobs") == ["etl", "etl-mr7"]
    assert {"pipelinectl-state-etl", "pipelinectl-state-etl-mr7"} <= set(names(fake,
                                                                               "configmaps"))
    return git_repo


def test_a_preview_is_named_labelled_and_suspended(both: Path, fake: FakeKube) -> None:
    job = fake.get("cronjobs", "default", "etl-mr7")
    assert job is not None
    labels = job["metadata"]["labels"]
    assert (labels[PIPELINE_LABEL], labels[PREVIEW_LABEL]) == ("etl-mr7", "7")
    assert job["spec"]["suspend"] is True
    record = state.from_configmap(fake.get("configmaps", "default",
                                           "pipelinectl-state-etl-mr7") or {})
    assert (record.preview, record.current.environment) == (7, "preview-mr7")
    production = fake.get("cronjobs", "default", "etl")
    assert production is not None and PREVIEW_LABEL not in production["metadata"]["labels"]
    assert production["spec"]["suspend"] is False


def test_a_deploy_that_removes_the_pipeline_leaves_its_preview(both: Path, fake: FakeKube,
                                                              tmp_path: Path) -> None:
    git(both, "rm", "-rq", "etl")
    commit(both, "other")
    outcomes = deploy_production(both, tmp_path / "kubeconfig")
    assert [(o.pipeline, o.removed) for o in outcomes] == [("other", False), ("etl", True)]
    assert names(fake, "cronjobs") == ["etl-mr7", "other"]
    assert fake.get("configmaps", "default", "pipelinectl-state-etl-mr7") is not None


def test_preview_delete_removes_that_preview_only(both: Path, fake: FakeKube,
                                                 tmp_path: Path) -> None:
    deploy_preview(both, tmp_path / "kubeconfig", 8)
    outcomes = remove(both, tmp_path / "kubeconfig", number=7)
    assert [(o.pipeline, [i.describe() for i in o.pruned]) for o in outcomes] == [
        ("etl-mr7", ["CronJob default/etl-mr7"])]
    assert names(fake, "cronjobs") == ["etl", "etl-mr8"]
    assert fake.get("configmaps", "default", "pipelinectl-state-etl-mr7") is None
    assert fake.get("configmaps", "default", "pipelinectl-state-etl") is not None
    again = len(fake.writes())
    assert remove(both, tmp_path / "kubeconfig", number=7) == []  # nothing left: no write
    assert len(fake.writes()) == again


def test_preview_prune_removes_the_old_ones(both: Path, fake: FakeKube,
                                           tmp_path: Path) -> None:
    deploy_preview(both, tmp_path / "kubeconfig", 8, when="2026-11-30T10:00:00Z")
    outcomes = remove(both, tmp_path / "kubeconfig", older_than="2026-11-28T00:00:00Z")
    assert [o.pipeline for o in outcomes] == ["etl-mr7"]
    assert names(fake, "cronjobs") == ["etl", "etl-mr8"]


def test_a_preview_state_that_names_a_production_object_deletes_nothing_of_it(
        both: Path, fake: FakeKube, tmp_path: Path) -> None:
    obj = fake.get("configmaps", "default", "pipelinectl-state-etl-mr7")
    assert obj is not None
    document = json.loads(obj["data"][state.STATE_DATA_KEY])
    document["current"]["inventory"].append(["batch/v1", "CronJob", "default", "etl"])
    obj["data"][state.STATE_DATA_KEY] = json.dumps(document)
    fake.put(("", "v1", "configmaps"), "default", obj)
    said: list[str] = []
    ctx = dataclasses.replace(context(both, tmp_path / "kubeconfig"), report=said.append,
                              environment="preview-delete", guard=False)
    engine.remove(ctx, ["default"], lambda _ns, record: record.preview == 7)
    assert names(fake, "cronjobs") == ["etl"]  # the preview's own is gone, production's not
    assert said == ["etl-mr7: not pruning CronJob default/etl named in its state object: it "
                    "does not carry this pipeline's and team's ownership labels"]


def test_the_longest_name_and_merge_request_fit_a_cronjob_name() -> None:
    assert previews.NAME_LIMIT + len(previews.suffix(10 ** previews.MAX_DIGITS - 1)) == \
        previews.CRONJOB_NAME_LIMIT


@pytest.mark.parametrize(("given", "environ", "expected"), [
    (12, {}, 12),
    (None, {"CI_MERGE_REQUEST_IID": "34"}, 34),
    (None, {"GITHUB_REF": "refs/pull/56/merge"}, 56),
])
def test_the_merge_request_number(given: int | None, environ: dict[str, str],
                                  expected: int) -> None:
    assert previews.number(given, environ) == expected


def test_a_merge_request_number_too_long_or_absent() -> None:
    from pipelinectl.errors import UserError

    with pytest.raises(UserError, match=r"^merge request '1234567890' is not a number of 1 to "
                                        r"9 digits$"):
        previews.number(1234567890, {})
    with pytest.raises(UserError, match=r"^no merge request to preview$"):
        previews.number(None, {"GITHUB_REF": "refs/heads/main"})
