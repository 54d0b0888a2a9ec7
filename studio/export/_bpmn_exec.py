"""What a BPMN engine needs beyond the drawing: helper elements, Python conditions and the losses.

The studio's graph and BPMN's token rules differ in a few places. :func:`plan` works out, for a
workflow, the sequence flows (one per studio edge, ids unchanged) and the helper elements the
export adds so that SpiffWorkflow runs each case along the path the studio's simulator takes:

==================  ================================================================================
helper (id)         why
==================  ================================================================================
``X.merge``         exclusive gateway in front of a ``parallel`` node X with several incoming flows (a
                    parallel gateway would wait for a token on every one of them)
``J.merge.S``       exclusive gateway in front of a ``join`` J for the several flows that come from
                    one branch end S (a decision, or a step and its escalation): the studio's join
                    waits once per branch
``X.split``         parallel gateway after a step X with several outgoing edges (the studio runs them
                    all; SpiffWorkflow refuses several flows out of a task)
``X.threshold``     exclusive gateway in front of approval X with a ``threshold``: true -> the user
                    task, otherwise ``X.auto``
``X.auto``          script task that auto-approves (``X_decision = "approve"``, ``X_note``)
``X.sla``           interrupting timer boundary event (ISO-8601 duration) on a person's step with an
                    SLA and an escalation role
``X.escalated``     user task for the escalation role, in its lane, continuing where X continues
``X.sla.N``         for level N >= 2 of an escalation chain: the level's timer on ``X.escalated`` (level
                    2) or ``X.escalated.N-1``, leading to ``X.escalated.N`` for the level's role
==================  ================================================================================

Every helper carries ``<studio:helper of="X" role="..."/>`` so ``studio import`` folds it back.
Conditions on decision edges (and thresholds) become Python (:mod:`studio.export._bpmn_python`);
what cannot be kept becomes a :class:`~studio.errors.Finding`: ``B101`` (error: the export is
refused), ``B102``-``B107`` (warning/info: written, with the loss reported).
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from studio._names import unique
from studio.errors import Finding, Severity
from studio.export._bpmn_python import PythonCondition, condition_to_python
from studio.export._conditions import batched_steps, probability_only_branches
from studio.expr import ExpressionError
from studio.model import Approval, Edge, Wait, Workflow, escalation_chain, iso_duration, wait_mean

__all__ = ["ExecPlan", "Flow", "Helper", "Timer", "plan"]

GATEWAY_KINDS = frozenset({"decision", "parallel", "join"})


@dataclass
class Helper:
    """An element the export adds for execution (not a studio node)."""

    id: str
    tag: str  # exclusiveGateway | parallelGateway | scriptTask | userTask
    of: str
    role: str  # merge | split | threshold | auto | escalated
    kind: str  # layout kind: "gateway" or "step"
    actor: str | None = None
    name: str | None = None
    script: str | None = None
    direction: str | None = None
    decision: str | None = None  # the task data field an escalated approval sets


@dataclass
class Flow:
    id: str
    source: str
    target: str
    edge: Edge | None = None
    python: str | None = None  # the condition as Python (decision edges, threshold)
    default: bool = False
    name: str | None = None


@dataclass
class Timer:
    id: str
    of: str  # the studio node
    duration: str  # ISO-8601
    seconds: float
    on: str  # the activity it is attached to: the node, or the escalation task of the level before


@dataclass
class ExecPlan:
    flows: list[Flow] = field(default_factory=list)
    helpers: list[Helper] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def refusals(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    @property
    def losses(self) -> list[Finding]:
        return [f for f in self.findings if not f.is_error]


def _escalations(node: Any, chain: tuple[tuple[float, str], ...], where: str
                 ) -> tuple[list[tuple[Timer, Helper, str]], Finding]:
    """A person's step's escalation chain: per level an interrupting timer on whoever holds the step (the
    step, then each level's task) and the user task for the level's role it hands the step to."""
    levels: list[tuple[Timer, Helper, str]] = []
    holder = node.id
    for level, (seconds, role) in enumerate(chain, start=1):
        suffix = "" if level == 1 else f".{level}"
        label = f"{node.label} (escalated)" if level == 1 else f"{node.label} (escalated, level {level})"
        timer = Timer(f"{node.id}.sla{suffix}", node.id, iso_duration(seconds), seconds, holder)
        escalated = Helper(f"{node.id}.escalated{suffix}", "userTask", node.id, "escalated", "step", actor=role,
                           name=label, decision=f"{node.id}_decision" if isinstance(node, Approval) else None)
        levels.append((timer, escalated, role))
        holder = escalated.id
    roles = " then ".join(f"`{role}`" for _, role in chain)
    timers = ", ".join(iso_duration(seconds) for seconds, _ in chain)
    what = (f"the SLA of `{node.id}` is an interrupting timer ({timers}) that hands the step to {roles}"
            if len(chain) == 1 else
            f"the escalation chain of `{node.id}` is one interrupting timer per level ({timers}), each on the "
            f"task holding the step, handing it to {roles}")
    return levels, Finding(
        "B103", Severity.INFO, where,
        f"{what} when it is not done in time; the studio escalates when it has not started in time",
        "expect escalations a little more often on the engine than in the simulation")


def _assign(values: dict[str, str]) -> str:
    """A Python script setting task data fields (``globals()[...]`` for ids that are not identifiers)."""
    lines = []
    for name, value in values.items():
        target = name if name.isidentifier() and not keyword.iskeyword(name) else f"globals()[{name!r}]"
        lines.append(f"{target} = {value!r}")
    return "\n".join(lines) + "\n"


def _translate(text: str, where: str, what: str, out: list[Finding]) -> PythonCondition | None:
    try:
        return condition_to_python(text)
    except (ExpressionError, ValueError) as exc:
        detail = exc.message if isinstance(exc, ExpressionError) else str(exc)
        out.append(Finding("B101", Severity.ERROR, where, f"{what} `{text}` cannot be written as Python for the "
                           f"BPMN engine: {detail}", "fix the condition (see docs/conditions.md)"))
        return None


def _first_true(before: list[str], condition: str) -> str:
    """A branch's condition as the studio takes branches, first true in edge order, whatever order an
    engine evaluates a gateway's flows in (SpiffWorkflow goes by the targets' places in the diagram):
    the earlier conditions are false and this one is true. Python's ``and`` evaluates them in edge
    order, so a condition that cannot be evaluated fails the case where the studio's would."""
    if not before:
        return condition
    return " and ".join([*(f"not ({text})" for text in before), f"({condition})"])


