"""Optional real LLM behind an agent, tested with LangChain's fake chat model (no network)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from studio import fileio
from studio.simulate import Walkthrough, apply_scenario, compile, simulate
from studio.simulate.llm import LLMError

FIXTURES = Path(__file__).parent / "fixtures" / "simulate"
REPLIES = ['{"category": "travel", "risk": 0.25}', "I think it is travel", '{"category": "office", "risk": 0.9}']


@pytest.fixture
def llm_workflow(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    module = types.ModuleType("studio_test_llms")
    module.make = lambda: FakeListChatModel(responses=list(REPLIES))  # type: ignore[attr-defined]
    module.broken = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "studio_test_llms", module)
    return apply_scenario(fileio.load(FIXTURES / "approval.yaml"), [
        "actors.intake_agent.llm=studio_test_llms:make", "nodes.intake.outputs=[category, risk]",
    ])


def test_agent_outputs_come_from_the_chat_model(llm_workflow) -> None:  # type: ignore[no-untyped-def]
    wt = Walkthrough(compile(llm_workflow, allow_llm=True), case={"case_id": "w", "amount": 10})
    wt.start()
    assert wt.state["case"]["category"] == "travel" and wt.state["case"]["risk"] == 0.25
    assert wt.outcome == "paid"


def test_a_reply_that_is_not_json_is_a_reasoning_failure_retried(llm_workflow) -> None:  # type: ignore[no-untyped-def]
    results = simulate(llm_workflow, cases=2, seed=1, allow_llm=True)
    intakes = [s for s in results.iter_steps() if s["node"] == "intake"]
    assert [s["attempts"] for s in intakes[:2]] == [1, 2]  # the second case got the non-JSON reply first
    assert results.kpis["failures"]["retries"] >= 1
    assert results.kpis["tokens"]["in_total"] >= 3 * 500  # no usage metadata: the behaviour's tokens


def test_without_allow_llm_nothing_is_imported(llm_workflow, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delitem(sys.modules, "studio_test_llms")
    results = simulate(llm_workflow, cases=2, seed=1)  # behaviour model, no import
    assert results.kpis["status"]["completed"] + results.kpis["status"]["failed"] == 2
    with pytest.raises(LLMError, match="cannot import"):
        compile(llm_workflow, allow_llm=True).models()


def test_a_factory_that_is_not_a_model_is_refused(llm_workflow) -> None:  # type: ignore[no-untyped-def]
    bad = apply_scenario(llm_workflow, ["actors.intake_agent.llm=studio_test_llms:broken"])
    with pytest.raises(LLMError, match="no callable"):
        compile(bad, allow_llm=True).models()


def test_agents_calling_a_model_run_on_langgraph_and_the_kernel_refuses_them(llm_workflow) -> None:  # type: ignore[no-untyped-def]
    from studio.simulate import SimulationError

    assert simulate(llm_workflow, cases=2, seed=1, allow_llm=True).kpis["engine"] == {"name": "langgraph",
                                                                                       "verified": 0}
    with pytest.raises(SimulationError, match="only the LangGraph engine"):
        simulate(llm_workflow, cases=2, seed=1, allow_llm=True, engine="kernel")
    assert simulate(llm_workflow, cases=2, seed=1).kpis["engine"]["name"] == "kernel"  # without allow_llm
