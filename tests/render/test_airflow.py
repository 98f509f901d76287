"""Airflow DAG rendering: goldens, the code-generation guard, and a real Airflow 3 import."""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipelinectl.render import airflow
from pipelinectl.spec import model as spec
from pipelinectl.spec import platform
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import validate_files
from tests.render.test_cronjob import target
from tests.support import golden
from tests.support.repo import REPO

GOLDEN = REPO / "tests" / "golden" / "airflow"
PWNED = Path("/tmp/pipelinectl-pwned")
RUNNERS = ("kubernetes", "docker")


def airflow_pipelines() -> dict[str, spec.Pipeline]:
    sources = [str(REPO / "examples"), str(REPO / "tests" / "fixtures" / "valid")]
    report = validate_files(find_pipelines(sources, REPO), platform.load(None), None, REPO)
    assert report.problems == []
    return {p.metadata.name: p for p in report.pipelines if p.resolved_engine == "airflow"}


PIPELINES = airflow_pipelines()


def rendered(name: str, runner: str) -> str:
    pipeline = PIPELINES[name]
    return airflow.render(pipeline, airflow.AirflowTarget(target(pipeline), runner=runner))


def literal_of(source: str) -> Any:
    node = airflow._pipeline_assignment(ast.parse(source)).value
    assert node is not None
    return ast.literal_eval(node)


def test_every_airflow_pipeline_has_golden_files() -> None:
    assert len(PIPELINES) >= 3
    expected = sorted(f"{name}.{runner}" for name in PIPELINES for runner in RUNNERS)
    assert sorted(p.name.removesuffix(".py") for p in GOLDEN.glob("*.py")) == expected


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_golden(name: str, runner: str) -> None:
    text = rendered(name, runner)
    golden.check(GOLDEN / f"{name}.{runner}.py", text)
    assert rendered(name, runner) == text


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_spec_values_are_only_literal_data(name: str) -> None:
    pipeline = PIPELINES[name]
    where = airflow.AirflowTarget(target(pipeline))
    source = airflow.render(pipeline, where)
    data = json.loads(json.dumps(airflow.pipeline_literal(pipeline, where)))
    assert literal_of(source) == data


def test_hostile_values_stay_in_the_literal() -> None:
    source = rendered("airflow-hostile", "kubernetes")
    data = literal_of(source)
    assert data["tasks"][0]["command"][3] == \
        "\"\"\"); __import__('os').system('touch /tmp/pipelinectl-pwned'); (\"\"\""
    assert "{{ conn.kubernetes_default.password }}" in dict(data["tasks"][0]["env"]).values()
    # Outside the literal, the source is the template's, word for word.
    airflow.check_generated(source)


@pytest.mark.parametrize("tamper", [
    lambda s: s.replace("template_fields = ()", "template_fields = ('cmds',)", 1),
    lambda s: s.replace("PIPELINE: dict = {", "PIPELINE: dict = __import__('os') or {", 1),
    lambda s: s + "\nimport os\n",
    lambda s: s.replace("PIPELINE: dict = ", "PIPELINE: dict = ", 1) + "\nPIPELINE: dict = {}\n",
    lambda s: s[:-2],
])
def test_guard_refuses_anything_but_the_template_plus_a_literal(tamper: Any) -> None:
    source = rendered("fan-in", "kubernetes")
    with pytest.raises(airflow.GeneratedCodeError):
        airflow.check_generated(tamper(source))


def test_cronjob_pipelines_are_refused() -> None:
    from tests.render.test_cronjob import PIPELINES as CRONJOBS
    pipeline = CRONJOBS["python-etl"]
    with pytest.raises(ValueError, match="cronjob engine"):
        airflow.render(pipeline, airflow.AirflowTarget(target(pipeline)))


# --- a real Airflow -------------------------------------------------------------------------

def load_in_airflow(python: str, folder: Path, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"{folder.name}.json"
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(folder)}
    subprocess.run([python, str(REPO / "tests" / "support" / "airflow_probe.py"), str(folder),
                    str(out)], check=True, env=env, capture_output=True, timeout=600)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


