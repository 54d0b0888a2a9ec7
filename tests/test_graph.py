"""The graph analyses, on hand-made workflows whose right answers are known."""

from __future__ import annotations

import math

import networkx as nx
import pytest
from conftest import FIXTURES, TEMPLATES

from studio import fileio
from studio import graph as g
from studio import graph_analysis as ga
from studio.analysis import analyze
from studio.model import Workflow

ANALYSIS = FIXTURES / "analysis"


def load(name: str) -> Workflow:
    return fileio.load(ANALYSIS / f"{name}.yaml")


def template_workflows() -> list[Workflow]:
    return [fileio.load(p) for p in sorted(TEMPLATES.glob("*/workflow.yaml"))]


# --------------------------------------------------------------------------- reliability


def test_four_agents_at_ninety_percent_with_one_retry_give_0_99_to_the_fourth() -> None:
    estimate = ga.success_estimate(load("chain4"))
    assert estimate.probability == pytest.approx(0.99**4)  # policies.retries defaults to 1 (0.9^4 without)
    # the node's own failures (0.1) override its actor's (0.5)
    assert dict(estimate.steps) == pytest.approx({"s1": 0.99, "s2": 0.99, "s3": 0.99, "s4": 0.99})
    assert [p for _, p, _ in estimate.attempts] == pytest.approx([0.9, 0.9, 0.9, 0.9])
    assert estimate.back_edges == ()


def test_success_over_a_parallel_section_and_weighted_branches() -> None:
    workflow = load("parallel")
    # with one retry each: both branches must succeed (0.99 * 0.96 * 1.0, the person never fails),
    # then 0.7 of cases meet a 50% step (0.75 with its retry)
    assert ga.success_estimate(workflow).probability == pytest.approx(0.99 * 0.96 * (0.7 * 0.75 + 0.3))
    routes = ga.routes(workflow)
    assert [(r.end, r.probability, r.success) for r in routes] == [
        ("done", pytest.approx(0.7), pytest.approx(0.99 * 0.96 * 0.75)),
        ("dropped", pytest.approx(0.3), pytest.approx(0.99 * 0.96)),
    ]


def test_branch_probabilities_split_the_remainder_and_skip_loops() -> None:
    # gate -> close carries 0.7, dropped has none and takes the remainder; the fork takes both branches
    routes = {r.end: r for r in ga.routes(load("parallel"))}
    assert routes["done"].probability == pytest.approx(0.7)
    assert routes["dropped"].probability == pytest.approx(0.3)
    assert all({"fast_check", "slow_check"} <= set(r.nodes) for r in routes.values())
    # the loop back from verdict_gate to draft is not taken: its share goes to publish
    [route] = ga.routes(load("agent_loop"))
    assert route.nodes == ("start", "draft", "review", "verdict_gate", "publish", "done")
    assert route.probability == 1.0


@pytest.mark.parametrize("workflow", template_workflows(), ids=lambda w: w.metadata.name)
def test_estimate_equals_the_sum_over_routes_on_every_template(workflow: Workflow) -> None:
    routes = ga.routes(workflow)
    assert routes, "every template has at least one route"
    assert math.fsum(r.probability for r in routes) == pytest.approx(1.0)
    # loops are walked (until their guard) by the estimate, not by routes: the two agree on loop-free
    # workflows (chain4 and parallel above), and the estimate stays a probability here
    assert 0.0 < ga.success_estimate(workflow).probability <= 1.0
    assert math.fsum(r.probability * r.success for r in routes) <= 1.0
    ends = {n.id for n in workflow.nodes if n.kind == "end"}
    assert all(r.end in ends and r.nodes[-1] == r.end and r.nodes[0] == "start" for r in routes)
    assert ga.routes(workflow) == routes  # deterministic


# --------------------------------------------------------------------------- durations


