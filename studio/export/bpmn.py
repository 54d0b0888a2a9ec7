"""BPMN 2.0 export and import, so analysts can round-trip with Camunda Modeler, bpmn.io and others.

Export (:func:`to_bpmn`) writes one pool (a ``collaboration`` with one participant) whose
``process`` has a lane per actor, and maps node kinds to BPMN elements:

==============  ====================================================================
studio          BPMN
==============  ====================================================================
start / end     ``startEvent`` / ``endEvent``
task            ``userTask`` (human actor), ``serviceTask`` (agent or system), ``task``
approval        ``userTask`` whose completion sets ``<id>_decision`` (``studio:decision``)
decision        ``exclusiveGateway`` with ``default`` and Python ``conditionExpression`` s
parallel, join  ``parallelGateway`` (``Diverging`` / ``Converging``)
subworkflow     ``callActivity`` with ``calledElement``
wait            ``intermediateCatchEvent`` with a ``timerEventDefinition``: ``timeDuration`` of the
                delay (a drawn delay or an ``until`` calendar: the expected wait, reported as
                ``B107``); the exact timer in ``<studio:timer>``
==============  ====================================================================

The document also runs on SpiffWorkflow as the simulator runs the workflow: conditions are Python
over the task data (:mod:`studio.export._bpmn_python`), and where BPMN's token rules differ the
export adds helper elements tagged ``studio:helper`` (merging gateways, threshold gateways with an
auto-approving script task, SLA timer boundary events with an escalation task; see
:mod:`studio.export._bpmn_exec`), which ``studio import`` folds back. :func:`bpmn_findings` lists
what the engine will not enforce (loop guards...) and what refuses the export.

Studio details BPMN has no place for (the node kind, actor, agent version, tools and their tiers,
SLAs, escalations) travel in ``extensionElements`` in the ``studio:`` namespace
(``https://workflow-design-studio.dev/bpmn``), which other tools keep and ignore. The diagram
(BPMNDI) comes from a simple layered layout: columns by longest path from the start, lanes as
horizontal bands. Ids are the node ids (flows, lanes and diagram elements get dotted ids that
node ids cannot take), and nothing depends on time, so the same workflow gives the same bytes.

Import lives in :mod:`studio.export._bpmn_import` and is re-exported here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
from lxml import etree

from studio import graph as g
from studio.errors import Finding, WorkflowInvalid, sort_findings
from studio.export._bpmn_common import (
    BPMNDI_NS,
    DC_NS,
    DI_NS,
    EXPORTER,
    NSMAP,
    PYTHON_LANGUAGE,
    STUDIO_NS,
    XSI_NS,
    bpmn,
)
from studio.export._bpmn_exec import ExecPlan, plan
from studio.export._bpmn_import import BpmnImport, bpmn_census, import_bpmn, read_bpmn
from studio.model import (
    Agent,
    Edge,
    End,
    EscalationLevel,
    Human,
    Subworkflow,
    System,
    Wait,
    Workflow,
    format_duration,
    iso_duration,
    wait_mean,
)

__all__ = ["BpmnImport", "bpmn_census", "bpmn_findings", "import_bpmn", "read_bpmn", "to_bpmn"]

UNASSIGNED_LANE = "unassigned"

# Layout grid (pixels).
POOL_X, POOL_Y = 100, 80
POOL_LABEL = 30
LANE_LABEL = 30
FIRST_COLUMN = POOL_X + POOL_LABEL + LANE_LABEL + 40
COLUMN = 170
ROW = 110
LANE_PAD = 15
SIZES: Mapping[str, tuple[int, int]] = {
    "start": (36, 36), "end": (36, 36),
    "decision": (50, 50), "parallel": (50, 50), "join": (50, 50),
    "task": (100, 80), "approval": (100, 80), "subworkflow": (100, 80), "wait": (36, 36),
    "gateway": (50, 50), "step": (100, 80), "timer": (36, 36),
}


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _qname(text: str) -> str:
    """A valid NCName for ``calledElement`` and the like (letters, digits, ``_ - .``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", text)
    return cleaned if re.match(r"^[A-Za-z_]", cleaned) else f"_{cleaned}"


# --------------------------------------------------------------------------- lanes


@dataclass(frozen=True)
class _Lane:
    key: str
    name: str
    actor: Agent | Human | System | None


def _lanes(workflow: Workflow, nodes: list[Any], links: list[tuple[str, str]]) -> tuple[list[_Lane], dict[str, str]]:  # noqa: C901 - the lane rules in the order they apply
    """Lanes in actor order, and the lane of every node (gateways and events join a neighbour's)."""
    actors = workflow.index.actors
    lane_of: dict[str, str] = {}
    for node in nodes:
        actor_id = getattr(node, "actor", None)
        if actor_id is not None:
            lane_of[node.id] = actor_id
        elif node.kind in ("task", "approval", "subworkflow"):
            lane_of[node.id] = UNASSIGNED_LANE
    preds: dict[str, list[str]] = {n.id: [] for n in nodes}
    succs: dict[str, list[str]] = {n.id: [] for n in nodes}
    for source, target in links:
        succs[source].append(target)
        preds[target].append(source)
    changed = True
    while changed:
        changed = False
        for node in nodes:
            if node.id in lane_of:
                continue
            order = succs[node.id] + preds[node.id] if node.kind == "start" else preds[node.id] + succs[node.id]
            for other in order:
                if other in lane_of:
                    lane_of[node.id] = lane_of[other]
                    changed = True
                    break
    used = set(lane_of.values())
    lanes = [_Lane(a.id, a.name or a.id, a) for a in workflow.actors if a.id in used and actors[a.id] is a]
    known = {lane.key for lane in lanes}
    extra = sorted(key for key in used if key not in known and key != UNASSIGNED_LANE)
    lanes += [_Lane(key, key, None) for key in extra]
    if UNASSIGNED_LANE in used or (lanes and any(n.id not in lane_of for n in nodes)):
        lanes.append(_Lane(UNASSIGNED_LANE, "Unassigned", None))
    for node in nodes:
        if lanes:
            lane_of.setdefault(node.id, lanes[-1].key if UNASSIGNED_LANE in {x.key for x in lanes} else lanes[0].key)
    return lanes, lane_of


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def cx(self) -> int:
        return self.x + self.w // 2

    @property
    def cy(self) -> int:
        return self.y + self.h // 2


def _layers(nodes: list[Any], links: list[tuple[str, str]]) -> tuple[dict[str, int], set[tuple[str, str]], list[str]]:
    """Column of every node (longest path from the roots once loops are cut), the cut edges, DFS order."""
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(n.id for n in nodes)
    graph.add_edges_from(links)
    roots = [n.id for n in nodes if n.kind == "start"] + [n.id for n in nodes if graph.in_degree(n.id) == 0]
    roots += [n.id for n in nodes]  # anything left (unreachable cycles)
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}
    order: list[str] = []
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        order.append(root)
        stack: list[tuple[str, Iterable[str]]] = [(root, iter(list(graph.successors(root))))]
        while stack:
            current, children = stack[-1]
            child = next(iter(children), None)
            if child is None:
                state[current] = 2
                stack.pop()
                continue
            if state.get(child) == 1:
                back.add((current, child))
            elif child not in state:
                state[child] = 1
                order.append(child)
                stack.append((child, iter(list(graph.successors(child)))))
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.nodes)
    dag.add_edges_from(e for e in graph.edges if e not in back)
    layer: dict[str, int] = {}
    for node_id in nx.lexicographical_topological_sort(dag, key=order.index):
        layer[node_id] = max((layer[p] + 1 for p in dag.predecessors(node_id)), default=0)
    return layer, back, order


