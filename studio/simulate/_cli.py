"""``studio simulate``: the command-line shell over :func:`studio.simulate.simulate`.

Exit codes: 0 ok; 1 the workflow has error findings, or ``--gold`` passed fewer gold cases than
``--min-pass``; 2 usage or unreadable input (raised as ``StudioError`` / ``LoadError`` to ``main``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from studio.errors import StudioError

__all__ = ["add_arguments", "cmd_simulate"]


class OutputError(StudioError, ValueError):
    """``--out`` names a place results cannot be written to."""


def _fraction(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a fraction such as 0.95 or 95%") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"`{text}` must be between 0 and 1 (or 0% and 100%)")
    return value


def _whole(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a whole number") from None
    if value < minimum:
        bound = "0 or more" if minimum == 0 else f"at least {minimum}"
        raise argparse.ArgumentTypeError(f"`{text}` must be {bound}")
    return value


def _positive(text: str) -> int:
    return _whole(text, 1)


def _count(text: str) -> int:
    return _whole(text, 0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("--data", metavar="CSV", help="case data (default: the workflow's sample data)")
    p.add_argument("--cases", type=_positive, metavar="N", help="cases per replication (default: the data's rows)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (default: simulation.seed)")
    p.add_argument("--scenario", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="what-if overrides (one or more, repeatable), e.g. actors.approvers.capacity=5")
    p.add_argument("--replications", type=_positive, default=1, metavar="R")
    p.add_argument("--workers", type=_positive, default=1, metavar="W",
                   help="worker processes for replications (with --executor dask: the workers of a local cluster)")
    p.add_argument("--executor", choices=("processes", "dask"), default="processes",
                   help="processes (default): worker processes on this machine; dask: a Dask cluster (the `scale` "
                        "extra), local or at --scheduler")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="with --executor dask: run on the cluster whose scheduler is there")
    p.add_argument("--gold", action="store_true", help="also run the gold cases and write gold.json")
    p.add_argument("--min-pass", type=_fraction, default=1.0, metavar="P",
                   help="with --gold: exit 1 when fewer than this share of gold cases pass (default 1.0)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="writes kpis.json, traces.jsonl, cases.jsonl, plots (and progress/ for --resume)")
    p.add_argument("--resume", action="store_true", help="reuse replications already recorded in DIR/progress")
    p.add_argument("--allow-llm", action="store_true",
                   help="let agents with `llm: module:factory` import and call it (runs code named in the file)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--engine", choices=("auto", "kernel", "langgraph"), default="auto",
                   help="auto (default): the Monte Carlo kernel, verified against LangGraph, unless an agent calls "
                        "a real model; langgraph: every case through the LangGraph graph")
    p.add_argument("--verify", type=_count, default=20, metavar="N",
                   help="on the kernel: replay N of the run's cases through LangGraph and refuse to report if any "
                        "differs (default 20; 0 skips)")
    p.add_argument("--event-log", metavar="FILE.csv|FILE.xes",
                   help="also write the simulated cases as an event log (docs/calibration.md)")


def _check_out(out: Path) -> None:
    """Refuse an unusable ``--out`` before simulating: a file, /proc, a read-only or unwritable place."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out `{out}` is a file, not a folder; choose a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"--out `{out}` cannot be made: {exc.strerror or exc}; choose a folder you can write to"
        ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"--out `{out}` is not writable; choose a folder you can write to")


def refused(file: str, exc: Exception, invalid: str) -> int:
    """Exit 1 for a run that was refused: a workflow with error findings (each printed, then ``invalid``),
    or the kernel and LangGraph disagreeing on a verified case."""
    from studio.errors import WorkflowInvalid  # noqa: PLC0415

    if isinstance(exc, WorkflowInvalid):
        for finding in exc.findings:
            print(finding.format(), file=sys.stderr)
        print(f"{file}: {invalid}", file=sys.stderr)
    else:
        print(f"{file}: {exc}", file=sys.stderr)
    return 1


def cmd_simulate(args: argparse.Namespace) -> int:
    from studio import fileio  # noqa: PLC0415
    from studio.errors import WorkflowInvalid  # noqa: PLC0415
    from studio.simulate.runner import EngineMismatch, simulate  # noqa: PLC0415
    from studio.simulate.summary import text as summary_text  # noqa: PLC0415

    workflow = fileio.load(args.file)
    _check_out(Path(args.out))
    if args.event_log is not None:
        from studio.simulate.eventlog import log_format  # noqa: PLC0415

        log_format(args.event_log)  # an unknown suffix is refused before simulating
    try:
        results = simulate(
            workflow, data=args.data, cases=args.cases, seed=args.seed, scenario=args.scenario,
            replications=args.replications, workers=args.workers, progress=not args.no_progress,
            out=args.out, resume=args.resume, allow_llm=args.allow_llm, gold=args.gold,
            engine=args.engine, verify=args.verify, executor=args.executor, scheduler=args.scheduler,
        )
    except (EngineMismatch, WorkflowInvalid) as exc:
        return refused(args.file, exc, "cannot simulate a workflow with error findings")
    baseline = comparison = None
    if args.scenario:  # the same run without the scenario, to compare with (no files written for it)
        from studio.simulate.results import compare  # noqa: PLC0415

        baseline = simulate(
            workflow, data=args.data, cases=args.cases, seed=args.seed, replications=args.replications,
            workers=args.workers, progress=not args.no_progress, allow_llm=args.allow_llm,
            engine=args.engine, verify=args.verify, executor=args.executor, scheduler=args.scheduler,
        )
        comparison = compare(baseline, results)
    print(summary_text(results, baseline, comparison))
    print(f"wrote {args.out}/kpis.json, traces.jsonl, cases.jsonl and plots", file=sys.stderr)
    if args.event_log is not None:
        from studio.simulate.eventlog import write_event_log  # noqa: PLC0415

        print(f"wrote event log {write_event_log(results, args.event_log)}", file=sys.stderr)
    if args.gold and results.gold is not None:
        details = results.gold.summary().splitlines()[1:]  # its pass count is in the table above
        if details:
            print("\nGold cases that differ:\n" + "\n".join(details))
        if results.gold.pass_rate < args.min_pass:
            print(f"gold gate failed: {results.gold.pass_rate:.1%} of gold cases pass, "
                  f"--min-pass is {args.min_pass:.1%}", file=sys.stderr)
            return 1
    return 0
