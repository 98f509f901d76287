"""`changes`: rendered objects read back and compared in words, for CronJobs and DAG files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelinectl.render import changes, outputs
from pipelinectl.spec import platform
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import load_pipelines
from tests.support.repo import valid_pipeline

IMAGE = "127.0.0.1:5000/default/etl@sha256:"
BASE = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {name: etl, team: default}
image: {language: python, version: "3.12", dependencies: requirements.txt}
engine: ENGINE
schedule: {cron: "0 7 * * *", timezone: Europe/London}
defaults: {env: {MODE: fast}}
tasks:
  - name: fetch
    command: [python, fetch.py]
"""
CHANGED = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {name: etl, team: default}
image: {language: python, version: "3.12", dependencies: requirements.txt}
engine: ENGINE
schedule: {cron: "0 8 * * *", timezone: Europe/London, suspend: true}
defaults: {env: {MODE: slow, EXTRA: "1"}}
tasks:
  - name: fetch
    command: [python, fetch.py, --all]
    resources: {cpu: "1"}
  - name: clean
    command: [python, fetch.py, --clean]
    depends_on: [fetch]
"""


def rendered(folder: Path, spec: str, engine: str, digest: str) -> outputs.Rendered:
    valid_pipeline(folder, spec.replace("ENGINE", engine))
    local = platform.load(None)
    [pipeline] = load_pipelines(find_pipelines([str(folder)], folder), local, None, folder)
    return outputs.render_pipeline(pipeline, local, IMAGE + digest * 64, outputs.NO_REVISION)


@pytest.mark.parametrize(("engine", "kind", "name"), [("cronjob", "CronJob", "etl"),
                                                      ("airflow", "DAG", "default__etl")])
def test_changes_in_words(tmp_path: Path, engine: str, kind: str, name: str) -> None:
    old = rendered(tmp_path / "a", BASE, engine, "1")
    new = rendered(tmp_path / "b", CHANGED, engine, "2")
    before, after = (changes.summarize(r.path, r.content) for r in (old, new))
    assert changes.describe(None, after) == [f"{kind} {name} will be created"]
    assert changes.describe(before, None) == [f"{kind} {name} will be deleted"]
    assert changes.describe(before, before) == []
    expected = [
        "schedule 0 7 * * * (Europe/London) -> 0 8 * * * (Europe/London)",
        "paused",
        f"image etl@sha256:{'1' * 12} -> etl@sha256:{'2' * 12}",
        "task `clean` added",
        "task `fetch`: command python fetch.py -> python fetch.py --all",
        "task `fetch`: cpu 500m -> 1",
        "task `fetch`: env EXTRA added",
        "task `fetch`: env MODE changed",
    ]
    assert changes.describe(before, after) == expected
    text = changes.diff(old.path, old.content, new.content)
    assert text.startswith(f"--- a/{old.path}\n+++ b/{new.path}\n")
    assert "fast" not in "\n".join(changes.describe(before, after))  # values stay out


def test_a_pipeline_run_by_hand(tmp_path: Path) -> None:
    old = rendered(tmp_path / "a", BASE, "cronjob", "1")
    new = rendered(tmp_path / "b", BASE.replace(
        'schedule: {cron: "0 7 * * *", timezone: Europe/London}\n', ""), "cronjob", "1")
    assert changes.describe(changes.summarize(old.path, old.content),
                            changes.summarize(new.path, new.content)) == [
        "schedule 0 7 * * * (Europe/London) -> none (by hand)"]


def test_a_foreign_python_file_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\nPIPELINE = __import__('os')\n"
    with pytest.raises(ValueError, match="not a DAG file written by pipelinectl"):
        changes.summarize("dag.py", source)
    assert not marker.exists()
