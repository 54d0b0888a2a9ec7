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

* mean cycle time, arrival to the end of the case's last task: the studio's ``cycle_time.mean`` in
  ``kpis.json``; Prosimos' ``idle_cycle_time`` average in its statistics CSV (``Overall Scenario
  Statistics``), checked against its event log (per case: the last ``end_time`` minus the first
  ``enable_time``). Prosimos' own ``cycle_time`` KPI is not that: it subtracts the ``idle_time``,
  the hours outside the calendar while a task was in progress (a task started at 16:30 that needs an
  hour ends at 09:30 the next working day; 16 of those 17 hours are idle), so it runs about 8%
  below the elapsed time on this model; it is printed for reference;
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
import importlib.util
import json
import math
import os
import resource
import statistics
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
        "cycle_time": float(kpis["idle_cycle_time"]["Average"]),  # elapsed: arrival to the end (see above)
        "cycle_time_without_idle": float(kpis["cycle_time"]["Average"]),
        "busy": dict(worked),
        "available": dict(available),
        "last": seconds_since_zero(head["completed_at"]),
    }


def prosimos_log_cycle_time(log: Path) -> float:
    """Mean over cases of the last ``end_time`` minus the first ``enable_time`` (the arrival)."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    with log.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            case = row["case_id"]
            enabled, ended = seconds_since_zero(row["enable_time"]), seconds_since_zero(row["end_time"])
            first[case] = min(first.get(case, enabled), enabled)
            last[case] = max(last.get(case, ended), ended)
    return sum(last[c] - first[c] for c in first) / len(first)


def studio_figures(out: Path, names: dict[str, str]) -> list[dict[str, Any]]:
    """Per replication: mean cycle time (cases.jsonl), busy seconds per pool and last end (traces.jsonl)."""
    cycles: dict[int, list[float]] = defaultdict(list)
    with (out / "cases.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            case = json.loads(line)
            if case["status"] == "completed":
                cycles[case["replication"]].append(case["cycle_time"])
    busy: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    last: dict[int, float] = defaultdict(float)
    with (out / "traces.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            step = json.loads(line)
            rep = step["replication"]
            last[rep] = max(last[rep], step["end"])
            if step["resource"] in names:
                busy[rep][names[step["resource"]]] += step["service"]
    return [{"cycle_time": sum(cycles[r]) / len(cycles[r]), "busy": dict(busy[r]), "last": last[r]}
            for r in sorted(cycles)]


_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23}


def spread(values: list[float]) -> float:
    """Half-width of a 95% interval for the mean of ``values`` (0 for one value)."""
    if len(values) < 2:
        return 0.0
    return _T95.get(len(values) - 1, 2.0) * statistics.stdev(values) / math.sqrt(len(values))


def main() -> None:  # noqa: PLR0915 - one straight run: both tools, then the table
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases per run (default 1000)")
    parser.add_argument("--replications", type=int, default=5,
                        help="runs per tool (Prosimos: one process each, seeds S, S+1...; studio: "
                             "`--replications R` of one `studio simulate`); default 5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="DIR", help="keep both tools' outputs in DIR (default: a temporary folder)")
    args = parser.parse_args()
    if importlib.util.find_spec("prosimos") is None:
        sys.exit('Prosimos is not installed: pip install -e ".[bench]" (or pip install "prosimos>=2.1")')

    from studio import fileio  # noqa: PLC0415 - the benchmark's own reading of the imported workflow
    from studio.model import Human  # noqa: PLC0415
    from studio.simulate.clock import WorkCalendar  # noqa: PLC0415

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.keep or scratch)
        work.mkdir(parents=True, exist_ok=True)
        p_cpu = p_wall = 0.0
        prosimos: list[dict[str, Any]] = []
        from_log: list[float] = []
        for run in range(args.replications):
            stats, log = work / f"prosimos_stats_{run}.csv", work / f"prosimos_log_{run}.csv"
            cpu, wall = timed([sys.executable, "-c", PROSIMOS_RUN, str(MODEL), str(PARAMS), str(args.cases),
                               str(stats), str(log), str(args.seed + run)])
            p_cpu, p_wall = p_cpu + cpu, p_wall + wall
            prosimos.append(prosimos_figures(stats))
            from_log.append(prosimos_log_cycle_time(log))
        workflow_file, out = work / "loan.yaml", work / "studio"
        i_cpu, i_wall = timed([*studio_command(), "import", str(MODEL), "--simulation", str(PARAMS),
                               "-o", str(workflow_file), "--force"])
        s_cpu, s_wall = timed([*studio_command(), "simulate", str(workflow_file), "--cases", str(args.cases),
                               "--replications", str(args.replications), "--seed", str(args.seed),
                               "--out", str(out), "--no-progress"])
        workflow = fileio.load(workflow_file)
        pools = {a.id: a for a in workflow.actors if isinstance(a, Human)}
        names = {pool_id: actor.name or pool_id for pool_id, actor in pools.items()}
        studio = studio_figures(out, names)
        studio_own = json.loads((out / "kpis.json").read_text(encoding="utf-8"))["resources"]

    def available(pool_id: str, last: float) -> float:
        actor = pools[pool_id]
        seconds = last if actor.calendar is None else WorkCalendar(actor.calendar).open_seconds(0.0, last)
        return actor.capacity * seconds

    def utilisations(runs: list[dict[str, Any]], pool_id: str) -> tuple[float, list[float]]:
        """Pooled busy / available over the runs, and each run's."""
        busy = [float(r["busy"].get(names[pool_id], 0.0)) for r in runs]
        open_ = [available(pool_id, r["last"]) for r in runs]
        return sum(busy) / sum(open_), [b / o for b, o in zip(busy, open_, strict=True)]

    rows: list[tuple[str, float, list[float], float, list[float]]] = []
    p_cycles = [r["cycle_time"] / 3600 for r in prosimos]
    s_cycles = [r["cycle_time"] / 3600 for r in studio]
    rows.append(("mean cycle time (h)", statistics.fmean(p_cycles), p_cycles, statistics.fmean(s_cycles), s_cycles))
    for pool_id in sorted(pools):
        theirs, p_each = utilisations(prosimos, pool_id)
        ours, s_each = utilisations(studio, pool_id)
        rows.append((f"utilisation {names[pool_id]}", theirs, p_each, ours, s_each))

    print(f"model {MODEL.name} + {PARAMS.name}; {args.replications} run(s) of {args.cases} cases per tool, seed "
          f"{args.seed}; {os.cpu_count()} CPUs, load average {load:.2f} at the start")
    print(f"{'figure':30} {'Prosimos':>17} {'studio':>17} {'difference':>11}")
    agree = True
    for label, theirs, p_each, ours, s_each in rows:
        difference = (ours - theirs) / theirs
        agree = agree and abs(difference) <= TOLERANCE
        print(f"{label:30} {theirs:8.4f} +- {spread(p_each):6.4f} {ours:8.4f} +- {spread(s_each):6.4f} "
              f"{difference:+10.1%}")
    print("(+- : half-width of a 95% interval over the runs; utilisation pooled: busy / available summed over runs)")
    own = {names[p]: 0.0 for p in pools}
    for pool_id in pools:
        worked = sum(r["busy"].get(names[pool_id], 0.0) for r in prosimos)
        own[names[pool_id]] = worked / sum(r["available"].get(names[pool_id], 0.0) for r in prosimos)
    print("each tool's own utilisation figure (Prosimos from its first task start, studio from the first arrival):")
    for pool_id in sorted(pools):
        print(f"  {names[pool_id]:28} {own[names[pool_id]]:8.4f} {studio_own[pool_id]['utilisation']:8.4f}")
    print(f"Prosimos cycle time from its event logs {statistics.fmean(from_log) / 3600:.4f} h; its own `cycle_time` "
          f"KPI (idle time inside tasks taken out) "
          f"{statistics.fmean(r['cycle_time_without_idle'] for r in prosimos) / 3600:.4f} h")
    print(f"Prosimos: cpu {p_cpu:.2f} s, wall {p_wall:.2f} s ({args.replications} process(es))")
    print(f"studio:   cpu {i_cpu + s_cpu:.2f} s, wall {i_wall + s_wall:.2f} s (import cpu {i_cpu:.2f} s, "
          f"simulate cpu {s_cpu:.2f} s)")
    print(f"ratio_simulate_only={s_cpu / p_cpu:.2f}")
    print(f"agree={agree}")
    print(f"ratio={(i_cpu + s_cpu) / p_cpu:.2f}")


if __name__ == "__main__":
    main()
