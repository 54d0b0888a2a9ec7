"""Benchmark: the same loan process in Prosimos and in the studio, side by side, as a user runs them.

    python benchmarks/vs_prosimos.py [--cases 1000] [--seed 0] [--keep DIR]

Model: ``benchmarks/prosimos/loan.bpmn`` with its Prosimos parameters ``loan.json`` (10 tasks, a
rework loop, a parallel split, two decisions with branch probabilities, 4 pools on weekday 09:00-17:00
UTC calendars, exponential arrivals round the clock).

* **Prosimos**: ``prosimos.simulation_engine.run_simulation`` in a fresh Python process (its Python
  API; ``random`` and ``numpy`` seeded with ``--seed`` first), starting at Monday 2024-01-01 00:00 UTC,
  the studio's virtual time zero; it writes its statistics CSV and event log.
* **studio**: ``studio import loan.bpmn --simulation loan.json -o loan.yaml`` then ``studio simulate
  loan.yaml --cases N --seed S --out DIR --no-progress`` (default engine, so the kernel runs and 20
  cases are verified through LangGraph), each a fresh process.

Each tool is timed by the CPU of its whole child processes (``getrusage(RUSAGE_CHILDREN)`` deltas,
user + system) and by wall time; the studio's CPU is the import plus the simulation.

Compared, computed the same way for both tools from their own outputs:

* mean cycle time (arrival to the end of the case): Prosimos' ``cycle_time`` average in its
  statistics CSV (``Overall Scenario Statistics``), the studio's ``cycle_time.mean`` in ``kpis.json``;
* each pool's utilisation = busy time / available calendar time, where busy time is the sum of the
  pool's working durations (Prosimos: ``Worked Time (seconds)`` of the pool's resources in the
  ``Resource Utilization`` table; studio: ``service`` of the pool's steps in ``traces.jsonl``) and
  available time is capacity x the pool calendar's working seconds from virtual time zero to the
  tool's last event (Prosimos: ``completed_at``; studio: the last step's end). The window is the same
  rule for both; each tool's own figure (Prosimos: worked / available from its ``started_at``, its
  first task start; studio: from the first arrival) is printed alongside.

Prints the table, ``agree=True|False`` (cycle time and every utilisation within 10%) and, last,
``ratio=<studio CPU / Prosimos CPU>``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODEL = HERE / "prosimos" / "loan.bpmn"
PARAMS = HERE / "prosimos" / "loan.json"
ZERO = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)  # the studio's virtual time zero (a Monday)
TOLERANCE = 0.10

PROSIMOS_RUN = """
import random, sys
import numpy
random.seed(int(sys.argv[6])); numpy.random.seed(int(sys.argv[6]))
from prosimos.simulation_engine import run_simulation
run_simulation(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], "2024-01-01T00:00:00.000+00:00")
"""


def timed(command: list[str]) -> tuple[float, float]:
    """(CPU seconds of the child and its children, wall seconds); exits when the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def studio_command() -> list[str]:
    script = Path(sys.executable).with_name("studio")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from studio.cli import main; main()"]


def prosimos_sections(path: Path) -> dict[str, list[list[str]]]:
    """The statistics CSV's blocks by title (``Resource Utilization``...); the header lines under ``""``."""
    sections: dict[str, list[list[str]]] = {"": []}
    current = ""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    index = 0
    while index < len(rows):
        row = rows[index]
        if row in ([], [""]):
            if index + 1 < len(rows):
                current = rows[index + 1][0]
                sections[current] = []
                index += 2
                continue
        else:
            sections[current].append(row)
        index += 1
    return sections


def seconds_since_zero(text: str) -> float:
    return (dt.datetime.fromisoformat(text) - ZERO).total_seconds()


def prosimos_figures(stats: Path) -> dict[str, Any]:
    sections = prosimos_sections(stats)
    head = {row[0]: row[1] for row in sections[""] if len(row) >= 2}
    table = sections["Resource Utilization"]
    columns = table[0]
    worked: dict[str, float] = defaultdict(float)
    available: dict[str, float] = defaultdict(float)
    for row in table[1:]:
        item = dict(zip(columns, row, strict=True))
        worked[item["Pool name"]] += float(item["Worked Time (seconds)"])
        available[item["Pool name"]] += float(item["Available Time (seconds)"])
    overall = sections["Overall Scenario Statistics"]
    kpis = {row[0]: dict(zip(overall[0], row, strict=True)) for row in overall[1:]}
    return {
        "cycle_time": float(kpis["cycle_time"]["Average"]),
        "busy": dict(worked),
        "own_utilisation": {pool: worked[pool] / available[pool] for pool in worked},
        "last": seconds_since_zero(head["completed_at"]),
    }


