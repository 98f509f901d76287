"""The wheel carries the schemas, the built-in platform and base-images/, and finds them when
installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.repo import REPO


def test_wheel_ships_schemas_and_local_platform(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path), str(REPO)], check=True)
    wheel = next(tmp_path.glob("pipelinectl-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("pipelinectl/schemas/pipeline.schema.json",
                 "pipelinectl/schemas/platform.schema.json",
                 "pipelinectl/data/local-platform.yaml",
                 "pipelinectl/base-images/python/Dockerfile",
                 "pipelinectl/base-images/r/Dockerfile",
                 "pipelinectl/base-images/r/install-deps.R",
                 "pipelinectl/base-images/common/install-system-packages.sh",
                 "pipelinectl/base-images/common/with-ca.sh"):
        assert name in names
    # Unpacked alone (no source tree beside it), the package finds its own copies.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import pipelinectl.spec.schema as s, pipelinectl.spec.platform as p, "
             "pipelinectl.build.context as b;"
             "print(s.schema_path('pipeline')); print(p.load(None).registry);"
             "print(b.base_images_dir())")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, check=True,
                         capture_output=True, text=True, env={"PYTHONPATH": str(site)}).stdout
    assert out.splitlines() == [str(site / "pipelinectl" / "schemas" / "pipeline.schema.json"),
                                "127.0.0.1:5000", str(site / "pipelinectl" / "base-images")]
    assert (site / "pipelinectl" / "schemas" / "pipeline.schema.json").read_bytes() == \
        (REPO / "schemas" / "pipeline.schema.json").read_bytes()
