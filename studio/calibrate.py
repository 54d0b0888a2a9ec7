"""Calibrate a workflow from an event log: ``studio calibrate LOG -o workflow.yaml``.

Reads a CSV or XES log (case id, activity, resource, start and end time per event), discovers the
control flow with a directly-follows graph (written here: no process-mining library, see
``docs/decisions.md``) and fits what the simulator needs: branch probabilities (loops included),
Poisson arrivals, a duration distribution per activity chosen by goodness of fit, pools with their
capacity and working calendars, escalations. Every guess and simplification goes into the report
(``Calibration.report``); ``docs/calibration.md`` describes the rules.

::

    from studio.calibrate import read_log, calibrate
    log = read_log("events.csv")                    # columns guessed (reported) or named
    result = calibrate(log)
    result.workflow                                 # a studio Workflow, ready to simulate
    print("\\n".join(result.report))

Bad input (a missing column, a timestamp that does not parse, an event that ends before it starts,
events out of order within a case, a log with one case) raises :class:`CalibrationError` naming the
file, the row (CSV) or line (XES) and the column or attribute.
"""

from __future__ import annotations

import contextlib
import csv
import io as _io
import itertools
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.parsers import expat

from studio._names import unique
from studio.errors import StudioError
from studio.model import (
    Behaviour,
    Calendar,
    Decision,
    Edge,
    End,
    EscalationLevel,
    Exponential,
    ExponNorm,
    Fixed,
    Gamma,
    Human,
    Join,
    LogNormal,
    Metadata,
    Normal,
    Parallel,
    PoissonArrivals,
    Policies,
    Simulation,
    Start,
    System,
    Task,
    Triangular,
    Uniform,
    Workflow,
)
from studio.simulate.clock import EPOCH, WorkCalendar, iso_to_seconds

__all__ = ["Calibration", "CalibrationError", "EventLog", "LogEvent", "calibrate", "read_log"]

FIELDS: tuple[str, ...] = ("case", "activity", "resource", "start", "end")
GUESSES: dict[str, tuple[str, ...]] = {
    "case": ("case_id", "case", "caseid", "case_concept_name", "case_name", "trace_id", "trace"),
    "activity": ("activity", "activity_name", "concept_name", "task", "task_name", "event", "step", "action"),
    "resource": ("resource", "org_resource", "resource_name", "user", "performer", "actor", "agent", "org_role",
                 "role"),
    "start": ("start_time", "start_timestamp", "start", "started", "started_at", "begin", "start_date"),
    "end": ("end_time", "end_timestamp", "complete_time", "completion_time", "end", "ended", "ended_at",
            "completed", "complete_timestamp", "time_timestamp", "timestamp", "end_date"),
}
OPTION = {"case": "--case", "activity": "--activity", "resource": "--resource", "start": "--start", "end": "--end"}
XES_KEYS = {"case": "concept:name", "activity": "concept:name", "resource": "org:resource",
            "end": "time:timestamp"}
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_END = "__end__"
_START = "__start__"


class CalibrationError(StudioError, ValueError):
    """The event log cannot be calibrated from; the message names the file, the row and the column."""


@dataclass(frozen=True)
class LogEvent:
    """One activity instance: times are seconds since the simulator's epoch (Monday 2024-01-01 UTC)."""

    case: str
    activity: str
    resource: str
    start: float
    end: float
    row: int


@dataclass
class EventLog:
    """The events of a log, case by case in time order, and how its columns were found."""

    path: str
    events: list[LogEvent]
    columns: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def cases(self) -> dict[str, list[LogEvent]]:
        out: dict[str, list[LogEvent]] = {}
        for event in self.events:
            out.setdefault(event.case, []).append(event)
        return out


# --------------------------------------------------------------------------- reading


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _seconds(text: str, where: str) -> float:
    try:
        return iso_to_seconds(text.replace("z", "Z"))
    except ValueError:
        raise CalibrationError(f"{where}: `{text}` is not a timestamp; write ISO 8601 such as "
                               "`2024-03-04T09:30:00Z` (a time without offset is read as UTC)") from None


def read_log(path: str | os.PathLike[str], *, case: str | None = None, activity: str | None = None,  # noqa: PLR0913 - the log's column names, each an optional keyword
             resource: str | None = None, start: str | None = None, end: str | None = None) -> EventLog:
    """Read a ``.csv`` or ``.xes`` event log; column (or XES attribute) names given or guessed."""
    from studio.fileio import read_limited  # noqa: PLC0415

    given = {"case": case, "activity": activity, "resource": resource, "start": start, "end": end}
    text = read_limited(path, "data_bytes", "event log")
    if Path(path).suffix.lower() == ".xes" or text.lstrip().startswith("<"):
        log = _read_xes(str(path), text, given)
    else:
        log = _read_csv(str(path), text, given)
    _check(log)
    return log