def studio_figures(out: Path, names: dict[str, str]) -> dict[str, Any]:
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    busy: dict[str, float] = defaultdict(float)
    last = 0.0
    with (out / "traces.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            step = json.loads(line)
            last = max(last, step["end"])
            if step["resource"] in names:
                busy[names[step["resource"]]] += step["service"]
    return {
        "cycle_time": kpis["cycle_time"]["mean"],
        "busy": dict(busy),
        "own_utilisation": {names[p]: r["utilisation"] for p, r in kpis["resources"].items() if p in names},
        "last": last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="DIR", help="keep both tools' outputs in DIR (default: a temporary folder)")
    args = parser.parse_args()

    from studio import io  # noqa: PLC0415 - the benchmark's own reading of the imported workflow
    from studio.model import Human  # noqa: PLC0415
    from studio.simulate.clock import WorkCalendar  # noqa: PLC0415

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.keep or scratch)
        work.mkdir(parents=True, exist_ok=True)
        stats, log = work / "prosimos_stats.csv", work / "prosimos_log.csv"
        p_cpu, p_wall = timed([sys.executable, "-c", PROSIMOS_RUN, str(MODEL), str(PARAMS), str(args.cases),
                               str(stats), str(log), str(args.seed)])
        workflow_file, out = work / "loan.yaml", work / "studio"
        i_cpu, i_wall = timed([*studio_command(), "import", str(MODEL), "--simulation", str(PARAMS),
                               "-o", str(workflow_file), "--force"])
        s_cpu, s_wall = timed([*studio_command(), "simulate", str(workflow_file), "--cases", str(args.cases),
                               "--seed", str(args.seed), "--out", str(out), "--no-progress"])

        workflow = io.load(workflow_file)
        pools = {a.id: a for a in workflow.actors if isinstance(a, Human)}
        names = {pool_id: actor.name or pool_id for pool_id, actor in pools.items()}
        prosimos = prosimos_figures(stats)
        studio = studio_figures(out, names)

    def utilisation(figures: dict[str, Any], pool_id: str) -> float:
        actor = pools[pool_id]
        seconds = figures["last"] if actor.calendar is None else WorkCalendar(actor.calendar).open_seconds(
            0.0, figures["last"])
        return float(figures["busy"].get(names[pool_id], 0.0)) / (actor.capacity * seconds)

    rows: list[tuple[str, float, float]] = [("mean cycle time (h)", prosimos["cycle_time"] / 3600,
                                             studio["cycle_time"] / 3600)]
    rows += [(f"utilisation {names[p]}", utilisation(prosimos, p), utilisation(studio, p)) for p in sorted(pools)]
    print(f"model {MODEL.name} + {PARAMS.name}; {args.cases} cases, seed {args.seed}; "
          f"{os.cpu_count()} CPUs, load average {load:.2f} at the start")
    print(f"{'figure':34} {'Prosimos':>10} {'studio':>10} {'difference':>11}")
    agree = True
    for label, theirs, ours in rows:
        difference = (ours - theirs) / theirs
        agree = agree and abs(difference) <= TOLERANCE
        print(f"{label:34} {theirs:10.4f} {ours:10.4f} {difference:+10.1%}")
    print("each tool's own utilisation figure (its own window):")
    for pool_id in sorted(pools):
        name = names[pool_id]
        print(f"  {name:32} {prosimos['own_utilisation'][name]:10.4f} {studio['own_utilisation'][name]:10.4f}")
    print(f"horizon: Prosimos {prosimos['last'] / 86400:.2f} days, studio {studio['last'] / 86400:.2f} days")
    print(f"Prosimos: cpu {p_cpu:.2f} s, wall {p_wall:.2f} s (one process)")
    print(f"studio:   cpu {i_cpu + s_cpu:.2f} s, wall {i_wall + s_wall:.2f} s (import cpu {i_cpu:.2f} s, "
          f"simulate cpu {s_cpu:.2f} s)")
    print(f"ratio_simulate_only={s_cpu / p_cpu:.2f}")
    print(f"agree={agree}")
    print(f"ratio={(i_cpu + s_cpu) / p_cpu:.2f}")


if __name__ == "__main__":
    main()
