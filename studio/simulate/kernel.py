"""The Monte Carlo kernel: the compiled plan's cases stepped directly, with no per-case LangGraph call.

It runs the very node code the LangGraph graph runs (``CaseRun._execute``, with the same
random streams, resources, calendars, SLAs, failures, retries and loop guards) and replaces only
LangGraph's Pregel loop and asyncio's scheduler by their deterministic equivalents:

* **Supersteps.** A case starts with its start node in superstep 1. The nodes of a superstep are
  the nodes the previous one triggered (plain edges, the decision's chosen branch, a join once every
  branch it waits for has arrived: the runtime's own mirror, ``CaseRun.pending``), run in name
  order, as LangGraph orders a superstep's tasks; they all see the state as it was when the
  superstep began, and their updates are applied when all have finished, in name order (LangGraph
  sorts a superstep's writes by task path). A case that runs more supersteps than
  :func:`~studio.simulate.compiler.superstep_limit` is a runaway, killed by ``max_turns``.
* **Concurrency.** Each node is a coroutine driven by hand. A superstep's nodes each run until they
  first wait on the virtual clock or finish, in order (as asyncio runs freshly created tasks); a
  node that waits is parked in one heap, keyed by (time, order of asking), shared by every case.
  When a node stops the case (a failure, a loop guard), the superstep's other nodes get to that
  first point too and are then cancelled, as LangGraph cancels a failed superstep's siblings.
* **Time.** The driver starts the next arrival when it is due no later than the earliest parked
  node, else wakes that node; a woken case runs until all its running nodes wait again or it ends.

So the kernel and :mod:`studio.simulate.engine` ask every shared resource for the same things in the
same order, and produce the same per-case records. ``docs/simulation.md`` says when each engine runs;
:mod:`studio.simulate.verify` replays a sample of a kernel run through LangGraph to prove it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Generator
from functools import partial
from typing import Any

from studio import _gcpause
from studio.simulate.compiler import CompiledWorkflow, superstep_limit
from studio.simulate.inputs import Spec, arrival_order, arrival_times
from studio.simulate.runtime import CaseRun, CaseStop, Env, SimulatedHumans
from studio.simulate.store import CaseWriter

__all__ = ["Grants", "run_replication"]

Grants = dict[int, list[tuple[Any, ...]]]
"""Case index -> the case's resource grants ``(resource, asked at, start, queued, person, *looks)``, in
order (``looks``: when a request in a priority queue looked again, see :meth:`CaseRun._queue`)."""


class _Wait:
    """What a node yields to the driver: wake me at virtual time ``t``."""

    __slots__ = ("t",)

    def __init__(self, t: float) -> None:
        self.t = t

    def __await__(self) -> Generator[_Wait, None, None]:
        yield self


class _Park(_Wait):
    """What a node yields to park (a batch it joined): wake me when ``register``'s function is called,
    or at ``t`` when not None."""

    __slots__ = ("register",)

    def __init__(self, t: float | None, register: Callable[[Callable[[], None]], None]) -> None:
        self.t = t  # type: ignore[assignment]
        self.register = register


class _Now:
    """The driver's virtual time, where the runtime reads it (``cc.clock.now``)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = float("-inf")


class _Node:
    """One node of a superstep: its coroutine and, once finished, its state update."""

    __slots__ = ("case", "coro", "dead", "stale", "update")

    def __init__(self, case: _Case, coro: Any) -> None:
        self.case = case
        self.coro = coro
        self.update: dict[str, Any] | None = None
        self.dead = False
        self.stale = 0
        """The heap order of this node's parked deadline once something woke it before (0: none)."""


class _Case:
    """A case in flight. It is also the runtime's per-case clock (the ``cc`` of :class:`CaseRun`)."""

    __slots__ = ("clock", "error", "nodes", "open", "run", "state", "superstep")

    def __init__(self, clock: _Now, row: dict[str, Any]) -> None:
        self.clock = clock
        self.run: CaseRun | None = None
        self.state: dict[str, Any] = {"case": dict(row), "trace": [], "transitions": {}, "route": {}}
        self.superstep = 0
        self.nodes: list[_Node] = []
        self.open = 0
        self.error: CaseStop | None = None

    # the part of the CaseClock interface the node code uses (the kernel calls CaseRun._execute itself,
    # so the superstep bookkeeping of CaseRun.execute happens in the driver)
    def node_done(self) -> None:
        pass

    def until(self, t: float) -> _Wait:
        return _Wait(t)

    def park(self, deadline: float | None, register: Callable[[Callable[[], None]], None]) -> _Park:
        return _Park(deadline, register)


def _apply(state: dict[str, Any], update: dict[str, Any]) -> None:
    """One node's update into the case state, with the graph's reducers (merge, append, last value).

    In place: the superstep's nodes have all finished, and nothing keeps the state past its superstep."""
    for key, value in update.items():
        if key == "trace":
            state["trace"].extend(value)
        elif key in ("case", "transitions", "route"):
            state[key].update(value)
        else:
            state[key] = value