def _read_csv(path: str, text: str, given: Mapping[str, str | None]) -> EventLog:  # noqa: C901, PLR0912 - one pass over the rows; each refusal has its own message
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=first_line.count)  # comma, or what a spreadsheet in another locale wrote
    reader = csv.reader(_io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CalibrationError(f"{path}: the event log is empty; it needs a header row and one row per event") from None
    except csv.Error as exc:
        raise CalibrationError(f"{path}, row 1: not CSV ({exc})") from None
    index = {name: i for i, name in enumerate(header)}
    normal = {_norm(name): name for name in reversed(header)}
    columns: dict[str, str] = {}
    notes: list[str] = []
    missing: list[str] = []
    for what in FIELDS:
        name = given.get(what)
        if name is not None:
            if name not in index:
                raise CalibrationError(
                    f"{path}, row 1: no column `{name}` (given with {OPTION[what]}); the columns are "
                    + ", ".join(f"`{h}`" for h in header))
            columns[what] = name
            continue
        found = next((normal[g] for g in GUESSES[what] if g in normal and normal[g] not in columns.values()), None)
        if found is None:
            missing.append(what)
        else:
            columns[what] = found
            notes.append(f"column for {what}: `{found}` (guessed; name another with {OPTION[what]})")
    if missing:
        what = missing[0]
        raise CalibrationError(
            f"{path}, row 1: no column for the {what} of an event (looked for "
            + ", ".join(f"`{g}`" for g in GUESSES[what][:4]) + f"); name it with {OPTION[what]} COLUMN"
            + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""))
    events: list[LogEvent] = []
    try:
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            cells: dict[str, str] = {}
            for what, name in columns.items():
                i = index[name]
                value = row[i].strip() if i < len(row) else ""
                if not value and what != "resource":
                    raise CalibrationError(
                        f"{path}, row {number}, column `{name}`: empty; every event needs its {what}")
                cells[what] = value
            begin = _seconds(cells["start"], f"{path}, row {number}, column `{columns['start']}`")
            finish = _seconds(cells["end"], f"{path}, row {number}, column `{columns['end']}`")
            if finish < begin:
                raise CalibrationError(
                    f"{path}, row {number}, column `{columns['end']}`: the event ends ({cells['end']}) before it "
                    f"starts ({cells['start']}); fix the timestamps or swap the --start/--end columns")
            events.append(LogEvent(cells["case"], cells["activity"], cells["resource"] or "unknown", begin, finish,
                                   number))
    except csv.Error as exc:
        raise CalibrationError(f"{path}, row {reader.line_num}: not CSV ({exc})") from None
    return EventLog(path, events, columns, notes)


class _Xes:
    """A streaming XES reader (expat): no entity expansion, line numbers for messages."""

    def __init__(self, path: str, given: Mapping[str, str | None]) -> None:
        self.path = path
        self.keys = {what: given.get(what) or XES_KEYS.get(what, "start") for what in FIELDS}
        self.start_key = given.get("start")
        self.depth = 0
        self.trace: dict[str, str] | None = None
        self.event: dict[str, str] | None = None
        self.event_line = 0
        self.trace_events: list[tuple[int, dict[str, str]]] = []
        self.events: list[LogEvent] = []
        self.unpaired = 0
        self.no_start = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = name.rsplit(" ", 1)[-1].rsplit(":", 1)[-1]
        if tag == "trace":
            self.trace, self.trace_events = {}, []
        elif tag == "event" and self.trace is not None:
            self.event, self.event_line = {}, self.parser.CurrentLineNumber
        elif "key" in attrs and "value" in attrs:
            target = self.event if self.event is not None else self.trace
            if target is not None:
                target.setdefault(attrs["key"], attrs["value"])

    def end(self, name: str) -> None:
        tag = name.rsplit(" ", 1)[-1].rsplit(":", 1)[-1]
        if tag == "event" and self.event is not None and self.trace is not None:
            self.trace_events.append((self.event_line, self.event))
            self.event = None
        elif tag == "trace" and self.trace is not None:
            self._close_trace()
            self.trace = None

    def _need(self, attrs: Mapping[str, str], what: str, line: int) -> str:
        key = self.keys[what]
        value = attrs.get(key)
        if value is None or not value.strip():
            option = OPTION[what]
            where = "trace" if what == "case" else "event"
            raise CalibrationError(f"{self.path}, line {line}, attribute `{key}`: missing on this {where}; "
                                   f"every {where} needs its {what} (name another attribute with {option})")
        return value

    def _close_trace(self) -> None:
        assert self.trace is not None
        line = self.trace_events[0][0] if self.trace_events else self.parser.CurrentLineNumber
        case = self._need(self.trace, "case", line)
        opened: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
        previous_end: float | None = None
        last: float | None = None
        for line, attrs in self.trace_events:
            activity = self._need(attrs, "activity", line)
            moment = _seconds(self._need(attrs, "end", line), f"{self.path}, line {line}, attribute "
                              f"`{self.keys['end']}`")
            if last is not None and moment < last:
                raise CalibrationError(
                    f"{self.path}, line {line}, attribute `{self.keys['end']}`: this event of case `{case}` is "
                    "earlier than the one before it; list each trace's events in time order")
            last = moment
            resource = attrs.get(self.keys["resource"], "").strip() or "unknown"
            transition = attrs.get("lifecycle:transition", "complete").strip().lower()
            instance = attrs.get("concept:instance", "")
            if self.start_key is not None:  # each complete event carries its own start
                if transition != "complete":
                    continue
                begin = _seconds(self._need(attrs, "start", line),
                                 f"{self.path}, line {line}, attribute `{self.start_key}`")
                if moment < begin:
                    raise CalibrationError(
                        f"{self.path}, line {line}, attribute `{self.keys['end']}`: the event ends before it starts "
                        f"(`{self.start_key}`); fix the timestamps")
                self.events.append(LogEvent(case, activity, resource, begin, moment, line))
                previous_end = moment
                continue
            if transition == "start":
                opened[(activity, instance)].append((moment, line))
            elif transition == "complete":
                waiting = opened.get((activity, instance))
                if waiting:
                    begin, first = waiting.pop(0)
                else:
                    self.no_start += 1
                    begin, first = (previous_end if previous_end is not None else moment), line
                self.events.append(LogEvent(case, activity, resource, begin, moment, first))
                previous_end = moment
        self.unpaired += sum(len(v) for v in opened.values())

    def run(self, text: str) -> None:
        self.parser = expat.ParserCreate(namespace_separator=" ")
        self.parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

        def no_entities(*_args: Any) -> None:
            raise CalibrationError(f"{self.path}, line {self.parser.CurrentLineNumber}: the XES file declares "
                                   "entities; remove the DOCTYPE (XES needs none)")

        self.parser.EntityDeclHandler = no_entities
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        try:
            self.parser.Parse(text, True)
        except expat.ExpatError as exc:
            raise CalibrationError(f"{self.path}, line {exc.lineno}, column {exc.offset + 1}: not XML "
                                   f"({expat.ErrorString(exc.code)})") from None


