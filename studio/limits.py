"""Limits on what the studio reads: untrusted files get bounded time and memory.

Every reader checks these before doing the work (a file's size before reading it all, a nesting
depth before descending, an alias's expanded size before copying it). Defaults are generous: the
largest real workflows are far below them. Override them for one process with environment
variables (``STUDIO_MAX_WORKFLOW_BYTES=64MB``) or for one command with ``studio CMD --limit
workflow_bytes=64MB``; in Python, ``with limits.override(workflow_bytes=64 << 20): ...``.

=====================  =========================  ==============================================
limit                  default                    what it bounds
=====================  =========================  ==============================================
``workflow_bytes``     16 MiB                     a workflow file (YAML or JSON)
``data_bytes``         64 MiB                     a case-data file (CSV or JSONL)
``bpmn_bytes``         16 MiB                     a BPMN file to import
``yaml_depth``         64                         nesting of mappings and lists in a workflow
``yaml_nodes``         1,000,000                  values in a workflow, aliases counted expanded
``data_depth``         32                         nesting of arrays and objects in a JSONL line
``field_chars``        1,000,000                  characters in one CSV cell or JSONL line value
``number_digits``      64                         digits in one number of case data
=====================  =========================  ==============================================
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from studio.errors import StudioError

__all__ = ["ENV", "LimitError", "Limits", "current", "describe", "how_to_raise", "override", "parse_assignment"]

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """The bounds every reader checks (see the module docstring for what each one bounds)."""

    workflow_bytes: int = 16 * MiB
    data_bytes: int = 64 * MiB
    bpmn_bytes: int = 16 * MiB
    yaml_depth: int = 64
    yaml_nodes: int = 1_000_000
    data_depth: int = 32
    field_chars: int = 1_000_000
    number_digits: int = 64


ENV: dict[str, str] = {f.name: f"STUDIO_MAX_{f.name.upper()}" for f in dataclasses.fields(Limits)}
_OVERRIDES: list[dict[str, int]] = []
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)
_FACTORS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class LimitError(StudioError, ValueError):
    """A limit setting (environment variable or ``--limit``) is not a valid value."""


def _number(name: str, text: str) -> int:
    match = _SIZE.match(text.replace(",", "").replace("_", ""))
    if match is None:
        raise LimitError(f"limit `{name}` must be a whole number (sizes may end in KB, MB or GB), got `{text}`")
    factor = _FACTORS[match.group(2)[0].lower()] if match.group(2) else 1
    value = int(float(match.group(1)) * factor)
    if value < 1:
        raise LimitError(f"limit `{name}` must be at least 1, got `{text}`")
    return value


def parse_assignment(text: str) -> tuple[str, int]:
    """``"workflow_bytes=64MB"`` -> ``("workflow_bytes", 67108864)``."""
    name, sep, value = text.partition("=")
    name = name.strip().lower().replace("-", "_")
    if not sep or name not in ENV:
        raise LimitError(f"`{text}` is not a limit; write NAME=VALUE with NAME one of {', '.join(sorted(ENV))}")
    return name, _number(name, value)


def current() -> Limits:
    """The limits in force: defaults, then environment variables, then :func:`override` blocks."""
    changes: dict[str, Any] = {}
    for name, variable in ENV.items():
        text = os.environ.get(variable)
        if text:
            changes[name] = _number(variable, text)
    for layer in _OVERRIDES:
        changes.update(layer)
    return dataclasses.replace(Limits(), **changes) if changes else Limits()


@contextlib.contextmanager
def override(**changes: int) -> Iterator[Limits]:
    """Raise (or lower) limits inside a ``with`` block: ``with override(data_bytes=1 << 30): ...``."""
    for name, value in changes.items():
        if name not in ENV:
            raise LimitError(f"`{name}` is not a limit; use one of {', '.join(sorted(ENV))}")
        if not isinstance(value, int) or value < 1:
            raise LimitError(f"limit `{name}` must be a whole number of at least 1, got {value!r}")
    layer = dict(changes)
    _OVERRIDES.append(layer)
    try:
        yield current()
    finally:
        for index in range(len(_OVERRIDES) - 1, -1, -1):
            if _OVERRIDES[index] is layer:
                del _OVERRIDES[index]
                break


def describe(name: str, value: int) -> str:
    """A limit's value as people read it (``16 MiB``, ``64``)."""
    if name.endswith("_bytes"):
        return f"{value / MiB:g} MiB" if value >= MiB else f"{value:,} bytes"
    return f"{value:,}"


def how_to_raise(name: str) -> str:
    """The hint every limit error ends with."""
    return f"if the input is trusted, raise the limit with `--limit {name}=...` or `{ENV[name]}`"
