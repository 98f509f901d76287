"""CronJob rendering: golden files, real Kubernetes schemas (strict), hostile values."""

from __future__ import annotations

import hashlib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from pipelinectl.render import cronjob, ownership
from pipelinectl.spec import model as spec
from pipelinectl.spec import platform
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import validate_files
from pipelinectl.yamlout import dump_all
from tests.support import golden
from tests.support.repo import REPO

GOLDEN = REPO / "tests" / "golden" / "cronjob"
SOURCES = [REPO / "examples", REPO / "tests" / "fixtures" / "valid"]


def cronjob_pipelines() -> dict[str, spec.Pipeline]:
    files = find_pipelines([str(s) for s in SOURCES], REPO)
    report = validate_files(files, platform.load(None), None, REPO)
    assert report.problems == []
    return {p.metadata.name: p for p in report.pipelines if p.resolved_engine == "cronjob"}


PIPELINES = cronjob_pipelines()


def target(pipeline: spec.Pipeline) -> cronjob.Target:
    digest = hashlib.sha256(pipeline.metadata.name.encode()).hexdigest()
    return cronjob.Target(namespace="default", service_account="pipeline-runner",
                          image=f"127.0.0.1:5000/default/{pipeline.metadata.name}@sha256:{digest}",
                          revision="0123456789abcdef0123456789abcdef01234567")


def rendered(name: str) -> str:
    pipeline = PIPELINES[name]
    return dump_all([cronjob.render(pipeline, target(pipeline))])


def test_every_cronjob_pipeline_has_a_golden_file() -> None:
    assert len(PIPELINES) >= 5
    assert sorted(p.stem for p in GOLDEN.glob("*.yaml")) == sorted(PIPELINES)


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_golden(name: str) -> None:
    text = rendered(name)
    golden.check(GOLDEN / f"{name}.yaml", text)
    assert rendered(name) == text  # byte-identical on every run


@pytest.mark.parametrize("version", ["1.27.0", kubernetes_validate.utils.latest_version()])
@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_passes_kubernetes_schema_strictly(name: str, version: str) -> None:
    document = yaml.safe_load((GOLDEN / f"{name}.yaml").read_text(encoding="utf-8"))
    kubernetes_validate.validate(document, version, strict=True)


def test_names_fit_kubernetes_limits() -> None:
    for name, pipeline in PIPELINES.items():
        manifest = cronjob.render(pipeline, target(pipeline))
        assert len(manifest["metadata"]["name"]) <= 52  # CronJob names above 52 never run
        for container in manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"][
                "containers"]:
            assert len(container["name"]) <= 63, name


def test_chain_runs_in_dependency_order_in_one_pod() -> None:
    manifest = cronjob.render(PIPELINES["nightly-chain"], target(PIPELINES["nightly-chain"]))
    job = manifest["spec"]["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["fetch", "clean"]
    assert [c["name"] for c in pod["containers"]] == ["load"]
    assert all(c["volumeMounts"] == [{"name": "workspace", "mountPath": "/workspace"}]
               for c in pod["initContainers"] + pod["containers"])
    assert job["backoffLimit"] == 2
    assert job["activeDeadlineSeconds"] == 3600 + 900 + 1800


def test_unscheduled_pipeline_is_a_suspended_cronjob() -> None:
    spec_ = cronjob.render(PIPELINES["backfill-by-hand"],
                           target(PIPELINES["backfill-by-hand"]))["spec"]
    assert spec_["suspend"] is True
    assert spec_["schedule"] == cronjob.UNSCHEDULED_CRON


def test_hostile_values_reach_the_container_exactly() -> None:
    pipeline = PIPELINES["hostile-values"]
    text = rendered("hostile-values")
    loaded = yaml.safe_load(text)
    container = loaded["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == list(pipeline.tasks[0].command)
    user_env = [(e["name"], e["value"]) for e in container["env"]
                if not e["name"].startswith("PIPELINECTL_")]
    assert user_env == list(pipeline.tasks[0].env)
    assert len(list(yaml.safe_load_all(text))) == 1  # no value opened another document


def test_spec_digest_follows_meaning_not_text(tmp_path: Path) -> None:
    from pipelinectl.spec import yamlio
    source = (REPO / "tests" / "fixtures" / "valid" / "unscheduled" / "pipeline.yaml").read_text()
    reordered = source.replace("  name: backfill-by-hand\n  team: default\n",
                               "  team: default   # a comment\n  name: backfill-by-hand\n")
    digests = []
    for text in (source, reordered, source.replace("--all", "--some")):
        built, _ = spec.build(yamlio.load_bytes(text.encode(), "p.yaml"))
        digests.append(ownership.spec_digest(built))
    assert digests[0] == digests[1] != digests[2]


def test_target_refuses_a_tag_reference() -> None:
    with pytest.raises(ValueError, match="@sha256: digest"):
        cronjob.Target("default", "pipeline-runner", "127.0.0.1:5000/x/y:latest", "abc")
