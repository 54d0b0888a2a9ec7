"""Proof on every run that the kernel ran what LangGraph runs: a sample of its cases replayed.

A case's trace depends on the other cases only through the resources it shares with them (when a
person of a pool, or a rate-limited tool's slot, became free). The kernel records the resource
grants of the sampled cases; :func:`replay` runs each of those cases alone through the compiled
LangGraph graph (the engine of :mod:`studio.simulate.engine`, on its virtual clock), with resources
that hand out exactly the recorded grants, and compares the whole per-case record: every step, every
time, cost, token, failure and outcome. Any difference is a :class:`Mismatch` naming the first step
that differs; ``studio simulate`` then refuses to report.

The resources themselves (who is free when) are the same code in both engines; the differential
tests (``tests/test_simulate_kernel.py``) run whole replications through both engines and compare
them byte for byte.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from studio.simulate.batching import Batches, Group
from studio.simulate.clock import CaseClock, Clock, MemberPool, Pool, PriorityPool, RateLimiter, Ticket
from studio.simulate.compiler import CompiledWorkflow
from studio.simulate.engine import invoke, run_sync
from studio.simulate.inputs import Spec, arrival_times
from studio.simulate.kernel import Grants
from studio.simulate.runtime import STEP_FIELDS, CaseRun, Env, SimulatedHumans

__all__ = ["Mismatch", "replay", "sample"]

_Grant = tuple[Any, ...]


class _Diverged(Exception):
    """The LangGraph run asked for a resource the kernel's case did not ask for."""


@dataclass(frozen=True)
class Mismatch:
    """The first difference between the kernel's record of a case and LangGraph's."""

    replication: int
    index: int
    case_id: str
    step: int | None
    """Position of the first differing step in the case's record (None: the case's own fields)."""
    node: str | None
    field: str
    kernel: Any
    langgraph: Any

    def __str__(self) -> str:
        where = f"step {self.step} (`{self.node}`)" if self.step is not None else "the case record"
        return (f"replication {self.replication}, case {self.case_id}: {where} differs in `{self.field}`: "
                f"kernel {self.kernel!r}, LangGraph {self.langgraph!r}")


