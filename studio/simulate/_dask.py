"""Replications on Dask: a ``LocalCluster`` started for the run, or an existing cluster.

A task is one replication (``studio.simulate.runner._dask_run``: the same code the worker
processes run); it returns the replication's cases in memory, because workers on other machines do
not share the parent's file system: the parent writes the progress files, verifies the sampled cases
against LangGraph and computes the KPIs, as with worker processes. Each spec is scattered to the
workers once; a worker compiles a workflow once per spec (cached by the spec's fingerprint), so
the same seed gives the same records whatever the executor and worker count. ``docs/simulation.md``
(Scale-out on Dask) says how to run on a real cluster.

Progress: a task counts its finished cases and, at most four times a second, sends the count as a
Dask event (``Worker.log_event``, batched with the worker's other messages to the scheduler); the
parent subscribes to the run's topic and moves the bar, and tops a replication up to its case count
when its result arrives (an event may come late or, on a busy cluster, not at all).

Dask is an optional extra (``scale``); this module imports it only when a run asks for it.
"""

from __future__ import annotations

import importlib
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from studio.simulate.inputs import SimulationError

if TYPE_CHECKING:
    from studio.simulate.compiler import CompiledWorkflow
    from studio.simulate.inputs import Spec

__all__ = ["EXECUTORS", "compiled_for", "connect", "run_tasks"]

EXECUTORS = ("processes", "dask")
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx)://[^\s/]+$")
_CACHE: dict[tuple[str, bool], CompiledWorkflow] = {}
_CACHE_SIZE = 64


def _missing() -> SimulationError:
    return SimulationError(
        "--executor dask needs Dask, which is not installed; install the `scale` extra "
        "(pip install 'workflow-design-studio[scale]', or `dask` and `distributed` from conda-forge)"
    )


