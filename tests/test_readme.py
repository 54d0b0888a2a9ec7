"""The README's examples run as written: its Python blocks and its `studio` commands."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from conftest import ROOT

from studio.cli import main

README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
COMMANDS = [
    line.split("#")[0].strip()
    for block in re.findall(r"```(?:console|shell)?\n(.*?)```", README, flags=re.S)
    for line in block.splitlines()
    if line.startswith("studio ")
]


def test_readme_has_examples() -> None:
    assert PYTHON_BLOCKS and len(COMMANDS) >= 3


def test_readme_commands_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "templates", tmp_path / "templates")
    for command in COMMANDS:
        code = main(shlex.split(command)[1:])
        assert code in (0, 1), f"`{command}` exited {code}"


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_python_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "templates", tmp_path / "templates")
    namespace: dict[str, object] = {}
    exec(compile(PYTHON_BLOCKS[index], f"README.md python block {index + 1}", "exec"), namespace)
