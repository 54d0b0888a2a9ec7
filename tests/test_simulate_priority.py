"""Priority queues for people (``simulation.priority``): known answers.

* A hand-traced desk of one person where a later urgent case overtakes a waiting one, and where
  being overtaken makes a case wait past its SLA and escalate.
* An M/M/1 queue with two priority classes against Cobham's formula for the mean wait of each class
  in a non-preemptive priority queue, within a 95% interval over replications.
* Both engines give byte-identical results, the kernel's run is verified through LangGraph, and the
  KPIs report waits per level only when priorities are used.
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path
from typing import Any

import pytest

import studio
from studio.cli import main
from studio.model import Workflow
from studio.simulate import simulate
from studio.simulate._stats import t975

HOUR = 3600.0


def _desk(priority: list[dict[str, Any]] | None, *, duration: Any = "10m", arrivals: Any = None,
          capacity: int = 1, sla: str | None = None) -> Workflow:
    serve: dict[str, Any] = {"id": "serve", "kind": "task", "actor": "desk"}
    if sla is not None:
        serve.update(sla=sla, escalate_to="leads")
    simulation: dict[str, Any] = {"seed": 7, "arrivals": arrivals or {"process": "fixed", "interval": "1m"}}
    if priority is not None:
        simulation["priority"] = priority
    return Workflow.model_validate({
        "apiVersion": "studio/v1",
        "metadata": {"name": "desk", "version": "1.0.0", "owner": "tests@example.com"},
        "actors": [
            {"id": "desk", "kind": "human", "capacity": capacity, "behaviour": {"duration": duration}},
            {"id": "leads", "kind": "human", "capacity": 1, "behaviour": {"duration": "5m"}},
        ],
        "nodes": [{"id": "start", "kind": "start"}, serve, {"id": "done", "kind": "end", "outcome": "done"}],
        "edges": [{"from": "start", "to": "serve"}, {"from": "serve", "to": "done"}],
        "simulation": simulation,
    })


URGENT = [{"when": "urgent == 1", "level": 1}]
# arrivals one minute apart: c0 at 0 s, c1 at 60 s, c2 (urgent) at 120 s; the work takes 10 minutes
THREE = [{"case_id": "c0", "urgent": 0}, {"case_id": "c1", "urgent": 0}, {"case_id": "c2", "urgent": 1}]


def _served(results: Any) -> dict[str, tuple[float, float, float, str | None]]:
    """case id -> (start, end, wait, who) of its `serve` step."""
    out = {}
    for case in results.payloads[0]["cases"]:
        step = next(s for s in case["steps"] if s[0] == "serve")
        out[case["case_id"]] = (step[2], step[3], step[4], step[1])
    return out


@pytest.mark.parametrize("engine", ["kernel", "langgraph"])
def test_a_later_urgent_case_overtakes_a_waiting_one(engine: str) -> None:
    # c0 takes the desk at 0 until 600; c1 (asked at 60) and c2 (urgent, asked at 120) wait; at 600 the
    # desk takes c2, the better level, although c1 asked first; c1 follows at 1200
    results = simulate(_desk(URGENT), data=THREE, cases=3, engine=engine)
    assert _served(results) == {"c0": (0.0, 600.0, 0.0, "desk"), "c1": (1200.0, 1800.0, 1140.0, "desk"),
                                "c2": (600.0, 1200.0, 480.0, "desk")}
    fifo = simulate(_desk(None), data=THREE, cases=3, engine=engine)  # first come, first served
    assert _served(fifo)["c1"][:2] == (600.0, 1200.0) and _served(fifo)["c2"][:2] == (1200.0, 1800.0)


def test_being_overtaken_past_the_sla_escalates() -> None:
    # c1 asked at 60 with a 15-minute SLA: overtaken by c2 at 600, nobody took it by 960, so at 960 it
    # goes to the leads (5 minutes: 960-1260); first come, first served it would have started at 600
    results = simulate(_desk(URGENT, sla="15m"), data=THREE, cases=3)
    assert _served(results)["c1"] == (960.0, 1260.0, 900.0, "leads")
    step = next(s for s in results.payloads[0]["cases"][1]["steps"] if s[0] == "serve")
    assert step[6] == "escalation" and step[16] == "leads"
    assert _served(results)["c2"] == (600.0, 1200.0, 480.0, "desk")
    assert results.kpis["escalations"]["total"] == 1
    assert _served(simulate(_desk(None, sla="15m"), data=THREE, cases=3))["c1"][3] == "desk"


def test_within_a_level_first_come_first_served() -> None:
    rows = [{"case_id": f"c{i}", "urgent": 1} for i in range(4)]
    served = _served(simulate(_desk(URGENT), data=rows, cases=4))
    assert [served[f"c{i}"][0] for i in range(4)] == [0.0, 600.0, 1200.0, 1800.0]


def test_one_level_for_everyone_is_first_come_first_served() -> None:
    """Everyone at level 0 through the priority queues gives the numbers the plain pools give."""
    arrivals = {"process": "poisson", "rate": "5/h"}
    dist = {"dist": "exponential", "mean": "20m"}
    rows = [{"case_id": f"c{i}", "urgent": i % 2} for i in range(6)]
    plain = simulate(_desk(None, duration=dist, arrivals=arrivals, capacity=2), data=rows, cases=200, seed=4)
    level = simulate(_desk([{"level": 0}], duration=dist, arrivals=arrivals, capacity=2), data=rows, cases=200,
                     seed=4)
    strip = [{k: v for k, v in case.items() if k != "priority"} for case in level.payloads[0]["cases"]]
    assert json.dumps(strip) == json.dumps(plain.payloads[0]["cases"])


def _cobham(lam: float, share: float, mean_service: float) -> tuple[float, float]:
    """Mean wait in queue of the high and the low class of a non-preemptive priority M/M/1 (Cobham, 1954).

    W0 = sum(lambda_i E[S^2]) / 2 = lambda E[S^2] / 2, E[S^2] = 2 mean^2 for exponential work;
    W_k = W0 / ((1 - sigma_{k-1}) (1 - sigma_k)), sigma_k the load of the classes served before and at k."""
    rho_high = lam * share * mean_service
    rho = lam * mean_service
    w0 = lam * mean_service**2
    return w0 / (1 - rho_high), w0 / ((1 - rho_high) * (1 - rho))


def test_two_priority_classes_match_cobhams_formula() -> None:
    # one person, exponential work of 45 s, Poisson arrivals 60 an hour (75% busy), 30% of the cases urgent
    cases, replications, share = 3000, 8, 0.3
    draw = random.Random(1)
    rows = [{"case_id": f"c{i}", "urgent": 1 if draw.random() < share else 0} for i in range(cases)]
    workflow = _desk(URGENT, duration={"dist": "exponential", "mean": "45s"},
                     arrivals={"process": "poisson", "rate": "60/h"})
    results = simulate(workflow, data=rows, cases=cases, replications=replications, seed=3, verify=10)
    assert results.kpis["engine"] == {"name": "kernel", "verified": 10}
    high, low = _cobham(60 / HOUR, share, 45.0)  # 43.5 s and 174.2 s (first come, first served: 135 s)
    for level, expected in (("1", high), ("0", low)):
        means = [statistics.mean(case["steps"][1][4] for case in payload["cases"] if case["priority"] == int(level))
                 for payload in results.payloads]
        centre = statistics.mean(means)
        half = t975(replications - 1) * statistics.stdev(means) / replications**0.5
        assert centre - half <= expected <= centre + half, (level, centre, half, expected)
        figures = results.kpis["priority"]["levels"][level]
        assert figures["requests"] == figures["cases"]
        assert figures["wait_mean"] == pytest.approx(
            statistics.mean(c["steps"][1][4] for p in results.payloads for c in p["cases"]
                            if c["priority"] == int(level)), rel=1e-5)
    urgent = [statistics.mean(c["steps"][1][4] for c in p["cases"] if c["priority"] == 1) for p in results.payloads]
    assert max(urgent) < 135.0 / 2  # far below the first come, first served wait: priority is at work


def test_both_engines_give_identical_results_and_the_kernel_is_verified(tmp_path: Path) -> None:
    draw = random.Random(2)
    rows = [{"case_id": f"c{i}", "amount": draw.choice([50, 500, 5000, 50000])} for i in range(40)]
    priority = [{"when": "amount > 10000", "level": 2}, {"when": "amount > 1000", "level": 1},
                {"when": "amount < 100", "level": -1}]
    calendar = {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00", "timezone": "Europe/Berlin"}
    data = _desk(priority, duration={"dist": "exponential", "mean": "30m"}, sla="2h",
                 arrivals={"process": "poisson", "rate": "3/h"}, capacity=2).model_dump(by_alias=True)
    data["actors"][0]["calendar"] = calendar
    workflow = Workflow.model_validate(data)
    options: dict[str, Any] = {"data": rows, "cases": 200, "seed": 9, "replications": 2}
    kernel = simulate(workflow, engine="kernel", verify=40, out=tmp_path / "k", **options)
    langgraph = simulate(workflow, engine="langgraph", out=tmp_path / "l", **options)
    assert langgraph.kpis["engine"]["name"] == "langgraph"
    assert kernel.kpis["engine"] == {"name": "kernel", "verified": 40}
    for name in ("cases.jsonl", "traces.jsonl"):
        assert (tmp_path / "k" / name).read_bytes() == (tmp_path / "l" / name).read_bytes(), name
    mine, theirs = ({k: v for k, v in json.loads((tmp_path / side / "kpis.json").read_text()).items()
                     if k != "engine"} for side in ("k", "l"))
    assert mine == theirs
    levels = mine["priority"]["levels"]
    assert list(levels) == ["2", "1", "0", "-1"]
    assert sum(level["cases"] for level in levels.values()) == 400
    assert mine["escalations"]["total"] > 0


def test_kpis_have_no_priority_entry_without_priorities() -> None:
    results = simulate(_desk(None), data=THREE, cases=3)
    assert "priority" not in results.kpis
    assert all("priority" not in case for case in results.payloads[0]["cases"])
    assert all("priority" not in row for row in results.iter_cases())


def test_a_case_whose_priority_cannot_be_evaluated_fails_with_data() -> None:
    rows = [{"case_id": "c0", "urgent": "yes"}, {"case_id": "c1", "urgent": 1}]
    results = simulate(_desk([{"when": "urgent > 0", "level": 1}]), data=rows, cases=2)
    first, second = results.payloads[0]["cases"]
    assert first["status"] == "failed" and first["category"] == "data" and first["node"] == "serve"
    assert "priority `urgent > 0`" in first["reason"]
    assert first["priority"] is None and second["priority"] == 1 and second["status"] == "completed"


def test_bad_priority_conditions_are_findings() -> None:
    broken = _desk([{"when": "urgent ==", "level": 1}])
    codes = {(f.code, f.location) for f in studio.validate(broken)}
    assert ("S008", "simulation.priority[0].when") in codes
    unknown = _desk([{"when": "urgnt == 1", "level": 1}])
    found = [f for f in studio.validate(unknown, data=THREE) if f.code == "D001"]
    assert [f.location for f in found] == ["simulation.priority[0].when"]
    assert "`urgnt`" in found[0].message and "urgent" in (found[0].hint or "")


def test_the_cli_writes_waits_per_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "desk.yaml"
    path.write_text(json.dumps(_desk(URGENT).model_dump(mode="json", by_alias=True, exclude_defaults=True)))
    (tmp_path / "cases.csv").write_text("case_id,urgent\nc0,0\nc1,0\nc2,1\n")
    code = main(["simulate", str(path), "--data", str(tmp_path / "cases.csv"), "--cases", "3",
                 "--out", str(tmp_path / "out"), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Waits in people's queues by priority level (higher served first):" in printed
    assert [line.split()[:3] for line in printed.splitlines() if line.strip().startswith(("1 ", "0 "))][:2] == \
        [["1", "1", "1"], ["0", "2", "2"]]
    kpis = json.loads((tmp_path / "out" / "kpis.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "out" / "cases.jsonl").read_text().splitlines()]
    assert [(row["case_id"], row["priority"]) for row in rows] == [("c0", 0), ("c1", 0), ("c2", 1)]
    assert kpis["priority"]["levels"]["1"]["wait_mean"] == 480.0
    assert kpis["priority"]["levels"]["0"]["wait_mean"] == 570.0  # (0 + 1140) / 2


def test_people_with_their_own_durations_keep_them_in_a_priority_queue() -> None:
    """Two members, Ana 30 m and Ben 10 m for `file` (their own durations), a case every 10 minutes:
    the same hand-computable service times as first come, first served (50/3 min on average), with
    priorities on; both engines give the same bytes and the kernel's run replays through LangGraph."""
    from studio import loads

    text = """
apiVersion: studio/v1
metadata: {name: desk}
actors:
  - id: clerks
    kind: human
    members: [{name: Ana, durations: {file: 30m}}, {name: Ben, durations: {file: 10m}}]
nodes:
  - {id: start, kind: start}
  - {id: file, kind: task, actor: clerks}
  - {id: done, kind: end}
edges:
  - {from: start, to: file}
  - {from: file, to: done}
simulation: {seed: 2, arrivals: {process: fixed, interval: 10m}, priority: [{level: 0}]}
"""
    workflow = loads(text, "desk.yaml")
    kernel = simulate(workflow, cases=60, engine="kernel", verify=60)
    langgraph = simulate(workflow, cases=60, engine="langgraph")
    assert kernel.kpis["engine"]["verified"] == 60
    assert json.dumps(kernel.payloads) == json.dumps(langgraph.payloads)
    services = [step["service"] for step in kernel.iter_steps() if step["node"] == "file"]
    assert set(services) == {600.0, 1800.0}
    plain = simulate(loads(text.replace(", priority: [{level: 0}]", ""), "desk.yaml"), cases=60)
    assert services == [step["service"] for step in plain.iter_steps() if step["node"] == "file"]
