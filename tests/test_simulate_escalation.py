"""Escalation chains with a time per level: known answers on both engines, the one-level form as a
one-level chain, the policy chain, how the chain is resolved, and what validation says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import studio
from studio import fileio
from studio.cli import main
from studio.model import Workflow, escalation_chain
from studio.simulate import simulate
from studio.simulate.summary import pointers

FIXTURES = Path(__file__).parent / "fixtures" / "simulate"
CHAIN = FIXTURES / "escalation_chain.yaml"
HOUR = 3600.0


def sign_offs(results: Any) -> dict[str, dict[str, Any]]:
    return {step["case_id"]: step for step in results.iter_steps() if step["node"] == "sign_off"}


def chain_data(**changes: Any) -> dict[str, Any]:
    data = fileio.to_data(fileio.load(CHAIN))
    for node in data["nodes"]:
        if node["id"] == "sign_off":
            node.update(changes)
    return data


@pytest.mark.parametrize("engine", ["kernel", "langgraph"])
def test_a_chain_hands_the_step_up_level_by_level_at_exact_times(engine: str) -> None:
    results = simulate(fileio.load(CHAIN), cases=3, engine=engine, verify=0)
    steps = sign_offs(results)
    first, second, third = steps["0"], steps["1"], steps["2"]
    # the approver takes the first case at once
    assert (first["actor"], first["escalated_to"], first["start"], first["end"]) == ("approver", None, 0.0, 10 * HOUR)
    # the approver is busy for 10 h: level 1 fires at 2 h; the leads are free and start then (stops at level 1)
    assert (second["actor"], second["escalated_to"], second["resource"]) == ("leads", "leads", "leads")
    assert (second["start"], second["end"], second["wait"], second["wait_reason"]) == (
        2 * HOUR, 5 * HOUR, 2 * HOUR, "escalation")
    assert second["decision"] == "approve"  # the leads' behaviour
    # the third reaches the leads at 2 h, busy until 5 h: level 2 fires 1 h later, the directors start at 3 h
    assert (third["actor"], third["escalated_to"], third["resource"]) == ("directors", "directors", "directors")
    assert (third["start"], third["end"], third["wait"], third["queue"], third["wait_reason"]) == (
        3 * HOUR, 3.5 * HOUR, 3 * HOUR, 0.0, "escalation")
    assert third["decision"] == "reject"  # the directors' behaviour
    kpis = results.kpis
    assert kpis["escalations"] == {"total": 2, "per_case": pytest.approx(0.666667), "by_node": {"sign_off": 2},
                                   "by_level": {"1": 1, "2": 1}}
    resources = kpis["resources"]
    assert (resources["leads"]["escalated_in"], resources["directors"]["escalated_in"]) == (1, 1)
    assert (resources["approver"]["requests"], resources["leads"]["requests"]) == (1, 1)


def test_both_engines_give_the_same_bytes_and_the_run_replays_its_grants_level_by_level() -> None:
    kernel = simulate(fileio.load(CHAIN), cases=30, engine="kernel", verify=30)
    assert kernel.kpis["engine"] == {"name": "kernel", "verified": 30}  # every case replayed through LangGraph
    langgraph = simulate(fileio.load(CHAIN), cases=30, engine="langgraph")
    for mine, theirs in zip(kernel.payloads, langgraph.payloads, strict=True):
        assert json.dumps(mine["cases"]) == json.dumps(theirs["cases"])
    kpis_k = {k: v for k, v in kernel.kpis.items() if k != "engine"}
    kpis_l = {k: v for k, v in langgraph.kpis.items() if k != "engine"}
    assert json.dumps(kpis_k) == json.dumps(kpis_l)
    levels = kernel.kpis["escalations"]["by_level"]
    assert levels["2"] > 0 and sum(levels.values()) == kernel.kpis["escalations"]["total"]


def test_a_level_whose_pool_starts_in_time_ends_the_chain() -> None:
    # the leads have 4 h to start: the third case waits for them (5 h) and never reaches the directors
    data = chain_data(escalation=[{"to": "leads", "after": "2h"}, {"to": "directors", "after": "4h"}])
    third = sign_offs(simulate(Workflow.model_validate(data), cases=3))["2"]
    assert (third["actor"], third["escalated_to"], third["start"], third["end"]) == (
        "leads", "leads", 5 * HOUR, 8 * HOUR)
    assert (third["wait"], third["queue"]) == (5 * HOUR, 3 * HOUR)


def test_the_one_level_form_is_a_one_level_chain_byte_for_byte() -> None:
    old = fileio.to_data(fileio.load(FIXTURES / "escalation.yaml"))
    new = json.loads(json.dumps(old))
    for node in new["nodes"]:
        if node["id"] == "sign_off":
            del node["sla"], node["escalate_to"]
            node["escalation"] = [{"to": "leads", "after": "1h"}]
    a = simulate(Workflow.model_validate(old), cases=20)
    b = simulate(Workflow.model_validate(new), cases=20)
    assert json.dumps(a.payloads[0]["cases"]) == json.dumps(b.payloads[0]["cases"])
    assert a.kpis_json() == b.kpis_json()
    assert "by_level" not in a.kpis["escalations"]  # one level: the KPIs keep their shape


def test_the_policy_chain_is_the_default_and_a_task_sla_times_its_first_level() -> None:
    data = chain_data(escalation=None)
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "sign_off"] + [
        {"id": "sign_off", "kind": "approval", "actor": "approver"}]
    data["policies"] = {"escalation": [{"to": "leads", "after": "2h"}, {"to": "directors", "after": "1h"}]}
    steps = sign_offs(simulate(Workflow.model_validate(data), cases=3))
    assert [(s["actor"], s["start"]) for s in steps.values()] == [
        ("approver", 0.0), ("leads", 2 * HOUR), ("directors", 3 * HOUR)]
    workflow = Workflow.model_validate(data)
    actors, policies = workflow.index.actors, workflow.policies
    task = studio.model.Task(id="t", kind="task", actor="approver", sla="30m")
    assert escalation_chain(task, actors, policies) == ((0.5 * HOUR, "leads"), (HOUR, "directors"))
    untimed = studio.model.Task(id="u", kind="task", actor="approver")  # tasks need their own SLA, as before
    assert escalation_chain(untimed, actors, policies) == ()
    own = studio.model.Approval(id="a", kind="approval", actor="approver", escalate_to="directors")
    assert escalation_chain(own, actors, policies) == ((2 * HOUR, "directors"),)  # its own target, one level


def test_a_policy_level_naming_the_steps_own_pool_is_skipped_and_its_time_carried() -> None:
    workflow = Workflow.model_validate(chain_data(escalation=None))
    policies = studio.model.Policies(escalation=[{"to": "leads", "after": "2h"}, {"to": "directors", "after": "1h"}])
    by_leads = studio.model.Approval(id="a", kind="approval", actor="leads")
    assert escalation_chain(by_leads, workflow.index.actors, policies) == ((3 * HOUR, "directors"),)
    by_agent = studio.model.Approval(id="b", kind="approval", actor="worker")
    assert escalation_chain(by_agent, workflow.index.actors, policies) == ()


def test_both_forms_on_one_step_or_in_the_policies_are_refused_with_the_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "both.yaml"
    data = chain_data(sla="1h")
    path.write_text(json.dumps(data))
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr().out
    assert "L003" in out and "has both `escalation` (a chain) and `sla` (one level)" in out
    assert "{to: <pool>, after: <sla>}" in out
    data = chain_data()
    data["policies"] = {"escalate_to": "leads", "escalation": [{"to": "leads", "after": "1h"}]}
    path.write_text(json.dumps(data))
    assert main(["validate", str(path)]) == 2
    assert "`policies` has both `escalation` (a chain) and `escalate_to`" in capsys.readouterr().out


def test_every_level_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = chain_data(escalation=[{"to": "leads", "after": "2h"}, {"to": "leads", "after": "1h"},
                                  {"to": "worker", "after": "1h"}, {"to": "director", "after": "1h"}])
    findings = studio.validate(Workflow.model_validate(data))
    got = sorted((f.code, f.location) for f in findings if f.is_error)
    assert got == [("A002", "nodes[2].escalation[3].to"), ("A011", "nodes[2].escalation[1].to"),
                   ("A011", "nodes[2].escalation[2].to")]
    text = {f.location: f.message + " / " + f.hint for f in findings}
    assert "did you mean `directors`" in text["nodes[2].escalation[3].to"]
    assert "an earlier level's pool" in text["nodes[2].escalation[1].to"]
    assert "`worker`, an agent" in text["nodes[2].escalation[2].to"]
    data = chain_data(escalation=[{"to": "approver", "after": "2h"}])
    [own] = [f for f in studio.validate(Workflow.model_validate(data)) if f.is_error]
    assert own.code == "A011" and "the step's own pool" in own.message
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN.read_text())
    assert main(["validate", str(path)]) == 0  # a chain gives both an SLA and an escalation: no G003
    assert "G003" not in capsys.readouterr().out


def test_the_chain_round_trips_through_a_save(tmp_path: Path) -> None:
    workflow = fileio.load(CHAIN)
    fileio.save(workflow, tmp_path / "again.yaml")
    again = fileio.load(tmp_path / "again.yaml")
    assert again == workflow
    assert "escalation:" in (tmp_path / "again.yaml").read_text()


def test_the_summary_warns_of_any_level_that_is_a_pool_of_one() -> None:
    results = simulate(fileio.load(CHAIN), cases=3)
    [risk] = [line for line in pointers(results) if "a pool of one person" in line]  # leads: 1; directors: 3
    assert risk.startswith("Risk: escalations from `sign_off` go to leads, a pool of one person; "
                           "1 escalation(s) went there in this run")


@pytest.mark.parametrize("engine", ["kernel", "langgraph"])
def test_a_chain_in_priority_queues_hands_the_step_up_at_the_same_times(engine: str) -> None:
    data = fileio.to_data(fileio.load(CHAIN))
    data["simulation"]["priority"] = [{"level": 1}]  # queues by priority, everyone at one level
    results = simulate(Workflow.model_validate(data), cases=3, engine=engine, verify=3 if engine == "kernel" else 20)
    steps = sign_offs(results)
    assert [(s["actor"], s["start"]) for s in (steps["0"], steps["1"], steps["2"])] == [
        ("approver", 0.0), ("leads", 2 * HOUR), ("directors", 3 * HOUR)]
    assert steps["2"]["wait_reason"] == "escalation" and results.kpis["escalations"]["by_level"] == {"1": 1, "2": 1}
