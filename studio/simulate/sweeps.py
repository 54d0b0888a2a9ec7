"""What-if sweeps: a grid of scenarios, each run with R replications, in one table with 95% intervals.

::

    from studio.simulate import sweep

    result = sweep(workflow, grid={"actors.approvers.capacity": [2, 3, 4]}, replications=5, seed=1)
    result.table            # pandas DataFrame: one row per scenario
    result.plot()           # matplotlib Figure: success rate and cycle time per scenario, with intervals
    result.save("out/")     # out/sweep.csv and out/sweep.png

The grid is the cartesian product of ``KEY=VALUE`` overrides (:mod:`studio.simulate.scenarios`),
keys in the order given. Every (scenario, replication) pair is one task, and all of them go to the
executor at once (worker processes, or Dask: :mod:`studio.simulate._dask`), so a sweep keeps every
worker busy. A task reduces its replication to the replication's scalar KPIs where it ran (only a
few numbers travel back, plus the cases sampled for verification, which the parent replays through
LangGraph as ``simulate`` does). Each scenario's figures are the mean over its replications with a
95% t interval (:func:`studio.simulate._stats.t975`, as :func:`~studio.simulate.results.compare`),
so the same seed gives the same ``sweep.csv``, byte for byte, whatever the executor and worker count.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from studio.simulate._stats import mean, sig, t975
from studio.simulate.scenarios import ScenarioError

__all__ = ["SweepResult", "add_arguments", "cmd_sweep", "parse_grid", "sweep"]

METRICS = ("success_rate", "cycle_time_mean", "cycle_time_p95", "cost_per_case")
"""The per-replication KPIs each row reports (and ``utilisation[POOL]`` for every pool)."""

_COLUMNS = {"success_rate": "success_rate", "cycle_time_mean": "cycle_time_mean_s",
            "cycle_time_p95": "cycle_time_p95_s", "cost_per_case": "cost_per_case"}
_SHOWN = 0.05
_EXAMPLE = "e.g. --grid actors.approvers.capacity=2,3,4"


# --------------------------------------------------------------------------- the grid


def _split(text: str) -> list[str]:
    """``"1,[a, b],3"`` -> ``["1", "[a, b]", "3"]``: commas inside brackets or quotes stay."""
    parts: list[str] = []
    depth = 0
    quote = ""
    current: list[str] = []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def parse_grid(grid: Iterable[str] | Mapping[str, Any]) -> dict[str, list[str]]:
    """``["KEY=V1,V2", ...]`` (or ``{KEY: [V1, V2]}``) -> ``{KEY: ["V1", "V2"]}``; ScenarioError
    naming the item and the fix when one is not ``KEY=V1,V2,...``."""
    items: list[tuple[str, list[str]]] = []
    if isinstance(grid, Mapping):
        for key, values in grid.items():
            listed = [values] if isinstance(values, (str, int, float, bool)) or values is None else list(values)
            items.append((str(key).strip(), [_text(v) for v in listed]))
    else:
        for text in [grid] if isinstance(grid, str) else grid:
            key, sep, values = str(text).partition("=")
            if not sep or not key.strip():
                raise ScenarioError(f"--grid `{text}` must be written KEY=V1,V2,... ({_EXAMPLE})")
            items.append((key.strip(), _split(values)))
    if not items:
        raise ScenarioError(f"a sweep needs at least one --grid KEY=V1,V2,... ({_EXAMPLE})")
    out: dict[str, list[str]] = {}
    for key, values in items:
        if any(not part.strip() for part in key.split(".")):
            raise ScenarioError(f"--grid key `{key}` has an empty part ({_EXAMPLE})")
        if key in out:
            raise ScenarioError(f"--grid `{key}` is given twice; list all its values in one --grid ({_EXAMPLE})")
        if not values or any(value == "" for value in values):
            raise ScenarioError(f"--grid `{key}` has an empty value; write its values separated by commas, "
                                f"with none empty ({_EXAMPLE})")
        if len(set(values)) != len(values):
            raise ScenarioError(f"--grid `{key}` lists a value twice")
        out[key] = values
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value).strip()


def scenarios(grid: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Every combination of the grid's values as ``KEY=VALUE`` overrides, the first key slowest."""
    keys = list(grid)
    return [[f"{key}={value}" for key, value in zip(keys, combination, strict=True)]
            for combination in itertools.product(*(grid[key] for key in keys))]