def test_critical_path_takes_the_longer_parallel_branch() -> None:
    path = ga.critical_path(load("parallel"))
    assert path.nodes == ("start", "take", "fork", "slow_check", "join", "gate", "close", "done")
    assert path.duration == pytest.approx(5 * 60 + 30 * 60 + 60)  # uniform 20m..40m counts its mean
    assert "fast_check" not in dict(path.steps)


def test_critical_path_node_duration_overrides_actor() -> None:
    path = ga.critical_path(load("chain4"))
    assert path.duration == pytest.approx(60 + 120 + 180 + 30)
    assert ga.node_duration(load("chain4"), "s4") == 30
    assert ga.node_duration(load("chain4"), "start") == 0


def test_route_duration_counts_the_longest_branch() -> None:
    durations = {r.end: r.duration for r in ga.routes(load("parallel"))}
    assert durations == {"done": pytest.approx(36 * 60), "dropped": pytest.approx(35 * 60)}


# --------------------------------------------------------------------------- hand-offs


def test_hand_offs_pass_through_gateways() -> None:
    links = {(h.source, h.target): h for h in ga.handoffs(load("parallel"))}
    assert set(links) == {("take", "fast_check"), ("take", "slow_check"), ("fast_check", "close"),
                          ("slow_check", "close")}
    assert links["fast_check", "close"].via == ("join", "gate")
    assert links["take", "slow_check"].kinds == "agent->human"


def test_hand_offs_counted_per_route() -> None:
    assert [r.handoff_count for r in ga.routes(load("parallel"))] == [4, 2]
    assert [r.handoff_count for r in ga.routes(load("chain4"))] == [3]
    assert [r.handoff_count for r in ga.routes(load("agent_loop"))] == [2]


def test_interaction_network_counts_and_observed_weights() -> None:
    workflow = load("agent_loop")
    network = ga.interaction_network(workflow)
    assert set(network.edges) == {("drafter", "reviewer"), ("reviewer", "drafter"), ("reviewer", "editors")}
    assert network.edges["reviewer", "drafter"]["handoffs"] == 1
    assert network.nodes["editors"]["kind"] == "human"
    observed = {("drafter", "reviewer"): 120, ("reviewer", "drafter"): 20, ("reviewer", "editors"): 100}
    weighted = ga.interaction_network(workflow, observed=observed)
    assert weighted.edges["drafter", "reviewer"]["weight"] == 120
    assert [(i.from_actor, i.to_actor, i.weight) for i in ga.interactions(workflow, observed)] == [
        ("drafter", "reviewer", 120.0), ("reviewer", "editors", 100.0), ("reviewer", "drafter", 20.0)]


def test_self_hand_offs_do_not_count() -> None:
    procurement = fileio.load(TEMPLATES / "procurement" / "workflow.yaml")
    pairs = {(h.from_actor, h.to_actor) for h in ga.handoffs(procurement)}
    assert all(a != b for a, b in pairs)
    assert ("intake_agent", "vendor_risk_agent") in pairs


# --------------------------------------------------------------------------- loops and hot spots


def test_agent_only_loop_is_found() -> None:
    workflow = load("agent_loop")
    loops = ga.loops(workflow)
    assert [(loop.nodes, loop.agent_only) for loop in loops] == [(("draft", "review", "verdict_gate"), True)]
    assert ga.actor_cycles(ga.interaction_network(workflow)) == (("drafter", "reviewer"),)
    assert ga.back_edges(g.to_networkx(workflow), workflow) == (("verdict_gate", "draft"),)


def test_loop_with_a_person_is_not_agent_only() -> None:
    procurement = fileio.load(TEMPLATES / "procurement" / "workflow.yaml")
    loops = ga.loops(procurement)
    assert loops and not any(loop.agent_only for loop in loops)


def test_hot_spots_rank_by_distinct_upstream_actors() -> None:
    spots = ga.hot_spots(load("parallel"))
    assert spots[0].actor == "closer"
    assert spots[0].upstream == ("quick", "slow")
    assert spots[0].handoffs == 2


