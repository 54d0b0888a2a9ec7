"""`studio calibrate`: a workflow from an event log, checked against a log with known answers, against
the simulator it came from (simulate -> log -> calibrate -> simulate), and on bad input."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from studio import fileio
from studio.calibrate import CalibrationError, EventLog, calibrate, read_log
from studio.cli import main
from studio.model import Approval, Decision, Human, Join, Parallel, System, Task, Workflow
from studio.simulate import simulate
from studio.simulate.eventlog import write_event_log
from studio.validate import validate

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "tests" / "fixtures" / "logs"
TEMPLATES = ROOT / "templates"


def _figures(log: EventLog) -> tuple[float, dict[str, float]]:
    """Mean cycle time (first start to last end of a case) and each activity's occurrences per case."""
    cases = log.cases
    cycle = [max(e.end for e in events) - events[0].start for events in cases.values()]
    counts = Counter(e.activity for e in log.events)
    return sum(cycle) / len(cycle), {activity: n / len(cases) for activity, n in counts.items()}


# --------------------------------------------------------------------------- known answers


def test_a_log_with_known_answers() -> None:
    """known.csv: 70 cases on weekdays of two weeks, 09:00-17:00 UTC; Register (clerks, 10m) -> Review
    (reviewers, 30m) -> Approve (managers, 15m); every fourth case is reworked once (Rework by clerks,
    10m, then Review again). By hand: Review is followed by Rework 17 times and by Approve 70 times."""
    result = calibrate(read_log(LOGS / "known.csv"))
    workflow = result.workflow
    assert not [f for f in validate(workflow) if f.is_error]
    tasks = {n.name or n.id: n for n in workflow.nodes if isinstance(n, Task)}
    assert set(tasks) == {"Register", "Review", "Rework", "Approve"}
    assert {name: t.behaviour.duration.value for name, t in tasks.items()} == {  # type: ignore[union-attr]
        "Register": 600.0, "Review": 1800.0, "Rework": 600.0, "Approve": 900.0}
    gate = next(n for n in workflow.nodes if isinstance(n, Decision))
    branches = {e.target: e for e in workflow.edges if e.source == gate.id}
    assert branches[tasks["Approve"].id].default
    assert branches[tasks["Rework"].id].probability == pytest.approx(17 / 87, abs=1e-4)
    pools = {a.id: a for a in workflow.actors}
    assert all(isinstance(a, Human) for a in pools.values())
    clerks = pools["clerks"]
    assert isinstance(clerks, Human) and clerks.calendar is not None
    assert [str(d) for d in clerks.calendar.days] == ["mon", "tue", "wed", "thu", "fri"]
    assert clerks.calendar.hours == "09:00-16:15"  # first start, last end rounded out to a quarter hour
    assert clerks.capacity == 2  # case 3's rework (13:00-13:10) overlaps case 4's registration
    assert workflow.simulation.arrivals.rate == pytest.approx(69 / (270 * 3600))  # type: ignore[union-attr]
    assert workflow.simulation.cases == 70
    report = "\n".join(result.report)
    assert "`Review`: `Approve` 0.8046, `Rework` 0.1954 (of 87) - a loop" in report
    assert "no arrival calendar" in report