def sample(cases: int, replications: int, n: int) -> dict[int, list[int]]:
    """Which cases to verify: ``n`` spread evenly over the run (replication -> case indices).

    Evenly spaced, so the sample holds early cases (empty queues) and late ones (busy queues);
    spread round-robin over the replications."""
    total = cases * replications
    n = max(0, min(n, total))
    chosen: dict[int, list[int]] = {}
    for k in range(n):
        position = (k * total) // n
        chosen.setdefault(position % replications, []).append(position // replications)
    return {replication: sorted(set(indices)) for replication, indices in sorted(chosen.items())}


class _ReplayPool(Pool):
    __slots__ = ("_grants",)

    def __init__(self, pool: Pool, grants: deque[_Grant]) -> None:
        super().__init__(pool.id, pool.capacity, pool.calendar, contended=False)
        self._grants = grants

    def start(self, t: float) -> tuple[float, float]:
        begin, queued, _person = _take(self._grants, self.id, t)
        return begin, queued


class _ReplayMemberPool(MemberPool):
    """A pool of differing people that hands out the recorded grants, to the recorded person."""

    __slots__ = ("_grants",)

    def __init__(self, pool: MemberPool, grants: deque[_Grant]) -> None:
        super().__init__(pool.id, pool.people(), contended=False)
        self._grants = grants

    def start(self, t: float) -> tuple[float, float]:
        begin, queued, person = _take(self._grants, self.id, t)
        self.choose(person)
        return begin, queued


def _replay_pool(pool: Pool, grants: deque[_Grant]) -> Pool:
    return _ReplayMemberPool(pool, grants) if isinstance(pool, MemberPool) else _ReplayPool(pool, grants)


class _ReplayQueue(PriorityPool):
    """A priority queue that hands out the recorded grants: the case looks again at the recorded times,
    then gets the recorded person at the recorded start (or passes its deadline)."""

    __slots__ = ("_grants", "_recorded")

    def __init__(self, queue: PriorityPool, people: list[tuple[Any, float]], grants: deque[_Grant]) -> None:
        super().__init__(queue.id, people)
        self._grants = grants
        self._recorded: dict[int, tuple[float | None, int, deque[float]]] = {}

    def ask(self, t: float, level: int, service: float, deadline: float | None,
            own: tuple[float | None, ...] | None = None) -> Ticket:
        grant = self._grants[0] if self._grants else None
        start, _queued, person = _take(self._grants, self.id, t)
        ticket = Ticket(t, service, deadline, own)
        assert grant is not None
        self._recorded[id(ticket)] = (start, person, deque(grant[5:]))
        self.look(ticket, t)
        return ticket

    def next_look(self, ticket: Ticket, now: float) -> float:
        start, _person, looks = self._recorded[id(ticket)]
        if looks:
            return float(looks.popleft())
        if start is None:  # the kernel's case stopped while this waited: wait until a sibling stops it here too
            return float("inf")
        raise _Diverged(f"LangGraph's case waited in `{self.id}` longer than the kernel's")

    def look(self, ticket: Ticket, now: float) -> None:
        start, person, looks = self._recorded[id(ticket)]
        if looks or start is None:
            return
        del self._recorded[id(ticket)]
        if start == float("inf"):
            ticket.withdrawn = True
            return
        calendar = self.calendar(person)
        service = self.work_of(ticket, person)
        end = calendar.add_work(start, service) if calendar is not None else start + service
        ticket.start, ticket.end, ticket.person, ticket.service = start, end, person, service


class _ReplayLimiter(RateLimiter):
    __slots__ = ("_grants", "_id")

    def __init__(self, tool: str, limiter: RateLimiter, grants: deque[_Grant]) -> None:
        super().__init__(limiter.calls, limiter.per, contended=False)
        self._id = tool
        self._grants = grants

    def slot(self, t: float) -> float:
        return _take(self._grants, self._id, t)[0]


def _take(grants: deque[_Grant], resource: str, t: float) -> tuple[float, float, int]:
    if not grants:
        raise _Diverged(f"LangGraph asked `{resource}` at {t!r}; the kernel's case asked for nothing more")
    asked_of, asked_at, start, queued, person = grants.popleft()[:5]
    if asked_of != resource or asked_at != t:
        raise _Diverged(f"LangGraph asked `{resource}` at {t!r}; the kernel's case asked `{asked_of}` at {asked_at!r}")
    return start, queued, person


class _ReplayBatches(Batches):
    """The batches of one case replayed alone: each fires as the kernel's run recorded (when, how many
    cases, why), and the case does the batch's work itself (its pool grants were recorded too)."""

    __slots__ = ("_entries",)

    def __init__(self, entries: list[list[Any]]) -> None:
        super().__init__()
        self._entries = deque(entries)

    def join(self, node: str, member: Any, at: float) -> Group:
        if not self._entries:
            raise _Diverged(f"LangGraph reached batched step `{node}` at {at!r}; the kernel's case joined no more "
                            "batches")
        recorded, number, size, joined, fired, why = self._entries.popleft()
        if recorded != node or joined != at:
            raise _Diverged(f"LangGraph reached batched step `{node}` at {at!r}; the kernel's case joined "
                            f"`{recorded}` at {joined!r}")
        group = Group(number)
        group.members.append(member)
        group.replay = True
        group.size, group.fired, group.why = size, fired, why
        return group


def _first_difference(replication: int, want: dict[str, Any], got: dict[str, Any]) -> Mismatch | None:
    want = json.loads(json.dumps(want))
    got = json.loads(json.dumps(got))
    if want == got:
        return None
    steps_a, steps_b = want.get("steps", []), got.get("steps", [])
    for position, (a, b) in enumerate(zip(steps_a, steps_b, strict=False)):
        if a != b:
            for name, x, y in zip(STEP_FIELDS, a, b, strict=True):
                if x != y:
                    return Mismatch(replication, want["index"], want["case_id"], position, a[0], name, x, y)
    if len(steps_a) != len(steps_b):
        position = min(len(steps_a), len(steps_b))
        node = (steps_a[position] if position < len(steps_a) else steps_b[position])[0]
        return Mismatch(replication, want["index"], want["case_id"], position, node, "steps",
                        f"{len(steps_a)} step(s)", f"{len(steps_b)} step(s)")
    for key in sorted(set(want) | set(got)):
        if key != "steps" and want.get(key) != got.get(key):
            return Mismatch(replication, want["index"], want["case_id"], None, None, key, want.get(key), got.get(key))
    return None  # pragma: no cover - equal after all


def replay(compiled: CompiledWorkflow, spec: Spec, replication: int, records: Mapping[int, dict[str, Any]],
           grants: Grants) -> list[Mismatch]:
    """Replay the recorded cases of one kernel replication through LangGraph (``records``: case index ->
    the kernel's record of it); every difference found."""
    times = arrival_times(spec, replication)
    plan = compiled.plan
    graph = compiled.graph
    mismatches: list[Mismatch] = []

    async def one(index: int) -> tuple[dict[str, Any], str | None]:
        """The case's record from LangGraph, and why the replay stopped early (None: it did not)."""
        clock = Clock(asyncio.get_running_loop())
        env = Env(plan, clock=clock, decider=SimulatedHumans(), failures=True)
        queue: deque[_Grant] = deque(grants[index])
        env.pools = {pool_id: _replay_pool(pool, queue) for pool_id, pool in env.pools.items()}
        env.limiters = {tool: _ReplayLimiter(tool, limiter, queue) for tool, limiter in env.limiters.items()}
        if env.batches is not None:
            env.batches = _ReplayBatches(records[index].get("batches") or [])
        env.queues = {pool_id: _ReplayQueue(q, q.people(), queue) for pool_id, q in env.queues.items()}
        run = CaseRun.of_spec(env, spec, replication, index, times)
        problem: list[str] = []

        async def start_case(_index: int, cc: CaseClock) -> None:
            run.cc = cc
            try:
                await invoke(graph, run, spec.row(index))
            except _Diverged as exc:
                problem.append(str(exc))
            else:
                if queue:
                    problem.append(f"the kernel's case asked for {len(queue)} more resource grant(s)")
            finally:
                clock.case_finished(cc)

        await clock.drive([(times[index], index)], start_case)
        return run.payload(), (problem[0] if problem else None)

    for index in sorted(grants):
        want = records[index]
        got, problem = run_sync(partial(one, index))
        if problem is None:
            difference = _first_difference(replication, want, got)
        else:  # the replay stopped early: the first step that differs so far, else where it stopped
            done = len(got["steps"])
            difference = _first_difference(replication, {**want, "steps": want["steps"][:done]},
                                           {**want, "steps": got["steps"]})
            if difference is None:
                node = want["steps"][done][0] if done < len(want["steps"]) else None
                difference = Mismatch(replication, index, spec.case_ids[index], done, node, "resources",
                                      "the grants recorded", problem)
        if difference is not None:
            mismatches.append(difference)
    return mismatches


def describe(mismatches: Sequence[Mismatch]) -> str:
    """A person's account of the mismatches (the first few)."""
    lines = [str(m) for m in mismatches[:5]]
    if len(mismatches) > 5:
        lines.append(f"... and {len(mismatches) - 5} more")
    return "\n".join(lines)