@pytest.fixture(scope="module")
def loaded(airflow_python: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("airflow")
    PWNED.unlink(missing_ok=True)
    results = {}
    for runner in RUNNERS:
        folder = tmp / f"dags-{runner}"
        folder.mkdir()
        for name in PIPELINES:
            (folder / f"{name}.py").write_text(rendered(name, runner), encoding="utf-8")
        results[runner] = load_in_airflow(airflow_python, folder, tmp)
    return results


@pytest.mark.parametrize("runner", RUNNERS)
def test_every_dag_imports_without_errors(loaded: dict[str, Any], runner: str) -> None:
    result = loaded[runner]
    assert result["import_errors"] == {}
    assert sorted(result["dags"]) == sorted(f"default__{name}" for name in PIPELINES)
    assert not PWNED.exists(), "importing a DAG ran code from the spec"


def test_kubernetes_dag_as_airflow_sees_it(loaded: dict[str, Any]) -> None:
    dag = loaded["kubernetes"]["dags"]["default__fan-in"]
    assert (dag["cron"], dag["timezone"]) == ("30 5 * * *", "America/New_York")
    assert dag["start_date"] == "2026-03-01T05:00:00+00:00"  # midnight in New York, as UTC
    assert (dag["catchup"], dag["max_active_runs"], dag["paused_upon_creation"]) == \
        (True, 16, False)
    load = dag["tasks"]["load"]
    assert load["upstream"] == ["clean", "fetch"]
    assert load["base"] == "KubernetesPodOperator"
    assert load["command"] == ["python", "load.py"]
    assert load["secrets"] == ["warehouse-db"]
    assert load["requests"] == {"cpu": "1500m", "memory": "3Gi"}
    assert load["limits"] == {"memory": "3Gi"}
    assert (load["namespace"], load["service_account"]) == ("default", "pipeline-runner")
    assert load["labels"]["pipelinectl.io/task"] == "load"
    assert load["labels"]["app.kubernetes.io/managed-by"] == "pipelinectl"
    assert (load["retries"], load["retry_delay"], load["timeout"]) == (0, 120.0, 21600.0)
    assert (load["run_as_non_root"], load["allow_privilege_escalation"]) == (True, False)
    assert (load["on_finish_action"], load["reattach_on_restart"], load["get_logs"]) == \
        ("delete_pod", True, True)
    assert load["owner"] == "data@example.org"
    assert dag["on_failure"] == [{
        "type": "PipelineNotifier", "to": ["oncall@example.org", "data@example.org"],
        "subject": "[pipelinectl] default__fan-in failed",
        "template_fields": ["subject", "html_content"]}]
    assert [n["to"] for n in dag["on_success"]] == [["data@example.org"]]
    assert load["image"].startswith("127.0.0.1:5000/default/fan-in@sha256:")


def test_docker_dag_as_airflow_sees_it(loaded: dict[str, Any]) -> None:
    dag = loaded["docker"]["dags"]["default__covid-cases-r"]
    assert dag["max_active_runs"] == 1
    report = dag["tasks"]["report"]
    assert report["base"] == "DockerOperator"
    assert report["upstream"] == ["aggregate"]
    assert report["command"] == ["Rscript", "report.R"]
    assert dict(report["env"])["PIPELINECTL_TASK"] == "report"
    assert dag["workspace_volume"] == \
        "pipelinectl-default__covid-cases-r-manual__2026-01-02T03-04-05-00-00"
    assert dag["on_success"] == []


def test_unscheduled_dag_is_triggered_by_hand(loaded: dict[str, Any]) -> None:
    dag = loaded["kubernetes"]["dags"]["default__airflow-hostile"]
    assert dag["schedule_none"] is True
    assert dag["cron"] is None


@pytest.mark.parametrize("runner", RUNNERS)
def test_params_are_airflow_params_with_their_enum(loaded: dict[str, Any], runner: str) -> None:
    params = loaded[runner]["dags"]["default__airflow-hostile"]["params"]
    evil = "\"\"\"); __import__('os').system('touch /tmp/pipelinectl-pwned'); (\"\"\""
    assert params["region"]["default"] == "{{ dag_run.conf }}"  # not rendered
    assert params["region"]["schema"] == {"type": "string",
                                          "enum": ["{{ dag_run.conf }}", evil]}
    assert params["region"]["description"] == "{% raw %}''' \\"
    # Airflow itself refuses a value outside enum, and a value that is not text
    assert params["region"]["checks"] == {"'{{ dag_run.conf }}'": "ok",
                                          "'east'": "ParamValidationError",
                                          "7": "ParamValidationError"}
    assert params["count"]["default"] == "7" and params["count"]["schema"] == {"type": "string"}
    assert params["count"]["checks"]["7"] == "ParamValidationError"
    assert params["count"]["checks"]["'east'"] == "ok"
    assert not os.path.exists("/tmp/pipelinectl-pwned")
    assert loaded[runner]["dags"]["default__fan-in"]["params"] == {}


@pytest.mark.parametrize("runner", RUNNERS)
def test_hostile_values_survive_airflow_template_rendering(loaded: dict[str, Any],
                                                           runner: str) -> None:
    pipeline = PIPELINES["airflow-hostile"]
    tasks = loaded[runner]["dags"]["default__airflow-hostile"]["tasks"]
    for task in pipeline.tasks:
        after = tasks[task.name]["rendered"]
        assert after["template_fields"] == []
        assert after["command"] == list(task.command)
        user_env = [[k, v] for k, v in after["env"] if not k.startswith("PIPELINECTL_")]
        assert user_env == [list(pair) for pair in task.env]
    # The check means something: as templates, these values would have been changed.
    would_change = tasks["fetch"]["rendered"]["would_change"]
    assert would_change["{{ conn.kubernetes_default.password }}"] is True
    assert would_change["{% endraw %}{{ 7 * 7 }}"] is True


@pytest.mark.parametrize("value", [
    {}, [], {"a": [1, 2.5, None, True, "x"]}, [{"k": "v"}, [1, [2]]],
    {"s": "'''\"\"\"\\\n{{ x }}", "u": "ü ✓ \u2028 \x00", "n": -3, "f": 1e-9},
])
def test_python_literal_round_trips(value: Any) -> None:
    assert ast.literal_eval(airflow.python_literal(value)) == value


def test_python_literal_refuses_objects() -> None:
    with pytest.raises(TypeError):
        airflow.python_literal({"x": object()})
