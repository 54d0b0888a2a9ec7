"""`studio simulate --event-log`: simulated cases as a CSV or XES event log (studio.simulate.eventlog)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from studio.cli import main
from studio.simulate import simulate
from studio.simulate.eventlog import COLUMNS, to_csv, to_xes, write_event_log

ROOT = Path(__file__).resolve().parents[1]
APPROVAL = ROOT / "tests" / "fixtures" / "simulate" / "approval.yaml"
XES = "{http://www.xes-standard.org/}"


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    return simulate(APPROVAL, cases=30, seed=5)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_one_row_per_step_someone_did(results) -> None:  # type: ignore[no-untyped-def]
    text = to_csv(results)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    rows = _rows(text)
    worked = [s for s in results.iter_steps() if s["kind"] in ("task", "approval") and s["actor"] is not None]
    assert len(rows) == len(worked)
    assert Counter(r["activity"] for r in rows) == Counter(s["node"] for s in worked)  # no names: the id
    by_node = {s["node"]: s for s in worked}
    assert {r["resource"] for r in rows if r["activity"] == "intake"} == {"intake_agent"}
    assert {r["outcome"] for r in rows if r["activity"] == "manager_approval"} <= {"approve", "reject", "send_back"}
    assert by_node["intake"]["kind"] == "task"
    for row in rows:
        assert row["start_time"].endswith("Z") and row["start_time"] <= row["end_time"]


def test_timestamps_are_the_virtual_clock_from_its_epoch(results) -> None:  # type: ignore[no-untyped-def]
    first = next(s for s in results.iter_steps() if s["node"] == "intake")
    row = _rows(to_csv(results))[0]
    assert row["case_id"] == str(first["case_id"])
    seconds = first["start"]
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    assert row["start_time"] == f"2024-01-01T{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}Z"


def test_cases_are_in_order_and_each_by_start_time(results) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(to_csv(results))
    seen: list[str] = []
    for row in rows:
        if not seen or seen[-1] != row["case_id"]:
            assert row["case_id"] not in seen, "a case's rows are together"
            seen.append(row["case_id"])
    for case in seen:
        starts = [r["start_time"] for r in rows if r["case_id"] == case]
        assert starts == sorted(starts)


def test_xes_pairs_start_and_complete_in_time_order(results) -> None:  # type: ignore[no-untyped-def]
    root = etree.fromstring(to_xes(results).encode())
    assert root.get("xes.version") == "1849-2016"
    prefixes = {e.get("prefix") for e in root.findall(f"{XES}extension")}
    assert prefixes == {"concept", "time", "org", "lifecycle"}
    traces = root.findall(f"{XES}trace")
    assert len(traces) == len({r["case_id"] for r in _rows(to_csv(results))})
    total = 0
    for trace in traces:
        open_: dict[str, str] = {}
        last = ""
        for event in trace.findall(f"{XES}event"):
            attrs = {a.get("key"): a.get("value") for a in event}
            assert attrs["time:timestamp"] >= last
            last = attrs["time:timestamp"]
            if attrs["lifecycle:transition"] == "start":
                open_[attrs["concept:instance"]] = attrs["concept:name"]
            else:
                assert open_.pop(attrs["concept:instance"]) == attrs["concept:name"]
                assert "outcome" in attrs
                total += 1
        assert not open_
    assert total == len(_rows(to_csv(results)))


def test_logs_are_byte_stable(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    again = simulate(APPROVAL, cases=30, seed=5)
    assert to_csv(again) == to_csv(results) and to_xes(again) == to_xes(results)
    path = write_event_log(results, tmp_path / "log.xes")
    assert path.read_text(encoding="utf-8") == to_xes(results)


def test_cli_writes_the_log_and_refuses_an_unknown_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.csv"
    code = main(["simulate", str(APPROVAL), "--cases", "5", "--seed", "1", "--out", str(tmp_path / "out"),
                 "--no-progress", "--event-log", str(log)])
    assert code == 0 and _rows(log.read_text())
    code = main(["simulate", str(APPROVAL), "--cases", "5", "--out", str(tmp_path / "out2"), "--no-progress",
                 "--event-log", str(tmp_path / "log.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "log.json" in err and "`.csv` or `.xes`" in err and "Traceback" not in err
    assert not (tmp_path / "out2" / "kpis.json").exists()


def test_replications_share_one_log_with_the_replication_in_the_case_id() -> None:
    results = simulate(APPROVAL, cases=4, seed=2, replications=2)
    cases = {row["case_id"] for row in _rows(to_csv(results))}
    assert {case.split(":", 1)[0] for case in cases} == {"r0", "r1"}
    single = {row["case_id"] for row in _rows(to_csv(simulate(APPROVAL, cases=4, seed=2)))}
    assert {case.split(":", 1)[1] for case in cases} == single
