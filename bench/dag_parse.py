#!/usr/bin/env python3
"""DAG parse time in a real Airflow: ours vs dag-factory vs a hand-written DAG (a report).

    python bench/dag_parse.py --airflow-python PATH [--rounds 30]

The R example pipeline (three KubernetesPodOperator tasks) is written three ways into
temporary folders: (a) pipelinectl's generated DAG; (b) the same pipeline as a dag-factory
YAML config plus its loader file; (c) a hand-written minimal DAG with the same operators and
arguments (the floor). The Airflow interpreter (with dag-factory installed in it) times
DagBag.process_file, which is what the scheduler's parser does, for each file in interleaved
rounds after one warm-up round; minima and medians are compared:

    ours/dag-factory  (goal <= 0.5x)      ours/floor  (goal <= 1.2x)

It also prints render throughput: the time to render all 1,000 pipelines of the generated
monorepo (CronJobs and DAG files) in this process.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelinectl.render import airflow, cronjob  # noqa: E402
from pipelinectl.spec import platform  # noqa: E402
from pipelinectl.spec.discover import find_pipelines  # noqa: E402
from pipelinectl.spec.validation import validate_files  # noqa: E402
from tests.support import monorepo  # noqa: E402

IMAGE = "127.0.0.1:5000/default/covid-cases-r@sha256:" + "a" * 64
TARGET = cronjob.Target("default", "pipeline-runner", IMAGE, "0" * 40)

DAG_FACTORY_CONFIG = """\
default__covid-cases-r:
  default_args:
    owner: epi-surveillance@example.org
    start_date: 2024-01-01
    retries: 1
    retry_delay: {{__type__: datetime.timedelta, minutes: 5}}
  schedule: "0 7 * * 1-5"
  catchup: false
  max_active_runs: 1
  tags: [pipelinectl, "team:default"]
  tasks:
{tasks}"""

DAG_FACTORY_TASK = """\
    {name}:
      operator: airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator
      name: covid-cases-r-{name}
      namespace: default
      image: "{image}"
      cmds: [Rscript, {name}.R]
      arguments: []
      env_vars:
        PIPELINECTL_PIPELINE: covid-cases-r
        PIPELINECTL_TEAM: default
        PIPELINECTL_TASK: {name}
        TZ: Europe/London
      service_account_name: pipeline-runner
      labels: {{app.kubernetes.io/managed-by: pipelinectl, pipelinectl.io/pipeline: covid-cases-r}}
      get_logs: true
      on_finish_action: delete_pod
      reattach_on_restart: true
      execution_timeout: {{__type__: datetime.timedelta, minutes: 15}}
{deps}"""

DAG_FACTORY_LOADER = """\
from dagfactory import load_yaml_dags

load_yaml_dags(globals_dict=globals(), config_filepath={path!r})
"""

FLOOR = '''\
import datetime

import pendulum
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG, CronTriggerTimetable
from kubernetes.client import models as k8s

with DAG(dag_id="default__covid-cases-r", schedule=CronTriggerTimetable("0 7 * * 1-5",
         timezone="Europe/London"), start_date=pendulum.datetime(2024, 1, 1, tz="Europe/London"),
         catchup=False, max_active_runs=1, tags=["pipelinectl", "team:default"],
         default_args={"owner": "epi-surveillance@example.org"}) as dag:
    tasks = {}
    for name in ("fetch", "aggregate", "report"):
        tasks[name] = KubernetesPodOperator(
            task_id=name, name="covid-cases-r-" + name, namespace="default",
            image=IMAGE, cmds=["Rscript", name + ".R"], arguments=[],
            env_vars=[k8s.V1EnvVar(name="TZ", value="Europe/London")],
            container_resources=k8s.V1ResourceRequirements(
                requests={"cpu": "500m", "memory": "1Gi"}, limits={"memory": "1Gi"}),
            service_account_name="pipeline-runner", automount_service_account_token=False,
            labels={"app.kubernetes.io/managed-by": "pipelinectl"},
            security_context=k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user=10001),
            container_security_context=k8s.V1SecurityContext(allow_privilege_escalation=False),
            volumes=[k8s.V1Volume(name="workspace", empty_dir=k8s.V1EmptyDirVolumeSource())],
            volume_mounts=[k8s.V1VolumeMount(name="workspace", mount_path="/workspace")],
            get_logs=True, on_finish_action="delete_pod", reattach_on_restart=True, retries=1,
            retry_delay=datetime.timedelta(minutes=5),
            execution_timeout=datetime.timedelta(minutes=15))
    tasks["fetch"] >> tasks["aggregate"] >> tasks["report"]
'''

TIMER = """\
import json, statistics, sys, time
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
files = json.loads(sys.argv[1])
rounds = int(sys.argv[2])
bag = DagBag(dag_folder="/nonexistent-empty-folder")
times = {name: [] for name in files}
for round_ in range(rounds + 1):
    for name, path in files.items():
        bag.dags.clear()  # every variant declares the same dag_id
        bag.import_errors.clear()
        start = time.perf_counter()
        found = bag.process_file(path, only_if_updated=False, safe_mode=False)
        elapsed = time.perf_counter() - start
        if round_ and found:
            times[name].append(elapsed)
        if not found:
            errors = {k: str(v) for k, v in bag.import_errors.items()}
            print(json.dumps({"error": name, "import_errors": errors}))
            sys.exit(1)