def _read_xes(path: str, text: str, given: Mapping[str, str | None]) -> EventLog:
    reader = _Xes(path, given)
    reader.run(text)
    notes = []
    if reader.no_start:
        notes.append(f"{reader.no_start} complete event(s) without a start event: each starts when the case's "
                     "previous event ended (its duration includes any wait)")
    if reader.unpaired:
        notes.append(f"{reader.unpaired} start event(s) never completed: left out")
    columns = {what: reader.keys[what] for what in FIELDS if what != "start"}
    columns["start"] = given.get("start") or "lifecycle:transition=start"
    return EventLog(path, sorted(reader.events, key=lambda e: e.row), columns, notes)


def _check(log: EventLog) -> None:
    cases = log.cases
    if not log.events:
        raise CalibrationError(f"{log.path}: the event log has no events (a header only, or no traces); "
                               "it needs one row (or XES event) per activity instance")
    if len(cases) < 2:
        only = next(iter(cases))
        raise CalibrationError(
            f"{log.path}, row {log.events[0].row}, column `{log.columns['case']}`: every event belongs to one case "
            f"(`{only}`); calibration needs at least two cases (arrivals and branch probabilities come from "
            "many); check that the case column is the right one")
    for events in cases.values():
        for before, after in itertools.pairwise(events):
            if after.start < before.start:
                raise CalibrationError(
                    f"{log.path}, row {after.row}, column `{log.columns['start']}`: this event of case "
                    f"`{after.case}` starts before the event on row {before.row}; sort the log by case and start "
                    "time")


# --------------------------------------------------------------------------- fitting helpers


def slug(text: str, taken: set[str]) -> str:
    """A workflow id for an activity or resource name, unique among ``taken``."""
    base = re.sub(r"[^A-Za-z0-9_\-]+", "_", text.strip()).strip("_").lower()[:70] or "step"
    if not re.match(r"^[A-Za-z_]", base):
        base = f"a_{base}"
    return unique(base, taken)


def _r(value: float) -> float:
    return round(value, 3)


def fit_duration(samples: Sequence[float]) -> tuple[Any, str, list[str]]:
    """The distribution (a model object) that fits ``samples`` best by the Kolmogorov-Smirnov distance.

    Returns ``(distribution, why, notes)``; ``notes`` say when a shape the format cannot hold
    (Weibull) fits clearly better.
    """
    try:
        from scipy import stats  # noqa: PLC0415
    except ImportError:  # pragma: no cover - scipy is a dependency of the studio
        raise CalibrationError("fitting durations needs scipy: pip install scipy") from None

    xs = sorted(float(x) for x in samples)
    n = len(xs)
    mean = math.fsum(xs) / n
    lo, hi = xs[0], xs[-1]
    if hi - lo <= 1e-3 * max(mean, 1e-9) or n == 1:
        return Fixed(dist="fixed", value=_r(mean)), f"fixed {_r(mean)}s (all {n} the same)", []
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    candidates: list[tuple[float, str, Any]] = []

    def add(name: str, model: Any, frozen: Any) -> None:
        d = float(stats.kstest(xs, frozen.cdf).statistic)
        candidates.append((d, name, model))

    add("exponential", Exponential(dist="exponential", mean=_r(mean)), stats.expon(scale=mean))
    add("normal", Normal(dist="normal", mean=_r(mean), sd=_r(sd)), stats.norm(mean, sd))
    add("uniform", Uniform(dist="uniform", low=_r(lo), high=_r(hi)), stats.uniform(lo, hi - lo))
    mode = min(max(3 * mean - lo - hi, lo), hi)
    if hi > lo:
        add("triangular", Triangular(dist="triangular", low=_r(lo), mode=_r(mode), high=_r(hi)),
            stats.triang((mode - lo) / (hi - lo), loc=lo, scale=hi - lo))
    positive = [x for x in xs if x > 0]
    if len(positive) == n:
        logs = [math.log(x) for x in xs]
        mu = math.fsum(logs) / n
        sigma = math.sqrt(math.fsum((v - mu) ** 2 for v in logs) / n)
        if sigma > 0:
            lmean = math.exp(mu + sigma**2 / 2)
            lsd = lmean * math.sqrt(math.expm1(sigma**2))
            add("lognormal", LogNormal(dist="lognormal", mean=_r(lmean), sd=_r(lsd)),
                stats.lognorm(sigma, scale=math.exp(mu)))
    if len(positive) == n and n >= 20:
        with contextlib.suppress(Exception):  # a fit that does not converge is no candidate
            shape, _loc, scale = stats.gamma.fit(xs, floc=0)
            add("gamma", Gamma(dist="gamma", mean=_r(shape * scale), sd=_r(math.sqrt(shape) * scale)),
                stats.gamma(shape, scale=scale))
    if n >= 20:
        with contextlib.suppress(Exception):
            k, loc, scale = stats.exponnorm.fit(xs)
            if loc >= 0 and scale > 0:  # a shift is a duration: never negative
                add("exponnorm", ExponNorm(dist="exponnorm", k=round(k, 4), scale=_r(scale), loc=_r(loc)),
                    stats.exponnorm(k, loc=loc, scale=scale))
    candidates.sort(key=lambda c: (c[0], c[1]))
    best_d, best_name, best = candidates[0]
    notes: list[str] = []
    if len(positive) == n and n >= 20:
        with contextlib.suppress(Exception):
            params = stats.weibull_min.fit(xs, floc=0)
            d = float(stats.kstest(xs, stats.weibull_min(*params).cdf).statistic)
            if d < best_d * 0.8:
                notes.append(f"a Weibull distribution fits better (KS {d:.3f} against {best_d:.3f}) but the format "
                             "has no such distribution")
    why = f"{best_name} (KS {best_d:.3f}; " + ", ".join(f"{name} {d:.3f}" for d, name, _m in candidates[1:]) + ")"
    return best, why, notes


