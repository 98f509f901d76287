"""Hand-edited or hostile state objects never make a deploy delete what is not the pipeline's:
inventory entries in another namespace, with another team's labels, or naming DAG files by an
absolute path, a climbing path or another team's folder are reported and ignored; a state
object that claims another pipeline is refused. Against the fake API server and against the
directory platform, with both kinds of DAG delivery (directory, ConfigMap)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelinectl.adapters.dags import DirectoryDelivery
from pipelinectl.adapters.kubedir import DirectoryKube
from pipelinectl.deploy import engine, state
from pipelinectl.deploy.ports import Cluster
from pipelinectl.errors import UserError
from pipelinectl.render import outputs
from pipelinectl.spec import platform
from pipelinectl.vocabulary import MANAGED_BY, MANAGER, PIPELINE_LABEL, TEAM_LABEL
from tests.support.deploying import SPEC, commit, context, desired_of
from tests.support.fakekube import FakeKube
from tests.support.repo import git, valid_pipeline, write

AIRFLOW_SPEC = SPEC.replace("tasks:", "engine: airflow\ntasks:")


def cronjob(name: str, namespace: str, pipeline: str, team: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {MANAGED_BY: MANAGER, PIPELINE_LABEL: pipeline,
                                    TEAM_LABEL: team}},
            "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": {
                "spec": {"containers": [{"name": "x", "image": "x"}],
                         "restartPolicy": "Never"}}}}}}


class Platform:
    """One of the two ways a deploy reaches a cluster, with the same checks."""

    def __init__(self, kind: str, tmp_path: Path, fake: FakeKube) -> None:
        self.kind = kind
        self.fake = fake
        self.folder = DirectoryKube(tmp_path / "objects")
        self.tmp_path = tmp_path
        self.said: list[str] = []  # what the deploy reported

    def context(self, repo: Path) -> engine.DeployContext:
        ctx = context(repo, self.tmp_path / "kubeconfig")
        delivery = DirectoryDelivery(self.tmp_path / "dags")
        ctx = dataclasses.replace(ctx, delivery=delivery, report=self.said.append)
        if self.kind == "directory":
            ctx = dataclasses.replace(ctx, cluster=self.folder)
        return ctx

    @property
    def cluster(self) -> Cluster:
        return self.folder if self.kind == "directory" else _kube(self.fake, self.tmp_path)

    def put(self, obj: dict[str, Any]) -> None:
        self.cluster.apply(obj, None)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.cluster.get(kind, namespace, name)


def _kube(fake: FakeKube, tmp_path: Path) -> Cluster:
    from pipelinectl.adapters.kube import Kube

    return Kube(Kube.connect({"KUBECONFIG": str(tmp_path / "kubeconfig")})._client,
                sleep=lambda _: None)


@pytest.fixture(params=["api-server", "directory"])
def where(request: pytest.FixtureRequest, fake: FakeKube, tmp_path: Path) -> Platform:
    fake.add_namespace("other-team")
    return Platform(request.param, tmp_path, fake)


def deploy(repo: Path, where: Platform) -> list[engine.DeployOutcome]:
    return engine.run(desired_of(repo), where.context(repo), prune_removed=True)


def edit_state(where: Platform, pipeline: str, change: Callable[[dict[str, Any]], None]
               ) -> None:
    obj = where.get("ConfigMap", "default", state.object_name(pipeline))
    assert obj is not None
    document = json.loads(obj["data"][state.STATE_DATA_KEY])
    change(document)
    obj["data"][state.STATE_DATA_KEY] = json.dumps(document)
    obj["metadata"].pop("annotations", None)
    obj["metadata"].pop("resourceVersion", None)
    obj["metadata"].pop("managedFields", None)
    where.put(obj)


def add_to_inventory(where: Platform, pipeline: str, *entries: list[str]) -> None:
    def change(document: dict[str, Any]) -> None:
        document["current"]["inventory"] += [list(e) for e in entries]
    edit_state(where, pipeline, change)


def test_foreign_objects_named_in_a_state_are_never_deleted(git_repo: Path,
                                                             where: Platform) -> None:
    commit(git_repo, "etl")
    deploy(git_repo, where)
    foreign = [
        cronjob("theirs", "other-team", "etl", "default"),  # our labels, another namespace
        cronjob("impostor", "default", "etl", "other-team"),  # another team's label
        cronjob("bystander", "default", "other", "default"),  # another pipeline's
    ]
    for obj in foreign:
        where.put(obj)
    add_to_inventory(where, "etl", *[["batch/v1", "CronJob", o["metadata"]["namespace"],
                                       o["metadata"]["name"]] for o in foreign])
    commit(git_repo, "etl", cron="0 8 * * *")  # a change: the deploy prunes what it dropped
    [outcome] = deploy(git_repo, where)
    assert outcome.pruned == []
    for obj in foreign:
        meta = obj["metadata"]
        assert where.get("CronJob", meta["namespace"], meta["name"]) is not None
    assert where.said == [
        "etl: not pruning CronJob default/bystander named in its state object: it does not "
        "carry this pipeline's and team's ownership labels",
        "etl: not pruning CronJob default/impostor named in its state object: it does not "
        "carry this pipeline's and team's ownership labels",
        "etl: not pruning CronJob other-team/theirs named in its state object: namespace "
        "other-team is not team default's"]


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.py", "default/../../x.py",
                                  "other-team/other-team__etl.py", "default\\..\\x.py"])
def test_dag_files_outside_the_team_folder_are_never_deleted(git_repo: Path, where: Platform,
                                                             tmp_path: Path, path: str) -> None:
    valid_pipeline(git_repo / "etl", AIRFLOW_SPEC.format(name="etl", cron="0 7 * * *",
                                                         secrets="db"))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "airflow")
    deploy(git_repo, where)
    victim = write(tmp_path / "dags" / "other-team" / "other-team__etl.py", "precious\n")
    outside = write(tmp_path / "outside.py", "precious\n")
    location = f"directory:{tmp_path / 'dags'}"
    add_to_inventory(where, "etl", ["pipelinectl.io/v1", "DAGFile", location, path])
    commit(git_repo, "etl", cron="0 9 * * *")  # now a cronjob: its DAG file is pruned
    [outcome] = deploy(git_repo, where)
    assert [i.name for i in outcome.pruned] == ["default/default__etl.py"]
    assert victim.read_text() == outside.read_text() == "precious\n"
    assert where.said == [f"etl: not pruning DAGFile {location}/{path} named in its state "
                          "object: not a file of team default's DAG folder"]


def test_a_dag_file_in_the_team_folder_that_is_not_ours_is_kept(git_repo: Path,
                                                                  where: Platform,
                                                                  tmp_path: Path) -> None:
    commit(git_repo, "etl")
    deploy(git_repo, where)
    handwritten = write(tmp_path / "dags" / "default" / "default__notes.py", "print('mine')\n")
    location = f"directory:{tmp_path / 'dags'}"
    add_to_inventory(where, "etl", ["pipelinectl.io/v1", "DAGFile", location,
                                    "default/default__notes.py"])
    commit(git_repo, "etl", cron="0 9 * * *")
    deploy(git_repo, where)
    assert handwritten.read_text() == "print('mine')\n"
    assert where.said == [f"etl: not pruning DAGFile {location}/default/default__notes.py "
                          "named in its state object: not a DAG file pipelinectl generated "
                          "for this pipeline"]


def test_a_state_object_claiming_another_pipeline_is_refused(git_repo: Path,
                                                             where: Platform) -> None:
    commit(git_repo, "etl")
    deploy(git_repo, where)

    def claim(document: dict[str, Any]) -> None:
        document["pipeline"] = "payroll"
    edit_state(where, "etl", claim)
    with pytest.raises(UserError) as refused:
        deploy(git_repo, where)
    assert refused.value.message == (
        "state object pipelinectl-state-etl records pipeline 'payroll' of team 'default', "
        "which its name and labels do not")
    assert refused.value.hint is not None and "delete it to start over" in refused.value.hint


def test_the_rendered_dag_of_render_is_what_prune_recognises() -> None:
    """render -o prunes by the same rule: only files pipelinectl generated."""
    assert not outputs.generated("x.py", "print('hand-written')\n")
    assert not outputs.generated("x.yaml", "metadata: {labels: {team: x}}\n")
    assert outputs.generated("x.yaml", f"metadata: {{labels: {{{MANAGED_BY}: {MANAGER}}}}}\n")
    assert not outputs.generated("x.yaml", "{{{{")
    assert platform.load(None).airflow.dags.kind == "directory"
