"""`studio analyze` tells the same story as `studio simulate`: the static success estimate counts
retries, tool failures, approvals' decisions, branch probabilities (from the workflow, else from the
conditions over the sample data) and loop guards the way the simulator runs a case."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from studio import fileio
from studio import graph_analysis as ga
from studio.analysis import analyze
from studio.cli import main
from studio.model import Workflow

HERE = FIXTURES / "analyze"
CASES = 20_000


def load(name: str) -> Workflow:
    return fileio.load(HERE / f"{name}.yaml")


# --------------------------------------------------------------------------- known answers


def test_a_chain_counts_retries_and_tool_failures() -> None:
    estimate = analyze(load("chain5_retries")).success
    check = 1 - (1 - 0.95 * 0.9) ** 2  # the tool's failure fails the attempt; one retry
    post = 1 - 0.3**3  # its own `retries: 2`
    assert estimate.probability == pytest.approx(0.99**3 * check * post, rel=1e-12)
    assert dict((n, (p, r)) for n, p, r in estimate.attempts) == {
        "read": (pytest.approx(0.9), 1), "check": (pytest.approx(0.855), 1), "draft": (pytest.approx(0.9), 1),
        "review": (pytest.approx(0.9), 1), "post": (pytest.approx(0.7), 2),
    }
    assert dict(estimate.steps)["check"] == pytest.approx(check)
    assert estimate.failed_steps == pytest.approx(1 - estimate.probability)
    assert estimate.exact and estimate.back_edges == ()
    assert any("policies.retries = 1" in text for text in estimate.assumptions)


def test_the_issues_chain_is_95_percent_not_59() -> None:
    workflow = load("chain5_retries")
    for node in workflow.nodes:
        if node.kind == "task":
            node.tools = []
            node.behaviour.retries = None
            node.behaviour.failures = None
    assert ga.success_estimate(workflow).probability == pytest.approx(0.99**5)  # 95.1%
    workflow.policies.retries = 0
    assert ga.success_estimate(workflow).probability == pytest.approx(0.9**5)  # 59.0%


def test_a_subworkflow_counts_as_the_steps_it_runs() -> None:
    estimate = analyze(load("sub_parent"), data=None).success
    bot = 1 - 0.05**2  # intake and file: one retry each
    # inside: check 0.8 a pass; the review leaves with 0.7 (approve or reject) or sends back 0.3; the
    # policy guard (max_repeats 2) stops the third pass over check -> review
    inside = 0.8 * 0.7 + 0.8 * 0.3 * 0.8 * 0.7
    assert estimate.probability == pytest.approx(bot * bot * inside, rel=1e-12)
    (branch,) = estimate.branches
    assert (branch.decision, branch.source) == ("checks__review_route", "approval rates")


def test_a_loop_runs_until_its_guard_stops_it() -> None:
    estimate = analyze(load("loop_guard")).success
    x = 0.99 * 0.8  # draft (one retry) then review (no retry) on each pass
    # back to the draft with 0.6 per pass, at most twice; the third time back the guard stops the case
    assert estimate.probability == pytest.approx(0.4 * 0.99 * x * (1 + 0.6 * x + (0.6 * x) ** 2), rel=1e-12)
    assert estimate.killed == pytest.approx(0.216 * x**3, rel=1e-12)
    assert [(b.decision, b.source, b.shares) for b in estimate.branches] == [
        ("verdict", "workflow", (("draft", 0.6), ("publish", pytest.approx(0.4))))
    ]


def test_branches_without_probabilities_come_from_the_sample_data() -> None:
    estimate = analyze(load("data_branches")).success
    assert estimate.rows == 40
    shares = {b.decision: (b.source, dict(b.shares)) for b in estimate.branches}
    assert shares["size_gate"] == ("sample data", {
        "approve_large": pytest.approx(0.3), "small_path": pytest.approx(0.7),
    })
    assert shares["region_gate"] == ("sample data", {"eu_filing": pytest.approx(0.4), "done": pytest.approx(0.6)})
    assert shares["approval_gate"] == ("sample data", {
        "region_gate": pytest.approx(0.7), "prepare": pytest.approx(0.2), "rejected": pytest.approx(0.1),
    })
    assert 0.5 < estimate.probability < 0.7


def test_without_data_the_branches_split_evenly_and_it_says_so() -> None:
    estimate = analyze(load("data_branches"), data=None).success
    shares = {b.decision: b.source for b in estimate.branches}
    assert shares == {"size_gate": "even split", "approval_gate": "approval rates", "region_gate": "even split"}
    assert any("no sample data to evaluate its conditions; branches split evenly" in a for a in estimate.assumptions)


def test_routes_use_the_branch_shares_from_the_data() -> None:
    report = analyze(load("data_branches"))
    routes = {r.nodes: r.probability for r in report.routes}
    assert routes["start", "prepare", "size_gate", "small_path", "region_gate", "done"] == pytest.approx(0.7 * 0.6)
    # the send-back loop is not a route: its share goes to the forward branches (0.7 and 0.1 of 0.8)
    assert routes["start", "prepare", "size_gate", "approve_large", "approval_gate", "rejected"] == pytest.approx(
        0.3 * 0.1 / 0.8)


def test_a_loop_without_a_guard_runs_until_a_branch_leaves_it() -> None:
    workflow = load("loop_guard")
    workflow.policies.max_repeats = None
    for edge in workflow.edges:
        edge.max_repeats = None
    estimate = analyze(workflow).success
    x = 0.99 * 0.8
    assert estimate.exact and estimate.killed == pytest.approx(0.0, abs=1e-12)
    assert estimate.probability == pytest.approx(0.4 * 0.99 * x / (1 - 0.6 * x), rel=1e-9)  # a geometric series
    assert any("a loop without a guard runs until a branch leaves it" in a for a in estimate.assumptions)


def test_a_loop_nothing_leaves_counts_as_stopped_by_max_turns() -> None:
    workflow = load("loop_guard")
    workflow.policies.max_repeats = None
    for edge in workflow.edges:
        edge.max_repeats = None
        if edge.target == "draft" and edge.source == "verdict":
            edge.probability = None  # routed by its condition, which no sample row can make false
        if edge.target == "publish":
            edge.default = True
    workflow.nodes = [n for n in workflow.nodes if n.id != "review"]
    workflow.edges = [e for e in workflow.edges if "review" not in (e.source, e.target)]
    workflow.edges.append(type(workflow.edges[0]).model_validate({"from": "draft", "to": "verdict"}))
    workflow.actors[0].behaviour.failures = None  # the draft never fails: the case goes round for ever
    estimate = analyze(workflow, data=[{"quality": 1}]).success
    assert estimate.probability == pytest.approx(0.0)
    assert estimate.killed == pytest.approx(1.0)


# --------------------------------------------------------------------------- the command


def test_analyze_prints_every_assumption_next_to_the_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(HERE / "data_branches.yaml")]) == 0
    out = capsys.readouterr().out
    section = out[out.index("End-to-end success estimate"):]
    assert "of cases complete (what `studio simulate` counts as success)" in section
    assert "branch probabilities (40 sample row(s)):" in section
    assert "size_gate: from sample data: approve_large 30.0%, small_path 70.0%" in section
    assert "approval_gate: from sample data: region_gate 70.0%, prepare 20.0%, rejected 10.0%" in section
    assert "policies.retries = 1 unless a behaviour sets `retries`" in section
    assert "loops run until a branch leaves them or their guard (max_repeats) stops the case" in section


def test_analyze_json_carries_the_sources_and_assumptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(HERE / "loop_guard.yaml"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)["success_estimate"]
    assert data["exact"] is True and data["loops_left_out"] == []
    assert data["branches"] == [{"decision": "verdict", "source": "workflow", "unrouted": 0.0,
                                 "shares": [["draft", 0.6], ["publish", 0.4]]}]
    assert data["lost"]["loop_guard"] == pytest.approx(0.216 * (0.99 * 0.8) ** 3, abs=1e-6)
    assert data["attempts"] == [["draft", 0.9, 1], ["review", 0.8, 0], ["publish", 0.9, 1]]


# --------------------------------------------------------------------------- against the simulator


@pytest.mark.slow
@pytest.mark.parametrize("name", ["chain5_retries", "data_branches", "loop_guard", "sub_parent"])
def test_static_estimate_is_within_two_points_of_a_simulation(name: str) -> None:
    from studio.simulate import simulate

    workflow = load(name)
    estimate = analyze(workflow).success.probability
    simulated = simulate(workflow, cases=CASES, seed=11).kpis["success_rate"]
    assert abs(estimate - simulated) < 0.02, (estimate, simulated)
