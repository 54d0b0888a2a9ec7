"""The code is held to its own bar: ruff's rule set and mypy --strict over `studio/`."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(ROOT / ".venv" / "bin")) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (it comes with the `test` extra)")
    return path


def test_ruff_is_clean() -> None:
    proc = subprocess.run(
        [_tool("ruff"), "check", "--output-format", "concise", "studio", "tests", "benchmarks", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _studio_error_classes() -> set[str]:
    """Every class under studio/ that derives (through any chain) from StudioError, read with ast."""
    import ast

    bases: dict[str, set[str]] = {}
    for path in (ROOT / "studio").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = {b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
                         if isinstance(b, ast.Name | ast.Attribute)}
                bases.setdefault(node.name, set()).update(names)
    found = {"StudioError"}
    while True:
        more = {name for name, parents in bases.items() if parents & found} - found
        if not more:
            return found
        found |= more


def test_the_exception_tree_lists_every_studio_error() -> None:
    import re

    import studio.errors

    doc = studio.errors.__doc__ or ""
    listed = set(re.findall(r"(?:── |^    )([A-Z]\w+)(?= |$)", doc, flags=re.MULTILINE))
    defined = {name for name in _studio_error_classes() if not name.startswith("_")}
    assert defined - listed == set(), "add these to the exception tree in studio/errors.py"
    assert listed - defined == set(), "these are in the exception tree but no longer defined"
    assert len(defined) >= 10