@dataclass
class _Layout:
    boxes: dict[str, _Box]
    lanes: dict[str, _Box]
    pool: _Box
    back: set[tuple[str, str]]


def _layout(nodes: list[Any], links: list[tuple[str, str]], lanes: list[_Lane], lane_of: Mapping[str, str]) -> _Layout:
    layer, back, order = _layers(nodes, links)
    lane_keys = [lane.key for lane in lanes] or [""]
    slots: dict[tuple[str, int], list[str]] = {}
    for node_id in order:
        slots.setdefault((lane_of.get(node_id, lane_keys[0]), layer[node_id]), []).append(node_id)
    columns = max(layer.values(), default=0) + 1
    width = FIRST_COLUMN - POOL_X + columns * COLUMN
    lane_boxes: dict[str, _Box] = {}
    boxes: dict[str, _Box] = {}
    kinds = {n.id: n.kind for n in nodes}
    top = POOL_Y
    for key in lane_keys:
        rows = max((len(ids) for (lane, _), ids in slots.items() if lane == key), default=1)
        height = rows * ROW + 2 * LANE_PAD
        lane_boxes[key] = _Box(POOL_X + POOL_LABEL, top, width - POOL_LABEL, height)
        for (lane, column), ids in slots.items():
            if lane != key:
                continue
            for row, node_id in enumerate(ids):
                w, h = SIZES[kinds[node_id]]
                cx = FIRST_COLUMN + column * COLUMN + 50
                cy = top + LANE_PAD + row * ROW + ROW // 2
                boxes[node_id] = _Box(cx - w // 2, cy - h // 2, w, h)
        top += height
    pool = _Box(POOL_X, POOL_Y, width, top - POOL_Y)
    return _Layout(boxes, lane_boxes if lanes else {}, pool, back)


def _waypoints(layout: _Layout, source: str, target: str, index: int) -> list[tuple[int, int]]:
    s, t = layout.boxes[source], layout.boxes[target]
    if (source, target) in layout.back or t.x <= s.x:
        below = max(s.y + s.h, t.y + t.h) + 12 + 6 * (index % 4)
        return [(s.cx, s.y + s.h), (s.cx, below), (t.cx, below), (t.cx, t.y + t.h)]
    start, end = (s.x + s.w, s.cy), (t.x, t.cy)
    if s.cy == t.cy:
        return [start, end]
    mid = (start[0] + end[0]) // 2
    return [start, (mid, s.cy), (mid, t.cy), end]


# --------------------------------------------------------------------------- elements


def _flow_ids(edges: list[Edge]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for edge in edges:
        base = f"Flow.{edge.source}.{edge.target}"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}.{seen[base]}")
    return out


def _tag(workflow: Workflow, node: Any) -> str:  # noqa: PLR0911 - one BPMN element per node kind
    kind = node.kind
    if kind in ("start", "end"):
        return f"{kind}Event"
    if kind == "decision":
        return "exclusiveGateway"
    if kind in ("parallel", "join"):
        return "parallelGateway"
    if kind == "subworkflow":
        return "callActivity"
    if kind == "wait":
        return "intermediateCatchEvent"
    if kind == "approval":
        return "userTask"
    actor = workflow.actor_of(node.id)
    if isinstance(actor, Human):
        return "userTask"
    if isinstance(actor, (Agent, System)):
        return "serviceTask"
    return "task"


def _set(element: etree._Element, **attrs: Any) -> None:
    for key, value in attrs.items():
        if value is None or value == [] or value is False:
            continue
        if isinstance(value, list):
            text = " ".join(str(v) for v in value)
        elif value is True:
            text = "true"
        elif isinstance(value, float):
            text = format_duration(value)
        else:
            text = str(value)
        element.set(key, text)


def _chain_text(chain: list[EscalationLevel] | None) -> list[str] | None:
    """An escalation chain as the ``studio:`` attribute: ``pool@after`` per level (``leads@2h directors@1h``)."""
    return [f"{level.to}@{format_duration(level.after)}" for level in chain] if chain else None


def _node_extensions(workflow: Workflow, node: Any, parent: etree._Element) -> None:
    tiers = {t.id: t.tier for t in workflow.tools}
    ext = etree.SubElement(parent, bpmn("extensionElements"))
    info = etree.SubElement(ext, _q(STUDIO_NS, "node"))
    node_tiers = [tiers[t] for t in getattr(node, "tools", []) if t in tiers]
    actor = workflow.actor_of(node.id)
    _set(
        info,
        kind=node.kind,
        actor=getattr(node, "actor", None),
        actorKind=actor.kind if actor is not None else None,
        tier=max(node_tiers, key=lambda t: t.rank).value if node_tiers else None,
        validates=getattr(node, "validates", False),
        reviews=list(getattr(node, "reviews", []) or []),
        threshold=getattr(node, "threshold", None),
        sla=getattr(node, "sla", None),
        escalateTo=getattr(node, "escalate_to", None),
        escalation=_chain_text(getattr(node, "escalation", None)),
        reads=list(getattr(node, "reads", []) or []),
        writes=list(getattr(node, "writes", []) or []),
        outputs=list(getattr(node, "outputs", []) or []),
        ref=node.ref if isinstance(node, Subworkflow) else None,
        outcome=node.outcome if isinstance(node, End) else None,
    )
    if node.kind == "approval":
        _decision_info(node.id, ext)
    if isinstance(node, Wait):
        _timer_info(node, ext)
    if isinstance(actor, Agent):
        agent = etree.SubElement(ext, _q(STUDIO_NS, "agent"))
        _set(agent, key=actor.id, capability=actor.capability, version=actor.version, model=actor.model,
             prompt=actor.prompt, autonomy=actor.autonomy.value if actor.autonomy else None)
    for tool_id in getattr(node, "tools", []) or []:
        tool = etree.SubElement(ext, _q(STUDIO_NS, "tool"))
        _set(tool, key=tool_id, tier=tiers[tool_id].value if tool_id in tiers else None)


def _timer_info(node: Wait, ext: etree._Element) -> None:
    """The wait's exact timer, for the way back: the delay as the workflow file writes it (a duration,
    or a distribution as JSON), or the calendar it waits for (as JSON, shifts included)."""
    timer = etree.SubElement(ext, _q(STUDIO_NS, "timer"))
    if node.delay is not None:
        written = node.model_dump(mode="json", by_alias=True, exclude_none=True)["delay"]
        timer.set("delay", written if isinstance(written, str) else json.dumps(written, sort_keys=True))
    if node.until is not None:
        timer.set("until", json.dumps(node.until.written(), sort_keys=True))


def _lane_extensions(lane: _Lane, parent: etree._Element) -> None:
    if lane.actor is not None:
        _actor_info(lane.actor, etree.SubElement(parent, bpmn("extensionElements")))


def _actor_info(actor: Agent | Human | System, ext: etree._Element) -> None:
    info = etree.SubElement(ext, _q(STUDIO_NS, "actor"))
    _set(info, key=actor.id, kind=actor.kind, name=actor.name, owner=actor.owner)
    if isinstance(actor, Agent):
        _set(info, capability=actor.capability, version=actor.version, model=actor.model, prompt=actor.prompt,
             tools=list(actor.tools), autonomy=actor.autonomy.value if actor.autonomy else None)
    elif isinstance(actor, Human):
        _set(info, role=actor.role, capacity=str(actor.capacity))
    else:
        _set(info, tools=list(actor.tools))


def _unique_nodes(workflow: Workflow) -> tuple[list[Any], list[Edge]]:
    first = workflow.index.nodes  # the first of repeated ids (the validator reports them)
    nodes: list[Any] = list(first.values())
    known = set(first)
    return nodes, [e for e in workflow.edges if e.source in known and e.target in known]


def bpmn_findings(workflow: Workflow) -> list[Finding]:
    """What an export to BPMN cannot keep: errors refuse it (``B101``), the others are losses it reports."""
    workflow = g.with_outcome_routers(workflow)  # approvals routing on their outcome: the decision after them
    nodes, edges = _unique_nodes(workflow)
    return sort_findings(plan(workflow, nodes, edges, _flow_ids(edges)).findings)


def to_bpmn(workflow: Workflow, *, findings: list[Finding] | None = None) -> bytes:
    """The workflow as a BPMN 2.0 XML document (UTF-8 bytes) with a diagram, executable on SpiffWorkflow.

    It does not validate (``studio export`` does that first), so an imported map that still has
    findings can be handed back to a modelling tool. It refuses (:class:`~studio.errors.WorkflowInvalid`
    with ``B101`` findings) a condition it cannot write as Python the engine evaluates the studio's
    way; what it writes but the engine does not enforce (loop guards, ...) is appended to
    ``findings`` when a list is given (see :func:`bpmn_findings`).

    The document's parts in the order BPMN wants them: the definitions and the pool, the process's
    studio extensions, lanes, flow nodes (steps, engine helpers, SLA timers), sequence flows, and the
    diagram.
    """
    workflow = g.with_outcome_routers(workflow)  # approvals routing on their outcome: the decision after them
    name = workflow.metadata.name
    nodes, edges = _unique_nodes(workflow)
    exec_plan = plan(workflow, nodes, edges, _flow_ids(edges))
    if exec_plan.refusals:
        raise WorkflowInvalid(exec_plan.refusals, summary=f"`{name}` cannot be exported to BPMN: "
                              f"{len(exec_plan.refusals)} condition(s) cannot be written for the engine")
    if findings is not None:
        findings.extend(sort_findings(exec_plan.losses))
    elements: list[Any] = [*nodes, *exec_plan.helpers]
    owner = {t.id: t.on for t in exec_plan.timers}
    links = [(owner.get(f.source, f.source), f.target) for f in exec_plan.flows]
    lanes, lane_of = _lanes(workflow, elements, links)
    layout = _layout(elements, links, lanes, lane_of)
    for timer in exec_plan.timers:
        box = layout.boxes[timer.on]
        w, h = SIZES["timer"]
        layout.boxes[timer.id] = _Box(box.x + box.w - w - 8, box.y + box.h - h // 2, w, h)

    drawn = _Drawn(elements, lanes, lane_of, layout)
    root, process = _definitions(workflow)
    _process_extensions(workflow, process, {lane.key for lane in lanes})
    _lane_set(process, name, drawn, exec_plan)
    flow_links = _Links(exec_plan.flows)
    _steps(workflow, process, nodes, flow_links)
    _helpers_and_timers(process, exec_plan, flow_links)
    _sequence_flows(process, exec_plan.flows)
    _diagram(root, name, drawn, exec_plan)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data


def _definitions(workflow: Workflow) -> tuple[etree._Element, etree._Element]:
    """The document root with the pool (a collaboration of one participant) and the process."""
    from studio._version import __version__  # noqa: PLC0415

    name = workflow.metadata.name
    root = etree.Element(bpmn("definitions"), nsmap=NSMAP)
    _set(root, id=f"Definitions.{name}", targetNamespace=f"https://workflow-design-studio.dev/workflows/{name}",
         exporter=EXPORTER, exporterVersion=__version__)
    collaboration = etree.SubElement(root, bpmn("collaboration"), id=f"Collaboration.{name}")
    etree.SubElement(collaboration, bpmn("participant"), id=f"Participant.{name}",
                     name=workflow.metadata.name, processRef=f"Process.{name}")
    process = etree.SubElement(root, bpmn("process"), id=f"Process.{name}", name=name, isExecutable="true")
    if workflow.metadata.description:
        etree.SubElement(process, bpmn("documentation")).text = workflow.metadata.description
    return root, process


def _process_extensions(workflow: Workflow, process: etree._Element, in_lanes: set[str]) -> None:
    """What BPMN has no place for, kept for the way back: the workflow, policies, tools, data, and the
    actors that have no lane (escalation roles...)."""
    ext = etree.SubElement(process, bpmn("extensionElements"))
    _set(etree.SubElement(ext, _q(STUDIO_NS, "workflow")), name=workflow.metadata.name,
         version=workflow.metadata.version, owner=workflow.metadata.owner)
    policies = workflow.policies
    _set(etree.SubElement(ext, _q(STUDIO_NS, "policies")), maxTurns=str(policies.max_turns),
         maxRepeats=str(policies.max_repeats) if policies.max_repeats is not None else "none",
         approvalSla=policies.approval_sla, escalateTo=policies.escalate_to,
         escalation=_chain_text(policies.escalation), autonomy=policies.autonomy.value,
         retries=str(policies.retries), audit="true" if policies.audit.enabled else "false",
         auditFields=list(policies.audit.fields), auditRetention=policies.audit.retention)
    for tool in workflow.tools:
        limit = tool.rate_limit
        _set(etree.SubElement(ext, _q(STUDIO_NS, "tool")), key=tool.id, name=tool.name, tier=tool.tier.value,
             rateLimit=f"{limit.calls}/{format_duration(limit.per)}" if limit is not None else None,
             timeout=tool.timeout, credential=tool.credential, writes=list(tool.writes))
    for source in workflow.data_sources:
        _set(etree.SubElement(ext, _q(STUDIO_NS, "data")), key=source.id, system=source.system,
             freshness=source.freshness, pii=source.contains_pii)
    for actor in workflow.actors:
        if actor.id not in in_lanes:
            _actor_info(actor, ext)


@dataclass
class _Drawn:
    """What the diagram shows: every flow node, the lanes, which lane each node is in, the layout."""

    elements: list[Any]
    lanes: list[Any]
    lane_of: dict[str, str]
    layout: Any


class _Links:
    """Each flow node's incoming and outgoing sequence flows, and its default flow."""

    def __init__(self, flows: list[Any]) -> None:
        self.incoming: dict[str, list[str]] = {}
        self.outgoing: dict[str, list[str]] = {}
        self.default: dict[str, str] = {}
        for flow in flows:
            self.outgoing.setdefault(flow.source, []).append(flow.id)
            self.incoming.setdefault(flow.target, []).append(flow.id)
            if flow.default:
                self.default.setdefault(flow.source, flow.id)

    def write(self, element: etree._Element, element_id: str) -> None:
        for flow_id in self.incoming.get(element_id, []):
            etree.SubElement(element, bpmn("incoming")).text = flow_id
        for flow_id in self.outgoing.get(element_id, []):
            etree.SubElement(element, bpmn("outgoing")).text = flow_id


def _lane_set(process: etree._Element, name: str, drawn: _Drawn, exec_plan: ExecPlan) -> None:
    """One lane per actor (or kind), listing its flow nodes; a boundary timer sits in its activity's lane."""
    if not drawn.lanes:
        return
    lane_set = etree.SubElement(process, bpmn("laneSet"), id=f"LaneSet.{name}")
    for lane in drawn.lanes:
        element = etree.SubElement(lane_set, bpmn("lane"), id=f"Lane.{lane.key}", name=lane.name)
        _lane_extensions(lane, element)
        for item in drawn.elements:
            if drawn.lane_of.get(item.id) == lane.key:
                etree.SubElement(element, bpmn("flowNodeRef")).text = item.id
                for timer in exec_plan.timers:
                    if timer.on == item.id:
                        etree.SubElement(element, bpmn("flowNodeRef")).text = timer.id


def _steps(workflow: Workflow, process: etree._Element, nodes: list[Any], links: _Links) -> None:
    """The workflow's own steps and gateways as BPMN flow nodes."""
    for node in nodes:
        element = etree.SubElement(process, bpmn(_tag(workflow, node)), id=node.id, name=node.label)
        if node.kind in ("decision", "task", "approval", "subworkflow") and node.id in links.default:
            element.set("default", links.default[node.id])
        if node.kind in ("parallel", "join"):
            element.set("gatewayDirection", "Diverging" if node.kind == "parallel" else "Converging")
        if isinstance(node, Subworkflow):
            element.set("calledElement", _qname(node.ref or node.id))
        if node.description:
            etree.SubElement(element, bpmn("documentation")).text = node.description
        _node_extensions(workflow, node, element)
        links.write(element, node.id)
        if isinstance(node, Wait):
            _timer_definition(element, node.id, iso_duration(wait_mean(node)))


def _timer_definition(element: etree._Element, element_id: str, duration: str) -> None:
    """A ``timerEventDefinition`` whose ``timeDuration`` is the ISO-8601 duration as a Python string."""
    definition = etree.SubElement(element, bpmn("timerEventDefinition"), id=f"{element_id}.timer")
    text = etree.SubElement(definition, bpmn("timeDuration"), language=PYTHON_LANGUAGE)
    text.set(_q(XSI_NS, "type"), "bpmn:tFormalExpression")
    text.text = repr(duration)


def _helpers_and_timers(process: etree._Element, exec_plan: ExecPlan, links: _Links) -> None:
    """What the engine needs besides the steps: merging gateways, threshold scripts, SLA timers."""
    for helper in exec_plan.helpers:
        element = etree.SubElement(process, bpmn(helper.tag), id=helper.id)
        _set(element, name=helper.name, gatewayDirection=helper.direction, default=links.default.get(helper.id),
             scriptFormat="python" if helper.script is not None else None)
        helper_ext = etree.SubElement(element, bpmn("extensionElements"))
        _set(etree.SubElement(helper_ext, _q(STUDIO_NS, "helper")), of=helper.of, role=helper.role)
        if helper.decision is not None:
            _decision_info(helper.of, helper_ext)
        links.write(element, helper.id)
        if helper.script is not None:
            etree.SubElement(element, bpmn("script")).text = helper.script
    for timer in exec_plan.timers:
        element = etree.SubElement(process, bpmn("boundaryEvent"), id=timer.id, name=f"SLA {timer.duration}",
                                   attachedToRef=timer.on, cancelActivity="true")
        timer_ext = etree.SubElement(element, bpmn("extensionElements"))
        _set(etree.SubElement(timer_ext, _q(STUDIO_NS, "helper")), of=timer.of, role="sla")
        links.write(element, timer.id)
        _timer_definition(element, timer.id, timer.duration)


def _sequence_flows(process: etree._Element, flows: list[Any]) -> None:
    """Every sequence flow, with its Python condition and the studio's routing details."""
    for flow in flows:
        element = etree.SubElement(process, bpmn("sequenceFlow"), id=flow.id, sourceRef=flow.source,
                                   targetRef=flow.target)
        edge = flow.edge
        if flow.name is not None:
            element.set("name", flow.name)
        if edge is not None:
            if edge.label:
                element.set("name", edge.label)
            extras = {"default": edge.default, "maxRepeats": edge.max_repeats, "probability": edge.probability,
                      "when": edge.when}
            if any(v not in (None, False) for v in extras.values()):
                route = etree.SubElement(etree.SubElement(element, bpmn("extensionElements")),
                                         _q(STUDIO_NS, "route"))
                _set(route, default=edge.default,
                     maxRepeats=str(edge.max_repeats) if edge.max_repeats is not None else None,
                     probability=repr(edge.probability) if edge.probability is not None else None,
                     when=edge.when)
        if flow.python is not None:
            condition = etree.SubElement(element, bpmn("conditionExpression"), language=PYTHON_LANGUAGE)
            condition.set(_q(XSI_NS, "type"), "bpmn:tFormalExpression")
            condition.text = flow.python


def _diagram(root: etree._Element, name: str, drawn: _Drawn, exec_plan: ExecPlan) -> None:
    """The BPMN DI: the pool, lanes, shapes and edges with their waypoints."""
    layout, lanes, elements = drawn.layout, drawn.lanes, drawn.elements
    diagram = etree.SubElement(root, _q(BPMNDI_NS, "BPMNDiagram"), id=f"Diagram.{name}")
    plane = etree.SubElement(diagram, _q(BPMNDI_NS, "BPMNPlane"), id=f"Plane.{name}",
                             bpmnElement=f"Collaboration.{name}")
    _shape(plane, f"Participant.{name}", layout.pool, isHorizontal="true")
    for lane in lanes:
        _shape(plane, f"Lane.{lane.key}", layout.lanes[lane.key], isHorizontal="true")
    for item in elements:
        extra = {"isMarkerVisible": "true"} if item.kind == "decision" or getattr(item, "role", "") in (
            "merge", "threshold") else {}
        _shape(plane, item.id, layout.boxes[item.id], **extra)
    for timer in exec_plan.timers:
        _shape(plane, timer.id, layout.boxes[timer.id])
    for index, flow in enumerate(exec_plan.flows):
        shape = etree.SubElement(plane, _q(BPMNDI_NS, "BPMNEdge"), id=f"{flow.id}.di", bpmnElement=flow.id)
        for x, y in _waypoints(layout, flow.source, flow.target, index):
            etree.SubElement(shape, _q(DI_NS, "waypoint"), x=str(x), y=str(y))


def _decision_info(approval_id: str, ext: etree._Element) -> None:
    """The task data an approval's user task must set when it completes."""
    _set(etree.SubElement(ext, _q(STUDIO_NS, "decision")), field=f"{approval_id}_decision",
         note=f"{approval_id}_note", values=["approve", "reject", "send_back"])


def _shape(plane: etree._Element, element_id: str, box: _Box, **attrs: str) -> None:
    shape = etree.SubElement(plane, _q(BPMNDI_NS, "BPMNShape"), id=f"{element_id}.di", bpmnElement=element_id)
    for key, value in attrs.items():
        shape.set(key, value)
    etree.SubElement(shape, _q(DC_NS, "Bounds"), x=str(box.x), y=str(box.y), width=str(box.w), height=str(box.h))

