"""Simulate a workflow in LangGraph: walk one case through by hand, or run many in virtual time.

::

    from studio.simulate import compile, simulate, Walkthrough, compare, sweep

    compiled = compile(workflow)                  # validate, then build the LangGraph graph once
    results = simulate(workflow, replications=5, seed=1)
    results.kpis                                  # plain dict, JSON-ready
    results.cases, results.steps, results.resources        # pandas tables
    results.plot_cycle_times(); results.save("out/")

    what_if = simulate(workflow, scenario=["actors.approvers.capacity=5"], replications=5, seed=1)
    compare(results, what_if)                     # per KPI: difference with a 95% interval
    grid = sweep(workflow, grid={"actors.approvers.capacity": [2, 3, 4]}, replications=5, seed=1)
    grid.table; grid.plot(); grid.save("out/")    # one row per scenario with 95% intervals

    wt = Walkthrough(compiled, case=0); wt.start(); wt.answer("approve")

Semantics: ``docs/simulation.md``. Names are imported on first use (LangGraph is heavy), so
``import studio.simulate`` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studio.simulate.compiler import CompiledWorkflow
    from studio.simulate.compiler import compile_workflow as compile
    from studio.simulate.gold import GoldCase, GoldReport, run_gold
    from studio.simulate.inputs import SimulationError
    from studio.simulate.results import Results, compare
    from studio.simulate.runner import EngineMismatch, simulate
    from studio.simulate.runtime import CaseStop
    from studio.simulate.scenarios import ScenarioError
    from studio.simulate.scenarios import apply as apply_scenario
    from studio.simulate.sweeps import SweepResult, sweep
    from studio.simulate.walkthrough import Walkthrough

_WHERE = {
    "CaseStop": ("runtime", "CaseStop"),
    "CompiledWorkflow": ("compiler", "CompiledWorkflow"),
    "GoldCase": ("gold", "GoldCase"),
    "GoldReport": ("gold", "GoldReport"),
    "Results": ("results", "Results"),
    "ScenarioError": ("scenarios", "ScenarioError"),
    "EngineMismatch": ("runner", "EngineMismatch"),
    "SimulationError": ("inputs", "SimulationError"),
    "Walkthrough": ("walkthrough", "Walkthrough"),
    "apply_scenario": ("scenarios", "apply"),
    "compare": ("results", "compare"),
    "compile": ("compiler", "compile_workflow"),
    "run_gold": ("gold", "run_gold"),
    "simulate": ("runner", "simulate"),
    "SweepResult": ("sweeps", "SweepResult"),
    "sweep": ("sweeps", "sweep"),
}

__all__ = [
    "CaseStop",
    "CompiledWorkflow",
    "EngineMismatch",
    "GoldCase",
    "GoldReport",
    "Results",
    "ScenarioError",
    "SimulationError",
    "SweepResult",
    "Walkthrough",
    "apply_scenario",
    "compare",
    "compile",
    "run_gold",
    "simulate",
    "sweep",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'studio.simulate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"studio.simulate.{where[0]}"), where[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
