"""Scale-out: `studio sweep` and `--executor dask` give the in-process results, byte for byte."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from studio.cli import main
from studio.simulate import simulate, sweep

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
SIM = ROOT / "tests" / "fixtures" / "simulate"
MMC = SIM / "mmc.yaml"
GRID = ["--grid", "actors.approvers.capacity=2,3", "--grid", "simulation.arrivals.rate=6/h,9.6/h"]


def _sweep(out: Path, *extra: str) -> int:
    return main(["sweep", str(MMC), *GRID, "--replications", "2", "--cases", "15", "--seed", "4", "--no-progress",
                 "--out", str(out), *extra])


def test_a_sweep_on_a_two_worker_local_cluster_gives_the_in_process_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _sweep(tmp_path / "here") == 0
    printed = capsys.readouterr().out
    assert _sweep(tmp_path / "dask", "--executor", "dask", "--workers", "2") == 0
    assert capsys.readouterr().out == printed
    here = (tmp_path / "here" / "sweep.csv").read_bytes()
    assert (tmp_path / "dask" / "sweep.csv").read_bytes() == here
    assert (tmp_path / "dask" / "sweep.png").stat().st_size > 0
    rows = list(csv.DictReader(io.StringIO(here.decode())))
    assert [(r["actors.approvers.capacity"], r["simulation.arrivals.rate"]) for r in rows] == [
        ("2", "6/h"), ("2", "9.6/h"), ("3", "6/h"), ("3", "9.6/h")]
    for row in rows:
        assert float(row["success_rate_ci_low"]) <= float(row["success_rate"]) <= float(row["success_rate_ci_high"])
    busy = {(r["actors.approvers.capacity"], r["simulation.arrivals.rate"]): float(r["utilisation[approvers]"])
            for r in rows}
    assert busy["3", "9.6/h"] < busy["2", "9.6/h"] and busy["2", "6/h"] < busy["2", "9.6/h"]
    assert "success (95% interval)" in printed and "busy: approvers" in printed


def test_the_sweep_api_returns_the_table_the_command_writes(tmp_path: Path) -> None:
    counted: list[tuple[int, int]] = []
    result = sweep(MMC, grid={"actors.approvers.capacity": [2, 3], "simulation.arrivals.rate": ["6/h", "9.6/h"]},
                   replications=2, cases=15, seed=4, progress=lambda done, total: counted.append((done, total)))
    assert counted[0] == (1, 120) and counted[-1] == (120, 120) and len(counted) == 120  # per case
    assert _sweep(tmp_path, "--workers", "2") == 0  # worker processes
    assert result.csv() == (tmp_path / "sweep.csv").read_text()
    table = result.table
    assert len(table) == 4 and list(table.columns) == result.columns
    assert list(result.plot().axes[0].get_legend_handles_labels()[1]) == [
        "simulation.arrivals.rate=6/h", "simulation.arrivals.rate=9.6/h"]


def test_simulate_on_dask_gives_the_kpis_of_one_process(tmp_path: Path) -> None:
    simulate(MMC, cases=20, seed=2, replications=3, out=tmp_path / "one")
    seen: list[tuple[int, int]] = []
    simulate(MMC, cases=20, seed=2, replications=3, out=tmp_path / "dask", executor="dask", workers=2,
             progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (60, 60) and [d for d, _ in seen] == sorted({d for d, _ in seen})  # counts up to all cases
    for name in ("kpis.json", "cases.jsonl", "traces.jsonl"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    # the parent wrote the progress files: --resume reuses them
    assert sorted(p.name for p in (tmp_path / "dask" / "progress").iterdir()) == [
        "rep-0000.jsonl", "rep-0001.jsonl", "rep-0002.jsonl"]
    calls: list[int] = []
    simulate(MMC, cases=20, seed=2, replications=3, out=tmp_path / "dask", resume=True,
             progress=lambda done, total: calls.append(done))
    assert calls == []  # nothing left to run
    resumed, first = (json.loads((tmp_path / d / "kpis.json").read_text()) for d in ("dask", "one"))
    assert resumed.pop("engine") == {"name": "kernel", "verified": 0}  # nothing ran, nothing replayed
    assert first.pop("engine") == {"name": "kernel", "verified": 20}
    assert resumed == first


@pytest.mark.parametrize(("grid", "message"), [
    (["--grid", "actors.approvers.capacity"], "must be written KEY=V1,V2"),
    (["--grid", "actors.approvers.capacity=2,,3"], "has an empty value"),
    (["--grid", "actors.approvers.capacity=2", "--grid", "actors.approvers.capacity=3"], "is given twice"),
    (["--grid", "actors.aprovers.capacity=2,3"], "no actor `aprovers`; did you mean `approvers`?"),
    (["--grid", "actors.approvers.capacity=2,many"], "--grid: scenario `actors.approvers.capacity=many`"),
])
def test_bad_grids_are_refused_with_the_fix(grid: list[str], message: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", str(MMC), *grid, "--replications", "2", "--cases", "5", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "sweep.csv").exists()


def test_without_dask_the_message_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    code = main(["simulate", str(MMC), "--cases", "5", "--executor", "dask", "--no-progress", "--out", str(tmp_path)])
    assert code == 2
    assert "install the `scale` extra" in capsys.readouterr().err


def test_an_unreachable_scheduler_is_named_with_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import dask.config

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["sweep", str(MMC), "--grid", "actors.approvers.capacity=2,3", "--replications", "2",
                     "--cases", "5", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", "--no-progress",
                     "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at `tcp://127.0.0.1:9` (gave up after 1 s" in err
    assert "dask worker tcp://127.0.0.1:9" in err and "Traceback" not in err


def test_a_scheduler_without_workers_is_named_with_the_fix(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import dask.config
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp", dashboard_address=None) as empty, \
            dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["simulate", str(MMC), "--cases", "5", "--executor", "dask", "--scheduler",
                     empty.scheduler_address, "--no-progress", "--out", str(tmp_path)])
    assert code == 2
    assert f"the Dask scheduler at `{empty.scheduler_address}` has no workers (waited 1 s)" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler names a Dask scheduler; add --executor dask"),
    (["--executor", "dask", "--scheduler", "my laptop"], "is not a scheduler address; write it tcp://HOST:PORT"),
])
def test_scheduler_misuse_is_refused(extra: list[str], message: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(MMC), "--cases", "5", "--no-progress", "--out", str(tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err
