"""Virtual time and resources: calendars, rate limits, SLA escalation, loop guards, joins, faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from studio import fileio
from studio.model import Calendar
from studio.simulate import simulate
from studio.simulate.clock import Pool, RateLimiter, WorkCalendar, iso_to_seconds, seconds_to_iso

FIXTURES = Path(__file__).parent / "fixtures" / "simulate"
HOUR = 3600.0
DAY = 86400.0


def steps_of(results: Any, node: str) -> dict[str, dict[str, Any]]:
    return {step["case_id"]: step for step in results.iter_steps() if step["node"] == node}


def cases_of(results: Any) -> dict[str, dict[str, Any]]:
    return {case["case_id"]: case for case in results.iter_cases()}


# --------------------------------------------------------------------------- calendars


def test_calendar_work_waits_outside_hours_and_pauses_overnight() -> None:
    data = [
        {"case_id": "monday-night", "arrival": 0},  # Monday 00:00: waits for 09:00
        {"case_id": "monday-1630", "arrival": 16.5 * HOUR},  # half an hour today, half tomorrow
        {"case_id": "friday-1630", "arrival": "2024-01-05T16:30:00Z"},  # ISO time; finishes Monday
    ]
    results = simulate(fileio.load(FIXTURES / "calendar.yaml"), data=data)
    work = steps_of(results, "file")
    night = work["monday-night"]
    assert (night["start"], night["end"], night["wait"]) == (9 * HOUR, 10 * HOUR, 9 * HOUR)
    assert night["wait_reason"] == "calendar" and night["queue"] == 0
    assert work["monday-1630"]["end"] == DAY + 9.5 * HOUR
    assert seconds_to_iso(work["friday-1630"]["end"]) == "2024-01-08T09:30:00Z"
    assert cases_of(results)["friday-1630"]["cycle_time"] == 2 * DAY + 17 * HOUR


def test_calendar_queue_and_calendar_waits_are_told_apart() -> None:
    data = [{"case_id": f"c{i}", "arrival": 8 * HOUR} for i in range(3)]  # three jobs before opening
    work = steps_of(simulate(fileio.load(FIXTURES / "calendar.yaml"), data=data), "file")
    third = work["c2"]
    assert third["start"] == 11 * HOUR  # one clerk: 09-10, 10-11, 11-12
    assert third["wait"] == 3 * HOUR and third["queue"] == 2 * HOUR and third["wait_reason"] == "queue"


def test_work_calendar_follows_the_time_zone_and_daylight_saving() -> None:
    berlin = WorkCalendar(Calendar(days=["mon", "tue", "wed", "thu", "fri"], hours="08:00-18:00",
                                   timezone="Europe/Berlin"))
    winter = iso_to_seconds("2024-01-08T05:00:00Z")  # Monday 06:00 in Berlin (UTC+1)
    assert seconds_to_iso(berlin.next_open(winter)) == "2024-01-08T07:00:00Z"
    summer = iso_to_seconds("2024-07-08T05:00:00Z")  # Monday 07:00 in Berlin (UTC+2)
    assert seconds_to_iso(berlin.next_open(summer)) == "2024-07-08T06:00:00Z"
    friday = iso_to_seconds("2024-01-12T16:00:00Z")  # 17:00 Berlin: one hour left this week
    assert seconds_to_iso(berlin.add_work(friday, 2 * HOUR)) == "2024-01-15T08:00:00Z"
    assert berlin.open_seconds(0, 7 * DAY) == 5 * 10 * HOUR
    unknown = WorkCalendar(Calendar(timezone="Mars/Olympus_Mons"))
    assert unknown.unknown_timezone


def test_pool_serves_first_come_first_served_on_the_earliest_free_person() -> None:
    pool = Pool("p", 2, None, contended=True)
    ends = []
    for t in (0.0, 0.0, 0.0, 10.0):
        start, queued = pool.start(t)
        ends.append((start, queued, pool.reserve(start, 100.0)))
    assert ends == [(0.0, 0.0, 100.0), (0.0, 0.0, 100.0), (100.0, 100.0, 200.0), (100.0, 90.0, 200.0)]
    assert pool.busy == 400.0 and pool.requests == 4
    alone = Pool("p", 1, None, contended=False)
    assert alone.start(5.0) == (5.0, 0.0)


def test_rate_limiter_allows_calls_per_window() -> None:
    limiter = RateLimiter(2, 60.0, contended=True)
    assert [limiter.slot(0.0) for _ in range(5)] == [0.0, 0.0, 60.0, 60.0, 120.0]
    assert limiter.slot(500.0) == 500.0


# --------------------------------------------------------------------------- tools and escalation


def test_rate_limited_tool_queues_calls_across_cases() -> None:
    results = simulate(fileio.load(FIXTURES / "ratelimit.yaml"), cases=5)
    asks = steps_of(results, "ask")
    assert sorted(step["wait"] for step in asks.values()) == [0.0, 0.0, 60.0, 60.0, 120.0]
    assert {step["wait_reason"] for step in asks.values() if step["wait"]} == {"rate_limit"}
    assert all(step["tools"] == ["lookup"] for step in asks.values())
    lookup = results.kpis["resources"]["lookup"]
    assert lookup["kind"] == "rate_limited_tool" and lookup["requests"] == 5
    assert lookup["wait_mean"] == pytest.approx(48.0)


def test_approvals_past_their_sla_escalate_to_the_escalation_pool() -> None:
    results = simulate(fileio.load(FIXTURES / "escalation.yaml"), cases=3)
    sign = steps_of(results, "sign_off")
    assert sign["0"]["actor"] == "approver" and sign["0"]["escalated_to"] is None
    assert sign["0"]["end"] == 2 * HOUR
    for case in ("1", "2"):  # the approver is busy for 2 h, past the 1 h SLA: the leads take it at 1 h
        step = sign[case]
        assert (step["actor"], step["escalated_to"], step["resource"]) == ("leads", "leads", "leads")
        assert (step["start"], step["end"], step["wait_reason"]) == (HOUR, 1.5 * HOUR, "escalation")
        assert step["decision"] == "reject"  # decided by the leads' behaviour, not the approver's
    kpis = results.kpis
    assert kpis["escalations"] == {"total": 2, "per_case": pytest.approx(0.666667), "by_node": {"sign_off": 2}}
    assert kpis["resources"]["leads"]["escalated_in"] == 2
    assert kpis["resources"]["approver"]["requests"] == 1


# --------------------------------------------------------------------------- guards and joins


def test_loop_guard_kills_the_case_and_says_where() -> None:
    results = simulate(fileio.load(FIXTURES / "loop.yaml"), cases=3)
    for case in results.iter_cases():
        assert (case["status"], case["reason"], case["where"], case["category"]) == (
            "killed", "loop_guard", "draft>review", "policy")
    path = [s["node"] for s in results.iter_steps() if s["case_id"] == "0"]
    assert path == ["start", "draft", "review", "gate", "draft", "review", "gate", "draft"]
    kpis = results.kpis
    assert kpis["loop_guard"]["kills"] == 3 and kpis["loop_guard"]["where"] == {"draft>review": 3}
    assert kpis["loops"] == {"draft>review": 3, "gate>draft": 3, "review>gate": 3}
    assert kpis["success_rate"] == 0 and kpis["failures"]["by_category"]["policy"] == 3


def test_max_turns_kills_a_long_case() -> None:
    results = simulate(fileio.load(FIXTURES / "loop.yaml"), cases=1,
                       scenario=["policies.max_repeats=50", "policies.max_turns=6"])
    case = next(results.iter_cases())
    assert (case["status"], case["reason"], case["where"]) == ("killed", "max_turns", "gate")
    assert case["steps"] == 6  # the 7th step would have been `gate`
    assert results.kpis["loop_guard"]["max_turns_kills"] == 1


def test_edge_max_repeats_overrides_the_policy() -> None:
    results = simulate(fileio.load(FIXTURES / "loop.yaml"), cases=1, scenario=["edges.gate>draft.max_repeats=1"])
    case = next(results.iter_cases())
    assert (case["reason"], case["where"]) == ("loop_guard", "gate>draft")


def test_parallel_branches_join_at_the_latest_branch() -> None:
    results = simulate(fileio.load(FIXTURES / "parallel.yaml"), cases=2)
    steps = [s for s in results.iter_steps() if s["case_id"] == "0"]
    by_node = {s["node"]: s for s in steps}
    assert by_node["fast_2"]["end"] == 1200.0 and by_node["slow"]["end"] == HOUR
    assert by_node["join"]["start"] == HOUR and by_node["join"]["from"] == "slow"
    assert by_node["wrap_up"]["start"] == HOUR
    assert next(results.iter_cases())["cycle_time"] == HOUR + 600
    assert "__relay__fast_gate__join" not in by_node  # the relay is plumbing, not a step
    assert results.edge_traffic()[("fast_gate", "join")] == 2
    assert results.edge_traffic()[("slow", "join")] == 2
    assert by_node["join"]["joined"] == ["fast_gate", "slow"]


def test_conditions_that_cannot_be_evaluated_fail_the_case_not_the_run() -> None:
    workflow = fileio.load(FIXTURES / "approval.yaml")
    data = [{"case_id": "no-amount", "amount": None}, {"case_id": "text", "amount": "lots"}]
    cases = cases_of(simulate(workflow, data=data))  # the threshold is a policy rule
    for case in cases.values():
        assert (case["status"], case["category"], case["where"]) == ("failed", "policy", "manager_approval")
        assert "threshold `amount > 1000`" in case["reason"]
    workflow.nodes[2].threshold = None  # now the decision's condition is the first to read bad data
    broken = simulate(workflow, data=[{"case_id": "odd", "amount": 5}],
                      scenario=["edges.gate>intake.when=amount > 'a'"])
    case = next(broken.iter_cases())
    assert (case["status"], case["category"], case["where"]) == ("failed", "data", "gate")


def test_per_case_column_overrides_behaviour(tmp_path: Path) -> None:
    workflow = fileio.load(FIXTURES / "chain.yaml")
    workflow.simulation.overrides = {"read_time": "reader.duration", "write_fail": "write.failures.reasoning"}
    data = [{"case_id": "slow", "read_time": "2h", "write_fail": 0}, {"case_id": "bad", "read_time": None,
                                                                       "write_fail": 1}]
    results = simulate(workflow, data=data)
    reads = steps_of(results, "read")
    assert reads["slow"]["end"] - reads["slow"]["start"] == 2 * HOUR
    assert reads["bad"]["end"] - reads["bad"]["start"] == 30.0
    cases = cases_of(results)
    assert cases["bad"]["status"] == "failed" and cases["bad"]["where"] == "write"
    broken = simulate(workflow, data=[{"case_id": "x", "read_time": "soon", "write_fail": 0}])
    case = next(broken.iter_cases())
    assert (case["status"], case["category"]) == ("failed", "data")
