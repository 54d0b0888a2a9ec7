"""BPMN 2.0 import: a process map from Camunda Modeler, bpmn.io, Signavio... becomes a workflow.

``read_bpmn(path_or_bytes)`` parses the XML with lxml (no network, no entities, no DTDs: nothing
is fetched or executed) and returns a :class:`BpmnImport`: the workflow, the findings that say
what was approximated or dropped, a census of the file's elements and the fate of every element.
It never crashes on a BPMN file: what the studio cannot represent becomes a finding. A file that
is not BPMN XML at all raises :class:`~studio.errors.LoadError` (code ``B000``).

Mapping (one process is imported: the one named by ``process``, else the largest that is not only
called by another):

* tasks of every type -> ``task`` (``userTask``/``manualTask`` are human work); a studio export's
  ``studio:node kind="approval"`` -> ``approval``;
* lanes -> actors: ``human`` when the lane holds user or manual tasks, else an ``agent``
  placeholder whose description asks the analyst to complete capability and version;
* exclusive gateways -> ``decision`` (``default`` kept); parallel -> ``parallel``/``join``;
  inclusive -> ``parallel``/``join`` (approximation, ``B002``); event-based and complex gateways ->
  ``decision`` (``B011``);
* conditions: ``conditionExpression`` text in the studio's safe language, or in a dialect it
  translates (:func:`translate_condition`: JUEL ``${...}``, XPath ``bpmn:getDataObject('x')``, simple
  FEEL) -> ``when`` (``B014`` says what was translated); other text stays as the edge label (``B003``);
* branch probabilities -> ``probability`` (``B015``): a number as the condition (Simod/Prosimos), a
  flow property (Camunda, Zeebe, Signavio; ``30%`` allowed), BPSim ``Probability`` parameters, BIMP
  ``qbp:sequenceFlow executionProbability``, or a Prosimos parameter JSON (``simulation=``); a branch
  at 0, or the one branch without a probability, becomes the default taking the remainder;
* sub-processes and call activities of processes in the same file are inlined (``B004``); other
  call activities -> ``subworkflow`` with ``ref``;
* timer catch events -> ``wait`` (the exact timer of a studio export, else the ``timeDuration``;
  a ``timeDate`` or ``timeCycle`` is reported, ``B005``); other intermediate events -> tasks
  (``B005``; link events are joined instead);
* conditional or multiple flows leaving an activity get an explicit decision or fork (``B009``);
* a studio export's execution helpers (``studio:helper``: merging and threshold gateways, splits,
  auto-approval script tasks, SLA timers and escalation tasks) are folded back into the node they
  serve, and its conditions are read from ``studio:route when`` (the ``conditionExpression`` is
  their Python for the engine), so the workflow comes back unchanged.

Finding codes (severity warning or info; location is the BPMN element id):

====  ==================================================================================
B000  not a readable BPMN 2.0 document (error, raised as LoadError)
B001  element not supported and dropped (boundary events, data objects, artifacts, ...)
B002  inclusive gateway approximated as a parallel fork or join
B003  condition not in the safe language (or empty): kept as the edge label
B004  sub-process or call activity inlined, or imported as a subworkflow reference
B005  intermediate event approximated as a task, link events joined, or a timer read as a wait
B006  pool, process or message flow not imported (a workflow is one process)
B007  actor created from a lane (or for work outside lanes): complete it
B008  extra start event dropped (a workflow has exactly one start)
B009  implicit gateway made explicit
B010  loop or multi-instance marker dropped (the activity runs once)
B011  event-based or complex gateway approximated as a decision
B012  sequence flow to or from an unknown element dropped
B013  event trigger or task type not represented (timer start, script task, ...)
B014  condition translated from another dialect (JUEL, XPath, FEEL) into the condition language
B015  branch probability read from a tool's data, adjusted to the studio's rule, or not usable
B016  a simulation parameter (Prosimos JSON) approximated, not carried, or unknown
====  ==================================================================================
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import TypeAdapter, ValidationError

from studio import limits
from studio._names import slug, unique
from studio.errors import Finding, LoadError, Severity
from studio.export._bpmn_common import (
    BPMN_NS,
    EXPORTER,
    GATEWAY_TAGS,
    HUMAN_TASK_TAGS,
    STUDIO_NS,
    SUBPROCESS_TAGS,
    TASK_TAGS,
    bpmn,
)
from studio.expr import check
from studio.fileio import read_limited_bytes
from studio.model import Node, Workflow, format_duration

__all__ = ["CENSUS_KEYS", "BpmnImport", "bpmn_census", "import_bpmn", "read_bpmn"]

CENSUS_KEYS: tuple[str, ...] = (
    "tasks", "exclusive_gateways", "parallel_gateways", "inclusive_gateways", "sub_processes",
    "boundary_events", "lanes", "sequence_flows",
)
_GLOBAL_TASKS = frozenset({"globalTask", "globalUserTask", "globalManualTask", "globalScriptTask",
                           "globalBusinessRuleTask"})
_IGNORED = frozenset({"documentation", "extensionElements", "auditing", "monitoring", "property", "laneSet",
                      "sequenceFlow", "ioSpecification", "ioBinding", "supports", "correlationSubscription",
                      "resourceRole", "performer", "humanPerformer", "potentialOwner", "incoming", "outgoing",
                      "standardLoopCharacteristics", "multiInstanceLoopCharacteristics", "dataInputAssociation",
                      "dataOutputAssociation", "completionCondition", "rendering"})
_ARTIFACTS = frozenset({"textAnnotation", "association", "group", "dataObject", "dataObjectReference",
                        "dataStoreReference", "dataInput", "dataOutput"})
_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_WRAPPED = re.compile(r"^\s*[$#]\{(.*)\}\s*$", re.DOTALL)
_NODE_ADAPTER: TypeAdapter[Any] = TypeAdapter(Node)


# --------------------------------------------------------------------------- condition dialects

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<dataobject>(?:bpmn:)?getDataObject\s*\(\s*(?P<q>["'])(?P<object>[A-Za-z_][A-Za-z0-9_.]*)(?P=q)\s*\))
  | (?P<getvariable>execution\s*\.\s*getVariable\s*\(\s*(?P<q2>["'])(?P<variable>[A-Za-z_][A-Za-z0-9_]*)(?P=q2)\s*\))
  | (?P<xbool>(?:true|false)\s*\(\s*\))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>===|!==|==|!=|<=|>=|&&|\|\||[<>=!+\-*/%(),\[\]])
""", re.VERBOSE)
_JUEL_WORDS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "div": "/", "mod": "%"}
_OPS = {"&&": "and", "||": "or", "=": "==", "===": "==", "!==": "!=", "!": "not"}
_NUMBER_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*$")
_EMPTY_ARGUMENT = "<the operand of JUEL's empty>"


def _dialect(text: str, language: str | None) -> str:
    lang = (language or "").lower()
    if _WRAPPED.match(text) or "juel" in lang:
        return "JUEL"
    if "getdataobject" in text.lower() or "xpath" in lang:
        return "XPath"
    if "feel" in lang or text.lstrip().startswith("="):
        return "FEEL"
    return "expression"


def translate_condition(text: str, language: str | None = None) -> tuple[str | None, str]:  # noqa: C901, PLR0912 - a branch per condition language and its fallbacks
    """A BPMN condition in the studio's condition language, and the dialect it was read as.

    Reads JUEL (``${amount > 1000}``, ``${!approved}``, ``${a && b}``, ``eq``/``lt``..., ``empty x``,
    ``execution.getVariable('x')``), XPath (``bpmn:getDataObject('approved')``, ``=``, ``not(...)``,
    ``true()``) and simple FEEL (``amount > 1000``, ``status = "open"``, ``not(approved)``, a leading
    ``=``). The result is checked by the studio's own parser; ``None`` when the text is something else
    (a method call, a script, a FEEL range...): the caller keeps it as a label and reports it.
    Nothing is ever evaluated.
    """
    dialect = _dialect(text, language)
    body = text.strip()
    wrapped = _WRAPPED.match(body)
    if wrapped is not None:
        body = wrapped.group(1).strip()
    if dialect == "FEEL" and body.startswith("=") and not body.startswith("=="):
        body = body[1:].strip()
    if check(body) is None and "=" not in re.sub(r"[=!<>]=", "", body):
        return body, dialect  # already the studio's language (Python-like)
    out: list[str] = []
    position = 0
    while position < len(body):
        match = _TOKEN.match(body, position)
        if match is None:
            return None, dialect
        position = match.end()
        kind = match.lastgroup
        token = match.group(0)
        if match.group("dataobject") is not None:
            out.append(match.group("object"))
        elif match.group("getvariable") is not None:
            out.append(match.group("variable"))
        elif match.group("xbool") is not None:
            out.append(token.split("(")[0].strip())
        elif kind == "space":
            continue
        elif kind == "name":
            name = re.sub(r"\s+", "", token)
            if name in _JUEL_WORDS and (dialect == "JUEL" or (dialect == "XPath" and name in ("div", "mod"))):
                out.append(_JUEL_WORDS[name])
            elif dialect == "JUEL" and name == "empty":
                out.append("is_empty")
                out.append(_EMPTY_ARGUMENT)
            else:
                out.append(name)
        elif kind == "op":
            if (dialect, match.group("op")) in (("JUEL", "="), ("XPath", "/")):
                return None, dialect  # assignment in EL; a path step in XPath (`getDataObject('o')/amount`)
            out.append(_OPS.get(token, token))
        else:
            out.append(token)
    result = _join(out)
    if result is None or check(result) is not None:
        return None, dialect
    return result, dialect


