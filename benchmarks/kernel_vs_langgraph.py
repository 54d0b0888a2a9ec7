"""Benchmark: the Monte Carlo kernel against the LangGraph engine on the same cases.

    python benchmarks/kernel_vs_langgraph.py [--cases 10000] [--repeats 1]

Runs the 20-node reference workflow of ``simulate_vs_langgraph.py`` (2 approvals on human pools with
SLAs and escalation, a decision, a parallel split, rate-free tools, failures and retries) for
``--cases`` cases in one replication on both engines, in this one process, and compares the per-case
records byte for byte. Each engine's time is the fastest of ``--repeats`` interleaved runs (the
machine may be shared). Also times the verification ``studio simulate`` does by default (20 cases
replayed through LangGraph) and the whole ``simulate()`` call on the kernel (KPIs included).

Prints ``identical=True|False`` and, last, ``speedup=<LangGraph engine time / kernel time>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulate_vs_langgraph import reference_workflow

from studio.simulate import engine, kernel, simulate
from studio.simulate.compiler import compile_workflow
from studio.simulate.inputs import Spec, case_ids
from studio.simulate.verify import replay, sample

ROWS = [{"case_id": f"c{i}", "amount": amount} for i, amount in enumerate([1000, 8000, 3000, 12000, 450])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    workflow = reference_workflow()
    compiled = compile_workflow(workflow)
    spec = Spec(workflow=workflow, rows=ROWS, case_ids=case_ids(ROWS, args.cases), cases=args.cases, seed=2024)

    times: dict[str, float] = {"langgraph": float("inf"), "kernel": float("inf")}
    payloads: dict[str, Any] = {}
    record = sample(args.cases, 1, 20).get(0, [])
    grants: kernel.Grants = {}
    for _ in range(args.repeats):
        started = time.perf_counter()
        payloads["langgraph"] = engine.run_sync(partial(engine.run_replication, compiled, spec, 0))
        times["langgraph"] = min(times["langgraph"], time.perf_counter() - started)
        started = time.perf_counter()
        payloads["kernel"], grants = kernel.run_replication(compiled, spec, 0, record=record)
        times["kernel"] = min(times["kernel"], time.perf_counter() - started)

    steps = sum(len(case["steps"]) for case in payloads["kernel"]["cases"])
    started = time.perf_counter()
    kept = {index: payloads["kernel"]["cases"][index] for index in grants}
    mismatches = replay(compiled, spec, 0, kept, grants)
    verify_time = time.perf_counter() - started
    started = time.perf_counter()
    simulate(workflow, data=ROWS, cases=args.cases, seed=2024)
    whole = time.perf_counter() - started
    identical = json.dumps(payloads["kernel"]) == json.dumps(payloads["langgraph"])

    print(f"workflow: 20 nodes, {args.cases} cases, {steps} node steps ({steps / args.cases:.1f} per case)")
    for name in ("langgraph", "kernel"):
        print(f"{name:>9}: {times[name]:8.2f} s   {times[name] / args.cases * 1e6:8.1f} us/case   "
              f"{times[name] / steps * 1e6:7.1f} us/node step")
    print(f"verification: {len(grants)} cases replayed through LangGraph in {verify_time:.2f} s, "
          f"{len(mismatches)} mismatch(es)")
    print(f"simulate() on the kernel, KPIs and verification included: {whole:.2f} s")
    print(f"identical={identical}")
    print(f"speedup={times['langgraph'] / times['kernel']:.1f}")


if __name__ == "__main__":
    main()