print(json.dumps({n: [min(t), statistics.median(t)] for n, t in times.items()}))
"""


def covid_pipeline():  # type: ignore[no-untyped-def]
    files = find_pipelines([str(REPO / "examples" / "covid-cases-r")], REPO)
    report = validate_files(files, platform.load(None), None, REPO)
    assert not report.problems, report.problems
    # dag-factory and the hand-written floor have no notifier: compare like with like.
    return dataclasses.replace(report.pipelines[0], notifications=None)


def write_variants(folder: pathlib.Path) -> dict[str, str]:
    pipeline = covid_pipeline()
    ours = folder / "ours" / "covid_cases_r.py"
    ours.parent.mkdir()
    ours.write_text(airflow.render(pipeline, airflow.AirflowTarget(TARGET)), encoding="utf-8")
    factory = folder / "dagfactory"
    factory.mkdir()
    task_text = ""
    previous = None
    for name in ("fetch", "aggregate", "report"):
        deps = f"      dependencies: [{previous}]\n" if previous else ""
        task_text += DAG_FACTORY_TASK.format(name=name, image=IMAGE, deps=deps)
        previous = name
    config = factory / "covid.yml"
    config.write_text(DAG_FACTORY_CONFIG.format(tasks=task_text), encoding="utf-8")
    loader = factory / "covid_dagfactory.py"
    loader.write_text(DAG_FACTORY_LOADER.format(path=str(config)), encoding="utf-8")
    floor = folder / "floor" / "covid_floor.py"
    floor.parent.mkdir()
    floor.write_text(FLOOR.replace("IMAGE", repr(IMAGE)), encoding="utf-8")
    return {"ours": str(ours), "dag-factory": str(loader), "floor": str(floor)}


def time_parsing(python: str, files: dict[str, str], rounds: int,
                 home: pathlib.Path) -> dict[str, list[float]]:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run([python, "-c", TIMER, json.dumps(files), str(rounds)], env=env,
                          capture_output=True, text=True, check=False)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not last.startswith("{"):
        raise SystemExit(f"timing failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result: dict[str, list[float]] = json.loads(last)
    return result


def render_throughput(n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        paths = monorepo.generate(root, n)
        report = validate_files(paths, platform.load(None), None, root)
        start = time.perf_counter()
        for pipeline in report.pipelines:
            if pipeline.resolved_engine == "airflow":
                airflow.render(pipeline, airflow.AirflowTarget(TARGET))
            else:
                cronjob.render(pipeline, TARGET)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--airflow-python", required=True,
                        help="python of an Airflow 3 venv with dag-factory installed")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--n", type=int, default=1000, help="pipelines for render throughput")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipelinectl-dagparse-") as tmp:
        files = write_variants(pathlib.Path(tmp))
        times = time_parsing(args.airflow_python, files, args.rounds, pathlib.Path(tmp) / "home")
    print(f"DagBag.process_file, {args.rounds} interleaved rounds after a warm-up round")
    print(f"{'variant':12} {'min (ms)':>9} {'median (ms)':>12}")
    for name, (best, median) in times.items():
        print(f"{name:12} {best * 1000:9.2f} {median * 1000:12.2f}")
    ours, factory, floor = times["ours"], times["dag-factory"], times["floor"]
    print(f"ours/dag-factory = {ours[1] / factory[1]:.2f}x by median, "
          f"{ours[0] / factory[0]:.2f}x by min (goal <= 0.5x)")
    print(f"ours/floor = {ours[1] / floor[1]:.2f}x by median, "
          f"{ours[0] / floor[0]:.2f}x by min (goal <= 1.2x)")
    seconds = render_throughput(args.n)
    print(f"render: {args.n} pipelines in {seconds:.2f} s = {seconds / args.n * 1000:.2f} ms "
          "per pipeline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
