"""What a compiled node does when it runs: the per-case runtime given through the LangGraph config.

:class:`CaseRun` is the object in ``config["configurable"]["studio_runtime"]``. Each LangGraph node
calls :meth:`CaseRun.execute`, which

1. works out where the case came from and when (its triggering predecessor's end; a join starts
   when its latest branch ends),
2. applies the guards (``policies.max_turns`` node steps; each transition at most ``max_repeats``
   times; exceeding either kills the case at that place),
3. does the step: agents and systems take sampled time, call tools (rate-limited tools are queued
   resources), spend tokens and may fail by category with retries; human tasks and approvals queue
   for their pool in working hours, escalate past their SLA, and are answered by a *decider*
   (simulated humans, scripted gold answers, or ``interrupt()`` in a walkthrough); decisions
   evaluate their conditions,
4. records a step and returns the state update.

A case that fails or is killed raises :class:`CaseStop` out of the graph.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from studio.expr import EvaluationError, ExpressionError
from studio.model import parse_duration
from studio.simulate.batching import Batches, Group
from studio.simulate.behaviour import Resolved, Rng, override
from studio.simulate.clock import (
    CaseClock,
    MemberPool,
    Pool,
    PriorityPool,
    RateLimiter,
    Ticket,
    WorkCalendar,
    seconds_to_iso,
)
from studio.simulate.compiler import NodePlan, Plan

__all__ = [
    "STEP_FIELDS",
    "CaseRun",
    "CaseStop",
    "Env",
    "InteractiveHumans",
    "ScriptedHumans",
    "SimulatedHumans",
    "Step",
    "parse_human_decisions",
]

class Step(NamedTuple):
    """One executed node of a case: the trace's record, saved as a JSON list in this field order.

    ``wait`` is the time from the request to the start; ``queue`` is the part of it during which the
    pool was working but every person was busy (the rest is outside working hours, or for an
    escalation the time until the SLA ran out); for agents ``wait`` is the rate-limit wait for tools.
    For a ``wait`` step ``wait`` is the time the timer ran (reason ``timer``), and ``start`` and ``end``
    are the moment it fired. ``source`` is the node the case came from (``from`` in saved results and ``traces.jsonl``).
    """

    node: str
    actor: str | None
    start: float
    end: float
    wait: float
    queue: float
    wait_reason: str | None
    resource: str | None
    service: float
    decision: str | None
    note: str | None
    tokens_in: int
    tokens_out: int
    cost: float
    attempts: int
    failure: str | None
    escalated_to: str | None
    source: str | None
    handoff_from: str | None
    tool_calls: list[list[Any]]
    step: int
    joined: list[str] | None


STEP_FIELDS: tuple[str, ...] = tuple("from" if name == "source" else name for name in Step._fields)
"""Field names of a step record as saved (``Step``'s, with ``source`` written ``from``)."""

(S_NODE, S_ACTOR, S_START, S_END, S_WAIT, S_QUEUE, S_REASON, S_RESOURCE, S_SERVICE, S_DECISION, S_NOTE, S_TIN, S_TOUT,
 S_COST, S_ATTEMPTS, S_FAILURE, S_ESCALATED, S_FROM, S_HANDOFF, S_TOOLS, S_STEP, S_JOINED) = range(len(STEP_FIELDS))
"""Positions of the fields, for records read back as JSON lists (the one definition; results use them)."""

APPROVAL_DECISIONS = ("approve", "reject", "send_back")


class CaseStop(Exception):
    """Ends a case early: ``status`` is ``failed`` or ``killed``.

    ``category`` is ``tool`` | ``reasoning`` | ``handoff`` | ``data`` | ``policy``; ``reason`` says
    what happened (``loop_guard``, ``max_turns``, a failure message); ``where`` is the node or the
    ``from>to`` transition.
    """

    def __init__(self, status: str, category: str, reason: str, *, where: str, node: str,  # noqa: PLR0913 - keywords
                 actor: str | None, at: float) -> None:
        super().__init__(f"{status} at {where}: {reason}")
        self.status = status
        self.category = category
        self.reason = reason
        self.where = where
        self.node = node
        self.actor = actor
        self.at = at


# --------------------------------------------------------------------------- deciders


class SimulatedHumans:
    """Humans answer from their behaviour model: approve / send back / reject by rate."""

    interactive = False

    def decide(self, run: CaseRun, plan: NodePlan, behaviour: Resolved, state: Mapping[str, Any],
               at: float) -> tuple[str, str | None, dict[str, Any]]:
        if plan.kind != "approval":
            return "done", None, {}
        u = run.rng.u()
        if u < behaviour.approve_rate:
            return "approve", None, {}
        if u < behaviour.approve_rate + behaviour.send_back_rate:
            return "send_back", "sent back (simulated)", {}
        return "reject", None, {}


def parse_human_decisions(text: Any) -> dict[str, deque[str]]:
    """``"manager_approval=send_back;manager_approval=approve"`` -> answers per node, in order."""
    script: dict[str, deque[str]] = {}
    if text is None:
        return script
    for part in str(text).replace(",", ";").split(";"):
        if not part.strip():
            continue
        node, _, answer = part.partition("=")
        script.setdefault(node.strip(), deque()).append(_normalise(answer.strip() or "approve"))
    return script


class ScriptedHumans:
    """Humans answer from a script (a gold case's ``human_decisions``); unlisted steps approve."""

    interactive = False

    def decide(self, run: CaseRun, plan: NodePlan, behaviour: Resolved, state: Mapping[str, Any],
               at: float) -> tuple[str, str | None, dict[str, Any]]:
        answers = run.script.get(plan.id)
        if answers:
            decision = answers.popleft()
            note = "scripted"
        else:
            decision, note = "approve", "not in the script: approved"
        if plan.kind != "approval" and decision == "approve":
            decision = "done"
        return decision, note, {}


class InteractiveHumans:
    """A person answers: ``interrupt()`` with what is to be decided; resumed with the answer."""

    interactive = True

    def decide(self, run: CaseRun, plan: NodePlan, behaviour: Resolved, state: Mapping[str, Any],
               at: float) -> tuple[str, str | None, dict[str, Any]]:
        from langgraph.types import interrupt  # noqa: PLC0415

        answer = interrupt(run.question(plan, state, at))
        if isinstance(answer, Mapping):
            decision = _normalise(str(answer.get("decision", "approve")))
            note = answer.get("note")
            fields = dict(answer.get("fields") or {})
        else:
            decision, note, fields = _normalise(str(answer)), None, {}
        if plan.kind != "approval":
            decision = "done" if decision == "approve" else decision
        return decision, (str(note) if note is not None else None), fields


def _normalise(answer: str) -> str:
    answer = answer.strip().lower().replace("-", "_").replace(" ", "_")
    return {"steer": "send_back", "sendback": "send_back", "approved": "approve", "rejected": "reject",
            "yes": "approve", "no": "reject", "ok": "approve"}.get(answer, answer)


# --------------------------------------------------------------------------- environment


class Env:
    """What all cases of one run share: the plan, resources, the clock, the decider, the models."""

    def __init__(self, plan: Plan, *, clock: object | None, decider: Any, failures: bool = True,
                 models: Mapping[str, Any] | None = None) -> None:
        self.plan = plan
        self.clock = clock
        self.decider = decider
        self.failures = failures
        self.models = dict(models or {})
        contended = clock is not None
        self.pools: dict[str, Pool] = {}
        for pool_id, (capacity, calendar) in sorted(plan.pools.items()):
            work = WorkCalendar(calendar) if calendar is not None else None
            members = plan.members.get(pool_id)
            if members:  # people who differ: each with their own hours and pace
                self.pools[pool_id] = MemberPool(
                    pool_id, [(WorkCalendar(cal) if cal is not None else None, speed) for cal, speed in members],
                    contended)
            else:
                self.pools[pool_id] = Pool(pool_id, capacity, work, contended)
        self.queues: dict[str, PriorityPool] = {}
        """With ``simulation.priority`` and contended pools: each human pool's priority queue (people's
        steps queue there, best level first; systems with a capacity keep their first come, first
        served pool). Empty otherwise, and then nothing of it runs."""
        if contended:
            for pool_id in plan.priority_pools:
                capacity, calendar = plan.pools[pool_id]
                members = plan.members.get(pool_id)
                people = ([(WorkCalendar(cal) if cal is not None else None, speed) for cal, speed in members]
                          if members else [(WorkCalendar(calendar) if calendar is not None else None, 1.0)] * capacity)
                self.queues[pool_id] = PriorityPool(pool_id, people)
        self.limiters: dict[str, RateLimiter] = {
            tool.id: RateLimiter(tool.rate_limit[0], tool.rate_limit[1], contended)
            for tool in plan.tools.values() if tool.rate_limit is not None
        }
        self._quiet: dict[tuple[str, str], Resolved] = {}
        self.batches: Batches | None = (
            Batches() if contended and plan.batched else None)
        """The open batches (None: a case runs alone, or nothing batches; a batched step then serves
        each case at once, as a batch of one)."""

    def behaviour(self, plan: NodePlan, actor: str) -> Resolved:
        base = plan.behaviours[actor]
        if self.failures:
            return base
        key = (plan.id, actor)
        quiet = self._quiet.get(key)
        if quiet is None:
            quiet = self._quiet[key] = _without_failures(base)
        return quiet

    def tool_behaviour(self, tool: str) -> Resolved:
        base = self.plan.tools[tool].behaviour
        if self.failures:
            return base
        key = ("\x00tool", tool)
        quiet = self._quiet.get(key)
        if quiet is None:
            quiet = self._quiet[key] = _without_failures(base)
        return quiet


def _without_failures(base: Resolved) -> Resolved:
    from dataclasses import replace  # noqa: PLC0415

    return replace(base, fail_tool=0.0, fail_reasoning=0.0, fail_handoff=0.0)


@dataclass
class _Timing:
    start: float
    end: float
    wait: float
    queue: float
    reason: str | None
    resource: str | None
    service: float
    actor: str | None
    escalated_to: str | None


def _waited(pool: Pool, t: float, asked: float, begin: float) -> tuple[float, float, str | None]:
    """(wait, queue, reason) of a request made at ``t`` (re-asked at ``asked`` after an escalation) that
    started at ``begin``: the queue is the part while the pool worked but everyone was busy."""
    return _waited_on(pool.calendar, t, asked, begin)


def _waited_on(calendar: WorkCalendar | None, t: float, asked: float, begin: float) -> tuple[float, float, str | None]:
    """:func:`_waited` with the calendar of the person who did the work."""
    wait = begin - t
    queue = begin - asked
    if calendar is not None and queue > 0:
        queue = calendar.open_seconds(asked, begin)
    reason = ("queue" if queue >= wait - queue else "calendar") if wait > 0 else None
    return wait, queue, reason


def _level(rules: tuple[tuple[Any, int], ...], row: Mapping[str, Any]) -> int | str:
    """The level of the first rule whose condition holds on ``row`` (0 when none does), or why not."""
    for expression, level in rules:
        if expression is None:
            return level
        try:
            if expression.evaluate_bool(row):
                return level
        except ExpressionError as exc:
            message = exc.message if isinstance(exc, EvaluationError) else str(exc)
            return f"priority `{expression.text}`: {message}"
    return 0


# --------------------------------------------------------------------------- one case


class CaseRun:
    """The runtime of one case (the "decider/runtime" object a compiled node asks at run time)."""

    __slots__ = (
        "actor_behaviour",
        "arrival",
        "arrivals",
        "batched",
        "case_id",
        "cc",
        "end_node",
        "env",
        "grants",
        "index",
        "last_actor",
        "level",
        "outcome",
        "overrides",
        "pending",
        "plan",
        "replication",
        "rng",
        "script",
        "status",
        "steps",
        "stop",
        "trig",
    )

    def __init__(  # noqa: PLR0913 - keyword-only: what a case starts from
        self, env: Env, *, index: int, case_id: str, row: Mapping[str, Any], arrival: float, rng: Rng,
                 replication: int = 0, cc: CaseClock | None = None, script: dict[str, deque[str]] | None = None
                 ) -> None:
        self.env = env
        self.plan = env.plan
        self.index = index
        self.case_id = case_id
        self.replication = replication
        self.arrival = arrival
        self.rng = rng
        self.cc = cc
        self.script = script or {}
        self.steps: list[tuple[Any, ...]] = []
        self.trig: dict[str, tuple[str, float]] = {}
        self.arrivals: dict[str, dict[str, tuple[str, float]]] = {}
        self.pending: set[str] = {self.plan.start}
        self.last_actor: dict[str, str | None] = {}
        self.status = "running"
        self.outcome: str | None = None
        self.end_node: str | None = None
        self.stop: CaseStop | None = None
        self.actor_behaviour: dict[tuple[str, str], Resolved] = {}
        self.grants: list[tuple[Any, ...]] | None = None
        """When a list: every resource grant of this case, ``(resource, asked at, start, queued, person)``
        in the order asked (``person``: who of a pool of differing people; recorded for a replay through
        the other engine, see :mod:`studio.simulate.kernel`). A priority queue's grant also lists the
        times the case looked again while it waited; its start is ``inf`` when the SLA passed first."""
        self.batched: list[list[Any]] | None = None
        """The batches this case was in: ``[node, number, size, joined, fired, why]`` each (``why``:
        ``size``, ``timeout``, or ``stuck`` with ``fired`` None and ``size`` the cases then waiting)."""
        self.overrides: dict[str, dict[str, Any]] = {}
        for column, target, name in self.plan.overrides:
            value = row.get(column)
            if value is not None and value != "":
                self.overrides.setdefault(target, {})[name] = value
        self.level: int | str = 0
        """The case's priority level (``simulation.priority`` on its data as it arrives); a message
        when a rule's condition cannot be evaluated on it (the case fails at its first queue)."""
        if self.plan.priority:
            self.level = _level(self.plan.priority, row)

    @classmethod
    def of_spec(cls, env: Env, spec: Any, replication: int, index: int, times: Sequence[float],  # noqa: PLR0913, PLR0917 - a case is its run, replication, index and arrivals
                cc: Any = None) -> CaseRun:
        """Case ``index`` of a run's ``spec`` (:class:`~studio.simulate.inputs.Spec`) in ``replication``,
        arriving at ``times[index]``: how every engine and the verified replay start a case, so their
        random streams and records agree."""
        return cls(env, index=index, case_id=spec.case_ids[index], row=spec.row(index), arrival=times[index],
                   rng=Rng(spec.seed, replication, index), replication=replication, cc=cc)

    # ------------------------------------------------------------------ the finished case

    def payload(self) -> dict[str, Any]:
        """The case as plain JSON data (what progress files and results hold); the same from either engine."""
        stop = self.stop
        status = self.status if self.status != "running" else "stuck"
        arrival = self.arrival
        end = max((step[S_END] for step in self.steps), default=arrival)
        if stop is not None:
            end = max(end, stop.at)
        record = {
            "index": self.index,
            "case_id": self.case_id,
            "arrival": arrival,
            "end": end,
            "status": status,
            "outcome": self.outcome,
            "category": stop.category if stop is not None else ("policy" if status == "stuck" else None),
            "reason": stop.reason if stop is not None else ("stuck: a join never got all its branches"
                                                             if status == "stuck" else None),
            "where": stop.where if stop is not None else None,
            "node": stop.node if stop is not None else None,
            "actor": stop.actor if stop is not None else None,
            "steps": list(self.steps),  # tuples: JSON writes them as the lists progress files hold
            **({"priority": self.level if isinstance(self.level, int) else None} if self.plan.priority else {}),
        }
        if self.batched is not None:  # only for a case that reached a batched step
            record["batches"] = self.batched
        return record

    def runaway(self) -> None:
        """Stop a case that ran more supersteps than ``max_turns`` allows (killed at its last step)."""
        last = self.steps[-1] if self.steps else None
        where = str(last[S_NODE]) if last is not None else self.plan.start
        at = float(last[S_END]) if last is not None else self.arrival
        self.stop = CaseStop("killed", "policy", "max_turns", where=where, node=where, actor=None, at=at)
        self.status = "killed"

    # ------------------------------------------------------------------ entry point

    async def execute(self, plan: NodePlan, state: Mapping[str, Any], step: int) -> dict[str, Any]:
        cc = self.cc
        if cc is not None and step != cc.step:
            expected = len(self.pending)
            if plan.id not in self.pending:
                expected += 1
            cc.begin_step(step, expected)
            self.pending = set()
        try:
            return await self._execute(plan, state, step)
        except CaseStop as stop:
            if cc is not None:
                cc.die()
            if self.stop is None:
                self.stop = stop
                self.status = stop.status
            raise

    async def _execute(
        self, plan: NodePlan, state: Mapping[str, Any], step: int,
    ) -> dict[str, Any]:
        kind = plan.kind
        if kind == "relay":
            origin, at = self.trig.get(plan.id, (plan.relay_from or "", self.arrival))
            self._complete(plan, origin, at, None)
            return {}
        source: str | None
        start: float
        if kind == "join":
            arrived = self.arrivals.pop(plan.id, {})
            sources = sorted(arrived.values(), key=lambda item: (item[1], item[0]))
            start = sources[-1][1] if sources else self.arrival
            source = sources[-1][0] if sources else None
            froms = [item[0] for item in sources]
        else:
            trigger = self.trig.get(plan.id)
            source, start = trigger if trigger is not None else (None, self.arrival)
            froms = [source] if source is not None else []

        transitions = self._guards(plan, state, froms, start)
        update: dict[str, Any] = {"transitions": transitions} if transitions else {}
        fields: dict[str, Any] = {}
        route: str | None = None

        if kind in ("task", "subworkflow"):
            if plan.actor_kind == "human":
                record = await self._human(plan, state=state, start=start, source=source, step=step, fields=fields)
            else:
                record = await self._work(plan, state=state, start=start, source=source, step=step, fields=fields)
        elif kind == "approval":
            record = await self._approval(plan, state=state, start=start, source=source, step=step, fields=fields)
        elif kind == "decision":
            route = self._decide(plan, state, start)
            record = self._record(plan, None, start, start, decision=route, source=source, step=step)
            update["route"] = {plan.id: route}
        elif kind == "end":
            record = self._record(plan, None, start, start, decision=plan.outcome, source=source, step=step)
            self.status = "completed"
            self.outcome = plan.outcome
            self.end_node = plan.id
            update["outcome"] = plan.outcome
        elif kind == "wait":
            record = self._wait(plan, start=start, source=source, step=step)
        else:  # start, parallel, join; a subworkflow's sub_start, sub_end (its outcome) and sub_return
            record = self._record(plan, None, start, start, decision=plan.outcome, source=source, step=step,
                                  joined=froms if kind == "join" else None)
        if fields:
            update["case"] = fields
        update["trace"] = [record]
        self._complete(plan, plan.id, record[S_END], route)
        return update

    def _guards(self, plan: NodePlan, state: Mapping[str, Any], froms: list[str], start: float) -> dict[str, int]:
        """``max_turns`` and the loop guards: the transitions this step takes, counted (or the case is killed)."""
        trace = state.get("trace") or ()
        if len(trace) + 1 > self.plan.max_turns:
            raise CaseStop("killed", "policy", "max_turns", where=plan.id, node=plan.id, actor=plan.actor, at=start)
        counts = state.get("transitions") or {}
        transitions: dict[str, int] = {}
        keys = plan.transition_keys
        for origin in froms:
            key = keys.get(origin) or f"{origin}>{plan.id}"
            count = counts.get(key, 0) + 1
            limit = plan.limits.get(origin)
            if limit is not None and count > limit:
                raise CaseStop("killed", "policy", "loop_guard", where=key, node=plan.id, actor=plan.actor, at=start)
            transitions[key] = count
        return transitions

    # ------------------------------------------------------------------ bookkeeping

    def _record(  # noqa: PLR0913 - one keyword per field of a step record (STEP_FIELDS)
        self, plan: NodePlan, actor: str | None, start: float, end: float, *, decision: str | None,
                source: str | None, step: int, wait: float = 0.0, queue: float = 0.0, reason: str | None = None,
                resource: str | None = None, service: float = 0.0, note: str | None = None,
                tokens_in: int = 0, tokens_out: int = 0, cost: float = 0.0, attempts: int = 0,
                failure: str | None = None, escalated_to: str | None = None,
                tool_calls: list[list[Any]] | None = None, joined: list[str] | None = None) -> tuple[Any, ...]:
        previous = self.last_actor.get(source) if source is not None else None
        handoff = previous if actor is not None and previous is not None and previous != actor else None
        self.last_actor[plan.id] = actor if actor is not None else previous
        record = Step(plan.id, actor, start, end, wait, queue, reason, resource, service, decision, note,
                      tokens_in, tokens_out, cost, attempts, failure, escalated_to, source, handoff,
                      tool_calls or [], step, joined)
        self.steps.append(record)
        return record

    def _complete(self, plan: NodePlan, source: str, end: float, route: str | None) -> None:
        """Mirror what LangGraph will run next, and hand each successor its start time."""
        if plan.kind == "decision":
            targets: tuple[str, ...] = (plan.graph_target[route],) if route is not None else ()
        else:
            targets = plan.targets
        joins = self.plan.joins
        pending = self.pending
        for target in targets:
            if target in joins:
                arrived = self.arrivals.setdefault(target, {})
                arrived[plan.id] = (source, end)
                if len(arrived) >= len(self.plan.nodes[target].preds):
                    pending.add(target)
            else:
                self.trig[target] = (source, end)
                pending.add(target)
        if self.cc is not None:
            self.cc.node_done()

    def behaviour(self, plan: NodePlan, actor: str) -> Resolved:
        """The step's behaviour for this case (per-case column overrides applied)."""
        env = self.env
        if not self.overrides and env.failures:  # the common case, once per step
            return plan.behaviours[actor]
        base = env.behaviour(plan, actor)
        if not self.overrides:
            return base
        key = (plan.id, actor)
        cached = self.actor_behaviour.get(key)
        if cached is not None:
            return cached
        changes: dict[str, Any] = {}
        changes.update(self.overrides.get(actor, {}))
        changes.update(self.overrides.get(plan.id, {}))
        resolved = base
        if changes:
            try:
                resolved = override(base, changes)
            except (ValueError, KeyError) as exc:
                raise CaseStop("failed", "data", f"bad per-case override: {exc}",
                    where=plan.id, node=plan.id, actor=actor, at=self.arrival) from None
        self.actor_behaviour[key] = resolved
        return resolved

    def _tool_behaviour(self, tool: str) -> Resolved:
        if not self.overrides and self.env.failures:  # the common case, once per tool call
            return self.plan.tools[tool].behaviour
        base = self.env.tool_behaviour(tool)
        changes = self.overrides.get(tool)
        if not changes:
            return base
        try:
            return override(base, changes)
        except (ValueError, KeyError) as exc:
            raise CaseStop("failed", "data", f"bad per-case override: {exc}",
                where=tool, node=tool, actor=None, at=self.arrival) from None

    async def _until(self, t: float) -> None:
        cc = self.cc
        if cc is not None and t > cc.clock.now:
            await cc.until(t)

    # ------------------------------------------------------------------ node kinds

    def _wait(self, plan: NodePlan, *, start: float, source: str | None, step: int) -> tuple[Any, ...]:
        """A timer: idle for the delay (one draw per visit; a case column overriding ``<id>.duration``
        gives the case's own delay) or until the calendar opens; no resource, no work, no cost.
        Recorded at the moment it fires, with the time waited as ``wait`` (``timer``)."""
        fire = start
        given = self.overrides.get(plan.id, {}).get("duration") if self.overrides else None
        if given is not None:  # the case's own delay (a data column): no draw
            try:
                fire = start + parse_duration(given)
            except ValueError as exc:
                raise CaseStop("failed", "data", f"bad per-case override: {exc}",
                               where=plan.id, node=plan.id, actor=None, at=start) from None
        elif plan.wait_delay is not None:
            fire = start + plan.wait_delay(self.rng)
        elif plan.wait_until is not None:
            fire = plan.wait_until.next_open(start)
        waited = fire - start
        return self._record(plan, None, fire, fire, decision=None, source=source, step=step, wait=waited,
                            reason="timer" if waited > 0 else None)

    def _decide(self, plan: NodePlan, state: Mapping[str, Any], at: float) -> str:
        if plan.probabilities:  # one fresh draw per visit; branches in file order, the default takes the rest
            u = self.rng.u()
            cumulative = 0.0
            for probability, target in plan.probabilities:
                cumulative += probability
                if u < cumulative:
                    return target
            return plan.default if plan.default is not None else plan.probabilities[-1][1]
        case = state.get("case") or {}
        for expression, target in plan.branches:
            try:
                if expression.evaluate_bool(case):
                    return target
            except ExpressionError as exc:
                message = exc.message if isinstance(exc, EvaluationError) else str(exc)
                raise CaseStop("failed", "data", f"condition `{expression.text}`: {message}",
                    where=plan.id, node=plan.id, actor=None, at=at) from None
        if plan.default is None:
            raise CaseStop("failed", "policy", "no condition matched and there is no default edge",
                where=plan.id, node=plan.id, actor=None, at=at)
        return plan.default

    async def _work(  # noqa: C901, PLR0912, PLR0913, PLR0915 - one attempt loop: tools, work, tokens, faults, retry
        self, plan: NodePlan, *, state: Mapping[str, Any], start: float, source: str | None, step: int,
                    fields: dict[str, Any]) -> tuple[Any, ...]:
        """An agent, system or actor-less step: tools, own work, tokens, faults and retries."""
        actor = plan.actor or ""
        behaviour = self.behaviour(plan, actor)
        env = self.env
        rng = self.rng
        now = start
        attempts = tokens_in = tokens_out = 0
        cost = 0.0
        calls: list[list[Any]] = []
        model = env.models.get(actor) if actor else None
        failure: str | None = None
        tool_wait = 0.0
        pool = env.pools.get(actor) if plan.actor_kind == "system" else None
        if pool is not None:  # a system with a capacity: queue for it, then hold it through every attempt
            now = await self._acquire(pool, start)
        begin_work = now
        while True:
            attempts += 1
            failure = None
            for tool in plan.tools:
                limiter = env.limiters.get(tool)
                wait = 0.0
                if limiter is not None:
                    await self._until(now)
                    begin = limiter.slot(now)
                    if self.grants is not None:
                        self.grants.append((tool, now, begin, begin - now, 0))
                    wait = begin - now
                    now = begin
                tool_behaviour = self._tool_behaviour(tool)
                now += tool_behaviour.duration(rng)
                cost += tool_behaviour.cost_per_call
                tool_wait += wait
                calls.append([tool, round(wait, 6)])
                if tool_behaviour.fail_total > 0.0 and rng.u() < tool_behaviour.fail_total:
                    failure = "tool"
                    break
            if failure is None:
                work = behaviour.duration(rng)
                now += work
                cost += behaviour.time_cost(work)
                spent_in, spent_out = behaviour.tokens_in, behaviour.tokens_out
                if model is not None:
                    from studio.simulate.llm import ask  # noqa: PLC0415

                    try:
                        answer = await ask(model, actor, plan, state.get("case") or {})
                    except Exception:  # the model's provider failed (network, quota): a tool failure
                        failure = "tool"
                    else:
                        if answer.error is not None:
                            failure = "reasoning"
                        else:
                            fields.update(answer.fields)
                        spent_in = answer.tokens_in if answer.tokens_in is not None else spent_in
                        spent_out = answer.tokens_out if answer.tokens_out is not None else spent_out
                tokens_in += spent_in
                tokens_out += spent_out
                cost += behaviour.cost_per_call + (spent_in + spent_out) / 1000.0 * behaviour.cost_per_1k_tokens
                if failure is None and behaviour.fail_total > 0.0:
                    u = rng.u()
                    if u < behaviour.fail_tool:
                        failure = "tool"
                    elif u < behaviour.fail_tool + behaviour.fail_reasoning:
                        failure = "reasoning"
                    elif u < behaviour.fail_total:
                        failure = "handoff"
            if failure is None or attempts > behaviour.retries:
                break
        if failure is None:
            self._outputs(plan, state, fields)
        if pool is None:
            record = self._record(
                plan, plan.actor, start, now, decision=None, source=source, step=step, wait=tool_wait,
                queue=tool_wait, reason="rate_limit" if tool_wait > 0 else None, tokens_in=tokens_in,
                tokens_out=tokens_out, cost=cost, attempts=attempts, failure=failure, tool_calls=calls,
            )
        else:
            service = now - begin_work
            now = pool.reserve(begin_work, service)  # its calendar pauses the work outside hours
            wait, queue, reason = _waited(pool, start, start, begin_work)
            record = self._record(
                plan, plan.actor, begin_work, now, decision=None, source=source, step=step, wait=wait, queue=queue,
                reason=reason, resource=pool.id, service=service, tokens_in=tokens_in, tokens_out=tokens_out,
                cost=cost, attempts=attempts, failure=failure, tool_calls=calls,
            )
        if failure is not None:
            raise CaseStop("failed", failure, f"{failure} failure after {attempts} attempt(s)",
                where=plan.id, node=plan.id, actor=plan.actor, at=now)
        return record

    def _outputs(self, plan: NodePlan, state: Mapping[str, Any], fields: dict[str, Any]) -> None:
        if not plan.outputs:
            return
        case = state.get("case") or {}
        if plan.output_models:
            self._model_outputs(plan, case, fields)
        for name in plan.outputs:
            if name not in case and name not in fields:
                fields[name] = None

    def _model_outputs(self, plan: NodePlan, case: Mapping[str, Any], fields: dict[str, Any]) -> None:
        """Draw the outputs that have a model: per field, the first rule whose condition holds (one draw)."""
        seen = {**case, **fields}
        for name, rules in plan.output_models:
            for when, draw, choices in rules:
                try:
                    if when is not None and not when.evaluate_bool(seen):
                        continue
                except ExpressionError as exc:
                    message = exc.message if isinstance(exc, EvaluationError) else str(exc)
                    text = when.text if when is not None else ""
                    raise CaseStop("failed", "data", f"output model of `{name}`, `{text}`: {message}",
                        where=plan.id, node=plan.id, actor=plan.actor, at=self.arrival) from None
                if draw is not None:
                    value: Any = draw(self.rng)
                else:
                    u = self.rng.u()
                    value = choices[-1][0]
                    cumulative = 0.0
                    for option, probability in choices:
                        cumulative += probability
                        if u < cumulative:
                            value = option
                            break
                fields[name] = seen[name] = value
                break

    async def _acquire(self, pool: Pool, t: float) -> float:
        """Queue for ``pool`` from ``t`` (in virtual-time order across cases); when work can start."""
        await self._until(t)
        begin, queued = pool.start(t)
        if self.grants is not None:
            self.grants.append((pool.id, t, begin, queued, pool.chosen if isinstance(pool, MemberPool) else 0))
        return begin

    def _service(self, plan: NodePlan, actor: str, pool: Pool, batch: Rng | None = None) -> float:
        """The working seconds of the step for the person ``pool`` chose (one draw, after the choice):
        their own duration of the step when they have one, else the step's at their pace. For a batch,
        drawn from ``batch`` (the batch's stream), without this case's overrides."""
        rng = self.rng if batch is None else batch
        if isinstance(pool, MemberPool):
            own = self.plan.own_durations.get(pool.id)
            if own is not None:
                draw = own[pool.chosen].get(plan.field_id)
                if draw is not None:
                    return draw(rng)
        behaviour = self.behaviour(plan, actor) if batch is None else self.env.behaviour(plan, actor)
        service = behaviour.duration(rng)
        if isinstance(pool, MemberPool):  # this person's pace
            service /= pool.pace()
        return service

    async def _serve(self, plan: NodePlan, t: float, batch: Rng | None = None) -> _Timing:
        """Queue for the node's pool from ``t`` (escalating up its chain past each level's time) and do the
        work. For a batch, the duration is drawn from ``batch`` (the batch's stream), without this case's
        overrides."""
        env = self.env
        actor = plan.actor or ""
        if env.queues:
            line = env.queues.get(actor)
            if line is not None:
                return await self._serve_by_priority(plan, t, line, batch)
        pool = env.pools.get(actor)
        if pool is None:  # pragma: no cover - humans always have a pool
            seconds = self.behaviour(plan, actor).duration(self.rng)
            return _Timing(t, t + seconds, 0.0, 0.0, None, None, seconds, plan.actor, None)
        begin = await self._acquire(pool, t)
        asked = t
        escalated: str | None = None
        for after, target in plan.escalation:  # each level: not started `after` the hand-over, hand it up
            if begin - asked <= after:
                break
            escalated = actor = target
            asked += after
            pool = env.pools[target]
            begin = await self._acquire(pool, asked)
        service = self._service(plan, actor, pool, batch)
        end = pool.reserve(begin, service)
        wait, queue, reason = _waited(pool, t, asked, begin)
        if escalated is not None:
            reason = "escalation"
        return _Timing(begin, end, wait, queue, reason, pool.id, service, actor, escalated)

    async def _serve_by_priority(self, plan: NodePlan, t: float, queue: PriorityPool,
                                 batch: Rng | None = None) -> _Timing:
        """:meth:`_serve` through priority queues: the work is drawn when asked (the person who takes the
        request books it then); when nobody has started it a level's time after the hand-over, the
        request leaves the queue and is asked anew of that level's pool (its escalation chain), with
        work drawn from that pool's behaviour."""
        level = self.level
        if not isinstance(level, int):
            raise CaseStop("failed", "data", level, where=plan.id, node=plan.id, actor=plan.actor, at=t)
        actor = plan.actor or ""
        chain = plan.escalation
        await self._until(t)  # the work is drawn at the request, as the first come, first served pools draw it
        work, own = self._asked_work(plan, actor, queue, batch)
        ticket = await self._queue(queue, t, level, work, t + chain[0][0] if chain else None, own=own)
        asked = t
        escalated: str | None = None
        for index, (after, target) in enumerate(chain):
            if ticket.start is not None:
                break
            escalated = actor = target  # nobody of the holder's pool took it in time: the next level
            asked += after
            queue = self.env.queues[target]
            deadline = asked + chain[index + 1][0] if index + 1 < len(chain) else None
            work, own = self._asked_work(plan, actor, queue, batch)
            ticket = await self._queue(queue, asked, level, work, deadline, own=own)
        begin = ticket.start
        assert begin is not None
        wait, in_queue, reason = _waited_on(queue.calendar(ticket.person), t, asked, begin)
        if escalated is not None:
            reason = "escalation"
        return _Timing(begin, ticket.end, wait, in_queue, reason, queue.id, ticket.service, actor, escalated)

    def _asked_work(self, plan: NodePlan, actor: str, queue: PriorityPool,
                    batch: Rng | None) -> tuple[float, tuple[float | None, ...] | None]:
        """The work a priority request brings: the step's duration (at pace 1), and each person's own
        duration of the step when some have one (drawn in the order of the pool's people). For a batch,
        drawn from the batch's stream without this case's overrides (as :meth:`_service`)."""
        rng = self.rng if batch is None else batch
        behaviour = self.behaviour(plan, actor) if batch is None else self.env.behaviour(plan, actor)
        work = behaviour.duration(rng)
        own = self.plan.own_durations.get(queue.id)
        if own is None:
            return work, None
        draws = tuple(person.get(plan.field_id) for person in own)
        if not any(draws):
            return work, None
        return work, tuple(draw(rng) if draw is not None else None for draw in draws)

    async def _queue(self, queue: PriorityPool, t: float, level: int, service: float,  # noqa: PLR0913 - one request
                     deadline: float | None, *, own: tuple[float | None, ...] | None = None) -> Ticket:
        """Wait in ``queue`` from ``t`` until a person takes the request (or the deadline passes)."""
        await self._until(t)
        grants = self.grants
        slot = len(grants) if grants is not None else 0
        if grants is not None:  # the slot keeps the order asked; filled in once the request is decided
            grants.append((queue.id, t, t, 0.0, 0))
        ticket = queue.ask(t, level, service, deadline, own)
        try:
            while ticket.waiting():
                wake = queue.next_look(ticket, t)
                ticket.looks.append(wake)
                await self._until(wake)
                t = wake
                queue.look(ticket, wake)
        finally:
            stopped = ticket.waiting()
            if stopped:  # the case stopped while this waited (a parallel branch failed): it leaves the queue
                ticket.withdrawn = True
            if grants is not None:  # start: None while undecided (stopped), inf when the deadline passed first
                start = None if stopped else ticket.start if ticket.start is not None else float("inf")
                queued = start - ticket.asked if start is not None else None
                grants[slot] = (queue.id, ticket.asked, start, queued, ticket.person, *ticket.looks)
        return ticket

    async def _human(  # noqa: PLR0913 - keyword-only step context
        self, plan: NodePlan, *, state: Mapping[str, Any], start: float, source: str | None,
                     step: int, fields: dict[str, Any]) -> tuple[Any, ...]:
        decider = self.env.decider
        actor = plan.actor or ""
        if plan.batch is not None and self.env.batches is not None:
            return await self._batched(plan, state=state, start=start, source=source, step=step, fields=fields)
        if decider.interactive:
            decision, note, answer_fields = decider.decide(self, plan, self.behaviour(plan, actor), state, start)
            timing = await self._serve(plan, start)
        else:
            timing = await self._serve(plan, start)
            decision, note, answer_fields = decider.decide(
                self, plan, self.behaviour(plan, timing.actor or actor), state, start)
        cost = self._answered(plan, self.behaviour(plan, timing.actor or actor), timing.service,
                              (decision, note, answer_fields), fields)
        record = self._record(
            plan, timing.actor, timing.start, timing.end, decision=decision, source=source, step=step,
            wait=timing.wait, queue=timing.queue, reason=timing.reason, resource=timing.resource,
            service=timing.service, note=note, cost=cost, attempts=1,
            escalated_to=timing.escalated_to,
        )
        self._outputs(plan, state, fields)
        return record

    @staticmethod
    def _answered(plan: NodePlan, behaviour: Resolved, service: float, answer: tuple[str, str | None, Any],
                  fields: dict[str, Any]) -> float:
        """A person's ``(decision, note, fields)`` into the case (an approval's `<id>_decision` and
        `<id>_note`), and what the step costs: per call plus their time."""
        decision, note, answer_fields = answer
        fields.update(answer_fields)
        if plan.kind == "approval":
            fields[f"{plan.field_id}_decision"] = decision
            fields[f"{plan.field_id}_note"] = note
        return behaviour.cost_per_call + behaviour.time_cost(service)

    async def _batched(  # noqa: PLR0913 - keyword-only step context
        self, plan: NodePlan, *, state: Mapping[str, Any], start: float, source: str | None,
                       step: int, fields: dict[str, Any]) -> tuple[Any, ...]:
        """A batched step: join the node's open batch, fire it or wait for it, then take this case's share."""
        batches = self.env.batches
        assert batches is not None and plan.batch is not None
        size, timeout = plan.batch
        await self._until(start)  # join in virtual-time order across cases
        group = batches.join(plan.id, self, start)
        if group.replay:  # a replay of this case alone: the batch fires as it did in the run
            if group.fired is None:
                raise self._stuck(plan, group, start)
            await self._until(group.fired)
            await self._fire(plan, group, group.fired)
        elif len(group.members) >= size:
            batches.close(plan.id, group)
            await self._fire(plan, group, start, "size")
        else:
            deadline = start + timeout if timeout is not None and len(group.members) == 1 else None
            assert self.cc is not None
            await self.cc.park(deadline, group.park(self))
            if group.abandoned:
                raise self._stuck(plan, group, start)
            if group.fired is None:  # nobody filled it: its oldest case has waited the timeout
                assert deadline is not None
                batches.close(plan.id, group)
                await self._fire(plan, group, deadline, "timeout")
            while group.timing is None:  # it fired, but its firer still waits for the (escalation) pool
                await self.cc.park(None, group.park(self))
        return self._share(plan, group, state=state, start=start, source=source, step=step, fields=fields)

    async def _fire(self, plan: NodePlan, group: Group, at: float, why: str | None = None) -> None:
        """Do the batch's work at ``at``: the pool once, one duration from the batch's stream; wake the others."""
        if why is not None:
            group.fired, group.why, group.size = at, why, len(group.members)
        mine = self.grants
        self.grants = group.grants
        try:
            group.timing = await self._serve(plan, at, self.rng.batch(plan.order, group.number))
        finally:
            self.grants = mine
        group.wake_others(self)

    def _stuck(self, plan: NodePlan, group: Group, start: float) -> CaseStop:
        size = plan.batch[0] if plan.batch is not None else 0
        waiting = group.size if group.replay else len(group.members)
        self._joined([plan.id, group.number, waiting, start, None, "stuck"])
        return CaseStop("stuck", "policy", f"stuck: batch at `{plan.id}` never filled ({waiting} of {size} "
                        "cases waiting at the end, no timeout)", where=plan.id, node=plan.id, actor=None, at=start)

    def _joined(self, entry: list[Any]) -> None:
        if self.batched is None:
            self.batched = []
        self.batched.append(entry)

    def _share(  # noqa: PLR0913 - keyword-only step context
        self, plan: NodePlan, group: Group, *, state: Mapping[str, Any], start: float, source: str | None,
        step: int, fields: dict[str, Any]) -> tuple[Any, ...]:
        """This case's part of a fired batch: its own decision, the batch's times, a share of work and cost."""
        timing = group.timing
        assert timing is not None and group.fired is not None
        if self.grants is not None:
            self.grants.extend(group.grants)
        self._joined([plan.id, group.number, group.size, start, group.fired, group.why])
        actor = timing.actor or plan.actor or ""
        decision, note, answer_fields = self.env.decider.decide(self, plan, self.behaviour(plan, actor), state, start)
        cost = self._answered(plan, self.env.behaviour(plan, actor), timing.service,
                              (decision, note, answer_fields), fields)
        share = group.size
        wait = timing.start - start
        reason = timing.reason
        if timing.escalated_to is None and group.fired > start:
            reason = "batch"
        record = self._record(
            plan, timing.actor, timing.start, timing.end, decision=decision, source=source, step=step,
            wait=wait, queue=timing.queue, reason=reason if wait > 0 else None, resource=timing.resource,
            service=timing.service / share, note=note, cost=cost / share, attempts=1,
            escalated_to=timing.escalated_to,
        )
        self._outputs(plan, state, fields)
        return record

    async def _approval(  # noqa: PLR0913 - keyword-only step context
        self, plan: NodePlan, *, state: Mapping[str, Any], start: float, source: str | None,
                        step: int, fields: dict[str, Any]) -> tuple[Any, ...]:
        if plan.threshold is not None:
            case = state.get("case") or {}
            try:
                needed = plan.threshold.evaluate_bool(case)
            except ExpressionError as exc:
                message = exc.message if isinstance(exc, EvaluationError) else str(exc)
                raise CaseStop("failed", "policy", f"threshold `{plan.threshold.text}`: {message}",
                    where=plan.id, node=plan.id, actor=plan.actor, at=start) from None
            if not needed:
                note = f"auto-approved: `{plan.threshold.text}` is false"
                fields[f"{plan.field_id}_decision"] = "approve"
                fields[f"{plan.field_id}_note"] = note
                self._outputs(plan, state, fields)
                return self._record(plan, None, start, start, decision="approve", source=source, step=step,
                                    note=note)
        return await self._human(plan, state=state, start=start, source=source, step=step, fields=fields)

    # ------------------------------------------------------------------ walkthrough support

    def question(self, plan: NodePlan, state: Mapping[str, Any], at: float) -> dict[str, Any]:
        """The interrupt payload: who is asked what, and why, with the case and the path so far."""
        case = dict(state.get("case") or {})
        path = [record[S_NODE] for record in self.steps]
        if plan.kind == "approval":
            why = "every case is approved here"
            if plan.threshold is not None:
                why = f"`{plan.threshold.text}` is true for this case"
            reviews = list(plan.reviews) or [p for p in path if self.plan.nodes[p].kind in ("task", "subworkflow")][-1:]
            question = f"Approve `{plan.label}`?"
            options = ["approve", "reject", "steer"]
        else:
            why = "a person does this step"
            reviews = []
            question = f"Do `{plan.label}` and say when it is done."
            options = ["approve", "reject", "steer"]
        return {
            "node": plan.id,
            "kind": plan.kind,
            "name": plan.label,
            "actor": plan.actor,
            "question": question,
            "why": why,
            "reviews": reviews,
            "outputs": list(plan.outputs),
            "case": json.loads(json.dumps(case, default=str)),
            "path": path,
            "time": at,
            "time_iso": seconds_to_iso(at),
            "options": options,
        }
