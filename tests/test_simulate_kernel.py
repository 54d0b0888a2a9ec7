"""The Monte Carlo kernel against the LangGraph engine: identical records, and a run that refuses to
report when they differ.

Differential tests: every template, every simulation fixture and generated workflows (loops,
parallel branches, decisions into joins, approvals with SLAs and escalation, failures with retries,
calendars, rate-limited tools, contended pools, priority queues) give byte-identical per-case records and KPIs on
both engines for the same seed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import studio
from studio.cli import main
from studio.errors import has_errors
from studio.fileio import Source
from studio.model import Workflow
from studio.simulate import EngineMismatch, SimulationError, simulate

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "templates").glob("*/workflow.yaml"))
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "simulate").glob("*.yaml"))


def _without_engine(kpis: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kpis.items() if key != "engine"}


def _both(workflow: Any, **options: Any) -> tuple[Any, Any]:
    kernel = simulate(workflow, engine="kernel", verify=0, **options)
    langgraph = simulate(workflow, engine="langgraph", **options)
    return kernel, langgraph


def _assert_identical(kernel: Any, langgraph: Any) -> None:
    assert kernel.kpis["engine"] == {"name": "kernel", "verified": 0}
    assert langgraph.kpis["engine"] == {"name": "langgraph", "verified": 0}
    for mine, theirs in zip(kernel.payloads, langgraph.payloads, strict=True):
        for a, b in zip(mine["cases"], theirs["cases"], strict=True):
            assert json.dumps(a) == json.dumps(b), f"case {a['case_id']} differs"
    assert json.dumps(_without_engine(kernel.kpis)) == json.dumps(_without_engine(langgraph.kpis))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.parent.name)
def test_templates_give_identical_files_on_both_engines(path: Path, tmp_path: Path) -> None:
    kernel = simulate(path, cases=120, seed=3, replications=2, engine="kernel", verify=5, out=tmp_path / "k")
    langgraph = simulate(path, cases=120, seed=3, replications=2, engine="langgraph", out=tmp_path / "l")
    assert kernel.kpis["engine"] == {"name": "kernel", "verified": 5}
    assert langgraph.kpis["engine"] == {"name": "langgraph", "verified": 0}
    assert sum(len(p["cases"]) for p in kernel.payloads) == 240  # read back from the progress files
    for name in ("cases.jsonl", "traces.jsonl"):
        assert (tmp_path / "k" / name).read_bytes() == (tmp_path / "l" / name).read_bytes(), name
    kpis_k = json.loads((tmp_path / "k" / "kpis.json").read_text())
    kpis_l = json.loads((tmp_path / "l" / "kpis.json").read_text())
    assert kpis_l["engine"]["name"] == "langgraph"
    assert _without_engine(kpis_k) == _without_engine(kpis_l)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_simulation_fixtures_are_identical_on_both_engines(path: Path) -> None:
    data = None
    if path.stem == "calendar":  # arrivals from a column: cases around nights and a weekend, some together
        data = [{"case_id": f"c{i}", "arrival": i * 5400.0 + (345600 if i % 3 == 0 else 0)} for i in range(40)]
    kernel, langgraph = _both(path, data=data, cases=80, seed=11)
    _assert_identical(kernel, langgraph)


# --------------------------------------------------------------------------- generated workflows

ROWS = [{"case_id": f"c{i}", "amount": amount, "tier": tier}
        for i, (amount, tier) in enumerate([(120, "gold"), (900, "basic"), (4500, "gold"), (60, "basic"),
                                            (2500, "basic"), (700, "gold")])]


@st.composite
def workflows(draw: st.DrawFn) -> dict[str, Any]:  # noqa: C901, PLR0912, PLR0915 - one generator reads better whole
    """A random valid workflow built from blocks: agent/system/human tasks, approvals (thresholds,
    SLAs with escalation, escalation chains of two levels, a policy chain), parallel sections (a
    decision straight into the join included), decisions that merge again (by condition or by
    probability), send-back loops with guards (a decision after the review, or the review routing on
    its own outcome), waits (a delay, drawn or fixed, or until office hours); agents with output models,
    a system that may queue in office hours, arrivals that may follow a calendar (simple or with
    shifts), clerks who may differ (own hours, pace, own durations of some steps); subworkflows
    (``sub_approve.yaml``: an approval, two ends, a nested subworkflow) expanded in place; batched
    human tasks and approvals (by size, by timeout, or never filled)."""
    ids = iter(range(1000))
    nodes: list[dict[str, Any]] = [{"id": "start", "kind": "start"}]
    edges: list[dict[str, Any]] = []
    fail = st.sampled_from([0.0, 0.0, 0.02, 0.1, 0.3])

    def new(kind: str, **fields: Any) -> str:
        node_id = f"{kind[:3]}{next(ids)}"
        nodes.append({"id": node_id, "kind": kind, **fields})
        return node_id

    def task() -> str:
        actor = draw(st.sampled_from(["agent_a", "agent_b", "robot", "clerks"]))
        fields: dict[str, Any] = {"actor": actor}
        if actor.startswith("agent"):
            fields["tools"] = draw(st.sampled_from([[], ["lookup"], ["lookup", "ledger"]]))
            if draw(st.booleans()):
                fields["behaviour"] = {"failures": {"tool": draw(fail), "reasoning": draw(fail)},
                                       "retries": draw(st.integers(0, 2))}
            if draw(st.integers(0, 3)) == 0:  # an output with a model, read by a later decision
                fields["outputs"] = ["score"]
                fields["output_models"] = {"score": [
                    {"when": "amount > 1000", "value": {"dist": "uniform", "low": 0, "high": 1}},
                    {"choice": {"0.2": 0.5, "0.9": 0.5}}]}
        return new("task", **fields)

    def batch(fields: dict[str, Any]) -> dict[str, Any]:
        """Maybe a batch (a person's step outside parallel branches): filled, timed out, or left stuck."""
        if draw(st.integers(0, 2)) == 0:
            fields["batch"] = {"size": draw(st.integers(1, 4))}
            if draw(st.booleans()):
                fields["batch"]["timeout"] = draw(st.sampled_from(["10m", "2h"]))
        return fields

    def approval() -> str:
        fields: dict[str, Any] = {"actor": "approvers"}
        if draw(st.booleans()):
            fields["threshold"] = f"amount > {draw(st.sampled_from([100, 800, 3000]))}"
        escalates = draw(st.sampled_from(["none", "one", "chain"]))
        if escalates == "one":
            fields.update(sla=draw(st.sampled_from(["10m", "1h", "4h"])), escalate_to="leads")
        elif escalates == "chain":  # leads, then directors when the leads have not started either
            fields["escalation"] = [{"to": "leads", "after": draw(st.sampled_from(["10m", "1h"]))},
                                    {"to": "directors", "after": draw(st.sampled_from(["5m", "30m"]))}]
        return new("approval", **batch(fields))

    def link(source: str, target: str, **fields: Any) -> None:
        edges.append({"from": source, "to": target, **fields})

    tail = "start"
    blocks = ["task", "human", "approval", "parallel", "decision", "loop", "sub", "wait"]
    for block in draw(st.lists(st.sampled_from(blocks), min_size=1, max_size=6)):
        if block == "sub":  # resolved next to the fixtures (the test gives the workflow that place)
            node = new("subworkflow", ref="sub_approve.yaml")
            link(tail, node)
            tail = node
        elif block == "wait":  # a timer: a fixed or drawn delay, or until office hours
            node = new("wait", **draw(st.sampled_from([
                {"delay": "2h"}, {"delay": {"dist": "exponential", "mean": "30m"}},
                {"until": {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00",
                           "timezone": "Europe/Berlin"}}])))
            link(tail, node)
            tail = node
        elif block in ("task", "human"):
            node = task() if block == "task" else new("task", **batch({"actor": "clerks"}))
            link(tail, node)
            tail = node
        elif block == "approval":
            node = approval()
            link(tail, node)
            tail = node
        elif block == "parallel":
            fork, join = new("parallel"), new("join")
            link(tail, fork)
            for _ in range(draw(st.integers(2, 3))):
                if draw(st.integers(0, 3)) == 0:  # a decision whose default goes straight into the join
                    decide, work = new("decision"), task()
                    link(fork, decide)
                    link(decide, work, when=f"amount > {draw(st.sampled_from([100, 1000]))}")
                    link(decide, join, default=True)
                    link(work, join)
                else:
                    first = task()
                    link(fork, first)
                    last = first
                    if draw(st.booleans()):
                        last = task()
                        link(first, last)
                    link(last, join)
            tail = join
        elif block == "decision":
            decide, left, right, merge = new("decision"), task(), task(), task()
            link(tail, decide)
            if draw(st.booleans()):
                link(decide, left, when=draw(st.sampled_from(["amount > 1000", "tier == 'gold'"])))
                link(decide, right, default=True)
            else:  # routed by probability: a fresh draw per visit
                link(decide, left, when="amount > 1000", probability=draw(st.sampled_from([0.1, 0.5, 0.9])))
                link(decide, right, default=True)
            link(left, merge)
            link(right, merge)
            tail = merge
        else:  # a send-back loop: work, review, back to work when sent back
            work, review = task(), new("approval", actor="reviewers")
            link(tail, work)
            link(work, review)
            guard = draw(st.sampled_from([None, 1, 2, 4]))
            if draw(st.booleans()):  # a decision after the review reads its decision field ...
                check = new("decision")
                link(review, check)
                back: dict[str, Any] = {"when": f"{review}_decision == 'send_back'"}
            else:  # ... or the review routes on its own outcome
                check, back = review, {"when": "decision == 'send_back'"}
            if guard is not None:
                back["max_repeats"] = guard
            link(check, work, **back)
            after = task()
            link(check, after, default=True)
            tail = after
    end = new("end", outcome="done")
    link(tail, end)

    calendar: dict[str, Any] = {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00",
                                "timezone": "Europe/Berlin"}
    if draw(st.booleans()):  # hours that differ by day: a long Monday, lunch breaks, a night shift into Saturday
        calendar = {"shifts": [{"days": ["mon"], "hours": "08:00-18:00"},
                               {"days": ["tue", "wed", "thu"], "hours": "09:00-12:00,13:00-16:00"},
                               {"days": ["fri"], "hours": "22:00-04:00"}], "timezone": "Europe/Berlin"}
    agent_behaviour = {"duration": {"dist": "lognormal", "mean": "40s", "sd": "20s"}, "tokens_in": 500,
                       "cost_per_1k_tokens": 0.01}
    human = {"duration": {"dist": "exponential", "mean": draw(st.sampled_from(["5m", "20m", "1h"]))}}
    actors: list[dict[str, Any]] = [
        {"id": "agent_a", "kind": "agent", "version": "1.0.0", "owner": "o@example.com",
         "tools": ["lookup", "ledger"], "behaviour": agent_behaviour},
        {"id": "agent_b", "kind": "agent", "version": "1.0.0", "owner": "o@example.com",
         "tools": ["lookup", "ledger"], "behaviour": agent_behaviour},
        {"id": "robot", "kind": "system", "behaviour": {"duration": "3m", "cost_per_hour": 2}},
        {"id": "clerks", "kind": "human", "capacity": draw(st.integers(1, 3)), "behaviour": human},
        {"id": "approvers", "kind": "human", "capacity": draw(st.integers(1, 2)),
         "behaviour": {**human, "approve_rate": 0.85, "send_back_rate": 0.1}},
        {"id": "reviewers", "kind": "human", "capacity": 1,
         "behaviour": {"duration": "15m", "approve_rate": 0.5, "send_back_rate": 0.4}},
        {"id": "leads", "kind": "human", "capacity": 1, "behaviour": {"duration": "10m", "approve_rate": 0.9}},
        {"id": "directors", "kind": "human", "capacity": 1, "behaviour": {"duration": "5m", "approve_rate": 0.7}},
    ]
    for actor in actors:
        if actor["kind"] == "human" and draw(st.integers(0, 2)) == 0:
            actor["calendar"] = calendar
    if draw(st.integers(0, 2)) == 0:  # the clerks differ: their own hours and pace
        actors[3].pop("capacity")
        actors[3]["members"] = [{"name": "Ana", "speed": 1.5, "calendar": calendar}, {"name": "Ben"},
                                {"name": "Cy", "speed": 0.5}][: draw(st.integers(1, 3))]
        filing = [n["id"] for n in nodes if n.get("actor") == "clerks"]
        if filing and draw(st.booleans()):  # people with their own durations of a step
            actors[3]["members"][0]["durations"] = {filing[0]: {"dist": "uniform", "low": "5m", "high": "30m"}}
            actors[3]["members"][-1].setdefault("durations", {})[filing[-1]] = "12m"
    if draw(st.booleans()):  # the system queues: one or two at a time, maybe in office hours
        actors[2]["capacity"] = draw(st.integers(1, 2))
        if draw(st.booleans()):
            actors[2]["calendar"] = calendar
    arrivals: dict[str, Any] = {"process": "poisson", "rate": draw(st.sampled_from(["6/h", "30/h", "120/h"]))}
    if draw(st.integers(0, 3)) == 0:
        arrivals["calendar"] = calendar
    policies: dict[str, Any] = {"max_turns": draw(st.sampled_from([12, 40, 100])), "retries": draw(st.integers(0, 2))}
    if draw(st.integers(0, 3)) == 0:  # a default chain for the approvals without their own escalation
        policies["escalation"] = [{"to": "leads", "after": "20m"}, {"to": "directors", "after": "10m"}]
    lookup: dict[str, Any] = {"id": "lookup", "tier": "read_only"}
    if draw(st.booleans()):
        lookup["rate_limit"] = {"calls": draw(st.integers(1, 3)), "per": "1m"}
    simulation: dict[str, Any] = {"seed": draw(st.integers(0, 10**6)), "arrivals": arrivals}
    if draw(st.integers(0, 2)) == 0:  # priority queues (drawn last: the workflows before stay as they were)
        simulation["priority"] = draw(st.sampled_from([
            [{"when": "amount > 1000", "level": 1}],
            [{"when": "tier == 'gold'", "level": 2}, {"when": "amount > 500", "level": 1}],
            [{"when": "amount < 100", "level": -1}, {"level": 0}],
        ]))
    return {
        "apiVersion": "studio/v1",
        "metadata": {"name": "generated", "version": "1.0.0", "owner": "tests@example.com"},
        "actors": actors,
        "tools": [lookup, {"id": "ledger", "tier": "restricted_write",
                           "behaviour": {"failures": {"tool": draw(fail)}}}],
        "nodes": nodes,
        "edges": edges,
        "policies": policies,
        "simulation": simulation,
    }


# 60 workflows in the everyday suite; STUDIO_DIFFERENTIAL_EXAMPLES=400 for a longer run (docs/simulation.md).
EXAMPLES = int(os.environ.get("STUDIO_DIFFERENTIAL_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(workflows())
def test_generated_workflows_are_identical_on_both_engines(data: dict[str, Any]) -> None:
    workflow = Workflow.model_validate(data)
    workflow._source = Source(path=FIXTURES[0].parent / "generated.yaml")  # where its subworkflow refs resolve
    findings = studio.validate(workflow, data=ROWS)
    assert not has_errors(findings), [f.format() for f in findings if f.is_error]
    kernel, langgraph = _both(workflow, data=ROWS, cases=25)
    _assert_identical(kernel, langgraph)


# --------------------------------------------------------------------------- the run's own check


def test_a_run_on_the_kernel_replays_its_sample_through_langgraph() -> None:
    results = simulate(TEMPLATES[0], cases=60, seed=5, verify=7)
    assert results.kpis["engine"] == {"name": "kernel", "verified": 7}
    assert simulate(TEMPLATES[0], cases=60, seed=5, verify=0).kpis["engine"] == {"name": "kernel", "verified": 0}
    assert simulate(TEMPLATES[0], cases=3, seed=5, verify=50).kpis["engine"]["verified"] == 3


def _break_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel that draws its cases' numbers from other random streams than LangGraph."""
    from studio.simulate import kernel
    from studio.simulate.runtime import CaseRun

    class Shifted(CaseRun):  # the kernel's cases start from the next seed's streams
        __slots__ = ()

        @classmethod
        def of_spec(cls, env: Any, spec: Any, replication: int, index: int, times: Any,  # noqa: PLR0913, PLR0917 - as CaseRun's
                    cc: Any = None) -> CaseRun:
            return CaseRun.of_spec(env, dataclasses.replace(spec, seed=spec.seed + 1), replication, index, times, cc)

    monkeypatch.setattr(kernel, "CaseRun", Shifted)


def test_a_kernel_that_differs_from_langgraph_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _break_the_kernel(monkeypatch)
    with pytest.raises(EngineMismatch) as caught:
        simulate(TEMPLATES[0], cases=20, seed=5, verify=3)
    first = caught.value.mismatches[0]
    assert first.step is not None and first.step > 0  # the start node draws nothing; a later step differs
    assert first.field in ("end", "service", "decision", "attempts", "failure")
    assert f"step {first.step} (`{first.node}`) differs in `{first.field}`" in str(caught.value)
    assert simulate(TEMPLATES[0], cases=20, seed=5, verify=3, engine="langgraph").kpis["engine"]["name"] == "langgraph"


def test_the_cli_exits_1_and_shows_the_first_differing_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _break_the_kernel(monkeypatch)
    code = main(["simulate", str(TEMPLATES[0]), "--cases", "10", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "disagree on" in err and "differs in" in err and "--engine langgraph" in err
    assert not (tmp_path / "kpis.json").exists()


def test_an_unknown_engine_or_a_negative_sample_is_refused() -> None:
    with pytest.raises(SimulationError, match="engine `fast`"):
        simulate(FIXTURES[0], cases=5, engine="fast")
    with pytest.raises(SimulationError, match="0 or more"):
        simulate(FIXTURES[0], cases=5, verify=-1)


def test_workers_and_resume_agree_with_one_process_on_the_kernel(tmp_path: Path) -> None:
    one = simulate(TEMPLATES[1], cases=50, seed=2, replications=3, verify=4)
    two = simulate(TEMPLATES[1], cases=50, seed=2, replications=3, workers=2, verify=4)
    assert one.kpis_json() == two.kpis_json()
    simulate(TEMPLATES[1], cases=50, seed=2, replications=3, engine="langgraph", out=tmp_path)
    (tmp_path / "progress" / "rep-0001.jsonl").unlink()
    resumed = simulate(TEMPLATES[1], cases=50, seed=2, replications=3, out=tmp_path, resume=True, verify=4)
    assert _without_engine(resumed.kpis) == _without_engine(one.kpis)
