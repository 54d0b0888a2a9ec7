"""What a replication starts from: the run's specification, case ids, arrival times and sample rows.

Both engines (:mod:`studio.simulate.engine`, LangGraph; :mod:`studio.simulate.kernel`, the Monte
Carlo kernel) read the same :class:`Spec`, so they see the same cases arriving at the same times.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from studio.errors import StudioError
from studio.fileio import to_data
from studio.model import ColumnArrivals, FixedArrivals, PoissonArrivals, Workflow
from studio.simulate.behaviour import Rng
from studio.simulate.clock import WorkCalendar, iso_to_seconds
from studio.simulate.store import FORMAT

__all__ = ["SimulationError", "Spec", "arrival_times", "case_ids"]

_ARRIVAL_STREAM = 1 << 40


class SimulationError(StudioError, ValueError):
    """A simulation cannot run as asked (bad arrival data, progress of another run, ...)."""


@dataclass
class Spec:
    """Everything a replication needs (picklable: sent to worker processes)."""

    workflow: Workflow
    rows: list[dict[str, Any]]
    case_ids: list[str]
    cases: int
    seed: int
    allow_llm: bool = False
    scenario: list[str] = field(default_factory=list)
    expanded: Workflow | None = None
    """The workflow with its subworkflows expanded, when it has any (so a resumed run notices a
    referenced file that changed)."""

    @classmethod
    def of(cls, model: Workflow, table: Any, compiled: Any, *, cases: int | None, seed: int | None,  # noqa: PLR0913 - a run's settings, by keyword
           allow_llm: bool, scenario: list[str]) -> Spec:
        """The spec of a run of ``model`` (``compiled`` from it) over ``table``'s rows: ``cases`` of them
        (default: ``simulation.cases``, else one per row, else 100), with the expanded workflow when it
        differs (a change to a referenced file changes the fingerprint)."""
        rows = [dict(row) for row in table.rows] if table is not None else []
        count = cases if cases is not None else model.simulation.cases or len(rows) or 100
        if count < 1:
            raise SimulationError("cases must be at least 1")
        return cls(workflow=model, rows=rows, case_ids=case_ids(rows, count), cases=count,
                   seed=seed if seed is not None else model.simulation.seed, allow_llm=allow_llm, scenario=scenario,
                   expanded=compiled.expanded if compiled.expanded is not compiled.workflow else None)

    def row(self, index: int) -> dict[str, Any]:
        return self.rows[index % len(self.rows)] if self.rows else {}

    def fingerprint(self) -> str:
        what: dict[str, Any] = {"format": FORMAT, "workflow": to_data(self.workflow), "rows": self.rows,
                                "cases": self.cases, "seed": self.seed, "scenario": self.scenario}
        if self.expanded is not None:
            what["expanded"] = to_data(self.expanded)
        text = json.dumps(what, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def case_ids(rows: Sequence[Mapping[str, Any]], cases: int) -> list[str]:
    """The id of every case: the row's ``case_id``/``id``, with ``~lap`` once the rows repeat."""
    ids = []
    for index in range(cases):
        row = rows[index % len(rows)] if rows else {}
        key = row.get("case_id", row.get("id"))
        base = str(key) if key is not None else str(index % len(rows) if rows else index)
        lap = index // len(rows) if rows else 0
        ids.append(base if lap == 0 else f"{base}~{lap}")
    return ids


def arrival_order(times: Sequence[float]) -> list[int]:
    """Case indices in the order they arrive (by time, then index): the order both engines start them."""
    return sorted(range(len(times)), key=lambda i: (times[i], i))


def arrival_times(spec: Spec, replication: int) -> list[float]:
    """Virtual arrival time of every case of a replication (from ``simulation.start`` when set; in an
    arrival calendar's working hours when it has one)."""
    simulation = spec.workflow.simulation
    arrivals = simulation.arrivals
    origin = iso_to_seconds(simulation.start) if simulation.start is not None else 0.0
    if isinstance(arrivals, FixedArrivals):
        return _fixed_times(arrivals, spec.cases, origin)
    if isinstance(arrivals, ColumnArrivals):
        return _column_times(spec, arrivals.column)
    return _poisson_times(arrivals, spec.cases, origin, Rng(spec.seed, replication, _ARRIVAL_STREAM))


def _fixed_times(arrivals: FixedArrivals, n: int, origin: float) -> list[float]:
    if arrivals.calendar is None:
        return [origin + i * arrivals.interval for i in range(n)]
    hours = WorkCalendar(arrivals.calendar)  # one every `interval` of working time
    now = hours.next_open(origin)
    times = []
    for _ in range(n):
        times.append(now)
        now = hours.next_open(hours.add_work(now, arrivals.interval))
    return times


def _column_times(spec: Spec, column: str) -> list[float]:
    times = []
    for index in range(spec.cases):
        value = spec.row(index).get(column)
        try:
            if isinstance(value, bool) or value is None:
                raise ValueError
            seconds = float(value) if isinstance(value, (int, float)) else iso_to_seconds(str(value))
            if not math.isfinite(seconds):
                raise ValueError
        except ValueError:
            raise SimulationError(
                f"case {spec.case_ids[index]}: arrival column `{column}` holds {value!r}, which is "
                "neither seconds nor an ISO time"
            ) from None
        times.append(seconds)
    return times


def _poisson_times(arrivals: PoissonArrivals, n: int, origin: float, rng: Rng) -> list[float]:
    rate = arrivals.rate
    if rate <= 0:
        return [origin] * n
    now = origin
    times = []
    if arrivals.calendar is None:
        for _ in range(n):
            now += -math.log1p(-rng.u()) / rate
            times.append(now)
        return times
    hours = WorkCalendar(arrivals.calendar)  # a Poisson process in working time, mapped onto the clock
    for _ in range(n):
        now = hours.add_work(now, -math.log1p(-rng.u()) / rate)
        times.append(now)
    return times
