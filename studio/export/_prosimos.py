"""A Prosimos (or BIMP-derived) simulation-parameter JSON carried into an imported workflow.

``read_bpmn(..., simulation=PATH)`` reads the gateway branching probabilities itself (``B015``);
:func:`apply_parameters` carries the rest, reporting every approximation and every part it does
not carry as a ``B016`` finding whose location is the JSON path (``resource_profiles[0].name``):

* ``arrival_time_distribution`` -> ``simulation.arrivals``: ``expon`` -> ``poisson`` at 1 / mean
  (a shift ``min`` or a ``max`` that cuts the tail is reported); ``fix`` -> ``fixed``; others ->
  ``poisson`` with the same mean (reported);
* ``arrival_time_calendar`` -> ``arrivals.calendar`` (days and one range of hours, or ``shifts``
  when the hours differ by day or a day has breaks; times off whole minutes are cut to the minute,
  reported); the same rate per open hour, reported because Prosimos also moves the first arrival
  after closing to the next opening;
* ``resource_profiles`` -> one ``human`` pool per profile (capacity = the sum of ``amount``); its
  calendar from ``resource_calendars`` (UTC; per-day hours and breaks as ``shifts``); resources of
  one profile on different calendars become ``members`` with their own (or all work to the majority's
  when one of them works round the clock, reported); a round the clock calendar is no calendar;
  ``cost_per_hour`` -> ``behaviour.cost_per_hour`` (the mean weighted by headcount, reported when
  the resources differ);
* ``task_resource_distribution`` -> the task's ``actor`` (the pool holding most of its resources)
  and ``behaviour.duration`` (Prosimos 2 names and parameters: ``fix [value]``, ``expon [mean,
  min, max]``, ``norm [mean, sd, min, max]``, ``lognorm``/``gamma [mean, variance, min, max]``,
  ``uniform [min, max]``; ``exponnorm [K, loc, scale, min, max]`` and ``triang [c, loc, scale,
  min, max]`` as scipy's; seconds); different durations for the resources of one pool: the pool's
  people become ``members``, each with their resource's duration in ``durations``; the step keeps the
  one nearest the amount-weighted mean (for exports and people the task does not list);
* ``gateway_execution_limit`` (default 1000) -> ``policies.max_repeats`` (Prosimos never kills a
  case in a loop before that);
* ``batch_processing`` -> the task's ``batch``, when it is what the format holds: type ``Parallel``
  (the batch's cases done at once), no duration scaling (``duration_distrib`` absent or all 1), and
  firing rules ``size = N`` (or ``>=``), optionally OR ``large_wt > T`` (the oldest case's wait, as
  ``timeout``); anything else is reported and not carried;
* the other Prosimos sections (priorities, case and event attributes, branch rules,
  event durations, multitasking, fuzzy calendars) are reported as not carried; unknown fields
  anywhere are reported.

Bad structure (a section of the wrong type, a distribution without its parameters) raises
:class:`~studio.errors.LoadError` naming the file and the JSON path.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from statistics import NormalDist
from typing import Any

from studio._names import slug, unique
from studio.errors import Finding, LoadError, Severity
from studio.model import Workflow, distribution_mean, format_duration

__all__ = ["apply_parameters"]

CODE = "B016"
_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_STUDIO_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CARRIED = frozenset({"resource_profiles", "arrival_time_distribution", "arrival_time_calendar",
                      "gateway_branching_probabilities", "task_resource_distribution", "resource_calendars",
                      "gateway_execution_limit", "batch_processing"})
_NOT_CARRIED = {
    "event_distribution": "durations of intermediate events",
    "case_attributes": "case attributes",
    "prioritisation_rules": "priorities",
    "branch_rules": "branch conditions on attributes",
    "event_attributes": "event attributes",
    "global_attributes": "global attributes",
    "multitask": "multitasking",
    "model_type": "the calendar model type",
    "granule_size": "fuzzy calendar granules",
}
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$")
_WEEK = 7 * 86400


def _slug(text: str) -> str:
    base = slug(text)
    return base if not base or base[0].isalpha() or base[0] == "_" else f"pool_{base}"


class _Reader:
    """One pass over the parameter file; ``findings`` collects what was approximated or dropped."""

    def __init__(self, data: dict[str, Any], file: str | None) -> None:
        self.data = data
        self.file = file
        self.findings: list[Finding] = []

    # ---- reporting

    def note(self, where: str, message: str, hint: str, severity: Severity = Severity.WARNING) -> None:
        self.findings.append(Finding(CODE, severity, where, f"simulation parameters `{where}`: {message}", hint,
                                     self.file))

    def bad(self, where: str, what: str, hint: str) -> LoadError:
        return LoadError([Finding("B000", Severity.ERROR, where, f"simulation parameters: `{where}` {what}", hint,
                                  self.file)], summary=f"{self.file or 'input'}: bad simulation parameters")

    def fields(self, item: Any, where: str, known: set[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
        """``item`` as a dict with its ``required`` keys; unknown keys reported."""
        if not isinstance(item, dict):
            raise self.bad(where, "is not a JSON object", "write it as Prosimos does (see docs/workflow-format.md)")
        for key in required:
            if key not in item:
                raise self.bad(where, f"has no `{key}`", f"add `{key}` (Prosimos needs it too)")
        for key in sorted(set(item) - known):
            self.note(f"{where}.{key}", "unknown field, not read", "remove it, or check its spelling")
        return item

    def listed(self, key: str) -> list[Any]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self.bad(key, "is not a list", f"write `{key}` as a JSON list")
        return value

    # ---- top level

    def top_level(self) -> None:
        for key in sorted(self.data):
            if key in _CARRIED:
                continue
            if key in _NOT_CARRIED:
                self.note(key, f"{_NOT_CARRIED[key]} not carried: the workflow format has no such setting",
                          "model it in the workflow by hand, or leave it out of the comparison")
            else:
                self.note(key, "unknown field, not read", "remove it, or check its spelling")

    # ---- calendars

    def seconds_of_day(self, text: Any, where: str) -> int:
        match = _TIME_RE.match(text) if isinstance(text, str) else None
        if match is None or int(match.group(1)) > 24 or int(match.group(2)) > 59:
            raise self.bad(where, f"`{text}` is not a time of day", "write it `HH:MM:SS`, e.g. `09:00:00`")
        return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + int(match.group(3) or 0)

    def periods(self, items: Any, where: str) -> list[tuple[int, int, int]]:
        """(day 0-6, begin, end seconds) for each day a list of Prosimos time periods covers."""
        if not isinstance(items, list):
            raise self.bad(where, "is not a list of time periods", "write `[{from, to, beginTime, endTime}]`")
        out: list[tuple[int, int, int]] = []
        for index, item in enumerate(items):
            here = f"{where}[{index}]"
            period = self.fields(item, here, {"from", "to", "beginTime", "endTime", "probability"},
                                 ("from", "to", "beginTime", "endTime"))
            days = []
            for key in ("from", "to"):
                if str(period[key]).upper() not in _DAYS:
                    raise self.bad(f"{here}.{key}", f"`{period[key]}` is not a day", "write `MONDAY` ... `SUNDAY`")
                days.append(_DAYS.index(str(period[key]).upper()))
            begin = self.seconds_of_day(period["beginTime"], f"{here}.beginTime")
            end = self.seconds_of_day(period["endTime"], f"{here}.endTime")
            if end >= 86399:
                end = 86400  # 23:59:59 is the end of the day
            if end <= begin:
                self.note(here, "a period that ends before it begins (over midnight) is not carried",
                          "split it into two periods, one each side of midnight")
                continue
            first, last = days
            span = range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]
            out.extend((day, begin, end) for day in span)
        return out

    def calendar(self, periods: list[tuple[int, int, int]]) -> tuple[dict[str, Any] | None, bool]:
        """A studio calendar (None: round the clock) for some periods, and whether it is exact: the
        simple form when every working day has the same one range, else ``shifts`` (hours per day,
        several ranges a day); not exact only when a time is not on a whole minute."""
        by_day: dict[int, list[tuple[int, int]]] = {}
        for day, begin, end in periods:
            by_day.setdefault(day, []).append((begin, end))
        if not by_day:
            return None, False
        merged = {day: _merge(ranges) for day, ranges in by_day.items()}
        exact = all(t % 60 == 0 for ranges in merged.values() for r in ranges for t in r)
        merged = {day: kept for day, ranges in merged.items()  # a range under a minute is none in minutes
                  if (kept := [(b, e) for b, e in ranges if b // 60 != e // 60])}
        if not merged:
            return None, False
        if len(merged) == 7 and all(r == [(0, 86400)] for r in merged.values()):
            return None, exact
        days_of: dict[str, list[int]] = {}  # the same hours -> the days that keep them, in first-day order
        for day in sorted(merged):
            days_of.setdefault(",".join(f"{_clock(b)}-{_clock(e)}" for b, e in merged[day]), []).append(day)
        if len(days_of) == 1 and len(merged[min(merged)]) == 1:
            ((hours, days),) = days_of.items()
            return {"days": [_STUDIO_DAYS[d] for d in days], "hours": hours, "timezone": "UTC"}, exact
        shifts = [{"days": [_STUDIO_DAYS[d] for d in days], "hours": hours} for hours, days in days_of.items()]
        return {"shifts": shifts, "timezone": "UTC"}, exact

    def calendars(self) -> dict[str, tuple[dict[str, Any] | None, bool, float]]:
        """Prosimos calendar id -> (studio calendar, exact?, working hours a week in Prosimos)."""
        out: dict[str, tuple[dict[str, Any] | None, bool, float]] = {}
        for index, item in enumerate(self.listed("resource_calendars")):
            where = f"resource_calendars[{index}]"
            entry = self.fields(item, where, {"id", "name", "time_periods", "workload_ratio"}, ("id", "time_periods"))
            if "workload_ratio" in entry:
                self.note(f"{where}.workload_ratio", "fuzzy availability not carried", "use a crisp calendar")
            periods = self.periods(entry["time_periods"], f"{where}.time_periods")
            hours = sum(end - begin for _, begin, end in periods) / 3600
            studio, exact = self.calendar(periods)
            out[str(entry["id"])] = (studio, exact, hours)
        return out


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A day's ranges in order, those that touch or overlap joined."""
    out: list[tuple[int, int]] = []
    for begin, end in sorted(ranges):
        if out and begin <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((begin, end))
    return out


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _week_hours(calendar: dict[str, Any] | None) -> float:
    if calendar is None:
        return 168.0
    shifts = calendar.get("shifts") or [calendar]
    minutes = 0
    for shift in shifts:
        for part in shift["hours"].split(","):
            begin, end = part.split("-")
            minutes += (int(end[:2]) * 60 + int(end[3:]) - int(begin[:2]) * 60 - int(begin[3:])) * len(shift["days"])
    return minutes / 60


