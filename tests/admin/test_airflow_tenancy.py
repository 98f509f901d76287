"""Airflow tenancy: a team's `airflow_role` (the platform's teams.<team>.airflow_role) and its
`kubernetes_conn_id`.

Rendering: a team with a role gets DAGs whose PIPELINE literal names the role and whose code
keeps the template's access_control entry; a team without one gets the DAG file it always
had, byte for byte (the goldens of tests/render/test_airflow.py). `platform airflow-values`
turns on the FAB auth manager and declares the team roles only when a team has a role.

Then a real Airflow 3 (the pinned venv, with apache-airflow-providers-fab) runs what
pipelinectl wrote: the auth manager and the team roles from the generated values (its
`config` sections as AIRFLOW__<SECTION>__<KEY>), the DAG files of two teams with roles (epi:
two DAGs, hosp: one) and of a team without (misc) in its DAGs folder, read by its own dag
processor, which syncs each DAG's access_control into the roles; `airflow api-server` on a
free loopback port; an admin made with the FAB CLI, one user per team role made through the
FAB API, each with a JWT from /auth/token. Each team's user lists (GET /api/v2/dags) only its
team's DAGs, and is refused (403) reading, triggering, pausing or listing the runs of any
other DAG; the admin lists every DAG.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipelinectl.admin import airflowvalues
from pipelinectl.errors import InvalidInput
from pipelinectl.render import airflow
from pipelinectl.spec import model as spec
from pipelinectl.spec import platform
from pipelinectl.yamlout import dump_all
from tests.render.test_airflow import GOLDEN, PIPELINES, RUNNERS, literal_of
from tests.render.test_cronjob import target
from tests.support import airflowserver, golden
from tests.support.airflowserver import api_server, call
from tests.support.repo import REPO, write

PROBE = REPO / "tests" / "support" / "bundle_probe.py"
CHART = REPO / "tests" / "fixtures" / "airflow-chart"
TENANCY_GOLDEN = GOLDEN / "tenancy"
VALUES_GOLDEN = REPO / "tests" / "golden" / "airflow-values" / "tenancy.yaml"
PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: registry.example.org/data-pipelines
teams:
  epi: {namespace: epi-ns, airflow_role: team-epi, kubernetes_conn_id: k8s_epi}
  hosp: {namespace: hosp-ns, airflow_role: team-hosp}
  misc: {namespace: misc-ns}
airflow:
  dags:
    configmap: {namespace: airflow-dags}
  kubernetes_conn_id: k8s_in_cluster
"""
# The DAGs the real Airflow reads: (team, pipeline).
DAGS = (("epi", "fan-in"), ("epi", "docker-run"), ("hosp", "fan-in"), ("misc", "fan-in"))
USERS = {"ann": "team-epi", "bob": "team-hosp"}  # name -> role; the password is name + "-pw"
ADMIN = "root"
ACCESS_CONTROL = {"DAGs": {"can_read", "can_edit", "can_delete"},
                  "DAG Runs": {"can_read", "can_create", "can_delete"}}


def load(tmp_path: Path, text: str = PLATFORM) -> platform.Platform:
    return platform.load(str(write(tmp_path / "platform.yaml", text)))


def of_team(pipeline: spec.Pipeline, team: str) -> spec.Pipeline:
    return dataclasses.replace(pipeline, metadata=dataclasses.replace(pipeline.metadata,
                                                                      team=team))


def render(config: platform.Platform, team: str, name: str,
           runner: platform.TaskRunner = "kubernetes") -> str:
    """The DAG file of pipeline `name` (tests/render/test_airflow.py's) in `team`, as the
    team's pipelines render on `config` (airflow.team_target), under `runner`."""
    pipeline = of_team(PIPELINES[name], team)
    members = config.teams[team]
    where = airflow.team_target(config, members, dataclasses.replace(
        target(pipeline), namespace=members.namespace, service_account=members.service_account))
    return airflow.render(pipeline, dataclasses.replace(where, runner=runner))


# --- the platform file --------------------------------------------------------------------

