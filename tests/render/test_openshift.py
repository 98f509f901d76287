"""kubernetes.flavor: openshift (SPEC 8): CronJob pods and KubernetesPodOperator pods carry
no fixed user, group or fsGroup, and keep the rest of the hardened security context. Proved
without a cluster with a checker of the restricted-v2 SCC (tests/support/scc.py), which its
fixtures show can fail, and which the default flavor's objects fail on runAsUser."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelinectl.render import airflow, cronjob
from pipelinectl.spec import platform
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import validate_files
from tests.support import scc
from tests.support.repo import REPO, write

FIXTURES = REPO / "tests" / "fixtures" / "scc"
IMAGE = "127.0.0.1:5000/default/{name}@sha256:" + "2" * 64
HARDENED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
HARDENED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
OUT_OF_RANGE = ("pod runAsUser 10001 is not in the namespace's range 1000680000-1000689999 "
                "(MustRunAsRange)")


def fixtures(name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = yaml.safe_load((FIXTURES / name).read_text())
    return found


@pytest.mark.parametrize("case", fixtures("admitted.yaml"), ids=lambda c: c["name"])
def test_the_checker_admits_what_the_scc_admits(case: dict[str, Any]) -> None:
    assert scc.violations(case["pod"]) == []


@pytest.mark.parametrize("case", fixtures("rejected.yaml"), ids=lambda c: c["name"])
def test_the_checker_rejects_what_the_scc_rejects(case: dict[str, Any]) -> None:
    assert scc.violations(case["pod"]) == [case["reason"]]


def pipelines() -> list[Any]:
    sources = [str(REPO / "examples"), str(REPO / "tests" / "fixtures" / "valid")]
    report = validate_files(find_pipelines(sources, REPO), platform.load(None), None, REPO)
    assert report.problems == []
    return report.pipelines


def target(pipeline: Any, run_as: int | None) -> cronjob.Target:
    return cronjob.Target("default", "default", IMAGE.format(name=pipeline.metadata.name),
                          "0" * 40, run_as)


@pytest.mark.parametrize("pipeline", [p for p in pipelines()
                                      if p.resolved_engine == "cronjob"],
                         ids=lambda p: p.metadata.name)
def test_every_cronjob_is_admitted_on_openshift_and_not_as_the_default(pipeline: Any) -> None:
    openshift = scc.pod_of(cronjob.render(pipeline, target(pipeline, None)))
    assert scc.violations(openshift) == []
    assert openshift["securityContext"] == HARDENED_POD
    for container in openshift.get("initContainers", []) + openshift["containers"]:
        assert container["securityContext"] == HARDENED_CONTAINER
    default = scc.pod_of(cronjob.render(pipeline, target(pipeline, cronjob.RUN_AS)))
    assert OUT_OF_RANGE in scc.violations(default)
    assert default["securityContext"] == {**HARDENED_POD, "runAsUser": 10001,
                                          "runAsGroup": 10001, "fsGroup": 10001}


def test_the_platform_flavor_reaches_the_render(tmp_path: Path) -> None:
    text = (REPO / "pipelinectl" / "data" / "local-platform.yaml").read_text()
    config = platform.load(str(write(tmp_path / "p.yaml", text.replace(
        "  directory: .pipelinectl/kubernetes", "  directory: .pipelinectl/kubernetes\n"
                                                 "  flavor: openshift"))))
    assert (config.flavor, config.run_as) == ("openshift", None)
    assert platform.load(None).run_as == 10001


def test_platform_manifests_have_no_pod_the_scc_could_reject(run, tmp_path: Path) -> None:
    write(tmp_path / "p.yaml", "apiVersion: pipelinectl/v1\nkind: Platform\nregistry: r.example"
                               "\nteams: {default: {namespace: default}}\n"
                               "kubernetes: {flavor: openshift}\n")
    done = run("platform", "manifests", "--platform", "p.yaml", cwd=tmp_path)
    assert done.code == 0, done.err
    kinds = {d["kind"] for d in yaml.safe_load_all(done.out) if d}
    assert kinds == {"Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole",
                     "ClusterRoleBinding", "LimitRange", "ResourceQuota"}


PROBE = """\
import json, sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from kubernetes.client import ApiClient
KubernetesHook.is_in_cluster = property(lambda self: False)  # no cluster: only the pod's spec
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
pods = {}
for dag_id, dag in bag.dags.items():
    for task in dag.tasks:
        pod = task.build_pod_request_obj()
        pods[dag_id + "." + task.task_id] = ApiClient().sanitize_for_serialization(pod)["spec"]
print(json.dumps(pods))
"""


def test_kubernetes_pod_operator_pods_are_admitted_on_openshift(airflow_python: str,
                                                               tmp_path: Path) -> None:
    found = [p for p in pipelines() if p.resolved_engine == "airflow"]
    for flavor, run_as in (("openshift", None), ("kubernetes", cronjob.RUN_AS)):
        folder = tmp_path / flavor
        folder.mkdir()
        for pipeline in found:
            (folder / f"{pipeline.metadata.name}.py").write_text(
                airflow.render(pipeline, airflow.AirflowTarget(target(pipeline, run_as))))
        done = subprocess.run([airflow_python, "-c", PROBE, str(folder)], capture_output=True,
                              text=True, env={"AIRFLOW_HOME": str(tmp_path / "home"),
                                              "PATH": "/usr/bin:/bin"}, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        pods = json.loads(done.stdout.strip().splitlines()[-1])
        assert len(pods) >= len(found)
        for name, pod in pods.items():
            if flavor == "openshift":
                assert scc.violations(pod) == [], name
                assert "runAsUser" not in pod["securityContext"], name
            else:
                assert OUT_OF_RANGE in scc.violations(pod), name