def plan(workflow: Workflow, nodes: list[Any], edges: list[Edge], flow_ids: list[str]) -> ExecPlan:  # noqa: C901, PLR0912, PLR0915 - one pass over the nodes, a branch per node kind
    """Flows, helpers, timers and findings for ``nodes``/``edges`` (already de-duplicated)."""
    out = ExecPlan()
    by_id = {n.id: n for n in nodes}
    # locations are positions in the workflow file (``nodes``/``edges`` may leave repeats out)
    node_at = {id(n): f"nodes[{i}]" for i, n in enumerate(workflow.nodes)}
    edge_at = {id(e): f"edges[{i}]" for i, e in enumerate(workflow.edges)}
    actors = workflow.index.actors  # the first of repeated ids, as the validator reads
    flows = [Flow(flow_id, edge.source, edge.target, edge, default=edge.default)
             for edge, flow_id in zip(edges, flow_ids, strict=True)]
    translated: list[tuple[PythonCondition, str, str, str]] = []  # condition, location, what, text
    earlier: dict[str, list[str]] = {}  # decision -> its conditions so far, in edge order
    for edge, flow in zip(edges, flows, strict=True):
        if edge.when is not None and by_id[edge.source].kind == "decision":
            where = edge_at[id(edge)]
            what = f"the condition of edge `{edge.source}` -> `{edge.target}`"
            condition = _translate(edge.when, where, what, out.findings)
            if condition is not None:
                before = earlier.setdefault(edge.source, [])
                flow.python = _first_true(before, condition.text)
                before.append(condition.text)
                translated.append((condition, where, what, edge.when))
    taken = {f.id for f in flows}

    def new_flow(source: str, target: str, **kwargs: Any) -> Flow:
        flow = Flow(unique(f"Flow.{source}.{target}", taken, "."), source, target, **kwargs)
        flows.append(flow)
        return flow

    # a step with several outgoing edges forks them all
    continuation: dict[str, str] = {}
    for node in nodes:
        if node.kind in GATEWAY_KINDS or node.kind == "end":
            continue
        leaving = [f for f in flows if f.source == node.id]
        if len(leaving) == 1:
            continuation[node.id] = leaving[0].target
        elif len(leaving) > 1:
            split = Helper(f"{node.id}.split", "parallelGateway", node.id, "split", "gateway", direction="Diverging")
            out.helpers.append(split)
            for flow in leaving:
                flow.source = split.id
                flow.default = False
            new_flow(node.id, split.id)
            continuation[node.id] = split.id

    # thresholds and escalations
    for node in nodes:
        after = continuation.get(node.id)
        if isinstance(node, Approval) and node.threshold is not None:
            where = f"{node_at[id(node)]}.threshold"
            condition = _translate(node.threshold, where, f"the threshold of approval `{node.id}`", out.findings)
            gate = Helper(f"{node.id}.threshold", "exclusiveGateway", node.id, "threshold", "gateway",
                          actor=node.actor, name=f"{node.label}: approval needed?", direction="Diverging")
            note = f"auto-approved: `{node.threshold}` is false"
            auto = Helper(f"{node.id}.auto", "scriptTask", node.id, "auto", "step", actor=node.actor,
                          name=f"{node.label}: auto-approved",
                          script=_assign({f"{node.id}_decision": "approve", f"{node.id}_note": note}))
            out.helpers += [gate, auto]
            for flow in flows:
                if flow.target == node.id:
                    flow.target = gate.id
            new_flow(gate.id, node.id, python=condition.text if condition is not None else None,
                     name="approval needed")
            new_flow(gate.id, auto.id, default=True, name="auto-approve")
            if after is not None:
                new_flow(auto.id, after)
            if condition is not None:
                translated.append((condition, where, f"the threshold of approval `{node.id}`", node.threshold))
        chain = escalation_chain(node, actors, workflow.policies)
        if chain and after is not None:
            levels, finding = _escalations(node, chain, node_at[id(node)])
            for timer, escalated, role in levels:
                out.timers.append(timer)
                out.helpers.append(escalated)
                new_flow(timer.id, escalated.id, name=f"escalate to {role}")
                new_flow(escalated.id, after)
            out.findings.append(finding)

    # merges: a parallel gateway waits for every incoming flow, a join once per branch
    owner = {h.id: h.of for h in out.helpers} | {t.id: t.of for t in out.timers}
    for node in nodes:
        if node.kind not in ("parallel", "join"):
            continue
        arriving = [f for f in flows if f.target == node.id]
        groups: dict[str, list[Flow]] = {}
        if node.kind == "parallel":
            groups = {"": arriving} if len(arriving) > 1 else {}
        else:
            for flow in arriving:
                groups.setdefault(owner.get(flow.source, flow.source), []).append(flow)
        for branch, group in groups.items():
            if len(group) < 2:
                continue
            merge_id = f"{node.id}.merge" if not branch else f"{node.id}.merge.{branch}"
            out.helpers.append(Helper(merge_id, "exclusiveGateway", node.id, "merge", "gateway",
                                      direction="Converging"))
            for flow in group:
                flow.target = merge_id
            new_flow(merge_id, node.id)

    # a field named like a builtin the conditions call would hide it in the engine
    called = set().union(*(c.builtins for c, *_ in translated)) if translated else set()
    for condition, where, what, text in translated:
        for name in sorted(condition.fields & called):
            out.findings.append(Finding(
                "B101", Severity.ERROR, where, f"{what} `{text}` reads the field `{name}`, which would hide Python's "
                f"`{name}` that the exported conditions call", f"rename the field `{name}`"))

    # loop guards have no place in plain BPMN
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(by_id)
    graph.add_edges_from((e.source, e.target) for e in edges)
    looping = not nx.is_directed_acyclic_graph(graph)
    policies = workflow.policies
    if looping and policies.max_repeats is not None:
        out.findings.append(Finding(
            "B102", Severity.WARNING, "policies.max_repeats", f"the loop guard (a transition at most "
            f"{policies.max_repeats} times) is kept in the studio extension but BPMN engines do not enforce it",
            "enforce it in the control plane, or model a counter and a decision in the loop"))
    for edge in edges:
        if edge.max_repeats is not None:
            out.findings.append(Finding(
                "B102", Severity.WARNING, edge_at[id(edge)], f"the loop guard of edge `{edge.source}` -> "
                f"`{edge.target}` (at most {edge.max_repeats} times) is not enforced by BPMN engines",
                "enforce it in the control plane, or model a counter and a decision in the loop"))
    if looping or nx.dag_longest_path_length(graph) + 1 > policies.max_turns:
        out.findings.append(Finding(
            "B102", Severity.WARNING, "policies.max_turns", f"the limit of {policies.max_turns} steps per case is "
            "kept in the studio extension but BPMN engines do not enforce it",
            "enforce it in the control plane"))
    for index, edge in probability_only_branches(workflow):
        out.findings.append(Finding(
            "B105", Severity.WARNING, f"edges[{index}]",
            f"edge `{edge.source}` -> `{edge.target}` is taken with probability {edge.probability:g} in simulation "
            "but has no condition; BPMN engines evaluate conditions, not probabilities, so the engine never "
            "takes this flow (the probability is kept in the studio extension)",
            "add `when:` with the condition a real case takes this branch on"))
    for index, node, what in batched_steps(workflow):
        out.findings.append(Finding(
            "B106", Severity.WARNING, f"nodes[{index}].batch",
            f"at `{node.id}` {what} in simulation; BPMN has no batching, so the engine does each case's "
            "task as it arrives", "collect the cases in the engine's task list or a scheduled job, or expect "
            "shorter waits there than the simulation shows"))
    for node in nodes:
        if isinstance(node, Wait) and node.fixed_delay is None:
            out.findings.append(Finding(
                "B107", Severity.WARNING, node_at[id(node)],
                f"wait `{node.id}` waits `{node.timer_text}` in simulation; a BPMN timer waits a fixed time, so it "
                f"waits the expected {iso_duration(wait_mean(node))} (the exact timer is kept in the studio "
                "extension)", "give the wait a fixed `delay` if the engine must wait as the simulator does"))
        if node.kind == "subworkflow":
            out.findings.append(Finding(
                "B104", Severity.WARNING, node_at[id(node)],
                f"subworkflow `{node.id}` is a call activity; it runs only when the engine also has the "
                f"process `{getattr(node, 'ref', None) or node.id}`",
                "export the referenced workflow too and deploy both"))
    out.flows = flows
    return out
