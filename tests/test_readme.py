"""The README's examples run as written and do what they say: its Python blocks and its `studio` commands."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
CODE = re.compile(r"\b[A-Z]{1,2}\d{3}\b")


def _outputs(command: str) -> list[str]:
    """The files or folders a README command says it writes (``-o``/``--output``/``--out``, ``new``'s folder)."""
    words = shlex.split(command)
    named = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-o", "--output", "--out")]
    if words[1] == "new":
        named.append(f"{words[2]}/workflow.yaml")
    return named


Check = Callable[[dict[str, Any], str, Path], None]


def _copy_saved(namespace: dict[str, Any], printed: str, cwd: Path) -> None:
    import studio

    copy = studio.load(cwd / "procurement_copy.yaml")
    assert copy.metadata.name == "procurement"
    assert "legal_review" not in copy.node_ids  # the reloaded template, not the edited one
    assert "cycle_time" in namespace["results"].kpis


def _studio_edited(namespace: dict[str, Any], printed: str, cwd: Path) -> None:
    import studio

    widget = namespace["studio"]
    assert "legal_review" in widget.controller.workflow.node_ids
    assert (cwd / "my_workshop").is_dir()
    assert "legal_review" not in studio.load_template("procurement").node_ids  # the template stays as it was


PROMISES: dict[str, Check] = {
    'studio.save(wf, "procurement_copy.yaml")': _copy_saved,
    'studio.controller.add_node("task", "legal_review"': _studio_edited,
}
"""What each Python block says it does, keyed by a line of the block; checked after it runs."""


def test_readme_has_examples() -> None:
    assert PYTHON_BLOCKS and len(COMMANDS) >= 3


def test_every_python_block_has_its_promise_checked() -> None:
    unchecked = [block.splitlines()[0] for block in PYTHON_BLOCKS if not any(key in block for key in PROMISES)]
    assert not unchecked, f"add a check to PROMISES in tests/test_readme.py for the blocks starting {unchecked}"


def test_readme_commands_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "templates", tmp_path / "templates")
    for command in COMMANDS:
        code = main(shlex.split(command)[1:])
        assert code == 0, f"`{command}` exited {code}"
        missing = [out for out in _outputs(command) if not (tmp_path / out).exists()]
        assert not missing, f"`{command}` did not write {missing}"


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_python_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "templates", tmp_path / "templates")
    block = PYTHON_BLOCKS[index]
    namespace: dict[str, Any] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, f"README.md python block {index + 1}", "exec"), namespace)
    # finding codes a comment promises (`# ... S005, S006`) are in what the block printed
    promised = {code for line in block.splitlines() if "#" in line for code in CODE.findall(line.split("#", 1)[1])}
    assert promised <= set(CODE.findall(printed.getvalue())), printed.getvalue()
    for key, check in PROMISES.items():
        if key in block:
            check(namespace, printed.getvalue(), tmp_path)
