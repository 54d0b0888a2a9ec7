"""The README's first command: the demo's headless path (map -> validate -> simulate -> export)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # not `tests.conftest`: an installed package may own `tests`


def test_demo_runs_one_template_and_prints_how_to_open_lab(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "studio.demo", "--cases", "12", "--out", str(out), "--template", "support_triage"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        env={**os.environ, "CI": "1"},
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "procurement 1.0.0" in text  # the summary of every template comes first
    assert "== support_triage: map -> validate -> simulate -> export" in text
    assert "validate  0 error(s)" in text
    assert "Cases simulated                12" in text and "Cycle time, median" in text
    assert "Exported the control-plane definition" in text and "with the simulation KPIs as evidence" in text
    assert (out / "support_triage" / "support_triage.controlplane.yaml").is_file()
    assert "not opened (CI is set)" in text and "jupyterlab notebooks/00_workshop.ipynb" in text


def test_demo_skips_lab_when_asked() -> None:
    from studio.demo import should_open_lab

    assert should_open_lab(True) == (False, "--no-lab")
