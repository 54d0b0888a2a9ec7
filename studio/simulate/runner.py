"""Monte Carlo: many cases in virtual time, replicated, resumable, on the kernel or on LangGraph.

Replications are independent (own resources, own random streams) and are the unit of parallelism
(worker processes) and of resumption: each replication streams its cases to
``OUT/progress/rep-NNNN.jsonl`` as they finish (renamed into place when complete), and
``resume=True`` reuses those files, so a killed run loses at most the replications in flight and
ends with the same KPIs as an uninterrupted one.

Engines (``docs/simulation.md``): the Monte Carlo kernel (:mod:`studio.simulate.kernel`) runs a
workflow with no LLM-backed agent; a sample of its cases is then replayed through the compiled
LangGraph graph (:mod:`studio.simulate.verify`) and the run is refused if any differs. LangGraph
(:mod:`studio.simulate.engine`) runs everything with ``engine="langgraph"``, and always when an
agent calls a real model. Both give byte-identical per-case records and KPIs for the same seed.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import sys
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from studio import limits
from studio.fileio import workflow_cases
from studio.model import Workflow
from studio.simulate import _dask, kernel
from studio.simulate import engine as langgraph_engine
from studio.simulate.compiler import CompiledWorkflow, compile_workflow
from studio.simulate.gold import run_gold
from studio.simulate.inputs import SimulationError, Spec
from studio.simulate.results import Results
from studio.simulate.runtime import STEP_FIELDS
from studio.simulate.scenarios import apply, normalise
from studio.simulate.store import FORMAT, CaseFile, CaseWriter
from studio.simulate.verify import Mismatch, describe, replay, sample

__all__ = ["ENGINES", "EngineMismatch", "SimulationError", "simulate"]

ENGINES = ("auto", "kernel", "langgraph")
DEFAULT_VERIFY = 20


class EngineMismatch(SimulationError):
    """The kernel and LangGraph disagree on a verified case: the run's results are not reported."""

    def __init__(self, mismatches: list[Mismatch]) -> None:
        super().__init__(
            f"the Monte Carlo kernel and LangGraph disagree on {len(mismatches)} verified case(s); "
            "no results are reported (run with --engine langgraph, and report this with the workflow):\n"
            + describe(mismatches)
        )
        self.mismatches = mismatches


# --------------------------------------------------------------------------- one replication


@dataclass
class _Job:
    """How replications run: the engine, which cases to verify, where their cases go."""

    engine: str
    records: dict[int, list[int]]
    folder: Path | None
    fingerprint: str


def _replicate(compiled: CompiledWorkflow, spec: Spec, job: _Job, replication: int, *,
               on_case: Callable[[], None] | None = None) -> tuple[dict[str, Any], kernel.Grants, dict[int, Any]]:
    """One replication; its payload, and on the kernel the grants and records of the cases to verify."""
    record = job.records.get(replication, [])
    path = _rep_path(job.folder, replication) if job.folder is not None else None
    writer = CaseWriter(replication, spec.cases, path=path, fingerprint=job.fingerprint, keep=record)
    try:
        if job.engine == "kernel":
            payload, grants = kernel.run_replication(compiled, spec, replication, on_case, record=record,
                                                     writer=writer)
        else:
            payload = langgraph_engine.run_sync(partial(
                langgraph_engine.run_replication, compiled, spec, replication, on_case, writer=writer))
            grants = {}
    except BaseException:
        writer.abort()
        raise
    return payload, grants, writer.kept


# --------------------------------------------------------------------------- workers

_WORKER: dict[str, Any] = {}


def _init_worker(spec: Spec, job: _Job) -> None:
    _WORKER["spec"] = spec
    _WORKER["job"] = job
    _WORKER["compiled"] = compile_workflow(spec.workflow, allow_llm=spec.allow_llm)


def _worker_run(replication: int) -> tuple[dict[str, Any], kernel.Grants, dict[int, Any]]:
    return _replicate(_WORKER["compiled"], _WORKER["spec"], _WORKER["job"], replication)


def _dask_run(spec: Spec, job: _Job, key: str, replication: int,
              report: tuple[str, int] | None) -> tuple[dict[str, Any], kernel.Grants, dict[int, Any]]:
    """On a Dask worker: one replication, its cases in memory (``job.folder`` is None there)."""
    return _replicate(_dask.compiled_for(spec, key), spec, job, replication,
                      on_case=_dask.reporter(report, replication))


def _stored(job: _Job, spec: Spec, payload: dict[str, Any]) -> dict[str, Any]:
    """A replication that ran elsewhere (its cases in memory) written to its progress file, as
    :func:`_replicate` would have; the payload unchanged without an output folder."""
    if job.folder is None:
        return payload
    replication = int(payload["replication"])
    writer = CaseWriter(replication, spec.cases, path=_rep_path(job.folder, replication),
                        fingerprint=job.fingerprint)
    try:
        for case in payload["cases"]:
            writer.add(int(case["index"]), case)
    except BaseException:
        writer.abort()
        raise
    return writer.close()


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
    return _progress_dir(out) / f"rep-{replication:04d}.jsonl"


