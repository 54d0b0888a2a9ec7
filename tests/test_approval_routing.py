"""Approvals that route on their own outcome (`when: decision == "reject"` on the approval's edges):
the same cases as a decision node after the approval, on both engines, in the analysis, and
validated with the same care (docs/semantics.md, approvals)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from conftest import FIXTURES

import studio
from studio.cli import main
from studio.graph import outcome_condition, with_outcome_routers
from studio.simulate import simulate

Z_999 = 3.29

ROUTED = """
apiVersion: studio/v1
metadata: {name: sign_off, version: 1.0.0}
actors:
  - {id: clerks, kind: human, capacity: 3, behaviour: {duration: 10m}}
  - {id: managers, kind: human, capacity: 2, behaviour: {duration: 5m, approve_rate: 0.7, send_back_rate: 0.1}}
nodes:
  - {id: start, kind: start}
  - {id: prepare, kind: task, actor: clerks}
  - {id: sign, kind: approval, actor: managers}
  - {id: paid, kind: end, outcome: paid}
  - {id: refused, kind: end, outcome: refused}
edges:
  - {from: start, to: prepare}
  - {from: prepare, to: sign}
  - {from: sign, to: paid, when: decision == "approve"}
  - {from: sign, to: prepare, when: decision == "send_back"}
  - {from: sign, to: refused, default: true}
