"""A Prosimos simulation-parameter JSON carried into an imported workflow (studio.export._prosimos, B016).

Fixture: tests/fixtures/prosimos/small.bpmn + small.json, written by hand so every imported value is
known: three profiles (one with two resources and different durations for one task), calendars
that fit the format exactly, one that does not, each Prosimos distribution name, exponential
arrivals, an arrival calendar, a loop limit and a section the format has no place for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import studio
from studio import fileio
from studio.cli import main
from studio.errors import Finding
from studio.export.bpmn import read_bpmn
from studio.model import Human, Task, Workflow
from studio.simulate import simulate

HERE = Path(__file__).parent / "fixtures" / "prosimos"
MODEL = HERE / "small.bpmn"
PARAMS = HERE / "small.json"


def _params() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PARAMS.read_text(encoding="utf-8"))
    return data


def _duration(workflow: Workflow, node_id: str) -> Any:
    node = workflow.node(node_id)
    assert isinstance(node, Task) and node.behaviour.duration is not None
    return node.behaviour.duration.model_dump(mode="json", by_alias=True, exclude_none=True)


def _b016(findings: list[Finding]) -> dict[str, str]:
    return {f.location: f.severity.value for f in findings if f.code == "B016"}


def test_pools_come_from_the_resource_profiles_with_their_calendars() -> None:
    workflow = read_bpmn(MODEL, simulation=PARAMS).workflow
    pools = {a.id: a for a in workflow.actors}
    assert sorted(pools) == ["desk_clerks", "night_shift", "reviewers"]  # the placeholder agent is gone
    assert all(isinstance(a, Human) for a in pools.values())
    summary = {pid: (a.capacity, a.calendar.model_dump(mode="json") if a.calendar else None)
               for pid, a in pools.items() if isinstance(a, Human)}
    assert summary == {
        "desk_clerks": (3, {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00", "timezone": "UTC"}),
        "reviewers": (1, {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00", "timezone": "UTC",
                          "shifts": [{"days": ["mon", "tue", "wed"], "hours": "08:00-12:00"},
                                     {"days": ["thu"], "hours": "13:00-18:00"}]}),  # hours that differ by day
        "night_shift": (1, {"days": ["sat", "sun"], "hours": "00:00-24:00", "timezone": "UTC"}),
    }


def test_each_task_gets_its_pool_and_its_duration_in_the_formats_distribution() -> None:
    workflow = read_bpmn(MODEL, simulation=PARAMS).workflow
    actors = {n.id: n.actor for n in workflow.nodes if isinstance(n, Task)}
    assert actors == {"stamp": "desk_clerks", "sort": "desk_clerks", "read": "desk_clerks", "review": "reviewers",
                      "deep_review_2": "reviewers", "night_check": "night_shift", "file": "desk_clerks",
                      "archive": "desk_clerks"}
    assert _duration(workflow, "stamp") == "5m"  # fix [value]
    # Prosimos 2 expon [mean, min, max]: min + exponential(mean - min), kept below max
    assert _duration(workflow, "sort") == {"dist": "exponential", "mean": "9m", "loc": "1m", "max": "100m"}
    # norm [mean, sd, min, max]: no mass below zero worth a truncation at 900 +- 120 s
    assert _duration(workflow, "read") == {"dist": "normal", "mean": "15m", "sd": "2m", "max": "1h"}
    # lognorm and gamma [mean, variance, min, max]
    assert _duration(workflow, "review") == {"dist": "lognormal", "mean": "20m", "sd": "5m", "min": "100s",
                                             "max": "2h"}
    assert _duration(workflow, "deep_review_2") == {"dist": "gamma", "mean": "30m", "sd": "10m", "max": "10000s"}
    assert _duration(workflow, "night_check") == {"dist": "uniform", "low": "1m", "high": "3m"}
    # exponnorm [K, loc, scale, min, max] and triang [c, loc, scale] as scipy's
    assert _duration(workflow, "file") == {"dist": "exponnorm", "k": 2.0, "scale": "1m", "loc": "5m",
                                           "max": "5000s"}
    assert _duration(workflow, "archive") == {"dist": "triangular", "low": "100s", "mode": "200s", "high": "5m"}


def test_costs_arrivals_probabilities_and_loop_limit() -> None:
    workflow = read_bpmn(MODEL, simulation=PARAMS).workflow
    costs = {a.id: a.behaviour.cost_per_hour for a in workflow.actors}
    assert costs == {"desk_clerks": 30.0, "reviewers": 30.0, "night_shift": None}  # desk: (2 x 20 + 50) / 3
    arrivals = workflow.simulation.arrivals
    assert arrivals.process == "poisson" and arrivals.rate == pytest.approx(1 / 1200, rel=1e-12)
    assert arrivals.calendar is not None and arrivals.calendar.model_dump(mode="json") == {
        "days": ["mon", "tue", "wed", "thu", "fri"], "hours": "08:00-18:00", "timezone": "UTC"}
    assert {(e.source, e.target): e.probability for e in workflow.edges if e.probability is not None} == {
        ("deep_review", "deep_review_2"): 0.25, ("deep_review", "night_check"): 0.75}
    assert workflow.policies.max_repeats == 50
    assert [f.code for f in studio.validate(workflow) if f.is_error] == []


def test_what_is_not_carried_is_reported_with_its_json_path() -> None:
    result = read_bpmn(MODEL, simulation=PARAMS)
    assert _b016(result.findings) == {
        "task_resource_distribution[6].resources": "info",  # different durations in one pool: members keep them
        "resource_profiles[0].resource_list": "warning",  # different costs per hour in one pool
        "arrival_time_calendar": "info",  # carried; Prosimos' extra arrival at each opening is not
        "resource_profiles": "info",  # the placeholder actor dropped
    }
    by_place = {f.location: f for f in result.findings if f.code == "B016"}
    weighted = by_place["task_resource_distribution[6].resources"].message
    assert "r_a's" in weighted and "446.667s" in weighted  # (2 x 420 s + 1 x 500 s) / 3
    assert "each person of the pool keeps their own" in weighted
    assert all(f.file == str(PARAMS) and f.hint for f in result.findings if f.code == "B016" and f.severity.value
               == "warning")


def test_unknown_fields_are_reported_not_ignored() -> None:
    data = _params()
    data["arival_time_distribution"] = {}
    data["resource_profiles"][1]["resource_list"][0]["colour"] = "blue"
    findings = _b016(read_bpmn(MODEL, simulation=data).findings)
    assert findings["arival_time_distribution"] == "warning"
    assert findings["resource_profiles[1].resource_list[0].colour"] == "warning"


def test_a_flow_or_task_the_process_lacks_is_reported() -> None:
    data = _params()
    data["gateway_branching_probabilities"][0]["probabilities"].append({"path_id": "f_elsewhere", "value": 0.0})
    data["task_resource_distribution"].append(
        {"task_id": "t_elsewhere", "resources": [{"resource_id": "r_a", "distribution_name": "fix",
                                                  "distribution_params": [{"value": 1}]}]})
    findings = read_bpmn(MODEL, simulation=data).findings
    assert [f.location for f in findings if f.code == "B015" and f.severity.value == "warning"] == ["f_elsewhere"]
    assert _b016(findings)["task_resource_distribution[8].task_id"] == "warning"


def test_an_unknown_distribution_keeps_the_default_and_says_so() -> None:
    data = _params()
    data["task_resource_distribution"][0]["resources"][0]["distribution_name"] = "weibull"
    result = read_bpmn(MODEL, simulation=data)
    assert _b016(result.findings)["task_resource_distribution[0].resources[0].distribution_name"] == "warning"
    stamp = result.workflow.node("stamp")
    assert isinstance(stamp, Task) and stamp.behaviour.duration is None


@pytest.mark.parametrize(
    ("change", "place"),
    [
        (lambda d: d.__setitem__("resource_profiles", {}), "resource_profiles"),
        (lambda d: d["resource_profiles"][0]["resource_list"][0].__setitem__("calendar", "nope"),
         "resource_profiles[0].resource_list[0].calendar"),
        (lambda d: d["task_resource_distribution"][1]["resources"][0].__setitem__("resource_id", "r_zz"),
         "task_resource_distribution[1].resources[0].resource_id"),
        (lambda d: d["task_resource_distribution"][1]["resources"][0].pop("distribution_params"),
         "task_resource_distribution[1].resources[0]"),
        (lambda d: d["resource_calendars"][0]["time_periods"][0].__setitem__("from", "MONDAYS"),
         "resource_calendars[0].time_periods[0].from"),
        (lambda d: d["resource_calendars"][0]["time_periods"][0].__setitem__("endTime", "5pm"),
         "resource_calendars[0].time_periods[0].endTime"),
    ],
)
def test_bad_structure_names_the_json_path(change: Any, place: str, tmp_path: Path) -> None:
    data = _params()
    change(data)
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(studio.LoadError) as caught:
        read_bpmn(MODEL, simulation=path)
    finding = caught.value.findings[0]
    assert finding.location == place and place in finding.message
    assert finding.file == str(path) and finding.hint


def test_cli_imports_with_the_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "small.yaml"
    assert main(["import", str(MODEL), "--simulation", str(PARAMS), "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "B016" in stdout and "resource_profiles[0].resource_list" in stdout  # different costs: the mean
    workflow = fileio.load(out)
    assert workflow == read_bpmn(MODEL, simulation=PARAMS).workflow
    reviewers = workflow.actor("reviewers")
    assert isinstance(reviewers, Human) and reviewers.capacity == 1


def test_cli_missing_parameter_file_is_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.json"
    assert main(["import", str(MODEL), "--simulation", str(missing), "-o", str(tmp_path / "x.yaml")]) == 2
    captured = capsys.readouterr()
    assert str(missing) in captured.out + captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "x.yaml").exists()


def test_the_benchmark_model_imports_whole() -> None:
    root = Path(__file__).resolve().parents[1] / "benchmarks" / "prosimos"
    result = read_bpmn(root / "loan.bpmn", simulation=root / "loan.json")
    assert [f for f in result.findings if f.code == "B016" and f.severity.value == "warning"] == []
    assert [f.code for f in studio.validate(result.workflow) if f.is_error] == []
    pools = {a.id: a.capacity for a in result.workflow.actors if isinstance(a, Human)}
    assert pools == {"clerks": 2, "credit_officers": 2, "appraisers": 2, "managers": 1}
    arrivals = result.workflow.simulation.arrivals  # round the clock: no calendar
    assert arrivals.process == "poisson" and arrivals.rate == pytest.approx(1 / 9720) and arrivals.calendar is None


def test_mixed_profiles_and_calendars_are_simplified_and_reported() -> None:
    data = _params()
    data["resource_profiles"][0]["resource_list"][1]["calendar"] = "split"  # r_b: another calendar than r_a
    data["task_resource_distribution"][7]["resources"].append(  # archive: by r_b (desk) and r_c (reviewers)
        {"resource_id": "r_c", "distribution_name": "fix", "distribution_params": [{"value": 60}]})
    data["resource_calendars"][0]["time_periods"].append(
        {"from": "SUNDAY", "to": "SUNDAY", "beginTime": "22:00:00", "endTime": "02:00:00"})
    result = read_bpmn(MODEL, simulation=data)
    findings = _b016(result.findings)
    assert findings["resource_profiles[0].resource_list"] == "info"  # two calendars in one profile: members
    assert findings["task_resource_distribution[7].resources"] == "warning"  # two profiles for one task
    assert findings["resource_calendars[0].time_periods[1]"] == "warning"  # over midnight: not carried
    desk = result.workflow.actor("desk_clerks")
    assert isinstance(desk, Human) and desk.calendar is not None and desk.calendar.hours == "09:00-17:00"
    assert [m.name for m in desk.members] == ["A 1", "A 2", "B"] and desk.capacity == 3
    archive = result.workflow.node("archive")
    assert isinstance(archive, Task) and archive.actor == "desk_clerks"  # one person each: the first listed


def test_resources_of_one_profile_on_different_calendars_become_members(tmp_path: Path) -> None:
    data = _params()
    data["resource_profiles"][0]["resource_list"][1]["calendar"] = "weekend"  # B works weekends
    params = tmp_path / "members.json"
    params.write_text(json.dumps(data), encoding="utf-8")
    result = read_bpmn(MODEL, simulation=params)
    clerks = result.workflow.actor("desk_clerks")
    assert isinstance(clerks, Human) and clerks.capacity == 3
    weekdays = {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00", "timezone": "UTC"}
    weekend = {"days": ["sat", "sun"], "hours": "00:00-24:00", "timezone": "UTC"}
    assert [(m.name, m.calendar.model_dump(mode="json") if m.calendar else None) for m in clerks.members] == [
        ("A 1", weekdays), ("A 2", weekdays), ("B", weekend)]
    assert _b016(result.findings)["resource_profiles[0].resource_list"] == "info"
    simulate(result.workflow, cases=20, seed=1)  # the imported pool simulates


def _batched(tmp_path: Path, entries: list[dict[str, Any]]) -> Any:
    data = _params()
    data["batch_processing"] = entries
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return read_bpmn(MODEL, simulation=path)


def _rules(*rules: tuple[str, str, float]) -> list[list[dict[str, Any]]]:
    return [[{"attribute": a, "comparison": c, "value": v}] for a, c, v in rules]


def test_parallel_batching_by_size_and_oldest_wait_becomes_the_steps_batch(tmp_path: Path) -> None:
    result = _batched(tmp_path, [
        {"task_id": "t1", "type": "Parallel", "firing_rules": _rules(("size", "=", 5), ("large_wt", ">", 7200))},
        {"task_id": "t2", "type": "Parallel", "duration_distrib": [{"key": "3", "value": 1}],
         "firing_rules": _rules(("size", ">=", 3))},
    ])
    batches = {n.id: n.batch.model_dump(mode="json") for n in result.workflow.nodes
               if isinstance(n, Task) and n.batch is not None}
    assert batches == {"stamp": {"size": 5, "timeout": "2h"}, "sort": {"size": 3, "timeout": None}}
    assert not [f for f in result.findings if f.location.startswith("batch_processing")]
    assert [f.code for f in studio.validate(result.workflow) if f.is_error] == []


@pytest.mark.parametrize(("entry", "why"), [
    ({"type": "Sequential", "firing_rules": _rules(("size", "=", 3))}, "type `Sequential`"),
    ({"type": "Parallel", "duration_distrib": [{"key": "3", "value": 0.8}], "firing_rules": _rules(("size", "=", 3))},
     "`duration_distrib` scales"),
    ({"type": "Parallel", "firing_rules": [[{"attribute": "size", "comparison": "=", "value": 3},
                                            {"attribute": "large_wt", "comparison": ">", "value": 60}]]},
     "not one condition"),
    ({"type": "Parallel", "firing_rules": _rules(("week_day", "=", 1))}, "(`week_day = 1`) has no place"),
    ({"type": "Parallel", "firing_rules": _rules(("large_wt", ">", 600))}, "no `size` rule"),
])
def test_batching_the_format_cannot_hold_is_reported_and_not_carried(tmp_path: Path, entry: dict[str, Any],
                                                                     why: str) -> None:
    result = _batched(tmp_path, [{"task_id": "t1", **entry}])
    assert all(not (isinstance(n, Task) and n.batch is not None) for n in result.workflow.nodes)
    found = [f for f in result.findings if f.location == "batch_processing[0]"]
    assert len(found) == 1 and found[0].code == "B016" and found[0].severity.value == "warning"
    assert why in found[0].message and "`t1`" in found[0].message and found[0].hint


def test_each_resource_keeps_its_own_duration_of_a_task_as_a_member() -> None:
    """`file` (t7): r_a (two people) exponnorm, r_b (one) a fixed 500 s. The pool's people become
    members; each keeps their resource's duration, and the step keeps r_a's (nearest the weighted mean)."""
    workflow = read_bpmn(MODEL, simulation=PARAMS).workflow
    clerks = workflow.actor("desk_clerks")
    assert isinstance(clerks, Human) and clerks.capacity == 3 and clerks.calendar is not None
    durations = {m.name: {k: v.model_dump(mode="json", by_alias=True, exclude_none=True)
                          for k, v in m.durations.items()} for m in clerks.members}
    exponnorm = {"dist": "exponnorm", "k": 2.0, "scale": "1m", "loc": "5m", "max": "5000s"}
    assert durations == {"A 1": {"file": exponnorm}, "A 2": {"file": exponnorm}, "B": {"file": "500s"}}
    assert all(m.calendar is None for m in clerks.members)  # one calendar: the pool's
    assert _duration(workflow, "file") == exponnorm
    assert [f.code for f in studio.validate(workflow) if f.is_error] == []
    kernel = simulate(workflow, cases=30, seed=2, engine="kernel", verify=30)
    langgraph = simulate(workflow, cases=30, seed=2, engine="langgraph")
    assert json.dumps(kernel.payloads) == json.dumps(langgraph.payloads)
    by_b = [s for s in kernel.iter_steps() if s["node"] == "file" and s["service"] == 500.0]
    assert by_b  # B filed some cases, each in exactly 500 s


def test_hours_that_differ_by_day_and_breaks_become_shifts() -> None:
    data = _params()
    data["resource_calendars"][0]["time_periods"] = [  # week: a lunch break Monday to Thursday, a short Friday
        {"from": "MONDAY", "to": "THURSDAY", "beginTime": "09:00:00", "endTime": "12:00:00"},
        {"from": "MONDAY", "to": "THURSDAY", "beginTime": "13:00:00", "endTime": "17:00:00"},
        {"from": "FRIDAY", "to": "FRIDAY", "beginTime": "09:00:00", "endTime": "13:00:00"}]
    data["arrival_time_calendar"] = [
        {"from": "MONDAY", "to": "FRIDAY", "beginTime": "08:00:00", "endTime": "18:00:00"},
        {"from": "SATURDAY", "to": "SATURDAY", "beginTime": "10:00:00", "endTime": "14:00:00"}]
    result = read_bpmn(MODEL, simulation=data)
    clerks = result.workflow.actor("desk_clerks")
    assert isinstance(clerks, Human) and clerks.calendar is not None
    assert clerks.calendar.model_dump(mode="json")["shifts"] == [
        {"days": ["mon", "tue", "wed", "thu"], "hours": "09:00-12:00,13:00-17:00"},
        {"days": ["fri"], "hours": "09:00-13:00"}]
    arrivals = result.workflow.simulation.arrivals.calendar  # type: ignore[union-attr]
    assert arrivals is not None and arrivals.describe() == "mon,tue,wed,thu,fri 08:00-18:00; sat 10:00-14:00 UTC"
    findings = _b016(result.findings)
    assert "resource_calendars[0]" not in findings and findings["arrival_time_calendar"] == "info"


def test_a_calendar_off_whole_minutes_is_rounded_and_reported() -> None:
    data = _params()
    data["resource_calendars"][0]["time_periods"][0]["beginTime"] = "09:00:30"
    result = read_bpmn(MODEL, simulation=data)
    finding = next(f for f in result.findings if f.location == "resource_calendars[0]")
    assert finding.severity.value == "warning" and "rounded to whole minutes" in finding.message
    assert "39.9583 h a week" in finding.message  # 40 h less 30 s on each of 5 days
    assert "(40 h a week)" in finding.message