def _shown(calendar: dict[str, Any] | None) -> str:
    """A calendar as people read it: ``mon,tue 09:00-17:00`` or its shifts joined with ``; ``."""
    if calendar is None:
        return "round the clock"
    shifts = calendar.get("shifts") or [calendar]
    return "; ".join(f"{','.join(shift['days'])} {shift['hours']}" for shift in shifts)


class _Params(_Reader):
    """The sections carried into the workflow."""

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.bad(where, f"`{value}` is not a number", "write a number of seconds")
        return float(value)

    def expon(self, values: list[float], where: str) -> tuple[float, float, float | None]:
        """(mean, shift, cut or None) of an ``expon``: Prosimos 2 writes ``[mean, min, max]`` (draws are
        ``min`` + exponential(mean - min), kept when <= ``max``); the older layout is scipy's ``[loc,
        scale]`` or ``[loc, scale, min, max]`` (reported)."""
        if not values:
            raise self.bad(where, "is empty", "give `expon` its mean, min and max (seconds)")
        if len(values) in (2, 4):
            self.note(where, f"{len(values)} values for `expon`: read in the older Prosimos layout (loc, scale"
                      + (", min, max)" if len(values) == 4 else ")"), "Prosimos 2 writes mean, min, max", Severity.INFO)
            loc, scale = max(values[0], 0.0), max(values[1], 0.0)
            return loc + scale, loc, values[3] if len(values) == 4 else None
        low = max(values[1], 0.0) if len(values) > 1 else 0.0
        mean = values[0] if values[0] >= low else low + values[0]  # Prosimos then takes the mean as the scale
        return mean, low, values[2] if len(values) > 2 else None

    def distribution(self, item: dict[str, Any], where: str) -> dict[str, Any] | None:  # noqa: C901, PLR0911, PLR0912 - one branch per distribution name
        """A Prosimos distribution as a studio one (seconds); None (reported) when it has no equivalent."""
        name = str(item.get("distribution_name", ""))
        raw = item.get("distribution_params")
        if not isinstance(raw, list):
            raise self.bad(f"{where}.distribution_params", "is missing or not a list",
                           "write `distribution_params: [{value: ...}, ...]`")
        values = []
        for index, param in enumerate(raw):
            here = f"{where}.distribution_params[{index}]"
            entry = self.fields(param, here, {"value"}, ("value",))
            values.append(self.number(entry["value"], f"{here}.value"))
        needs = {"fix": 1, "fixed": 1, "expon": 1, "norm": 2, "lognorm": 2, "gamma": 2, "uniform": 2,
                 "exponnorm": 3, "triang": 3}
        if name not in needs:
            self.note(f"{where}.distribution_name", f"distribution `{name}` has no equivalent in the workflow "
                      "format; the step keeps the default duration", "use expon, norm, lognorm, gamma, uniform, fix, "
                      "exponnorm or triang")
            return None
        if len(values) < needs[name]:
            raise self.bad(f"{where}.distribution_params", f"has {len(values)} value(s); `{name}` needs at least "
                           f"{needs[name]}", "give every parameter Prosimos reads for this distribution")

        def bounded(dist: dict[str, Any], at: int, floor: float = 0.0) -> dict[str, Any]:
            if len(values) > at and values[at] > floor:
                dist["min"] = values[at]
            if len(values) > at + 1:
                dist["max"] = values[at + 1]
            return dist

        if name in ("fix", "fixed"):
            return {"dist": "fixed", "value": max(values[0], 0.0)}
        if name == "expon":
            mean, low, high = self.expon(values, f"{where}.distribution_params")
            dist = {"dist": "exponential", "mean": mean - low, **({"loc": low} if low > 0 else {})}
            if high is not None:
                dist["max"] = high
            return dist
        if name == "norm":
            mean, sd = values[0], values[1]
            dist = {"dist": "normal", "mean": max(mean, 0.0), "sd": max(sd, 0.0)}
            low = values[2] if len(values) > 2 else 0.0
            if low > 0 or (sd > 0 and NormalDist(mean, sd).cdf(0.0) > 1e-9):
                dist["min"] = max(low, 0.0)  # Prosimos redraws negative durations: truncation at zero
            if len(values) > 3:
                dist["max"] = values[3]
            if mean < 0:
                self.note(where, "a negative mean duration became zero", "check the parameters")
            return dist
        if name in ("lognorm", "gamma"):
            mean, variance = values[0], values[1]
            if mean <= 0 or variance <= 0:
                return {"dist": "fixed", "value": max(mean, 0.0)}
            return bounded({"dist": "lognormal" if name == "lognorm" else "gamma", "mean": mean,
                            "sd": math.sqrt(variance)}, 2)
        if name == "uniform":
            return {"dist": "uniform", "low": min(values[:2]), "high": max(values[:2])}
        if name == "exponnorm":
            k, loc, scale = values[:3]
            return bounded({"dist": "exponnorm", "k": k, "scale": scale, "loc": loc}, 3)
        c, loc, scale = values[:3]  # triang
        return bounded({"dist": "triangular", "low": loc, "mode": loc + c * scale, "high": loc + scale}, 3)

    def arrivals(self) -> dict[str, Any] | None:
        where = "arrival_time_distribution"
        if where not in self.data:
            self.note(where, "missing: the workflow keeps its default arrivals", "add the arrival distribution")
            return None
        item = self.fields(self.data[where], where, {"distribution_name", "distribution_params"},
                           ("distribution_name", "distribution_params"))
        name = str(item["distribution_name"])
        if name == "expon":
            raw = item["distribution_params"]
            if not isinstance(raw, list):
                raise self.bad(f"{where}.distribution_params", "is not a list", "write `[{value: ...}, ...]`")
            values = [self.number(p.get("value") if isinstance(p, dict) else None, f"{where}.distribution_params[{i}]")
                      for i, p in enumerate(raw)]
            mean, low, high = self.expon(values, f"{where}.distribution_params")
            if mean <= 0:
                raise self.bad(f"{where}.distribution_params", "has no positive mean", "give the mean gap in seconds")
            if low > 0.01 * mean or (high is not None and math.exp(-(high - low) / max(mean - low, 1e-9)) > 1e-6):
                self.note(f"{where}.distribution_params", f"the gaps are shifted by {format_duration(low)} or cut "
                          f"at {format_duration(high or math.inf)}: arrivals are Poisson at the same rate (one per "
                          f"{format_duration(mean)})", "the format has no shifted or truncated arrivals",
                          Severity.INFO)
            return {"process": "poisson", "rate": 1.0 / mean}
        dist = self.distribution(item, where)
        if dist is None:
            return None
        if dist["dist"] == "fixed":
            return {"process": "fixed", "interval": dist["value"]}
        mean = distribution_mean(_as_model(dist))
        if mean <= 0:
            raise self.bad(where, "has a mean gap of zero", "give a positive mean gap between arrivals")
        self.note(where, f"`{name}` gaps between arrivals approximated by Poisson arrivals at the same rate (one "
                  f"per {format_duration(mean)})", "the format's arrivals are poisson, fixed or a column")
        return {"process": "poisson", "rate": 1.0 / mean}

    def arrival_calendar(self, arrivals: dict[str, Any]) -> None:
        """``arrival_time_calendar`` -> ``arrivals.calendar`` (the format's arrivals run in working time)."""
        where = "arrival_time_calendar"
        if where not in self.data:
            return
        periods = self.periods(self.data[where], where)
        studio, exact = self.calendar(periods)
        if studio is None:
            return  # round the clock
        if arrivals.get("process") not in ("poisson", "fixed"):
            self.note(where, "not carried: the arrivals are not generated", "", Severity.INFO)
            return
        arrivals["calendar"] = studio
        hours = sum(end - begin for _, begin, end in periods) / 3600
        if not exact:
            self.note(where, f"arrival calendar ({hours:g} h a week) rounded to whole minutes: {_shown(studio)} "
                      f"({_week_hours(studio):g} h a week)", "the format's calendars are in minutes")
        self.note(where, "arrivals inside the calendar at the same rate per open hour; Prosimos also moves the "
                  "first arrival that falls after closing to the next opening (one more case per opening), the "
                  "workflow does not", "raise the rate by one case per opening to match it", Severity.INFO)