# --------------------------------------------------------------------------- tasks


def _measure(compiled: Any, spec: Any, job: Any, replication: int,
             on_case: Callable[[], None] | None = None) -> tuple[int, dict[str, float | None], Any, Any]:
    """One replication reduced to its scalar KPIs, with what the parent needs to verify it."""
    from studio.simulate.results import Results  # noqa: PLC0415
    from studio.simulate.runner import _replicate  # noqa: PLC0415

    payload, grants, kept = _replicate(compiled, spec, job, replication, on_case=on_case)
    flat = Results(compiled, [payload], {}).replication_kpis[0]
    return replication, flat, grants, kept


def _remote(spec: Any, job: Any, key: str, replication: int,
            report: tuple[str, int] | None = None) -> tuple[int, dict[str, float | None], Any, Any]:
    """A task on a Dask worker or a worker process: the workflow compiled once per worker; on Dask,
    its finished cases are counted (``report``: the run's progress topic and this scenario's position)."""
    from studio.simulate._dask import compiled_for, reporter  # noqa: PLC0415

    return _measure(compiled_for(spec, key), spec, job, replication, reporter(report, replication))


_WORK: list[tuple[Any, Any, str]] = []


def _init_pool(work: list[tuple[Any, Any, str]]) -> None:
    _WORK[:] = work


def _pool_task(task: tuple[int, int]) -> tuple[int, tuple[int, dict[str, float | None], Any, Any]]:
    position, replication = task
    spec, job, key = _WORK[position]
    return position, _remote(spec, job, key, replication)


# --------------------------------------------------------------------------- the result


