"""Names shared by the BPMN exporter and importer."""

from __future__ import annotations

from typing import Final

BPMN_NS: Final = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS: Final = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS: Final = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS: Final = "http://www.omg.org/spec/DD/20100524/DI"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
STUDIO_NS: Final = "https://workflow-design-studio.dev/bpmn"
EXPORTER: Final = "Workflow Design Studio"
CONDITION_LANGUAGE: Final = "https://workflow-design-studio.dev/conditions"
"""The studio's own condition text (older exports; the text now travels in ``studio:route when``)."""
PYTHON_LANGUAGE: Final = "python"
"""Expressions SpiffWorkflow's ``PythonScriptEngine`` evaluates over the task data."""

NSMAP: Final[dict[str | None, str]] = {
    "bpmn": BPMN_NS,
    "bpmndi": BPMNDI_NS,
    "dc": DC_NS,
    "di": DI_NS,
    "xsi": XSI_NS,
    "studio": STUDIO_NS,
}

TASK_TAGS: Final = frozenset(
    {"task", "userTask", "serviceTask", "manualTask", "scriptTask", "sendTask", "receiveTask", "businessRuleTask"}
)
HUMAN_TASK_TAGS: Final = frozenset({"userTask", "manualTask"})
SUBPROCESS_TAGS: Final = frozenset({"subProcess", "transaction", "adHocSubProcess"})
GATEWAY_TAGS: Final = frozenset(
    {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
)
EVENT_TAGS: Final = frozenset(
    {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
)


def bpmn(tag: str) -> str:
    """Clark notation of a BPMN model element: ``{namespace}tag``."""
    return f"{{{BPMN_NS}}}{tag}"
