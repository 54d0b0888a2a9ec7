"""The `wait` step: a timer that holds no resource (known answers, both engines, analysis)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from studio import analyze, graph_analysis
from studio.errors import WorkflowInvalid
from studio.model import Workflow, calendar_mean_wait
from studio.simulate import simulate
from studio.simulate.clock import seconds_to_iso
from studio.simulate.eventlog import events

HOUR = 3600.0
WEEKDAYS = {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00"}


def _workflow(wait: dict[str, Any], *, clerk: bool = False, arrivals: bool = True, **extra: Any) -> Workflow:
    """start -> [clerks do `work` for 1h] -> hold (the wait) -> done."""
    nodes: list[dict[str, Any]] = [{"id": "start", "kind": "start"}]
    edges = []
    tail = "start"
    if clerk:
        nodes.append({"id": "work", "kind": "task", "actor": "clerks", "sla": "8h", "escalate_to": "leads"})
        edges.append({"from": tail, "to": "work"})
        tail = "work"
    nodes += [{"id": "hold", "kind": "wait", "name": "Wait for the goods", **wait},
              {"id": "done", "kind": "end", "outcome": "done"}]
    edges += [{"from": tail, "to": "hold"}, {"from": "hold", "to": "done"}]
    return Workflow.model_validate({
        "metadata": {"name": "timer", "version": "1.0.0"},
        "actors": [{"id": "clerks", "kind": "human", "capacity": 1,
                    "behaviour": {"duration": "1h", "cost_per_hour": 40}},
                   {"id": "leads", "kind": "human", "capacity": 1}],
        "nodes": nodes,
        "edges": edges,
        **({"simulation": {"arrivals": {"process": "column", "column": "arrival"}}} if arrivals else {}),
        **extra,
    })


def _steps(results: Any, node: str) -> dict[str, dict[str, Any]]:
    return {step["case_id"]: step for step in results.iter_steps() if step["node"] == node}


def _cases(results: Any) -> dict[str, dict[str, Any]]:
    return {case["case_id"]: case for case in results.iter_cases()}


def test_a_fixed_wait_adds_exactly_its_delay_and_is_recorded_as_a_timer() -> None:
    results = simulate(_workflow({"delay": "2h"}), data=[{"case_id": "a", "arrival": 0},
                                                         {"case_id": "b", "arrival": 5 * HOUR}])
    cases = _cases(results)
    assert cases["a"]["cycle_time"] == cases["b"]["cycle_time"] == 2 * HOUR
    hold = _steps(results, "hold")["b"]
    assert (hold["start"], hold["end"], hold["wait"], hold["queue"]) == (7 * HOUR, 7 * HOUR, 2 * HOUR, 0)
    assert hold["wait_reason"] == "timer"
    assert (hold["actor"], hold["resource"], hold["service"], hold["cost"]) == (None, None, 0, 0)
    assert all(r["requests"] == 0 for r in results.kpis["resources"].values())  # a wait asks no pool
    assert results.kpis["cost"]["per_case"] == 0


def test_a_wait_holds_no_person() -> None:
    """One clerk, two cases at 0: the second's work starts when the first's work ends (1h), not when
    the first's wait ends (3h)."""
    results = simulate(_workflow({"delay": "2h"}, clerk=True),
                       data=[{"case_id": "a", "arrival": 0}, {"case_id": "b", "arrival": 0}])
    work = _steps(results, "work")
    assert (work["b"]["start"], work["b"]["end"]) == (HOUR, 2 * HOUR)
    assert _steps(results, "hold")["b"]["end"] == 4 * HOUR
    assert _cases(results)["b"]["cycle_time"] == 4 * HOUR
    assert results.kpis["resources"]["clerks"]["requests"] == 2  # the clerks' work only
    assert results.kpis["resources"]["leads"]["requests"] == 0
    assert results.kpis["cost"]["per_case"] == 40  # one hour of a clerk, the wait costs nothing
    assert {e.activity for e in events(results)} == {"work"}  # a wait is not an event of the log


def test_until_a_weekday_calendar_from_friday_evening_goes_on_monday_at_nine() -> None:
    results = simulate(_workflow({"until": WEEKDAYS}),
                       data=[{"case_id": "friday", "arrival": "2024-01-05T18:00:00Z"},
                             {"case_id": "tuesday", "arrival": "2024-01-09T10:00:00Z"}])
    hold = _steps(results, "hold")
    assert seconds_to_iso(hold["friday"]["end"]) == "2024-01-08T09:00:00Z"
    assert hold["friday"]["wait"] == 63 * HOUR and hold["friday"]["wait_reason"] == "timer"
    assert _cases(results)["friday"]["cycle_time"] == 63 * HOUR
    assert hold["tuesday"]["wait"] == 0 and hold["tuesday"]["wait_reason"] is None  # open: no wait


def test_an_exponential_delay_has_its_mean() -> None:
    n = 2000
    results = simulate(_workflow({"delay": {"dist": "exponential", "mean": "1h"}}, arrivals=False), cases=n, seed=11)
    waits = [step["wait"] for step in results.iter_steps() if step["node"] == "hold"]
    assert len(waits) == n
    mean = math.fsum(waits) / n
    assert abs(mean - HOUR) < 4 * HOUR / math.sqrt(n)  # the sd of an exponential is its mean
    assert len(set(waits)) > 0.99 * n  # drawn per visit (rounded to the millisecond in traces)


