"""Benchmark: validate, analyze and render a 1,000-node workflow.

    .venv/bin/python benchmarks/analyze_render.py [--nodes 1000] [--runs 5] [--svg]

Generates a deterministic, valid workflow (a long chain of agent steps with decisions, parallel
sections, approvals with send-back loops, about 20 actors), then prints the median time of
``validate``, ``analyze`` and ``to_dot`` (DOT text) over several runs, their sum against the goal
(under 1 s together), and with ``--svg`` the time Graphviz's ``dot`` takes to lay the DOT out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from studio.analysis import analyze
from studio.model import Workflow
from studio.render import to_dot, to_svg
from studio.validate import validate

GOAL_SECONDS = 1.0
AGENTS = 14
HUMANS = 4
SYSTEMS = 2


def make_workflow(target_nodes: int = 1000) -> Workflow:  # noqa: C901, PLR0915 - one generator of the benchmark's workflow, read top to bottom
    """A valid workflow of about ``target_nodes`` nodes, the same every time."""
    agents = [f"agent_{i:02d}" for i in range(AGENTS)]
    humans = [f"pool_{i}" for i in range(HUMANS)]
    systems = [f"system_{i}" for i in range(SYSTEMS)]
    tools = [
        {"id": "read_a", "tier": "read_only"},
        {"id": "read_b", "tier": "read_only"},
        {"id": "write_a", "tier": "restricted_write", "writes": ["store"]},
        {"id": "pay", "tier": "critical", "writes": ["bank"]},
    ]
    actors: list[dict[str, Any]] = []
    for i, agent in enumerate(agents):
        actors.append({
            "id": agent, "kind": "agent", "version": "1.0.0", "owner": "bench@example.com",
            "tools": ["read_a", "read_b", "write_a", "pay"] if i % 5 == 0 else ["read_a", "read_b", "write_a"],
            "behaviour": {"duration": f"{10 + i}s", "failures": {"tool": 0.0005, "reasoning": 0.0005}},
        })
    for i, pool in enumerate(humans):
        actors.append({"id": pool, "kind": "human", "role": f"role_{i}", "capacity": 3,
                       "behaviour": {"duration": f"{5 + i}m", "approve_rate": 0.9, "send_back_rate": 0.05}})
    for system in systems:
        actors.append({"id": system, "kind": "system", "tools": ["read_a"]})

    nodes: list[dict[str, Any]] = [{"id": "start", "kind": "start"}]
    edges: list[dict[str, Any]] = []
    counter = 0

    def new_id(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}_{counter:04d}"

    def task(actor_index: int, tool_pick: int) -> str:
        node_id = new_id("t")
        actor = agents[actor_index % AGENTS]
        allowed = ["read_a", "read_b", "write_a"] + (["pay"] if (actor_index % AGENTS) % 5 == 0 else [])
        nodes.append({"id": node_id, "kind": "task", "actor": actor, "tools": [allowed[tool_pick % len(allowed)]]})
        return node_id

    last = "start"
    step = 0
    while len(nodes) < target_nodes - 2:
        block = step % 4
        step += 1
        if block == 0:  # a short chain of agent steps
            for _ in range(3):
                node = task(step + len(nodes), len(nodes))
                edges.append({"from": last, "to": node})
                last = node
        elif block == 1:  # an approval (the first one gates everything after) with a send-back loop
            approval = new_id("approve")
            gate = new_id("gate")
            pool = humans[step % HUMANS]
            nodes.append({"id": approval, "kind": "approval", "actor": pool, "sla": "4h",
                          "escalate_to": humans[(step + 1) % HUMANS]})
            nodes.append({"id": gate, "kind": "decision"})
            edges.append({"from": last, "to": approval})
            edges.append({"from": approval, "to": gate})
            edges.append({"from": gate, "to": last, "when": f'{approval}_decision == "send_back"', "probability": 0.05})
            after = task(step, 0)
            edges.append({"from": gate, "to": after, "default": True})
            last = after
        elif block == 2:  # a parallel section with three branches
            fork, join = new_id("fork"), new_id("join")
            nodes.append({"id": fork, "kind": "parallel"})
            edges.append({"from": last, "to": fork})
            branch_ends = []
            for b in range(3):
                first = task(step + b, b)
                second = task(step + b + 3, b + 1)
                edges.append({"from": fork, "to": first})
                edges.append({"from": first, "to": second})
                branch_ends.append(second)
            nodes.append({"id": join, "kind": "join"})
            for end in branch_ends:
                edges.append({"from": end, "to": join})
            last = join
        else:  # a decision with an optional extra step, and a system check
            decision = new_id("choose")
            nodes.append({"id": decision, "kind": "decision"})
            edges.append({"from": last, "to": decision})
            extra = task(step + 7, 2)
            check = new_id("check")
            nodes.append({"id": check, "kind": "task", "actor": systems[step % SYSTEMS], "tools": ["read_a"]})
            edges.append({"from": decision, "to": extra, "when": f"amount > {step * 10}"})
            edges.append({"from": decision, "to": check, "default": True})
            edges.append({"from": extra, "to": check})
            last = check
    nodes.append({"id": "done", "kind": "end", "outcome": "completed"})
    nodes.append({"id": "stopped", "kind": "end", "outcome": "stopped"})
    stop_gate = new_id("final")
    nodes.insert(len(nodes) - 2, {"id": stop_gate, "kind": "decision"})
    edges.append({"from": last, "to": stop_gate})
    edges.append({"from": stop_gate, "to": "stopped", "when": "amount < 0"})
    edges.append({"from": stop_gate, "to": "done", "default": True})
    return Workflow.model_validate({
        "metadata": {"name": "benchmark", "version": "1.0.0", "owner": "bench@example.com"},
        "actors": actors,
        "tools": tools,
        "data_sources": [{"id": "store"}, {"id": "bank"}],
        "nodes": nodes,
        "edges": edges,
        "policies": {"approval_sla": "4h", "escalate_to": humans[0], "max_repeats": 3},
    })


CPU: list[float] = []


def median_time(func: Callable[[], object], runs: int) -> tuple[float, object]:
    """Median wall time of ``runs`` calls; the median CPU time of this process goes to ``CPU``
    (steadier when other work shares the machine)."""
    times, cpu = [], []
    result: object = None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = func()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    CPU.append(statistics.median(cpu))
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--svg", action="store_true", help="also time Graphviz laying out the DOT as SVG")
    args = parser.parse_args(argv)

    workflow = make_workflow(args.nodes)
    actors = len(workflow.actors)
    print(f"workflow: {len(workflow.nodes)} nodes, {len(workflow.edges)} edges, {actors} actors; "
          f"median of {args.runs} runs")
    t_validate, findings = median_time(lambda: validate(workflow), args.runs)
    errors = [f for f in findings if f.is_error] if isinstance(findings, list) else []
    if errors:
        print(f"the generated workflow has {len(errors)} error finding(s), e.g. {errors[0].format()}")
        return 1
    t_analyze, report = median_time(lambda: analyze(workflow), args.runs)
    t_dot, dot = median_time(lambda: to_dot(workflow), args.runs)
    total = t_validate + t_analyze + t_dot
    c_validate, c_analyze, c_dot = CPU[-3:]
    print(f"{'':9} {'wall':>8}     {'cpu':>8}")
    print(f"validate  {t_validate * 1000:8.1f} ms  {c_validate * 1000:8.1f} ms  "
          f"({len(findings) if isinstance(findings, list) else 0} findings, none of them errors)")
    print(f"analyze   {t_analyze * 1000:8.1f} ms  {c_analyze * 1000:8.1f} ms  "
          f"({len(getattr(report, 'routes', ()))} routes listed)")
    print(f"to_dot    {t_dot * 1000:8.1f} ms  {c_dot * 1000:8.1f} ms  ({len(str(dot)):,} characters of DOT)")
    verdict = "within" if total < GOAL_SECONDS else "OVER"
    cpu_total = c_validate + c_analyze + c_dot
    print(f"total     {total * 1000:8.1f} ms  {cpu_total * 1000:8.1f} ms  {verdict} the goal of "
          f"{GOAL_SECONDS * 1000:.0f} ms (wall {total / GOAL_SECONDS:.2f}x, cpu {cpu_total / GOAL_SECONDS:.2f}x of it)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} on {os.cpu_count()} cores (wall times grow when the machine is shared)")
    if args.svg:
        t_svg, _ = median_time(lambda: to_svg(workflow), 1)
        print(f"dot -Tsvg {t_svg * 1000:8.1f} ms  (Graphviz layout; not part of the goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