def _concurrency(pairs: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one moment (one that ends where another starts does not overlap it)."""
    intervals = list(pairs)
    points = sorted([(s, 1) for s, _e in intervals] + [(e, -1) for _s, e in intervals], key=lambda p: (p[0], p[1]))
    level = peak = 0
    for _t, step in points:
        level += step
        peak = max(peak, level)
    return peak


def _clock(seconds: float) -> tuple[int, int]:
    """(weekday 0=Monday, minute of the day) of a time since the epoch, in UTC."""
    moment = EPOCH + timedelta(seconds=seconds)
    return moment.weekday(), moment.hour * 60 + moment.minute + (1 if moment.second or moment.microsecond else 0)


_DAY_EVENTS = 30
"""Events a weekday needs (starts and ends) before its own hours are told apart from the others'."""


def _calendar(events: Sequence[LogEvent], covered: set[int]) -> tuple[Calendar | None, str]:
    """Working days and hours of a resource from its events' times (UTC), or None when it works around the
    clock; hours per day (``shifts``) when every working day has enough events and some day's hours
    differ from the others' by an hour or more."""
    per_day: Counter[int] = Counter()
    hours: set[int] = set()
    opens: dict[int, int] = {}
    closes: dict[int, int] = {}
    ends: Counter[int] = Counter()
    for event in events:
        day, minute = _clock(event.start)
        per_day[day] += 1
        hours.add(minute // 60)
        start = minute - (1 if (EPOCH + timedelta(seconds=event.start)).second else 0)
        opens[day] = min(opens.get(day, 24 * 60), start)
        end_day, end_minute = _clock(event.end)  # work pauses outside the hours: ends fall inside them
        if end_minute == 0 and event.end != event.start:  # at midnight: the end of the day before
            end_day, end_minute = (end_day - 1) % 7, 24 * 60
        closes[end_day] = max(closes.get(end_day, 0), end_minute)
        ends[end_day] += 1
    busiest = max(per_day.values())
    # a working day: one with work on it, or a weekday that never falls wholly while cases arrive (unknown)
    days = [d for d in range(7) if per_day[d] >= 0.1 * busiest or d not in covered]
    window = _quarters(min(opens.values()), max(closes.values()))
    if len(days) == 7 and len(hours) >= 20:
        return None, "works around the clock"
    if window[1] <= window[0]:
        return None, "works around the clock (no working hours found)"
    text = _hours_text(window)
    own = {d: _quarters(opens[d], closes[d]) for d in days if per_day[d] >= _DAY_EVENTS and ends[d] >= _DAY_EVENTS}
    if (len(own) > 1 and len(own) == len([d for d in days if per_day[d]])
            and all(o < c for o, c in own.values())
            and any(max(abs(o - window[0]), abs(c - window[1])) >= 60 for o, c in own.values())):
        by_hours: dict[str, list[str]] = {}
        for d in days:
            by_hours.setdefault(_hours_text(own.get(d, window)), []).append(_DAY_NAMES[d])
        shifts = [{"days": names, "hours": hours_text} for hours_text, names in by_hours.items()]
        calendar = Calendar.model_validate({"shifts": shifts, "timezone": "UTC"})
        return calendar, calendar.describe()
    calendar = Calendar.model_validate({"days": [_DAY_NAMES[d] for d in days], "hours": text, "timezone": "UTC"})
    return calendar, calendar.describe()


def _quarters(opens: int, closes: int) -> tuple[int, int]:
    """A day's first start and last end, rounded out to quarter hours."""
    return max(0, (opens // 15) * 15), min(24 * 60, -(-closes // 15) * 15)


def _hours_text(window: tuple[int, int]) -> str:
    opens, closes = window
    return f"{opens // 60:02d}:{opens % 60:02d}-{closes // 60:02d}:{closes % 60:02d}"


# --------------------------------------------------------------------------- discovery


@dataclass
class Calibration:
    """What :func:`calibrate` found: the workflow, the directly-follows counts and the report."""

    workflow: Workflow
    report: list[str]
    dfg: dict[tuple[str, str], int]
    activity_ids: dict[str, str]


def _parallel_blocks(cases: Mapping[str, Sequence[LogEvent]], share: float = 0.9) -> list[list[str]]:
    """Sets of activities that run at the same time: for every pair, in at least ``share`` of the cases
    with either both occur, and at least ``share`` of the instances of each overlap an instance of the other."""
    occurs: Counter[str] = Counter()
    together: Counter[tuple[str, str]] = Counter()
    instances: Counter[tuple[str, str]] = Counter()  # (a, b): instances of a in cases with b
    overlapping: Counter[tuple[str, str]] = Counter()  # ... that overlap an instance of b
    for events in cases.values():
        names = sorted({e.activity for e in events})
        occurs.update(names)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                together[(a, b)] += 1
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for event in events:
            spans[event.activity].append((event.start, event.end))
        for event in events:
            for other in names:
                if other == event.activity:
                    continue
                instances[(event.activity, other)] += 1
                if any((start < event.end and event.start < end) or start == event.start
                       for start, end in spans[other]):
                    overlapping[(event.activity, other)] += 1
    concurrent = {(a, b) for (a, b), n in together.items()
                  if n >= 5 and n >= share * max(occurs[a], occurs[b])
                  and overlapping[(a, b)] >= share * instances[(a, b)]
                  and overlapping[(b, a)] >= share * instances[(b, a)]}
    return _cliques(concurrent)


def _cliques(pairs: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Groups in which every pair is in ``pairs``, grown from each name in order (a name joins one group)."""
    neighbours: dict[str, set[str]] = defaultdict(set)
    for one, other in pairs:
        neighbours[one].add(other)
        neighbours[other].add(one)
    blocks: list[list[str]] = []
    seen: set[str] = set()
    for activity in sorted(neighbours):
        if activity in seen:
            continue
        block = {activity} | neighbours[activity]
        if all(block - {m} <= neighbours[m] for m in block):  # a clique: every pair concurrent
            blocks.append(sorted(block))
            seen |= block
    return blocks


def calibrate(log: EventLog, *, name: str | None = None, min_share: float = 0.01) -> Calibration:
    """Discover a workflow from ``log``; a transition that follows fewer than ``min_share`` of a step's visits
    is dropped (unless the step could then not reach the end)."""
    return _Discovery(log, min_share).run(name)


class _Discovery:
    """One calibration, step by step; each step adds to the report."""

    def __init__(self, log: EventLog, min_share: float) -> None:
        self.log = log
        self.min_share = min_share
        self.cases = log.cases
        self.report = [f"event log {log.path}: {len(log.events)} event(s), {len(self.cases)} case(s)"]
        self.report += [f"  {note}" for note in log.notes]
        self.taken: set[str] = {"start", "end"}
        self.arrivals = sorted(events[0].start for events in self.cases.values())
        # how long each event waited after the case's work before it (a first event's wait is unknown)
        self.gaps: dict[int, float] = {}
        for events in self.cases.values():
            done = events[0].start
            for event in events:
                self.gaps[id(event)] = max(0.0, event.start - done)
                done = max(done, event.end)
        self.firsts = {id(events[0]) for events in self.cases.values()}
        self.actor_ids: dict[str, str] = {}
        self.calendars: dict[str, Calendar | None] = {}
        self.activity_ids: dict[str, str] = {}

    def run(self, name: str | None) -> Calibration:
        traces = self.traces()
        dfg, kept, repeats = self.flow(traces)
        actors = self.resources()
        humans = {r for r, rid in self.actor_ids.items() if any(isinstance(a, Human) and a.id == rid for a in actors)}
        tasks = {activity: self.task(activity, events, humans) for activity, events in self.by("activity").items()}
        nodes, edges = self.graph(kept, tasks)
        window = self.arrivals[-1] - self.arrivals[0]
        rate = (len(self.arrivals) - 1) / window if window > 0 else 1 / 60
        self.report.append(f"arrivals: Poisson, {rate * 3600:.4g} case(s) per hour over {_hours(window)} "
                           "(the first event of a case is its arrival)")
        self.report.append("  " + _arrival_pattern(self.arrivals) + "; calibration fits no arrival calendar, "
                           "so the rate is constant around the clock")
        policies = Policies(max_repeats=max(3, repeats), max_turns=max(100, 2 * max(len(t) for t in traces)))
        if repeats > 3:
            self.report.append(f"loop guard: a transition repeats up to {repeats} times in one case, so "
                               f"`policies.max_repeats` is {repeats}")
        self.report.append("times are read in UTC: calendars are written in UTC; failures, retries, tokens and costs "
                           "are not in an event log and are left at their defaults (no failures)")
        log, cases = self.log, self.cases
        workflow = Workflow(
            metadata=Metadata(name=name or slug(Path(log.path).stem, set()), version="0.1.0",
                              description=f"Calibrated from the event log {Path(log.path).name} "
                              f"({len(cases)} cases, {len(log.events)} events)."),
            actors=list(actors), nodes=nodes, edges=edges, policies=policies,
            simulation=Simulation(seed=0, cases=len(cases), arrivals=PoissonArrivals(process="poisson", rate=rate)),
        )
        return Calibration(workflow, self.report, dict(sorted(dfg.items())), self.activity_ids)

    def by(self, what: str) -> dict[str, list[LogEvent]]:
        """Events grouped by ``activity`` or ``resource``, names sorted."""
        groups: dict[str, list[LogEvent]] = defaultdict(list)
        for event in self.log.events:
            groups[getattr(event, what)].append(event)
        return dict(sorted(groups.items()))

    # ---- each case as symbols: activities, a parallel block as one symbol, a start and an end

    def traces(self) -> list[list[str]]:
        blocks = _parallel_blocks(self.cases)
        block_of = {a: f"parallel:{'+'.join(block)}" for block in blocks for a in block}
        members_of = {f"parallel:{'+'.join(block)}": set(block) for block in blocks}
        for block in blocks:
            self.report.append("parallel: " + " | ".join(f"`{a}`" for a in block)
                               + " overlap in time in nearly every case: a parallel split and join")
        traces: list[list[str]] = []
        for events in self.cases.values():
            symbols: list[str] = [_START]
            pending: dict[str, set[str]] = {}  # an open parallel block: the members not seen yet in this round
            for event in events:
                symbol = block_of.get(event.activity, event.activity)
                if symbol in members_of:
                    left = pending.get(symbol)
                    if left is not None and event.activity in left:
                        left.discard(event.activity)
                        if not left:
                            del pending[symbol]
                        continue
                    pending[symbol] = members_of[symbol] - {event.activity}
                symbols.append(symbol)
            symbols.append(_END)
            traces.append(symbols)
        return traces

    # ---- the directly-follows graph with frequency filtering

    def flow(self, traces: list[list[str]]) -> tuple[Counter[tuple[str, str]], dict[str, Counter[str]], int]:
        dfg: Counter[tuple[str, str]] = Counter()
        repeats = 0
        for symbols in traces:
            pairs = Counter(itertools.pairwise(symbols))
            dfg.update(pairs)
            repeats = max(repeats, *pairs.values())
        outgoing: dict[str, Counter[str]] = defaultdict(Counter)
        for (a, b), n in dfg.items():
            outgoing[a][b] = n
        kept: dict[str, Counter[str]] = {}
        dropped: dict[tuple[str, str], str] = {}
        for a in sorted(outgoing):
            total = sum(outgoing[a].values())
            kept[a] = Counter({b: n for b, n in outgoing[a].items() if n >= self.min_share * total}) \
                or Counter(dict(outgoing[a].most_common(1)))
            dropped.update({(a, b): f"{_show(a)} -> {_show(b)} ({n} of {total})"
                            for b, n in sorted(outgoing[a].items()) if b not in kept[a]})
        # every symbol must still reach the end: put back the most frequent edge toward it where it cannot
        for a in sorted(outgoing):
            reach = _reaching_end(kept)
            if a not in reach and a != _END:
                b, n = next((b, n) for b, n in outgoing[a].most_common() if b in reach)
                kept[a][b] = n
                dropped.pop((a, b), None)
        if dropped:
            shown = [dropped[key] for key in sorted(dropped)]
            self.report.append(f"dropped {len(shown)} rare transition(s) (under {self.min_share:.0%} of a step's "
                               "visits; --min-share): " + "; ".join(shown[:12]) + (" ..." if len(shown) > 12 else ""))
        self.report.append(f"directly-follows graph: {len(dfg)} transition(s), "
                           f"{sum(len(v) for v in kept.values())} kept")
        return dfg, kept, repeats

    # ---- resources: system or pool, calendar, capacity

    def resources(self) -> list[Human | System]:
        starts = self.arrivals
        covered = {(EPOCH + timedelta(days=day)).weekday()  # weekdays seen whole while cases arrive
                   for day in range(math.ceil(starts[0] / 86400), math.floor(starts[-1] / 86400))}
        actors: list[Human | System] = []
        for resource, events in self.by("resource").items():
            rid = self.actor_ids[resource] = slug(resource, self.taken)
            calendar, hours = _calendar(events, covered)
            handed = [self.gaps[id(e)] for e in events if id(e) not in self.firsts]
            immediate = sum(1 for gap in handed if gap <= 1.0) / len(handed) if handed else float(calendar is None)
            peak = _concurrency((e.start, e.end) for e in events)
            label = resource if rid != resource else None
            if calendar is None and immediate >= 0.95:  # around the clock, never waits: a system
                self.calendars[resource] = None
                actors.append(System(kind="system", id=rid, name=label))
                self.report.append(f"resource `{resource}`: system ({hours}; starts as soon as the work before it "
                                   f"ends in {immediate:.0%} of its events; at most {peak} at once)")
            else:
                self.calendars[resource] = calendar
                actors.append(Human(kind="human", id=rid, name=label, capacity=peak, calendar=calendar))
                self.report.append(f"resource `{resource}`: human pool of {peak} (the most activities at once, a "
                                   f"lower bound), working {hours}")
        if len(covered) < 7:
            self.report.append(f"cases arrive over {(starts[-1] - starts[0]) / 86400:.1f} day(s): a weekday never "
                               "seen whole while they arrive counts as a working day")
        return actors

    # ---- an activity: its actor (and escalation), its duration

    def escalation(self, activity: str, events: list[LogEvent], counts: Counter[str]
                   ) -> tuple[str, str, float] | None:
        """``(pool, escalation pool, SLA)`` when one pool takes the work only after a wait longer than any
        the other pool let pass."""
        for primary, backup in (sorted(counts), sorted(counts, reverse=True)):
            own = [self.gaps[id(e)] for e in events if e.resource == primary]
            theirs = [self.gaps[id(e)] for e in events if e.resource == backup]
            if min(theirs) > 0 and max(own) <= min(theirs):
                sla = _round_sla(max(own), min(theirs))
                self.report.append(f"activity `{activity}`: done by `{backup}` only after a wait of "
                                   f"{_hours(min(theirs))} or more, by `{primary}` after at most {_hours(max(own))}: "
                                   f"an escalation to `{backup}` after an SLA of {_hours(sla)}")
                return primary, backup, sla
        return None

    def chain(self, activity: str, events: list[LogEvent], counts: Counter[str]
              ) -> tuple[str, list[EscalationLevel]] | None:
        """``(pool, levels)`` when three or more pools take the work one after another: each only after a
        wait longer than any the pools before it let pass (an escalation chain; each level's time counted
        from the hand-over, as the simulator does)."""
        waits = {pool: [self.gaps[id(e)] for e in events if e.resource == pool] for pool in counts}
        order = sorted(counts, key=lambda pool: (min(waits[pool]), max(waits[pool]), pool))
        levels: list[EscalationLevel] = []
        handed = 0.0
        for below, above in itertools.pairwise(order):
            if min(waits[above]) <= 0 or max(waits[below]) > min(waits[above]):
                return None
            deadline = _round_sla(max(*waits[below], handed), min(waits[above]))
            if deadline <= handed:
                return None
            levels.append(EscalationLevel(to=self.actor_ids[above], after=deadline - handed))
            handed = deadline
        self.report.append(f"activity `{activity}`: done by " + ", then ".join(
            f"`{pool}` after waits of {_hours(min(waits[pool]))} to {_hours(max(waits[pool]))}" for pool in order)
            + ": an escalation chain " + ", ".join(
            f"to `{level.to}` after {_hours(level.after)}" for level in levels) + " (each from the hand-over)")
        return order[0], levels

    def task(self, activity: str, events: list[LogEvent], humans: set[str]) -> Task:
        aid = self.activity_ids[activity] = slug(activity, self.taken)
        counts = Counter(e.resource for e in events)
        resource, count = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0]
        escalates = self.escalation(activity, events, counts) if len(counts) == 2 and set(counts) <= humans else None
        chained = self.chain(activity, events, counts) if len(counts) > 2 and set(counts) <= humans else None
        if escalates is not None:
            resource = escalates[0]
        elif chained is not None:
            resource = chained[0]
        elif len(counts) > 1:
            others = sorted(r for r in counts if r != resource)
            self.report.append(f"activity `{activity}`: done by `{resource}` in {count} of {len(events)} events; "
                               "also by " + ", ".join(f"`{r}` ({counts[r]})" for r in others)
                               + f": a task has one actor, so these are simulated as `{resource}`")
        hours = {r: WorkCalendar(c) for r, c in self.calendars.items() if c is not None and r in counts}
        samples = [hours[e.resource].open_seconds(e.start, e.end) if e.resource in hours else e.end - e.start
                   for e in events]  # working time: the simulator pauses a pool's work outside its hours
        dist, why, notes = fit_duration(samples)
        self.report.append(f"activity `{activity}` ({len(events)} events): duration {why}"
                           + (" in working time" if self.calendars.get(resource) is not None else ""))
        self.report += [f"  {note}" for note in notes]
        if len(counts) > 1:
            means = {r: _mean([s for s, e in zip(samples, events, strict=True) if e.resource == r]) for r in counts}
            if max(means.values()) > 1.2 * min(means.values()):
                self.report.append("  its mean duration differs by resource ("
                                   + ", ".join(f"`{r}` {_hours(m)}" for r, m in sorted(means.items()))
                                   + "); calibration gives the step one duration for whoever does it")
        return Task(kind="task", id=aid, name=activity if aid != activity else None,
                    actor=self.actor_ids[resource], behaviour=Behaviour(duration=dist),
                    sla=escalates[2] if escalates else None,
                    escalate_to=self.actor_ids[escalates[1]] if escalates else None,
                    escalation=chained[1] if chained else None)

    # ---- the workflow graph: tasks, parallel blocks, decisions with branch probabilities

    def graph(self, kept: dict[str, Counter[str]], tasks: dict[str, Task]) -> tuple[list[Any], list[Edge]]:
        nodes: list[Any] = [Start(kind="start", id="start")]
        edges: list[Edge] = []
        node_of: dict[str, str] = {_START: "start", _END: "end"}
        ends_of: dict[str, str] = {_START: "start"}
        order = _order(kept)
        for symbol in order:
            if symbol in (_START, _END):
                continue
            if not symbol.startswith("parallel:"):
                nodes.append(tasks[symbol])
                node_of[symbol] = ends_of[symbol] = self.activity_ids[symbol]
                continue
            members = symbol.split(":", 1)[1].split("+")
            fork, join = slug("split", self.taken), slug("join", self.taken)
            nodes.append(Parallel(kind="parallel", id=fork, name="Start together: " + " | ".join(members)))
            for member in members:
                nodes.append(tasks[member])
                edges.append(Edge.model_validate({"from": fork, "to": self.activity_ids[member]}))
                edges.append(Edge.model_validate({"from": self.activity_ids[member], "to": join}))
            nodes.append(Join(kind="join", id=join, name="All done: " + " | ".join(members)))
            node_of[symbol], ends_of[symbol] = fork, join
        gates: dict[str, Decision] = {}  # after the node they follow, in the file
        for symbol in order:
            successors = kept.get(symbol, Counter())
            if symbol == _END:
                continue
            if len(successors) == 1:
                edges.append(Edge.model_validate({"from": ends_of[symbol], "to": node_of[next(iter(successors))]}))
                continue
            gate = gates[ends_of[symbol]] = Decision(kind="decision", id=slug(f"after_{ends_of[symbol]}", self.taken))
            edges.append(Edge.model_validate({"from": ends_of[symbol], "to": gate.id}))
            total = sum(successors.values())
            shares = _shares(successors, total)
            ranked = sorted(successors, key=lambda b: (-successors[b], _show(b)))
            self.report.append(f"decision after {_show(symbol)}: " + ", ".join(
                f"{_show(b)} {shares[b]:.4f}" for b in ranked) + f" (of {total})"
                + (" - a loop" if any(_loops_back(b, symbol, kept) for b in ranked) else ""))
            for b in ranked:  # the most frequent branch is the default: it takes the rest (docs/workflow-format.md)
                branch = {"default": True} if b == ranked[0] else {"probability": shares[b]}
                edges.append(Edge.model_validate({"from": gate.id, "to": node_of[b], **branch}))
        nodes = [placed for node in nodes for placed in (node, gates.get(node.id)) if placed is not None]
        nodes.append(End(kind="end", id="end"))
        return nodes, edges


def _show(symbol: str) -> str:
    if symbol == _START:
        return "the start"
    if symbol == _END:
        return "the end"
    if symbol.startswith("parallel:"):
        return "the parallel block " + " | ".join(f"`{m}`" for m in symbol.split(":", 1)[1].split("+"))
    return f"`{symbol}`"


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs) if xs else 0.0


def _hours(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.2f}h"


def _round_sla(low: float, high: float) -> float:
    """The first round time from ``low`` on that is not past ``high``: whole hours, else quarter hours,
    minutes, seconds (the SLA is at least the longest wait served by the pool, at most the shortest
    wait before the escalation pool took over)."""
    for unit in (3600.0, 900.0, 60.0, 1.0):
        value = max(math.ceil(low / unit), 1) * unit
        if value <= high:
            return value
    return round(high, 3)


def _shares(successors: Mapping[str, int], total: int) -> dict[str, float]:
    """Branch probabilities rounded to four decimals that add up to exactly one."""
    shares = {b: round(n / total, 4) for b, n in successors.items()}
    top = max(successors, key=lambda b: (successors[b], b))
    shares[top] = round(1.0 - math.fsum(v for b, v in shares.items() if b != top), 4)
    return shares


def _reaching_end(graph: Mapping[str, Counter[str]]) -> set[str]:
    reverse: dict[str, set[str]] = defaultdict(set)
    for a, succ in graph.items():
        for b in succ:
            reverse[b].add(a)
    seen = {_END}
    stack = [_END]
    while stack:
        for a in reverse[stack.pop()]:
            if a not in seen:
                seen.add(a)
                stack.append(a)
    return seen


def _order(graph: Mapping[str, Counter[str]]) -> list[str]:
    """Symbols in breadth-first order from the start, most frequent successors first."""
    order = [_START]
    seen = {_START}
    i = 0
    while i < len(order):
        for b, _n in sorted(graph.get(order[i], Counter()).items(), key=lambda item: (-item[1], item[0])):
            if b not in seen:
                seen.add(b)
                order.append(b)
        i += 1
    return order


def _loops_back(target: str, source: str, graph: Mapping[str, Counter[str]]) -> bool:
    """Whether ``source`` is reachable from ``target`` (the branch closes a loop)."""
    seen = {target}
    stack = [target]
    while stack:
        node = stack.pop()
        if node == source:
            return True
        for b in graph.get(node, Counter()):
            if b not in seen:
                seen.add(b)
                stack.append(b)
    return False


def _arrival_pattern(arrivals: Sequence[float]) -> str:
    """Whether arrivals look even over the hours of the day (a chi-square test), in words."""
    by_hour = Counter(int(((t % 86400) + 86400) % 86400 // 3600) for t in arrivals)
    n = len(arrivals)
    if n < 48:
        return "too few cases to see a daily pattern in arrivals"
    expected = n / 24
    chi2 = sum((by_hour[h] - expected) ** 2 / expected for h in range(24))
    busy = [h for h in range(24) if by_hour[h] >= expected * 1.5]
    if chi2 > 50:  # 23 degrees of freedom: 50 is far past the 0.1% point (49.7)
        return ("arrivals are uneven over the day (busiest hours UTC: "
                + ", ".join(f"{h:02d}h" for h in busy[:8]) + ")")
    return "arrivals look even over the hours of the day"


# --------------------------------------------------------------------------- command line


def _share(text: str) -> float:
    import argparse  # noqa: PLC0415

    try:
        value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a share such as 0.01 or 1%") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"`{text}` must be at least 0 and under 1 (or 100%)")
    return value


def setup_arguments(p: Any) -> None:
    """The options of ``studio calibrate`` (an ``argparse`` parser)."""
    p.add_argument("log", metavar="LOG", help="the event log: LOG.csv (one row per event) or LOG.xes")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="the workflow to write (OUT.yaml, or OUT.json)")
    for what in FIELDS:
        xes = f"; XES: `{XES_KEYS[what]}`" if what in XES_KEYS else "; XES: lifecycle start events"
        p.add_argument(OPTION[what], metavar="COLUMN", dest=what,
                       help=f"the column with each event's {what} (default: guessed from common names{xes})")
    p.add_argument("--name", metavar="NAME", help="the workflow's name (default: from the log's file name)")
    p.add_argument("--min-share", type=_share, default=0.01, metavar="P",
                   help="drop a transition that follows fewer than this share of a step's visits (default 0.01)")
