"""Benchmark: load, validate and analyse a 10,000-node workflow file (goal: under 3 s together).

    .venv/bin/python benchmarks/load_large.py [--nodes 10000] [--runs 3] [--profile]

Writes the generated workflow of ``analyze_render.py`` as YAML to a temporary folder, then prints
the median time of ``studio.load`` (read, parse, check limits, fit the model), ``validate`` and
``analyze`` over several runs, and their sum against the goal. ``--profile`` prints the top of a
cProfile of one load+validate+analyse instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analyze_render import make_workflow

from studio import fileio
from studio.analysis import analyze
from studio.validate import validate

GOAL_SECONDS = 3.0


def _once(path: Path) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    workflow = fileio.load(path)
    t1 = time.perf_counter()
    validate(workflow)
    t2 = time.perf_counter()
    analyze(workflow)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    workflow = make_workflow(args.nodes)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.yaml"
        fileio.save(workflow, path)
        size = path.stat().st_size
        print(f"{len(workflow.nodes)} nodes, {len(workflow.edges)} edges, {size / 1e6:.1f} MB of YAML")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(_once, path)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
            return 0
        runs = [_once(path) for _ in range(args.runs)]
    load_s, validate_s, analyse_s = (statistics.median(column) for column in zip(*runs, strict=True))
    total = load_s + validate_s + analyse_s
    print(f"load      {load_s:7.3f} s")
    print(f"validate  {validate_s:7.3f} s")
    print(f"analyse   {analyse_s:7.3f} s")
    verdict = "within" if total <= GOAL_SECONDS else "OVER"
    print(f"total     {total:7.3f} s  ({verdict} the {GOAL_SECONDS:.0f} s goal; ratio {total / GOAL_SECONDS:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
