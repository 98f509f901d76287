"""The cluster half of deploy (pipelinectl/deploy/engine.py) with real git history and the fake API
server driven through the real kubernetes client: guard, preflight, apply, prune, record."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from pipelinectl.adapters.git import GitHistory
from pipelinectl.adapters.kube import KubeError
from pipelinectl.deploy import engine as deploy
from pipelinectl.deploy import state
from pipelinectl.deploy.engine import Refused
from pipelinectl.spec import platform
from pipelinectl.vocabulary import GIT_SHA_ANNOTATION
from tests.support.deploying import (
    SPEC,
    commit,
    context,
    desired_of,
    live_cronjob,
    recorded,
    run,
    without_revision,
)
from tests.support.fakekube import FakeKube
from tests.support.repo import git, valid_pipeline, write


def test_deploy_redeploy_stale_job_and_revert(git_repo: Path, fake: FakeKube,
                                              tmp_path: Path) -> None:
    a = commit(git_repo, message="A")
    [first] = run(git_repo, fake, tmp_path)
    assert [i.name for i in first.applied] == ["etl"] and first.recorded
    spec_a = live_cronjob(fake)["spec"]
    assert recorded(fake).current.revision == a

    before = len(fake.writes())
    [again] = run(git_repo, fake, tmp_path)  # the same commit again: not one write
    assert again.unchanged and not again.applied and not again.recorded
    assert len(fake.writes()) == before

    b = commit(git_repo, cron="0 8 * * *", message="B")
    [second] = run(git_repo, fake, tmp_path)
    assert second.applied and live_cronjob(fake)["spec"]["schedule"] == "0 8 * * *"
    assert [d.revision for d in recorded(fake).history] == [b, a]

    git(git_repo, "checkout", "-q", a)  # a stale CI job for A, after B went out
    before = len(fake.writes())
    with pytest.raises(Refused) as stale:
        run(git_repo, fake, tmp_path)
    assert stale.value.message == (
        f"etl: commit {a[:12]} does not descend from the deployed commit {b[:12]}: refusing "
        "to roll default back (a stale CI job?)")
    assert len(fake.writes()) == before and live_cronjob(fake)["spec"]["schedule"] == "0 8 * * *"

    git(git_repo, "checkout", "-q", "-")
    git(git_repo, "revert", "--no-edit", "HEAD")
    reverted = git(git_repo, "rev-parse", "HEAD")
    run(git_repo, fake, tmp_path)
    # A's objects, apart from the revision: the revert is the last commit that changed etl
    assert without_revision(live_cronjob(fake)["spec"]) == without_revision(spec_a)
    annotations = live_cronjob(fake)["metadata"]["annotations"]
    assert annotations[GIT_SHA_ANNOTATION] == reverted
    assert [d.revision for d in recorded(fake).history] == [reverted, b, a]


def test_force_deploys_a_stale_commit_and_says_so(git_repo: Path, fake: FakeKube,
                                                   tmp_path: Path) -> None:
    a = commit(git_repo, message="A")
    commit(git_repo, cron="0 8 * * *", message="B")
    run(git_repo, fake, tmp_path)
    git(git_repo, "checkout", "-q", a)
    run(git_repo, fake, tmp_path, force=True)
    assert live_cronjob(fake)["spec"]["schedule"] == "0 7 * * *"
    assert recorded(fake).current.forced is True


def test_prune_renamed_pipeline_never_touches_foreign_objects(git_repo: Path, fake: FakeKube,
                                                              tmp_path: Path) -> None:
    commit(git_repo, "etl")
    run(git_repo, fake, tmp_path)
    git(git_repo, "mv", "etl", "etl2")
    (git_repo / "etl2" / "pipeline.yaml").write_text(
        SPEC.format(name="etl2", cron="0 7 * * *", secrets="db"))
    git(git_repo, "commit", "-qam", "rename")
    outcomes = run(git_repo, fake, tmp_path)
    assert [(o.pipeline, o.removed, [i.name for i in o.pruned]) for o in outcomes] == [
        ("etl2", False, []), ("etl", True, ["etl"])]
    assert fake.get("cronjobs", "default", "etl") is None  # never two schedules running
    [prune] = [r for r in fake.requests if r.method == "DELETE" and r.path.endswith("/etl")]
    assert prune.query == {"propagationPolicy": "Orphan"}  # a running Job finishes
    assert fake.get("configmaps", "default", state.object_name("etl")) is None
    # A same-named object that is not ours: refused before any write, never deleted.
    fake.put(("batch", "v1", "cronjobs"), "default",
             {"metadata": {"name": "etl3"}, "spec": {"schedule": "* * * * *"}})
    git(git_repo, "mv", "etl2", "etl3")
    (git_repo / "etl3" / "pipeline.yaml").write_text(
        SPEC.format(name="etl3", cron="0 7 * * *", secrets="db"))
    git(git_repo, "commit", "-qam", "rename again")
    before = len(fake.writes())
    with pytest.raises(Refused) as taken:
        run(git_repo, fake, tmp_path)
    assert "  - CronJob default/etl3 exists and is not managed by pipelinectl: it is never " \
           "overwritten" in taken.value.message
    assert len(fake.writes()) == before
    assert fake.get("cronjobs", "default", "etl3")["spec"] == {"schedule": "* * * * *"}  # type: ignore[index]


def test_preflight_failures_write_nothing(git_repo: Path, fake: FakeKube,
                                          tmp_path: Path) -> None:
    valid_pipeline(git_repo / "etl", SPEC.format(name="etl", cron="0 7 * * *",
                                                 secrets="db, missing"))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "x")
    fake.denied.add(("delete", "cronjobs", "default"))
    with pytest.raises(Refused) as refused:
        run(git_repo, fake, tmp_path)
    assert refused.value.message == (
        "preflight failed, nothing was changed:\n"
        "  - the deploy credentials may not delete CronJob objects in namespace default\n"
        "  - etl: Secret default/missing does not exist")
    assert fake.writes() == []


def test_a_failure_mid_apply_keeps_the_old_record_and_a_rerun_converges(
        git_repo: Path, fake: FakeKube, tmp_path: Path) -> None:
    commit(git_repo, "a-first")
    commit(git_repo, "b-second")
    run(git_repo, fake, tmp_path)
    old = recorded(fake, "b-second")
    for name in ("a-first", "b-second"):
        (git_repo / name / "pipeline.yaml").write_text(
            SPEC.format(name=name, cron="0 9 * * *", secrets="db"))
    git(git_repo, "commit", "-qam", "both at 9")
    fake.fail("PATCH", r"/cronjobs/b-second$", 500, times=6)
    with pytest.raises(KubeError):
        run(git_repo, fake, tmp_path)
    assert recorded(fake, "b-second") == old  # the previous record is intact
    assert live_cronjob(fake, "a-first")["spec"]["schedule"] == "0 9 * * *"
    outcomes = run(git_repo, fake, tmp_path)
    assert [(o.pipeline, len(o.applied), len(o.unchanged)) for o in outcomes] == [
        ("a-first", 0, 1), ("b-second", 1, 0)]
    assert live_cronjob(fake, "b-second")["spec"]["schedule"] == "0 9 * * *"


def test_shallow_clone_deepens_or_says_how(git_repo: Path, fake: FakeKube, tmp_path: Path,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    a = commit(git_repo, message="A")
    run(git_repo, fake, tmp_path)
    commit(git_repo, cron="0 8 * * *", message="B")
    shallow = tmp_path_factory.mktemp("shallow") / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{git_repo}", str(shallow)],
                   check=True)
    assert GitHistory(shallow).is_ancestor(a, "HEAD") is None
    [outcome] = run(shallow, fake, tmp_path)  # deepened from origin, then allowed
    assert outcome.applied
    assert GitHistory(shallow).is_shallow() is False

    cut_off = tmp_path_factory.mktemp("cut-off") / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{git_repo}", str(cut_off)],
                   check=True)
    git(cut_off, "remote", "remove", "origin")
    commit(git_repo, cron="0 9 * * *", message="C")  # deployed below from the full repo
    run(git_repo, fake, tmp_path)
    write(cut_off / "etl" / "fetch.py", "print('x')\n")
    git(cut_off, "commit", "-qam", "D")
    with pytest.raises(Refused) as unknown:
        run(cut_off, fake, tmp_path)
    assert unknown.value.hint == deploy.DEPTH_HINT
    assert "is not in this clone" in unknown.value.message


def test_dag_files_are_delivered_pruned_and_never_overwrite_others(
        git_repo: Path, fake: FakeKube, tmp_path: Path) -> None:
    from pipelinectl.adapters.dags import DirectoryDelivery

    local = platform.load(None)
    delivery = DirectoryDelivery(tmp_path / "dags")

    def deploy_now() -> list[deploy.DeployOutcome]:
        ctx = dataclasses.replace(context(git_repo, tmp_path / "kubeconfig"),
                                  delivery=delivery)
        return deploy.run(desired_of(git_repo, local), ctx, prune_removed=True)

    spec = SPEC.replace("tasks:", "engine: airflow\ntasks:")
    valid_pipeline(git_repo / "etl", spec.format(name="etl", cron="0 7 * * *", secrets="db"))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "airflow")
    [first] = deploy_now()
    assert [i.name for i in first.applied] == ["default/default__etl.py"]
    assert (tmp_path / "dags" / "default" / "default__etl.py").is_file()
    writes = len(fake.writes())
    [again] = deploy_now()
    assert again.unchanged and not again.applied and len(fake.writes()) == writes

    git(git_repo, "mv", "etl", "etl2")
    (git_repo / "etl2" / "pipeline.yaml").write_text(
        spec.format(name="etl2", cron="0 7 * * *", secrets="db"))
    git(git_repo, "commit", "-qam", "rename")
    outcomes = deploy_now()
    assert [(o.pipeline, [i.name for i in o.pruned]) for o in outcomes] == [
        ("etl2", []), ("etl", ["default/default__etl.py"])]
    assert sorted(p.name for p in (tmp_path / "dags" / "default").iterdir()) == [
        "default__etl2.py"]

    (tmp_path / "dags" / "default" / "default__etl3.py").write_text("# someone else's\n")
    git(git_repo, "mv", "etl2", "etl3")
    (git_repo / "etl3" / "pipeline.yaml").write_text(
        spec.format(name="etl3", cron="0 7 * * *", secrets="db"))
    git(git_repo, "commit", "-qam", "rename again")
    with pytest.raises(Refused) as taken:
        deploy_now()
    assert "etl3: default/default__etl3.py in directory:" in taken.value.message
    assert (tmp_path / "dags" / "default" / "default__etl3.py").read_text() == \
        "# someone else's\n"


def test_prune_never_leaves_the_namespace(git_repo: Path, fake: FakeKube,
                                          tmp_path: Path) -> None:
    commit(git_repo, "etl")
    run(git_repo, fake, tmp_path)
    # A state edited to list an object elsewhere, with our labels: still never deleted.
    fake.add_namespace("kube-system")
    ours = {"app.kubernetes.io/managed-by": "pipelinectl", "pipelinectl.io/pipeline": "etl"}
    fake.put(("batch", "v1", "cronjobs"), "kube-system",
             {"metadata": {"name": "etl", "labels": ours}, "spec": {"schedule": "* * * * *"}})
    record = recorded(fake)
    tampered = state.State(record.pipeline, record.team, record.source, state.Deploy(
        record.current.revision, "sha256:other", record.current.image, "production", "t",
        False, (*record.inventory, state.Item("batch/v1", "CronJob", "kube-system", "etl"))),
        record.history)
    fake.put(("", "v1", "configmaps"), "default", state.to_configmap(tampered, "default"))
    run(git_repo, fake, tmp_path)
    assert fake.get("cronjobs", "kube-system", "etl") is not None
    assert not [r for r in fake.requests if r.method == "DELETE"]


def test_dag_configmaps_for_a_sidecar(git_repo: Path, fake: FakeKube, tmp_path: Path) -> None:

    platform_file = write(tmp_path / "platform.yaml", """\
apiVersion: pipelinectl/v1
kind: Platform
registry: 127.0.0.1:5000
base_images: {python: {"3.12": python:3.12-slim}}
teams: {default: {namespace: default}}
airflow: {dags: {configmap: {namespace: airflow}}}
""")
    config = platform.load(str(platform_file))
    fake.add_namespace("airflow")
    spec = SPEC.replace("tasks:", "engine: airflow\ntasks:")
    valid_pipeline(git_repo / "etl", spec.format(name="etl", cron="0 7 * * *", secrets="db"))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "airflow")
    [wanted] = desired_of(git_repo, config)
    [outcome] = deploy.run([wanted], context(git_repo, tmp_path / "kubeconfig"), True)
    assert [i.describe() for i in outcome.applied] == ["ConfigMap airflow/dag-default--etl"]
    configmap = fake.get("configmaps", "airflow", "dag-default--etl")
    assert configmap is not None
    assert configmap["metadata"]["labels"]["pipelinectl.io/dag"] == "true"
    assert list(configmap["data"]) == ["default__etl.py"]
    from pipelinectl.render.changes import pipeline_literal
    assert pipeline_literal(configmap["data"]["default__etl.py"])["namespace"] == "default"
