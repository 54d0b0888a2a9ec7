"""Benchmark: how long the ``studio`` command takes to start, in fresh processes.

    .venv/bin/python benchmarks/startup.py [--runs 5]

Runs ``studio --help`` and ``studio templates`` (plus a bare ``python -c pass`` for the
interpreter's own start-up), each ``--runs`` times in a new process, and prints the best and the
median wall-clock time against the goal (under 0.5 s each), and the heavy libraries each command
imported (none is expected for either).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_SECONDS = 0.5
HEAVY = ("langgraph", "graphviz", "networkx", "pandas", "matplotlib", "scipy")
ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "studio --help": [sys.executable, "-m", "studio.cli", "--help"],
    "studio templates": [sys.executable, "-m", "studio.cli", "templates"],
}
PROBE = (
    "import contextlib, io, json, sys\nfrom studio.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
    "    main(sys.argv[1:])\n"
    "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
)


def timings(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - start)
    return out


def heavy_imports(args: list[str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    loaded = json.loads(done.stdout.splitlines()[-1])
    return [name for name in HEAVY if name in loaded]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"start-up, {args.runs} fresh processes each ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print(f"{'command':<20} {'best':>8} {'median':>8}  goal < {GOAL_SECONDS:.1f} s  heavy imports")
    worst = 0.0
    for name, argv in COMMANDS.items():
        times = timings(argv, args.runs)
        best = min(times)
        heavy = "" if name.startswith("python") else (", ".join(heavy_imports(argv[3:])) or "none")
        verdict = "" if name.startswith("python") else ("ok" if best < GOAL_SECONDS else "SLOW")
        if not name.startswith("python"):
            worst = max(worst, best)
        print(f"{name:<20} {best:>7.3f}s {statistics.median(times):>7.3f}s  {verdict:<12} {heavy}")
    print(f"slowest command (best of {args.runs}): {worst:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
