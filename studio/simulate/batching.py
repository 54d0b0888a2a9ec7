"""Batches: cases collected at a person's step across cases, and done together.

A batched step (``batch: {size, timeout}`` on a task or an approval done by a human pool) keeps one
open :class:`Group` per node. A case that reaches the step joins the open group; the case that fills
it (``size`` members) fires it at once, else the case that opened it fires it when it has waited
``timeout``. The firing case queues for the pool once for the whole batch and draws the work's
duration once, from the batch's own random stream; the other members wait parked on the clock
(:meth:`studio.simulate.clock.CaseClock.park`, or the kernel's equivalent) and are woken, in the
order they joined, at the time the batch fired. When nothing else can happen in a run (no arrivals
left, no case waiting on the clock), the groups still open never fill: :meth:`Batches.release`
wakes their cases, which stop as ``stuck``.

``docs/semantics.md`` ("Batches") is the semantics; :mod:`studio.simulate.runtime` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Batches", "Group"]


class Group:
    """One batch at one node: its members in the order they joined, and once fired what it did.

    ``wakers``: (member, function) for the parked members; calling the function schedules that
    member to resume at the clock's current time. ``timing`` is the pool's work for the whole batch
    (set by the case that fires it) and ``grants`` the resource grants that work took (every member
    records them, for a replay of that member alone)."""

    __slots__ = ("abandoned", "fired", "grants", "members", "number", "replay", "size", "timing", "wakers", "why")

    def __init__(self, number: int) -> None:
        self.number = number
        self.members: list[Any] = []
        self.wakers: list[tuple[Any, Callable[[], None]]] = []
        self.timing: Any = None
        self.grants: list[tuple[str, float, float, float, int]] = []
        self.fired: float | None = None
        self.why: str | None = None
        self.size = 0
        self.abandoned = False
        self.replay = False

    def park(self, member: Any) -> Callable[[Callable[[], None]], None]:
        """What a parked member registers its waker with."""
        return lambda waker: self.wakers.append((member, waker))

    def wake_others(self, firer: Any) -> None:
        """Resume every parked member but ``firer``, in the order they joined."""
        for member, waker in self.wakers:
            if member is not firer:
                waker()


class Batches:
    """The open batch of every batched node of a run (shared by all its cases, like the pools)."""

    __slots__ = ("_count", "_open")

    def __init__(self) -> None:
        self._open: dict[str, Group] = {}
        self._count: dict[str, int] = {}

    def join(self, node: str, member: Any, at: float) -> Group:
        """``member`` reaches ``node`` at ``at`` (the clock's time): the group it joins."""
        group = self._open.get(node)
        if group is None:
            number = self._count.get(node, 0)
            self._count[node] = number + 1
            group = self._open[node] = Group(number)
        group.members.append(member)
        return group

    def close(self, node: str, group: Group) -> None:
        """``group`` fires: the next case to reach ``node`` opens a new one."""
        if self._open.get(node) is group:
            del self._open[node]

    def release(self) -> bool:
        """Nothing else can happen in the run: the open groups never fill. Wake their members (node
        by node in name order, members in the order they joined), who stop as stuck; False when
        there was none."""
        woke = False
        for node in sorted(self._open):
            group = self._open.pop(node)
            group.abandoned = True
            for _member, waker in group.wakers:
                waker()
                woke = True
        return woke