def run_replication(  # noqa: C901, PLR0913, PLR0915 - one driver loop; closures share its heap, speed per step
    compiled: CompiledWorkflow, spec: Spec, replication: int, on_case: Callable[[], None] | None = None, *,
    record: Collection[int] = (), writer: CaseWriter | None = None,
) -> tuple[dict[str, Any], Grants]:
    """Run every case of one replication; the payload (as the LangGraph engine's) and the resource
    grants of the cases in ``record`` (for :func:`studio.simulate.verify.replay`). ``writer``: where
    finished cases go (default: a list in memory)."""
    plan = compiled.plan
    clock = _Now()
    env = Env(plan, clock=clock, decider=SimulatedHumans(), failures=True)
    times = arrival_times(spec, replication)
    order = arrival_order(times)
    sink = writer if writer is not None else CaseWriter(replication, spec.cases)
    grants: Grants = {}
    heap: list[tuple[float, int, _Node]] = []
    seq = 0
    limit = superstep_limit(plan)
    nodes = plan.nodes
    wanted = frozenset(record)
    batches = env.batches

    def finish(case: _Case) -> None:
        run = case.run
        assert run is not None
        for node in case.nodes:
            if node.coro is not None and not node.dead:  # parked siblings of a node that stopped the case
                node.dead = True
                node.coro.close()
        sink.add(run.index, run.payload())
        if on_case is not None:
            on_case()
        # break the case's reference cycles (case <-> nodes, case <-> run, a stop's traceback): the
        # driver runs with the cyclic collector paused, so reference counting must free every case
        case.nodes = []
        case.run = None
        run.cc = None
        if run.stop is not None:
            run.stop.__traceback__ = None
        if case.error is not None:
            case.error.__traceback__ = None

    def drive(node: _Node) -> None:
        """Run ``node`` until it waits on the clock (parked in the heap) or finishes."""
        nonlocal seq
        case = node.case
        try:
            wait = node.coro.send(None)
        except StopIteration as done:
            node.update = done.value
            node.coro = None
            case.open -= 1
            return
        except CaseStop as stop:
            node.coro = None
            case.open -= 1
            if case.error is None:
                case.error = stop
                run = case.run
                assert run is not None
                if run.stop is None:  # what CaseRun.execute records in the LangGraph engine
                    run.stop = stop
                    run.status = stop.status
            return
        seq += 1
        if wait.__class__ is _Park:
            park(node, wait)
            return
        heapq.heappush(heap, (wait.t, seq, node))

    def park(node: _Node, wait: _Park) -> None:
        """Park ``node`` (a batch it joined): at its deadline if it has one, and until woken."""
        deadline = wait.t
        if deadline is not None:
            heapq.heappush(heap, (deadline, seq, node))
        wait.register(partial(wake, node, deadline, seq))

    def wake(node: _Node, deadline: float | None, timer: int) -> None:
        """Resume a parked node now, after the waits already due now (as the LangGraph clock's heap)."""
        nonlocal seq
        if deadline is not None and deadline <= clock.now:
            return  # its own deadline is due now and comes first in the heap: it wakes it
        seq += 1
        heapq.heappush(heap, (clock.now, seq, node))
        if deadline is not None:
            node.stale = timer

    def settle(case: _Case) -> None:
        """After a node ran: end the case, or start its next superstep once this one is complete."""
        while True:
            if case.error is not None:
                finish(case)
                return
            if case.open:
                return  # some node waits on the clock
            run = case.run
            assert run is not None
            state = case.state
            for node in case.nodes:  # already in name order
                if node.update:
                    _apply(state, node.update)
            names = sorted(run.pending)
            if not names:
                finish(case)
                return
            case.superstep += 1
            if case.superstep > limit:
                run.runaway()
                finish(case)
                return
            step = case.superstep
            run.pending = set()  # what CaseRun.execute does when a superstep begins
            batch = [_Node(case, run._execute(nodes[name], state, step)) for name in names]
            case.nodes = batch
            case.open = len(batch)
            for node in batch:
                drive(node)

    def start(index: int) -> None:
        row = spec.row(index)
        case = _Case(clock, row)
        run = CaseRun.of_spec(env, spec, replication, index, times, case)
        if index in wanted:
            run.grants = grants[index] = []
        case.run = run
        case.superstep = 1
        run.pending = set()
        node = _Node(case, run._execute(nodes[plan.start], case.state, 1))
        case.nodes = [node]
        case.open = 1
        drive(node)
        settle(case)

    position = 0
    total = len(order)
    with _gcpause.paused():  # nothing here needs the cyclic collector (see finish), and it cost ~45% of the time
        while True:
            while heap and (heap[0][2].dead or heap[0][2].stale == heap[0][1]):  # stale: a woken node's deadline
                heapq.heappop(heap)
            next_wait = heap[0][0] if heap else None
            if position < total and (next_wait is None or times[order[position]] <= next_wait):
                index = order[position]
                position += 1
                clock.now = max(clock.now, times[index])
                start(index)
                continue
            if next_wait is None:
                if batches is not None and batches.release():  # open batches never fill: their cases are stuck
                    continue
                break
            at, _seq, node = heapq.heappop(heap)
            clock.now = max(clock.now, at)
            drive(node)
            case = node.case
            if case.run is not None:  # not a case that a sibling's failure already finished
                settle(case)
    return sink.close(), grants
