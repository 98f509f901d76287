"""`pipelinectl platform manifests`: golden files, real Kubernetes schemas, and a deployer Role
that grants exactly what the commands do (read from the fake API server's request log)."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

import tests.support.deploying as core
from pipelinectl.admin import airflowrbac, manifests
from pipelinectl.deploy import engine as deploy
from pipelinectl.spec import platform
from pipelinectl.yamlout import dump_all
from tests.support import golden
from tests.support.fakekube import FakeKube
from tests.support.repo import REPO, git, valid_pipeline, write

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


AIRFLOW_GOLDEN = GOLDEN / "airflow"
# The same teams on a platform with Airflow: ConfigMap delivery and the kubernetes task runner.
AIRFLOW_PLATFORM = PLATFORM + """\
airflow:
  dags:
    configmap: {namespace: airflow-dags}
  task_runner: kubernetes
"""
AIRFLOW_FILES = ["_airflow", "default", "epi-surveillance"]


@pytest.fixture
def config(tmp_path: Path) -> platform.Platform:
    return platform.load(str(write(tmp_path / "platform.yaml", PLATFORM)))


@pytest.mark.parametrize("team", ["default", "epi-surveillance"])
def test_golden(config: platform.Platform, team: str) -> None:
    text = manifests.HEADER + dump_all(manifests.team_manifests(config, team))
    golden.check(GOLDEN / f"{team}.yaml", text)


def airflow_documents(config: platform.Platform, name: str,
                      accounts: airflowrbac.AirflowAccounts) -> list[dict[str, object]]:
    if name == "_airflow":
        return airflowrbac.platform_objects(config, accounts)
    return manifests.team_manifests(config, name) + airflowrbac.team_objects(config, name,
                                                                              accounts)


@pytest.mark.parametrize("name", AIRFLOW_FILES)
def test_golden_with_airflow(tmp_path: Path, name: str) -> None:
    config = platform.load(str(write(tmp_path / "platform.yaml", AIRFLOW_PLATFORM)))
    accounts = airflowrbac.AirflowAccounts("airflow-dags", "airflow-worker")
    text = manifests.HEADER + dump_all(airflow_documents(config, name, accounts))
    golden.check(AIRFLOW_GOLDEN / f"{name}.yaml", text)


@pytest.mark.parametrize("version", ["1.27.0", kubernetes_validate.utils.latest_version()])
@pytest.mark.parametrize("path", [GOLDEN / "default.yaml", GOLDEN / "epi-surveillance.yaml",
                                  *(AIRFLOW_GOLDEN / f"{n}.yaml" for n in AIRFLOW_FILES)],
                         ids=lambda p: p.relative_to(GOLDEN).as_posix())
def test_passes_kubernetes_schema_strictly(path: Path, version: str) -> None:
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        kubernetes_validate.validate(document, version, strict=True)


def test_airflow_rbac(tmp_path: Path) -> None:
    config = platform.load(str(write(tmp_path / "platform.yaml", AIRFLOW_PLATFORM)))
    accounts = airflowrbac.AirflowAccounts("airflow-dags", "airflow-worker")
    objects = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
               for o in airflowrbac.team_objects(config, "epi-surveillance", accounts)}
    assert sorted(objects) == [
        ("ClusterRole", "", "pipelinectl-deployer-epi-surveillance-dags"),
        ("ClusterRoleBinding", "", "pipelinectl-deployer-epi-surveillance-dags"),
        ("Role", "airflow-dags", "pipelinectl-deployer-epi-surveillance"),
        ("Role", "epi-surveillance", "pipelinectl-airflow-pods"),
        ("RoleBinding", "airflow-dags", "pipelinectl-deployer-epi-surveillance"),
        ("RoleBinding", "epi-surveillance", "pipelinectl-airflow-pods")]
    pods = objects[("Role", "epi-surveillance", "pipelinectl-airflow-pods")]["rules"]
    assert {(r["resources"][0], v) for r in pods for v in r["verbs"]} == {
        ("pods", "create"), ("pods", "get"), ("pods", "list"), ("pods", "patch"),
        ("pods", "delete"), ("pods/log", "get"), ("events", "list")}  # no pods/exec
    binding = objects[("RoleBinding", "epi-surveillance", "pipelinectl-airflow-pods")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "airflow-worker",
                                    "namespace": "airflow-dags"}]
    deployer = objects[("RoleBinding", "airflow-dags", "pipelinectl-deployer-epi-surveillance")]
    assert deployer["subjects"] == [{"kind": "ServiceAccount", "name": "pipelinectl-deployer",
                                     "namespace": "epi-surveillance"}]
    role = objects[("Role", "airflow-dags", "pipelinectl-deployer-epi-surveillance")]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                              "verbs": ["delete", "get", "list", "patch"]}]
    sidecar = airflowrbac.platform_objects(config, accounts)
    assert sidecar[0]["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                                    "verbs": ["get", "list", "watch"]}]
    assert [s["name"] for s in sidecar[1]["subjects"]] == [
        "airflow-scheduler", "airflow-dag-processor", "airflow-worker"]


@pytest.mark.parametrize(("airflow", "expected"), [
    ("", []),  # no airflow section: DAGs go to a local folder, no Airflow in the cluster
    ("airflow:\n  dags: {git: {repo: r}}\n", ["Role", "RoleBinding"]),
    ("airflow:\n  dags: {git: {repo: r}}\n  task_runner: docker\n", []),
    ("airflow:\n  dags: {directory: /srv/dags}\n", ["Role", "RoleBinding"]),
])
def test_which_airflow_objects(tmp_path: Path, airflow: str, expected: list[str]) -> None:
    config = platform.load(str(write(tmp_path / "platform.yaml", PLATFORM + airflow)))
    accounts = airflowrbac.AirflowAccounts("airflow", "airflow-worker")
    kinds = [o["kind"] for o in airflowrbac.team_objects(config, "default", accounts)]
    assert kinds == expected
    assert airflowrbac.platform_objects(config, accounts) == []


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


def test_command_with_airflow(run, tmp_path: Path) -> None:
    write(tmp_path / "platform.yaml", AIRFLOW_PLATFORM)
    written = run("platform", "manifests", "-o", "out", "--platform", "platform.yaml",
                  cwd=tmp_path)
    assert written.code == 0
    assert written.out.splitlines() == ["out/default.yaml", "out/epi-surveillance.yaml",
                                        "out/_airflow.yaml"]  # the Airflow-level part, last
    for name in AIRFLOW_FILES:
        assert (tmp_path / "out" / f"{name}.yaml").read_text() == (
            AIRFLOW_GOLDEN / f"{name}.yaml").read_text()
    one = run("platform", "manifests", "--team", "default", "--platform", "platform.yaml",
              cwd=tmp_path)  # one team: no Airflow-level objects
    assert one.code == 0 and one.out == (AIRFLOW_GOLDEN / "default.yaml").read_text()
    elsewhere = run("platform", "manifests", "--team", "default", "--airflow-namespace",
                    "airflow-prod", "--worker-service-account", "runner", "--platform",
                    "platform.yaml", cwd=tmp_path)
    [binding] = [o for o in yaml.safe_load_all(elsewhere.out) if o["kind"] == "RoleBinding"
                 and o["metadata"]["name"] == "pipelinectl-airflow-pods"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "runner",
                                    "namespace": "airflow-prod"}]
    hostile = run("platform", "manifests", "--airflow-namespace", "x\nkind: ClusterRole",
                  "--platform", "platform.yaml", cwd=tmp_path)
    assert hostile.code == 2 and hostile.out == ""
    assert "is not a DNS-1123 label (a namespace name)" in hostile.err


_RESOURCE = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/v1)/namespaces/(?P<ns>[^/]+)/"
                       r"(?P<resource>[^/]+)(?P<name>/[^/]+)?$")
_VERB = {"GET": "get", "PATCH": "patch", "DELETE": "delete", "POST": "create", "PUT": "update"}


def test_the_deployer_role_is_exactly_what_the_commands_use(services: None, git_repo: Path,
                                                            fake: FakeKube, tmp_path: Path, run,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    # A full life: deploy, change, backfill, rename (prune, the backfill stopped), then status,
    # history and plan read it all.
    core.commit(git_repo, "etl")
    core.run(git_repo, fake, tmp_path)
    core.commit(git_repo, "etl", cron="0 8 * * *")
    with (git_repo / "etl" / "pipeline.yaml").open("a") as spec:  # a backfill: its Job made
        spec.write('backfills:\n  - {id: b, from: "2026-01-01", to: "2026-01-03"}\n')
    git(git_repo, "commit", "-qam", "backfill")
    core.run(git_repo, fake, tmp_path)
    git(git_repo, "mv", "etl", "etl2")  # and suspended when its pipeline goes
    (git_repo / "etl2" / "pipeline.yaml").write_text(
        core.SPEC.format(name="etl2", cron="0 7 * * *", secrets="db"))
    git(git_repo, "commit", "-qam", "rename")
    core.run(git_repo, fake, tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    cluster_platform = tmp_path / "cluster-platform.yaml"
    cluster_platform.write_text(platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", ""))
    monkeypatch.setenv("CI_PROJECT_PATH", "epi/covid")  # plan reads what this repo deployed
    for command in ("status", "history", "plan"):
        done = run(command, "--platform", str(cluster_platform), cwd=git_repo)
        assert done.code == 0, done.err
    # trigger: the CronJob read, a Job made, and with --wait read until it ends (here: never)
    started = run("trigger", "etl2", "--wait", "--timeout", "1s", "--platform",
                  str(cluster_platform), cwd=git_repo)
    assert started.code == 1 and "timed out" in started.out + started.err, started.err
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


def test_the_deployers_configmap_role_is_what_deploy_uses_there(git_repo: Path,
                                                                 fake: FakeKube,
                                                                 tmp_path: Path) -> None:

    config = platform.load(str(write(tmp_path / "platform.yaml", PLATFORM.replace(
        "  default: {namespace: default}\n", "  default: {namespace: default}\n"
        "airflow: {dags: {configmap: {namespace: airflow}}}\n"))))
    fake.add_namespace("airflow")
    for verb, resource in (("patch", "cronjobs"), ("delete", "cronjobs"), ("get", "secrets")):
        fake.denied.add((verb, resource, "airflow"))  # what the generated Role does not grant
    spec = core.SPEC.replace("tasks:", "engine: airflow\ntasks:")
    for name, cron in (("etl", "0 7 * * *"), ("etl", "0 8 * * *"), ("etl2", "0 8 * * *")):
        for old in git_repo.iterdir():
            if old.name.startswith("etl"):
                git(git_repo, "rm", "-rq", old.name)
        valid_pipeline(git_repo / name, spec.format(name=name, cron=cron, secrets="db"))
        git(git_repo, "add", "-A")
        git(git_repo, "commit", "-qm", f"{name} {cron}")
        wanted = core.desired_of(git_repo, config)
        deploy.run(wanted, core.context(git_repo, tmp_path / "kubeconfig", config=config),
                   True)
    used = set()
    for request in fake.requests:
        match = _RESOURCE.match(request.path)
        if match and match.group("ns") == "airflow":
            verb = _VERB[request.method]
            if request.method == "GET" and match.group("name") is None:
                verb = "list"
            used.add((match.group("group") or "", match.group("resource"), verb))
    granted = {(group, resource, verb) for group, resource, verbs
               in airflowrbac.DEPLOYER_CONFIGMAP_RULES for verb in verbs}
    # get: plan reads the live DAG ConfigMap (commands/plan.py), deploy lists them.
    assert used | {("", "configmaps", "get")} == granted
    namespace_reads = [r for r in fake.requests if r.path == "/api/v1/namespaces/airflow"]
    assert namespace_reads and all(r.method == "GET" for r in namespace_reads)
    cluster_role = [o for o in airflowrbac.team_objects(
        config, "default", airflowrbac.AirflowAccounts("airflow", "airflow-worker"))
        if o["kind"] == "ClusterRole"]
    assert [r["rules"] for r in cluster_role] == [[{
        "apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["airflow"],
        "verbs": ["get"]}]]
