"""Virtual time: working calendars, resources (human pools, rate-limited tools) and the clock.

Time is virtual seconds since :data:`EPOCH` (Monday 2024-01-01 00:00 UTC). Nothing here sleeps in
wall time.

Resources are computed lazily and first-come-first-served: a request made at virtual time ``t``
gets its start time straight from the resource's state (the earliest free server of a pool, the
oldest call in a rate limit's window), so a case never has to wait on the clock for a service to
*end*. What matters is that requests reach a resource in virtual-time order across all cases;
:class:`Clock` guarantees that. Every case runs as a coroutine in one event loop; before it asks
a resource for something at time ``t`` it awaits :meth:`CaseClock.until`, and the driver
(:meth:`Clock.drive`) only moves virtual time forward, to the next waiting request or arrival,
when every live case is blocked on the clock. Ties are broken by the order the requests were made,
which is deterministic in a single-threaded event loop.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import date, datetime, time, timedelta, timezone
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from studio.model import Calendar

__all__ = [
    "EPOCH",
    "Clock",
    "MemberPool",
    "Pool",
    "PriorityPool",
    "RateLimiter",
    "Ticket",
    "WorkCalendar",
    "iso_to_seconds",
    "seconds_to_iso",
]

EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
"""Virtual time zero: Monday 2024-01-01 00:00 UTC."""

_WEEK = 7 * 86400.0


def seconds_to_iso(seconds: float) -> str:
    """A virtual time as an ISO timestamp (UTC), for people."""
    return (EPOCH + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def iso_to_seconds(text: str) -> float:
    """Seconds since :data:`EPOCH` for an ISO timestamp (naive times are UTC)."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH).total_seconds()


