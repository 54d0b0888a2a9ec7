"""Monte Carlo: many cases through the compiled graph in virtual time, replicated, resumable.

One replication runs every case as a coroutine (``graph.ainvoke``, no checkpointer, no
interrupts) in one asyncio event loop; human steps and rate-limited tools wait on the shared
virtual clock (:mod:`studio.simulate.clock`). Replications are independent (own resources, own
random streams) and are the unit of parallelism (worker processes) and of resumption: each
finished replication is written atomically to ``OUT/progress/rep-NNNN.json`` with its per-case
results, and ``resume=True`` reuses those files, so a killed run loses at most the replications
in flight and ends with the same KPIs as an uninterrupted one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import math
import multiprocessing
import os
import selectors
import sys
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from langgraph.errors import GraphRecursionError

from studio.errors import StudioError
from studio.io import Cases, as_cases, atomic_write, read_limited, sample_path, to_data
from studio.model import ColumnArrivals, FixedArrivals, Workflow
from studio.simulate.behaviour import Rng
from studio.simulate.clock import Clock, iso_to_seconds
from studio.simulate.compiler import RUNTIME_KEY, CompiledWorkflow, compile
from studio.simulate.results import Results
from studio.simulate.runtime import STEP_FIELDS, CaseRun, CaseStop, Env, SimulatedHumans

__all__ = ["SimulationError", "case_payload", "run_sync", "simulate"]

T = TypeVar("T")
FORMAT = 1
_ARRIVAL_STREAM = 1 << 40


class SimulationError(StudioError, ValueError):
    """A simulation cannot run as asked (bad arrival data, progress of another run, ...)."""


class _Selector(selectors.DefaultSelector):
    """Skips the ``select(0)`` system call asyncio makes on every loop iteration while callbacks are
    ready. The simulator has no I/O of its own, so nothing is lost: whenever the loop runs out of
    ready callbacks it blocks in a real ``select`` and sees any I/O (a real LLM's reply) then; and
    every 64th zero-timeout poll still goes through."""

    _skipped = 0

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        if timeout == 0 and self._skipped < 64:
            self._skipped += 1
            return []
        self._skipped = 0
        result: list[tuple[Any, int]] = super().select(timeout)
        return result


def _run_loop(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    loop = asyncio.SelectorEventLoop(_Selector())
    try:
        return loop.run_until_complete(factory())
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, also inside Jupyter (which has a running loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_loop(factory)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(_run_loop, factory).result()


# --------------------------------------------------------------------------- inputs


@dataclass
class Spec:
    """Everything a replication needs (picklable: sent to worker processes)."""

    workflow: Workflow
    rows: list[dict[str, Any]]
    case_ids: list[str]
    cases: int
    seed: int
    allow_llm: bool = False
    scenario: list[str] = field(default_factory=list)

    def row(self, index: int) -> dict[str, Any]:
        return self.rows[index % len(self.rows)] if self.rows else {}

    def fingerprint(self) -> str:
        text = json.dumps(
            {"format": FORMAT, "workflow": to_data(self.workflow), "rows": self.rows, "cases": self.cases,
             "seed": self.seed, "scenario": self.scenario},
            sort_keys=True, default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()


def _case_ids(rows: Sequence[Mapping[str, Any]], cases: int) -> list[str]:
    ids = []
    for index in range(cases):
        row = rows[index % len(rows)] if rows else {}
        key = row.get("case_id", row.get("id"))
        base = str(key) if key is not None else str(index % len(rows) if rows else index)
        lap = index // len(rows) if rows else 0
        ids.append(base if lap == 0 else f"{base}~{lap}")
    return ids


def arrival_times(spec: Spec, replication: int) -> list[float]:
    """Virtual arrival time of every case of a replication."""
    arrivals = spec.workflow.simulation.arrivals
    n = spec.cases
    if isinstance(arrivals, FixedArrivals):
        return [i * arrivals.interval for i in range(n)]
    if isinstance(arrivals, ColumnArrivals):
        times = []
        for index in range(n):
            value = spec.row(index).get(arrivals.column)
            try:
                if isinstance(value, bool) or value is None:
                    raise ValueError
                seconds = float(value) if isinstance(value, (int, float)) else iso_to_seconds(str(value))
                if not math.isfinite(seconds):
                    raise ValueError
            except ValueError:
                raise SimulationError(
                    f"case {spec.case_ids[index]}: arrival column `{arrivals.column}` holds {value!r}, which is "
                    "neither seconds nor an ISO time"
                ) from None
            times.append(seconds)
        return times
    rate = arrivals.rate
    if rate <= 0:
        return [0.0] * n
    rng = Rng(spec.seed, replication, _ARRIVAL_STREAM)
    now = 0.0
    times = []
    for _ in range(n):
        now += -math.log1p(-rng.u()) / rate
        times.append(now)
    return times


# --------------------------------------------------------------------------- one replication


def case_payload(run: CaseRun, arrival: float) -> dict[str, Any]:
    """A finished case as plain JSON data (what progress files and :class:`Results` hold)."""
    stop = run.stop
    status = run.status if run.status != "running" else "stuck"
    end = max((step[3] for step in run.steps), default=arrival)
    if stop is not None:
        end = max(end, stop.at)
    return {
        "index": run.index,
        "case_id": run.case_id,
        "arrival": arrival,
        "end": end,
        "status": status,
        "outcome": run.outcome,
        "category": stop.category if stop is not None else ("policy" if status == "stuck" else None),
        "reason": stop.reason if stop is not None else ("stuck: a join never got all its branches"
                                                         if status == "stuck" else None),
        "where": stop.where if stop is not None else None,
        "node": stop.node if stop is not None else None,
        "actor": stop.actor if stop is not None else None,
        "steps": [list(step) for step in run.steps],
    }


def graph_config(run: CaseRun, max_turns: int) -> dict[str, Any]:
    return {"configurable": {RUNTIME_KEY: run}, "recursion_limit": 2 * max_turns + 10}


async def invoke(graph: Any, run: CaseRun, row: Mapping[str, Any], max_turns: int) -> None:
    """Run one case through the graph; a stopped case is recorded on ``run``, not raised."""
    try:
        await graph.ainvoke({"case": dict(row)}, graph_config(run, max_turns))
    except CaseStop:
        pass
    except GraphRecursionError:  # more supersteps than max_turns allows steps: a runaway case
        last = run.steps[-1] if run.steps else None
        where = str(last[0]) if last is not None else run.plan.start
        at = float(last[3]) if last is not None else run.arrival
        run.stop = CaseStop("killed", "policy", "max_turns", where=where, node=where, actor=None, at=at)
        run.status = "killed"


async def run_replication(compiled: CompiledWorkflow, spec: Spec, replication: int,
                          on_case: Callable[[], None] | None = None) -> dict[str, Any]:
    """Run every case of one replication; the payload (plain JSON data)."""
    loop = asyncio.get_running_loop()
    clock = Clock(loop)
    plan = compiled.plan
    env = Env(plan, clock=clock, decider=SimulatedHumans(), failures=True, models=compiled.models())
    graph = compiled.graph
    times = arrival_times(spec, replication)
    results: list[dict[str, Any] | None] = [None] * spec.cases
    seed = spec.seed

    async def start_case(index: int, cc: Any) -> None:
        row = spec.row(index)
        run = CaseRun(env, index=index, case_id=spec.case_ids[index], row=row, arrival=times[index],
                      rng=Rng(seed, replication, index), replication=replication, cc=cc)
        try:
            await invoke(graph, run, row, plan.max_turns)
        finally:
            clock.case_finished(cc)
        results[index] = case_payload(run, times[index])
        if on_case is not None:
            on_case()

    order = sorted(range(spec.cases), key=lambda i: (times[i], i))
    await clock.drive([(times[i], i) for i in order], start_case)
    return {"replication": replication, "cases": results}


# --------------------------------------------------------------------------- workers

_WORKER: dict[str, Any] = {}


def _init_worker(spec: Spec) -> None:
    _WORKER["spec"] = spec
    _WORKER["compiled"] = compile(spec.workflow, allow_llm=spec.allow_llm)


def _worker_run(replication: int) -> dict[str, Any]:
    compiled: CompiledWorkflow = _WORKER["compiled"]
    spec: Spec = _WORKER["spec"]
    return run_sync(lambda: run_replication(compiled, spec, replication))


def _context() -> Any:
    """forkserver where there is one (workers fork from a server that has already imported the
    simulator, so they start in milliseconds), else spawn. Never plain fork: the parent may hold
    threads (Jupyter, tqdm) and an event loop."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["studio.simulate.runner"])
        return context
    return multiprocessing.get_context("spawn")


# --------------------------------------------------------------------------- progress files


def _progress_dir(out: Path) -> Path:
    return out / "progress"


def _rep_path(out: Path, replication: int) -> Path:
    return _progress_dir(out) / f"rep-{replication:04d}.json"


_CASE_KEYS = frozenset(("index", "case_id", "arrival", "end", "status", "outcome", "category", "reason", "where",
                        "node", "actor", "steps"))


def _record_problem(data: Any) -> str | None:
    """What is wrong with a progress record's content, or None when it has the shape this module writes."""
    if not isinstance(data, dict):
        return "it is not a JSON object"
    for key in ("fingerprint", "replication", "cases"):
        if key not in data:
            return f"it has no `{key}`"
    replication = data["replication"]
    if not isinstance(replication, int) or isinstance(replication, bool) or replication < 0:
        return f"`replication` is {replication!r}, not a replication number"
    cases = data["cases"]
    if not isinstance(cases, list):
        return "`cases` is not a list"
    for index, case in enumerate(cases):
        if not isinstance(case, dict) or not case.keys() >= _CASE_KEYS:
            return f"case {index} lacks fields a finished case has"
        steps = case["steps"]
        if not isinstance(steps, list) or any(not isinstance(s, list) or len(s) != len(STEP_FIELDS) for s in steps):
            return f"the steps of case {index} are not steps this studio writes"
        for key in ("arrival", "end"):
            value = case[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                return f"case {index} has `{key}` {value!r}, not a time"
    return None


def _load_done(out: Path, fingerprint: str, replications: int) -> dict[int, dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    folder = _progress_dir(out)
    if not folder.is_dir():
        return done
    fix = "delete it to run that replication again, or run without --resume to start over"
    for path in sorted(folder.glob("rep-*.json")):
        text = read_limited(path, "data_bytes", "progress record")  # bounded, names the file when refused
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise SimulationError(f"progress record `{path}` cannot be read (it is not valid JSON); {fix}") from None
        problem = _record_problem(data)
        if problem is not None:
            raise SimulationError(f"progress record `{path}` is not one this studio wrote ({problem}); {fix}")
        if data.get("fingerprint") != fingerprint:
            raise SimulationError(
                f"`{path}` was written by a different run (another workflow, data, seed, case count or scenario); "
                "use another --out folder or run without --resume to start over"
            )
        replication = int(data["replication"])
        if replication < replications:
            done[replication] = {"replication": replication, "cases": data["cases"]}
    return done


def _record(out: Path, fingerprint: str, payload: Mapping[str, Any]) -> None:
    text = json.dumps({"fingerprint": fingerprint, "replication": payload["replication"],
                       "cases": payload["cases"]}, separators=(",", ":"))
    atomic_write(_rep_path(out, int(payload["replication"])), text)


# --------------------------------------------------------------------------- progress display


class _Progress:
    def __init__(self, progress: Any, total: int, initial: int) -> None:
        self._bar: Any = None
        self._callback: Callable[[int, int], None] | None = None
        self.total = total
        self.done = initial
        if callable(progress):
            self._callback = progress
        elif progress:
            from tqdm.auto import tqdm  # noqa: PLC0415

            self._bar = tqdm(total=total, initial=initial, unit="case", desc="simulate", file=sys.stderr,
                             mininterval=0.25, smoothing=0.1)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        if self._callback is not None:
            self._callback(self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# --------------------------------------------------------------------------- public entry point


def load_rows(workflow: Workflow, data: Any) -> Cases | None:
    if data is not None:
        return as_cases(data)
    path = sample_path(workflow)
    if path is not None and path.is_file():
        from studio.io import load_cases  # noqa: PLC0415

        return load_cases(path)
    return None


def simulate(  # noqa: PLR0917 - the documented positional order
    workflow: Workflow | CompiledWorkflow | str | os.PathLike[str],
    data: Any = None,
    cases: int | None = None,
    seed: int | None = None,
    scenario: str | Iterable[str] | Mapping[str, Any] | None = None,
    replications: int = 1,
    workers: int = 1,
    progress: bool | Callable[[int, int], None] = False,
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    allow_llm: bool = False,
    gold: bool = False,
) -> Results:
    """Simulate ``cases`` cases of ``workflow`` against its sample data, ``replications`` times.

    ``data``: a CSV/JSONL path, rows, a DataFrame or :class:`~studio.io.Cases` (default: the
    workflow's ``simulation.sample_data``; cases cycle through the rows). ``cases`` defaults to
    ``simulation.cases``, else the number of rows (else 100). ``seed`` defaults to
    ``simulation.seed``. ``scenario``: what-if overrides (``["actors.approvers.capacity=5"]``, see
    :mod:`studio.simulate.scenarios`). ``workers`` > 1 runs replications in worker processes.
    ``progress``: True for a tqdm bar (a widget in notebooks) or a ``callback(done, total)``.
    ``out``: a folder to record progress in (``out/progress/rep-*.json``) and save results to;
    with ``resume=True`` finished replications found there are reused. ``gold=True`` also runs
    the gold cases (:func:`studio.simulate.gold.run_gold`) and adds their pass rate to the KPIs.
    """
    from studio.simulate.scenarios import apply, normalise  # noqa: PLC0415

    if replications < 1:
        raise SimulationError("replications must be at least 1")
    if workers < 1:
        raise SimulationError("workers must be at least 1")
    compiled_in = workflow if isinstance(workflow, CompiledWorkflow) else None
    if compiled_in is not None:
        model = compiled_in.workflow
    elif isinstance(workflow, Workflow):
        model = workflow
    else:
        from studio.io import load  # noqa: PLC0415

        model = load(workflow)  # type: ignore[arg-type]
    changes = normalise(scenario)
    if changes:
        model = apply(model, changes)
    table = load_rows(model, data)
    rows = [dict(row) for row in table.rows] if table is not None else []
    if compiled_in is not None and not changes and compiled_in.allow_llm == allow_llm:
        compiled = compiled_in
    else:
        compiled = compile(model, data=table, allow_llm=allow_llm)
    count = cases if cases is not None else model.simulation.cases or len(rows) or 100
    if count < 1:
        raise SimulationError("cases must be at least 1")
    spec = Spec(
        workflow=model, rows=rows, case_ids=_case_ids(rows, count), cases=count,
        seed=seed if seed is not None else model.simulation.seed, allow_llm=allow_llm, scenario=changes,
    )
    folder = Path(out) if out is not None else None
    fingerprint = spec.fingerprint() if folder is not None else ""
    done: dict[int, dict[str, Any]] = {}
    if folder is not None:
        if resume:
            done = _load_done(folder, fingerprint, replications)
        else:
            for stale in sorted(_progress_dir(folder).glob("rep-*.json")) if _progress_dir(folder).is_dir() else []:
                stale.unlink()
    todo = [r for r in range(replications) if r not in done]
    bar = _Progress(progress, replications * count, len(done) * count)
    try:
        if workers == 1 or len(todo) <= 1:
            for replication in todo:
                payload = run_sync(partial(run_replication, compiled, spec, replication, bar.update))
                done[replication] = payload
                if folder is not None:
                    _record(folder, fingerprint, payload)
        else:
            context = _context()
            with context.Pool(min(workers, len(todo)), initializer=_init_worker, initargs=(spec,)) as pool:
                for payload in pool.imap_unordered(_worker_run, todo):
                    done[int(payload["replication"])] = payload
                    if folder is not None:
                        _record(folder, fingerprint, payload)
                    bar.update(count)
    finally:
        bar.close()
    settings = {"seed": spec.seed, "cases": count, "replications": replications, "scenario": changes}
    report = None
    if gold:
        from studio.simulate.gold import run_gold  # noqa: PLC0415

        report = run_gold(compiled)
    from studio._secrets import mask  # noqa: PLC0415
    from studio.validate import data_secrets  # noqa: PLC0415

    redact = {text: mask(text) for _, _, text, _ in data_secrets(table)} if table is not None else {}
    results = Results(compiled, [done[r] for r in sorted(done)], settings, gold=report, redact=redact)
    if folder is not None:
        results.save(folder)
    return results
