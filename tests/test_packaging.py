"""The wheel carries the schemas and the built-in platform, and finds them when installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_ships_schemas_and_local_platform(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path), str(REPO)], check=True)
    wheel = next(tmp_path.glob("pipelinectl-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("pipelinectl/schemas/pipeline.schema.json",
                 "pipelinectl/schemas/platform.schema.json",
                 "pipelinectl/data/local-platform.yaml"):
        assert name in names
    # Unpacked alone (no source tree beside it), the package finds its own copies.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import pipelinectl.schema as s, pipelinectl.platform as p;"
             "print(s.schema_path('pipeline')); print(p.load(None).registry)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, check=True,
                         capture_output=True, text=True, env={"PYTHONPATH": str(site)}).stdout
    assert out.splitlines() == [str(site / "pipelinectl" / "schemas" / "pipeline.schema.json"),
                                "127.0.0.1:5000"]
    assert (site / "pipelinectl" / "schemas" / "pipeline.schema.json").read_bytes() == \
        (REPO / "schemas" / "pipeline.schema.json").read_bytes()
