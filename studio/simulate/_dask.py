"""Replications on Dask: a ``LocalCluster`` started for the run, or an existing cluster.

A task is one replication (``studio.simulate.runner._dask_run``: the same code the worker
processes run); it returns the replication's cases in memory, because workers on other machines do
not share the parent's file system: the parent writes the progress files, verifies the sampled cases
against LangGraph and computes the KPIs, as with worker processes. Each spec is scattered to the
workers once; a worker compiles a workflow once per spec (cached by the spec's fingerprint), so
the same seed gives the same records whatever the executor and worker count. ``docs/simulation.md``
(Scale-out on Dask) says how to run on a real cluster.

Dask is an optional extra (``scale``); this module imports it only when a run asks for it.
"""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from studio.simulate.inputs import SimulationError

if TYPE_CHECKING:
    from studio.simulate.compiler import CompiledWorkflow
    from studio.simulate.inputs import Spec

__all__ = ["EXECUTORS", "compiled_for", "connect", "run_tasks"]

EXECUTORS = ("processes", "dask")
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx|inproc)://[^\s/]+$")
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
        from studio.simulate.compiler import compile  # noqa: PLC0415

        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        cached = _CACHE[(key, spec.allow_llm)] = compile(spec.workflow, allow_llm=spec.allow_llm)
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
            yield client
        finally:
            client.close()
        return
    cluster = _local_cluster(distributed, workers)
    try:
        client = distributed.Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def run_tasks(client: Any, work: Sequence[tuple[Spec, Any, str, Sequence[int]]],
              task: Callable[..., Any]) -> Iterator[tuple[int, Any]]:
    """Run ``task(spec, job, key, replication)`` for every spec's replications at once; yield
    ``(position of the spec in work, result)`` as tasks finish. Each spec travels to each worker once."""
    as_completed = _module("distributed").as_completed
    futures: dict[Any, int] = {}
    token = uuid.uuid4().hex[:8]  # task keys unique on a cluster that other runs share
    for position, (spec, job, key, replications) in enumerate(work):
        if not replications:
            continue
        shared = client.scatter(spec, broadcast=True, hash=False)
        local = replace(job, folder=None)
        for replication in replications:
            future = client.submit(task, shared, local, key, replication, pure=False,
                                   key=f"studio-{token}-{position}-{replication}")
            futures[future] = position
    try:
        for future, result in as_completed(list(futures), loop=client.loop, with_results=True):
            # dropping the future lets the worker free the result (a replication's cases) now
            yield futures.pop(future), result
    except BaseException:
        client.cancel([future for future in futures if not future.done()])
        raise