_CASE_KEYS = frozenset(("index", "case_id", "arrival", "end", "status", "outcome", "category", "reason", "where",
                        "node", "actor", "steps"))


def _header_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "its first line is not a JSON object"
    for key in ("format", "fingerprint", "replication", "cases"):
        if key not in data:
            return f"its first line has no `{key}`"
    for key in ("replication", "cases"):
        value = data[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"`{key}` is {value!r}, not a count"
    return None


def _case_problem(case: Any, line: int, offsets: array[int]) -> str | None:
    if not isinstance(case, dict) or not case.keys() >= _CASE_KEYS:
        return f"line {line} lacks fields a finished case has"
    index = case["index"]
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(offsets):
        return f"line {line} has `index` {index!r}, not a case of this replication"
    if offsets[index] >= 0:
        return f"line {line} repeats case {index}"
    steps = case["steps"]
    if not isinstance(steps, list) or any(not isinstance(s, list) or len(s) != len(STEP_FIELDS) for s in steps):
        return f"the steps on line {line} are not steps this studio writes"
    for key in ("arrival", "end"):
        value = case[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return f"line {line} has `{key}` {value!r}, not a time"
    return None


def _check_record(path: Path, fingerprint: str) -> tuple[int, array[int]]:
    """(replication, where each case's line starts) of a progress file, checked line by line;
    SimulationError naming what is wrong."""
    fix = "delete it to run that replication again, or run without --resume to start over"
    longest = limits.current().data_bytes
    header: dict[str, Any] = {}
    offsets = array("q")
    position = 0
    try:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if len(line) > longest:
                    raise SimulationError(f"progress record `{path}`: line {number} is longer than the "
                                          f"`data_bytes` limit; {fix}")
                try:
                    data = json.loads(line)
                except (ValueError, RecursionError):
                    raise SimulationError(f"progress record `{path}` cannot be read (line {number} is not valid "
                                          f"JSON); {fix}") from None
                problem = _header_problem(data) if number == 1 else _case_problem(data, number, offsets)
                if problem is not None:
                    raise SimulationError(f"progress record `{path}` is not one this studio wrote ({problem}); {fix}")
                if number == 1:
                    header = data
                    if data["fingerprint"] != fingerprint or data["format"] != FORMAT:
                        raise SimulationError(
                            f"progress record `{path}` was written by a different run (another workflow, data, "
                            "seed, case count, scenario or studio version); use another --out folder or run "
                            "without --resume to start over"
                        )
                    offsets = array("q", [-1]) * int(data["cases"])
                else:
                    offsets[data["index"]] = position
                position += len(line)
    except OSError as exc:
        raise SimulationError(f"progress record `{path}` cannot be read ({exc}); {fix}") from None
    if not header:
        raise SimulationError(f"progress record `{path}` is empty; {fix}")
    missing = sum(1 for offset in offsets if offset < 0)
    if missing:
        raise SimulationError(f"progress record `{path}` lacks {missing} of its {len(offsets)} cases; {fix}")
    return int(header["replication"]), offsets


def _load_done(out: Path, fingerprint: str, replications: int) -> dict[int, dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    folder = _progress_dir(out)
    if not folder.is_dir():
        return done
    for path in sorted(folder.glob("rep-*.jsonl")):
        replication, offsets = _check_record(path, fingerprint)
        if replication < replications:
            done[replication] = {"replication": replication, "cases": CaseFile(path, offsets)}
    return done


def _clear(out: Path) -> None:
    """Remove the progress files of an earlier run (or of this one, when it is refused)."""
    folder = _progress_dir(out)
    if folder.is_dir():
        stale = [*folder.glob("rep-*.jsonl"), *folder.glob(".rep-*.jsonl.tmp"), *folder.glob("rep-*.json")]
        for path in sorted(stale):
            path.unlink()


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


def check_arguments(*, replications: int, workers: int, verify: int, executor: str, scheduler: str | None) -> None:
    """Refuse run settings that cannot work, before anything runs (shared by simulate and sweep)."""
    if replications < 1:
        raise SimulationError("replications must be at least 1")
    if workers < 1:
        raise SimulationError("workers must be at least 1")
    if verify < 0:
        raise SimulationError("verify must be 0 or more cases")
    _dask.check_executor(executor, scheduler)


def _engine_for(compiled: CompiledWorkflow, engine: str) -> str:
    if engine not in ENGINES:
        raise SimulationError(f"engine `{engine}` is not one of " + ", ".join(f"`{e}`" for e in ENGINES))
    llm = sorted(compiled.models())
    if llm and engine == "kernel":
        raise SimulationError(
            "agent(s) " + ", ".join(f"`{a}`" for a in llm) + " call a real model, which only the LangGraph engine "
            "does; use --engine langgraph (or auto)"
        )
    if engine == "auto":
        return "langgraph" if llm else "kernel"
    return engine


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
    engine: str = "auto",
    verify: int = DEFAULT_VERIFY,
    executor: str = "processes",
    scheduler: str | None = None,
) -> Results:
    """Simulate ``cases`` cases of ``workflow`` against its sample data, ``replications`` times.

    ``data``: a CSV/JSONL path, rows, a DataFrame or :class:`~studio.fileio.Cases` (default: the
    workflow's ``simulation.sample_data``; cases cycle through the rows). ``cases`` defaults to
    ``simulation.cases``, else the number of rows (else 100). ``seed`` defaults to
    ``simulation.seed``. ``scenario``: what-if overrides (``["actors.approvers.capacity=5"]``, see
    :mod:`studio.simulate.scenarios`). ``workers`` > 1 runs replications in worker processes.
    ``progress``: True for a tqdm bar (a widget in notebooks) or a ``callback(done, total)``.
    ``out``: a folder to record progress in (``out/progress/rep-*.jsonl``) and save results to;
    with ``resume=True`` finished replications found there are reused. ``gold=True`` also runs
    the gold cases (:func:`studio.simulate.gold.run_gold`) and adds their pass rate to the KPIs.
    ``engine``: ``"auto"`` (the kernel unless an agent calls a real model), ``"kernel"`` or
    ``"langgraph"``. ``verify``: on the kernel, how many of the run's cases to replay through
    LangGraph (0: none); raises :class:`EngineMismatch` if any differs. ``executor="dask"`` runs
    the replications on a Dask ``LocalCluster`` of ``workers`` processes, or on the cluster whose
    scheduler is at ``scheduler`` (``tcp://HOST:PORT``); same results (``docs/simulation.md``).
    """
    check_arguments(replications=replications, workers=workers, verify=verify, executor=executor,
                    scheduler=scheduler)
    compiled_in = workflow if isinstance(workflow, CompiledWorkflow) else None
    if compiled_in is not None:
        model = compiled_in.workflow
    elif isinstance(workflow, Workflow):
        model = workflow
    else:
        from studio.fileio import load  # noqa: PLC0415 - only for a path

        model = load(workflow)  # type: ignore[arg-type]
    changes = normalise(scenario)
    if changes:
        model = apply(model, changes)
    table = workflow_cases(model, data)
    if compiled_in is not None and not changes and compiled_in.allow_llm == allow_llm:
        compiled = compiled_in
    else:
        compiled = compile_workflow(model, data=table, allow_llm=allow_llm)
    chosen = _engine_for(compiled, engine)
    spec = Spec.of(model, table, compiled, cases=cases, seed=seed, allow_llm=allow_llm, scenario=changes)
    count = spec.cases
    folder = Path(out) if out is not None else None
    fingerprint = spec.fingerprint() if folder is not None else ""
    done: dict[int, dict[str, Any]] = {}
    if folder is not None:
        if resume:
            done = _load_done(folder, fingerprint, replications)
        else:
            _clear(folder)
    todo = [r for r in range(replications) if r not in done]
    records = sample(count, replications, verify) if chosen == "kernel" else {}
    job = _Job(chosen, {r: indices for r, indices in records.items() if r in todo}, folder, fingerprint)
    mismatches: list[Mismatch] = []
    verified = 0

    def check(payload: dict[str, Any], grants: kernel.Grants, kept: dict[int, Any]) -> None:
        nonlocal verified
        replication = int(payload["replication"])
        if grants:
            mismatches.extend(replay(compiled, spec, replication, kept, grants))
            verified += len(grants)
        done[replication] = payload

    bar = _Progress(progress, replications * count, len(done) * count)
    try:
        if executor == "dask" and todo:
            key = fingerprint or spec.fingerprint()
            with _dask.connect(workers, scheduler) as client:
                for _, (payload, grants, kept) in _dask.run_tasks(client, [(spec, job, key, todo)], _dask_run,
                                                                  bar.update):
                    check(_stored(job, spec, payload), grants, kept)
        elif workers == 1 or len(todo) <= 1:
            for replication in todo:
                check(*_replicate(compiled, spec, job, replication, on_case=bar.update))
        else:
            context = _context()
            with context.Pool(min(workers, len(todo)), initializer=_init_worker,
                              initargs=(spec, job)) as pool:
                for payload, grants, kept in pool.imap_unordered(_worker_run, todo):
                    check(payload, grants, kept)
                    bar.update(count)
    finally:
        bar.close()
    if mismatches:
        if folder is not None:
            _clear(folder)  # unverified replications are not kept for --resume
        raise EngineMismatch(mismatches)
    settings = {"seed": spec.seed, "cases": count, "replications": replications, "scenario": changes,
                "engine": {"name": chosen, "verified": verified}}
    report = run_gold(compiled) if gold else None
    from studio._secrets import mask  # noqa: PLC0415 - detect-secrets loads plugins; only when saving
    from studio.validate import data_secrets  # noqa: PLC0415 - the validate layer sits beside this one

    redact = {text: mask(text) for _, _, text, _ in data_secrets(table)} if table is not None else {}
    results = Results(compiled, [done[r] for r in sorted(done)], settings, gold=report, redact=redact)
    if folder is not None:
        results.save(folder)
    return results