def _module(name: str) -> Any:
    """A module of Dask (untyped to mypy), or the message naming the extra to install."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise _missing() from None


def check_executor(executor: str, scheduler: str | None) -> None:
    """Refuse an unknown executor, a scheduler without Dask, or an address Dask cannot parse."""
    if executor not in EXECUTORS:
        raise SimulationError(f"executor `{executor}` is not one of " + ", ".join(f"`{e}`" for e in EXECUTORS))
    if scheduler is not None:
        if executor != "dask":
            raise SimulationError("--scheduler names a Dask scheduler; add --executor dask")
        if not _ADDRESS.match(scheduler):
            raise SimulationError(f"--scheduler `{scheduler}` is not a scheduler address; write it "
                                  "tcp://HOST:PORT, as `dask scheduler` prints it")


def compiled_for(spec: Spec, key: str) -> CompiledWorkflow:
    """The spec's compiled workflow, compiled once per worker (``key``: the spec's fingerprint)."""
    cached = _CACHE.get((key, spec.allow_llm))
    if cached is None:
        from studio.simulate.compiler import compile_workflow  # noqa: PLC0415

        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        cached = _CACHE[(key, spec.allow_llm)] = compile_workflow(spec.workflow, allow_llm=spec.allow_llm)
    return cached


def _connect_timeout() -> float:
    import dask.config  # noqa: PLC0415
    from dask.utils import parse_timedelta  # noqa: PLC0415

    seconds = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="seconds")
    return float(seconds) if seconds is not None else 30.0


def _local_cluster(distributed: Any, workers: int) -> Any:
    """A ``LocalCluster`` whose worker processes fork from a server that has already imported the
    simulator (forkserver, where there is one): they start in milliseconds instead of each importing
    LangGraph for seconds. Elsewhere Dask's default (spawn)."""
    import multiprocessing  # noqa: PLC0415

    import dask.config  # noqa: PLC0415

    options = {"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return distributed.LocalCluster(**options)
    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        _module("distributed.utils").get_mp_context().set_forkserver_preload(["distributed", "studio.simulate.runner"])
        return distributed.LocalCluster(**options)


@contextmanager
def connect(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A ``distributed.Client``: on the cluster at ``scheduler``, else on a ``LocalCluster`` of
    ``workers`` single-threaded worker processes started (and closed) here."""
    distributed = _module("distributed")
    if scheduler is not None:
        timeout = _connect_timeout()
        try:
            client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SimulationError(
                f"cannot reach the Dask scheduler at `{scheduler}` (gave up after {timeout:g} s: {exc}); start "
                f"it with `dask scheduler` and workers with `dask worker {scheduler}`, check the host, port and "
                "firewall, or drop --scheduler to run on a local cluster (the wait is Dask's "
                "distributed.comm.timeouts.connect, e.g. DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=60s)"
            ) from None
        try:
            _wait_for_workers(client, scheduler, timeout)
            yield client
        finally:
            client.close()
        return
    try:
        cluster = _local_cluster(distributed, workers)
    except (OSError, RuntimeError, TimeoutError) as exc:
        raise SimulationError(f"cannot start a local Dask cluster of {workers} worker(s): {exc}; run without "
                              "--executor dask, or start a cluster yourself and pass --scheduler") from None
    try:
        client = distributed.Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _wait_for_workers(client: Any, scheduler: str, timeout: float) -> None:
    """A scheduler without workers would hold the tasks for ever: wait for one, then say so."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        raise SimulationError(
            f"the Dask scheduler at `{scheduler}` has no workers (waited {timeout:g} s); start them with "
            f"`dask worker {scheduler}` on machines with this studio version installed"
        ) from None


def _cluster_problem(exc: BaseException) -> str | None:
    """What went wrong on the cluster (not in the simulation), in words; None for anything else."""
    distributed = _module("distributed")
    if isinstance(exc, ImportError):
        return (f"a Dask worker cannot import what the run needs ({exc}); install the same studio version "
                "and extras on every worker (docs/simulation.md, Scale-out on Dask)")
    if isinstance(exc, distributed.KilledWorker):
        return (f"Dask workers died running a replication ({exc}); a worker may have run out of memory: use "
                "fewer cases per replication, more memory per worker, or fewer workers per machine")
    if isinstance(exc, distributed.CancelledError):
        return f"the Dask cluster cancelled the run's tasks ({exc}); was the scheduler restarted or closed?"
    if isinstance(exc, (OSError, TimeoutError)):
        return f"lost the Dask cluster during the run ({exc}); check the scheduler and the network, then --resume"
    return None


def reporter(report: tuple[str, int] | None, replication: int) -> Callable[[], None] | None:
    """On a worker: the ``on_case`` that sends the count of finished cases to the run's topic
    (``report``: the topic and the spec's position in the run; None: no one counts)."""
    if report is None:
        return None
    topic, position = report
    worker = _module("distributed").get_worker()
    state = {"n": 0, "sent": time.monotonic()}

    def on_case() -> None:
        state["n"] += 1
        now = time.monotonic()
        if now - state["sent"] >= 0.25:
            worker.log_event(topic, [position, replication, state["n"]])
            state["n"] = 0
            state["sent"] = now

    return on_case


class _Counter:
    """In the parent: cases counted per task from the workers' events, topped up when a task ends."""

    def __init__(self, on_cases: Callable[[int], None]) -> None:
        self._on_cases = on_cases
        self._lock = threading.Lock()
        self._counted: dict[tuple[int, int], int] = {}
        self._ended: set[tuple[int, int]] = set()

    def event(self, event: Any) -> None:  # on the client's event-loop thread
        try:
            position, replication, n = event[1]
        except (TypeError, ValueError, IndexError):
            return
        with self._lock:
            task = (int(position), int(replication))
            if task in self._ended:
                return
            self._counted[task] = self._counted.get(task, 0) + int(n)
            self._on_cases(int(n))

    def ended(self, position: int, replication: int, cases: int) -> None:
        with self._lock:
            task = (position, replication)
            self._ended.add(task)
            rest = cases - self._counted.pop(task, 0)
            if rest > 0:
                self._on_cases(rest)


def run_tasks(client: Any, work: Sequence[tuple[Spec, Any, str, Sequence[int]]], task: Callable[..., Any],
              on_cases: Callable[[int], None] | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``task(spec, job, key, replication, report)`` for every spec's replications at once; yield
    ``(position of the spec in work, result)`` as tasks finish. Each spec travels to each worker once.
    ``on_cases(n)``: n more cases finished (``report`` is then what the task passes to :func:`reporter`;
    None without ``on_cases``)."""
    as_completed = _module("distributed").as_completed
    futures: dict[Any, tuple[int, int]] = {}
    token = uuid.uuid4().hex[:8]  # task keys unique on a cluster that other runs share
    topic = f"studio-progress-{token}" if on_cases is not None else None
    counter = _Counter(on_cases) if on_cases is not None else None
    if counter is not None:
        client.subscribe_topic(topic, counter.event)
    try:
        for position, (spec, job, key, replications) in enumerate(work):
            if not replications:
                continue
            shared = client.scatter(spec, broadcast=True, hash=False)
            local = replace(job, folder=None)
            for replication in replications:
                report = (topic, position) if topic is not None else None
                future = client.submit(task, shared, local, key, replication, report, pure=False,
                                       key=f"studio-{token}-{position}-{replication}")
                futures[future] = (position, replication)
        for future, result in as_completed(list(futures), loop=client.loop, with_results=True):
            # dropping the future lets the worker free the result (a replication's cases) now
            position, replication = futures.pop(future)
            if counter is not None:
                counter.ended(position, replication, work[position][0].cases)
            yield position, result
    except BaseException as exc:
        with suppress(OSError, TimeoutError):  # the cluster may be gone
            client.cancel([future for future in futures if not future.done()])
        problem = _cluster_problem(exc)
        if problem is not None:
            raise SimulationError(problem) from exc
        raise
    finally:
        if counter is not None:
            client.unsubscribe_topic(topic)
