"""Export targets and review tools: what leaves the studio for the control plane and other tools.

The public surface::

    control plane  to_controlplane, export_controlplane, dumps_definition, controlplane_schema,
                   ControlPlaneDefinition                                  (studio.export.controlplane)
    review         diff_workflows -> WorkflowDiff (changes and GovernanceFlag s)   (studio.export.diff)
    BPMN 2.0       to_bpmn, import_bpmn, read_bpmn -> BpmnImport, bpmn_census      (studio.export.bpmn)
    LangGraph      to_langgraph_module, langgraph_app_files (app.py, langgraph.json, README)
                                                                  (studio.export.langgraph_module)
    Serverless     to_serverless, export_serverless -> ServerlessExport (document, text, findings),
                   serverless_schema, validate_serverless                 (studio.export.serverless)
    Mermaid        to_mermaid                                              (studio.export.mermaid)
    one call       export_as(workflow, target) -> bytes: validates, then renders one target;
                   export_losses(workflow, target): what the target does not keep, as findings

The BPMN names load ``lxml`` and the LangGraph names LangGraph on first use, so ``import studio.export``
stays light.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from studio.errors import Finding
from studio.export.controlplane import (
    ControlPlaneDefinition,
    build_definition,
    check_exportable,
    controlplane_schema,
    dumps_definition,
    export_controlplane,
    to_controlplane,
)
from studio.export.diff import GovernanceFlag, WorkflowDiff, diff_workflows
from studio.export.mermaid import to_mermaid
from studio.export.serverless import (
    ServerlessExport,
    export_serverless,
    serverless_schema,
    to_serverless,
    validate_serverless,
)
from studio.fileio import placed
from studio.model import Workflow

if TYPE_CHECKING:  # pragma: no cover
    from studio.export.bpmn import BpmnImport, bpmn_census, import_bpmn, read_bpmn, to_bpmn
    from studio.export.langgraph_module import langgraph_app_files, to_langgraph_module

__all__ = [
    "TARGETS",
    "BpmnImport",
    "ControlPlaneDefinition",
    "GovernanceFlag",
    "ServerlessExport",
    "WorkflowDiff",
    "bpmn_census",
    "controlplane_schema",
    "diff_workflows",
    "dumps_definition",
    "export_as",
    "export_controlplane",
    "export_losses",
    "export_serverless",
    "import_bpmn",
    "langgraph_app_files",
    "read_bpmn",
    "serverless_schema",
    "to_bpmn",
    "to_controlplane",
    "to_langgraph_module",
    "to_mermaid",
    "to_serverless",
    "validate_serverless",
]

TARGETS: tuple[str, ...] = ("controlplane", "bpmn", "langgraph", "mermaid", "serverless")
_BPMN_NAMES = frozenset({"BpmnImport", "bpmn_census", "import_bpmn", "read_bpmn", "to_bpmn"})
_LANGGRAPH_NAMES = frozenset({"langgraph_app_files", "to_langgraph_module"})


def __getattr__(name: str) -> Any:
    if name in _LANGGRAPH_NAMES:  # loads LangGraph: only when the application export is asked for
        from studio.export import langgraph_module  # noqa: PLC0415

        return getattr(langgraph_module, name)
    if name in _BPMN_NAMES:
        try:
            from studio.export import bpmn  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - lxml is part of the `export` extra
            raise ImportError("BPMN import and export need lxml: pip install 'workflow-design-studio[export]'") from exc
        return getattr(bpmn, name)
    raise AttributeError(f"module 'studio.export' has no attribute {name!r}")


def export_losses(workflow: Workflow, target: str) -> list[Finding]:
    """What ``target`` writes but does not keep or enforce, as findings (the export still happens):
    BPMN ``B102``-``B107``, Serverless Workflow ``W103``-``W110``, the LangGraph application
    ``R101``-``R106``; none for the control plane (it carries batches too) and Mermaid. With file, line
    and column when the workflow came from a file."""
    found: Sequence[Finding] = ()
    if target == "bpmn":
        from studio.export.bpmn import bpmn_findings  # noqa: PLC0415

        found = bpmn_findings(workflow)
    elif target == "serverless":
        from studio.export.serverless import serverless_findings  # noqa: PLC0415

        found = serverless_findings(workflow)
    elif target == "langgraph":
        from studio.export.langgraph_module import langgraph_findings  # noqa: PLC0415

        found = langgraph_findings(workflow)
    return placed(workflow, found)


def export_as(  # noqa: PLR0913 - the one export call's options, passed on to the targets
    workflow: Workflow,
    target: str,
    *,
    fmt: str = "json",
    evidence_dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
    min_gold_pass: float | None = None,
    losses: list[Finding] | None = None,
) -> bytes:
    """Validate ``workflow`` and render it for ``target`` (one of :data:`TARGETS`).

    Raises :class:`~studio.errors.WorkflowInvalid` when the workflow has error findings (or
    warnings with ``strict``): nothing unvalidated leaves the studio. ``fmt`` (``json`` or
    ``yaml``), ``evidence_dir`` and ``min_gold_pass`` (the gold gate the evidence was checked
    against, default 1.0) apply to the control-plane definition. ``serverless`` is a
    Serverless Workflow 1.0 YAML document; it also refuses what it cannot express (``W101``,
    ``W102``) and, with ``strict``, what it would keep only as metadata (``W103``, ``W104``).
    With a ``losses`` list, what the target writes but does not keep (:func:`export_losses`, found
    while rendering, not again) is appended to it.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown export target `{target}`; choose one of: {', '.join(TARGETS)}")
    if (evidence_dir is not None or min_gold_pass is not None) and target != "controlplane":
        raise ValueError("evidence (simulation results) is attached to the control-plane definition only")
    findings = check_exportable(workflow, strict=strict)
    found: list[Finding] = []
    if target == "controlplane":
        definition = build_definition(workflow, findings, strict=strict, evidence_dir=evidence_dir,
                                      min_gold_pass=min_gold_pass)
        data = dumps_definition(definition, fmt).encode("utf-8")
    elif target == "bpmn":
        from studio.export.bpmn import to_bpmn  # noqa: PLC0415

        data = to_bpmn(workflow, findings=found)
    elif target == "langgraph":
        from studio.export.langgraph_module import langgraph_findings, to_langgraph_module  # noqa: PLC0415

        data = to_langgraph_module(workflow).encode("utf-8")
        found += langgraph_findings(workflow)
    elif target == "serverless":
        document = export_serverless(workflow, strict=strict, validated=True)
        data = document.text.encode("utf-8")
        found += document.findings
    else:
        data = to_mermaid(workflow).encode("utf-8")
    if losses is not None:
        losses += placed(workflow, found)
    return data
