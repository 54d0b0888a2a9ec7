"""Workflow Design Studio: map, simulate and export governed workflows of AI agents and people.

The public surface, by layer::

    model      Workflow (pydantic data, the single source of truth)
    io         load, loads, save, dumps, load_cases
    templates  list_templates, load_template
    validate   validate -> list[Finding]
    analysis   analyze -> Analysis (interaction network, hand-offs, loops, reach, reliability)
    render     to_dot, to_mermaid (SVG/PNG files: studio.render.render)
    errors     Finding, Severity, StudioError, LoadError, WorkflowInvalid, GraphvizMissing
    export     to_controlplane, diff_workflows (BPMN, LangGraph, Mermaid: studio.export)
    simulate   Walkthrough, Results (compile, simulate, compare: studio.simulate)

Every name loads its module on first use (PEP 562), so ``import studio`` and ``import studio.model``
stay cheap: neither brings in Graphviz, networkx, ruamel or LangGraph until a name needs them.
"""

from __future__ import annotations

import importlib as _importlib
import sys as _sys
import types as _types
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from studio import _display
from studio._version import __version__ as __version__

if _TYPE_CHECKING:  # pragma: no cover
    from studio.analysis import analyze
    from studio.errors import Finding, GraphvizMissing, LoadError, Severity, StudioError, WorkflowInvalid
    from studio.export import diff_workflows, to_controlplane
    from studio.fileio import dumps, load, load_cases, loads, save
    from studio.model import Workflow
    from studio.render import to_dot, to_mermaid
    from studio.simulate import Results, Walkthrough
    from studio.templates import list_templates, load_template
    from studio.validate import validate

_WHERE = {
    "Finding": "studio.errors",
    "GraphvizMissing": "studio.errors",
    "LoadError": "studio.errors",
    "Results": "studio.simulate",
    "Severity": "studio.errors",
    "StudioError": "studio.errors",
    "Walkthrough": "studio.simulate",
    "Workflow": "studio.model",
    "WorkflowInvalid": "studio.errors",
    "analyze": "studio.analysis",
    "diff_workflows": "studio.export",
    "dumps": "studio.fileio",
    "list_templates": "studio.templates",
    "load": "studio.fileio",
    "load_cases": "studio.fileio",
    "load_template": "studio.templates",
    "loads": "studio.fileio",
    "save": "studio.fileio",
    "to_controlplane": "studio.export",
    "to_dot": "studio.render",
    "to_mermaid": "studio.render",
    "validate": "studio.validate",
}
"""Where each public name is defined; the module loads the first time the name is read."""


def __getattr__(name: str) -> _Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'studio' has no attribute {name!r}")
    value = getattr(_importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(_types.ModuleType):
    """The package module: ``studio.validate`` stays the function once the module of that name loads.

    Importing a submodule sets it as an attribute of its package; with eager imports the function
    ``validate`` used to be bound afterwards and win. Lazily, the submodule would win, so this drops
    that one assignment and the name keeps resolving through :func:`__getattr__`.
    """

    def __setattr__(self, name: str, value: _Any) -> None:
        if name in _WHERE and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def _draw(workflow: _Any) -> dict[str, _Any]:
    """A workflow's notebook display: the renderer's bundle (loaded on the first display)."""
    from studio.render import mimebundle  # noqa: PLC0415 - Graphviz loads on the first drawing, not on import

    return mimebundle(workflow)


_display.register(_draw)

__all__ = [
    "Finding",
    "GraphvizMissing",
    "LoadError",
    "Results",
    "Severity",
    "StudioError",
    "Walkthrough",
    "Workflow",
    "WorkflowInvalid",
    "analyze",
    "diff_workflows",
    "dumps",
    "list_templates",
    "load",
    "load_cases",
    "load_template",
    "loads",
    "save",
    "to_controlplane",
    "to_dot",
    "to_mermaid",
    "validate",
]
