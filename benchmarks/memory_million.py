"""Benchmark: peak memory of a very large Monte Carlo run, as a user runs it.

    python benchmarks/memory_million.py [--cases 1000000] [--template maintenance_work_order] [--keep]

Runs ``studio simulate templates/TEMPLATE/workflow.yaml --cases N --out TMP`` in a child process
(kernel engine, 20 cases verified against LangGraph, every output file and plot written) and
prints its wall time, CPU time, peak resident memory (the child's ``ru_maxrss``) and the size of
what it wrote. Cases stream to ``progress/rep-0000.jsonl`` as they finish and the KPIs and files
are computed from there, so memory stays flat as the case count grows; the last line is
``peak_mb=<peak resident memory in MiB>`` (goal: under 1024 for 1,000,000 cases).

The default template is the one whose queues stay stable at its arrival rate over a long horizon
(the others are mapped for a busy week: over a million cases their queues grow without bound, and
memory with the cases waiting in them, which no simulator can avoid).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--template", default="maintenance_work_order")
    parser.add_argument("--keep", action="store_true", help="keep the output folder (printed)")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="studio-memory-"))
    workflow = ROOT / "templates" / args.template / "workflow.yaml"
    command = [sys.executable, "-m", "studio.cli", "simulate", str(workflow), "--cases", str(args.cases),
               "--out", str(out), "--no-progress"]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        print(completed.stdout, completed.stderr, sep="\n")
        raise SystemExit(f"studio simulate exited {completed.returncode}")
    sizes = {path.name: path.stat().st_size for path in sorted(out.rglob("*")) if path.is_file()}
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    print(f"template {args.template}: {args.cases:,} cases in one replication (kernel, 20 verified)")
    print(f"wall {wall:.1f} s   cpu {usage.ru_utime + usage.ru_stime:.1f} s   "
          f"{(usage.ru_utime + usage.ru_stime) / args.cases * 1e6:.0f} us cpu/case")
    for name, size in sizes.items():
        print(f"  {name:<24} {size / 2**20:10.1f} MiB")
    if args.keep:
        print(f"kept {out}")
    else:
        shutil.rmtree(out)
    print(f"peak_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()
