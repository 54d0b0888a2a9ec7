"""Simulation results in the analyst's language: names not ids, units, the scenario, the pointers.

Plain Python over :class:`~studio.simulate.results.Results` (``kpis`` and the compiled workflow):
``studio simulate`` prints :func:`text`, and the studio's Simulate tab shows the same rows as HTML
(``studio.widgets.present``). Figures are shown as people read them: percentages, minutes, hours
or days, money with two decimals (in the workflow's currency when the model names one), counts
with thousands separators.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from studio.model import escalation_chain

__all__ = [
    "BUSY",
    "comparison_rows",
    "currency",
    "duration",
    "headline_rows",
    "money",
    "names",
    "pointers",
    "priority_rows",
    "resource_rows",
    "scenario_name",
    "text",
]

BUSY = 0.85
"""Above this share of working time a pool is flagged: queues grow fast past it."""


# --------------------------------------------------------------------------- units


def duration(seconds: float | None) -> str:
    """``"12.5 min"`` under an hour, ``"3.25 h"`` under two days, else ``"4.1 days"``."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    value = float(seconds)
    if value == 0:
        return "0 min"
    if abs(value) < 3600:
        return f"{value / 60:.1f} min"
    if abs(value) < 2 * 86400:
        return f"{value / 3600:.2f} h"
    return f"{value / 86400:.1f} days"


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{float(value):.{digits}%}"


def money(value: float | None, unit: str | None = None) -> str:
    """``"0.15 EUR"`` with a currency, ``"0.15"`` without."""
    if value is None:
        return "–"
    return f"{float(value):,.2f} {unit}" if unit else f"{float(value):,.2f}"


def _count(value: float | None) -> str:
    return "–" if value is None else f"{round(float(value)):,}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{float(value):,.2f}"


