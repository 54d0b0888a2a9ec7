"""`studio simulate`: exit codes, outputs, and resuming a run killed with SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SIM = FIXTURES / "simulate"


@pytest.fixture
def approval(tmp_path: Path) -> Path:
    for name in ("approval.yaml", "approval.csv", "approval_gold.csv"):
        shutil.copy(SIM / name, tmp_path / name)
    return tmp_path / "approval.yaml"


def test_simulate_writes_outputs_and_prints_a_summary(approval: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["simulate", str(approval), "--cases", "10", "--seed", "3", "--replications", "2", "--out", str(out),
                 "--scenario", "actors.managers.capacity=2", "policies.max_repeats=4"])
    assert code == 0
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["cases"] == 20 and kpis["seed"] == 3
    assert kpis["scenario"] == ["actors.managers.capacity=2", "policies.max_repeats=4"]
    assert kpis["resources"]["managers"]["capacity"] == 2
    assert {p.name for p in out.iterdir()} >= {"kpis.json", "traces.jsonl", "cases.jsonl", "waits.png", "progress"}
    captured = capsys.readouterr()
    assert "approval 1.0.0: scenario actors.managers.capacity=2; policies.max_repeats=4" in captured.out
    assert "20 (2 replication(s), seed 3)" in captured.out
    assert "Compared with the baseline (as mapped)" in captured.out and "95% interval" in captured.out
    assert "simulate" in captured.err  # the progress bar


def test_gold_gate_exit_codes(approval: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", str(approval), "--cases", "5", "--gold", "--no-progress", "--out", str(tmp_path / "o")]
    assert main(args) == 1  # 4 of 5 gold cases pass; the default --min-pass is 1.0
    gold = json.loads((tmp_path / "o" / "gold.json").read_text())
    assert gold["passed"] == 4 and gold["cases"][4]["first_difference"]["actual"] == "refused"
    assert "gold gate failed: 80.0%" in capsys.readouterr().err
    assert main([*args, "--min-pass", "0.8"]) == 0
    assert main([*args, "--min-pass", "90%"]) == 1


@pytest.mark.parametrize(("argv", "code"), [
    (["simulate", str(FIXTURES / "invalid" / "S004.yaml"), "--out", "OUT"], 1),
    (["simulate", str(SIM / "chain.yaml"), "--scenario", "actors.nobody.capacity=2", "--out", "OUT"], 2),
    (["simulate", str(SIM / "missing.yaml"), "--out", "OUT"], 2),
    (["simulate", str(SIM / "chain.yaml"), "--replications", "0", "--out", "OUT"], 2),
    (["simulate", str(SIM / "chain.yaml")], 2),
])
def test_exit_codes(argv: list[str], code: int, tmp_path: Path) -> None:
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    try:
        assert main(argv) == code
    except SystemExit as exc:  # argparse refuses bad arguments with exit 2
        assert exc.code == code


def test_resume_after_sigkill_gives_the_same_kpis(tmp_path: Path) -> None:
    """Killed while running on LangGraph, resumed on the kernel: the same cases and KPIs as one fresh run."""
    common = ["simulate", str(SIM / "chain.yaml"), "--cases", "100", "--seed", "11", "--replications", "6",
              "--no-progress"]
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "studio.cli", *common, "--engine", "langgraph",
                                "--out", str(killed)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = killed / "progress"
    deadline = time.monotonic() + 120
    try:
        while not list(progress.glob("rep-*.jsonl")):
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no replication was recorded in time"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    done_before = sorted(p.name for p in progress.glob("rep-*.jsonl"))
    assert 1 <= len(done_before) < 6
    assert not (killed / "kpis.json").exists()

    assert main([*common, "--out", str(killed), "--resume"]) == 0
    assert sorted(p.name for p in progress.glob("rep-*.jsonl")) == [f"rep-{i:04d}.jsonl" for i in range(6)]
    assert not list(progress.glob(".rep-*"))  # no half-written replication left behind
    fresh = tmp_path / "fresh"
    assert main([*common, "--out", str(fresh)]) == 0
    resumed_kpis = json.loads((killed / "kpis.json").read_text())
    fresh_kpis = json.loads((fresh / "kpis.json").read_text())
    assert resumed_kpis.pop("engine")["verified"] <= fresh_kpis.pop("engine")["verified"] == 20
    assert resumed_kpis == fresh_kpis
    assert (killed / "traces.jsonl").read_bytes() == (fresh / "traces.jsonl").read_bytes()
    assert (killed / "cases.jsonl").read_bytes() == (fresh / "cases.jsonl").read_bytes()
    assert fresh_kpis["cases"] == 600


def test_resume_refuses_progress_of_another_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    base = ["simulate", str(SIM / "chain.yaml"), "--cases", "5", "--no-progress", "--out", str(out)]
    assert main([*base, "--seed", "1"]) == 0
    assert main([*base, "--seed", "2", "--resume"]) == 2
    assert "different run" in capsys.readouterr().err
    assert main([*base, "--seed", "2"]) == 0  # without --resume the old progress is cleared