def test_the_team_fields_and_their_defaults(tmp_path: Path) -> None:
    teams = load(tmp_path).teams
    assert (teams["epi"].airflow_role, teams["epi"].kubernetes_conn_id) == ("team-epi",
                                                                            "k8s_epi")
    assert (teams["hosp"].airflow_role, teams["hosp"].kubernetes_conn_id) == (
        "team-hosp", "k8s_in_cluster")  # the platform's airflow.kubernetes_conn_id
    assert (teams["misc"].airflow_role, teams["misc"].kubernetes_conn_id) == (
        None, "k8s_in_cluster")
    bare = load(tmp_path, PLATFORM.split("airflow:")[0]).teams["misc"]
    assert bare.kubernetes_conn_id == "kubernetes_default"


@pytest.mark.parametrize("role", ["Admin", "viewer", "User", "Op", "Public"])
def test_a_built_in_role_is_refused(tmp_path: Path, role: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load(tmp_path, PLATFORM.replace("team-hosp", role))
    [problem] = caught.value.problems
    assert problem.render().endswith(
        f"/platform.yaml:6:44: teams.hosp.airflow_role: {role!r} is the auth manager's built-in "
        f"role {role.capitalize()}, whose users reach every team's DAGs (or none)\n"
        "  hint: name a role of the team's own, e.g. team-hosp; see "
        "docs/how-to/airflow-teams.md")


@pytest.mark.parametrize("role", ['"team {{ x }}"', '"team%a"', '" team"', '"team\\n"',
                                  '"-team"', "t" * 65])
def test_a_role_name_the_values_could_not_carry_is_refused(tmp_path: Path, role: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load(tmp_path, PLATFORM.replace("team-hosp", role))
    [problem] = caught.value.problems
    assert "teams.hosp.airflow_role" in problem.render()


# --- rendering ------------------------------------------------------------------------------

@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_a_team_without_a_role_gets_the_dag_file_it_always_had(tmp_path: Path, name: str,
                                                               runner: platform.TaskRunner) -> None:
    # Team default (the goldens' team) without a role, beside teams with roles: its DAG file
    # is the golden of tests/render/test_airflow.py, byte for byte.
    config = load(tmp_path, PLATFORM.replace("misc: {namespace: misc-ns}",
                                             "default: {namespace: default}")
                  .replace("  kubernetes_conn_id: k8s_in_cluster\n", ""))
    source = render(config, "default", name, runner)
    assert source == (GOLDEN / f"{name}.{runner}.py").read_text(encoding="utf-8")
    assert "access_control" not in source and "airflow_role" not in literal_of(source)


def test_golden_with_a_role(tmp_path: Path) -> None:
    source = render(load(tmp_path), "epi", "fan-in")
    golden.check(TENANCY_GOLDEN / "fan-in.kubernetes.py", source)
    data = literal_of(source)
    assert (data["airflow_role"], data["kubernetes_conn_id"], data["namespace"]) == (
        "team-epi", "k8s_epi", "epi-ns")
    assert data["dag_id"] == "epi__fan-in" and "team:epi" in data["tags"]
    airflow.check_generated(source)


def test_the_role_is_data_in_the_literal(tmp_path: Path) -> None:
    config = load(tmp_path, PLATFORM.replace("team-hosp", "hosp.team@x 1"))
    source = render(config, "hosp", "airflow-hostile")
    assert literal_of(source)["airflow_role"] == "hosp.team@x 1"
    airflow.check_generated(source)


@pytest.mark.parametrize("tamper", [
    lambda s: s.replace('"DAGs": {"can_read", "can_edit", "can_delete"},',
                        '"DAGs": {"can_read", "can_edit", "can_delete"}, "x": set(),', 1),
    lambda s: s.replace('{PIPELINE["airflow_role"]: {',
                        '{"Viewer": {}, PIPELINE["airflow_role"]: {', 1),
    lambda s: s.replace('"access_control": ', '"access_control": None or ', 1),
    lambda s: s.replace("        # Only the team's Airflow role", "        # Only the team's role",
                        1),
])
def test_the_guard_refuses_a_changed_access_control(tmp_path: Path, tamper: Any) -> None:
    source = render(load(tmp_path), "epi", "fan-in")
    changed = tamper(source)
    assert changed != source
    with pytest.raises(airflow.GeneratedCodeError):
        airflow.check_generated(changed)


def test_the_guard_knows_exactly_two_texts_around_the_literal(tmp_path: Path) -> None:
    with_role = render(load(tmp_path), "epi", "fan-in")
    without = render(load(tmp_path), "misc", "fan-in")
    head = with_role[: with_role.index("PIPELINE: dict = ")]
    assert without.startswith(head)
    start = with_role.index("        # Only the team's Airflow role")
    end = with_role.index("        **callbacks,")
    block = with_role[start:end]
    assert block.count("\n") == 5 and '"access_control"' in block
    assert block not in without
    # The entry is the only difference in the code: cut from a role's DAG, what remains is
    # the role-less text (which check_generated also accepts, and which ignores the role).
    airflow.check_generated(with_role[:start] + with_role[end:])


# --- airflow-values -----------------------------------------------------------------------

def test_values_golden(tmp_path: Path) -> None:
    values = airflowvalues.values(load(tmp_path), "airflow-worker")
    golden.check(VALUES_GOLDEN, airflowvalues.HEADER + dump_all([values]))


def test_values_turn_on_the_fab_auth_manager_and_declare_the_roles(tmp_path: Path) -> None:
    values = airflowvalues.values(load(tmp_path), "airflow-worker")
    assert values["config"]["core"] == {
        "auth_manager": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"}
    roles = json.loads(values["config"]["fab"]["custom_roles"])
    assert sorted(roles) == ["team-epi", "team-hosp"]
    for permissions in roles.values():
        pairs = {(p["action"], p["resource"]) for p in permissions}
        assert pairs == set(airflowvalues.TEAM_ROLE_PERMISSIONS)
        # Nothing on every DAG at once: each DAG's access_control decides.
        assert {a for a, r in pairs if r == "DAGs"} == {"menu_access"}
    assert [e["name"] for e in values["env"]] == ["AIRFLOW_CONN_K8S_IN_CLUSTER",
                                                  "AIRFLOW_CONN_K8S_EPI"]


def test_values_without_a_role_leave_the_auth_manager_alone(tmp_path: Path) -> None:
    text = PLATFORM.replace(", airflow_role: team-epi", "").replace(
        ", airflow_role: team-hosp", "")
    values = airflowvalues.values(load(tmp_path, text), "airflow-worker")
    assert "config" not in values


def test_two_teams_may_share_a_role(tmp_path: Path) -> None:
    config = load(tmp_path, PLATFORM.replace("team-hosp", "team-epi"))
    assert sorted(airflowvalues.team_roles(config)) == ["team-epi"]
    assert literal_of(render(config, "hosp", "fan-in"))["airflow_role"] == "team-epi"


def test_values_have_only_keys_the_chart_has() -> None:
    # The chart's `config` takes any airflow.cfg section; tests/fixtures/airflow-chart closes
    # it to the settings pipelinectl writes.
    schema = json.loads((CHART / "values-subset.schema.json").read_text())
    values = yaml.safe_load(VALUES_GOLDEN.read_text())
    jsonschema.Draft7Validator(schema).validate(values)
    assert set(values["config"]) == {"core", "fab"}


# --- a real Airflow 3 with the FAB auth manager ---------------------------------------------

def airflow_env(tmp: Path, values: dict[str, Any]) -> dict[str, str]:
    """Airflow's environment: what the values give every Airflow container (their `config`
    sections and `env`), and a sqlite AIRFLOW_HOME with the rendered DAGs folder."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp / "home"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(tmp / "dags"),
           "AIRFLOW__API_AUTH__JWT_SECRET": "tenancy-test-only",
           "AIRFLOW__API__SECRET_KEY": "tenancy-test-only"}
    for section, settings in values["config"].items():
        for key, value in settings.items():
            env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = value
    env.update({entry["name"]: entry["value"] for entry in values["env"]})
    return env


@pytest.fixture(scope="module")
def tenancy(airflow_python: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs the story of the module docstring; what each step found."""
    tmp = tmp_path_factory.mktemp("tenancy")
    config = load(tmp)
    values = airflowvalues.values(config, "airflow-worker")
    (tmp / "dags").mkdir()
    for team, name in DAGS:
        dag = airflow.dag_id(of_team(PIPELINES[name], team))
        (tmp / "dags" / f"{dag}.py").write_text(render(config, team, name), encoding="utf-8")
    env = airflow_env(tmp, values)

    def cli(*args: str) -> None:
        done = subprocess.run([airflow_python, "-m", "airflow", *args], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    found: dict[str, Any] = {}
    cli("db", "migrate")
    # The FAB CLI starts the auth manager, which creates the team roles of [fab] custom_roles
    # (as the API server does when it starts): they exist before any DAG names them.
    cli("users", "create", "-u", ADMIN, "-p", f"{ADMIN}-pw", "-r", "Admin", "-f", "Root",
        "-l", "Admin", "-e", "root@example.org")
    out = tmp / "processed.json"
    done = subprocess.run([airflow_python, str(PROBE), "process", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    state = json.loads(out.read_text(encoding="utf-8"))["state"]
    found["dags"], found["import_errors"] = sorted(state["dags"]), state["import_errors"]

    with api_server(airflow_python, env, tmp / "api-server.log") as base:
        admin = login(base, ADMIN)
        found["created"] = {
            user: call(base, "POST", "/auth/fab/v1/users", admin, {
                "username": user, "password": f"{user}-pw", "email": f"{user}@example.org",
                "first_name": user, "last_name": role, "roles": [{"name": role}]})[0]
            for user, role in USERS.items()}
        found["roles"] = {role: sorted((p["action"]["name"], p["resource"]["name"]) for p in
                                       call(base, "GET", f"/auth/fab/v1/roles/{role}",
                                            admin)[1]["actions"])
                          for role in USERS.values()}
        tokens = {user: login(base, user) for user in [*USERS, ADMIN]}
        found["listed"] = {user: sorted(d["dag_id"] for d in
                                        call(base, "GET", "/api/v2/dags?limit=100", token)[1]
                                        ["dags"])
                           for user, token in tokens.items()}
        found["anonymous"] = call(base, "GET", "/api/v2/dags")[0]
        dag_ids = found["dags"]
        for user in USERS:
            token = tokens[user]
            found[user] = {dag: {
                "read": call(base, "GET", f"/api/v2/dags/{dag}", token)[0],
                "runs": call(base, "GET", f"/api/v2/dags/{dag}/dagRuns", token)[0],
                "trigger": call(base, "POST", f"/api/v2/dags/{dag}/dagRuns", token,
                                {"logical_date": None})[0],
                "pause": call(base, "PATCH", f"/api/v2/dags/{dag}", token,
                              {"is_paused": True})[0],
            } for dag in dag_ids}
        found["runs_seen"] = {user: call(base, "GET", "/api/v2/dags/~/dagRuns", tokens[user])[1]
                              for user in USERS}
    return found


def login(base: str, user: str) -> str:
    return airflowserver.login(base, user, f"{user}-pw")


def test_airflow_reads_every_dag_and_syncs_its_access_control(tenancy: dict[str, Any]
                                                              ) -> None:
    assert tenancy["dags"] == ["epi__docker-run", "epi__fan-in", "hosp__fan-in",
                               "misc__fan-in"]
    assert tenancy["import_errors"] == {}  # the roles existed, the access_control was valid
    assert tenancy["created"] == {"ann": 200, "bob": 200}
    for role, dags in (("team-epi", ["epi__docker-run", "epi__fan-in"]),
                       ("team-hosp", ["hosp__fan-in"])):
        held = set(map(tuple, tenancy["roles"][role]))
        per_dag = {(action, resource) for action, resource in held
                   if resource.startswith(("DAG:", "DAG Run:"))}
        assert per_dag == {(action, f"{prefix}{dag}") for dag in dags
                           for prefix, resource in (("DAG:", "DAGs"), ("DAG Run:", "DAG Runs"))
                           for action in ACCESS_CONTROL[resource]}
        # Besides: the role's own permissions from the values, and the home page (FAB adds
        # can_read on Website to every role of its own).
        assert held - per_dag == set(airflowvalues.TEAM_ROLE_PERMISSIONS)


def test_each_team_lists_only_its_own_dags(tenancy: dict[str, Any]) -> None:
    assert tenancy["listed"] == {
        "ann": ["epi__docker-run", "epi__fan-in"],
        "bob": ["hosp__fan-in"],
        ADMIN: ["epi__docker-run", "epi__fan-in", "hosp__fan-in", "misc__fan-in"],
    }
    assert tenancy["anonymous"] == 401


def test_another_teams_dag_is_refused_and_the_own_is_operated(tenancy: dict[str, Any]
                                                              ) -> None:
    own = {"ann": "epi__", "bob": "hosp__"}
    for user in USERS:
        for dag, answers in tenancy[user].items():
            if dag.startswith(own[user]):
                assert answers == {"read": 200, "runs": 200, "trigger": 200, "pause": 200}, dag
            else:  # another team's DAG, or one of a team without a role
                assert answers == {"read": 403, "runs": 403, "trigger": 403, "pause": 403}, \
                    (user, dag)
    for user in USERS:  # every run, as far as a user can see: its own team's
        runs = tenancy["runs_seen"][user]["dag_runs"]
        assert sorted(r["dag_id"] for r in runs) == sorted(
            d for d in tenancy[user] if d.startswith(own[user]))


def test_task_pods_stay_in_the_team_namespace_whatever_the_connection_says(
        airflow_python: str, tmp_path: Path) -> None:
    # Each team's tasks name the team's connection, and their namespace outright: a
    # connection whose `namespace` says another team's is never asked for one.
    config = load(tmp_path)
    folder = tmp_path / "dags"
    folder.mkdir()
    for team in ("epi", "hosp"):
        (folder / f"{team}.py").write_text(render(config, team, "fan-in"), encoding="utf-8")
    def naming(namespace: str) -> str:
        return json.dumps({"conn_type": "kubernetes",
                           "extra": {"in_cluster": False, "namespace": namespace}})

    env = {"AIRFLOW_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin",
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           # epi's connection names hosp's namespace, hosp's (the platform's) names epi's
           "AIRFLOW_CONN_K8S_EPI": naming("hosp-ns"),
           "AIRFLOW_CONN_K8S_IN_CLUSTER": naming("epi-ns")}
    done = subprocess.run([airflow_python, "-c", POD_PROBE, str(folder)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    tasks = json.loads(done.stdout.strip().splitlines()[-1])
    assert tasks and {t["dag"] for t in tasks} == {"epi__fan-in", "hosp__fan-in"}
    for task in tasks:
        team = task["dag"].split("__")[0]
        assert task["conn_id"] == config.teams[team].kubernetes_conn_id
        assert task["namespace"] == task["pod_namespace"] == config.teams[team].namespace
        assert task["asked"] == []


POD_PROBE = """\
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
KubernetesHook.is_in_cluster = property(lambda self: False)  # no cluster: only the pod's spec
asked = []  # the connections asked for a namespace
namespace_of = KubernetesHook.get_namespace
KubernetesHook.get_namespace = lambda self: asked.append(self.conn_id) or namespace_of(self)
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
tasks = []
for dag_id, dag in sorted(bag.dags.items()):
    for task in dag.tasks:
        pod = task.build_pod_request_obj()
        tasks.append({"dag": dag_id, "conn_id": task.kubernetes_conn_id,
                      "namespace": task.namespace, "pod_namespace": pod.metadata.namespace,
                      "asked": list(asked)})
print(json.dumps(tasks))
"""