policies: {max_repeats: 1000, max_turns: 10000}
simulation: {seed: 11, arrivals: {process: poisson, rate: 6/h}}
"""

# The same workflow with the decision node written out (named and placed as the engines add it:
# after the file's own nodes and edges).
ROUTER = "  - {id: sign_route, kind: decision, name: 'sign: outcome'}\n"
EXPLICIT = (ROUTED.replace("edges:\n", ROUTER + "edges:\n")
            .replace("{from: sign, to: paid, when: decision", "{from: sign_route, to: paid, when: sign_decision")
            .replace("{from: sign, to: prepare, when: decision", "{from: sign_route, to: prepare, when: sign_decision")
            .replace("  - {from: sign, to: refused, default: true}\n",
                     "  - {from: sign_route, to: refused, default: true}\n  - {from: sign, to: sign_route}\n"))


def _load(text: str) -> studio.Workflow:
    return studio.loads(text, "sign_off.yaml")


def test_the_explicit_form_is_the_same_workflow_and_gives_byte_identical_results() -> None:
    routed, explicit = _load(ROUTED), _load(EXPLICIT)
    assert [f.code for f in studio.validate(routed)] == [f.code for f in studio.validate(explicit)]
    runs = with_outcome_routers(routed)
    assert studio.fileio.to_data(runs)["nodes"] == studio.fileio.to_data(explicit)["nodes"]
    assert studio.fileio.to_data(runs)["edges"] == studio.fileio.to_data(explicit)["edges"]
    mine, theirs = simulate(routed, cases=300), simulate(explicit, cases=300)
    assert json.dumps(mine.payloads) == json.dumps(theirs.payloads)
    assert json.dumps(mine.kpis) == json.dumps(theirs.kpis)


def test_outcomes_follow_the_approval_rates_within_a_binomial_interval() -> None:
    n = 4000
    results = simulate(_load(ROUTED), cases=n)
    outcomes = Counter(case["outcome"] for case in results.payloads[0]["cases"])
    p = 0.7 / 0.9  # approve 0.7, reject 0.2, send back 0.1 and try again
    assert abs(outcomes["paid"] / n - p) <= Z_999 * math.sqrt(p * (1 - p) / n), outcomes
    assert outcomes["paid"] + outcomes["refused"] == n
    visits = [sum(1 for step in case["steps"] if step[0] == "sign") for case in results.payloads[0]["cases"]]
    assert abs(sum(visits) / n - 1 / 0.9) < 0.03  # geometric: a send-back every tenth visit


def test_both_engines_give_identical_files() -> None:
    workflow = _load(ROUTED)
    kernel = simulate(workflow, cases=200, engine="kernel", verify=0)
    langgraph = simulate(workflow, cases=200, engine="langgraph")
    assert json.dumps(kernel.payloads) == json.dumps(langgraph.payloads)
    assert kernel.kpis["cycle_time"] == langgraph.kpis["cycle_time"]


def test_the_analysis_routes_by_the_approval_rates_as_the_simulation_does() -> None:
    workflow = _load(ROUTED)
    estimate = studio.analyze(workflow, data=None).success
    (branch,) = estimate.branches
    assert branch.decision == "sign_route" and branch.source == "approval rates"
    assert dict(branch.shares) == pytest.approx({"paid": 0.7, "prepare": 0.1, "refused": 0.2})


def test_decision_reads_the_approvals_own_field_and_nothing_else() -> None:
    assert outcome_condition("sign", 'decision == "approve"') == 'sign_decision == "approve"'
    assert outcome_condition("sign", "x.decision or decision") == "x.decision or sign_decision"
    assert outcome_condition("sign", 'case.decision == "reject"') == 'case.sign_decision == "reject"'  # one field
    assert outcome_condition("sign", '"decision" == decision') == '"decision" == sign_decision'
    assert outcome_condition("sign", "décidé == 1 and decision") == "décidé == 1 and sign_decision"
    plain = _load(ROUTED.replace('when: decision == "approve"', "when: amount > 5").replace(
        'when: decision == "send_back"', "when: amount > 1").replace("{from: sign, to: refused, default: true}",
                                                                      "{from: sign, to: refused, default: true}"))
    sources = [edge.source for edge in with_outcome_routers(plain).edges]
    assert sources.count("sign_route") == 3  # case fields route an approval too


@pytest.mark.parametrize(("change", "code", "words"), [
    # no default and conditions that can all be false
    ("{from: sign, to: refused, default: true}", "S007", "has no default edge"),
    # an unconditional edge beside the routes
    ("{from: sign, to: refused}", "S007", "with no condition"),
])
def test_an_approval_routing_on_its_outcome_is_checked_like_a_decision(change: str, code: str, words: str) -> None:
    text = ROUTED.replace("{from: sign, to: refused, default: true}", change)
    if change == "{from: sign, to: refused, default: true}":
        text = text.replace("  - {from: sign, to: refused, default: true}\n", "")
    messages = [f.message for f in studio.validate(_load(text)) if f.code == code]
    assert any(words in m and "approval `sign`" in m for m in messages), messages


def test_complementary_outcomes_need_no_default() -> None:
    text = ROUTED.replace('  - {from: sign, to: prepare, when: decision == "send_back"}\n', "").replace(
        "{from: sign, to: refused, default: true}", '{from: sign, to: refused, when: decision != "approve"}')
    assert [f.code for f in studio.validate(_load(text)) if f.is_error] == []


def test_conditions_still_warn_on_a_task() -> None:
    text = ROUTED.replace("  - {from: prepare, to: sign}", "  - {from: prepare, to: sign, when: amount > 3}")
    assert "S011" in [f.code for f in studio.validate(_load(text))]


def test_the_cli_refuses_a_router_id_that_is_taken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(FIXTURES / "invalid" / "S020.yaml")]) == 1
    out = capsys.readouterr().out
    assert "S020" in out and "`review_route`" in out and "rename" in out
    assert main(["validate", str(FIXTURES / "bpmn_exec" / "approval_outcome.yaml")]) == 0


def test_inside_a_subworkflow_the_approval_routes_on_its_own_outcome(tmp_path: Path) -> None:
    (tmp_path / "sign_off.yaml").write_text(ROUTED, encoding="utf-8")
    (tmp_path / "parent.yaml").write_text("""
apiVersion: studio/v1
metadata: {name: parent}
nodes:
  - {id: start, kind: start}
  - {id: review, kind: subworkflow, ref: sign_off.yaml}
  - {id: done, kind: end}
edges:
  - {from: start, to: review}
  - {from: review, to: done}
policies: {max_repeats: 1000, max_turns: 10000}
simulation: {seed: 11, arrivals: {process: poisson, rate: 6/h}}
""", encoding="utf-8")
    parent = studio.load(tmp_path / "parent.yaml")
    kernel = simulate(parent, cases=300, engine="kernel", verify=0)
    langgraph = simulate(parent, cases=300, engine="langgraph")
    assert json.dumps(kernel.payloads) == json.dumps(langgraph.payloads)
    cases = kernel.payloads[0]["cases"]
    paths = Counter(tuple(step[0] for step in case["steps"]) for case in cases)
    assert ("start", "review__start", "review__prepare", "review__sign", "review__sign_route", "review__paid",
            "review", "done") in paths
    paid = sum(1 for case in cases if any(step[0] == "review__paid" for step in case["steps"]))
    p, n = 0.7 / 0.9, len(cases)
    assert abs(paid / n - p) <= Z_999 * math.sqrt(p * (1 - p) / n)