def _probability_value(raw: str) -> float | None:
    """``0.2``, ``20%`` -> 0.2; None for anything that is not a probability."""
    text = raw.strip()
    scale = 1.0
    if text.endswith("%"):
        text, scale = text[:-1].strip(), 0.01
    try:
        value = float(text) * scale
    except ValueError:
        return None
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


_PROPERTY_KEYS = frozenset({"probability", "branchprobability", "executionprobability", "routingprobability"})


def _flow_extension_probability(flow: Any) -> tuple[str, str] | None:
    """A probability in the flow's own extension elements: Camunda/Zeebe ``property name="probability"``,
    Signavio ``signavioMetaData metaKey="probability"``, or an ``executionProbability``/``probability``
    attribute on an extension element."""
    ext = flow.find(bpmn("extensionElements"))
    if ext is None:
        return None
    for element in ext.iter():
        if not isinstance(element.tag, str):
            continue
        tag = _local(element)
        key = (element.get("name") or element.get("metaKey") or element.get("key") or "").lower()
        if key in _PROPERTY_KEYS:
            value = element.get("value") or element.get("metaValue") or (element.text or "").strip()
            if value:
                return value, f"the `{tag}` extension `{key}`"
        for attribute in ("executionProbability", "probability"):
            if element.get(attribute) is not None and tag != "route":
                return element.get(attribute) or "", f"the `{tag}` extension"
    return None


def _document_probabilities(root: Any) -> dict[str, tuple[str, str]]:
    """Flow id -> probability kept apart from the flows: BPSim ``ElementParameters`` (``Probability``
    control parameter, written by Bizagi, Signavio...) and BIMP/QBP ``sequenceFlow executionProbability``
    (Apromore's simulator)."""
    found: dict[str, tuple[str, str]] = {}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = _local(element)
        if tag == "ElementParameters" and element.get("elementRef"):
            for item in element.iter():
                if isinstance(item.tag, str) and _local(item) == "Probability":
                    values = [v for v in item.iter() if isinstance(v.tag, str) and v.get("value") is not None]
                    if values:
                        found[element.get("elementRef")] = (values[0].get("value") or "", "BPSim parameters")
        elif tag == "sequenceFlow" and not _is_bpmn(element) and element.get("elementId") \
                and element.get("executionProbability") is not None:
            found[element.get("elementId")] = (element.get("executionProbability") or "", "BIMP simulation info")
    return found


def _load_parameters(source: str | os.PathLike[str] | dict[str, Any]) -> tuple[Any, str | None]:
    """A Prosimos simulation-parameter JSON (a path, read once within the size limit, or already parsed)
    and the file it came from; not JSON raises :class:`LoadError` naming the file."""
    if isinstance(source, dict):
        return source, None
    file = str(source)
    try:
        return json.loads(read_limited_bytes(source, "bpmn_bytes", "simulation parameters").decode("utf-8")), file
    except (UnicodeDecodeError, ValueError) as exc:
        raise LoadError([Finding("B000", Severity.ERROR, "", f"the simulation parameters are not JSON: {exc}",
                                 "pass the Prosimos parameter file (JSON) the model was simulated with", file)],
                        summary=f"{file}: not JSON") from None


def simulation_probabilities(data: Any, file: str | None) -> dict[str, tuple[str, str]]:
    """Flow id -> probability from Prosimos simulation parameters (``gateway_branching_probabilities``:
    ``[{gateway_id, probabilities: [{path_id, value}]}]``). Bad input raises :class:`LoadError` naming the
    file and the place."""

    def bad(where: str, what: str) -> LoadError:
        return LoadError([Finding("B000", Severity.ERROR, where, f"simulation parameters: `{where}` {what}",
                                  "write it as Prosimos does: `gateway_branching_probabilities: [{gateway_id, "
                                  "probabilities: [{path_id, value}]}]`", file)], summary=f"{file or 'input'}: bad "
                                                                                           "simulation parameters")

    if not isinstance(data, dict):
        raise bad("(top level)", "is not a JSON object")
    gateways = data.get("gateway_branching_probabilities", [])
    if not isinstance(gateways, list):
        raise bad("gateway_branching_probabilities", "is not a list")
    found: dict[str, tuple[str, str]] = {}
    for g_index, gateway in enumerate(gateways):
        where = f"gateway_branching_probabilities[{g_index}]"
        paths = gateway.get("probabilities") if isinstance(gateway, dict) else None
        if not isinstance(paths, list):
            raise bad(where, "has no list of `probabilities`")
        for p_index, path in enumerate(paths):
            if not isinstance(path, dict) or not isinstance(path.get("path_id"), str) or "value" not in path:
                raise bad(f"{where}.probabilities[{p_index}]", "needs a `path_id` and a `value`")
            found[path["path_id"]] = (str(path["value"]), "the simulation parameters")
    return found


def _join(tokens: list[str]) -> str | None:
    """Tokens back to text; JUEL's ``empty x`` becomes ``is_empty(x)``."""
    parts: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token is _EMPTY_ARGUMENT:
            if index + 1 >= len(tokens):
                return None
            parts.append(f"({tokens[index + 1]})")
            index += 2
            continue
        parts.append(token)
        index += 1
    text = ""
    for part in parts:
        tight = not text or part in (")", "]", ",") or text.endswith(("(", "["))
        glue = "" if tight or (part.startswith("(") and text.endswith("is_empty")) else " "
        text += glue + part
    return text


@dataclass(frozen=True)
class BpmnImport:
    """What an import produced: the workflow, its findings, the file's census and every element's fate."""

    workflow: Workflow
    findings: list[Finding]
    census: dict[str, int]
    fate: dict[str, str]
    process_id: str


# --------------------------------------------------------------------------- reading XML


def _local(element: Any) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _is_bpmn(element: Any) -> bool:
    return isinstance(element.tag, str) and element.tag.startswith(f"{{{BPMN_NS}}}")


def _outside_ref(called: str) -> bool:
    """Whether a calledElement reads as a file path leaving the workflow's folder."""
    text = called.strip().replace("\\", "/")
    return text.startswith(("/", "~")) or ".." in text.split("/") or bool(re.match(r"^[A-Za-z]:", text))


