"""`deploy` on a platform without a cluster (the built-in local platform's way): Kubernetes
objects and state objects as files, DAG files to a folder; same rules as against a cluster."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelinectl.deploy import state
from pipelinectl.deploy.lease import lease_name
from pipelinectl.spec import platform
from tests.support.repo import git, write
from tests.support.services import BASE, HOST, PREFIX

SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: {name}, team: default}}
image: {{dockerfile: Dockerfile}}
engine: {engine}
schedule: "0 7 * * *"
tasks:
  - name: main
    command: [sh, -c, "echo hello"]
"""


def test_local_deploy_writes_objects_and_dags(services: None, run,
                                              tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    local = platform.builtin_path().read_text()
    write(repo / "platform.yaml", local.replace(
        "registry: 127.0.0.1:5000", f"registry: {HOST}/{PREFIX}/local").replace(
        "allowed_base_registries: [docker.io/rocker, docker.io/library]",
        "allowed_base_registries: [docker.io/pipelinectl-test]"))
    for name, engine in (("nightly", "cronjob"), ("weekly", "airflow")):
        write(repo / name / "pipeline.yaml", SPEC.format(name=name, engine=engine))
        write(repo / name / "Dockerfile", f"FROM {BASE}\nUSER 10001\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two pipelines")
    first = run("deploy", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert first.code == 0, first.err
    objects = repo / ".pipelinectl" / "kubernetes" / "default"
    lease = f"ConfigMap/{lease_name(str(repo.resolve()), 'production')}.yaml"
    assert sorted(p.relative_to(objects).as_posix() for p in objects.rglob("*.yaml")) == sorted([
        "ConfigMap/pipelinectl-state-nightly.yaml", "ConfigMap/pipelinectl-state-weekly.yaml",
        "CronJob/nightly.yaml", lease])
    cronjob = yaml.safe_load((objects / "CronJob" / "nightly.yaml").read_text())
    assert cronjob["spec"]["schedule"] == "0 7 * * *"
    dag = repo / ".pipelinectl" / "airflow" / "dags" / "default" / "default__weekly.py"
    assert dag.is_file()
    record = state.from_configmap(yaml.safe_load(
        (objects / "ConfigMap" / "pipelinectl-state-weekly.yaml").read_text()))
    assert [i.kind for i in record.inventory] == ["DAGFile"]

    stamps = {p: p.stat().st_mtime_ns for p in objects.rglob("*.yaml")}
    again = run("deploy", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert again.code == 0, again.err
    assert again.out == ("nightly: image up to date; 1 unchanged\n"
                         "weekly: image up to date; 1 unchanged\n")
    assert {p: p.stat().st_mtime_ns for p in objects.rglob("*.yaml")} == stamps

    status = run("status", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert status.code == 0, status.err
    assert "  CronJob default/nightly\n  next run: " in status.out
    lines = status.out.splitlines()
    # nothing runs a folder's schedules: said plainly (for both engines: the runs here are
    # those `trigger` records), and --check has nothing to fail on
    none_yet = ("  runs: none yet: this platform keeps CronJobs as files, and nothing runs them "
                "on schedule; `pipelinectl trigger` runs one in docker and records it here")
    assert lines.count(none_yet) == 2, status.out
    checked = run("status", "--check", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert (checked.code, checked.out.splitlines()[-1]) == (0, "check: ok (2 pipelines)")
