"""Simulated cases as an event log (CSV or XES), the shape process-mining tools and ``studio calibrate`` read.

One event per executed step that someone does: ``task``, ``approval`` and ``subworkflow`` steps
with an actor. Gateways (``start``, ``end``, ``decision``, ``parallel``, ``join``) are not
events: no one works there and a log from a real system does not show them (``docs/calibration.md``);
nor are ``wait`` steps (a timer: the case waits, no one works; the trace shows them).
An approval that a threshold auto-approved has no actor and is left out too.

CSV columns: ``case_id, activity, resource, start_time, end_time, outcome``.

- ``activity``: the node's label (its ``name``, else its ``id``); when two nodes share a label,
  ``label (id)`` for those, so every activity names one node.
- ``resource``: the actor that did the step (for an escalated step, the pool it escalated to).
- ``start_time`` / ``end_time``: ISO 8601 UTC with milliseconds, from the virtual clock's epoch
  (Monday 2024-01-01, :data:`studio.simulate.clock.EPOCH`).
- ``outcome``: an approval's decision (``approve``, ``reject``, ``send_back``), ``failed`` for a
  step whose last attempt failed, else ``done``.

XES (IEEE 1849-2016) with the standard concept, time, organizational and lifecycle extensions:
each step is a ``start`` and a ``complete`` event sharing a ``concept:instance``; ``outcome`` is on
the complete event. Several replications go into one log with the case id written ``r<N>:<id>``.

Rows are ordered by case (as simulated), then by start time; the bytes are the same every run.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from studio.errors import StudioError
from studio.fileio import atomic_write
from studio.simulate.clock import EPOCH

if TYPE_CHECKING:
    from studio.simulate.results import Results

__all__ = [
    "COLUMNS", "EVENT_KINDS", "Event", "EventLogError", "events", "log_format", "timestamp", "to_csv", "to_xes",
    "write_event_log",
]

COLUMNS: tuple[str, ...] = ("case_id", "activity", "resource", "start_time", "end_time", "outcome")
EVENT_KINDS: frozenset[str] = frozenset({"task", "approval", "subworkflow"})
FORMATS: tuple[str, ...] = (".csv", ".xes")


class EventLogError(StudioError, ValueError):
    """The event log cannot be written as asked (an unknown format)."""


@dataclass(frozen=True)
class Event:
    """One executed step: who did which activity of which case, from when to when (virtual seconds)."""

    case_id: str
    activity: str
    resource: str
    start: float
    end: float
    outcome: str


def timestamp(seconds: float) -> str:
    """Virtual seconds as ISO 8601 UTC with milliseconds (``2024-01-01T09:30:00.000Z``)."""
    moment = EPOCH + timedelta(milliseconds=round(seconds * 1000))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _activities(results: Results) -> dict[str, str]:
    """Node id -> activity name: its label, or ``label (id)`` where labels repeat."""
    nodes = results.compiled.expanded.nodes  # a subworkflow's steps included
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.label] = counts.get(node.label, 0) + 1
    return {node.id: node.label if counts[node.label] == 1 else f"{node.label} ({node.id})" for node in nodes}


def events(results: Results) -> Iterator[Event]:
    """The events of every case, case by case, each case's by start time (secrets of the data masked)."""
    names = _activities(results)
    several = len(results.payloads) > 1
    key: tuple[int, str] | None = None
    case: list[Event] = []
    for step in results.iter_steps():
        this = (step["replication"], step["case_id"])
        if this != key:
            yield from sorted(case, key=lambda e: (e.start, e.end))
            case, key = [], this
        if step["kind"] not in EVENT_KINDS or step["actor"] is None:
            continue
        if step["failure"] is not None:
            outcome = "failed"
        elif step["kind"] == "approval" and step["decision"] is not None:
            outcome = str(step["decision"])
        else:
            outcome = "done"
        case_id = f"r{step['replication']}:{step['case_id']}" if several else str(step["case_id"])
        case.append(Event(case_id, names.get(step["node"], step["node"]), str(step["actor"]),
                          float(step["start"]), float(step["end"]), outcome))
    yield from sorted(case, key=lambda e: (e.start, e.end))


def to_csv(results: Results) -> str:
    """The log as CSV text (``COLUMNS``, one row per step, ``\\n`` line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for event in events(results):
        writer.writerow([event.case_id, event.activity, event.resource, timestamp(event.start),
                         timestamp(event.end), event.outcome])
    return buffer.getvalue()


_XES_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xes.features="" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
  <extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
  <global scope="trace">
    <string key="concept:name" value="__INVALID__"/>
  </global>
  <global scope="event">
    <string key="concept:name" value="__INVALID__"/>
    <string key="org:resource" value="__INVALID__"/>
    <date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>
    <string key="lifecycle:transition" value="complete"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
  <classifier name="Activity and lifecycle" keys="concept:name lifecycle:transition"/>
"""


def to_xes(results: Results) -> str:
    """The log as XES text: a ``start`` and a ``complete`` event per step, in time order per trace."""
    out = [_XES_HEAD, f"  <string key=\"concept:name\" value={quoteattr(results.plan.name)}/>\n"]
    trace: list[Event] = []

    def flush() -> None:
        if not trace:
            return
        out.append(f"  <trace>\n    <string key=\"concept:name\" value={quoteattr(trace[0].case_id)}/>\n")
        lines: list[tuple[float, int, int, str]] = []
        for number, event in enumerate(trace, start=1):
            for moment, transition in ((event.start, "start"), (event.end, "complete")):
                # at one moment: steps that end there, then steps that start there (a zero-length step
                # starts before it completes)
                rank = 1 if transition == "start" else (0 if event.start < moment else 2)
                extra = (f"      <string key=\"outcome\" value={quoteattr(event.outcome)}/>\n"
                         if transition == "complete" else "")
                lines.append((moment, rank, number, (
                    "    <event>\n"
                    f"      <string key=\"concept:name\" value={quoteattr(event.activity)}/>\n"
                    f"      <string key=\"concept:instance\" value=\"{number}\"/>\n"
                    f"      <string key=\"org:resource\" value={quoteattr(event.resource)}/>\n"
                    f"      <date key=\"time:timestamp\" value=\"{timestamp(moment).replace('Z', '+00:00')}\"/>\n"
                    f"      <string key=\"lifecycle:transition\" value=\"{transition}\"/>\n"
                    f"{extra}    </event>\n")))
        out.extend(line for _m, _r, _n, line in sorted(lines))
        out.append("  </trace>\n")

    for event in events(results):
        if trace and event.case_id != trace[0].case_id:
            flush()
            trace = []
        trace.append(event)
    flush()
    out.append("</log>\n")
    return "".join(out)


def log_format(path: str | os.PathLike[str]) -> str:
    """``.csv`` or ``.xes`` from the file name; anything else is an :class:`EventLogError`."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise EventLogError(f"event log `{path}`: name it `.csv` or `.xes` (the suffix picks the format)")
    return suffix


def write_event_log(results: Results, path: str | os.PathLike[str]) -> Path:
    """Write the simulated cases to ``path`` (``.csv`` or ``.xes``) atomically; the path written."""
    text = to_csv(results) if log_format(path) == ".csv" else to_xes(results)
    return atomic_write(path, text)