def _as_model(dist: dict[str, Any]) -> Any:
    from pydantic import TypeAdapter  # noqa: PLC0415 - only for a mean

    from studio.model import Distribution  # noqa: PLC0415

    return TypeAdapter(Distribution).validate_python(dist)


def _unique_ids(names: list[str], taken: set[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        out.append(unique(_slug(name) or "pool", taken))
    return out


def _node_of(fate: dict[str, str]) -> dict[str, str]:
    out = {}
    for element, text in fate.items():
        match = re.match(r"^node `([^`]+)`", text)
        if match is not None:
            out[element] = match.group(1)
    return out


class _Pools:
    """The resource profiles: one pool each (by index until the ids are chosen)."""

    def __init__(self, reader: _Params, calendars: dict[str, tuple[dict[str, Any] | None, bool, float]]) -> None:
        self.reader = reader
        self.calendars = calendars
        self.pool_of: dict[str, int] = {}
        self.amount_of: dict[str, int] = {}
        self.actors: list[dict[str, Any]] = []
        self.persons: list[list[tuple[str, str, int, str]]] = []
        """Per pool, each resource: (id, name, amount, calendar id)."""
        self.member_ids: dict[int, list[str]] = {}
        """Pools made of members -> the resource id of each member, in order."""

    def read(self) -> None:
        reader = self.reader
        for index, item in enumerate(reader.listed("resource_profiles")):
            where = f"resource_profiles[{index}]"
            entry = reader.fields(item, where, {"id", "name", "resource_list"}, ("id", "resource_list"))
            if not isinstance(entry["resource_list"], list):
                raise reader.bad(f"{where}.resource_list", "is not a list", "list the profile's resources")
            self.actors.append(self.pool(index, entry, where))

    def pool(self, index: int, entry: dict[str, Any], where: str) -> dict[str, Any]:
        reader = self.reader
        capacity = 0
        by_calendar: Counter[str] = Counter()
        persons: list[tuple[str, str, int, str]] = []  # (id, name, amount, calendar id) per resource
        self.persons.append(persons)
        costs: list[tuple[float, int]] = []
        for r_index, item in enumerate(entry["resource_list"]):
            here = f"{where}.resource_list[{r_index}]"
            resource = reader.fields(item, here, {"id", "name", "cost_per_hour", "amount", "calendar",
                                                  "assigned_tasks"}, ("id", "calendar"))
            amount = resource.get("amount", 1)
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                raise reader.bad(f"{here}.amount", f"`{amount}` is not a number of people", "write a whole number")
            rid = str(resource["id"])
            if rid in self.pool_of and self.pool_of[rid] != index:
                reader.note(f"{here}.id", f"resource `{rid}` is in another profile too: it counts in both pools",
                            "give each resource one profile")
            self.pool_of.setdefault(rid, index)
            self.amount_of[rid] = amount
            capacity += amount
            if str(resource["calendar"]) not in self.calendars:
                raise reader.bad(f"{here}.calendar", f"names calendar `{resource['calendar']}`, which "
                                 "`resource_calendars` does not define", "add the calendar or fix its id")
            by_calendar[str(resource["calendar"])] += amount
            persons.append((rid, str(resource.get("name") or rid), amount, str(resource["calendar"])))
            cost = resource.get("cost_per_hour", 0)
            costs.append((self.reader.number(cost, f"{here}.cost_per_hour"), amount))
        actor: dict[str, Any] = {"kind": "human", "name": str(entry.get("name") or entry["id"]),
                                 "description": f"Resource profile `{entry['id']}` of the simulation parameters.",
                                 "capacity": max(capacity, 1)}
        if capacity == 0:
            reader.note(f"{where}.resource_list", "a profile without people became a pool of one", "add its resources")
        if any(cost > 0 for cost, _ in costs):
            people = sum(amount for _, amount in costs) or 1
            mean = sum(cost * amount for cost, amount in costs) / people
            actor["behaviour"] = {"cost_per_hour": round(mean, 6)}
            if len({cost for cost, _ in costs}) > 1:
                reader.note(f"{where}.resource_list", f"its resources cost different amounts per hour: the pool "
                            f"costs {mean:g} per hour, the mean weighted by headcount",
                            "the format has one cost per hour per pool")
        if not by_calendar:
            return actor
        order = list(by_calendar)
        chosen = max(order, key=lambda c: (by_calendar[c], -order.index(c)))
        studio, exact, hours = self.calendars[chosen]
        if len({json_key(self.calendars[c][0]) for c in order}) > 1:
            self.members(actor, index, where, order, chosen)
        if not exact:
            reader.note(f"resource_calendars[{list(self.calendars).index(chosen)}]", f"calendar `{chosen}` "
                        f"({hours:g} h a week) rounded to whole minutes: {_shown(studio)} "
                        f"({_week_hours(studio):g} h a week)", "the format's calendars are in minutes")
        if studio is not None:
            actor["calendar"] = studio
        return actor

    def members(self, actor: dict[str, Any], index: int, where: str, order: list[str], chosen: str) -> None:
        """A profile whose resources keep different calendars: each person a member with their own (when
        every calendar is one the format holds), else the most common calendar for all, reported."""
        reader = self.reader
        if all(self.calendars[c][0] is not None for c in order):
            self.split(actor, index, calendars=True)
            reader.note(f"{where}.resource_list", f"its resources work to different calendars "
                        f"({', '.join(order)}): each person is a member of the pool with their own",
                        "nothing to do; `members` keeps them apart", severity=Severity.INFO)
        else:
            reader.note(f"{where}.resource_list", f"its resources work to different calendars "
                        f"({', '.join(order)}): the pool works to `{chosen}`, the most common",
                        "a resource working round the clock has no calendar the pool's members can hold; "
                        "split the profile to keep them apart")


    def split(self, actor: dict[str, Any], index: int, *, calendars: bool) -> bool:
        """Make the pool's people its members (each with their resource's calendar when ``calendars``);
        False when the pool has nobody to split into."""
        if "members" in actor:
            return True
        people = [(rid, name if amount == 1 else f"{name} {k + 1}", calendar)
                  for rid, name, amount, calendar in self.persons[index] for k in range(amount)]
        if not people:
            return False
        actor.pop("capacity")
        actor["members"] = [{"name": name, **({"calendar": self.calendars[calendar][0]} if calendars else {})}
                            for _, name, calendar in people]
        self.member_ids[index] = [rid for rid, _, _ in people]
        return True

    def own_durations(self, index: int, node_id: str, durations: dict[str, dict[str, Any]]) -> bool:
        """Each member of pool ``index`` whose resource has a duration of ``node_id`` keeps it."""
        if not self.split(self.actors[index], index, calendars=False):
            return False
        for member, rid in zip(self.actors[index]["members"], self.member_ids[index], strict=True):
            if rid in durations:
                member.setdefault("durations", {})[node_id] = durations[rid]
        return True


def _tasks(reader: _Params, pools: _Pools, nodes: dict[str, dict[str, Any]], node_of: dict[str, str]
           ) -> dict[str, tuple[int, dict[str, Any]]]:
    """Node id -> (pool index, duration) from ``task_resource_distribution``."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, item in enumerate(reader.listed("task_resource_distribution")):
        where = f"task_resource_distribution[{index}]"
        entry = reader.fields(item, where, {"task_id", "resources"}, ("task_id", "resources"))
        task_id = str(entry["task_id"])
        node_id = node_of.get(task_id)
        node = nodes.get(node_id) if node_id is not None else None
        if node_id is None or node is None or node["kind"] not in ("task", "approval", "subworkflow"):
            reader.note(f"{where}.task_id", f"`{task_id}` is no task of the imported process: not carried",
                        "check the parameter file belongs to this model")
            continue
        if not isinstance(entry["resources"], list) or not entry["resources"]:
            raise reader.bad(f"{where}.resources", "is not a list of resources", "list who does the task")
        options: list[tuple[str, int, dict[str, Any]]] = []
        for r_index, res in enumerate(entry["resources"]):
            here = f"{where}.resources[{r_index}]"
            resource = reader.fields(res, here, {"resource_id", "distribution_name", "distribution_params"},
                                     ("resource_id", "distribution_name", "distribution_params"))
            rid = str(resource["resource_id"])
            if rid not in pools.pool_of:
                raise reader.bad(f"{here}.resource_id", f"names resource `{rid}`, which no resource profile lists",
                                 "add it to a profile or fix its id")
            dist = reader.distribution(resource, here)
            if dist is not None:
                options.append((rid, pools.pool_of[rid], dist))
        if not options:
            continue
        weight: Counter[int] = Counter()
        for rid, pool, _ in options:
            weight[pool] += max(pools.amount_of.get(rid, 1), 1)
        order = list(weight)
        pool = max(order, key=lambda p: (weight[p], -order.index(p)))
        name = pools.actors[pool]["name"]
        if len(weight) > 1:
            reader.note(f"{where}.resources", f"`{task_id}` is done by resources of {len(weight)} profiles: the step "
                        f"goes to `{name}`, which holds most of them", "the format gives a step one actor")
        own = [o for o in options if o[1] == pool]
        chosen = own[0]
        if len({json_key(o[2]) for o in own}) > 1:  # means only then (a truncated mean needs scipy)
            means = [distribution_mean(_as_model(o[2])) for o in own]
            weights = [max(pools.amount_of.get(o[0], 1), 1) for o in own]
            target = sum(w * m for w, m in zip(weights, means, strict=True)) / sum(weights)
            best = min(range(len(own)), key=lambda i: abs(means[i] - target))
            chosen = own[best]
            times = ", ".join(f"{o[0]} mean {format_duration(round(m, 3))}" for o, m in zip(own, means, strict=True))
            mean = format_duration(round(target, 3))
            step = (f"the step's own duration (for exports, and for anyone of the pool the task does not list) is "
                    f"{chosen[0]}'s, the nearest to the mean weighted by headcount ({mean})")
            if pools.own_durations(pool, node_id, {o[0]: o[2] for o in own}):
                reader.note(f"{where}.resources", f"the people of `{name}` take different times for `{task_id}` "
                            f"({times}): each person of the pool keeps their own (`members` with `durations`); "
                            + step, "nothing to do; the members' `durations` keep them apart", Severity.INFO)
            else:
                reader.note(f"{where}.resources", f"the people of `{name}` take different times for `{task_id}` "
                            f"({times}): {step}", "give the profile's resources an `amount`")
        out[node_id] = (pool, chosen[2])
    return out


_SIZE_RULES = frozenset({"=", ">="})
_WAIT_RULES = frozenset({">", ">="})


def _firing(reader: _Params, rules: Any, where: str) -> tuple[int, float | None] | str:
    """(size, timeout) from Prosimos firing rules (OR of AND lists), or why they do not map."""
    if not isinstance(rules, list) or not rules:
        return "no firing rules"
    size: int | None = None
    timeout: float | None = None
    for index, group in enumerate(rules):
        if not isinstance(group, list) or len(group) != 1 or not isinstance(group[0], dict):
            return f"rule {index} is not one condition (the format has no AND of conditions)"
        rule = reader.fields(group[0], f"{where}[{index}][0]", {"attribute", "comparison", "value"},
                             ("attribute", "comparison", "value"))
        attribute, comparison = rule["attribute"], rule["comparison"]
        value = reader.number(rule["value"], f"{where}[{index}][0].value")
        if attribute == "size" and comparison in _SIZE_RULES and size is None and value >= 1 and value == int(value):
            size = int(value)
        elif attribute == "large_wt" and comparison in _WAIT_RULES and timeout is None and value > 0:
            timeout = value
        else:
            return f"rule {index} (`{attribute} {comparison} {rule['value']}`) has no place in the format"
    if size is None:
        return "no `size` rule (the format fires a batch when it is full, or when its oldest case has waited)"
    return size, timeout


def _batches(reader: _Params, nodes: dict[str, dict[str, Any]], node_of: dict[str, str],
             assigned: dict[str, tuple[int, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Node id -> ``batch`` from ``batch_processing``; what does not map is reported, not carried."""
    out: dict[str, dict[str, Any]] = {}
    known = {"task_id", "type", "batch_frequency", "size_distrib", "duration_distrib", "firing_rules"}
    for index, item in enumerate(reader.listed("batch_processing")):
        where = f"batch_processing[{index}]"
        entry = reader.fields(item, where, known, ("task_id", "firing_rules"))
        task_id = str(entry["task_id"])
        node_id = node_of.get(task_id)
        if node_id is None or node_id not in assigned or nodes[node_id]["kind"] not in ("task", "approval"):
            reader.note(f"{where}.task_id", f"`{task_id}` is no task of the imported process done by a resource "
                        "profile: its batching is not carried", "check the parameter file belongs to this model")
            continue
        why = _batch_loss(entry)
        firing = _firing(reader, entry["firing_rules"], f"{where}.firing_rules")
        if why is None and isinstance(firing, str):
            why = firing
        if why is not None or isinstance(firing, str):
            reader.note(where, f"the batching of `{task_id}` is not carried: {why}",
                        "model the batch by hand (`batch: {size, timeout}` on the step), or leave it out")
            continue
        size, timeout = firing
        out[node_id] = {"size": size} if timeout is None else {"size": size, "timeout": timeout}
        if entry.get("size_distrib"):
            reader.note(f"{where}.size_distrib", "not read: the firing rules give the batch's size", "",
                        Severity.INFO)
    return out


def _batch_loss(entry: dict[str, Any]) -> str | None:
    """Why a ``batch_processing`` entry's way of working has no place in the format (None: it has)."""
    kind = entry.get("type", "Parallel")
    if kind != "Parallel":
        return (f"type `{kind}` (the format does a batch's cases at once, in one duration, as Prosimos' "
                "`Parallel`)")
    frequency = entry.get("batch_frequency", 1.0)
    if frequency != 1:
        return f"`batch_frequency` {frequency} (the format batches every case that reaches the step)"
    scales = entry.get("duration_distrib") or []
    if not isinstance(scales, list) or any(not isinstance(s, dict) or s.get("value") != 1 for s in scales):
        return "`duration_distrib` scales the duration by the batch's size (the format draws one duration)"
    return None


def apply_parameters(workflow: Workflow, data: dict[str, Any], fate: dict[str, str],
                     file: str | None) -> tuple[Workflow, list[Finding]]:
    """The workflow with the parameter file's pools, durations, arrivals and loop limit; the findings."""
    reader = _Params(data, file)
    reader.top_level()
    if not _CARRIED.difference({"gateway_branching_probabilities"}).intersection(data):
        return workflow, reader.findings  # branching probabilities only (read by the import itself)
    pools = _Pools(reader, reader.calendars())
    pools.read()
    doc = workflow.model_dump(mode="json", by_alias=True)
    nodes = {n["id"]: n for n in doc["nodes"]}
    assigned = _tasks(reader, pools, nodes, _node_of(fate))
    used = {n.get("actor") for i, n in nodes.items() if i not in assigned}
    used |= {n.get("escalate_to") for n in nodes.values()}
    used |= {level.get("to") for n in nodes.values() for level in n.get("escalation") or ()}
    used |= {level.get("to") for level in (doc.get("policies") or {}).get("escalation") or ()}
    kept = [a for a in doc["actors"] if a["id"] in used]
    for actor in doc["actors"]:
        if actor["id"] not in used:
            reader.note("resource_profiles", f"actor `{actor['id']}` of the BPMN import (a lane or a placeholder) "
                        "does no step once the resource profiles assign the tasks: dropped", "", Severity.INFO)
    ids = _unique_ids([a["name"] for a in pools.actors], {a["id"] for a in kept})
    for node_id, (pool, duration) in assigned.items():
        nodes[node_id]["actor"] = ids[pool]
        nodes[node_id].setdefault("behaviour", {})["duration"] = duration
    for node_id, batch in _batches(reader, nodes, _node_of(fate), assigned).items():
        nodes[node_id]["batch"] = batch
    doc["actors"] = kept + [{"id": pool_id, **actor} for pool_id, actor in zip(ids, pools.actors, strict=True)]
    arrivals = reader.arrivals()
    if arrivals is not None:
        reader.arrival_calendar(arrivals)
        doc.setdefault("simulation", {})["arrivals"] = arrivals
    limit = data.get("gateway_execution_limit", 1000)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise reader.bad("gateway_execution_limit", f"`{limit}` is not a positive whole number", "write e.g. 1000")
    doc.setdefault("policies", {})["max_repeats"] = limit
    return Workflow.model_validate(doc), reader.findings


def json_key(value: Any) -> str:
    """A stable text for comparing parsed JSON values."""
    return json.dumps(value, sort_keys=True)