def test_columns_are_guessed_and_reported_or_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    guessed = read_log(LOGS / "renamed.csv")
    assert guessed.columns == {"case": "Case ID", "activity": "Activity", "resource": "Resource",
                               "start": "Start Timestamp", "end": "Complete Timestamp"}
    assert any("`Start Timestamp` (guessed; name another with --start)" in note for note in guessed.notes)
    known = calibrate(read_log(LOGS / "known.csv")).workflow
    renamed = calibrate(read_log(LOGS / "renamed.csv")).workflow
    assert fileio.to_data(renamed)["nodes"] == fileio.to_data(known)["nodes"]
    out = tmp_path / "w.yaml"
    code = main(["calibrate", str(LOGS / "renamed.csv"), "-o", str(out), "--case", "Case ID",
                 "--start", "Start Timestamp", "--end", "Complete Timestamp"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "column for activity: `Activity` (guessed" in printed and "column for case" not in printed
    assert fileio.load(out).metadata.name == "w" or fileio.load(out).metadata.name == "renamed"


def test_semicolons_naive_times_and_other_names_are_read() -> None:
    log = read_log(LOGS / "known_semicolon.csv")  # the first 40 rows of known.csv as another tool exports them
    assert log.columns == {"case": "case", "activity": "activity", "resource": "user", "start": "started",
                           "end": "completed"}
    review = log.events[1]
    assert (review.activity, review.resource, review.start, review.end) == ("Review", "reviewers", 34200.0, 36000.0)


def test_xes_without_start_events_starts_each_event_when_the_one_before_ended() -> None:
    log = read_log(LOGS / "complete_only.xes")  # the first 40 rows of known.csv, complete events only
    first, second = log.events[0], log.events[1]
    assert first.start == first.end == 9 * 3600 + 600  # the case's first event: no duration to see
    assert (second.start, second.end) == (first.end, 10 * 3600)  # Review: its 20 minutes' wait included
    assert any("40 complete event(s) without a start event" in note for note in log.notes)


def test_xes_with_a_start_attribute_named_by_option() -> None:
    log = read_log(LOGS / "start_attribute.xes", start="start")
    assert [(e.case, e.activity, e.start, e.end) for e in log.events] == [
        ("A", "x", 9 * 3600, 9 * 3600 + 600), ("A", "y", 9 * 3600 + 1200, 9 * 3600 + 1800),
        ("B", "x", 10 * 3600, 10 * 3600 + 600)]
    assert {e.resource for e in log.events} == {"unknown"}  # org:resource is optional in XES


def test_output_is_the_same_every_run(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        assert main(["calibrate", str(LOGS / "known.csv"), "-o", str(tmp_path / name)]) == 0
    assert (tmp_path / "a.yaml").read_bytes() == (tmp_path / "b.yaml").read_bytes()


# --------------------------------------------------------------------------- round trip through the simulator


def test_simulate_calibrate_simulate_keeps_cycle_time_and_frequencies(tmp_path: Path) -> None:
    """support_triage (decisions, a send-back loop, escalations, calendars in several timezones),
    4,000 cases at 4 an hour (about six weeks, so calendars and weekly patterns show).

    Why the tolerances hold: the calibrated routing is a first-order Markov chain whose branch
    probabilities are the observed transition shares, so every activity's expected visits per case
    equal the observed ones (each visit but the first has exactly one predecessor: the observed
    counts solve the chain's flow equations); the gap is binomial noise, a standard error under
    0.01 at 4,000 cases, plus the transitions dropped as rare (under 1%). The mean cycle time is
    heavy-tailed (queues at one-person pools, nights, weekends): two runs of the template itself
    differ by about 5% at this size, and the calibration adds small biases (capacities are the most
    seen at once, a lower bound; an activity done by two pools gets one duration), hence 15%.
    """
    log_path = tmp_path / "support.csv"
    original = simulate(TEMPLATES / "support_triage" / "workflow.yaml", cases=4000, seed=42,
                        scenario=["simulation.arrivals.rate=4/h"])
    write_event_log(original, log_path)
    out = tmp_path / "calibrated.yaml"
    assert main(["calibrate", str(log_path), "-o", str(out)]) == 0
    calibrated = fileio.load(out)
    assert not [f for f in validate(calibrated) if f.is_error]
    again = simulate(calibrated, seed=7)
    write_event_log(again, tmp_path / "again.xes")
    cycle0, freq0 = _figures(read_log(log_path))
    cycle1, freq1 = _figures(read_log(tmp_path / "again.xes"))
    assert abs(cycle1 / cycle0 - 1) <= 0.15, (cycle0, cycle1)
    assert set(freq1) == set(freq0)
    for activity, share in freq0.items():
        assert abs(freq1[activity] - share) <= 0.05, (activity, share, freq1[activity])
    kinds = {a.id: a.kind for a in calibrated.actors}
    assert kinds["classifier_agent"] == "system" and kinds["tier2_engineers"] == "human"
    tier2 = next(n for n in calibrated.nodes if n.name == "Tier-2 investigation")
    assert isinstance(tier2, Task) and tier2.escalate_to == "support_leads" and tier2.sla == 4 * 3600


def test_xes_and_csv_logs_calibrate_alike_and_parallel_work_is_a_split(tmp_path: Path) -> None:
    """customer_onboarding runs identity and screening checks in parallel: they overlap in time in
    every case, so the calibrated workflow has a split and a join around them."""
    results = simulate(TEMPLATES / "customer_onboarding" / "workflow.yaml", cases=1200, seed=42)
    write_event_log(results, tmp_path / "log.csv")
    write_event_log(results, tmp_path / "log.xes")
    from_csv = calibrate(read_log(tmp_path / "log.csv"), name="onboarding").workflow
    from_xes = calibrate(read_log(tmp_path / "log.xes"), name="onboarding").workflow
    assert fileio.to_data(from_csv)["nodes"] == fileio.to_data(from_xes)["nodes"]
    assert fileio.to_data(from_csv)["edges"] == fileio.to_data(from_xes)["edges"]
    split = next(n for n in from_csv.nodes if isinstance(n, Parallel))
    join = next(n for n in from_csv.nodes if isinstance(n, Join))
    names = {n.id: n.name for n in from_csv.nodes}
    branches = {names[e.target] for e in from_csv.edges if e.source == split.id}
    assert branches == {"Verify identity (document, liveness, address)", "Screen sanctions, PEP and adverse media"}
    assert {names[e.source] for e in from_csv.edges if e.target == join.id} == branches
    assert not [f for f in validate(from_csv) if f.is_error]
    assert any(isinstance(a, System) for a in from_csv.actors)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("name", "expected"), [
    ("missing_column.csv", ["row 1", "resource", "--resource"]),
    ("end_before_start.csv", ["row 4", "column `end_time`", "ends", "before it starts"]),
    ("out_of_order.csv", ["row 4", "column `start_time`", "case `C000`", "sort the log"]),
    ("bad_timestamp.csv", ["row 6", "column `start_time`", "`yesterday` is not a timestamp"]),
    ("one_case.csv", ["row 2", "column `case_id`", "at least two cases"]),
    ("out_of_order.xes", ["line 18", "attribute `time:timestamp`", "case `C000`", "time order"]),
    ("header_only.csv", ["has no events", "one row"]),
])
def test_bad_logs_get_a_message_naming_file_row_and_column(
    name: str, expected: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CalibrationError) as info:
        read_log(LOGS / name)
    assert str(LOGS / name) in str(info.value)
    code = main(["calibrate", str(LOGS / name), "-o", str(tmp_path / "w.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and not (tmp_path / "w.yaml").exists()
    assert err.startswith("studio: error: ") and str(LOGS / name) in err
    for text in expected:
        assert text in err, (text, err)


def test_a_missing_file_and_a_named_column_that_is_not_there(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "w.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["calibrate", str(LOGS / "known.csv"), "-o", str(tmp_path / "w.yaml"), "--case", "ticket"]) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and "no column `ticket` (given with --case)" in err and "`case_id`" in err


def test_hours_that_differ_by_day_are_calibrated_as_shifts(tmp_path: Path) -> None:
    """Two clerks, busy through every open hour (15 m jobs arriving faster than they can do them),
    working Monday 09-17 and Tuesday to Friday 09-15: the log shows each day's first start and last
    end, so the calibrated calendar has those hours per day."""
    shifts = {"shifts": [{"days": ["mon"], "hours": "09:00-17:00"},
                         {"days": ["tue", "wed", "thu", "fri"], "hours": "09:00-15:00"}], "timezone": "UTC"}
    model = Workflow.model_validate({
        "apiVersion": "studio/v1",
        "metadata": {"name": "desk", "version": "1.0.0", "owner": "tests@example.com"},
        "actors": [{"id": "clerks", "kind": "human", "capacity": 2, "calendar": shifts,
                    "behaviour": {"duration": "15m"}}],
        "nodes": [{"id": "start", "kind": "start"}, {"id": "file", "kind": "task", "actor": "clerks"},
                  {"id": "done", "kind": "end", "outcome": "done"}],
        "edges": [{"from": "start", "to": "file"}, {"from": "file", "to": "done"}],
        "simulation": {"seed": 3, "arrivals": {"process": "poisson", "rate": "12/h"}},
    })
    log_path = tmp_path / "desk.csv"
    write_event_log(simulate(model, cases=700), log_path)
    calibrated = calibrate(read_log(log_path)).workflow
    clerks = calibrated.actor("clerks")
    assert isinstance(clerks, Human) and clerks.calendar is not None
    assert clerks.calendar.describe() == "mon 09:00-17:00; tue,wed,thu,fri 09:00-15:00 UTC"


def test_three_pools_taking_work_one_after_another_are_an_escalation_chain(tmp_path: Path) -> None:
    """The chain fixture (approver; leads after 2h; directors 1h after that) under Poisson arrivals:
    the approver's waits stay under 2h, the leads' between 2h and 3h, the directors' at 3h; the chain
    comes back with level 1 at 2h and level 2 at the first round time past the leads' longest wait,
    counted from the hand-over (so at most the true 1h)."""
    data = fileio.to_data(fileio.load(ROOT / "tests" / "fixtures" / "simulate" / "escalation_chain.yaml"))
    data["simulation"]["arrivals"] = {"process": "poisson", "rate": "1/h"}
    log_path = tmp_path / "chain.csv"
    write_event_log(simulate(Workflow.model_validate(data), cases=300, seed=5), log_path)
    calibrated = calibrate(read_log(log_path)).workflow
    sign_off = next(n for n in calibrated.nodes if n.name == "sign_off" or n.id == "sign_off")
    assert isinstance(sign_off, Approval | Task) and sign_off.actor == "approver"
    assert sign_off.sla is None and sign_off.escalate_to is None
    levels = [(level.to, level.after) for level in sign_off.escalation or ()]
    assert [to for to, _ in levels] == ["leads", "directors"]
    assert levels[0][1] == 2 * 3600 and 0 < levels[1][1] <= 3600
    assert not [f for f in validate(calibrated) if f.is_error]
