"""The import direction of the house (pyproject.toml [tool.importlinter]): commands -> wiring ->
adapters -> stage wings -> ground floor, commands independent, the vocabulary importing
nothing; and `pipelinectl --help` loads no validation code."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.repo import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml")],
                          cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_every_contract_is_kept() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout
    assert "Contracts: 3 kept, 0 broken." in done.stdout


def test_a_wing_importing_an_adapter_breaks_the_contract(tmp_path: Path) -> None:
    """The check can fail: a copy of the package whose deploy engine imports the kube
    adapter, as it once did."""
    shutil.copytree(REPO / "pipelinectl", tmp_path / "pipelinectl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    engine = tmp_path / "pipelinectl" / "deploy" / "engine.py"
    engine.write_text(engine.read_text() + "\nfrom pipelinectl.adapters import kube  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1
    assert "Contracts: 2 kept, 1 broken." in done.stdout
    assert "pipelinectl.deploy.engine -> pipelinectl.adapters.kube" in done.stdout


def test_help_imports_no_validation_code() -> None:
    probe = ("import sys; from pipelinectl.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith('pipelinectl')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=REPO)
    loaded = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert loaded == ["pipelinectl", "pipelinectl.cli", "pipelinectl.cli.main",
                      "pipelinectl.cli.options", "pipelinectl.errors", "pipelinectl.textsafe",
                      "pipelinectl.vocabulary"]