@dataclass
class SweepResult:
    """One row per scenario (``rows``, plain data; ``table`` as a DataFrame), and how it was run."""

    workflow: str
    keys: list[str]
    rows: list[dict[str, Any]]
    columns: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    currency: str | None = None
    pools: list[str] = field(default_factory=list)
    pool_names: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"<SweepResult {self.workflow}: {len(self.rows)} scenario(s) over {', '.join(self.keys)}, "
                f"{self.settings.get('replications')} replication(s) x {self.settings.get('cases')} case(s)>")

    def _repr_html_(self) -> str:
        html: str = self.table.to_html(index=False, na_rep="")
        return html

    @property
    def table(self) -> Any:
        """One row per scenario (pandas DataFrame, the columns of ``sweep.csv``)."""
        import pandas as pd  # noqa: PLC0415

        return pd.DataFrame(self.rows, columns=self.columns)

    def csv(self) -> str:
        """``sweep.csv``: fixed columns, numbers rounded to 6 significant digits, empty for none."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if row[c] is None else repr(row[c]) if isinstance(row[c], float) else row[c]
                             for c in self.columns])
        return buffer.getvalue()

    def text(self) -> str:
        """The table an analyst reads: values, success rate with its interval, times in hours or days."""
        from studio.simulate.summary import duration, money  # noqa: PLC0415

        def pct(row: Mapping[str, Any], column: str) -> str:
            value = row[column]
            if value is None:
                return "–"
            low, high = row[f"{column}_ci_low"], row[f"{column}_ci_high"]
            interval = f" [{low:.1%}, {high:.1%}]" if low is not None and high is not None else ""
            return f"{value:.1%}{interval}"

        shown = [p for p in self.pools  # a pool idle in every scenario is left to sweep.csv
                 if any((row[f"utilisation[{p}]"] or 0.0) >= _SHOWN for row in self.rows)]
        header = [*self.keys, "success (95% interval)", "cycle mean", "cycle p95", "cost/case",
                  *(f"busy: {self.pool_names.get(p, p)}" for p in shown)]
        lines = [header]
        for row in self.rows:
            lines.append([
                *(row[key] for key in self.keys), pct(row, "success_rate"), duration(row["cycle_time_mean_s"]),
                duration(row["cycle_time_p95_s"]), money(row["cost_per_case"], self.currency),
                *("–" if row[f"utilisation[{p}]"] is None else f"{row[f'utilisation[{p}]']:.0%}" for p in shown),
            ])
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        out = [f"{self.workflow}: {len(self.rows)} scenario(s) x {self.settings.get('replications')} replication(s) "
               f"x {self.settings.get('cases')} case(s), seed {self.settings.get('seed')}"]
        for number, line in enumerate(lines):
            out.append("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
            if number == 0:
                out.append("  ".join("-" * width for width in widths))
        out.append("intervals: 95% t interval over replications (none with one replication); busy: share of "
                   f"working time; pools under {_SHOWN:.0%} busy in every scenario are in sweep.csv only")
        return "\n".join(out)

    def plot(self) -> Any:
        """Success rate and mean cycle time per scenario, with their 95% intervals; every line labelled."""
        from matplotlib.figure import Figure  # noqa: PLC0415

        first, rest = self.keys[0], self.keys[1:]
        values = list(dict.fromkeys(row[first] for row in self.rows))
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows:
            label = ", ".join(f"{key}={row[key]}" for key in rest) if rest else "all other settings as mapped"
            groups.setdefault(label, []).append(row)
        figure = Figure(figsize=(8, 6.5))
        top, bottom = figure.subplots(2, 1, sharex=True)
        panels = ((top, "success_rate", 100.0, "success rate (%)"),
                  (bottom, "cycle_time_mean_s", 1 / 3600.0, "mean cycle time (hours, virtual)"))
        for axes, column, scale, ylabel in panels:
            for label, rows in groups.items():
                xs, ys, errors = _series(rows, first, values, column, scale)
                axes.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=label)
            axes.set_ylabel(ylabel)
            axes.grid(alpha=0.3)
            axes.legend(title=", ".join(rest) if rest else None, fontsize="small")
        bottom.set_xticks(range(len(values)))
        bottom.set_xticklabels(values)
        bottom.set_xlabel(first)
        top.set_title(f"{self.workflow}: what-if sweep (95% intervals over replications)")
        figure.tight_layout()
        return figure

    def save(self, directory: str | os.PathLike[str], *, plots: bool = True) -> list[Path]:
        """Write ``sweep.csv`` and (with matplotlib) ``sweep.png``."""
        from studio.fileio import atomic_write  # noqa: PLC0415

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        written = [atomic_write(folder / "sweep.csv", self.csv())]
        if plots:
            try:
                import matplotlib  # noqa: F401, PLC0415
            except ImportError:  # pragma: no cover - optional extra
                return written
            self.plot().savefig(folder / "sweep.png", dpi=100)
            written.append(folder / "sweep.png")
        return written


def _series(rows: Sequence[Mapping[str, Any]], key: str, values: list[str], column: str,
            scale: float) -> tuple[list[int], list[float], list[list[float]]]:
    xs: list[int] = []
    ys: list[float] = []
    below: list[float] = []
    above: list[float] = []
    for row in rows:
        value = row[column]
        if value is None:
            continue
        low, high = row[f"{column}_ci_low"], row[f"{column}_ci_high"]
        xs.append(values.index(row[key]))
        ys.append(value * scale)
        below.append((value - low) * scale if low is not None else 0.0)
        above.append((high - value) * scale if high is not None else 0.0)
    return xs, ys, [below, above]


def _interval(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """Mean and 95% t interval of one KPI over replications (no interval with fewer than two)."""
    centre = mean(values)
    if centre is None or len(values) < 2:
        return centre, None, None
    variance = math.fsum((x - centre) ** 2 for x in values) / (len(values) - 1)
    half = t975(len(values) - 1) * math.sqrt(variance / len(values))
    return centre, centre - half, centre + half


def _row(grid_values: Mapping[str, str], flats: Sequence[Mapping[str, float | None]],
         pools: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = dict(grid_values)
    for metric in (*METRICS, *(f"utilisation[{p}]" for p in pools)):
        column = _COLUMNS.get(metric, metric)
        values: list[float] = [v for v in (flat.get(metric) for flat in flats) if v is not None]
        centre, low, high = _interval(values)
        row[column], row[f"{column}_ci_low"], row[f"{column}_ci_high"] = sig(centre), sig(low), sig(high)
    return row


# --------------------------------------------------------------------------- the run


@dataclass
class _Scenario:
    values: dict[str, str]
    compiled: Any
    spec: Any
    job: Any
    key: str
    flats: dict[int, dict[str, float | None]] = field(default_factory=dict)


def _prepare(model: Any, table: Any, changes: list[str], values: dict[str, str],
             options: Mapping[str, Any]) -> _Scenario:
    """One scenario compiled and specified (``options``: cases, seed, replications, engine, verify, allow_llm)."""
    cases, seed, allow_llm = options["cases"], options["seed"], options["allow_llm"]
    from studio.simulate.compiler import compile_workflow  # noqa: PLC0415
    from studio.simulate.inputs import Spec  # noqa: PLC0415
    from studio.simulate.runner import _engine_for, _Job  # noqa: PLC0415
    from studio.simulate.scenarios import apply  # noqa: PLC0415
    from studio.simulate.verify import sample  # noqa: PLC0415

    try:
        scenario = apply(model, changes)
    except ScenarioError as exc:
        raise ScenarioError(f"--grid: {exc}") from None
    compiled = compile_workflow(scenario, data=table, allow_llm=allow_llm)
    chosen = _engine_for(compiled, options["engine"])
    spec = Spec.of(scenario, table, compiled, cases=cases, seed=seed, allow_llm=allow_llm, scenario=changes)
    key = spec.fingerprint()  # also the workers' compile cache key: the expanded workflow is in it
    records = sample(spec.cases, options["replications"], options["verify"]) if chosen == "kernel" else {}
    return _Scenario(values, compiled, spec, _Job(chosen, records, None, key), key)


def _results(runs: list[_Scenario], replications: int, where: tuple[str, int, str | None],
             on_cases: Callable[[int], None]) -> Iterator[tuple[int, tuple[int, dict[str, float | None], Any, Any]]]:
    """(scenario position, measured replication) for every pair, as they finish. ``where``: executor,
    workers, scheduler; ``on_cases(n)`` as cases finish, in this process or on Dask (with worker
    processes the caller counts whole replications)."""
    executor, workers, scheduler = where
    tasks = [(position, replication) for position in range(len(runs)) for replication in range(replications)]
    if executor == "dask":
        from studio.simulate import _dask  # noqa: PLC0415

        with _dask.connect(workers, scheduler) as client:
            work = [(run.spec, run.job, run.key, range(replications)) for run in runs]
            yield from _dask.run_tasks(client, work, _remote, on_cases)
    elif workers == 1 or len(tasks) <= 1:
        for position, replication in tasks:
            run = runs[position]
            yield position, _measure(run.compiled, run.spec, run.job, replication, partial(on_cases, 1))
    else:
        from studio.simulate.runner import _context  # noqa: PLC0415

        with _context().Pool(min(workers, len(tasks)), initializer=_init_pool,
                             initargs=([(run.spec, run.job, run.key) for run in runs],)) as pool:
            yield from pool.imap_unordered(_pool_task, tasks)


def sweep(  # noqa: PLR0913 - the run's settings, as simulate takes them
    workflow: Any,
    grid: Iterable[str] | Mapping[str, Any],
    replications: int = 5,
    cases: int | None = None,
    seed: int | None = None,
    *,
    data: Any = None,
    executor: str = "processes",
    workers: int = 1,
    scheduler: str | None = None,
    engine: str = "auto",
    verify: int = 20,
    progress: bool | Callable[[int, int], None] = False,
    allow_llm: bool = False,
) -> SweepResult:
    """Run every scenario of ``grid`` (``{KEY: [V1, V2]}`` or ``["KEY=V1,V2", ...]``) with
    ``replications`` replications of ``cases`` cases each, all (scenario, replication) pairs at once
    on ``executor`` (``"processes"`` with ``workers``, or ``"dask"``: a ``LocalCluster`` of ``workers``
    or the cluster at ``scheduler``). Returns a :class:`SweepResult`. Each scenario's sampled cases
    are replayed through LangGraph (``verify``, as :func:`~studio.simulate.simulate`);
    :class:`~studio.simulate.EngineMismatch` if any differs."""
    from studio.fileio import workflow_cases  # noqa: PLC0415
    from studio.model import Workflow  # noqa: PLC0415
    from studio.simulate.compiler import CompiledWorkflow  # noqa: PLC0415
    from studio.simulate.runner import EngineMismatch, _Progress, check_arguments  # noqa: PLC0415
    from studio.simulate.summary import currency, names  # noqa: PLC0415
    from studio.simulate.verify import Mismatch, replay  # noqa: PLC0415

    check_arguments(replications=replications, workers=workers, verify=verify, executor=executor,
                    scheduler=scheduler)
    parsed = parse_grid(grid)
    if isinstance(workflow, CompiledWorkflow):
        model = workflow.workflow
    elif isinstance(workflow, Workflow):
        model = workflow
    else:
        from studio.fileio import load  # noqa: PLC0415

        model = load(workflow)
    table = workflow_cases(model, data)
    options = {"cases": cases, "seed": seed, "replications": replications, "engine": engine, "verify": verify,
               "allow_llm": allow_llm}
    runs = []
    for changes in scenarios(parsed):
        values = dict(zip(parsed, (text.partition("=")[2] for text in changes), strict=True))
        runs.append(_prepare(model, table, changes, values, options))
    counts = sorted({run.spec.cases for run in runs})  # one count, unless the grid sets simulation.cases
    mismatches: list[Mismatch] = []
    verified = 0
    bar = _Progress(progress, sum(run.spec.cases for run in runs) * replications, 0)
    counted = executor == "dask" or workers == 1 or len(runs) * replications <= 1  # as cases finish
    try:
        for position, (replication, flat, grants, kept) in _results(
                runs, replications, (executor, workers, scheduler), bar.update):
            run = runs[position]
            if grants:
                mismatches.extend(replay(run.compiled, run.spec, replication, kept, grants))
                verified += len(grants)
            run.flats[replication] = flat
            if not counted:
                bar.update(run.spec.cases)
    finally:
        bar.close()
    if mismatches:
        raise EngineMismatch(mismatches)
    pools = sorted({pool for run in runs for pool in run.compiled.plan.pools})
    rows = [_row(run.values, [run.flats[r] for r in sorted(run.flats)], pools) for run in runs]
    columns = list(rows[0])
    return SweepResult(
        workflow=model.metadata.name, keys=list(parsed), rows=rows, columns=columns,
        settings={"seed": runs[0].spec.seed, "cases": counts[0] if len(counts) == 1 else counts,
                  "replications": replications,
                  "engine": sorted({run.job.engine for run in runs}), "verified": verified},
        currency=currency(model), pools=pools, pool_names=names(model),
    )


# --------------------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    from studio.simulate._cli import _count, _positive  # noqa: PLC0415

    p.add_argument("file", metavar="FILE")
    p.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2",
                   help="a what-if key and its values (repeatable; the sweep runs every combination), "
                        "e.g. actors.approvers.capacity=2,3,4")
    p.add_argument("--replications", type=_positive, required=True, metavar="R", help="replications per scenario")
    p.add_argument("--cases", type=_positive, metavar="N", help="cases per replication (default: the data's rows)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (default: simulation.seed)")
    p.add_argument("--data", metavar="CSV", help="case data (default: the workflow's sample data)")
    p.add_argument("--executor", choices=("processes", "dask"), default="processes",
                   help="processes (default): worker processes on this machine; dask: a Dask cluster")
    p.add_argument("--workers", type=_positive, default=1, metavar="W",
                   help="worker processes (or, with --executor dask, the workers of a local cluster)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="with --executor dask: an existing cluster")
    p.add_argument("--engine", choices=("auto", "kernel", "langgraph"), default="auto")
    p.add_argument("--verify", type=_count, default=20, metavar="N",
                   help="per scenario, on the kernel: replay N cases through LangGraph (default 20; 0 skips)")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/sweep.csv and DIR/sweep.png")
    p.add_argument("--allow-llm", action="store_true",
                   help="let agents with `llm: module:factory` import and call it (runs code named in the file)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_sweep(args: argparse.Namespace) -> int:
    from studio import fileio as studio_io  # noqa: PLC0415
    from studio.errors import WorkflowInvalid  # noqa: PLC0415
    from studio.simulate._cli import _check_out, refused  # noqa: PLC0415
    from studio.simulate.runner import EngineMismatch  # noqa: PLC0415

    parse_grid(args.grid)  # bad syntax is refused before the file is read
    workflow = studio_io.load(args.file)
    out = Path(args.out)
    _check_out(out)
    try:
        result = sweep(
            workflow, args.grid, replications=args.replications, cases=args.cases, seed=args.seed, data=args.data,
            executor=args.executor, workers=args.workers, scheduler=args.scheduler, engine=args.engine,
            verify=args.verify, progress=not args.no_progress, allow_llm=args.allow_llm,
        )
    except (EngineMismatch, WorkflowInvalid) as exc:
        return refused(args.file, exc, "a scenario of the sweep has error findings; it cannot be simulated")
    written = result.save(out)
    print(result.text())
    print("wrote " + ", ".join(str(path) for path in written), file=sys.stderr)
    return 0