# --------------------------------------------------------------------------- reach of agents


def test_blast_radius_stops_at_the_approval() -> None:
    radius = {b.agent: b for b in ga.blast_radius(load("delegation"))}
    reader = radius["reader"]
    assert reader.reach == ("read", "write")
    assert [(t.tool, t.tier, t.at) for t in reader.tools] == [
        ("update_db", "restricted_write", ("write",)),
        ("lookup", "read_only", ("read",)),
    ]
    assert reader.writes == ("db", "ledger")
    assert reader.stopped_by == ("approve",)
    assert reader.max_tier == "restricted_write"
    assert not reader.reaches_end
    payer = radius["payer"]
    assert payer.max_tier == "critical" and payer.writes == ("bank",) and payer.reaches_end


def test_delegation_risk_found_and_approval_blocks_it() -> None:
    risks = ga.delegation_risks(load("delegation"))
    assert [(r.agent, r.delegate, r.agent_tier, r.delegate_tier, r.tools, r.via) for r in risks] == [
        ("reader", "writer", "read_only", "restricted_write", ("update_db",), ("read", "write")),
    ]


def test_pairwise_interactions_grow_quadratically() -> None:
    pairs = ga.pairwise_interactions(load("chain4"))
    assert (pairs.agents, pairs.possible, pairs.one_more_adds) == (4, 6, 4)
    assert pairs.interacting == (("a1", "a2"), ("a2", "a3"), ("a3", "a4"))
    assert [ga.PairwiseInteractions.pairs(n) for n in (2, 4, 7, 10)] == [1, 6, 21, 45]


# --------------------------------------------------------------------------- the graph view


def test_to_networkx_keeps_its_attributes() -> None:
    graph = g.to_networkx(load("parallel"))
    assert isinstance(graph, nx.DiGraph)
    assert graph.nodes["slow_check"]["actor_kind"] == "human"
    assert graph.nodes["take"]["label"] == "take"
    assert graph.edges["gate", "close"]["edge"].probability == 0.7


def test_routes_are_bounded() -> None:
    procurement = fileio.load(TEMPLATES / "procurement" / "workflow.yaml")
    assert len(ga.routes(procurement, limit=2)) == 2
    assert len(ga.routes(procurement)) > 2


def test_broken_workflows_do_not_crash() -> None:
    broken = fileio.loads(
        "metadata: {name: broken}\n"
        "nodes: [{id: start, kind: start}, {id: f, kind: parallel}, {id: a, kind: end}, {id: b, kind: end},\n"
        "        {id: lost, kind: task}]\n"
        "edges: [{from: start, to: f}, {from: f, to: a}, {from: f, to: b}, {from: lost, to: ghost}]\n"
    )
    routes = ga.routes(broken)
    assert len(routes) == 1 and routes[0].nodes == ("start", "f", "a", "b")
    assert ga.success_estimate(broken).probability == 1.0
    assert ga.critical_path(broken).nodes[0] == "start"
    empty = fileio.loads("metadata: {name: empty}\n")
    assert ga.routes(empty) == () and ga.critical_path(empty).nodes == ()
    assert ga.success_estimate(empty).probability == 0.0


def test_analyze_gathers_everything() -> None:
    report = analyze(load("delegation"))
    assert report.success.probability == 1.0
    assert report.routes_complete and len(report.routes) == 1
    assert report.expected_handoffs == 3
    assert report.delegation_risks[0].delegate == "writer"
    data = report.to_dict()
    assert data["routes"]["items"][0]["handoffs"] == 3
    assert data["critical_path"]["duration"] == "0s"


@pytest.mark.parametrize("workflow", template_workflows(), ids=lambda w: w.metadata.name)
def test_lookup_helpers_match_the_model(workflow: Workflow) -> None:
    actors = g.node_actors(workflow)
    assert all(actors[n.id] is workflow.actor_of(n.id) for n in workflow.nodes)
