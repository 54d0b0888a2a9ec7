"""What an analyst can now state, each with an answer computable by hand: cost per hour of work,
arrival calendars, a simulation start date, and systems with a capacity and a calendar (which
queue like people). Both engines give the same records (checked here too)."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest

from studio.model import Workflow
from studio.simulate import simulate
from studio.simulate.clock import iso_to_seconds

HOUR = 3600.0
WEEKDAYS = {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00", "timezone": "UTC"}


def workflow(*, actors: list[dict[str, Any]], nodes: list[dict[str, Any]], arrivals: dict[str, Any],
             start: str | None = None) -> Workflow:
    chain = ["start", *[n["id"] for n in nodes], "done"]
    simulation: dict[str, Any] = {"seed": 4, "arrivals": arrivals}
    if start is not None:
        simulation["start"] = start
    return Workflow.model_validate({
        "apiVersion": "studio/v1",
        "metadata": {"name": "reality", "version": "1.0.0", "owner": "tests@example.com"},
        "actors": actors,
        "nodes": [{"id": "start", "kind": "start"}, *nodes, {"id": "done", "kind": "end", "outcome": "done"}],
        "edges": [{"from": a, "to": b} for a, b in itertools.pairwise(chain)],
        "simulation": simulation,
    })


def steps(results: Any, node: str) -> list[dict[str, Any]]:
    return [s for s in results.iter_steps() if s["node"] == node]


def both(model: Workflow, cases: int) -> Any:
    kernel = simulate(model, cases=cases, engine="kernel", verify=cases)
    langgraph = simulate(model, cases=cases, engine="langgraph")
    assert json.dumps(kernel.payloads) == json.dumps(langgraph.payloads)
    return kernel


def test_cost_per_hour_is_charged_for_the_time_worked() -> None:
    model = workflow(
        actors=[{"id": "clerks", "kind": "human", "capacity": 5,
                 "behaviour": {"duration": "30m", "cost_per_hour": 40, "cost_per_call": 1}},
                {"id": "bot", "kind": "agent", "version": "1", "owner": "o@example.com",
                 "behaviour": {"duration": "6m", "cost_per_hour": 10}}],
        nodes=[{"id": "check", "kind": "task", "actor": "bot"}, {"id": "file", "kind": "task", "actor": "clerks"}],
        arrivals={"process": "fixed", "interval": "1h"},
    )
    results = both(model, 4)
    assert [s["cost"] for s in steps(results, "check")] == [1.0] * 4  # 0.1 h x 10
    assert [s["cost"] for s in steps(results, "file")] == [21.0] * 4  # 0.5 h x 40 + 1 per call
    assert results.kpis["cost"]["per_case"] == 22.0


def test_fixed_arrivals_in_a_calendar_fill_working_hours_only() -> None:
    model = workflow(
        actors=[{"id": "bot", "kind": "system", "behaviour": {"duration": "1s"}}],
        nodes=[{"id": "log", "kind": "task", "actor": "bot"}],
        arrivals={"process": "fixed", "interval": "1h", "calendar": WEEKDAYS},
    )
    arrivals = [case["arrival"] for case in both(model, 18).iter_cases()]
    monday = [9 * HOUR + i * HOUR for i in range(8)]  # 09:00 ... 16:00; 17:00 is closing time
    tuesday = [24 * HOUR + h for h in monday]
    assert arrivals == [*monday, *tuesday, 2 * 24 * HOUR + 9 * HOUR, 2 * 24 * HOUR + 10 * HOUR]


def test_poisson_arrivals_in_a_calendar_come_at_the_rate_per_working_hour() -> None:
    model = workflow(
        actors=[{"id": "bot", "kind": "system", "behaviour": {"duration": "1s"}}],
        nodes=[{"id": "log", "kind": "task", "actor": "bot"}],
        arrivals={"process": "poisson", "rate": "40/h", "calendar": WEEKDAYS},
    )
    n = 4000
    arrivals = [case["arrival"] for case in simulate(model, cases=n, verify=0).iter_cases()]
    for t in arrivals:
        day, clock = divmod(t, 24 * HOUR)
        assert int(day) % 7 < 5 and 9 * HOUR <= clock <= 17 * HOUR, t
    working_hours = (arrivals[-1] // (7 * 24 * HOUR)) * 40 + sum(  # whole weeks, then the days of the last
        min(max((arrivals[-1] % (7 * 24 * HOUR)) - d * 24 * HOUR - 9 * HOUR, 0), 8 * HOUR) / HOUR for d in range(5))
    rate = n / working_hours  # n arrivals in that working time: within 4 standard errors of 40 per hour
    assert abs(rate - 40) < 4 * 40 / math.sqrt(n)


def test_a_start_date_moves_the_first_arrival() -> None:
    start = "2025-03-03T08:00:00Z"
    model = workflow(
        actors=[{"id": "bot", "kind": "system", "behaviour": {"duration": "10m"}}],
        nodes=[{"id": "log", "kind": "task", "actor": "bot"}],
        arrivals={"process": "fixed", "interval": "2h"}, start=start,
    )
    results = both(model, 3)
    origin = iso_to_seconds(start)
    assert [c["arrival"] for c in results.iter_cases()] == [origin, origin + 2 * HOUR, origin + 4 * HOUR]
    assert results.kpis["cycle_time"]["mean"] == 600.0


def test_a_system_with_a_capacity_queues_and_its_calendar_pauses_the_work() -> None:
    model = workflow(
        actors=[{"id": "batch", "kind": "system", "capacity": 1, "calendar": WEEKDAYS,
                 "behaviour": {"duration": "3h"}}],
        nodes=[{"id": "run", "kind": "task", "actor": "batch"}],
        arrivals={"process": "fixed", "interval": "0s"},
    )
    runs = steps(both(model, 3), "run")
    # Monday 00:00: the window opens at 09:00; one run at a time, 3 h each; the third runs 15:00-17:00
    # and finishes its last hour on Tuesday 09:00-10:00.
    assert [(s["start"], s["end"]) for s in runs] == [
        (9 * HOUR, 12 * HOUR), (12 * HOUR, 15 * HOUR), (15 * HOUR, 24 * HOUR + 10 * HOUR)]
    assert [(s["wait"], s["queue"], s["wait_reason"]) for s in runs] == [
        (9 * HOUR, 0.0, "calendar"), (12 * HOUR, 3 * HOUR, "calendar"), (15 * HOUR, 6 * HOUR, "calendar")]
    assert {s["resource"] for s in runs} == {"batch"}


def test_a_system_with_a_capacity_is_a_resource_in_the_kpis() -> None:
    model = workflow(
        actors=[{"id": "scanner", "kind": "system", "capacity": 2, "behaviour": {"duration": "1h"}}],
        nodes=[{"id": "scan", "kind": "task", "actor": "scanner"}],
        arrivals={"process": "fixed", "interval": "30m"},
    )
    results = both(model, 40)
    scanner = results.kpis["resources"]["scanner"]
    assert scanner["capacity"] == 2 and scanner["requests"] == 40 and scanner["wait_mean"] == 0.0
    assert scanner["utilisation"] == pytest.approx(40 * HOUR / (2 * (39 * 0.5 + 1) * HOUR), rel=1e-6)


def test_a_calendar_without_a_capacity_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="needs a `capacity`"):
        workflow(actors=[{"id": "batch", "kind": "system", "calendar": WEEKDAYS}],
                 nodes=[{"id": "run", "kind": "task", "actor": "batch"}],
                 arrivals={"process": "fixed", "interval": "1h"})
    with pytest.raises(ValueError, match="not a time"):
        workflow(actors=[{"id": "bot", "kind": "system"}], nodes=[{"id": "run", "kind": "task", "actor": "bot"}],
                 arrivals={"process": "fixed", "interval": "1h"}, start="next monday")
