"""`pipelinectl platform airflow-values`: golden values for git and ConfigMap delivery, the
chart's keys and types, containers and volumes valid for Kubernetes, hostile values as data."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from pipelinectl.admin import airflowvalues
from pipelinectl.spec import platform
from pipelinectl.yamlout import dump_all
from tests.support import golden
from tests.support.repo import REPO, valid_pipeline, write

GOLDEN = REPO / "tests" / "golden" / "airflow-values"
CHART = REPO / "tests" / "fixtures" / "airflow-chart"
HEAD = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: registry.example.org/data-pipelines
teams:
  epi-surveillance: {namespace: epi-surveillance}
  default: {namespace: default}
"""
PLATFORMS = {
    "git": HEAD + """\
airflow:
  dags:
    git: {repo: "https://ci-bot:s3cret@git.example.org/data/dags.git", branch: dags,
          path: "teams/{team}"}
""",
    "configmap": HEAD + """\
airflow:
  dags:
    configmap: {namespace: airflow-dags}
  kubernetes_conn_id: k8s_in_cluster
""",
}


def load(tmp_path: Path, text: str) -> platform.Platform:
    return platform.load(str(write(tmp_path / "platform.yaml", text)))


def values_of(tmp_path: Path, text: str, worker: str = "airflow-worker") -> dict[str, Any]:
    return airflowvalues.values(load(tmp_path, text), worker)


@pytest.mark.parametrize("kind", sorted(PLATFORMS))
def test_golden(tmp_path: Path, kind: str) -> None:
    text = airflowvalues.HEADER + dump_all([values_of(tmp_path, PLATFORMS[kind])])
    golden.check(GOLDEN / f"{kind}.yaml", text)


