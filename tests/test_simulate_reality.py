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


# --------------------------------------------------------------------------- agent output models


def scored(output_models: dict[str, Any], *, loop: bool = False) -> Workflow:
    nodes: list[dict[str, Any]] = [
        {"id": "start", "kind": "start"},
        {"id": "score", "kind": "task", "actor": "scorer", "outputs": sorted(output_models),
         "output_models": output_models},
        {"id": "route", "kind": "decision"},
        {"id": "review", "kind": "task", "actor": "scorer"},
        {"id": "done", "kind": "end", "outcome": "done"},
    ]
    edges: list[dict[str, Any]] = [{"from": "start", "to": "score"}, {"from": "score", "to": "route"},
                                   {"from": "review", "to": "done"}]
    if loop:
        nodes = [n for n in nodes if n["id"] != "review"]
        edges = [e for e in edges if "review" not in (e["from"], e["to"])]
        edges += [{"from": "route", "to": "score", "when": 'flag == "again"', "max_repeats": 1000},
                  {"from": "route", "to": "done", "default": True}]
    else:
        edges += [{"from": "route", "to": "review", "when": "risk > 0.8"},
                  {"from": "route", "to": "done", "default": True}]
    return Workflow.model_validate({
        "apiVersion": "studio/v1",
        "metadata": {"name": "scored", "version": "1.0.0", "owner": "tests@example.com"},
        "actors": [{"id": "scorer", "kind": "agent", "version": "1", "owner": "o@example.com",
                    "behaviour": {"duration": "1m"}}],
        "nodes": nodes, "edges": edges,
        "policies": {"max_turns": 5000},
        "simulation": {"seed": 9, "arrivals": {"process": "fixed", "interval": "1h"}},
    })


ROWS = [{"case_id": f"c{i}", "amount": amount} for i, amount in enumerate([200, 5000, 900, 12000])]


def test_a_numeric_output_is_drawn_and_decisions_route_on_it() -> None:
    model = scored({"risk": {"value": {"dist": "uniform", "low": 0, "high": 1}}})
    n = 20_000
    results = simulate(model, data=ROWS, cases=n, verify=20)
    reviewed = sum(1 for s in results.iter_steps() if s["node"] == "review")
    share = reviewed / n  # P(uniform > 0.8) = 0.2; within 4 binomial standard errors
    assert abs(share - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n)


def test_a_choice_depends_on_the_case_and_every_visit_draws_afresh() -> None:
    conditional = scored({"risk": [{"when": "amount > 1000", "value": 0.9}, {"value": 0.1}]})
    results = both_on(conditional, 8)
    reviewed = [s["case_id"] for s in results.iter_steps() if s["node"] == "review"]
    assert reviewed == ["c1", "c3", "c1~1", "c3~1"]  # exactly the cases above 1000
    looped = scored({"flag": {"choice": {"again": 0.3, "done": 0.7}}}, loop=True)
    n = 10_000
    passes = [s["node"] for s in simulate(looped, data=ROWS, cases=n, verify=10).iter_steps()].count("score")
    mean = passes / n  # passes are geometric: mean 1 / 0.7, variance 0.3 / 0.49
    assert abs(mean - 1 / 0.7) < 4 * math.sqrt(0.3 / 0.49 / n)


def both_on(model: Workflow, cases: int) -> Any:
    kernel = simulate(model, data=ROWS, cases=cases, engine="kernel", verify=cases)
    langgraph = simulate(model, data=ROWS, cases=cases, engine="langgraph")
    assert json.dumps(kernel.payloads) == json.dumps(langgraph.payloads)
    return kernel


def test_output_models_are_checked_where_they_are_written() -> None:
    import studio

    with pytest.raises(ValueError, match="does not list"):
        Workflow.model_validate({**scored({"risk": {"value": 1}}).model_dump(mode="json", exclude_none=True),
                                 "nodes": [{"id": "score", "kind": "task", "outputs": [],
                                            "output_models": {"risk": {"value": 1}}}]})
    with pytest.raises(ValueError, match=r"add up to 0\.9"):
        scored({"flag": {"choice": {"again": 0.3, "done": 0.6}}})
    with pytest.raises(ValueError, match="exactly one of"):
        scored({"risk": {"value": 1, "choice": {"a": 1}}})
    broken = scored({"risk": [{"when": "amount >", "value": 1}, {"value": 0}]})
    codes = {(f.code, f.location) for f in studio.validate(broken, data=ROWS)}
    assert ("S008", "nodes[1].output_models.risk[0].when") in codes
    fine = {f.code for f in studio.validate(scored({"risk": {"value": 0.5}}), data=ROWS)}
    assert "D004" not in fine and "D001" not in fine  # the model gives `risk` a value


def test_people_of_a_pool_with_their_own_hours_and_pace() -> None:
    """Ana works 09-17 at twice the pool's pace, Ben 13-17 at its pace: each request goes to whoever can
    start it first (Ana on a tie, listed first); a 2 h piece of work takes Ana 1 h."""
    model = workflow(
        actors=[{"id": "clerks", "kind": "human", "behaviour": {"duration": "2h"}, "members": [
            {"name": "Ana", "speed": 2, "calendar": WEEKDAYS},
            {"name": "Ben", "calendar": {**WEEKDAYS, "hours": "13:00-17:00"}}]}],
        nodes=[{"id": "file", "kind": "task", "actor": "clerks"}],
        arrivals={"process": "fixed", "interval": "0s"},
    )
    assert model.actor("clerks").capacity == 2
    results = both(model, 6)
    runs = steps(results, "file")
    assert [(s["start"] / HOUR, s["end"] / HOUR, s["service"] / HOUR) for s in runs] == [
        (9, 10, 1), (10, 11, 1), (11, 12, 1), (12, 13, 1), (13, 14, 1), (13, 15, 2)]
    clerks = results.kpis["resources"]["clerks"]
    assert clerks["capacity"] == 2
    assert clerks["utilisation"] == pytest.approx(7 / 8)  # 7 h worked of Ana's 6 h and Ben's 2 h until 15:00
    with pytest.raises(ValueError, match="members"):
        Workflow.model_validate({**model.model_dump(mode="json", by_alias=True, exclude_none=True),
                                 "actors": [{"id": "clerks", "kind": "human", "capacity": 3,
                                             "members": [{"name": "Ana"}]}]})