class WorkCalendar:
    """Working hours of a human pool as absolute intervals of virtual time (DST-aware).

    A week's ranges come from :meth:`Calendar.week` (the simple form or ``shifts``); ranges that
    overlap (a night shift running into the next day's morning shift) are worked as one.
    """

    __slots__ = ("_overnight", "_ranges", "_weeks", "tz", "unknown_timezone")

    def __init__(self, calendar: Calendar) -> None:
        self._ranges = calendar.week()
        self._overnight = any(end > 24 * 60 for _day, _start, end in self._ranges)  # only then can ranges overlap
        self.unknown_timezone = False
        try:
            self.tz: Any = ZoneInfo(calendar.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self.tz = timezone.utc
            self.unknown_timezone = True
        self._weeks: dict[int, list[tuple[float, float]]] = {}

    def _week(self, week: int) -> list[tuple[float, float]]:
        intervals = self._weeks.get(week)
        if intervals is None:
            intervals = []
            monday = EPOCH.date() + timedelta(days=7 * week)
            for day, start, end in self._ranges:
                local = monday + timedelta(days=day)
                opens = _local(local, start, self.tz)
                closes = _local(local, end, self.tz)
                intervals.append(((opens - EPOCH).total_seconds(), (closes - EPOCH).total_seconds()))
            intervals.sort()
            self._weeks[week] = intervals
        return intervals

    def _from(self, t: float) -> Any:
        """The working intervals that end after ``t``, in order, overlapping ones merged."""
        week = int(t // _WEEK) - 1
        if not self._overnight:  # ranges within their day never overlap: the plain walk
            while True:
                for interval in self._week(week):
                    if interval[1] > t:
                        yield interval
                week += 1
        held: tuple[float, float] | None = None
        while True:
            for opens, closes in self._week(week):
                if held is not None and opens < held[1]:
                    held = (held[0], max(held[1], closes))
                    continue
                if held is not None and held[1] > t:
                    yield held
                held = (opens, closes)
            week += 1

    def next_open(self, t: float) -> float:
        """``t`` if the pool works at ``t``, else the next time it starts working."""
        for opens, _closes in self._from(t):
            return opens if opens > t else t
        raise AssertionError("unreachable")  # pragma: no cover

    def add_work(self, t: float, seconds: float) -> float:
        """When ``seconds`` of working time started at ``t`` are done (work pauses outside hours)."""
        remaining = seconds
        for opens, closes in self._from(t):
            begin = opens if opens > t else t
            available = closes - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable")  # pragma: no cover

    def open_seconds(self, t0: float, t1: float) -> float:
        """Working seconds between ``t0`` and ``t1``."""
        total = 0.0
        for opens, closes in self._from(t0):
            if opens >= t1:
                break
            total += max(0.0, min(closes, t1) - max(opens, t0))
        return total


def _local(day: date, minutes: int, tz: Any) -> datetime:
    if minutes >= 24 * 60:  # a range that ends at 24:00 or runs past midnight ends on the next day
        day, minutes = day + timedelta(days=1), minutes - 24 * 60
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz)


class Pool:
    """A pool of ``capacity`` people serving requests first come, first served, in working hours.

    With ``contended=False`` (a walkthrough, a gold case) nobody else competes: work starts at the
    request time, or when the calendar next opens.
    """

    __slots__ = ("_free", "busy", "calendar", "capacity", "contended", "id", "requests")

    def __init__(self, pool_id: str, capacity: int, calendar: WorkCalendar | None, contended: bool) -> None:
        self.id = pool_id
        self.capacity = capacity
        self.calendar = calendar
        self.contended = contended
        self.busy = 0.0
        self.requests = 0
        self._free: list[float] = [float("-inf")] * capacity

    def start(self, t: float) -> tuple[float, float]:
        """(start, queue wait) for a request at ``t``; calendar waits are ``start - t - queue``."""
        begin = t
        if self.contended:
            free = self._free[0]
            if free > t:
                begin = free
        queued = begin - t
        if self.calendar is not None:
            begin = self.calendar.next_open(begin)
        return begin, queued

    def reserve(self, start: float, service: float) -> float:
        """Book the earliest free person from ``start`` for ``service`` working seconds; the end."""
        end = self.calendar.add_work(start, service) if self.calendar is not None else start + service
        if self.contended:
            heapq.heapreplace(self._free, end)
        self.busy += service
        self.requests += 1
        return end


class MemberPool(Pool):
    """A pool whose people differ: each has their own working hours and pace.

    A request goes to the person who can start it first (ties: the one listed first); ``chosen`` is
    that person until the next request, and ``calendar`` their calendar (for the wait's split into
    queue and closed hours). Their pace divides the work's duration (:meth:`pace`).
    """

    __slots__ = ("_calendars", "_free_at", "_speeds", "chosen")

    def __init__(self, pool_id: str, members: list[tuple[WorkCalendar | None, float]], contended: bool) -> None:
        super().__init__(pool_id, len(members), None, contended)
        self._calendars = [calendar for calendar, _ in members]
        self._speeds = [speed for _, speed in members]
        self._free_at = [float("-inf")] * len(members)
        self.chosen = 0

    def start(self, t: float) -> tuple[float, float]:
        best_begin = float("inf")
        best = 0
        best_free = t
        for index, calendar in enumerate(self._calendars):
            free = max(self._free_at[index], t) if self.contended else t
            begin = calendar.next_open(free) if calendar is not None else free
            if begin < best_begin:
                best_begin, best, best_free = begin, index, free
        self.choose(best)
        return best_begin, best_free - t

    def people(self) -> list[tuple[WorkCalendar | None, float]]:
        """Each person's calendar and pace, in order (what the pool was made from)."""
        return list(zip(self._calendars, self._speeds, strict=True))

    def choose(self, index: int) -> None:
        self.chosen = index
        self.calendar = self._calendars[index]

    def pace(self) -> float:
        return self._speeds[self.chosen]

    def reserve(self, start: float, service: float) -> float:
        calendar = self._calendars[self.chosen]
        end = calendar.add_work(start, service) if calendar is not None else start + service
        if self.contended:
            self._free_at[self.chosen] = end
        self.busy += service
        self.requests += 1
        return end


class Ticket:
    """A request in a :class:`PriorityPool`'s queue, and what it was granted.

    ``start`` stays None while it waits; ``withdrawn`` when its deadline passed first. ``looks`` are
    the virtual times its case woke to look again (what a verified replay repeats)."""

    __slots__ = ("asked", "deadline", "end", "looks", "own", "person", "service", "start", "withdrawn")

    def __init__(self, asked: float, service: float, deadline: float | None,
                 own: tuple[float | None, ...] | None = None) -> None:
        self.asked = asked
        self.service = service
        self.own = own
        """Per person, their own working seconds for this step (``members[].durations``), else None."""
        self.deadline = deadline
        self.start: float | None = None
        self.end = 0.0
        self.person = 0
        self.withdrawn = False
        self.looks: list[float] = []

    def waiting(self) -> bool:
        return self.start is None and not self.withdrawn


class PriorityPool:
    """People who serve waiting requests best level first (``simulation.priority``), non-preemptively.

    A request brings its work (``service``, working seconds at pace 1) so that the moment a person
    takes it, the person's end is known. Whenever someone can start (free and in working hours),
    :meth:`dispatch` gives them the waiting request with the highest level (first come, first served
    within a level; ties by the order asked); among the people who can start, the one listed first.
    Nothing is decided ahead of time: a request that arrives later with a higher level overtakes the
    ones already waiting. A case whose request waits wakes at :meth:`next_look` (the next time anyone
    can start, or its deadline) and looks again; every case that looks dispatches for all waiting
    requests at that moment, so the outcome does not depend on which case looks first.
    """

    __slots__ = ("_calendars", "_free_at", "_order", "_speeds", "_waiting", "id")

    def __init__(self, pool_id: str, people: list[tuple[WorkCalendar | None, float]]) -> None:
        self.id = pool_id
        self._calendars = [calendar for calendar, _ in people]
        self._speeds = [speed for _, speed in people]
        self._free_at = [float("-inf")] * len(people)
        self._waiting: list[tuple[int, float, int, Ticket]] = []
        self._order = 0

    def calendar(self, person: int) -> WorkCalendar | None:
        return self._calendars[person]

    def people(self) -> list[tuple[WorkCalendar | None, float]]:
        """Each person's calendar and pace, in order (what the pool was made from)."""
        return list(zip(self._calendars, self._speeds, strict=True))

    def ask(self, t: float, level: int, service: float, deadline: float | None,
            own: tuple[float | None, ...] | None = None) -> Ticket:
        """Queue a request made at ``t`` (the current virtual time) and serve whoever can start now."""
        ticket = Ticket(t, service, deadline, own)
        self._order += 1
        heapq.heappush(self._waiting, (-level, t, self._order, ticket))
        self.look(ticket, t)
        return ticket

    def look(self, ticket: Ticket, now: float) -> None:
        """At ``now``: serve whoever can start; withdraw ``ticket`` if it still waits at its deadline."""
        self.dispatch(now)
        if ticket.start is None and ticket.deadline is not None and now >= ticket.deadline:
            ticket.withdrawn = True

    def next_look(self, ticket: Ticket, now: float) -> float:
        """When ``ticket``'s case should look again: the next time anyone can start, or its deadline."""
        soonest = float("inf")
        for person, calendar in enumerate(self._calendars):
            free = self._free_at[person]
            free = max(free, now)
            begin = calendar.next_open(free) if calendar is not None else free
            soonest = min(soonest, begin)
        deadline = ticket.deadline
        return deadline if deadline is not None and deadline < soonest else soonest

    def dispatch(self, now: float) -> None:
        """Give every person who can start at ``now`` the best waiting request."""
        waiting = self._waiting
        while waiting:
            ticket = waiting[0][3]
            if not ticket.waiting():
                heapq.heappop(waiting)
                continue
            person = self._can_start(now)
            if person < 0:
                return
            heapq.heappop(waiting)
            calendar = self._calendars[person]
            service = self.work_of(ticket, person)
            end = calendar.add_work(now, service) if calendar is not None else now + service
            self._free_at[person] = end
            ticket.start, ticket.end, ticket.person, ticket.service = now, end, person, service

    def work_of(self, ticket: Ticket, person: int) -> float:
        """The working seconds ``person`` takes for the request: their own duration of the step, else
        the request's work at their pace."""
        own = ticket.own[person] if ticket.own is not None else None
        return own if own is not None else ticket.service / self._speeds[person]

    def _can_start(self, now: float) -> int:
        """The first person free and in working hours at ``now``, or -1."""
        for person, calendar in enumerate(self._calendars):
            if self._free_at[person] <= now and (calendar is None or calendar.next_open(now) == now):
                return person
        return -1


class RateLimiter:
    """At most ``calls`` call starts in any window of ``per`` seconds, first come, first served."""

    __slots__ = ("_starts", "calls", "contended", "per")

    def __init__(self, calls: int, per: float, contended: bool) -> None:
        self.calls = calls
        self.per = per
        self.contended = contended
        self._starts: deque[float] = deque()

    def slot(self, t: float) -> float:
        if not self.contended:
            return t
        starts = self._starts
        begin = t
        if len(starts) >= self.calls:
            earliest = starts.popleft() + self.per
            begin = max(begin, earliest)
        starts.append(begin)
        return begin


class CaseClock:
    """Per-case bookkeeping the driver needs to know whether a case is blocked on the clock.

    LangGraph runs a case in supersteps; a case is blocked when every node of its current
    superstep has either finished or is waiting on the clock (and at least one is waiting).
    ``expect`` is the number of nodes in the current superstep, predicted by the runtime from the
    edges the previous superstep triggered.
    """

    __slots__ = ("blocked", "clock", "done", "dying", "expect", "step", "waiting")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.step = -1
        self.expect = 1
        self.done = 0
        self.waiting = 0
        self.blocked = False
        self.dying = False

    def begin_step(self, step: int, expected: int) -> None:
        self.step = step
        self.expect = expected if expected > 0 else 1
        self.done = 0

    def node_done(self) -> None:
        self.done += 1
        self._check()

    def die(self) -> None:
        """The case is stopping (an exception is unwinding it): never count it as blocked again."""
        self.dying = True
        if self.blocked:
            self.blocked = False
            self.clock.blocked -= 1

    def _check(self) -> None:
        if (
            not self.blocked
            and not self.dying
            and self.waiting
            and self.waiting + self.done >= self.expect
        ):
            self.blocked = True
            clock = self.clock
            clock.blocked += 1
            clock.maybe_idle()

    async def until(self, t: float) -> None:
        """Wait until virtual time ``t`` (returns at once when the clock is already there)."""
        clock = self.clock
        if t <= clock.now:
            return
        future: asyncio.Future[None] = clock.loop.create_future()
        clock.seq += 1
        heapq.heappush(clock.heap, (t, clock.seq, future, self))
        self.waiting += 1
        self._check()
        try:
            await future
        except asyncio.CancelledError:
            if future.cancelled():  # never woken: undo the bookkeeping the driver would have done
                self.waiting -= 1
                if self.blocked:
                    self.blocked = False
                    clock.blocked -= 1
            raise


    async def park(self, deadline: float | None, register: Callable[[Callable[[], None]], None]) -> None:
        """Wait, without a known time, until another case wakes this one (a batch it joined fires), or
        until ``deadline`` if given; ``register`` receives the function that wakes it (at the clock's
        time then, as one more waiter in the heap)."""
        clock = self.clock
        future: asyncio.Future[None] = clock.loop.create_future()
        if deadline is not None:
            clock.seq += 1
            heapq.heappush(clock.heap, (deadline, clock.seq, future, self))
        register(partial(clock.wake, future, self))
        self.waiting += 1
        self._check()
        try:
            await future
        except asyncio.CancelledError:
            if future.cancelled():
                self.waiting -= 1
                if self.blocked:
                    self.blocked = False
                    clock.blocked -= 1
            raise


class Clock:
    """The shared virtual clock and its driver (a discrete-event schedule across all cases)."""

    __slots__ = ("_idle", "blocked", "heap", "live", "loop", "now", "seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.now = float("-inf")
        self.heap: list[tuple[float, int, asyncio.Future[None], CaseClock]] = []
        self.seq = 0
        self.live = 0
        self.blocked = 0
        self._idle: asyncio.Future[None] | None = None

    def maybe_idle(self) -> None:
        idle = self._idle
        if idle is not None and self.blocked >= self.live and not idle.done():
            idle.set_result(None)

    def wake(self, future: asyncio.Future[None], case: CaseClock) -> None:
        """Resume a parked case now (after every waiter already due now); nothing if already woken."""
        if not future.done():
            self.seq += 1
            heapq.heappush(self.heap, (self.now, self.seq, future, case))

    def case_finished(self, case: CaseClock) -> None:
        if case.blocked:
            case.blocked = False
            self.blocked -= 1
        self.live -= 1
        self.maybe_idle()

    async def drive(  # noqa: C901, PLR0915 - the discrete-event loop: its order is the semantics, kept in one place
        self,
        arrivals: list[tuple[float, int]],
        start_case: Callable[[int, CaseClock], Coroutine[Any, Any, None]],
        on_stall: Callable[[], bool] | None = None,
    ) -> None:
        """Run every case: start each at its arrival, wake waiters in time order, until all finish.

        ``arrivals`` is a list of ``(time, case index)`` sorted by time. ``on_stall``: called when
        cases are left but nothing is due (every one is parked); it wakes some, or returns False.
        """
        loop = self.loop
        heap = self.heap
        tasks: set[asyncio.Task[None]] = set()
        failures: list[BaseException] = []

        def _done(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if not task.cancelled():
                error = task.exception()
                if error is not None:
                    failures.append(error)
                    idle = self._idle
                    if idle is not None and not idle.done():
                        idle.set_result(None)

        position = 0
        total = len(arrivals)
        while True:
            if failures:
                break
            if self.blocked < self.live:
                self._idle = loop.create_future()
                await self._idle
                self._idle = None
                continue
            while heap and heap[0][2].done():  # cancelled waiters of cases that stopped
                heapq.heappop(heap)
            next_wait = heap[0][0] if heap else None
            if position < total and (next_wait is None or arrivals[position][0] <= next_wait):
                at, index = arrivals[position]
                position += 1
                self.now = max(self.now, at)
                case = CaseClock(self)
                self.live += 1
                task = loop.create_task(start_case(index, case))
                tasks.add(task)
                task.add_done_callback(_done)
                continue
            if next_wait is None:
                if self.live and on_stall is not None and on_stall():
                    continue
                if self.live:
                    raise RuntimeError(
                        f"simulation stalled: {self.live} case(s) cannot make progress (internal error)"
                    )
                break
            at, _seq, future, case = heapq.heappop(heap)
            self.now = max(self.now, at)
            case.waiting -= 1
            if case.blocked:
                case.blocked = False
                self.blocked -= 1
            future.set_result(None)
        if failures:
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            raise failures[0]
