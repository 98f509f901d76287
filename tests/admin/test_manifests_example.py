"""manifests/example/ is exactly what `platform manifests` and `platform airflow-values`
generate from manifests/example/platform.yaml (PIPELINECTL_UPDATE_GOLDEN=1 rewrites it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.support.repo import REPO

EXAMPLE = REPO / "manifests" / "example"


def test_the_example_is_current(run, tmp_path: Path) -> None:
    platform = str(EXAMPLE / "platform.yaml")
    manifests = run("platform", "manifests", "--platform", platform,
                    "-o", str(tmp_path / "cluster"))
    values = run("platform", "airflow-values", "--platform", platform,
                 "-o", str(tmp_path / "airflow-values.yaml"))
    assert (manifests.code, values.code) == (0, 0), manifests.err + values.err
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.yaml"))
    if os.environ.get("PIPELINECTL_UPDATE_GOLDEN"):
        shutil.rmtree(EXAMPLE / "cluster")
        for name in fresh:
            (EXAMPLE / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp_path / name, EXAMPLE / name)
    kept = sorted(p.relative_to(EXAMPLE) for p in EXAMPLE.rglob("*.yaml")
                  if p.name != "platform.yaml")
    assert kept == fresh
    for name in fresh:
        assert (EXAMPLE / name).read_text() == (tmp_path / name).read_text(), name


def test_the_example_passes_kubernetes_schema_strictly() -> None:
    import kubernetes_validate
    import yaml
    files = sorted((EXAMPLE / "cluster").glob("*.yaml"))
    assert len(files) == 2
    for path in files:
        for document in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(document, "1.29.0", strict=True)
