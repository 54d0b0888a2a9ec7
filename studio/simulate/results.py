"""Simulation results: KPIs (a plain, JSON-ready dict), pandas tables, plots and saved files.

Everything is computed from the per-replication payloads (plain JSON data: the same whether the
run was uninterrupted or resumed from ``progress/rep-*.jsonl``), in a fixed order with fixed
rounding, so the same inputs give byte-identical ``kpis.json``.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from studio.fileio import atomic_write, os_error_at
from studio.simulate._stats import mean, quantile, sig, welch
from studio.simulate.clock import WorkCalendar
from studio.simulate.compiler import CompiledWorkflow
from studio.simulate.runtime import S_ACTOR as ACTOR
from studio.simulate.runtime import S_ATTEMPTS as ATTEMPTS
from studio.simulate.runtime import S_COST as COST
from studio.simulate.runtime import S_DECISION as DECISION
from studio.simulate.runtime import S_END as END
from studio.simulate.runtime import S_ESCALATED as ESCALATED
from studio.simulate.runtime import S_FAILURE as FAILURE
from studio.simulate.runtime import S_FROM as FROM
from studio.simulate.runtime import S_HANDOFF as HANDOFF
from studio.simulate.runtime import S_JOINED as JOINED
from studio.simulate.runtime import S_NODE as N
from studio.simulate.runtime import S_NOTE as NOTE
from studio.simulate.runtime import S_QUEUE as QUEUE
from studio.simulate.runtime import S_REASON as REASON
from studio.simulate.runtime import S_RESOURCE as RESOURCE
from studio.simulate.runtime import S_SERVICE as SERVICE
from studio.simulate.runtime import S_START as START
from studio.simulate.runtime import S_TIN as TIN
from studio.simulate.runtime import S_TOOLS as TOOLS
from studio.simulate.runtime import S_TOUT as TOUT
from studio.simulate.runtime import S_WAIT as WAIT
from studio.simulate.summary import names as display_names

__all__ = ["Results", "compare"]

CATEGORIES = ("tool", "reasoning", "handoff", "data", "policy")


def _sig_map(values: Mapping[str, float | None], digits: int = 6) -> dict[str, float | None]:
    return {key: sig(values[key], digits) for key in sorted(values)}



def _spread(seconds: list[float]) -> dict[str, Any]:
    """Mean, median, 95th percentile and maximum of sorted durations, in seconds."""
    return {
        "unit": "s",
        "mean": sig(mean(seconds)),
        "p50": sig(quantile(seconds, 0.5, is_sorted=True)),
        "p95": sig(quantile(seconds, 0.95, is_sorted=True)),
        "max": sig(seconds[-1]) if seconds else None,
    }

class _SubTally:
    """One expanded subworkflow in one replication (see :meth:`_Tally._count_subworkflows`)."""

    __slots__ = ("cases", "cost", "returned", "times", "visits")

    def __init__(self) -> None:
        self.cases = self.visits = self.returned = 0
        self.times: list[float] = []
        self.cost = 0.0


class _Tally:
    """Sums and lists for one replication (the unit of the confidence intervals)."""

    def __init__(self, results: Results, payload: Mapping[str, Any]) -> None:
        plan = results.plan
        cases = payload["cases"]
        self.n = len(cases)
        self.status: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.categories: Counter[str] = Counter()
        self.failed_nodes: Counter[str] = Counter()
        self.failed_actors: Counter[str] = Counter()
        self.kills: Counter[str] = Counter()
        self.max_turns: Counter[str] = Counter()
        self.loops: Counter[str] = Counter()
        self.cycle: list[float] = []
        self.cost = self.tokens_in = self.tokens_out = 0.0
        self.handoffs = 0
        self.network: Counter[tuple[str, str]] = Counter()
        self.escalations: Counter[str] = Counter()
        self.retries = 0
        self.pool_waits: dict[str, list[float]] = defaultdict(list)
        self.pool_busy: Counter[str] = Counter()
        self.tool_waits: dict[str, list[float]] = defaultdict(list)
        self.node_visits: Counter[str] = Counter()
        self.node_wait: Counter[str] = Counter()
        self.edges: Counter[tuple[str, str]] = Counter()
        self.escalated_in: Counter[str] = Counter()
        self.escalation_levels: Counter[int] = Counter()
        """Escalated steps by the level of the chain reached (1: the first level's pool)."""
        self._level_of = results.escalation_levels
        self.wait_split: dict[str, Counter[str]] = defaultdict(Counter)
        """Node -> waited seconds by why: queue, calendar, rate_limit, escalation (for the waits plot)."""
        self.batched: list[list[Any]] = []
        """Every case's batch entries ``[node, number, size, joined, fired, why]`` (batched steps only)."""
        self.first = math.inf
        self.last = -math.inf
        self.subworkflows: dict[str, _SubTally] = {sub.node: _SubTally() for sub in plan.subworkflows}
        self.level_cases: Counter[int] = Counter()
        self.level_waits: dict[int, list[float]] = defaultdict(list)
        """With ``simulation.priority``: cases per level, and the waits of their steps in people's queues."""
        self.level_queues: dict[int, list[float]] = defaultdict(list)
        limited = results.limited_tools
        people = results.priority_pools
        for case in cases:  # one pass: the cases may stream from a progress file
            self._count_case(case)
            self._count_steps(case["steps"], limited)
            if plan.subworkflows:
                self._count_subworkflows(case["steps"], plan.subworkflows)
            if people:
                self._count_level(case, people)
        self._horizon(plan)

    def _count_case(self, case: Mapping[str, Any]) -> None:
        """Status, outcome, cycle time and where a stopped case stopped."""
        status = case["status"]
        self.status[status] += 1
        batched = case.get("batches")
        if batched:
            self.batched.extend(batched)
        arrival, end = case["arrival"], case["end"]
        self.first = min(self.first, arrival)
        self.last = max(self.last, end)
        if status == "completed":
            self.cycle.append(end - arrival)
            self.outcomes[case["outcome"]] += 1
            return
        self.categories[case.get("category") or "policy"] += 1
        if status == "killed":
            if case.get("reason") == "max_turns":
                self.max_turns[case.get("where") or ""] += 1
            else:
                self.kills[case.get("where") or ""] += 1
        else:
            self.failed_nodes[case.get("node") or ""] += 1
            if case.get("actor"):
                self.failed_actors[case["actor"]] += 1

    def _count_steps(self, steps: Sequence[Sequence[Any]], limited: frozenset[str]) -> None:
        """Cost, tokens, retries, hand-offs, escalations, resource waits, node and edge traffic, loops."""
        seen: Counter[str] = Counter()
        for step in steps:
            node = step[N]
            self.cost += step[COST]
            self.tokens_in += step[TIN]
            self.tokens_out += step[TOUT]
            if step[ATTEMPTS] > 1:
                self.retries += step[ATTEMPTS] - 1
            if step[HANDOFF] is not None:
                self.handoffs += 1
                self.network[(step[HANDOFF], step[ACTOR])] += 1
            if step[ESCALATED] is not None:
                self.escalations[node] += 1
                self.escalated_in[step[ESCALATED]] += 1
                self.escalation_levels[self._level_of.get((node, step[ESCALATED]), 1)] += 1
            resource = step[RESOURCE]
            if resource is not None:
                self.pool_waits[resource].append(step[WAIT])
                self.pool_busy[resource] += step[SERVICE]
            for tool, wait in step[TOOLS]:
                if tool in limited:
                    self.tool_waits[tool].append(wait)
            self.node_visits[node] += 1
            if step[WAIT] > 0:
                self._count_wait(node, step)
            for source in step[JOINED] or ([step[FROM]] if step[FROM] is not None else []):
                self.edges[(source, node)] += 1
                seen[f"{source}>{node}"] += 1
        for transition, count in seen.items():
            if count > 1:
                self.loops[transition] += 1

    def _count_subworkflows(self, steps: Sequence[Sequence[Any]], subs: Sequence[Any]) -> None:
        """Per expanded subworkflow: visits (its ``sub_start`` steps), returns (its ``sub_return``
        steps), each visit's time from entering to returning, and the cost of the steps inside it."""
        for sub in subs:
            entries = sorted(step[START] for step in steps if step[N] == sub.start)
            if not entries:
                continue
            returns = sorted(step[END] for step in steps if step[N] == sub.node)
            tally = self.subworkflows[sub.node]
            tally.cases += 1
            tally.visits += len(entries)
            tally.returned += len(returns)
            # a visit the case stopped in has no return
            tally.times.extend(end - begin for begin, end in zip(entries, returns, strict=False))
            tally.cost += math.fsum(step[COST] for step in steps if step[N].startswith(sub.prefix))

    def _count_level(self, case: Mapping[str, Any], people: frozenset[str]) -> None:
        level = case.get("priority")
        if level is None:  # its priority could not be evaluated: the case failed
            return
        self.level_cases[level] += 1
        waits, queues = self.level_waits[level], self.level_queues[level]
        for step in case["steps"]:
            if step[RESOURCE] in people:
                waits.append(step[WAIT])
                queues.append(step[QUEUE])

    def _count_wait(self, node: str, step: Sequence[Any]) -> None:
        """A step that waited: its wait, split by why (escalation: it waited out the SLA)."""
        wait = step[WAIT]
        self.node_wait[node] += wait
        split = self.wait_split[node]
        reason = step[REASON]
        if reason in ("escalation", "rate_limit", "timer"):
            split[reason] += wait
        elif reason == "batch":  # waiting for the batch to fire (and closed hours after), then the pool's queue
            split["batch"] += wait - step[QUEUE]
            split["queue"] += step[QUEUE]
        else:
            split["queue"] += step[QUEUE]
            split["calendar"] += wait - step[QUEUE]

    def _horizon(self, plan: Any) -> None:
        """First arrival to last end, and each pool's working time in it."""
        if not self.n:
            self.first = self.last = 0.0
        self.span = max(self.last - self.first, 0.0)
        self.open: dict[str, float] = {}
        for pool, (capacity, calendar) in plan.pools.items():
            members = plan.members.get(pool)
            if members:  # people who differ: each one's own working hours
                self.open[pool] = math.fsum(self._open(cal) for cal, _ in members)
            else:
                self.open[pool] = capacity * self._open(calendar)

    def _open(self, calendar: Any) -> float:
        """Working seconds of one person with ``calendar`` (None: always) in this replication's horizon."""
        if calendar is not None and self.span > 0:
            return WorkCalendar(calendar).open_seconds(self.first, self.last)
        return self.span

    def flat(self, results: Results) -> dict[str, float | None]:
        """Scalar KPIs of this replication, for :func:`compare`."""
        completed = self.status["completed"]
        hours = self.span / 3600.0
        flat: dict[str, float | None] = {
            "cycle_time_mean": mean(self.cycle),
            "cycle_time_p50": quantile(self.cycle, 0.5),
            "cycle_time_p95": quantile(self.cycle, 0.95),
            "throughput_per_hour": completed / hours if hours > 0 else None,
            "success_rate": completed / self.n if self.n else None,
            "failure_rate": (self.n - completed) / self.n if self.n else None,
            "cost_per_case": self.cost / self.n if self.n else None,
            "tokens_per_case": (self.tokens_in + self.tokens_out) / self.n if self.n else None,
            "handoffs_per_case": self.handoffs / self.n if self.n else None,
            "escalations_per_case": sum(self.escalations.values()) / self.n if self.n else None,
        }
        for pool in sorted(results.plan.pools):
            waits = self.pool_waits.get(pool, [])
            flat[f"wait_mean[{pool}]"] = mean(waits)
            flat[f"utilisation[{pool}]"] = self.pool_busy[pool] / self.open[pool] if self.open[pool] > 0 else None
        for tool in sorted(results.limited_tools):
            flat[f"wait_mean[{tool}]"] = mean(self.tool_waits.get(tool, []))
        return flat


class Results:
    """What a simulation run produced. ``kpis`` for machines, tables and plots for people."""

    def __init__(self, compiled: CompiledWorkflow, payloads: Sequence[Mapping[str, Any]],
                 settings: Mapping[str, Any], gold: Any = None, redact: Mapping[str, str] | None = None) -> None:
        self.compiled = compiled
        # secrets found in the case data (D006): shown masked in every trace and case row
        self.redact = dict(sorted((redact or {}).items(), key=lambda item: len(item[0]), reverse=True))
        self.plan = compiled.plan
        self.payloads = sorted(payloads, key=lambda p: p["replication"])
        self.settings = dict(settings)
        self.gold = gold
        self.limited_tools = frozenset(t.id for t in self.plan.tools.values() if t.rate_limit is not None)
        self.escalation_levels: dict[tuple[str, str], int] = {
            (node_id, pool): level
            for node_id, node in self.plan.nodes.items()
            for level, (_after, pool) in enumerate(node.escalation, start=1)
        }
        """(node, pool) -> the level of the node's escalation chain that hands it to that pool."""
        self.chain_length = max((len(node.escalation) for node in self.plan.nodes.values()), default=0)
        """The longest escalation chain: with chains of two levels or more the KPIs count steps by level."""
        self.priority_pools = frozenset(self.plan.priority_pools)

    def __repr__(self) -> str:
        k = self.kpis
        cycle = k["cycle_time"]
        return (f"<Results {k['workflow']['name']}: {k['cases']} cases x {k['replications']} rep(s), "
                f"success {k['success_rate']}, cycle p50 {cycle['p50']}s p95 {cycle['p95']}s>")

    # ------------------------------------------------------------------ KPIs

    @cached_property
    def _reps(self) -> list[_Tally]:
        return [_Tally(self, payload) for payload in self.payloads]

    @cached_property
    def replication_kpis(self) -> list[dict[str, float | None]]:
        """Scalar KPIs per replication (the samples :func:`compare` works on)."""
        return [rep.flat(self) for rep in self._reps]

    def _counter(self, name: str) -> Counter[Any]:
        """One of the tallies' counters, summed over the replications."""
        out: Counter[Any] = Counter()
        for rep in self._reps:
            out.update(getattr(rep, name))
        return out

    def _pool_figures(self) -> dict[str, Any]:
        """Per pool (people, and systems with a capacity): requests, waits, utilisation, escalations in."""
        reps = self._reps
        plan = self.plan
        escalated_in = self._counter("escalated_in")
        resources: dict[str, Any] = {}
        for pool in sorted(plan.pools):
            waits = sorted(w for rep in reps for w in rep.pool_waits.get(pool, []))
            busy = math.fsum(rep.pool_busy[pool] for rep in reps)
            available = math.fsum(rep.open[pool] for rep in reps)
            capacity, calendar = plan.pools[pool]
            resources[pool] = {
                "kind": "pool",
                "capacity": capacity,
                "calendar": calendar.describe() if calendar is not None else None,
                "requests": len(waits),
                "wait_mean": sig(mean(waits)),
                "wait_p95": sig(quantile(waits, 0.95, is_sorted=True)),
                "waited_share": sig(sum(1 for w in waits if w > 0) / len(waits)) if waits else None,
                "utilisation": sig(busy / available) if available > 0 else None,
                "escalated_in": escalated_in[pool],
            }
        return resources

    def _tool_figures(self, hours: float) -> dict[str, Any]:
        """Per rate-limited tool: requests, waits for a slot, share of its limit used."""
        reps = self._reps
        resources: dict[str, Any] = {}
        for tool_id in sorted(self.limited_tools):
            tool = self.plan.tools[tool_id]
            assert tool.rate_limit is not None
            calls, per = tool.rate_limit
            waits = sorted(w for rep in reps for w in rep.tool_waits.get(tool_id, []))
            resources[tool_id] = {
                "kind": "rate_limited_tool",
                "capacity": f"{calls}/{per:g}s",
                "calendar": None,
                "requests": len(waits),
                "wait_mean": sig(mean(waits)),
                "wait_p95": sig(quantile(waits, 0.95, is_sorted=True)),
                "waited_share": sig(sum(1 for w in waits if w > 0) / len(waits)) if waits else None,
                "utilisation": sig(len(waits) * per / (calls * sum(rep.span for rep in reps)))
                if hours > 0 else None,
                "escalated_in": 0,
            }
        return resources

    def _priority_figures(self) -> dict[str, Any]:
        """Per priority level, highest first: cases, and their requests and waits in people's queues."""
        reps = self._reps
        levels = sorted({0, *(level for _, level in self.plan.priority)}, reverse=True)
        figures: dict[str, Any] = {}
        for level in levels:
            waits = sorted(w for rep in reps for w in rep.level_waits.get(level, []))
            queues = [q for rep in reps for q in rep.level_queues.get(level, [])]
            figures[str(level)] = {
                "cases": sum(rep.level_cases[level] for rep in reps),
                "requests": len(waits),
                "wait_mean": sig(mean(waits)),
                "wait_p95": sig(quantile(waits, 0.95, is_sorted=True)),
                "queue_mean": sig(mean(queues)),
                "waited_share": sig(sum(1 for w in waits if w > 0) / len(waits)) if waits else None,
            }
        return {"unit": "s", "levels": figures}

    def _stops(self, total: int, completed: int) -> dict[str, Any]:
        """Failures by category, node and actor; loop-guard and max-turns kills; loops; escalations."""
        reps = self._reps
        categories = self._counter("categories")
        kills = self._counter("kills")
        max_turns = self._counter("max_turns")
        escalations = self._counter("escalations")
        escalated: dict[str, Any] = {
            "total": sum(escalations.values()),
            "per_case": sig(sum(escalations.values()) / total) if total else None,
            "by_node": dict(sorted(escalations.items())),
        }
        if self.chain_length > 1:  # chains: how far up they went (absent without chains: kpis.json unchanged)
            levels = self._counter("escalation_levels")
            escalated["by_level"] = {str(level): levels[level] for level in range(1, self.chain_length + 1)}
        return {
            "failures": {
                "total": total - completed,
                "rate": sig((total - completed) / total) if total else None,
                "by_category": {key: categories[key] for key in CATEGORIES},
                "by_node": dict(sorted(self._counter("failed_nodes").items())),
                "by_actor": dict(sorted(self._counter("failed_actors").items())),
                "retries": sum(rep.retries for rep in reps),
            },
            "loop_guard": {
                "kills": sum(kills.values()),
                "where": dict(sorted(kills.items())),
                "max_turns_kills": sum(max_turns.values()),
                "max_turns_where": dict(sorted(max_turns.items())),
            },
            "loops": dict(sorted(self._counter("loops").items())),
            "escalations": escalated,
        }

    @cached_property
    def kpis(self) -> dict[str, Any]:
        """All KPIs as a plain dict: fixed key order, numbers rounded to 6 significant digits."""
        reps = self._reps
        plan = self.plan
        total = sum(rep.n for rep in reps)
        status: Counter[str] = sum((rep.status for rep in reps), Counter())
        completed = status["completed"]
        cycle = sorted(x for rep in reps for x in rep.cycle)
        hours = sum(rep.span for rep in reps) / 3600.0
        cost = math.fsum(rep.cost for rep in reps)
        tokens_in = math.fsum(rep.tokens_in for rep in reps)
        tokens_out = math.fsum(rep.tokens_out for rep in reps)
        network = self._counter("network")
        kpis: dict[str, Any] = {
            "workflow": {"name": plan.name, "version": plan.version},
            "seed": self.settings.get("seed"),
            "scenario": list(self.settings.get("scenario") or []),
            "replications": len(reps),
            "cases": total,
            "status": {key: status[key] for key in ("completed", "failed", "killed", "stuck")},
            "success_rate": sig(completed / total) if total else None,
            "outcomes": dict(sorted(self._counter("outcomes").items())),
            "cycle_time": _spread(cycle),
            "throughput": {
                "per_hour": sig(completed / hours) if hours > 0 else None,
                "per_day": sig(completed / hours * 24) if hours > 0 else None,
            },
            "cost": {"per_case": sig(cost / total) if total else None, "total": sig(cost)},
            "tokens": {
                "per_case": sig((tokens_in + tokens_out) / total) if total else None,
                "in_total": int(tokens_in),
                "out_total": int(tokens_out),
            },
            **self._stops(total, completed),
            "handoffs_per_case": sig(sum(rep.handoffs for rep in reps) / total) if total else None,
            "interaction_network": [
                {"from": source, "to": target, "count": count} for (source, target), count in sorted(network.items())
            ],
            "resources": {**self._pool_figures(), **self._tool_figures(hours)},
        }
        if plan.subworkflows:  # only then: kpis.json of workflows without any stays as it was
            kpis["subworkflows"] = self._subworkflow_figures()
        if plan.batched:
            kpis["batches"] = self._batch_figures()
        if self.priority_pools:  # only when priorities are used: other kpis.json files stay as they were
            kpis["priority"] = self._priority_figures()
        if self.gold is not None:
            kpis["gold"] = {"pass_rate": sig(self.gold.pass_rate), "passed": self.gold.passed,
                            "total": self.gold.total}
        engine = self.settings.get("engine")
        if engine is not None:  # which engine ran, and how many cases were replayed through LangGraph
            kpis["engine"] = dict(engine)
        return kpis

    def _subworkflow_figures(self) -> dict[str, Any]:
        """Per expanded subworkflow node (by its id in the run): what it runs, how many cases and visits
        entered it and returned, the time from entering to returning, and the cost of its steps."""
        out: dict[str, Any] = {}
        for sub in sorted(self.plan.subworkflows, key=lambda s: s.node):
            tallies = [rep.subworkflows[sub.node] for rep in self._reps]
            times = sorted(t for tally in tallies for t in tally.times)
            visits = sum(tally.visits for tally in tallies)
            cost = math.fsum(tally.cost for tally in tallies)
            out[sub.node] = {
                "ref": sub.ref,
                "steps_prefix": sub.prefix,
                "cases": sum(tally.cases for tally in tallies),
                "visits": visits,
                "returned": sum(tally.returned for tally in tallies),
                "time": _spread(times),
                "cost": {"per_visit": sig(cost / visits) if visits else None, "total": sig(cost)},
            }
        return out
    def _batch_figures(self) -> dict[str, Any]:
        """Per batched node: batches fired (by filling or by timeout), their sizes, the cases' waits for
        them to fire, and cases stuck in a batch that never filled."""
        figures: dict[str, Any] = {}
        for node_id, node in sorted(self.plan.nodes.items()):
            if node.batch is None:
                continue
            sizes: list[float] = []
            fired_by: Counter[str] = Counter()
            fill_waits: list[float] = []
            stuck = 0
            for replication, rep in enumerate(self._reps):
                seen: set[tuple[int, int]] = set()
                for entry_node, number, size, joined, fired, why in rep.batched:
                    if entry_node != node_id:
                        continue
                    if fired is None:
                        stuck += 1
                        continue
                    fill_waits.append(fired - joined)
                    if (replication, number) not in seen:
                        seen.add((replication, number))
                        sizes.append(size)
                        fired_by[why] += 1
            fill_waits.sort()
            figures[node_id] = {
                "size": node.batch[0],
                "timeout_s": node.batch[1],
                "batches": len(sizes),
                "fired_by": {"size": fired_by["size"], "timeout": fired_by["timeout"]},
                "size_mean": sig(mean(sizes)),
                "fill_wait_mean_s": sig(mean(fill_waits)),
                "fill_wait_p95_s": sig(quantile(fill_waits, 0.95, is_sorted=True)),
                "stuck_cases": stuck,
            }
        return figures

    def kpis_json(self) -> str:
        return json.dumps(self.kpis, indent=2, ensure_ascii=False) + "\n"

    # ------------------------------------------------------------------ diagram overlay

    def node_figures(self) -> dict[str, dict[str, float | int | None]]:
        """Per node: mean ``wait`` (seconds), ``utilisation`` of the pool doing it, ``visits``."""
        visits: Counter[str] = Counter()
        waits: Counter[str] = Counter()
        for rep in self._reps:
            visits.update(rep.node_visits)
            waits.update(rep.node_wait)
        resources = self.kpis["resources"]
        out: dict[str, dict[str, float | int | None]] = {}
        for node_id, node in sorted(self.plan.nodes.items(), key=lambda item: item[1].order):
            if node.kind == "relay":
                continue
            utilisation = None
            if node.actor in resources:
                utilisation = resources[node.actor]["utilisation"]
            else:
                tool_utils = [resources[t]["utilisation"] for t in node.tools if t in resources]
                tool_utils = [u for u in tool_utils if u is not None]
                utilisation = max(tool_utils) if tool_utils else None
            count = visits[node_id]
            out[node_id] = {
                "wait": sig(waits[node_id] / count) if count else None,
                "utilisation": utilisation,
                "visits": count,
            }
        return out

    def edge_traffic(self) -> dict[tuple[str, str], int]:
        """How often each transition ``(from, to)`` was taken, over all cases."""
        traffic: Counter[tuple[str, str]] = Counter()
        for rep in self._reps:
            traffic.update(rep.edges)
        return dict(sorted(traffic.items()))

    # ------------------------------------------------------------------ rows and tables

    def _masked(self, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        if not self.redact:
            yield from rows
            return
        secrets = self.redact

        def mask(value: Any) -> Any:
            if isinstance(value, str):
                for secret, masked in secrets.items():
                    if secret in value:
                        value = value.replace(secret, masked)
                return value
            if isinstance(value, list):
                return [mask(item) for item in value]
            return value

        for row in rows:
            yield {key: mask(value) for key, value in row.items()}

    def iter_steps(self) -> Iterator[dict[str, Any]]:
        """Every step of every case as a dict (the lines of ``traces.jsonl``); secrets of the data masked."""
        return self._masked(self._iter_steps())

    def iter_cases(self) -> Iterator[dict[str, Any]]:
        """Every case as a dict (the lines of ``cases.jsonl``); secrets of the data masked."""
        return self._masked(self._iter_cases())

    def _iter_steps(self) -> Iterator[dict[str, Any]]:
        plan = self.plan
        for payload in self.payloads:
            replication = payload["replication"]
            for case in payload["cases"]:
                for step in case["steps"]:
                    node = plan.nodes.get(step[N])
                    actor = step[ACTOR]
                    yield {
                        "replication": replication,
                        "case_id": case["case_id"],
                        "node": step[N],
                        "kind": node.kind if node is not None else None,
                        "actor": actor,
                        "agent_version": plan.agent_versions.get(actor) if actor else None,
                        "tools": [call[0] for call in step[TOOLS]],
                        "decision": step[DECISION],
                        "note": step[NOTE],
                        "start": round(step[START], 3),
                        "end": round(step[END], 3),
                        "wait": round(step[WAIT], 3),
                        "queue": round(step[QUEUE], 3),
                        "wait_reason": step[REASON],
                        "resource": step[RESOURCE],
                        "service": round(step[SERVICE], 3),
                        "tokens_in": step[TIN],
                        "tokens_out": step[TOUT],
                        "cost": round(step[COST], 6),
                        "attempts": step[ATTEMPTS],
                        "failure": step[FAILURE],
                        "escalated_to": step[ESCALATED],
                        "from": step[FROM],
                        "joined": step[JOINED],
                        "handoff_from": step[HANDOFF],
                    }

    def _iter_cases(self) -> Iterator[dict[str, Any]]:
        levels = bool(self.plan.priority)
        for payload in self.payloads:
            for case in payload["cases"]:
                steps = case["steps"]
                row = {
                    "replication": payload["replication"],
                    "case_id": case["case_id"],
                    "index": case["index"],
                    "arrival": round(case["arrival"], 3),
                    "end": round(case["end"], 3),
                    "cycle_time": round(case["end"] - case["arrival"], 3),
                    "status": case["status"],
                    "outcome": case["outcome"],
                    "category": case["category"],
                    "reason": case["reason"],
                    "where": case["where"],
                    "steps": len(steps),
                    "cost": round(math.fsum(s[COST] for s in steps), 6),
                    "tokens": sum(s[TIN] + s[TOUT] for s in steps),
                    "handoffs": sum(1 for s in steps if s[HANDOFF] is not None),
                    "escalations": sum(1 for s in steps if s[ESCALATED] is not None),
                    "wait": round(math.fsum(s[WAIT] for s in steps), 3),
                }
                if levels:  # only with simulation.priority: other cases.jsonl files stay as they were
                    row["priority"] = case.get("priority")
                yield row

    @property
    def cases(self) -> Any:
        """One row per case (pandas DataFrame)."""
        import pandas as pd  # noqa: PLC0415

        return pd.DataFrame(list(self.iter_cases()))

    @property
    def steps(self) -> Any:
        """One row per step (pandas DataFrame)."""
        import pandas as pd  # noqa: PLC0415

        return pd.DataFrame(list(self.iter_steps()))

    @property
    def resources(self) -> Any:
        """One row per resource: capacity, requests, waits, utilisation (pandas DataFrame)."""
        import pandas as pd  # noqa: PLC0415

        rows = [{"resource": key, **value} for key, value in self.kpis["resources"].items()]
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ plots

    def plot_cycle_times(self) -> Any:
        """Histogram of cycle times (hours) with p50 and p95 marked."""
        from matplotlib.figure import Figure  # noqa: PLC0415

        cycle = sorted(x / 3600.0 for rep in self._reps for x in rep.cycle)
        figure = Figure(figsize=(7, 4))
        axes = figure.subplots()
        if cycle:
            axes.hist(cycle, bins=min(50, max(5, len(cycle) // 20)), color="#4C72B0")
            for q, style in ((0.5, "--"), (0.95, ":")):
                value = quantile(cycle, q, is_sorted=True) or 0.0
                axes.axvline(value, color="black", linestyle=style, label=f"p{int(q * 100)} {value:.2f} h")
            axes.legend()
        axes.set_xlabel("cycle time (hours, virtual)")
        axes.set_ylabel("cases")
        axes.set_title(f"{self.plan.name}: cycle times of completed cases")
        figure.tight_layout()
        return figure

    def plot_utilisation(self) -> Any:
        """Utilisation per resource (pools and rate-limited tools)."""
        from matplotlib.figure import Figure  # noqa: PLC0415

        resources = self.kpis["resources"]
        label = display_names(self.compiled.expanded)
        # every pool; a rate-limited tool only when its bar would show (under 0.5% it is an empty row)
        ids = [rid for rid, r in resources.items()
               if r["utilisation"] is not None and (r["kind"] == "pool" or r["utilisation"] >= 0.005)]
        names = _unique([label.get(rid, rid) for rid in ids], ids)
        values = [resources[rid]["utilisation"] for rid in ids]
        figure = Figure(figsize=(7, max(2.5, 0.4 * len(names) + 1)))
        axes = figure.subplots()
        axes.barh(names, values, color=["#C44E52" if v >= 0.85 else "#55A868" for v in values])
        axes.set_xlim(0, max([1.0, *values]))
        axes.axvline(0.85, color="grey", linestyle=":", label="85% busy: queues grow fast above this")
        axes.legend(loc="lower right")
        axes.set_xlabel("utilisation (busy / available working time)")
        axes.set_title(f"{self.plan.name}: resource utilisation")
        axes.invert_yaxis()
        figure.tight_layout()
        return figure

    def plot_waits(self) -> Any:
        """Mean wait per node, split by why (queue, calendar, rate limit, escalation, a wait step's timer)."""
        from matplotlib.figure import Figure  # noqa: PLC0415

        sums: dict[str, Counter[str]] = defaultdict(Counter)  # from the tallies: no second pass over the cases
        for rep in self._reps:
            for node, split in rep.wait_split.items():
                sums[node].update(split)
        visits = self._counter("node_visits")
        label = display_names(self.compiled.expanded)
        ids = sorted(sums, key=lambda n: self.plan.nodes[n].order)
        nodes = _unique([label.get(n, n) for n in ids], ids)
        reasons = ["queue", "calendar", "rate_limit", "escalation", "batch", "timer"]  # escalation: waited out the SLA
        colours = {"queue": "#C44E52", "calendar": "#8172B2", "rate_limit": "#CCB974", "escalation": "#64B5CD",
                   "batch": "#8C8C8C", "timer": "#937860"}
        figure = Figure(figsize=(7, max(2.5, 0.4 * len(nodes) + 1)))
        axes = figure.subplots()
        left = [0.0] * len(nodes)
        for reason in reasons:
            values = [sums[n][reason] / visits[n] / 3600.0 for n in ids]
            if any(values):
                axes.barh(nodes, values, left=left, label=reason, color=colours[reason])
                left = [a + b for a, b in zip(left, values, strict=True)]
        if nodes:
            axes.legend()
        axes.set_xlabel("mean wait per visit (hours, virtual)")
        axes.set_title(f"{self.plan.name}: where cases wait")
        axes.invert_yaxis()
        figure.tight_layout()
        return figure

    # ------------------------------------------------------------------ files

    def summary(self) -> str:
        """A few lines for a terminal."""
        k = self.kpis

        def hours(seconds: float | None) -> str:
            return "n/a" if seconds is None else f"{seconds / 3600:.2f} h"

        cycle = k["cycle_time"]
        lines = [
            f"{k['workflow']['name']} {k['workflow']['version']}: {k['cases']} case(s) in {k['replications']} "
            f"replication(s), seed {k['seed']}",
            f"  success {k['success_rate']}, cycle time p50 {hours(cycle['p50'])}, p95 {hours(cycle['p95'])}, "
            f"mean {hours(cycle['mean'])}",
            f"  throughput {k['throughput']['per_day']} case(s)/day; cost/case {k['cost']['per_case']}, "
            f"tokens/case {k['tokens']['per_case']}",
            f"  failures {k['failures']['total']} " + json.dumps(
                {c: n for c, n in k["failures"]["by_category"].items() if n}),
            f"  loop-guard kills {k['loop_guard']['kills']}, max-turns kills {k['loop_guard']['max_turns_kills']}, "
            f"escalations {k['escalations']['total']}, hand-offs/case {k['handoffs_per_case']}",
        ]
        busiest = sorted(
            ((name, r) for name, r in k["resources"].items() if r["utilisation"] is not None),
            key=lambda item: -(item[1]["utilisation"] or 0),
        )[:3]
        if busiest:
            lines.append("  busiest: " + ", ".join(
                f"{name} {r['utilisation']:.0%} (mean wait {hours(r['wait_mean'])})" for name, r in busiest))
        if "gold" in k:
            lines.append(f"  gold cases: {k['gold']['passed']}/{k['gold']['total']} pass")
        return "\n".join(lines)

    def save(self, directory: str | Path, *, plots: bool = True) -> list[Path]:
        """Write ``kpis.json``, ``traces.jsonl``, ``cases.jsonl``, ``gold.json`` and PNG plots."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        written = [atomic_write(folder / "kpis.json", self.kpis_json())]
        written.append(_write_lines(folder / "traces.jsonl", self.iter_steps()))
        written.append(_write_lines(folder / "cases.jsonl", self.iter_cases()))
        if self.gold is not None:
            written.append(atomic_write(folder / "gold.json",
                                        json.dumps(self.gold.to_dict(), indent=2, ensure_ascii=False) + "\n"))
        if plots:
            try:
                import matplotlib  # noqa: F401, PLC0415
            except ImportError:  # pragma: no cover - optional extra
                return written
            for name, make in (("cycle_times.png", self.plot_cycle_times), ("utilisation.png", self.plot_utilisation),
                               ("waits.png", self.plot_waits)):
                figure = make()
                figure.savefig(folder / name, dpi=100)
                written.append(folder / name)
        return written


def _unique(labels: Sequence[str], ids: Sequence[str]) -> list[str]:
    """Plot labels: a name shared by two elements gets its id added (a bar per element, never merged)."""
    seen = Counter(labels)
    return [f"{text} ({rid})" if seen[text] > 1 else text for text, rid in zip(labels, ids, strict=True)]


def _write_lines(path: Path, rows: Iterator[dict[str, Any]]) -> Path:
    import os  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False))
                handle.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise os_error_at(exc, path) from exc
        raise
    return path


def compare(a: Results, b: Results) -> dict[str, dict[str, float | None]]:
    """Per KPI, ``b - a`` with a 95% confidence interval across replications (Welch's t).

    Each entry: ``a`` and ``b`` (means over replications), ``diff``, ``low``/``high`` (the interval;
    None with fewer than two replications on a side) and ``significant`` (1.0 when the interval
    excludes zero, else 0.0; None without an interval).
    """
    rows_a, rows_b = a.replication_kpis, b.replication_kpis
    keys = sorted(set().union(*rows_a, *rows_b)) if rows_a or rows_b else []
    out: dict[str, dict[str, float | None]] = {}
    for key in keys:
        xs = [row[key] for row in rows_a if row.get(key) is not None]
        ys = [row[key] for row in rows_b if row.get(key) is not None]
        result = welch(xs, ys)  # type: ignore[arg-type]
        low, high = result["low"], result["high"]
        significant = None if low is None or high is None else float(low > 0 or high < 0)
        out[key] = {
            "a": sig(result["a"]), "b": sig(result["b"]), "diff": sig(result["diff"]), "low": sig(low),
            "high": sig(high), "significant": significant, "n_a": float(len(xs)), "n_b": float(len(ys)),
        }
    return out