def _parse(source: str | os.PathLike[str] | bytes) -> tuple[Any, str | None]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             remove_comments=True, remove_pis=True, huge_tree=False)
    file: str | None = None
    try:
        if isinstance(source, bytes):
            maximum = limits.current().bpmn_bytes
            if len(source) > maximum:
                raise LoadError([Finding("L005", Severity.ERROR, "", f"the BPMN document is {len(source):,} bytes, "
                                         f"over the limit of {limits.describe('bpmn_bytes', maximum)}",
                                         limits.how_to_raise("bpmn_bytes"))], summary="input: too large")
            root = etree.fromstring(source, parser)
        else:
            file = str(source)
            data = read_limited_bytes(source, "bpmn_bytes", "BPMN file")  # bounded: /dev/zero stops at the limit
            root = etree.fromstring(data, parser)
    except LoadError:  # over a size limit, missing or unreadable: already says where and how to fix it
        raise
    except (OSError, etree.XMLSyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        hint = "export the diagram again as BPMN 2.0 XML"
        if "entity" in str(exc).lower():
            hint = "the file declares external entities, which the studio never resolves; remove its DOCTYPE"
        raise LoadError([Finding("B000", Severity.ERROR, "", f"not readable XML: {exc}", hint, file, line)],
                        summary=f"{file or 'input'}: not BPMN XML") from None
    if root is None or root.tag != bpmn("definitions"):
        found = root.tag if root is not None else "nothing"
        raise LoadError([Finding("B000", Severity.ERROR, "", f"not a BPMN 2.0 document: the root element is `{found}`",
                                 "a BPMN file starts with <definitions xmlns=\"" + BPMN_NS + "\">", file, 1)],
                        summary=f"{file or 'input'}: not BPMN 2.0")
    return root, file


def bpmn_census(source: str | os.PathLike[str] | bytes | Any) -> dict[str, int]:
    """Counts of the file's elements (every process, nested ones included) by kind."""
    root = source if hasattr(source, "iter") else _parse(source)[0]
    counts = dict.fromkeys(CENSUS_KEYS, 0)
    keys = {"exclusiveGateway": "exclusive_gateways", "parallelGateway": "parallel_gateways",
            "inclusiveGateway": "inclusive_gateways", "boundaryEvent": "boundary_events", "lane": "lanes",
            "sequenceFlow": "sequence_flows"}
    for element in root.iter():
        if not _is_bpmn(element):
            continue
        tag = _local(element)
        if tag in TASK_TAGS:
            counts["tasks"] += 1
        elif tag in SUBPROCESS_TAGS:
            counts["sub_processes"] += 1
        elif tag in keys:
            counts[keys[tag]] += 1
    return counts


# --------------------------------------------------------------------------- the intermediate graph


@dataclass
class _ImportedNode:
    """A BPMN flow element on its way to becoming a workflow node."""

    key: str
    kind: str  # start end task approval decision parallel join subworkflow wait pass
    element: Any
    name: str | None = None
    description: str | None = None
    lane: str | None = None
    human: bool = False
    ext: dict[str, str] = field(default_factory=dict)
    tools: list[tuple[str, str | None]] = field(default_factory=list)
    ref: str | None = None
    gateway: str | None = None  # BPMN tag of gateways (parallel/inclusive need their degree later)
    link: str | None = None  # link event name; "throw:" or "catch:" prefix
    bpmn_id: str | None = None
    timer: dict[str, Any] = field(default_factory=dict)  # a wait's `delay` or `until`


@dataclass
class _ImportedEdge:
    """A BPMN sequence flow on its way to becoming a workflow edge."""

    source: str
    target: str
    when: str | None = None
    label: str | None = None
    default: bool = False
    conditional: bool = False  # had a condition, even one that did not parse
    max_repeats: int | None = None
    probability: float | None = None
    origins: tuple[str, ...] = ()


TIMER_PARTS = ("timeDate", "timeDuration", "timeCycle")
_ISO_DURATION = re.compile(
    r"^P(?:(?P<Y>\d+(?:\.\d+)?)Y)?(?:(?P<MO>\d+(?:\.\d+)?)M)?(?:(?P<W>\d+(?:\.\d+)?)W)?(?:(?P<D>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<H>\d+(?:\.\d+)?)H)?(?:(?P<MI>\d+(?:\.\d+)?)M)?(?:(?P<S>\d+(?:\.\d+)?)S)?)?$")
_ISO_SECONDS = {"Y": 365 * 86400.0, "MO": 30 * 86400.0, "W": 7 * 86400.0, "D": 86400.0, "H": 3600.0, "MI": 60.0,
                "S": 1.0}


def _iso_seconds(text: str) -> float | None:
    """Seconds of an ISO-8601 duration (``PT2H``, ``P1DT30M``; a year 365 days, a month 30), also when
    written as a quoted string (a Python or FEEL expression); None when it is not one."""
    text = text.strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    match = _ISO_DURATION.match(text.upper())
    if match is None or text.upper() in ("P", "PT") or text.upper().endswith("T"):
        return None
    return sum(float(value) * _ISO_SECONDS[unit] for unit, value in match.groupdict().items() if value)


def _text(element: Any) -> str | None:
    if element is None:
        return None
    parts = [element.text or ""] + [(child.tail or "") for child in element]  # entities stay unresolved
    text = " ".join("".join(parts).split())
    return text or None


def _studio_ext(element: Any, tag: str) -> dict[str, str]:
    ext = element.find(bpmn("extensionElements"))
    if ext is None:
        return {}
    info = ext.find(f"{{{STUDIO_NS}}}{tag}")
    return {str(k): str(v) for k, v in info.attrib.items()} if info is not None else {}


def _chain(text: str) -> list[dict[str, str]]:
    """A studio export's escalation chain attribute (``leads@2h directors@1h``) as the model's levels."""
    levels = []
    for item in text.split():
        to, _, after = item.partition("@")
        levels.append({"to": to, "after": after})
    return levels


def _fold_studio_helpers(root: Any) -> dict[str, str]:  # noqa: C901, PLR0912 - matches each helper shape the exporter writes, in turn
    """Fold back what a studio export adds for execution (``studio:helper``); the fate of each folded id.

    Merging and threshold gateways hand their incoming flows to the node they stand in front of,
    a split hands its outgoing flows to the step before it, and timers, escalation tasks and
    auto-approvals go with their flows. The tree is changed in place (``read_bpmn`` parsed it).
    """
    fate: dict[str, str] = {}
    helpers: dict[str, tuple[str, str]] = {}
    for info in root.iter(f"{{{STUDIO_NS}}}helper"):
        element = info.getparent().getparent() if info.getparent() is not None else None
        if element is None or element.get("id") is None or info.get("of") is None:
            continue
        helpers[element.get("id")] = (info.get("of"), info.get("role") or "")
    if not helpers:
        return fate
    for flow in list(root.iter(bpmn("sequenceFlow"))):
        source, target = flow.get("sourceRef"), flow.get("targetRef")
        drop = False
        if target in helpers:
            of, role = helpers[target]
            if role in ("merge", "threshold") and source not in helpers:
                flow.set("targetRef", of)
            else:
                drop = True
        if source in helpers:
            of, role = helpers[source]
            if role == "split" and target not in helpers:
                flow.set("sourceRef", of)
            else:
                drop = True
        if drop:
            fate[flow.get("id") or ""] = "folded (studio execution helper)"
            flow.getparent().remove(flow)
    for element in list(root.iter()):
        if not isinstance(element.tag, str):
            continue
        ref = (element.text or "").strip() if element.tag in (bpmn("flowNodeRef"), bpmn("incoming"),
                                                              bpmn("outgoing")) else None
        if element.get("id") in helpers or element.get("bpmnElement") in helpers or ref in helpers \
                or (ref is not None and ref in fate):
            if element.get("id") in helpers:
                of, role = helpers[element.get("id")]
                fate[element.get("id")] = f"folded into `{of}` (studio {role} helper)"
            parent = element.getparent()
            if parent is not None:
                parent.remove(element)
    return fate


class _Importer:
    def __init__(self, root: Any, file: str | None, process: str | None, name: str | None,
                 simulation: dict[str, tuple[str, str]] | None = None) -> None:
        self.census = bpmn_census(root)
        self.studio = root.get("exporter") == EXPORTER
        self.fate: dict[str, str] = _fold_studio_helpers(root) if self.studio else {}
        self.root = root
        self.file = file
        self.wanted = process
        self.name = name
        self.findings: list[Finding] = []
        self.nodes: dict[str, _ImportedNode] = {}
        self.edges: list[_ImportedEdge] = []
        self.in_key: dict[str, str] = {}
        self.out_key: dict[str, str] = {}
        self.dropped: dict[str, str] = {}
        self.by_id: dict[str, Any] = {}
        for element in root.iter():
            if isinstance(element.tag, str) and element.get("id") is not None:
                self.by_id.setdefault(element.get("id"), element)
        self.processes = [p for p in root if p.tag == bpmn("process")]
        self.start_taken = False
        self.process: Any = None
        self.flow_probabilities: dict[str, tuple[str, str]] = {**_document_probabilities(root), **(simulation or {})}
        """Flow id -> (probability as written, where it was found): BPSim, BIMP/QBP, a Prosimos JSON."""

    # ---- findings

    def note(self, code: str, severity: Severity, element: Any, message: str, hint: str = "") -> None:
        location = element.get("id") or _local(element) if element is not None else ""
        line = element.sourceline if element is not None else None
        self.findings.append(Finding(code, severity, location or "", message, hint, self.file, line))

    def label(self, element: Any) -> str:
        name = element.get("name")
        shown = " ".join(name.split()) if name else None
        return f"{_local(element)} `{shown or element.get('id')}`"

    def drop_all(self, element: Any, reason: str) -> None:
        for child in element.iter():
            if isinstance(child.tag, str) and child.get("id") is not None:
                self.fate.setdefault(child.get("id"), reason)
                self.dropped.setdefault(child.get("id"), reason)

    # ---- choosing the process

    def choose(self) -> Any:
        if not self.processes:
            raise LoadError([Finding("B000", Severity.ERROR, "", "the BPMN file has no `process`",
                                     "export a process diagram (not only a collaboration or choreography)",
                                     self.file, 1)], summary=f"{self.file or 'input'}: no process")
        if self.wanted is not None:
            for process in self.processes:
                if self.wanted in (process.get("id"), process.get("name")):
                    return process
            known = ", ".join(f"`{p.get('id')}`" for p in self.processes)
            raise LoadError([Finding("B000", Severity.ERROR, "", f"no process `{self.wanted}` in the file",
                                     f"choose one of: {known}", self.file)], summary="process not found")
        called = {c.get("calledElement") for c in self.root.iter(bpmn("callActivity"))}
        candidates = [p for p in self.processes if p.get("id") not in called] or self.processes

        def size(process: Any) -> int:
            return sum(1 for e in process.iter() if _is_bpmn(e) and (_local(e) in TASK_TAGS | GATEWAY_TAGS
                                                                      or _local(e).endswith("Event")))

        return max(candidates, key=lambda p: (size(p), -self.processes.index(p)))

    # ---- lanes

    def lanes_of(self, process: Any) -> tuple[dict[str, str], list[Any]]:
        """Node id -> deepest lane id listing it, and the lanes in document order."""
        lane_of: dict[str, str] = {}
        lanes: list[Any] = []
        for lane_set in process.findall(bpmn("laneSet")):
            for lane in lane_set.iter(bpmn("lane")):
                lanes.append(lane)
                for ref in lane.findall(bpmn("flowNodeRef")):
                    if ref.text:
                        lane_of[ref.text.strip()] = lane.get("id")  # deeper lanes come later and win
        return lane_of, lanes

    # ---- containers

    def add(self, node: _ImportedNode) -> _ImportedNode:
        self.nodes[node.key] = node
        if node.bpmn_id is not None:
            self.fate.setdefault(node.bpmn_id, f"node `{node.key}`")
        return node

    def container(self, element: Any, scope: str, lane_of: dict[str, str], lane: str | None, *,  # noqa: PLR0913 - the walk's context
                  top: bool, stack: tuple[str, ...]) -> tuple[list[str], list[str]]:
        """Import the flow elements of a process or sub-process; returns (entry keys, exit keys).

        In steps: each flow element by kind, then link events joined, then the sequence flows; an
        inlined sub-process without explicit start or end events enters and leaves where no flow does.
        """
        entries: list[str] = []
        exits: list[str] = []
        links: dict[str, list[str]] = {}
        flows = [c for c in element if c.tag == bpmn("sequenceFlow")]
        for child in element:
            if not _is_bpmn(child):
                continue
            tag = _local(child)
            if tag in _IGNORED:
                self.ignored(child, tag)
                continue
            child_id = child.get("id") or ""
            key = f"{scope}{child_id}"
            child_lane = lane_of.get(child_id, lane)
            if tag == "startEvent":
                entries += self.start_event(child, key, child_lane, top=top)
            elif tag == "endEvent":
                exits.append(self.end_event(child, key, child_lane, top=top))
            else:
                self.inner_element(child, tag, key, child_lane, lane_of=lane_of, stack=stack, links=links)
        self.join_links(links)
        for flow in flows:
            self.flow(flow, scope)
        if not top:
            entries, exits = self.inlined_ends(element, scope, flows, entries, exits)
        return entries, exits

    def inner_element(self, child: Any, tag: str, key: str, lane: str | None, *,  # noqa: PLR0913 - the walk's context
                      lane_of: dict[str, str], stack: tuple[str, ...], links: dict[str, list[str]]) -> None:
        """A flow element other than a start or end event, by kind."""
        if tag in TASK_TAGS:
            self.task(child, key, lane)
        elif tag in GATEWAY_TAGS:
            self.gateway(child, key, lane)
        elif tag in SUBPROCESS_TAGS:
            self.subprocess(child, key, lane_of, lane, stack)
        elif tag == "callActivity":
            self.call(child, key, lane_of, lane, stack)
        elif tag in ("intermediateCatchEvent", "intermediateThrowEvent"):
            self.intermediate(child, key, lane, links)
        else:
            self.not_imported(child, tag)

    def ignored(self, child: Any, tag: str) -> None:
        """Elements with no place in a workflow; a process's data inputs and outputs are noted."""
        if tag == "ioSpecification" and any(_local(c) in ("dataInput", "dataOutput") for c in child):
            self.note("B001", Severity.INFO, child, "data inputs and outputs of the process are not "
                      "imported", "list the case fields the workflow reads in its conditions")
            self.drop_all(child, "dropped (data)")

    def start_event(self, child: Any, key: str, lane: str | None, *, top: bool) -> list[str]:
        """The workflow's one start (an extra one is dropped); inside a sub-process, a pass-through."""
        if top and not self.start_taken:
            self.start_taken = True
            node = self.add(self.basic(child, key, "start", lane))
            self.event_trigger(child)
            return [node.key]
        if top:
            self.note("B008", Severity.WARNING, child, f"{self.label(child)} is an extra start event and "
                      "was dropped; a workflow has exactly one start",
                      "route the alternative start through a decision after the start")
            self.drop(child, "dropped (extra start)")
            return []
        node = self.add(self.basic(child, key, "pass", lane))
        self.fate[child.get("id") or ""] = "merged (start of an inlined sub-process)"
        return [node.key]

    def end_event(self, child: Any, key: str, lane: str | None, *, top: bool) -> str:
        """An end of the workflow; inside a sub-process, a pass-through."""
        if top:
            node = self.add(self.basic(child, key, "end", lane))
            self.event_trigger(child)
        else:
            node = self.add(self.basic(child, key, "pass", lane))
            self.fate[child.get("id") or ""] = "merged (end of an inlined sub-process)"
        return node.key

    def not_imported(self, child: Any, tag: str) -> None:
        """Boundary events, artifacts and unsupported elements: dropped, each with a finding."""
        if tag == "boundaryEvent":
            host = self.by_id.get(child.get("attachedToRef") or "")
            kinds = ", ".join(sorted(_local(d).removesuffix("EventDefinition") for d in child
                                     if _local(d).endswith("EventDefinition"))) or "plain"
            self.note("B001", Severity.WARNING, child,
                      f"boundary event {self.label(child)} ({kinds}) on "
                      f"{self.label(host) if host is not None else 'an unknown activity'} was dropped with its "
                      "exception flow", "model the exception path with a decision after the activity")
            self.drop(child, "dropped (boundary event)")
        elif tag in _ARTIFACTS:
            self.note("B001", Severity.INFO, child, f"{self.label(child)} is not imported "
                      "(data objects, stores and annotations have no place in a workflow)",
                      "record data sources under `data_sources` and reads/writes on the steps")
            self.drop_all(child, "dropped (artifact)")
        else:
            self.note("B001", Severity.WARNING, child, f"{self.label(child)} is not supported and was dropped")
            self.drop_all(child, "dropped (unsupported)")

    def join_links(self, links: dict[str, list[str]]) -> None:
        """Link events: each throw jumps to the catch of the same name."""
        for name, keys in links.items():
            catches = [k for k in keys if self.nodes[k].link == f"catch:{name}"]
            for throw in (k for k in keys if self.nodes[k].link == f"throw:{name}"):
                for catch in catches:
                    self.edges.append(_ImportedEdge(throw, catch))

    def inlined_ends(self, element: Any, scope: str, flows: list[Any], entries: list[str],
                     exits: list[str]) -> tuple[list[str], list[str]]:
        """A sub-process without start or end events enters where no flow arrives, leaves where none leaves."""
        if not entries:
            targets = {f.get("targetRef") for f in flows}
            entries = [f"{scope}{c.get('id')}" for c in element if f"{scope}{c.get('id')}" in self.nodes
                       and c.get("id") not in targets and _local(c) != "boundaryEvent"]
        if not exits:
            sources = {f.get("sourceRef") for f in flows}
            exits = [f"{scope}{c.get('id')}" for c in element if f"{scope}{c.get('id')}" in self.nodes
                     and c.get("id") not in sources]
        return entries, exits

    def drop(self, element: Any, reason: str) -> None:
        self.drop_all(element, reason)

    def basic(self, element: Any, key: str, kind: str, lane: str | None) -> _ImportedNode:
        name = element.get("name")
        docs = [_text(d) for d in element.findall(bpmn("documentation"))]
        return _ImportedNode(key=key, kind=kind, element=element, name=" ".join(name.split()) if name else None,
                  description=" ".join(d for d in docs if d) or None, lane=lane,
                  ext=_studio_ext(element, "node"), bpmn_id=element.get("id"))

    def event_trigger(self, element: Any) -> None:
        triggers = sorted(_local(d).removesuffix("EventDefinition") for d in element
                          if _local(d).endswith("EventDefinition"))
        if triggers and triggers != ["none"]:
            self.note("B013", Severity.INFO, element, f"{self.label(element)} has a {', '.join(triggers)} trigger; "
                      "the trigger is not represented", "describe it in the node's description")

    def markers(self, element: Any) -> None:
        for marker in ("standardLoopCharacteristics", "multiInstanceLoopCharacteristics"):
            if element.find(bpmn(marker)) is not None:
                kind = "loop" if marker.startswith("standard") else "multi-instance"
                self.note("B010", Severity.INFO, element, f"{self.label(element)} has a {kind} marker; it is "
                          "imported as running once", "model repetition with a decision looping back")

    def task(self, element: Any, key: str, lane: str | None) -> None:
        tag = _local(element)
        node = self.basic(element, key, "task", lane)
        node.human = tag in HUMAN_TASK_TAGS or node.ext.get("actorKind") == "human"
        if node.ext.get("kind") == "approval":
            node.kind = "approval"
        ext = element.find(bpmn("extensionElements"))
        if ext is not None:
            node.tools = [(t.get("key"), t.get("tier")) for t in ext.findall(f"{{{STUDIO_NS}}}tool") if t.get("key")]
        if tag in ("scriptTask", "businessRuleTask", "sendTask", "receiveTask") and not self.studio:
            self.note("B013", Severity.INFO, element, f"{self.label(element)} becomes a plain task done by its "
                      "lane's actor", "give it to a `system` actor if a service does it")
        self.markers(element)
        self.add(node)

    def gateway(self, element: Any, key: str, lane: str | None) -> None:
        tag = _local(element)
        node = self.basic(element, key, "decision", lane)
        node.gateway = tag
        if tag in ("parallelGateway", "inclusiveGateway"):
            node.kind = "parallel"  # fork or join: decided from its flows
            if tag == "inclusiveGateway":
                self.note("B002", Severity.INFO, element, f"{self.label(element)} (inclusive: some branches run) "
                          "is approximated as a parallel fork or join (all branches run); conditions stay as labels",
                          "use a decision for one branch, or parallel branches with decisions inside")
        elif tag in ("eventBasedGateway", "complexGateway"):
            self.note("B011", Severity.WARNING, element, f"{self.label(element)} is approximated as a decision",
                      "add conditions on its outgoing edges and mark one `default: true`")
        self.add(node)

    def inline_shell(self, element: Any, key: str, lane: str | None) -> tuple[_ImportedNode, _ImportedNode]:
        """Entry and exit pass nodes standing for an inlined container (sub-process or called process)."""
        entry = self.add(_ImportedNode(key=f"{key}#in", kind="pass", element=element, lane=lane))
        exit_ = self.add(_ImportedNode(key=key, kind="pass", element=element, lane=lane))
        self.in_key[key] = entry.key
        self.out_key[key] = exit_.key
        self.fate[element.get("id")] = "inlined"
        return entry, exit_

    def wire_inlined(self, entry: _ImportedNode, exit_: _ImportedNode, entries: list[str], exits: list[str]) -> None:
        self.edges.extend(_ImportedEdge(entry.key, e) for e in entries)
        self.edges.extend(_ImportedEdge(e, exit_.key) for e in exits)

    def subprocess(self, element: Any, key: str, lane_of: dict[str, str], lane: str | None,
                   stack: tuple[str, ...]) -> None:
        if element.get("triggeredByEvent") == "true":
            self.note("B001", Severity.WARNING, element, f"event sub-process {self.label(element)} was dropped",
                      "model the event's handling as a branch of the workflow")
            self.drop(element, "dropped (event sub-process)")
            return
        self.markers(element)
        if not any(_is_bpmn(c) and (_local(c) in TASK_TAGS | GATEWAY_TAGS | SUBPROCESS_TAGS
                                    or _local(c).endswith("Event") or _local(c) == "callActivity") for c in element):
            self.add(self.basic(element, key, "task", lane))
            self.note("B004", Severity.INFO, element, f"{self.label(element)} has no steps in the file; it is "
                      "imported as a task", "split it into steps, or make it a `subworkflow` node")
            return
        entry, exit_ = self.inline_shell(element, key, lane)
        self.note("B004", Severity.INFO, element, f"{self.label(element)} is inlined: its steps become steps of "
                  "the workflow", "move them to their own workflow and use a `subworkflow` node if you prefer")
        entries, exits = self.container(element, f"{key}/", lane_of, lane, top=False, stack=stack)
        self.wire_inlined(entry, exit_, entries, exits)

    def call(self, element: Any, key: str, lane_of: dict[str, str], lane: str | None,
             stack: tuple[str, ...]) -> None:
        called = element.get("calledElement") or ""
        if _outside_ref(called):  # a path out of the workflow's folder (`/etc/passwd`, `../..`) is never a ref
            self.note("B004", Severity.WARNING, element, f"{self.label(element)} calls `{called}`, a path outside "
                      "the workflow's folder; the reference is dropped", "set `ref` to a workflow file next to this "
                      "one or a template name")
            called = ""
        target = self.by_id.get(called)
        node = self.basic(element, key, "subworkflow", lane)
        self.markers(element)
        if node.ext.get("kind") == "subworkflow" or node.ext.get("ref"):
            node.ref = node.ext.get("ref") or called or None
            self.add(node)
            return
        if target is not None and target.tag == bpmn("process") and called not in stack:
            entry, exit_ = self.inline_shell(element, key, lane)
            self.note("B004", Severity.INFO, element, f"{self.label(element)} calls process `{called}` of the same "
                      "file; its steps are inlined", "keep the called process as its own workflow if it is shared")
            _, lanes = self.lanes_of(target)
            for lane_el in lanes:
                self.fate.setdefault(lane_el.get("id"), "not imported (an inlined process uses its caller's lane)")
            self.fate.setdefault(called, f"inlined into `{element.get('id')}`")
            entries, exits = self.container(target, f"{key}/", {}, lane, top=False, stack=(*stack, called))
            self.wire_inlined(entry, exit_, entries, exits)
            return
        if target is not None and _local(target) in _GLOBAL_TASKS:
            node.kind = "task"
            node.human = _local(target) in ("globalUserTask", "globalManualTask")
            self.note("B013", Severity.INFO, element, f"{self.label(element)} calls global task `{called}`; "
                      "imported as a task")
            self.add(node)
            return
        node.ref = called or None
        self.note("B004", Severity.INFO, element, f"{self.label(element)} becomes a subworkflow node referring "
                  f"to `{called or '?'}`", "set `ref` to the workflow file or template it runs")
        self.add(node)

    def intermediate(self, element: Any, key: str, lane: str | None, links: dict[str, list[str]]) -> None:
        definitions = [_local(d) for d in element if _local(d).endswith("EventDefinition")]
        throw = _local(element) == "intermediateThrowEvent"
        if definitions == ["linkEventDefinition"]:
            link = next(d for d in element if _local(d) == "linkEventDefinition")
            name = link.get("name") or element.get("name") or ""
            node = self.add(self.basic(element, key, "pass", lane))
            node.link = f"{'throw' if throw else 'catch'}:{name}"
            links.setdefault(name, []).append(node.key)
            self.fate[element.get("id")] = "joined (link event)"
            self.note("B005", Severity.INFO, element, f"link event {self.label(element)} is joined to its partner")
            return
        if definitions == ["timerEventDefinition"] and not throw:
            self.timer(element, key, lane)
            return
        node = self.basic(element, key, "task", lane)
        trigger = ", ".join(d.removesuffix("EventDefinition") for d in definitions) or "none"
        verb = "throws" if throw else "waits for"
        if node.name is None:
            node.name = f"{'Send' if throw else 'Wait for'} {trigger}"
        self.note("B005", Severity.WARNING, element, f"intermediate event {self.label(element)} ({verb} "
                  f"{trigger}) is approximated as a task", "give the task an actor and a duration, or remove it")
        self.add(node)

    def timer(self, element: Any, key: str, lane: str | None) -> None:
        """A timer catch event: a `wait`, with the exact timer of a studio export, else its ISO-8601 duration."""
        node = self.add(self.basic(element, key, "wait", lane))
        info = _studio_ext(element, "timer")
        if info.get("delay"):
            delay = info["delay"]
            node.timer["delay"] = json.loads(delay) if delay.startswith("{") else delay
            return
        if info.get("until"):
            node.timer["until"] = json.loads(info["until"])
            return
        definition = next(d for d in element if _local(d) == "timerEventDefinition")
        parts = {_local(d): _text(d) or "" for d in definition if _local(d) in TIMER_PARTS}
        seconds = _iso_seconds(parts.get("timeDuration", ""))
        if seconds is not None:
            node.timer["delay"] = format_duration(seconds)
            self.note("B005", Severity.INFO, element, f"timer event {self.label(element)} becomes a wait of "
                      f"`{node.timer['delay']}`")
            return
        what = ", ".join(f"{part} `{text}`" if text else f"an empty {part}" for part, text in sorted(parts.items()))
        self.note("B005", Severity.WARNING, element, f"timer event {self.label(element)} waits for "
                  f"{what or 'no time'}, which a wait step cannot say; it is imported as a wait without a timer",
                  "give the wait a `delay` (e.g. `2h`) or an `until` calendar")

    def flow(self, flow: Any, scope: str) -> None:
        flow_id = flow.get("id") or ""
        source_id, target_id = flow.get("sourceRef") or "", flow.get("targetRef") or ""
        source = self.out_key.get(f"{scope}{source_id}", f"{scope}{source_id}")
        target = self.in_key.get(f"{scope}{target_id}", f"{scope}{target_id}")
        if source_id in self.dropped or target_id in self.dropped:
            gone = source_id if source_id in self.dropped else target_id
            self.fate[flow_id] = f"dropped with `{gone}`"
            return
        if source not in self.nodes or target not in self.nodes:
            missing = source_id if source not in self.nodes else target_id
            self.note("B012", Severity.WARNING, flow, f"sequence flow `{flow_id}` refers to unknown element "
                      f"`{missing}` and was dropped")
            self.fate[flow_id] = "dropped (unknown end)"
            return
        name = flow.get("name")
        edge = _ImportedEdge(source, target, label=" ".join(name.split()) if name else None, origins=(flow_id,))
        source_element = self.by_id.get(source_id)
        route = _studio_ext(flow, "route")
        if (source_element is not None and source_element.get("default") == flow_id) or route.get("default") == "true":
            edge.default = True
        if route.get("maxRepeats", "").isdigit() and int(route["maxRepeats"]) >= 1:
            edge.max_repeats = int(route["maxRepeats"])
        try:
            probability = float(route["probability"]) if "probability" in route else None
            edge.probability = probability if probability is not None and 0 <= probability <= 1 else None
        except ValueError:
            edge.probability = None
        if not self.studio:
            found = _flow_extension_probability(flow) or self.flow_probabilities.get(flow_id)
            if found is not None:
                self.probability(flow, edge, *found)
        condition = flow.find(bpmn("conditionExpression"))
        if self.studio and route.get("when") and check(route["when"]) is None:
            edge.when = route["when"]  # the studio's text; the conditionExpression is its Python for the engine
            edge.conditional = True
        elif condition is not None:
            self.condition(flow, condition, edge)
        self.edges.append(edge)

    def condition(self, flow: Any, element: Any, edge: _ImportedEdge) -> None:
        text = "".join(element.itertext()).strip()
        edge.conditional = True
        if not text:
            if not edge.default:
                self.note("B003", Severity.WARNING, flow, f"sequence flow `{flow.get('id')}` has an empty condition",
                          "write the condition in the studio's language, e.g. `amount > 1000`")
            edge.conditional = not edge.default
            return
        candidate = text
        wrapped = _WRAPPED.match(text)
        if wrapped is not None:
            candidate = wrapped.group(1).strip()
        if _NUMBER_RE.match(candidate) and not self.studio:  # a branch probability written as the condition
            if edge.probability is None:
                self.probability(flow, edge, candidate, "the condition expression")
            else:
                self.note("B015", Severity.INFO, flow, f"sequence flow `{flow.get('id')}` has the number `{text}` "
                          f"as its condition and the probability {edge.probability:g} elsewhere; the latter is kept")
            return
        translated, dialect = translate_condition(text, element.get("language"))
        if translated is not None:
            edge.when = translated
            if translated != candidate:
                self.note("B014", Severity.INFO, flow, f"condition `{text}` of sequence flow `{flow.get('id')}` was "
                          f"read as {dialect} and translated to `{translated}`",
                          "check that the case fields it reads have these names")
            return
        edge.label = f"{edge.label} [{text}]" if edge.label and text not in edge.label else edge.label or text
        what = f" ({dialect})" if dialect != "expression" else ""
        self.note("B003", Severity.WARNING, flow, f"condition `{text}`{what} of sequence flow `{flow.get('id')}` is "
                  "not in the studio's condition language and could not be translated; kept as the label",
                  "rewrite it as a condition on case fields, e.g. `amount > 1000 and region == \"EU\"`")

    def probability(self, flow: Any, edge: _ImportedEdge, raw: str, where: str) -> None:
        """A flow's branch probability as a tool wrote it (`0.2`, `20%`), checked and kept on the edge."""
        value = _probability_value(raw)
        if value is None:
            self.note("B015", Severity.WARNING, flow, f"the probability `{raw}` of sequence flow `{flow.get('id')}` "
                      f"({where}) is not a number between 0 and 1 (or a percentage); it was dropped",
                      "give the branch a `probability:` between 0 and 1 in the workflow")
            return
        edge.probability = value
        edge.conditional = True
        self.note("B015", Severity.INFO, flow, f"sequence flow `{flow.get('id')}` is taken with probability {value:g} "
                  f"(read from {where})")

    # ---- graph clean-up

    def out_edges(self, key: str) -> list[_ImportedEdge]:
        return [e for e in self.edges if e.source == key]

    def in_edges(self, key: str) -> list[_ImportedEdge]:
        return [e for e in self.edges if e.target == key]

    def split_gateways(self) -> None:
        for node in list(self.nodes.values()):
            if node.kind != "parallel" or node.gateway not in ("parallelGateway", "inclusiveGateway"):
                continue
            if node.ext.get("kind") in ("parallel", "join"):  # a studio export says which it is
                node.kind = node.ext["kind"]
                continue
            ins, outs = self.in_edges(node.key), self.out_edges(node.key)
            if len(ins) > 1 and len(outs) > 1:
                fork = _ImportedNode(key=f"{node.key}#fork", kind="parallel", element=node.element, lane=node.lane,
                          name=node.name)
                self.nodes[fork.key] = fork
                for edge in outs:
                    edge.source = fork.key
                self.edges.append(_ImportedEdge(node.key, fork.key))
                node.kind = "join"
                self.note("B009", Severity.INFO, node.element, f"{self.label(node.element)} both joins and forks; "
                          "it is split into a join followed by a fork")
            elif len(ins) > 1:
                node.kind = "join"

    def contract(self) -> None:
        for key in [k for k, n in self.nodes.items() if n.kind == "pass"]:
            ins = [e for e in self.edges if e.target == key and e.source != key]
            outs = [e for e in self.edges if e.source == key and e.target != key]
            self.edges = [e for e in self.edges if key not in (e.source, e.target)]
            for a in ins:
                for b in outs:
                    when = a.when if b.when is None else b.when if a.when is None else f"({a.when}) and ({b.when})"
                    self.edges.append(_ImportedEdge(a.source, b.target, when=when, label=a.label or b.label,
                                         default=a.default, conditional=a.conditional or b.conditional,
                                         max_repeats=a.max_repeats or b.max_repeats,
                                         probability=a.probability, origins=a.origins + b.origins))
            if not (ins and outs):
                for edge in ins + outs:
                    for origin in edge.origins:
                        self.fate[origin] = "dropped (leads into an empty sub-process)"
            del self.nodes[key]
        merged: dict[tuple[str, str, str | None, bool], _ImportedEdge] = {}
        for edge in self.edges:
            signature = (edge.source, edge.target, edge.when, edge.default)
            if signature in merged:
                merged[signature].origins += edge.origins
            else:
                merged[signature] = edge
        self.edges = list(merged.values())

    def explicit_gateways(self) -> None:
        for node in list(self.nodes.values()):
            if node.kind not in ("task", "approval", "subworkflow", "start", "wait"):
                continue
            if self.studio and node.ext.get("kind"):  # the studio's own step: its edges mean what they meant
                continue
            outs = self.out_edges(node.key)
            if len(outs) < 2 and not any(e.conditional or e.when is not None for e in outs):
                continue
            conditional = any(e.conditional or e.when is not None or e.default for e in outs)
            kind = "decision" if conditional else "parallel"
            suffix = "choice" if conditional else "split"
            gateway = _ImportedNode(key=f"{node.key}#{suffix}", kind=kind, element=node.element, lane=node.lane,
                         name=f"{node.name or 'After'}?" if conditional else None)
            self.nodes[gateway.key] = gateway
            for edge in outs:
                edge.source = gateway.key
            self.edges.append(_ImportedEdge(node.key, gateway.key))
            what = "conditional flows" if conditional else "several unconditional flows (all run)"
            self.note("B009", Severity.INFO, node.element, f"{self.label(node.element)} has {what} leaving it; a "
                      f"{kind} node was added after it", "")

    def branch_probabilities(self) -> None:
        """Make a gateway's branch probabilities fit the studio's rule (docs/semantics.md), or say why not.

        A branch with probability 0 (Prosimos writes them) or the one branch a tool left without a
        probability becomes the default, which takes the remainder; sums off 1 by rounding (at most
        0.01) are rescaled; probabilities on flows that do not leave a decision are dropped."""
        for node in self.nodes.values():
            outs = self.out_edges(node.key)
            if not any(e.probability is not None for e in outs):
                continue
            if node.kind != "decision":
                for edge in outs:
                    edge.probability = None
                self.note("B015", Severity.INFO, node.element, f"branch probabilities on the flows leaving "
                          f"{self.label(node.element)} were dropped: it is imported as a `{node.kind}`, where every "
                          "branch runs")
                continue
            for edge in outs:
                if edge.probability == 0.0:
                    edge.probability = None  # never taken: only a default taking a remainder of 0 can say so
            default = next((e for e in outs if e.default), None)
            missing = [e for e in outs if not e.default and e.probability is None]
            given = math.fsum(e.probability or 0.0 for e in outs if not e.default)
            if default is None and len(missing) == 1:
                missing[0].default = True
                self.note("B015", Severity.INFO, node.element, f"the flow of {self.label(node.element)} without a "
                          f"probability (or with 0) is the default: it takes the remaining {max(0.0, 1 - given):.6g}")
                default, missing = missing[0], []
            if default is not None and default.probability is not None:
                default.probability = None  # the default takes the remainder, whatever a tool wrote on it
            if missing:
                self.note("B015", Severity.WARNING, node.element, f"{self.label(node.element)} has probabilities on "
                          f"some flows only ({len(missing)} without); the workflow needs one on every branch",
                          "give every branch a `probability:`, or one `default: true` edge for the remainder")
                continue
            if default is None and 1e-9 < abs(given - 1.0) <= 0.01:
                for edge in outs:
                    edge.probability = (edge.probability or 0.0) / given
                self.note("B015", Severity.INFO, node.element, f"the branch probabilities of "
                          f"{self.label(node.element)} add up to {given:.6g}; they were rescaled to add up to 1")

    # ---- ids, actors, workflow

    def assign_ids(self) -> dict[str, str]:
        ids: dict[str, str] = {}
        taken: set[str] = set()

        # studio exports keep their ids; everything else takes a readable id from its name
        for key in self.nodes:
            if self.studio and "/" not in key and "#" not in key and _ID_RE.match(key):
                ids[key] = unique(key, taken)
        for key, node in self.nodes.items():
            if key in ids:
                continue
            base_key = key.split("#", 1)[0]
            if "#" in key and base_key in ids:
                ids[key] = unique(f"{ids[base_key]}_{key.split('#', 1)[1]}"[:80], taken)
                continue
            base = slug(node.name or "") or slug(node.bpmn_id or "") or node.kind
            if not re.match(r"^[a-z_]", base):
                base = f"{node.kind}_{base}"
            ids[key] = unique(base[:70], taken)
        return ids

    def actors(self, lanes: list[Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Actor definitions and the actor id of every lane (and of work outside lanes)."""
        actors: list[dict[str, Any]] = []
        actor_of_lane: dict[str, str] = {}
        taken: set[str] = set()
        lane_nodes: dict[str | None, list[_ImportedNode]] = {}
        for node in self.nodes.values():
            lane_nodes.setdefault(node.lane, []).append(node)
        for lane in lanes:
            lane_id = lane.get("id")
            members = [n for n in lane_nodes.get(lane_id, []) if n.kind in ("task", "approval", "subworkflow")]
            ext = _studio_ext(lane, "actor")
            if ext.get("key") and _ID_RE.match(ext["key"]):
                actor = self.studio_actor(ext)
                self.fate[lane_id] = f"actor `{actor['id']}`"
                actors.append(actor)
                taken.add(actor["id"])
                actor_of_lane[lane_id] = actor["id"]
                continue
            if not members and any(c.tag == bpmn("childLaneSet") for c in lane):
                self.fate[lane_id] = "parent lane (its child lanes become actors)"
                continue
            if self.studio:
                self.fate[lane_id] = "lane of steps without an actor"
                continue
            name = " ".join((lane.get("name") or "").split()) or None
            base = slug(name or "") or slug(lane_id or "") or "lane"
            if not re.match(r"^[a-z_]", base):
                base = f"lane_{base}"
            actor_id = unique(base, taken)
            human = any(n.human or n.kind == "approval" for n in members)
            kind = "human" if human else "agent"
            what = "complete role and capacity" if human else "complete capability/version"
            actor = {"id": actor_id, "kind": kind, "name": name,
                     "description": f"imported from BPMN lane `{name or lane_id}`; {what}"}
            if human:
                actor["role"] = name
            actors.append(actor)
            actor_of_lane[lane_id] = actor_id
            self.fate[lane_id] = f"actor `{actor_id}`"
            self.note("B007", Severity.INFO, lane, f"lane `{name or lane_id}` becomes {kind} `{actor_id}`; "
                      f"{what}", "an agent needs `capability` and a pinned `version`; a human pool a `capacity`")
        process_ext = self.process.find(bpmn("extensionElements")) if self.process is not None else None
        for info in process_ext.findall(f"{{{STUDIO_NS}}}actor") if process_ext is not None else []:
            ext = {str(k): str(v) for k, v in info.attrib.items()}
            if ext.get("key") and _ID_RE.match(ext["key"]) and ext["key"] not in taken:
                actors.append(self.studio_actor(ext))
                taken.add(ext["key"])
        outside = [n for n in lane_nodes.get(None, []) if n.kind in ("task", "approval", "subworkflow")]
        outside += [n for lane_id, ns in lane_nodes.items() if lane_id is not None and lane_id not in actor_of_lane
                    for n in ns if n.kind in ("task", "approval", "subworkflow")]
        for human, actor_id in ((True, "unassigned_people"), (False, "unassigned_agent")):
            if not self.studio and any(n.human == human for n in outside):
                kind = "human" if human else "agent"
                what = "a human pool" if human else "an agent"
                actors.append({"id": actor_id, "kind": kind,
                               "description": f"imported from BPMN: work outside any lane; replace with {what}"})
                self.findings.append(Finding("B007", Severity.INFO, "", f"steps outside any lane are given to "
                                             f"placeholder {kind} `{actor_id}`", "assign each step its real actor",
                                             self.file))
        return actors, actor_of_lane

    def studio_actor(self, ext: dict[str, str]) -> dict[str, Any]:
        kind = ext.get("kind") if ext.get("kind") in ("agent", "human", "system") else "agent"
        actor: dict[str, Any] = {"id": ext["key"], "kind": kind}
        for key in ("name", "owner"):
            if ext.get(key):
                actor[key] = ext[key]
        if kind == "agent":
            for key in ("capability", "version", "model", "prompt", "autonomy"):
                if ext.get(key):
                    actor[key] = ext[key]
        if kind == "human":
            if ext.get("role"):
                actor["role"] = ext["role"]
            if ext.get("capacity", "").isdigit():
                actor["capacity"] = int(ext["capacity"])
        if kind in ("agent", "system") and ext.get("tools"):
            actor["tools"] = ext["tools"].split()
        return actor

    def node_data(self, node: _ImportedNode, node_id: str, actor: str | None, ids: dict[str, str]) -> dict[str, Any]:  # noqa: C901, PLR0912 - a branch per node kind
        data: dict[str, Any] = {"id": node_id, "kind": node.kind}
        if node.name and node.name != node_id:
            data["name"] = node.name
        if node.description:
            data["description"] = node.description
        ext = node.ext
        if node.kind in ("task", "approval", "subworkflow") and actor is not None:
            data["actor"] = actor
        if node.kind == "task":
            if node.tools:
                data["tools"] = [t for t, _ in node.tools]
            for key in ("reads", "writes", "outputs"):
                if ext.get(key):
                    data[key] = ext[key].split()
            if ext.get("validates") == "true":
                data["validates"] = True
        if node.kind == "approval":
            for key in ("reviews", "outputs"):
                if ext.get(key):
                    data[key] = ext[key].split()
            if ext.get("threshold"):
                data["threshold"] = ext["threshold"]
        if node.kind in ("task", "approval"):
            if ext.get("sla"):
                data["sla"] = ext["sla"]
            if ext.get("escalateTo"):
                data["escalate_to"] = ext["escalateTo"]
            if ext.get("escalation"):
                data["escalation"] = _chain(ext["escalation"])
        if node.kind == "subworkflow" and node.ref:
            data["ref"] = node.ref
        if node.kind == "end" and ext.get("outcome"):
            data["outcome"] = ext["outcome"]
        if node.kind == "wait":
            data.update(node.timer)
        return data

    def build(self, process: Any) -> Workflow:  # noqa: C901, PLR0912, PLR0915 - the import's passes in order
        self.process = process
        lane_of, lanes = self.lanes_of(process)
        self.container(process, "", lane_of, None, top=True, stack=(process.get("id"),))
        self.split_gateways()
        self.contract()
        for node in self.nodes.values():  # a merging exclusive gateway always takes its only way out
            outs = self.out_edges(node.key)
            if node.kind == "decision" and len(outs) == 1 and outs[0].when is None:
                outs[0].default = True
        self.explicit_gateways()
        if not self.studio:
            self.branch_probabilities()
        ids = self.assign_ids()
        actors, actor_of_lane = self.actors(lanes)
        known_actors = {a["id"] for a in actors}
        nodes: list[dict[str, Any]] = []
        for key, node in self.nodes.items():
            node_id = ids[key]
            actor = node.ext.get("actor") if self.studio else None
            if not self.studio and node.kind in ("task", "approval", "subworkflow"):
                actor = actor_of_lane.get(node.lane or "") or ("unassigned_people" if node.human
                                                                  else "unassigned_agent")
            if actor is not None and actor not in known_actors and not _ID_RE.match(actor):
                actor = None
            item = self.node_data(node, node_id, actor, ids)
            try:
                _NODE_ADAPTER.validate_python(item)
            except ValidationError as exc:
                basic = {k: v for k, v in item.items() if k in ("id", "kind", "name", "description", "actor")}
                self.note("B001", Severity.WARNING, node.element, f"studio details of {self.label(node.element)} "
                          f"are invalid and were ignored: {exc.errors()[0]['msg']}")
                item = basic
            if node.bpmn_id is not None and self.fate.get(node.bpmn_id, "").startswith("node"):
                self.fate[node.bpmn_id] = f"node `{node_id}`"
            nodes.append(item)
        edges: list[dict[str, Any]] = []
        seen: set[tuple[str, str, str | None, bool]] = set()
        for edge in self.edges:
            signature = (ids[edge.source], ids[edge.target], edge.when, edge.default)
            for origin in edge.origins:
                self.fate[origin] = f"edge `{signature[0]}` -> `{signature[1]}`"
            if signature in seen:
                continue
            seen.add(signature)
            row: dict[str, Any] = {"from": signature[0], "to": signature[1]}
            if edge.when is not None:
                row["when"] = edge.when
            if edge.default:
                row["default"] = True
            if edge.label:
                row["label"] = edge.label
            if edge.max_repeats is not None:
                row["max_repeats"] = edge.max_repeats
            if edge.probability is not None:
                row["probability"] = edge.probability
            edges.append(row)
        data: dict[str, Any] = {"metadata": self.metadata(process), "actors": actors, "tools": self.tools(),
                                "nodes": nodes, "edges": edges}
        if self.studio:
            settings = self.studio_settings()
            try:
                Workflow.model_validate({**data, **settings})
            except ValidationError as exc:
                self.note("B001", Severity.WARNING, process, "the studio settings of the process (tools, data "
                          f"sources, policies) are invalid and were ignored: {exc.errors()[0]['msg']}")
            else:
                data.update(settings)
        try:
            return Workflow.model_validate(data)
        except ValidationError as exc:  # pragma: no cover - every part was checked on its own above
            raise LoadError([Finding("B000", Severity.ERROR, "", f"the imported workflow does not fit the model: "
                                     f"{exc.errors()[0]['msg']}", "report this as a bug with the BPMN file",
                                     self.file)], summary="import failed") from None

    def process_ext(self, tag: str) -> list[dict[str, str]]:
        ext = self.process.find(bpmn("extensionElements")) if self.process is not None else None
        if ext is None:
            return []
        return [{str(k): str(v) for k, v in e.attrib.items()} for e in ext.findall(f"{{{STUDIO_NS}}}{tag}")]

    def studio_settings(self) -> dict[str, Any]:  # noqa: C901, PLR0912 - a branch per settings block the exporter writes
        """Tools, data sources and policies a studio export carries on its process (invalid ones skipped)."""
        out: dict[str, Any] = {}
        tools = []
        for ext in self.process_ext("tool"):
            tool: dict[str, Any] = {"id": ext.get("key", ""), "tier": ext.get("tier", "")}
            for key, field_name in (("name", "name"), ("timeout", "timeout"), ("credential", "credential")):
                if ext.get(key):
                    tool[field_name] = ext[key]
            if ext.get("writes"):
                tool["writes"] = ext["writes"].split()
            calls, _, per = ext.get("rateLimit", "").partition("/")
            if calls.isdigit() and per:
                tool["rate_limit"] = {"calls": int(calls), "per": per}
            tools.append(tool)
        if tools:
            out["tools"] = tools
        data = []
        for ext in self.process_ext("data"):
            source: dict[str, Any] = {"id": ext.get("key", "")}
            if ext.get("system"):
                source["system"] = ext["system"]
            if ext.get("freshness"):
                source["freshness"] = ext["freshness"]
            if ext.get("pii") == "true":
                source["contains_pii"] = True
            data.append(source)
        if data:
            out["data_sources"] = data
        for ext in self.process_ext("policies")[:1]:
            policies: dict[str, Any] = {}
            if ext.get("maxTurns", "").isdigit():
                policies["max_turns"] = int(ext["maxTurns"])
            if ext.get("maxRepeats") == "none":
                policies["max_repeats"] = None
            elif ext.get("maxRepeats", "").isdigit():
                policies["max_repeats"] = int(ext["maxRepeats"])
            if ext.get("retries", "").isdigit():
                policies["retries"] = int(ext["retries"])
            for key, field_name in (("approvalSla", "approval_sla"), ("escalateTo", "escalate_to"),
                                    ("autonomy", "autonomy")):
                if ext.get(key):
                    policies[field_name] = ext[key]
            if ext.get("escalation"):
                policies["escalation"] = _chain(ext["escalation"])
            audit: dict[str, Any] = {"enabled": ext.get("audit") != "false"}
            if "auditFields" in ext:
                audit["fields"] = ext["auditFields"].split()
            if ext.get("auditRetention"):
                audit["retention"] = ext["auditRetention"]
            policies["audit"] = audit
            out["policies"] = policies
        return out

    def tools(self) -> list[dict[str, Any]]:
        tiers: dict[str, str] = {}
        for node in self.nodes.values():
            for tool_id, tier in node.tools:
                if _ID_RE.match(tool_id):
                    tiers.setdefault(tool_id, tier if tier in ("read_only", "restricted_write", "critical")
                                     else "read_only")
        return [{"id": t, "tier": tier} for t, tier in tiers.items()]

    def metadata(self, process: Any) -> dict[str, Any]:
        ext = _studio_ext(process, "workflow")
        participant = next((p for p in self.root.iter(bpmn("participant"))
                            if p.get("processRef") == process.get("id")), None)
        candidates = [self.name, ext.get("name"), process.get("name"),
                      participant.get("name") if participant is not None else None, self.root.get("name"),
                      Path(self.file).stem if self.file else None, "imported"]
        name = self.name or next(s for s in (slug(c or "") for c in candidates[1:]) if _ID_RE.match(s))
        docs = " ".join(t for t in (_text(d) for d in process.findall(bpmn("documentation"))) if t)
        source = Path(self.file).name if self.file else "BPMN"
        meta: dict[str, Any] = {
            "name": name,
            "description": docs or f"Imported from {source}, process `{process.get('name') or process.get('id')}`.",
        }
        if re.match(r"^\d+\.\d+\.\d+", ext.get("version", "")):
            meta["version"] = ext["version"]
        if ext.get("owner"):
            meta["owner"] = ext["owner"]
        return meta

    # ---- everything outside the chosen process

    def others(self, process: Any, used: set[str]) -> None:
        for other in self.processes:
            if other is process or other.get("id") in used:
                continue
            participant = next((p for p in self.root.iter(bpmn("participant"))
                                if p.get("processRef") == other.get("id")), None)
            title = (participant.get("name") if participant is not None else None) or other.get("name")
            elements = sum(1 for e in other.iter() if _is_bpmn(e) and e.get("id") is not None) - 1
            self.note("B006", Severity.WARNING, other, f"process `{other.get('id')}`"
                      + (f" (pool `{' '.join(title.split())}`)" if title else "")
                      + f" with {elements} element(s) was not imported; a workflow is one process",
                      f"import it on its own with `--process {other.get('id')}`")
            self.drop_all(other, f"not imported (process `{other.get('id')}`)")
        for flow in self.root.iter(bpmn("messageFlow")):
            self.note("B006", Severity.WARNING, flow, f"message flow `{flow.get('id')}` between pools was dropped",
                      "model the hand-off as a step or a subworkflow")
            self.fate[flow.get("id") or ""] = "dropped (message flow)"
        for top in self.root:
            if _is_bpmn(top) and _local(top) not in ("process", "collaboration", "message", "signal", "error",
                                                      "escalation", "itemDefinition", "category") \
                    and _local(top) not in _GLOBAL_TASKS and top.get("id") is not None:
                self.fate.setdefault(top.get("id"), "not imported")

    def run(self) -> BpmnImport:
        process = self.choose()
        workflow = self.build(process)
        inlined = {p.get("id") for p in self.processes if str(self.fate.get(p.get("id"), "")).startswith("inlined")}
        self.others(process, inlined | {process.get("id")})
        self.fate[process.get("id")] = f"workflow `{workflow.metadata.name}`"
        findings = sorted(set(self.findings), key=lambda f: (f.line or 0, f.code, f.location, f.message))
        return BpmnImport(workflow, findings, self.census, self.fate, process.get("id"))


def read_bpmn(source: str | os.PathLike[str] | bytes, *, process: str | None = None,
              name: str | None = None,
              simulation: str | os.PathLike[str] | dict[str, Any] | None = None) -> BpmnImport:
    """Import a BPMN 2.0 file (a path, or the XML as bytes), with the census and every element's fate.

    ``process`` picks a process by id or name; ``name`` sets the workflow's name; ``simulation`` is a
    Prosimos simulation-parameter JSON (path or parsed) whose gateway branching probabilities become
    the edges' ``probability``, its resource profiles pools, its task distributions the steps' actors and
    durations, its arrival distribution the arrivals (``studio.export._prosimos``; ``B016`` findings).
    """
    params, params_file = _load_parameters(simulation) if simulation is not None else (None, None)
    probabilities = simulation_probabilities(params, params_file) if simulation is not None else None
    root, file = _parse(source)
    if name is not None and not _ID_RE.match(name):
        raise LoadError([Finding("B000", Severity.ERROR, "", f"`{name}` is not a valid workflow name",
                                 "use letters, digits, `_` and `-`, starting with a letter", file)],
                        summary="invalid name")
    result = _Importer(root, file, process, name, probabilities).run()
    if probabilities is not None:
        from studio.export._prosimos import apply_parameters  # noqa: PLC0415

        result.findings.extend(_simulation_findings(probabilities, result.fate, file))
        assert isinstance(params, dict)  # simulation_probabilities refused anything else
        workflow, more = apply_parameters(result.workflow, params, result.fate, params_file)
        result = replace(result, workflow=workflow, findings=result.findings + more)
    return result


def _simulation_findings(probabilities: dict[str, tuple[str, str]], fate: dict[str, str],
                         file: str | None) -> list[Finding]:
    """Flows a Prosimos parameter file gives a probability that the process lacks (its other sections:
    ``studio.export._prosimos``, ``B016``)."""
    return [Finding("B015", Severity.WARNING, path_id, f"the simulation parameters give a probability to `{path_id}`, "
                   "which is no sequence flow of the imported process", "check the parameter file belongs to this "
                   "model", file) for path_id in sorted(probabilities) if path_id not in fate]


def import_bpmn(source: str | os.PathLike[str] | bytes, *, process: str | None = None,
                name: str | None = None,
                simulation: str | os.PathLike[str] | dict[str, Any] | None = None) -> tuple[Workflow, list[Finding]]:
    """Import a BPMN 2.0 file: the workflow and the findings about what was approximated or dropped."""
    result = read_bpmn(source, process=process, name=name, simulation=simulation)
    return result.workflow, result.findings

