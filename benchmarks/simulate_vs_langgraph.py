"""Benchmark: the studio simulator against bare LangGraph, and 2 worker processes against one.

    python benchmarks/simulate_vs_langgraph.py [--cases 10000] [--repeats 3] [--skip-workers]

Builds a 20-node reference workflow (2 approvals on human pools, 1 decision, 1 parallel split),
simulates ``--cases`` cases in one replication, and in the same run executes a bare LangGraph
graph (linear, trivial nodes, sync ``invoke``, no checkpointer) for the same number of cases with
the same number of node steps per case as the simulation averaged. Each measurement is repeated
``--repeats`` times, interleaved, and the fastest run counts (the machine may be shared). Then it
times 4 replications with 1 worker against 2 worker processes.

The last line is ``ratio=<simulator time / bare LangGraph time>``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from studio.model import Workflow
from studio.simulate import compile, simulate
from studio.simulate.engine import run_sync

CASES = 10_000


def reference_workflow() -> Workflow:
    """20 nodes: intake, a parallel check, scoring, an amount decision, two approvals, fulfilment."""
    agent = {"duration": {"dist": "lognormal", "mean": "40s", "sd": "15s"}, "tokens_in": 2000, "tokens_out": 400,
             "cost_per_1k_tokens": 0.005, "failures": {"tool": 0.002, "reasoning": 0.002, "handoff": 0.001}}
    nodes: list[dict[str, Any]] = [
        {"id": "start", "kind": "start"},
        {"id": "intake", "kind": "task", "actor": "intake_agent", "outputs": ["category"]},
        {"id": "extract", "kind": "task", "actor": "intake_agent", "tools": ["erp_read"]},
        {"id": "fork", "kind": "parallel"},
        {"id": "vendor_lookup", "kind": "task", "actor": "check_agent", "tools": ["erp_read"]},
        {"id": "vendor_screen", "kind": "task", "actor": "check_agent"},
        {"id": "budget_lookup", "kind": "task", "actor": "check_agent", "tools": ["erp_read"]},
        {"id": "budget_check", "kind": "task", "actor": "check_agent", "validates": True},
        {"id": "checks_done", "kind": "join"},
        {"id": "score", "kind": "task", "actor": "check_agent", "outputs": ["risk"]},
        {"id": "route", "kind": "decision"},
        {"id": "manager_approval", "kind": "approval", "actor": "managers", "sla": "8h", "escalate_to": "leads"},
        {"id": "finance_approval", "kind": "approval", "actor": "finance", "sla": "1d", "escalate_to": "leads"},
        {"id": "auto_check", "kind": "task", "actor": "check_agent"},
        {"id": "create_order", "kind": "task", "actor": "order_agent", "tools": ["erp_write"]},
        {"id": "confirm", "kind": "task", "actor": "order_agent"},
        {"id": "notify", "kind": "task", "actor": "mailer"},
        {"id": "archive", "kind": "task", "actor": "mailer"},
        {"id": "audit", "kind": "task", "actor": "mailer"},
        {"id": "done", "kind": "end", "outcome": "ordered"},
    ]
    chain = [("start", "intake"), ("intake", "extract"), ("extract", "fork"), ("fork", "vendor_lookup"),
             ("vendor_lookup", "vendor_screen"), ("vendor_screen", "checks_done"), ("fork", "budget_lookup"),
             ("budget_lookup", "budget_check"), ("budget_check", "checks_done"), ("checks_done", "score"),
             ("score", "route"), ("manager_approval", "finance_approval"), ("finance_approval", "create_order"),
             ("auto_check", "create_order"), ("create_order", "confirm"), ("confirm", "notify"),
             ("notify", "archive"), ("archive", "audit"), ("audit", "done")]
    edges: list[dict[str, Any]] = [{"from": a, "to": b} for a, b in chain]
    edges += [{"from": "route", "to": "manager_approval", "when": "amount > 5000"},
              {"from": "route", "to": "auto_check", "default": True}]
    human = {"duration": {"dist": "exponential", "mean": "20m"}, "approve_rate": 0.95}
    return Workflow.model_validate({
        "metadata": {"name": "reference", "version": "1.0.0", "owner": "bench@example.com"},
        "actors": [
            {"id": "intake_agent", "kind": "agent", "version": "1.0.0", "owner": "o", "tools": ["erp_read"],
             "behaviour": agent},
            {"id": "check_agent", "kind": "agent", "version": "1.0.0", "owner": "o", "tools": ["erp_read"],
             "behaviour": agent},
            {"id": "order_agent", "kind": "agent", "version": "1.0.0", "owner": "o", "tools": ["erp_write"],
             "behaviour": agent},
            {"id": "mailer", "kind": "system", "behaviour": {"duration": "2s"}},
            {"id": "managers", "kind": "human", "capacity": 4, "behaviour": human},
            {"id": "finance", "kind": "human", "capacity": 3, "behaviour": human},
            {"id": "leads", "kind": "human", "capacity": 2, "behaviour": human},
        ],
        "tools": [{"id": "erp_read", "tier": "read_only", "rate_limit": {"calls": 30, "per": "1m"}},
                  {"id": "erp_write", "tier": "restricted_write"}],
        "nodes": nodes,
        "edges": edges,
        "policies": {"max_turns": 60},
        "simulation": {"seed": 7, "arrivals": {"process": "poisson", "rate": "12/h"}},
    })


def rows(n: int) -> list[dict[str, Any]]:
    return [{"case_id": f"C{i:05d}", "amount": (i * 7919) % 10_000} for i in range(n)]


class _Bare(TypedDict):
    x: int


def _trivial(state: _Bare) -> dict[str, int]:
    return {"x": 1}


async def _atrivial(state: _Bare) -> dict[str, int]:
    return {"x": 1}


def bare_graph(steps: int, asynchronous: bool = False) -> Any:
    """A linear LangGraph graph of ``steps`` trivial nodes, no checkpointer."""
    builder: Any = StateGraph(_Bare)
    for i in range(steps):
        builder.add_node(f"n{i}", _atrivial if asynchronous else _trivial)
    builder.add_edge(START, "n0")
    for i in range(steps - 1):
        builder.add_edge(f"n{i}", f"n{i + 1}")
    builder.add_edge(f"n{steps - 1}", END)
    return builder.compile()


class Bare:
    """Bare LangGraph with exactly ``total_steps`` node steps over ``cases`` invocations."""

    def __init__(self, cases: int, total_steps: int) -> None:
        self.short = total_steps // cases
        self.long_cases = total_steps - self.short * cases
        self.cases = cases
        self.graphs = {n: bare_graph(n) for n in {self.short, self.short + 1}}
        self.agraphs = {n: bare_graph(n, asynchronous=True) for n in {self.short, self.short + 1}}

    def lengths(self) -> list[int]:
        return [self.short + 1] * self.long_cases + [self.short] * (self.cases - self.long_cases)

    def run_sync(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for length in self.lengths():
            self.graphs[length].invoke({"x": 0})
        return time.perf_counter() - wall, time.process_time() - cpu

    def run_async(self) -> tuple[float, float]:
        lengths = self.lengths()
        graphs = self.agraphs

        async def go() -> None:
            for length in lengths:
                await graphs[length].ainvoke({"x": 0})

        wall, cpu = time.perf_counter(), time.process_time()
        run_sync(go)
        return time.perf_counter() - wall, time.process_time() - cpu


def time_simulation(compiled: Any, data: list[dict[str, Any]], cases: int, **kwargs: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    results = simulate(compiled, data=data, cases=cases, seed=7, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, results


def _runs(values: list[tuple[float, float]]) -> str:
    return ", ".join(f"{w:.2f}/{c:.2f}" for w, c in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--cases", type=int, default=CASES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--workers-only", action="store_true", help="only the 1 vs 2 worker processes timing")
    parser.add_argument("--profile", action="store_true", help="cProfile one simulation and print the top 25")
    args = parser.parse_args()

    workflow = reference_workflow()
    data = rows(args.cases)
    compiled = compile(workflow, data=data)
    print(f"reference workflow: {len(workflow.nodes)} nodes, {len(workflow.edges)} edges; {args.cases} cases; "
          f"{os.cpu_count()} CPU(s); times are wall/CPU seconds, best of {args.repeats}")
    time_simulation(compiled, data, min(200, args.cases))  # warm up
    if args.workers_only:
        workers(compiled, data, args.cases)
        return
    sims: list[tuple[float, float]] = []
    bares: list[tuple[float, float]] = []
    abares: list[tuple[float, float]] = []
    bare: Bare | None = None
    steps = 0
    results: Any = None
    for _ in range(args.repeats):
        wall, cpu, results = time_simulation(compiled, data, args.cases)
        sims.append((wall, cpu))
        steps = sum(len(case["steps"]) for payload in results.payloads for case in payload["cases"])
        if bare is None:
            bare = Bare(args.cases, steps)
            bare.run_sync()
        bares.append(bare.run_sync())
        abares.append(bare.run_async())
    assert bare is not None
    sim, base, abase = min(sims), min(bares), min(abares)
    print(f"simulator:               {sim[0]:7.2f} s wall {sim[1]:7.2f} s CPU  for {steps} node steps "
          f"({sim[0] / steps * 1e6:.0f} us/step; runs {_runs(sims)})")
    print(f"bare LangGraph (sync):   {base[0]:7.2f} s wall {base[1]:7.2f} s CPU  same steps, linear, trivial nodes "
          f"({base[0] / steps * 1e6:.0f} us/step; runs {_runs(bares)})")
    print(f"bare LangGraph (async):  {abase[0]:7.2f} s wall {abase[1]:7.2f} s CPU  ainvoke, one case at a time "
          f"({abase[0] / steps * 1e6:.0f} us/step; runs {_runs(abares)})")
    print(f"ratios: simulator / bare sync {sim[0] / base[0]:.3f} wall, {sim[1] / base[1]:.3f} CPU; "
          f"simulator / bare async {sim[0] / abase[0]:.3f} wall, {sim[1] / abase[1]:.3f} CPU")
    kpis = results.kpis
    print(f"simulated KPIs: success {kpis['success_rate']}, cycle p50 {kpis['cycle_time']['p50']} s, "
          f"p95 {kpis['cycle_time']['p95']} s, utilisation managers "
          f"{kpis['resources']['managers']['utilisation']}, finance {kpis['resources']['finance']['utilisation']}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        time_simulation(compiled, data, args.cases)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    if not args.skip_workers:
        workers(compiled, data, args.cases)
    print(f"ratio={sim[0] / base[0]:.3f}")


def workers(compiled: Any, data: list[dict[str, Any]], cases: int) -> None:
    """4 replications of cases/4 each, in 1 process and in 2 worker processes (start-up included)."""
    per_rep = max(200, cases // 4)
    one, _, first = time_simulation(compiled, data, per_rep, replications=4, workers=1)
    two, _, second = time_simulation(compiled, data, per_rep, replications=4, workers=2)
    same = first.kpis_json() == second.kpis_json()
    print(f"replications: 4 x {per_rep} cases: 1 worker {one:.2f} s, 2 workers {two:.2f} s wall "
          f"(incl. worker start-up), speed-up {one / two:.2f}x; identical KPIs: {same}")


if __name__ == "__main__":
    main()
