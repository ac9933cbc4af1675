"""The runtime models package never loads the synthetic renderer or the training code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import models

FORBIDDEN = ("datasets", "training")


def test_importing_models_loads_neither_datasets_nor_training() -> None:
    code = (
        "import sys, models, models.registry, models.band_model; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('datasets', 'training')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_models_module_imports_datasets_or_training() -> None:
    offenders = []
    for path in Path(models.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