def golden_values(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((GOLDEN / f"{kind}.yaml").read_text())
    return loaded


@pytest.mark.parametrize("kind", sorted(PLATFORMS))
def test_only_keys_the_chart_has(kind: str) -> None:
    schema = json.loads((CHART / "values-subset.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(golden_values(kind))
    with pytest.raises(jsonschema.ValidationError):  # the subset is closed: a typo fails
        jsonschema.Draft7Validator(schema).validate({**golden_values(kind), "schedulr": {}})


@pytest.mark.parametrize("component", ["scheduler", "dagProcessor", "workers"])
def test_sidecar_pods_pass_kubernetes_schema_strictly(component: str) -> None:
    # The chart puts the extra containers, volumes and mounts into its pods: a pod with an
    # Airflow container stands in for them.
    part = golden_values("configmap")[component]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stand-in"},
           "spec": {"containers": [{"name": "airflow", "image": "apache/airflow:3.0.5",
                                    "volumeMounts": part["extraVolumeMounts"]},
                                   *part.get("extraContainers", [])],
                    "initContainers": part.get("extraInitContainers", []),
                    "volumes": part["extraVolumes"]}}
    kubernetes_validate.validate(pod, kubernetes_validate.utils.latest_version(), strict=True)


def test_configmap_delivery_reads_the_dag_configmaps(tmp_path: Path) -> None:
    values = golden_values("configmap")
    for component in ("scheduler", "dagProcessor", "workers"):
        part = values[component]
        containers = part.get("extraContainers", []) + part.get("extraInitContainers", [])
        for container in containers:
            env = {e["name"]: e["value"] for e in container["env"]}
            assert env == {"LABEL": "pipelinectl.io/dag", "LABEL_VALUE": "true",
                           "FOLDER": "/opt/airflow/dags/pipelinectl",
                           "NAMESPACE": "airflow-dags", "RESOURCE": "configmap",
                           "METHOD": "LIST" if container["name"].endswith("-init")
                           else "WATCH"}
            assert container["image"] == airflowvalues.SIDECAR_IMAGE
            assert container["volumeMounts"][0]["mountPath"] == airflowvalues.DAGS_FOLDER
        assert part["extraVolumeMounts"] == [{"name": "pipelinectl-dags", "readOnly": True,
                                              "mountPath": "/opt/airflow/dags/pipelinectl"}]
    assert [c.get("restartPolicy") for c in values["workers"]["extraInitContainers"]] == [
        None, "Always"]  # copy once before the task starts, then a native sidecar
    assert "dags" not in values
    assert values["env"] == [{"name": "AIRFLOW_CONN_K8S_IN_CLUSTER",
                              "value": '{"conn_type": "kubernetes", "extra": '
                                       '{"in_cluster": true}}'}]
    assert {c: values[c]["serviceAccount"]["name"] for c in
            ("scheduler", "dagProcessor", "workers")} == {
        "scheduler": "airflow-scheduler", "dagProcessor": "airflow-dag-processor",
        "workers": "airflow-worker"}


def test_git_delivery(tmp_path: Path) -> None:
    values = golden_values("git")
    sync = values["dags"]["gitSync"]
    assert sync["repo"] == "https://git.example.org/data/dags.git"  # no credentials
    assert (sync["branch"], sync["ref"], sync["subPath"]) == ("dags", "dags", "teams")
    assert values["workers"] == {"serviceAccount": {"create": True, "name": "airflow-worker"}}
    assert json.loads(values["env"][0]["value"]) == {"conn_type": "kubernetes",
                                                     "extra": {"in_cluster": True}}
    assert values["env"][0]["name"] == "AIRFLOW_CONN_KUBERNETES_DEFAULT"


@pytest.mark.parametrize(("path", "sub_path"), [
    ("teams/{team}", "teams"),  # every team's folder is below teams/
    ("{team}", ""),  # the repository root
    ("./dags/teams/{team}/current", "dags/teams"),
    ("dags/team-{team}", "dags"),  # {team} inside a folder name
    ("dags", "dags"),  # no {team}: all teams share the folder
    (".", ""),
])
def test_sub_path(tmp_path: Path, path: str, sub_path: str) -> None:
    text = PLATFORMS["git"].replace("teams/{team}", path)
    assert values_of(tmp_path, text)["dags"]["gitSync"]["subPath"] == sub_path


PLACEHOLDERS = "the placeholders are {team}, {namespace}"


@pytest.mark.parametrize(("path", "problem", "hint"), [
    ("../{team}", "'../{team}' is not a folder inside the DAGs repository",
     "write a relative folder, e.g. teams/{team}"),
    ("/srv/dags/{team}", "'/srv/dags/{team}' is not a folder inside the DAGs repository",
     "write a relative folder, e.g. teams/{team}"),
    ("teams/{name}", "unknown placeholder '{name}' in 'teams/{name}'",
     "did you mean {namespace}? " + PLACEHOLDERS),
    ("teams/{teem}", "unknown placeholder '{teem}' in 'teams/{teem}'",
     "did you mean {team}? " + PLACEHOLDERS),
    ("{x}", "unknown placeholder '{x}' in '{x}'", PLACEHOLDERS),
    ("{team", "a '{' or '}' that is not part of a placeholder in '{team'",
     PLACEHOLDERS + "; no other braces are allowed"),
    ("{team.__class__.__mro__}",
     "unknown placeholder '{team.__class__.__mro__}' in '{team.__class__.__mro__}'",
     PLACEHOLDERS),
    ("t{{x}}/{team}", "unknown placeholder '{x}' in 't{{x}}/{team}'", PLACEHOLDERS),
])
def test_a_path_that_is_not_a_relative_folder_with_known_placeholders_is_refused(
        tmp_path: Path, path: str, problem: str, hint: str,
        monkeypatch: pytest.MonkeyPatch, run) -> None:
    """Checked when the platform file loads, for every command, with its line and column:
    never str.format, so no placeholder can reach attributes or end in exit 3."""
    monkeypatch.chdir(tmp_path)
    text = PLATFORMS["git"].replace('"teams/{team}"', json.dumps(path))
    with pytest.raises(platform.InvalidInput) as caught:
        values_of(tmp_path, text)
    expected = f"platform.yaml:10:17: airflow.dags.git.path: {problem}\n  hint: {hint}"
    assert caught.value.render() == expected
    valid_pipeline(tmp_path / "p")
    result = run("validate", "p", "--platform", "platform.yaml", cwd=tmp_path)
    assert (result.code, result.out) == (1, expected + "\n1 problem in the platform config; "
                                                      "no pipeline was checked\n")


def test_hostile_values_come_out_as_data(tmp_path: Path) -> None:
    repo = 'https://git.example.org/d"a\'ta.git malicious: [x] ${HOME} {x}'
    text = PLATFORMS["git"].replace('"https://ci-bot:s3cret@git.example.org/data/dags.git"',
                                    json.dumps(repo)).replace("branch: dags",
                                                              'branch: "x\\" - y: [z]"')
    dumped = dump_all([values_of(tmp_path, text)])
    back = yaml.safe_load(dumped)
    assert back["dags"]["gitSync"]["repo"] == repo
    assert back["dags"]["gitSync"]["branch"] == back["dags"]["gitSync"]["ref"] == 'x" - y: [z]'
    assert set(back) == {"dags", "config", "env", "workers"}
    [bundle, *_] = json.loads(back["config"]["dag_processor"]["dag_bundle_config_list"])
    assert bundle["kwargs"]["repo_url"] == repo
    assert bundle["kwargs"]["tracking_ref"] == 'x" - y: [z]'


@pytest.mark.parametrize("field", ["repo", "branch", "path"])
def test_control_characters_are_refused_where_the_file_says_them(
        tmp_path: Path, field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    document = yaml.safe_load(PLATFORMS["git"])
    document["airflow"]["dags"]["git"][field] = "a\nb: c"
    text = yaml.safe_dump(document, default_flow_style=False, sort_keys=False)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.strip().startswith(field))
    with pytest.raises(platform.InvalidInput) as caught:
        load(tmp_path, text)
    assert caught.value.render() == (
        f"platform.yaml:{line}:{len(field) + 9}: airflow.dags.git.{field}: 'a\\nb: c' contains "
        "a control character: '\\n' is a control character (U+000A line feed)\n"
        "  hint: type it again in plain ASCII, e.g. 'ab: c'")


@pytest.mark.parametrize(("old", "new", "where"), [
    ("git.example.org/data", "git.example.org/{{ .Release.Name }}", "9:17: airflow.dags.git.repo"),
    ("branch: dags", 'branch: "{{ .Values.x }}"', "9:80: airflow.dags.git.branch"),
])
def test_what_helm_would_evaluate_is_refused(tmp_path: Path, old: str, new: str, where: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(platform.UserError) as caught:
        values_of(tmp_path, PLATFORMS["git"].replace(old, new))
    assert caught.value.render() == (
        f"platform.yaml:{where} contains '{{{{': Helm could evaluate it as a "
        "template\n  hint: name the repository, branch and folder without '{{'")


def test_a_connection_id_that_cannot_be_an_env_name_is_refused(tmp_path: Path) -> None:
    text = PLATFORMS["configmap"].replace("k8s_in_cluster", '"k8s: {x}"')
    with pytest.raises(platform.UserError) as caught:
        values_of(tmp_path, text)
    assert caught.value.render().endswith(
        ": airflow.kubernetes_conn_id 'k8s: {x}' cannot be named in an environment variable "
        "(AIRFLOW_CONN_<ID>)\n  hint: use letters, digits, '_', '.' and '-', "
        "e.g. kubernetes_default")


def test_one_in_cluster_connection_per_distinct_id(tmp_path: Path) -> None:
    text = PLATFORMS["configmap"].replace(
        "epi-surveillance: {namespace: epi-surveillance}",
        "epi-surveillance: {namespace: epi-surveillance, kubernetes_conn_id: k8s_epi}\n"
        "  hosp: {namespace: hosp, kubernetes_conn_id: k8s_in_cluster}\n"
        "  lab: {namespace: lab, kubernetes_conn_id: k8s_epi}")
    env = values_of(tmp_path, text)["env"]
    assert [e["name"] for e in env] == ["AIRFLOW_CONN_K8S_IN_CLUSTER", "AIRFLOW_CONN_K8S_EPI"]
    assert {e["value"] for e in env} == {'{"conn_type": "kubernetes", "extra": '
                                         '{"in_cluster": true}}'}


def test_a_team_connection_id_that_cannot_be_an_env_name_is_refused(tmp_path: Path) -> None:
    text = PLATFORMS["configmap"].replace("default: {namespace: default}",
                                          'default: {namespace: default, kubernetes_conn_id: '
                                          '"k8s default"}')
    with pytest.raises(platform.UserError) as caught:
        values_of(tmp_path, text)
    assert caught.value.render().endswith(
        "platform.yaml:6:53: teams.default.kubernetes_conn_id 'k8s default' cannot be named "
        "in an environment variable (AIRFLOW_CONN_<ID>)\n  hint: use letters, digits, '_', "
        "'.' and '-', e.g. kubernetes_default")


def test_connection_ids_that_differ_only_in_case_are_refused(tmp_path: Path) -> None:
    text = PLATFORMS["configmap"].replace("default: {namespace: default}",
                                          "default: {namespace: default, kubernetes_conn_id: "
                                          "K8S_IN_CLUSTER}")
    with pytest.raises(platform.UserError) as caught:
        values_of(tmp_path, text)
    assert caught.value.render().endswith(
        ": teams.default.kubernetes_conn_id 'K8S_IN_CLUSTER' and 'k8s_in_cluster' are one "
        "connection to Airflow (AIRFLOW_CONN_K8S_IN_CLUSTER)\n  hint: name each connection "
        "differently, not only in case")


def test_docker_task_runner_needs_no_connection(tmp_path: Path) -> None:
    values = values_of(tmp_path, PLATFORMS["git"] + "  task_runner: docker\n")
    assert "env" not in values


def test_command(run, tmp_path: Path) -> None:
    config = write(tmp_path / "platform.yaml", PLATFORMS["configmap"])
    printed = run("platform", "airflow-values", "--platform", str(config), cwd=tmp_path)
    assert printed.code == 0 and printed.out == (GOLDEN / "configmap.yaml").read_text()
    out = tmp_path / "out" / "values.yaml"
    written = run("platform", "airflow-values", "-o", str(out), "--worker-service-account",
                  "runner.airflow", "--platform", str(config), cwd=tmp_path)
    assert written.code == 0 and written.out == f"{out}\n"
    assert yaml.safe_load(out.read_text())["workers"]["serviceAccount"]["name"] == (
        "runner.airflow")
    assert os.listdir(out.parent) == ["values.yaml"]  # no temporary file left behind
    bad = run("platform", "airflow-values", "--worker-service-account", "Bad_Name",
              "--platform", str(config), cwd=tmp_path)
    assert bad.code == 2 and "'Bad_Name' is not a valid ServiceAccount name" in bad.err


def test_directory_delivery_is_a_user_error_with_a_hint(run, tmp_path: Path) -> None:
    write(tmp_path / "platform.yaml", HEAD + "airflow:\n  dags:\n    directory: /srv/dags\n")
    result = run("platform", "airflow-values", "--platform", "platform.yaml", cwd=tmp_path)
    assert result.code == 1 and result.out == ""
    assert result.err == (
        "platform.yaml:9:16: airflow.dags is a directory ('/srv/dags'): there are no Helm "
        "values to generate for it\n"
        "  hint: mount that folder as the DAGs folder of every Airflow component (for "
        "example dags.persistence with an existing claim), or deliver DAGs with "
        "airflow.dags.git or airflow.dags.configmap; see "
        "docs/how-to/platform-setup.md#3-give-airflow-the-dags\n")


def test_a_real_airflow_reads_the_connection_as_in_cluster(airflow_python: str,
                                                           tmp_path: Path) -> None:
    [entry] = golden_values("configmap")["env"]
    probe = ("from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook\n"
             "hook = KubernetesHook(conn_id='k8s_in_cluster')\n"
             "print(hook.get_connection('k8s_in_cluster').conn_type, "
             "hook._get_field('in_cluster'))\n")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
           entry["name"]: entry["value"]}
    done = subprocess.run([airflow_python, "-c", probe], env=env, capture_output=True, text=True,
                          timeout=300, check=True)
    assert done.stdout.split() == ["kubernetes", "True"]


def bundles_of(values: dict[str, Any]) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(
        values["config"]["dag_processor"]["dag_bundle_config_list"])
    return listed


def test_git_delivery_gives_airflow_3_a_versioned_bundle_per_team(tmp_path: Path) -> None:
    values = values_of(tmp_path, PLATFORMS["git"])
    assert bundles_of(values) == [
        {"name": f"pipelinectl-{team}",
         "classpath": "airflow.providers.git.bundles.git.GitDagBundle",
         "kwargs": {"repo_url": "https://git.example.org/data/dags.git",  # no credentials
                    "tracking_ref": "dags", "subdir": f"teams/{team}",
                    "refresh_interval": 60, "git_conn_id": "git_default"}}
        for team in ("default", "epi-surveillance")]
    assert "s3cret" not in json.dumps(values)
    assert values["dags"]["gitSync"]["enabled"] is True  # Airflow 2 and git-sync charts


def test_one_bundle_for_all_teams_when_the_path_names_no_team(tmp_path: Path) -> None:
    text = PLATFORMS["git"].replace('path: "teams/{team}"', 'path: "all-teams"')
    [bundle] = bundles_of(values_of(tmp_path, text))
    assert (bundle["name"], bundle["kwargs"]["subdir"]) == ("pipelinectl-all", "all-teams")


def test_no_git_sync_and_another_connection(run, tmp_path: Path) -> None:
    config = write(tmp_path / "platform.yaml", PLATFORMS["git"])
    printed = run("platform", "airflow-values", "--no-git-sync", "--git-conn-id", "dags_repo",
                  "--platform", str(config), cwd=tmp_path)
    assert printed.code == 0, printed.err
    values = yaml.safe_load(printed.out)
    assert "dags" not in values
    assert {b["kwargs"]["git_conn_id"] for b in bundles_of(values)} == {"dags_repo"}
    bad = run("platform", "airflow-values", "--git-conn-id", "a b", "--platform", str(config),
              cwd=tmp_path)
    assert (bad.code, bad.err) == (1, "error: --git-conn-id 'a b' is not an Airflow connection "
                                      "id\n  hint: use letters, digits, '_', '.' and '-', "
                                      "e.g. git_default\n")
