"""Findings and the studio's exceptions.

A :class:`Finding` is a frozen value: a stable ``code``, a ``severity``, a ``location`` path such as
``nodes[3].actor`` (plus file, line and column where known), a ``message`` and a ``hint``. The
validator returns findings and never raises for a bad workflow; the exceptions below carry
findings when an operation has to refuse.

Exception tree: every exception the studio raises on purpose (each is also a built-in, so
``except ValueError`` works; ``tests/test_quality.py`` keeps this list complete)::

    StudioError                         base of everything the studio raises on purpose
    ├── LoadError (ValueError)          a file cannot be read, parsed or does not fit the model
    ├── WorkflowInvalid (ValueError)    an operation refused a workflow with error findings
    ├── GraphvizMissing (RuntimeError)  SVG/PNG asked for but the `dot` binary is not installed
    ├── LimitError (ValueError)         studio.limits: a limit setting (STUDIO_MAX_*, --limit) is not valid
    ├── ExpressionError (ValueError)    studio.expr: a condition is not in the safe language
    │   └── EvaluationError             studio.expr: a condition failed on a case's data
    ├── ScenarioError (ValueError)      studio.simulate.scenarios: a what-if override names no place or does not fit
    ├── SimulationError (ValueError)    studio.simulate.inputs: a simulation cannot run as asked
    │   └── EngineMismatch              studio.simulate.runner: kernel and LangGraph disagree on a verified case
    ├── LLMError (ValueError)           studio.simulate.llm: an agent's `llm:` factory cannot be imported or called
    ├── EventLogError (ValueError)      studio.simulate.eventlog: an event log cannot be written as asked
    ├── OutputError (ValueError)        studio.simulate._cli: `studio simulate --out` names an unusable place
    ├── CalibrationError (ValueError)   studio.calibrate: an event log cannot be calibrated from
    ├── MinutesError (ValueError)       studio.minutes: workshop minutes cannot be written as asked
    ├── EditRefused (ValueError)        studio.widgets.controller: a studio edit was refused (nothing changed)
    └── UsageError                      studio.cli: bad command-line arguments (exit 2)

``LoadError`` and ``WorkflowInvalid`` carry ``findings`` (a private base, ``_WithFindings``, formats them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

DOCS_URL = "docs/codes.md"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=False)
class Finding:
    """One problem (or note) about a workflow, with where it is and how to fix it."""

    code: str
    severity: Severity
    location: str
    message: str
    hint: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    data: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def docs(self) -> str:
        return f"{DOCS_URL}#{self.code.lower()}"

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.file or "",
            self.line if self.line is not None else 1 << 30,
            self.column or 0,
            self.severity.rank,
            self.code,
            _natural(self.location),
            self.message,
        )

    def format(self) -> str:
        """``FILE:LINE:COL CODE severity message (hint)``: one line, as the CLI prints it."""
        place = self.file or "<workflow>"
        if self.line is not None:
            place += f":{self.line}:{self.column or 1}"
        text = f"{place} {self.code} {self.severity} {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["severity"] = self.severity.value
        out.pop("data")
        return out


def _natural(location: str) -> tuple[tuple[int, int | str], ...]:
    """``nodes[7]`` before ``nodes[10]``: numbers in a location compare as numbers."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", location) if part)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Sorted by place, then severity, then code; duplicates removed."""
    return sorted(set(findings), key=Finding.sort_key)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.is_error for f in findings)


class StudioError(Exception):
    """Base of the exceptions the studio raises on purpose."""


class _WithFindings(StudioError):
    def __init__(self, findings: Sequence[Finding], summary: str | None = None) -> None:
        self.findings: list[Finding] = sort_findings(findings)
        errors = [f for f in self.findings if f.is_error]
        shown = errors or self.findings
        head = summary or f"{len(errors)} error(s) found"
        lines = [head] + [f"  {f.format()}" for f in shown[:20]]
        if len(shown) > 20:
            lines.append(f"  ... and {len(shown) - 20} more")
        super().__init__("\n".join(lines))


class LoadError(_WithFindings, ValueError):
    """A workflow or data file cannot be read, parsed, or does not fit the model."""


class WorkflowInvalid(_WithFindings, ValueError):
    """An operation (compile, export) refused a workflow that has error findings."""


GRAPHVIZ_HINT = (
    "Graphviz's `dot` program is not installed, so SVG and PNG diagrams cannot be drawn; install it "
    "(`apt-get install graphviz`, `conda install graphviz` or `brew install graphviz`) and try again "
    "(`.dot` and `.mmd` output still work without it)"
)


class GraphvizMissing(StudioError, RuntimeError):
    """A diagram format needs Graphviz's ``dot`` binary and it is not installed."""

    def __init__(self, message: str = GRAPHVIZ_HINT) -> None:
        super().__init__(message)