@pytest.mark.parametrize("wait", [{"delay": "2h"}, {"delay": {"dist": "exponential", "mean": "30m"}},
                                  {"until": WEEKDAYS}])
def test_both_engines_give_identical_cases(wait: dict[str, Any]) -> None:
    workflow = _workflow(wait, clerk=True, arrivals=False)
    kernel = simulate(workflow, cases=60, seed=5, engine="kernel", verify=0)
    langgraph = simulate(workflow, cases=60, seed=5, engine="langgraph")
    for mine, theirs in zip(kernel.payloads, langgraph.payloads, strict=True):
        assert json.dumps(mine["cases"]) == json.dumps(theirs["cases"])


def test_a_case_column_gives_the_case_its_own_delay() -> None:
    workflow = _workflow({"delay": {"dist": "exponential", "mean": "1h"}},
                         simulation={"arrivals": {"process": "column", "column": "arrival"},
                                     "overrides": {"lead_time": "hold.duration"}})
    results = simulate(workflow, data=[{"case_id": "a", "arrival": 0, "lead_time": "36h"},
                                       {"case_id": "b", "arrival": 0, "lead_time": 5400},
                                       {"case_id": "c", "arrival": 0, "lead_time": "soon"}])
    cases = _cases(results)
    assert cases["a"]["cycle_time"] == 36 * HOUR and cases["b"]["cycle_time"] == 1.5 * HOUR  # a number: seconds
    assert (cases["c"]["status"], cases["c"]["category"], cases["c"]["where"]) == ("failed", "data", "hold")
    with pytest.raises(WorkflowInvalid) as refused:
        simulate(_workflow({"delay": "1h"}, simulation={"overrides": {"x": "hold.cost_per_call"}}), cases=1)
    assert [f.code for f in refused.value.findings if f.is_error] == ["M001"]


def test_a_wait_is_a_turn_of_max_turns() -> None:
    results = simulate(_workflow({"delay": "1h"}, arrivals=False, policies={"max_turns": 2}), cases=1)
    case = next(iter(results.iter_cases()))
    assert (case["status"], case["reason"], case["where"]) == ("killed", "max_turns", "done")


def test_the_analysis_counts_a_waits_expected_time() -> None:
    fixed = _workflow({"delay": "2h"}, clerk=True)
    assert graph_analysis.critical_path(fixed).duration == 3 * HOUR  # the clerks' hour and the wait
    drawn = _workflow({"delay": {"dist": "uniform", "low": "1h", "high": "3h"}})
    assert graph_analysis.node_duration(drawn, "hold") == 2 * HOUR
    # weekdays 09-17: four closed nights of 16h and a weekend of 64h; evenly over the week's 168h
    assert graph_analysis.node_duration(_workflow({"until": WEEKDAYS}), "hold") == pytest.approx(
        (4 * 16**2 + 64**2) / 2 / 168 * HOUR)
    assert calendar_mean_wait(Workflow.model_validate(
        {"metadata": {"name": "x"}, "nodes": [{"id": "w", "kind": "wait", "until": {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "hours": "00:00-24:00"}}]}
    ).nodes[0].until) == 0  # type: ignore[union-attr, arg-type]
    assert analyze(fixed).to_dict()["critical_path"]["duration"] == "3h"


def test_the_documented_example_is_valid() -> None:
    import re

    from conftest import ROOT
    from pydantic import TypeAdapter
    from ruamel.yaml import YAML

    from studio.model import Node, Wait

    doc = (ROOT / "docs" / "workflow-format.md").read_text()
    match = re.search(r"A `wait` has exactly one of.*?```yaml\n(.*?)```", doc, flags=re.S)
    assert match is not None
    nodes = [TypeAdapter(Node).validate_python(item) for item in YAML(typ="safe").load(match.group(1))["nodes"]]
    waits = [node for node in nodes if isinstance(node, Wait)]
    assert [w.timer_text for w in waits] == ["triangular, mean 64h", "until mon-fri 09:00-17:00 Europe/Berlin"]
    with pytest.raises(ValueError, match="not both"):
        Wait.model_validate({"id": "w", "kind": "wait", "delay": "1h", "until": WEEKDAYS})


def test_the_mean_wait_of_a_shift_calendar_counts_every_closed_stretch() -> None:
    from studio.model import Calendar

    night = Calendar.model_validate({"shifts": [{"days": ["sun"], "hours": "22:00-06:00"}]})
    assert calendar_mean_wait(night) == pytest.approx((160 * HOUR) ** 2 / 2 / (168 * HOUR))  # closed Mon 06 - Sun 22
    simple = Calendar.model_validate(WEEKDAYS)
    same = Calendar.model_validate({"shifts": [{"days": WEEKDAYS["days"], "hours": WEEKDAYS["hours"]}]})
    assert calendar_mean_wait(same) == calendar_mean_wait(simple) == pytest.approx((4 * 16**2 + 64**2) / 2 / 168 * HOUR)


def test_an_unknown_time_zone_on_a_wait_is_reported_like_any_calendars() -> None:
    from studio import validate

    workflow = _workflow({"until": {**WEEKDAYS, "timezone": "Europe/Berln"}})
    [finding] = [f for f in validate(workflow) if f.code == "A009"]
    assert finding.location.endswith(".until.timezone") and "Europe/Berlin" in finding.hint
