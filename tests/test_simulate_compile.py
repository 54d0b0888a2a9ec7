"""Compiling a workflow to LangGraph: refused when invalid, one graph for both modes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from studio import fileio
from studio.errors import WorkflowInvalid
from studio.simulate import CompiledWorkflow, compile

FIXTURES = Path(__file__).parent / "fixtures"
SIM = FIXTURES / "simulate"


def test_compile_refuses_a_workflow_with_errors() -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        compile(fileio.load(FIXTURES / "invalid" / "S004.yaml"))
    assert {f.code for f in caught.value.findings if f.is_error} == {"S004"}
    assert "cannot simulate" in str(caught.value)


def test_compile_refuses_overrides_that_name_nothing() -> None:
    workflow = fileio.load(SIM / "chain.yaml")
    workflow.simulation.overrides = {"col": "nobody.duration", "col2": "reader.colour"}
    with pytest.raises(WorkflowInvalid) as caught:
        compile(workflow)
    assert [f.code for f in caught.value.findings] == ["M001", "M001"]


def test_one_langgraph_node_per_workflow_node() -> None:
    workflow = fileio.load(SIM / "parallel.yaml")
    compiled = compile(workflow)
    assert isinstance(compiled, CompiledWorkflow)
    graph = compiled.graph.get_graph()
    names = {node for node in graph.nodes if not node.startswith("__")}
    assert names == {n.id for n in workflow.nodes}
    assert "__relay__fast_gate__join" in graph.nodes  # a decision into a join goes through a relay
    conditional = {(e.source, e.target) for e in graph.edges if e.conditional}
    assert conditional == {("fast_gate", "__relay__fast_gate__join")}
    assert compiled.graph.checkpointer is None
    interactive = compiled.interactive
    assert interactive.checkpointer is not None
    assert all(interactive.nodes[name] is node for name, node in compiled.graph.nodes.items())  # same nodes
    assert "fast_gate" in compiled.draw_mermaid()


def test_base_fixture_compiles_with_a_parallel_join_and_a_decision() -> None:
    compiled = compile(fileio.load(FIXTURES / "valid" / "base.yaml"))
    plan = compiled.plan
    assert plan.nodes["join"].preds == ("enrich", "confirm")
    assert [target for _, target in plan.nodes["route"].branches] == ["review"]
    assert plan.nodes["route"].default == "fork"
    assert plan.nodes["review"].escalation == ((4 * 3600, "directors"),) and plan.nodes["review"].sla == 4 * 3600
    assert plan.tools["payments"].rate_limit == (10, 60.0)


def test_a_path_or_model_can_be_simulated(tmp_path: Path) -> None:
    from studio.simulate import simulate

    for name in ("approval.yaml", "approval.csv"):
        shutil.copy(SIM / name, tmp_path / name)
    results = simulate(tmp_path / "approval.yaml", cases=3, seed=1)
    assert results.kpis["cases"] == 3
    assert [c["case_id"] for c in results.iter_cases()] == ["A-1", "A-2", "A-3"]
    more = simulate(tmp_path / "approval.yaml", cases=7, seed=1)  # cycles through the 5 rows
    assert [c["case_id"] for c in more.iter_cases()][5:] == ["A-1~1", "A-2~1"]
