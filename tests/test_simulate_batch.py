"""Batched steps (``batch: {size, timeout}``): known answers on both engines, the verified replay, KPIs.

The workflow: cases arrive every 10 minutes at a step done by one clerk in a fixed 5 minutes.
With ``size: 3`` the third case of each batch fires it on arrival, so a batch's cases leave together
5 minutes later: cycle times 25, 15 and 5 minutes. With ``size: 3, timeout: 15m`` the oldest case
fires its batch 15 minutes after it arrived, with the one other case that came in the meantime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_simulate_kernel import _assert_identical, _both

import studio
from studio import fileio
from studio.cli import main
from studio.export import export_as, export_losses
from studio.model import Workflow
from studio.simulate import run_gold, simulate


def _workflow(batch: dict[str, Any] | None, *, kind: str = "task", capacity: int = 1) -> Workflow:
    step: dict[str, Any] = {"id": "pack", "kind": kind, "actor": "clerks", "sla": "1d", "escalate_to": "leads"}
    if batch is not None:
        step["batch"] = batch
    return Workflow.model_validate({
        "apiVersion": "studio/v1",
        "metadata": {"name": "batched", "version": "1.0.0", "owner": "tests@example.com"},
        "actors": [
            {"id": "clerks", "kind": "human", "capacity": capacity,
             "behaviour": {"duration": "5m", "cost_per_hour": 60, "approve_rate": 0.5}},
            {"id": "leads", "kind": "human"},
        ],
        "nodes": [{"id": "start", "kind": "start"}, step, {"id": "done", "kind": "end", "outcome": "shipped"}],
        "edges": [{"from": "start", "to": "pack"}, {"from": "pack", "to": "done"}],
        "simulation": {"seed": 1, "arrivals": {"process": "fixed", "interval": "10m"}},
    })


def _cycles(results: Any) -> list[float]:
    return [case["end"] - case["arrival"] for case in results.payloads[0]["cases"]]


def _pack(case: dict[str, Any]) -> list[Any]:
    return next(step for step in case["steps"] if step[0] == "pack")


def test_a_full_batch_fires_when_its_last_case_arrives_and_every_case_leaves_together() -> None:
    kernel, langgraph = _both(_workflow({"size": 3}), cases=6)
    _assert_identical(kernel, langgraph)
    assert _cycles(kernel) == [1500.0, 900.0, 300.0, 1500.0, 900.0, 300.0]
    cases = kernel.payloads[0]["cases"]
    assert [(_pack(c)[2], _pack(c)[3]) for c in cases] == [(1200.0, 1500.0)] * 3 + [(3000.0, 3300.0)] * 3
    assert [c["batches"] for c in cases[:3]] == [[["pack", 0, 3, t, 1200.0, "size"]] for t in (0.0, 600.0, 1200.0)]
    # the clerk works once per batch: 5 minutes, shared by its 3 cases (service and cost per case)
    assert [_pack(c)[8] for c in cases] == [100.0] * 6
    assert kernel.kpis["cost"]["total"] == pytest.approx(2 * 5.0)
    assert [_pack(c)[6] for c in cases[:3]] == ["batch", "batch", None]  # wait reason
    batches = kernel.kpis["batches"]["pack"]
    assert batches == {"size": 3, "timeout_s": None, "batches": 2, "fired_by": {"size": 2, "timeout": 0},
                       "size_mean": 3.0, "fill_wait_mean_s": 600.0, "fill_wait_p95_s": 1200.0, "stuck_cases": 0}


def test_a_timeout_fires_a_partial_batch_when_its_oldest_case_has_waited() -> None:
    kernel, langgraph = _both(_workflow({"size": 3, "timeout": "15m"}), cases=5)
    _assert_identical(kernel, langgraph)
    # c0 opens at 0 and fires at 15m with c1 (10m); c2 (20m) fires at 35m with c3; c4 (40m) alone at 55m
    assert _cycles(kernel) == [1200.0, 600.0, 1200.0, 600.0, 1200.0]
    fired = [c["batches"][0][4:] for c in kernel.payloads[0]["cases"]]
    assert fired == [[900.0, "timeout"]] * 2 + [[2100.0, "timeout"]] * 2 + [[3300.0, "timeout"]]
    figures = kernel.kpis["batches"]["pack"]
    assert (figures["batches"], figures["size_mean"], figures["fired_by"]) == (3, 1.66667,
                                                                               {"size": 0, "timeout": 3})


def test_a_batch_that_never_fills_leaves_its_cases_stuck_with_the_reason() -> None:
    kernel, langgraph = _both(_workflow({"size": 3}), cases=7)
    _assert_identical(kernel, langgraph)
    last = kernel.payloads[0]["cases"][-1]
    assert (last["status"], last["end"], last["node"]) == ("stuck", 3600.0, "pack")
    assert last["reason"] == "stuck: batch at `pack` never filled (1 of 3 cases waiting at the end, no timeout)"
    assert kernel.kpis["status"]["stuck"] == 1
    assert kernel.kpis["batches"]["pack"]["stuck_cases"] == 1


def test_batched_approvals_decide_each_case_and_a_kernel_run_is_verified_through_langgraph() -> None:
    workflow = _workflow({"size": 4, "timeout": "25m"}, kind="approval", capacity=2)
    workflow_data = workflow.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    workflow_data["simulation"]["arrivals"] = {"process": "poisson", "rate": "9/h"}
    workflow = Workflow.model_validate(workflow_data)
    kernel, langgraph = _both(workflow, cases=120, replications=2)
    _assert_identical(kernel, langgraph)
    verified = simulate(workflow, cases=120, replications=2, engine="kernel", verify=30)
    assert verified.kpis["engine"] == {"name": "kernel", "verified": 30}
    decisions = {_pack(c)[9] for p in kernel.payloads for c in p["cases"] if c["status"] == "completed"}
    assert decisions == {"approve", "reject"}  # each case of a batch draws its own decision
    figures = kernel.kpis["batches"]["pack"]
    assert figures["fired_by"]["size"] > 0 and figures["fired_by"]["timeout"] > 0
    assert 1.0 <= figures["size_mean"] <= 4.0


def test_without_batching_nothing_changes_and_kpis_have_no_batches() -> None:
    results = simulate(_workflow(None), cases=3, engine="kernel")
    assert "batches" not in results.kpis
    assert all("batches" not in case for case in results.payloads[0]["cases"])
    assert _cycles(results) == [300.0, 300.0, 300.0]


def test_a_gold_case_runs_alone_and_its_batch_of_one_fires_at_once() -> None:
    workflow = _workflow({"size": 3})
    data = workflow.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    gold = run_gold(Workflow.model_validate(data), [{"case_id": "g1", "expected_path": "start>pack>done",
                                                     "expected_outcome": "shipped"}])
    assert gold.passed == gold.total == 1


def test_the_cli_writes_batch_kpis(tmp_path: Path) -> None:
    path = tmp_path / "batched.yaml"
    fileio.save(_workflow({"size": 3, "timeout": "15m"}), path)
    assert main(["simulate", str(path), "--cases", "5", "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    kpis = json.loads((tmp_path / "out" / "kpis.json").read_text())
    assert kpis["batches"]["pack"]["fired_by"] == {"size": 0, "timeout": 3}


# --------------------------------------------------------------------------- exports


def test_the_control_plane_carries_a_batch_and_other_targets_say_they_cannot() -> None:
    batched = _workflow({"size": 3, "timeout": "15m"})
    definition = json.loads(export_as(batched, "controlplane"))
    pack = next(node for node in definition["spec"]["nodes"] if node["id"] == "pack")
    assert pack["batch"] == {"size": 3, "timeout_seconds": 900.0}
    plain = json.loads(export_as(_workflow(None), "controlplane"))
    assert all("batch" not in node for node in plain["spec"]["nodes"])
    for target, code in (("bpmn", "B106"), ("serverless", "W109"), ("langgraph", "R105")):
        found = [f for f in export_losses(batched, target) if f.code == code]
        assert len(found) == 1, target
        assert found[0].location == "nodes[1].batch"
        assert "collected until 3 wait (or the oldest has waited 15m)" in found[0].message
        assert not [f for f in export_losses(_workflow(None), target) if f.code == code]


def test_a_scenario_changes_the_batch_size() -> None:
    results = simulate(_workflow({"size": 3}), cases=4, engine="kernel", scenario=["nodes.pack.batch.size=2"])
    assert _cycles(results) == [900.0, 300.0, 900.0, 300.0]


def test_batches_the_simulator_cannot_run_are_refused_with_m005() -> None:
    data = _workflow({"size": 2, "timeout": "0s"}).model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["nodes"][1:2] = [{"id": "fork", "kind": "parallel"}, data["nodes"][1],
                          {"id": "note", "kind": "task", "actor": "clerks", "sla": "1d", "escalate_to": "leads"},
                          {"id": "join", "kind": "join"}]
    data["edges"] = [{"from": "start", "to": "fork"}, {"from": "fork", "to": "pack"}, {"from": "fork", "to": "note"},
                     {"from": "pack", "to": "join"}, {"from": "note", "to": "join"}, {"from": "join", "to": "done"}]
    findings = [f for f in studio.validate(Workflow.model_validate(data)) if f.code == "M005"]
    messages = sorted(f.message for f in findings)
    assert messages == ["step `pack` batches cases inside a branch of fork `fork`; a case waiting there "
                        "could be stopped by its other branch", "the batch at `pack` has a zero timeout"]
    assert {f.location for f in findings} == {"nodes[2].batch", "nodes[2].batch.timeout"}
