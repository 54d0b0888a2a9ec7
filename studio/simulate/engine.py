"""The LangGraph engine: cases through the compiled graph, in one asyncio event loop.

This is the reference engine. Every case runs as a coroutine (``graph.ainvoke``, no checkpointer,
no interrupts); human steps and rate-limited tools wait on the shared virtual clock
(:mod:`studio.simulate.clock`). :func:`run_sync` also serves the walkthrough and the gold cases,
which run inside Jupyter's own event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import selectors
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from langgraph.errors import GraphRecursionError

from studio.simulate.clock import CaseClock, Clock
from studio.simulate.compiler import RUNTIME_KEY, CompiledWorkflow, superstep_limit
from studio.simulate.inputs import Spec, arrival_order, arrival_times
from studio.simulate.runtime import CaseRun, CaseStop, Env, SimulatedHumans
from studio.simulate.store import CaseWriter

__all__ = ["graph_config", "invoke", "run_replication", "run_sync"]

T = TypeVar("T")


class _Selector(selectors.DefaultSelector):
    """Skips the ``select(0)`` system call asyncio makes on every loop iteration while callbacks are
    ready. The simulator has no I/O of its own, so nothing is lost: whenever the loop runs out of
    ready callbacks it blocks in a real ``select`` and sees any I/O (a real LLM's reply) then; and
    every 64th zero-timeout poll still goes through."""

    _skipped = 0

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        if timeout == 0 and self._skipped < 64:
            self._skipped += 1
            return []
        self._skipped = 0
        result: list[tuple[Any, int]] = super().select(timeout)
        return result


def _run_loop(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    loop = asyncio.SelectorEventLoop(_Selector())
    try:
        return loop.run_until_complete(factory())
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, also inside Jupyter (which has a running loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_loop(factory)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(_run_loop, factory).result()


def graph_config(run: CaseRun) -> dict[str, Any]:
    """The LangGraph config that hands a case's runtime to the compiled nodes."""
    return {"configurable": {RUNTIME_KEY: run}, "recursion_limit": superstep_limit(run.plan)}


async def invoke(graph: Any, run: CaseRun, row: Mapping[str, Any]) -> None:
    """Run one case through the graph; a stopped case is recorded on ``run``, not raised."""
    try:
        await graph.ainvoke({"case": dict(row)}, graph_config(run))
    except CaseStop:
        pass
    except GraphRecursionError:  # more supersteps than max_turns allows steps: a runaway case
        run.runaway()


async def run_replication(compiled: CompiledWorkflow, spec: Spec, replication: int,
                          on_case: Callable[[], None] | None = None, *,
                          writer: CaseWriter | None = None) -> dict[str, Any]:
    """Run every case of one replication through LangGraph; the payload (plain JSON data).
    ``writer``: where finished cases go (default: a list in memory)."""
    loop = asyncio.get_running_loop()
    clock = Clock(loop)
    plan = compiled.plan
    env = Env(plan, clock=clock, decider=SimulatedHumans(), failures=True, models=compiled.models())
    graph = compiled.graph
    times = arrival_times(spec, replication)
    sink = writer if writer is not None else CaseWriter(replication, spec.cases)

    async def start_case(index: int, cc: CaseClock) -> None:
        run = CaseRun.of_spec(env, spec, replication, index, times, cc)
        try:
            await invoke(graph, run, spec.row(index))
        finally:
            clock.case_finished(cc)
        sink.add(index, run.payload())
        if on_case is not None:
            on_case()

    await clock.drive([(times[i], i) for i in arrival_order(times)], start_case,
                      env.batches.release if env.batches is not None else None)
    return sink.close()