def currency(workflow: Any) -> str | None:
    """The workflow's currency when the model has one (``simulation.currency`` or ``metadata.currency``)."""
    for part in ("simulation", "metadata"):
        value = getattr(getattr(workflow, part, None), "currency", None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


# --------------------------------------------------------------------------- names


def names(workflow: Any) -> dict[str, str]:
    """Id -> the name people use (``name`` when set, else the id) for steps, actors and tools."""
    out: dict[str, str] = {}
    for section in ("tools", "actors", "nodes"):
        for item in getattr(workflow, section, []) or []:
            out[item.id] = getattr(item, "name", None) or item.id
    return out


def _who(label: Mapping[str, str], element: str) -> str:
    """``Deputy CFO [deputy_cfo]``: the name, and the id to find it in the file."""
    name = label.get(element, element)
    return name if name == element else f"{name} [{element}]"


def _step(label: Mapping[str, str], element: str) -> str:
    """A step as a sentence can hold it: ``"CFO approves the spend" [cfo_approval]``."""
    name = label.get(element, element)
    return f'"{name}" [{element}]' if name != element else f"`{element}`"


def _workflow(results: Any) -> Any:
    """What ran: the workflow with its subworkflows expanded (their steps, actors and pools)."""
    compiled = getattr(results, "compiled", None)
    return getattr(compiled, "expanded", None) or getattr(compiled, "workflow", None)


def scenario_name(results: Any) -> str:
    """``"baseline (as mapped)"``, or the scenario's changes joined with ``; ``."""
    changes = [str(s) for s in results.kpis.get("scenario") or []]
    return "; ".join(changes) if changes else "baseline (as mapped)"


# --------------------------------------------------------------------------- the table


def headline_rows(results: Any) -> list[tuple[str, str]]:
    """The figures a room reads first, as ``(label, value with its unit)``."""
    k: Mapping[str, Any] = results.kpis
    unit = currency(_workflow(results))
    cycle = k.get("cycle_time") or {}
    failures = k.get("failures") or {}
    by_category = ", ".join(f"{name} {n}" for name, n in (failures.get("by_category") or {}).items() if n)
    failed = f"{_count(failures.get('total'))} ({_pct(failures.get('rate'))})"
    rows = [
        ("Scenario", scenario_name(results)),
        ("Cases simulated", f"{_count(k.get('cases'))} ({k.get('replications')} replication(s), seed {k.get('seed')})"),
        ("Completed successfully", _pct(k.get("success_rate"))),
        ("Cycle time, median", duration(cycle.get("p50"))),
        ("Cycle time, 95th percentile", duration(cycle.get("p95"))),
        ("Cycle time, mean", duration(cycle.get("mean"))),
        ("Throughput", f"{_num((k.get('throughput') or {}).get('per_day'))} cases/day"),
        ("Cost per case", money((k.get("cost") or {}).get("per_case"), unit)),
        ("Tokens per case", _count((k.get("tokens") or {}).get("per_case"))),
        ("Hand-offs per case", _num(k.get("handoffs_per_case"))),
        ("Failed cases", failed + (f": {by_category}" if by_category else "")),
        ("Escalations", _count((k.get("escalations") or {}).get("total"))),
        ("Stopped by the loop guard", _count((k.get("loop_guard") or {}).get("kills"))),
    ]
    gold = k.get("gold")
    if isinstance(gold, Mapping):
        rows.append(("Gold cases passing", f"{gold.get('passed')}/{gold.get('total')} ({_pct(gold.get('pass_rate'))})"))
    return rows


def _per(capacity: Any) -> str:
    """A rate limit as people read it: ``"300/60s"`` -> ``"300 calls/min"``."""
    calls, _, per = str(capacity).partition("/")
    seconds = per.rstrip("s")
    units = {"1": "s", "60": "min", "3600": "h", "86400": "day"}
    return f"{calls} calls/{units[seconds]}" if seconds in units else f"{calls} calls per {per}"


def resource_rows(results: Any) -> list[tuple[str, str, str, str, str]]:
    """Per person pool, and per rate-limited tool that was used: name, capacity, busy share, mean and
    95th percentile wait."""
    label = names(_workflow(results))
    rows = []
    for resource_id, r in (results.kpis.get("resources") or {}).items():
        capacity = r.get("capacity")
        if r.get("kind") == "pool":
            people = f"{capacity} {'person' if capacity == 1 else 'people'}"
        elif float(r.get("utilisation") or 0) < 0.005 and not r.get("wait_mean"):
            continue  # a tool nobody had to wait for and that was hardly used: an empty row
        else:
            people = _per(capacity)
        rows.append(
            (label.get(resource_id, resource_id), people, _pct(r.get("utilisation"), 0),
             duration(r.get("wait_mean")), duration(r.get("wait_p95")))
        )
    return rows


def subworkflow_rows(results: Any) -> list[tuple[str, str, str, str, str]]:
    """Per expanded subworkflow: its step, what it runs, visits, median time inside, cost per visit."""
    label = names(_workflow(results))
    unit = currency(_workflow(results))
    rows = []
    for node, s in (results.kpis.get("subworkflows") or {}).items():
        rows.append((_step(label, node), str(s.get("ref")), _count(s.get("visits")),
                     duration((s.get("time") or {}).get("p50")), money((s.get("cost") or {}).get("per_visit"), unit)))
    return rows


def priority_rows(results: Any) -> list[tuple[str, str, str, str, str]]:
    """Per priority level (``simulation.priority``), highest first: cases, their steps in people's
    queues, mean and 95th percentile wait. Empty without priorities."""
    levels = (results.kpis.get("priority") or {}).get("levels") or {}
    return [(level, _count(r.get("cases")), _count(r.get("requests")), duration(r.get("wait_mean")),
             duration(r.get("wait_p95"))) for level, r in levels.items()]


def pointers(results: Any) -> list[str]:
    """What to look at first: the bottleneck, pools above 85% busy, escalations to a pool of one."""
    workflow = _workflow(results)
    label = names(workflow)
    resources: Mapping[str, Mapping[str, Any]] = results.kpis.get("resources") or {}
    pools = {rid: r for rid, r in resources.items() if r.get("kind") == "pool" and r.get("utilisation") is not None}
    out: list[str] = []
    if pools:
        top_id, top = max(pools.items(), key=lambda item: (float(item[1]["utilisation"]), item[0]))
        out.append(
            f"Bottleneck: {_who(label, top_id)} is busy {_pct(top['utilisation'], 0)} of its "
            f"working time; cases wait {duration(top.get('wait_mean'))} for it on average "
            f"({duration(top.get('wait_p95'))} at the 95th percentile)."
        )
        for rid, r in sorted(pools.items(), key=lambda item: -float(item[1]["utilisation"])):
            if float(r["utilisation"]) > BUSY:
                out.append(
                    f"Risk: {_who(label, rid)} is above {BUSY:.0%} busy ({_pct(r['utilisation'], 0)}): "
                    "small changes in demand make its queue grow fast; add people or move work elsewhere."
                )
    for target, sources in _escalations_to_one(workflow).items():
        escalated = int((resources.get(target) or {}).get("escalated_in") or 0)
        seen = f"; {escalated:,} escalation(s) went there in this run" if escalated else ""
        out.append(
            f"Risk: escalations from {', '.join(_step(label, s) for s in sources)} go to "
            f"{_who(label, target)}, a pool of one person{seen}: when that person is busy or "
            "away every escalated case waits; add a deputy or escalate to a larger pool."
        )
    return out


def _escalations_to_one(workflow: Any) -> dict[str, list[str]]:
    """Escalation targets (any level of a chain) that are human pools of one person -> the steps (or
    policies) sending there."""
    if workflow is None:
        return {}
    sizes = {a.id: a.capacity for a in workflow.actors if getattr(a, "kind", None) == "human"}
    out: dict[str, list[str]] = {}
    policies = workflow.policies
    defaults = [level.to for level in policies.escalation or ()] or (
        [policies.escalate_to] if policies.escalate_to is not None else [])
    for node in workflow.nodes:  # the chain the simulator walks (a step without an SLA never escalates)
        for _, target in escalation_chain(node, workflow.index.actors, policies):
            if sizes.get(target) == 1 and node.id not in out.get(target, ()):
                out.setdefault(target, []).append(node.id)
    where = "policies.escalation" if policies.escalation is not None else "policies.escalate_to"
    for default in defaults:
        if sizes.get(default) == 1 and default not in out:
            out[default] = [where]
    return out


# --------------------------------------------------------------------------- baseline vs scenario

_COMPARED: tuple[tuple[str, str, str], ...] = (
    ("success_rate", "Completed successfully", "pct"),
    ("cycle_time_p50", "Cycle time, median", "time"),
    ("cycle_time_p95", "Cycle time, 95th percentile", "time"),
    ("cycle_time_mean", "Cycle time, mean", "time"),
    ("throughput_per_hour", "Throughput (cases/day)", "per_day"),
    ("cost_per_case", "Cost per case", "money"),
    ("handoffs_per_case", "Hand-offs per case", "num"),
    ("escalations_per_case", "Escalations per case", "num"),
)


def _shown(value: float | None, how: str, unit: str | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    sign = "+" if signed and value > 0 else ""
    if how == "pct":
        return f"{sign}{value * 100:.1f} pts" if signed else _pct(value)
    if how == "time":
        return sign + duration(value)
    if how == "per_day":
        return f"{sign}{value * 24:,.2f}"
    if how == "money":
        return sign + money(value, unit)
    return f"{sign}{value:,.2f}"


def comparison_rows(
    comparison: Mapping[str, Mapping[str, Any]], workflow: Any = None
) -> list[tuple[str, str, str, str, str, str]]:
    """Baseline vs scenario per KPI (from :func:`studio.simulate.compare`), names and units:
    ``(what, baseline, scenario, difference, 95% interval, real difference?)``."""
    label = names(workflow) if workflow is not None else {}
    unit = currency(workflow)
    keys: list[tuple[str, str, str]] = list(_COMPARED)
    for key in comparison:
        if key.startswith("utilisation["):
            rid = key[len("utilisation["):-1]
            keys.append((key, f"Busy share, {label.get(rid, rid)}", "pct"))
        elif key.startswith("wait_mean["):
            rid = key[len("wait_mean["):-1]
            keys.append((key, f"Mean wait, {label.get(rid, rid)}", "time"))
    rows = []
    for key, title, how in keys:
        row = comparison.get(key)
        if row is None or not any(row.get(part) for part in ("a", "b")):
            continue  # unused on both sides: an empty row
        low, high = row.get("low"), row.get("high")
        interval = "–" if low is None or high is None else (
            f"{_shown(low, how, unit, signed=True)} to {_shown(high, how, unit, signed=True)}")
        significant = row.get("significant")
        verdict = "–" if significant is None else ("yes" if significant else "no")
        rows.append((title, _shown(row.get("a"), how, unit), _shown(row.get("b"), how, unit),
                     _shown(row.get("diff"), how, unit, signed=True), interval, verdict))
    return rows


# --------------------------------------------------------------------------- text for a terminal


def _table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None) -> list[str]:
    every = [list(header)] if header else []
    every += [list(row) for row in rows]
    widths = [max(len(row[i]) for row in every) for i in range(len(every[0]))] if every else []
    lines = []
    for number, row in enumerate(every):
        lines.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if header and number == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def text(results: Any, baseline: Any = None, comparison: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The summary ``studio simulate`` prints: the figures, the resources, the pointers and, with a
    baseline, the comparison (the scenario minus the baseline, with 95% intervals)."""
    k = results.kpis
    lines = [f"{k['workflow']['name']} {k['workflow']['version']}: scenario {scenario_name(results)}", ""]
    lines += _table(headline_rows(results))
    resources = resource_rows(results)
    if resources:
        lines += ["", "People and rate-limited tools:"]
        lines += _table(resources, ["resource", "capacity", "busy", "mean wait", "p95 wait"])
    subworkflows = subworkflow_rows(results)
    if subworkflows:
        lines += ["", "Subworkflows (their steps are in the traces as <step>__<its step>):"]
        lines += _table(subworkflows, ["step", "runs", "visits", "median time", "cost per visit"])
    levels = priority_rows(results)
    if levels:
        lines += ["", "Waits in people's queues by priority level (higher served first):"]
        lines += _table(levels, ["level", "cases", "requests", "mean wait", "p95 wait"])
    found = pointers(results)
    if found:
        lines += ["", "Look at:"] + [f"  - {line}" for line in found]
    if baseline is not None and comparison is not None:
        lines += ["", f"Compared with the baseline (as mapped): means over {k['replications']} replication(s), "
                      "the scenario minus the baseline, with its 95% interval:"]
        lines += _table(comparison_rows(comparison, _workflow(results)),
                        ["KPI", "baseline", "scenario", "difference", "95% interval", "real difference?"])
        if int(k.get("replications") or 0) < 2:
            lines.append("  (run with --replications 2 or more to get the 95% intervals)")
    return "\n".join(lines)
