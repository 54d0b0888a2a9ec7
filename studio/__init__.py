"""Workflow Design Studio: map, simulate and export governed workflows of AI agents and people.

The public surface, by layer::

    model      Workflow (pydantic data, the single source of truth)
    io         load, loads, save, dumps, load_cases
    templates  list_templates, load_template
    validate   validate -> list[Finding]
    graph      analyze -> Analysis (interaction network, hand-offs, loops, reach, reliability)
    render     to_dot, to_mermaid (SVG/PNG files: studio.render.render)
    errors     Finding, Severity, StudioError, LoadError, WorkflowInvalid, GraphvizMissing
    export     to_controlplane, diff_workflows (BPMN, LangGraph, Mermaid: studio.export)
    simulate   Walkthrough, Results (loaded on first use; compile, simulate, compare: studio.simulate)
"""

from __future__ import annotations

from studio.analysis import analyze
from studio.errors import Finding, GraphvizMissing, LoadError, Severity, StudioError, WorkflowInvalid
from studio.export import diff_workflows, to_controlplane
from studio.io import dumps, load, load_cases, loads, save
from studio.model import Workflow
from studio.render import to_dot, to_mermaid
from studio.templates import list_templates, load_template
from studio.validate import validate

__version__ = "0.1.0"

_LAZY = {"Results": "studio.simulate.results", "Walkthrough": "studio.simulate.walkthrough"}


def __getattr__(name: str) -> object:
    """Simulation names import LangGraph, so they load on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'studio' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value

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
