"""The control-plane definition: what the production control plane must enforce, with evidence.

``to_controlplane(workflow)`` validates the workflow (refusing one with error findings, or with
warnings when ``strict``) and builds a :class:`ControlPlaneDefinition`::

    apiVersion: controlplane.studio/v1
    kind: AgentWorkflow
    metadata:  name, version, owner, content_hash (sha256 of the canonical JSON of `spec`)
    spec:      nodes, routes (conditions as text in the safe language), agents (declared and
               effective autonomy, typed outputs), systems, tools, human_roles, oversight
               (approvals with their gates, critical actions with ungated paths), guardrails,
               data_bindings, audit; deployment bindings as `${NAME}` placeholders
    evidence:  generator, validation report, simulation KPIs (when a results folder is given),
               the gold gate, sha256 of every input file

Where people sit between agents and critical tools is worked out in :mod:`._oversight`.

The JSON Schema of the document is generated from these models (:func:`controlplane_schema`) and
committed as ``schemas/controlplane.schema.json``, so a pipeline checks a definition without
Python. Durations are seconds as numbers (``*_seconds`` fields). Output is deterministic: sorted
keys, no timestamps, no absolute paths; the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

from studio import fileio
from studio import graph as g
from studio.errors import Finding, LoadError, Severity, WorkflowInvalid, has_errors
from studio.export import _oversight as ov
from studio.model import (
    Agent,
    Approval,
    Batch,
    Calendar,
    Human,
    Subworkflow,
    System,
    Task,
    Tier,
    Wait,
    Workflow,
    distribution_mean,
    escalation_chain,
    step_sla,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_MIN_GOLD_PASS",
    "KIND",
    "PLACEHOLDER_PATTERN",
    "SCHEMA_ID",
    "ControlPlaneDefinition",
    "build_definition",
    "canonical_json",
    "content_hash",
    "controlplane_schema",
    "dumps_definition",
    "export_controlplane",
    "placeholder",
    "schema_text",
    "to_controlplane",
]

API_VERSION = "controlplane.studio/v1"
KIND = "AgentWorkflow"
SCHEMA_ID = "https://workflow-design-studio.dev/schemas/controlplane.schema.json"
AUDIT_FORMAT = "jsonl"

NodeKind = Literal["start", "end", "task", "approval", "decision", "parallel", "join", "subworkflow", "wait"]
ActorKind = Literal["agent", "human", "system"]
TierName = Literal["read_only", "restricted_write", "critical"]
AutonomyName = Literal["fully_autonomous", "human_in_the_loop", "human_on_the_loop"]
Seconds = Annotated[float, Field(ge=0, description="A duration in seconds.")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Ids = Annotated[list[str], Field(description="Ids, in workflow order.")]
PLACEHOLDER_PATTERN = r"^\$\{[A-Z][A-Z0-9_]*\}$"
Placeholder = Annotated[
    str,
    Field(
        pattern=PLACEHOLDER_PATTERN,
        description="A deployment binding the pipeline substitutes: `${NAME}`, NAME in upper case "
        "letters, digits and `_` (docs/controlplane.md: placeholders).",
    ),
]
FieldType = Literal["string", "number", "integer", "boolean", "null", "array", "object", "unknown"]
DEFAULT_MIN_GOLD_PASS = 1.0
ENUM_MAX_VALUES = 10


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, json_schema_serialization_defaults_required=True
    )


# --------------------------------------------------------------------------- metadata


class DefinitionMetadata(_Model):
    name: str = Field(description="Workflow name (an identifier).")
    version: str = Field(description="Semantic version of the workflow.")
    owner: str | None = Field(description="Who answers for this workflow.")
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    content_hash: str = Field(
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="`sha256:` + hex digest of `spec` as canonical JSON (sorted keys, separators `,` and `:`).",
    )
    source_api_version: str = Field(description="apiVersion of the workflow file this was exported from.")


# --------------------------------------------------------------------------- spec: the graph


class QueuePrioritySpec(_Model):
    """One rule of the order people's work queues serve cases in (``simulation.priority``)."""

    condition: str | None = Field(description="On the case's data as it arrives; null: every case left.")
    condition_fields: list[str] = Field(description="Case fields the condition reads.")
    level: int = Field(description="A higher level is served first; cases no rule matches are level 0.")


class BatchSpec(_Model):
    size: int = Field(description="The node starts when this many cases wait for it.")
    timeout_seconds: Seconds | None = Field(
        description="It starts with fewer when the oldest waiting case has waited this long (null: only when full)."
    )


class CalendarSpec(_Model):
    days: list[str]
    hours: str
    timezone: str


class ShiftSpec(_Model):
    days: list[str] = Field(description="Weekdays these ranges apply to (`mon` ... `sun`).")
    hours: list[str] = Field(
        description="Working ranges of each of these days, in order (`09:00-12:00`); one that ends before it "
        "starts runs past midnight into the next day."
    )


class ShiftCalendarSpec(_Model):
    """Working time that differs by day (the workflow's calendar `shifts`)."""

    shifts: list[ShiftSpec]
    timezone: str


class TimerSpec(_Model):
    """When a `wait` node lets the case go on; nobody and nothing is held while it waits."""

    delay_seconds: Seconds | None = Field(
        description="Wait this long: the fixed delay, or the mean of a drawn one (see `distribution`).")
    distribution: str | None = Field(
        description="The delay's distribution in simulation (`exponential`, `uniform`, ...); null when fixed. "
        "The control plane waits `delay_seconds`, the mean.")
    until: CalendarSpec | ShiftCalendarSpec | None = Field(
        description="Wait until these hours next open (no wait while they are open).")


class NodeSpec(_Model):
    id: str
    kind: NodeKind
    name: str | None = None
    description: str | None = None
    actor: str | None = Field(default=None, description="Actor performing the node (tasks, approvals).")
    actor_kind: ActorKind | None = None
    tools: Ids = Field(default_factory=list, description="Tools this node calls through the gateway.")
    tier: TierName | None = Field(default=None, description="Highest tier among the node's tools.")
    reads: Ids = Field(default_factory=list, description="Data bindings read.")
    writes: Ids = Field(default_factory=list, description="Data bindings written.")
    outputs: list[str] = Field(default_factory=list, description="Case fields the node produces.")
    validates: bool = Field(default=False, description="The node is a control point that checks earlier work.")
    subworkflow: str | None = Field(default=None, description="Referenced workflow (subworkflow nodes).")
    outcome: str | None = Field(default=None, description="Outcome recorded when a case ends here (end nodes).")
    batch: BatchSpec | None = Field(
        default=None, exclude_if=lambda value: value is None,
        description="Cases are collected and done together, once per batch (absent: one case at a time).",
    )
    timer: TimerSpec | None = Field(default=None, exclude_if=lambda timer: timer is None,
                                    description="Wait nodes: how long, or until when (written on them only).")


class RouteSpec(_Model):
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    condition: str | None = Field(default=None, description="Condition in the studio's safe expression language.")
    condition_fields: list[str] = Field(default_factory=list, description="Case fields the condition reads.")
    default: bool = Field(default=False, description="Taken when no other condition of the decision holds.")
    label: str | None = None
    max_repeats: int | None = Field(
        default=None, description="Loop guard for this transition (edge setting, else the policy; null: none)."
    )


# --------------------------------------------------------------------------- spec: actors and tools


class CriticalReachSpec(_Model):
    node: str = Field(description="The agent's step.")
    critical_node: str = Field(description="The critical step it leads to (may be the agent's own step).")
    tools: Ids = Field(description="Critical tools that step calls.")
    path: list[str] = Field(
        description="Witness: node ids from the agent's step to the critical step with no person in between "
        "(for the agent's own critical step: from the start)."
    )
    skippable_approvals: Ids = Field(
        default_factory=list, description="Approvals with a threshold on the path (they auto-approve below it)."
    )
    when: str | None = Field(
        default=None, description="Cases that pass no person on this path (null: every case that takes it)."
    )


class OutputFieldSpec(_Model):
    node: str = Field(description="Node producing the field.")
    name: str = Field(description="Case field.")
    type: FieldType = Field(description="JSON type seen in the sample data (`unknown`: no sample values).")
    enum: list[str | int | float | bool] | None = Field(
        default=None, description="The values observed in the sample data, when few."
    )
    nullable: bool = Field(default=False, description="Some sample cases have no value.")
    source: Literal["sample_data", "none"] = Field(
        description="`sample_data`: typed from the workflow's sample data; `none`: the data lacks the field."
    )


class AgentSpec(_Model):
    id: str
    name: str | None = None
    owner: str | None = None
    capability: str | None = Field(description="Agent-registry capability.")
    version: str | None = Field(description="Pinned agent-registry version.")
    model: str | None = Field(default=None, description="Model label.")
    prompt_template: str | None = Field(default=None, description="Prompt template reference.")
    allowed_tools: Ids = Field(default_factory=list, description="Tools the gateway lets this agent call.")
    autonomy: AutonomyName = Field(description="Declared autonomy level (the agent's own, else the policy default).")
    effective_autonomy: AutonomyName = Field(
        description="What the graph allows: `human_on_the_loop` when a declared `human_in_the_loop` agent "
        "reaches a critical step with no person in between (see `reaches_critical_without_person`), else "
        "the declared level."
    )
    reaches_critical_without_person: list[CriticalReachSpec] = Field(
        default_factory=list, description="Critical steps this agent's steps lead to with no person in between."
    )
    nodes: Ids = Field(default_factory=list, description="Nodes this agent performs.")
    outputs: list[OutputFieldSpec] = Field(
        default_factory=list, description="Case fields the agent's nodes produce, with their types."
    )


class SystemSpec(_Model):
    id: str
    name: str | None = None
    owner: str | None = None
    allowed_tools: Ids = Field(default_factory=list)
    nodes: Ids = Field(default_factory=list)


class RateLimitSpec(_Model):
    calls: int = Field(ge=1)
    per_seconds: Seconds


class ToolSpec(_Model):
    id: str
    name: str | None = None
    description: str | None = None
    tier: TierName = Field(description="Permission tier at the tool gateway.")
    rate_limit: RateLimitSpec | None = None
    timeout_seconds: Seconds | None = None
    credential_secret: str | None = Field(
        default=None, description="Name of the secret the gateway binds; never the secret itself."
    )
    writes: Ids = Field(default_factory=list, description="Data bindings the tool writes.")
    requires_approval: bool = Field(description="Critical tier: runs only after an approval on every path.")
    allowed_for: Ids = Field(default_factory=list, description="Agents and systems allowed to call the tool.")
    used_by_nodes: Ids = Field(default_factory=list)
    endpoint: Placeholder = Field(description="Where the gateway reaches the tool: `${TOOL_<ID>_URL}`.")


def calendar_spec(calendar: Calendar | None) -> CalendarSpec | ShiftCalendarSpec | None:
    if calendar is None:
        return None
    if calendar.shifts:
        return ShiftCalendarSpec(
            shifts=[ShiftSpec(days=[d.value for d in s.days], hours=s.hours.split(",")) for s in calendar.shifts],
            timezone=calendar.timezone,
        )
    return CalendarSpec(days=[d.value for d in calendar.days], hours=calendar.hours, timezone=calendar.timezone)


class HumanRoleSpec(_Model):
    id: str
    name: str | None = None
    owner: str | None = None
    role: str | None = None
    pool_size: int = Field(ge=1, description="How many people share the work.")
    calendar: CalendarSpec | ShiftCalendarSpec | None = None
    nodes: Ids = Field(default_factory=list)
    identity_group: Placeholder = Field(
        description="Identity-provider group whose members do this role's work: `${HUMAN_<ID>_GROUP}`."
    )


# --------------------------------------------------------------------------- spec: oversight


class EscalationLevelSpec(_Model):
    role: str = Field(description="Human role the step is handed to at this level.")
    after_seconds: Seconds = Field(
        description="Seconds the holder (level 1: the step's own role, else the previous level's) has to start the "
        "step, counted from when it was handed to them, before this level hands it on."
    )


class GateConditionSpec(_Model):
    source: str = Field(alias="from", description="The step before (walking back through gateways).")
    via: Ids = Field(default_factory=list, description="Gateways between that step and the approval.")
    when: str | None = Field(
        description="Condition (safe condition language) under which a case takes this route; earlier routes of "
        "a decision win and a default route holds when the others do not. Null: always."
    )


class ApprovalSpec(_Model):
    node: str
    name: str | None = None
    approver: str | None = Field(description="Human role that decides.")
    reviews: Ids = Field(default_factory=list, description="Nodes whose work is approved.")
    threshold: str | None = Field(default=None, description="Condition under which approval is needed.")
    gated_above: str | None = Field(
        default=None, description="A person decides only when this holds (the threshold); below it the approval "
        "auto-approves. Null: a person always decides."
    )
    gate_conditions: list[GateConditionSpec] = Field(
        default_factory=list, description="The routes into the approval and the conditions on them."
    )
    sla_seconds: Seconds | None = Field(description="SLA (the node's, else the policy's approval SLA).")
    escalation_chain: Ids = Field(default_factory=list, description="Roles escalated to, in order, past the SLA.")
    escalation_levels: list[EscalationLevelSpec] = Field(
        default_factory=list, description="The escalation chain with each level's time (level 1's is the SLA)."
    )
    decision_field: str = Field(description="Case field recording approve / reject / send_back.")
    decision_values: list[Literal["approve", "reject", "send_back"]] = Field(
        description="The values of `decision_field`."
    )
    gates: Ids = Field(default_factory=list, description="Critical nodes downstream that this approval precedes.")


class HumanTaskSpec(_Model):
    node: str
    name: str | None = None
    role: str | None = None
    sla_seconds: Seconds | None = None
    escalation_chain: Ids = Field(default_factory=list)
    escalation_levels: list[EscalationLevelSpec] = Field(default_factory=list)


class UngatedPathSpec(_Model):
    path: list[str] = Field(description="Node ids from the start to the critical node.")
    skippable_approvals: Ids = Field(
        default_factory=list, description="Approvals with a threshold on the path (they auto-approve below it)."
    )
    when: str | None = Field(description="Cases that take this path unapproved (null: every case that takes it).")


class CriticalActionSpec(_Model):
    node: str
    tools: Ids
    approvals: Ids = Field(description="Approvals that can precede the node.")
    gated_on_every_path: bool = Field(description="True when every path from the start passes an approval first.")
    ungated_paths: list[UngatedPathSpec] = Field(
        default_factory=list, description="Ways from the start to the node past no approval that always runs "
        "(one witness per incoming route); empty: a person approves every case first."
    )


class OversightSpec(_Model):
    approvals: list[ApprovalSpec] = Field(default_factory=list)
    human_tasks: list[HumanTaskSpec] = Field(default_factory=list)
    critical_actions: list[CriticalActionSpec] = Field(default_factory=list)
    default_approval_sla_seconds: Seconds | None = None
    default_escalate_to: str | None = None
    default_escalation: list[EscalationLevelSpec] = Field(
        default_factory=list, description="The policy's escalation chain (`policies.escalation`), level by level."
    )


class TransitionLimitSpec(_Model):
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    max_repeats: int = Field(ge=1)


class LoopDetectionSpec(_Model):
    enabled: bool = Field(description="Repeated transitions are counted and capped.")
    max_repeats_per_transition: int | None = Field(description="Policy default; null disables the guard.")
    transition_limits: list[TransitionLimitSpec] = Field(default_factory=list, description="Per-edge overrides.")
    cycles: list[list[str]] = Field(default_factory=list, description="Loops in the graph (node ids).")


class GuardrailsSpec(_Model):
    max_turns: int = Field(ge=1, description="Steps a case may take before it is stopped.")
    max_repeats: int | None = Field(description="Max repeats of one transition per case; null: no guard.")
    retries: int = Field(ge=0, description="Retries of a failed step.")
    autonomy: AutonomyName = Field(description="Default autonomy level.")
    loop_detection: LoopDetectionSpec


class DataBindingSpec(_Model):
    id: str
    system: str | None = None
    description: str | None = None
    freshness_seconds: Seconds | None = None
    contains_pii: bool = False
    read_by: Ids = Field(default_factory=list)
    written_by: Ids = Field(default_factory=list)
    written_by_tools: Ids = Field(default_factory=list)


class AuditSpec(_Model):
    enabled: bool
    format: Literal["jsonl"] = Field(description="One JSON record a line.")
    record_fields: list[str] = Field(description="Fields of every audit record.")
    retention_seconds: Seconds | None = None
    sink: Placeholder = Field(description="Where audit records go: `${AUDIT_SINK_URL}`.")


class Spec(_Model):
    start: str | None = Field(description="The start node.")
    nodes: list[NodeSpec]
    routes: list[RouteSpec]
    agents: list[AgentSpec]
    systems: list[SystemSpec]
    tools: list[ToolSpec]
    human_roles: list[HumanRoleSpec]
    oversight: OversightSpec
    guardrails: GuardrailsSpec
    data_bindings: list[DataBindingSpec]
    audit: AuditSpec
    queue_priority: list[QueuePrioritySpec] | None = Field(
        default=None, exclude_if=lambda value: value is None,
        description="The order busy people serve cases in: the first rule that holds gives a case its level, "
        "highest served first, never interrupting work in progress (absent: first come, first served).",
    )


# --------------------------------------------------------------------------- evidence


class GeneratorInfo(_Model):
    name: str
    version: str


class FindingRecord(_Model):
    code: str
    severity: Literal["error", "warning", "info"]
    location: str
    message: str
    hint: str = ""
    line: int | None = None


class ValidationEvidence(_Model):
    passed: bool = Field(description="No error findings (and no warnings when strict).")
    strict: bool
    errors: int = Field(ge=0)
    warnings: int = Field(ge=0)
    info: int = Field(ge=0)
    rules: list[str] = Field(description="Codes of the rules that ran.")
    findings: list[FindingRecord]


class SimulationEvidence(_Model):
    kpis: dict[str, Any] = Field(description="The simulator's `kpis.json`, as written.")
    gold_pass_rate: float | None = Field(description="Share of gold cases that passed, when gold cases ran.")
    gold: Any = Field(default=None, description="The simulator's `gold.json`, when present.")


InputRole = Literal["workflow", "sample_data", "gold_data", "kpis", "gold_results"]


class InputDigest(_Model):
    role: InputRole
    name: str = Field(description="File name as the workflow refers to it (never an absolute path); for a "
                                  "workflow edited in memory, `<name>.yaml` and the digest of its canonical YAML.")
    sha256: Sha256


class GoldGateEvidence(_Model):
    min_pass_rate: float = Field(
        ge=0, le=1, description="Minimum share of gold cases that must pass (`studio simulate --gold --min-pass`)."
    )
    source: Literal["default", "given"] = Field(description="`default` (1.0) or given to the export.")
    gold_pass_rate: float | None = Field(description="The evidence's gold pass rate (null: no gold results).")
    passed: bool | None = Field(description="gold_pass_rate >= min_pass_rate (null: no gold results).")


class Evidence(_Model):
    generator: GeneratorInfo
    validation: ValidationEvidence
    simulation: SimulationEvidence | None = None
    gold_gate: GoldGateEvidence = Field(description="The gold-case gate the evidence was checked against.")
    inputs: list[InputDigest]


class ControlPlaneDefinition(_Model):
    """A versioned workflow definition for the control plane (`kind: AgentWorkflow`)."""

    model_config = ConfigDict(title="AgentWorkflow definition")

    api_version: Literal["controlplane.studio/v1"] = Field(alias="apiVersion")
    kind: Literal["AgentWorkflow"]
    metadata: DefinitionMetadata
    spec: Spec
    evidence: Evidence


# --------------------------------------------------------------------------- hashing and text


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the text the content hash is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(spec: Spec | Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of a spec."""
    data = spec.model_dump(mode="json", by_alias=True) if isinstance(spec, Spec) else spec
    return "sha256:" + hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dumps_definition(definition: ControlPlaneDefinition, fmt: str = "json") -> str:
    """The definition as ``json`` (2-space indent) or ``yaml`` text, keys sorted, ending in a newline."""
    data = fileio.sort_keys(definition.model_dump(mode="json", by_alias=True))
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if fmt != "yaml":
        raise ValueError(f"unknown format `{fmt}`; use `json` or `yaml`")
    return fileio.dump_yaml(data)


def controlplane_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of a control-plane definition, generated from the models."""
    schema = ControlPlaneDefinition.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["description"] = (
        "A workflow of AI agents, people and approvals exported by Workflow Design Studio for the control "
        "plane: the graph, actors with version pins, tools with permission tiers, oversight, guardrails, "
        "audit settings, and the evidence that it was validated and simulated. Durations are in seconds."
    )
    return schema


def schema_text() -> str:
    """The committed text of ``schemas/controlplane.schema.json``."""
    return json.dumps(controlplane_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- building the spec


def _escalation(node: Task | Approval, workflow: Workflow) -> dict[str, Any]:
    """A person's step's SLA and escalation chain, as the simulator walks it (model.escalation_chain)."""
    chain = escalation_chain(node, workflow.index.actors, workflow.policies)
    return {
        "sla_seconds": step_sla(node, workflow.policies),
        "escalation_chain": [role for _, role in chain],
        "escalation_levels": [EscalationLevelSpec(role=role, after_seconds=after) for after, role in chain],
    }


def _node_spec(workflow: Workflow, node: Any, tiers: Mapping[str, Tier]) -> NodeSpec:
    actor = workflow.actor_of(node.id)
    tools = list(getattr(node, "tools", []) or [])
    tier = tiers.get(node.id)
    return NodeSpec(
        id=node.id,
        kind=node.kind,
        name=node.name,
        description=node.description,
        actor=getattr(node, "actor", None),
        actor_kind=actor.kind if actor is not None else None,
        tools=tools,
        tier=tier.value if tier is not None else None,
        reads=list(getattr(node, "reads", []) or []),
        writes=list(getattr(node, "writes", []) or []),
        outputs=sorted(g.node_outputs(node)) if isinstance(node, Approval) else list(getattr(node, "outputs", [])),
        validates=bool(getattr(node, "validates", False)),
        subworkflow=node.ref if isinstance(node, Subworkflow) else None,
        outcome=getattr(node, "outcome", None),
        batch=_batch_spec(getattr(node, "batch", None)),
        timer=_timer_spec(node) if isinstance(node, Wait) else None,
    )


def _timer_spec(node: Wait) -> TimerSpec:
    delay, until = node.delay, node.until
    return TimerSpec(
        delay_seconds=distribution_mean(delay) if delay is not None else None,
        distribution=None if delay is None or node.fixed_delay is not None else delay.dist,
        until=calendar_spec(until),
    )


def _batch_spec(batch: Batch | None) -> BatchSpec | None:
    return BatchSpec(size=batch.size, timeout_seconds=batch.timeout) if batch is not None else None


def _route_specs(workflow: Workflow) -> list[RouteSpec]:
    from studio.expr import check, parse  # noqa: PLC0415

    policy = workflow.policies.max_repeats
    routes = []
    for edge in workflow.edges:
        fields: list[str] = []
        if edge.when is not None and check(edge.when) is None:
            fields = sorted(parse(edge.when).variables())
        routes.append(
            RouteSpec(
                source=edge.source,
                target=edge.target,
                condition=edge.when,
                condition_fields=fields,
                default=edge.default,
                label=edge.label,
                max_repeats=edge.max_repeats if edge.max_repeats is not None else policy,
            )
        )
    return routes


def _agent_specs(workflow: Workflow, graph: nx.DiGraph, outputs: Mapping[str, list[OutputFieldSpec]]
                 ) -> list[AgentSpec]:
    specs = []
    for item in ov.agent_autonomy(workflow, graph):
        actor, nodes = item.agent, item.nodes
        reaches = [
            CriticalReachSpec(node=r.node, critical_node=r.critical, tools=list(r.tools), path=list(r.path),
                              skippable_approvals=list(r.skippable), when=r.when)
            for r in item.reaches
        ]
        specs.append(
            AgentSpec(
                id=actor.id,
                name=actor.name,
                owner=actor.owner,
                capability=actor.capability,
                version=actor.version,
                model=actor.model,
                prompt_template=actor.prompt,
                allowed_tools=list(actor.tools),
                autonomy=item.declared.value,
                effective_autonomy=item.effective.value,
                reaches_critical_without_person=reaches,
                nodes=nodes,
                outputs=[field for node in nodes for field in outputs.get(node, [])],
            )
        )
    return specs


# --------------------------------------------------------------------------- output types and placeholders


def _sample_rows(workflow: Workflow) -> list[dict[str, Any]] | None:
    """The rows of the workflow's own sample data, when the file is there and readable."""
    try:
        cases = fileio.workflow_cases(workflow)
    except LoadError:
        return None
    return list(cases.rows) if cases is not None else None


def _json_type(value: Any) -> FieldType:  # noqa: PLR0911 - one return per JSON type
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "unknown"


def _field_type(node: str, name: str, rows: Sequence[Mapping[str, Any]] | None) -> OutputFieldSpec:
    """A field's type from the sample data: the JSON type of its values (integers and numbers mixed
    are `number`), with the values as an enum when there are few and they repeat."""
    present = [row[name] for row in rows if name in row] if rows else []
    if not present:
        return OutputFieldSpec(node=node, name=name, type="unknown", source="none")
    values = [v for v in present if v is not None]
    types = {_json_type(v) for v in values}
    if types == {"integer", "number"}:
        types = {"number"}
    kind: FieldType = types.pop() if len(types) == 1 else ("null" if not types else "unknown")
    enum: list[str | int | float | bool] | None = None
    if kind in ("string", "integer"):
        distinct = sorted(set(values), key=lambda v: (str(type(v)), v))
        if len(distinct) <= ENUM_MAX_VALUES and len(values) >= 2 * len(distinct):
            enum = distinct
    return OutputFieldSpec(node=node, name=name, type=kind, enum=enum,
                           nullable=len(values) < len(rows or []), source="sample_data")


def _output_fields(workflow: Workflow) -> dict[str, list[OutputFieldSpec]]:
    """Typed output fields of every task (approvals, done by people, give `decision_values`)."""
    rows = _sample_rows(workflow)
    out: dict[str, list[OutputFieldSpec]] = {}
    for node in workflow.nodes:
        if isinstance(node, Task):
            out.setdefault(node.id, [_field_type(node.id, name, rows) for name in node.outputs])
    return out


_NOT_NAME = re.compile(r"[^A-Z0-9]")


def placeholder(prefix: str, ident: str, suffix: str = "") -> str:
    """``${PREFIX_ID_SUFFIX}``: the id upper-cased, every other character than A-Z and 0-9 made ``_``."""
    name = "_".join(part for part in (prefix, _NOT_NAME.sub("_", ident.upper()), suffix) if part)
    return "${" + name + "}"


def _placeholders(prefix: str, ids: Iterable[str], suffix: str) -> dict[str, str]:
    """A unique placeholder per id (ids that map to the same name get `_2`, `_3`... in workflow order)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for ident in ids:
        if ident in out:
            continue
        name, n = placeholder(prefix, ident, suffix), 2
        while name in used:
            name, n = placeholder(prefix, f"{ident}_{n}", suffix), n + 1
        used.add(name)
        out[ident] = name
    return out


def _tool_specs(workflow: Workflow) -> list[ToolSpec]:
    endpoints = _placeholders("TOOL", (t.id for t in workflow.tools), "URL")
    out = []
    for tool in workflow.tools:
        allowed = [a.id for a in workflow.actors if isinstance(a, (Agent, System)) and tool.id in a.tools]
        used = [n.id for n in workflow.nodes if isinstance(n, Task) and tool.id in n.tools]
        limit = tool.rate_limit
        out.append(
            ToolSpec(
                id=tool.id,
                name=tool.name,
                description=tool.description,
                tier=tool.tier.value,
                rate_limit=RateLimitSpec(calls=limit.calls, per_seconds=limit.per) if limit is not None else None,
                timeout_seconds=tool.timeout,
                credential_secret=tool.credential,
                writes=list(tool.writes),
                requires_approval=tool.tier is Tier.CRITICAL,
                allowed_for=allowed,
                used_by_nodes=used,
                endpoint=endpoints[tool.id],
            )
        )
    return out


def _oversight(workflow: Workflow, graph: nx.DiGraph) -> OversightSpec:
    policies = workflow.policies
    tiers = {t.id: t.tier for t in workflow.tools}
    ungated = g.ungated_from_start(graph, workflow, g.is_approval(workflow))
    critical: list[CriticalActionSpec] = []
    for node in workflow.nodes:
        if not isinstance(node, Task):
            continue
        tools = [t for t in node.tools if tiers.get(t) is Tier.CRITICAL]
        if not tools:
            continue
        upstream = nx.ancestors(graph, node.id) if node.id in graph else set()
        approvals = [n.id for n in workflow.nodes if isinstance(n, Approval) and n.id in upstream]
        critical.append(
            CriticalActionSpec(
                node=node.id, tools=tools, approvals=approvals, gated_on_every_path=node.id not in ungated,
                ungated_paths=[
                    UngatedPathSpec(path=list(u.path), skippable_approvals=list(u.skippable), when=u.when)
                    for u in ov.ungated_paths(workflow, graph, node.id)
                ],
            )
        )
    approval_specs: list[ApprovalSpec] = []
    outgoing = ov.edges_by_source(workflow)
    for node in workflow.nodes:
        if not isinstance(node, Approval):
            continue
        downstream = nx.descendants(graph, node.id) if node.id in graph else set()
        approval_specs.append(
            ApprovalSpec(
                node=node.id,
                name=node.name,
                approver=node.actor,
                reviews=g.reviewed_nodes(graph, workflow, node),
                threshold=node.threshold,
                gated_above=node.threshold,
                gate_conditions=[
                    GateConditionSpec(source=c.source, via=list(c.via), when=c.when)
                    for c in ov.gate_conditions(workflow, graph, node.id, outgoing)
                ],
                **_escalation(node, workflow),
                decision_field=f"{node.id}_decision",
                decision_values=list(ov.APPROVAL_DECISIONS),
                gates=[c.node for c in critical if c.node in downstream],
            )
        )
    human_tasks = [
        HumanTaskSpec(
            node=node.id,
            name=node.name,
            role=node.actor,
            **_escalation(node, workflow),
        )
        for node in workflow.nodes
        if isinstance(node, Task) and isinstance(workflow.actor_of(node.id), Human)
    ]
    return OversightSpec(
        approvals=approval_specs,
        human_tasks=human_tasks,
        critical_actions=critical,
        default_approval_sla_seconds=policies.approval_sla if policies.escalation is None
        else policies.escalation[0].after,
        default_escalate_to=policies.escalate_to if policies.escalation is None else policies.escalation[0].to,
        default_escalation=[EscalationLevelSpec(role=level.to, after_seconds=level.after)
                            for level in policies.escalation or ()],
    )


def _guardrails(workflow: Workflow, graph: nx.DiGraph) -> GuardrailsSpec:
    policies = workflow.policies
    limits = [
        TransitionLimitSpec(source=e.source, target=e.target, max_repeats=e.max_repeats)
        for e in workflow.edges
        if e.max_repeats is not None
    ]
    return GuardrailsSpec(
        max_turns=policies.max_turns,
        max_repeats=policies.max_repeats,
        retries=policies.retries,
        autonomy=policies.autonomy.value,
        loop_detection=LoopDetectionSpec(
            enabled=policies.max_repeats is not None or bool(limits),
            max_repeats_per_transition=policies.max_repeats,
            transition_limits=limits,
            cycles=g.cycles(graph),
        ),
    )


def _data_bindings(workflow: Workflow) -> list[DataBindingSpec]:
    out = []
    for source in workflow.data_sources:
        out.append(
            DataBindingSpec(
                id=source.id,
                system=source.system,
                description=source.description,
                freshness_seconds=source.freshness,
                contains_pii=source.contains_pii,
                read_by=[n.id for n in workflow.nodes if source.id in (getattr(n, "reads", None) or [])],
                written_by=[n.id for n in workflow.nodes if source.id in (getattr(n, "writes", None) or [])],
                written_by_tools=[t.id for t in workflow.tools if source.id in t.writes],
            )
        )
    return out


def build_spec(workflow: Workflow) -> Spec:
    """The ``spec`` section: everything the control plane enforces, taken from the workflow."""
    workflow = g.with_outcome_routers(workflow)  # approvals routing on their outcome: the decision after them
    graph = g.to_networkx(workflow)
    tiers = g.node_tiers(workflow)
    performed = ov.nodes_by_actor(workflow)
    starts = g.start_ids(workflow)
    audit = workflow.policies.audit
    groups = _placeholders("HUMAN", (a.id for a in workflow.actors if isinstance(a, Human)), "GROUP")
    return Spec(
        start=starts[0] if starts else None,
        nodes=[_node_spec(workflow, node, tiers) for node in workflow.nodes],
        routes=_route_specs(workflow),
        agents=_agent_specs(workflow, graph, _output_fields(workflow)),
        systems=[
            SystemSpec(id=a.id, name=a.name, owner=a.owner, allowed_tools=list(a.tools), nodes=performed.get(a.id, []))
            for a in workflow.actors
            if isinstance(a, System)
        ],
        tools=_tool_specs(workflow),
        human_roles=[
            HumanRoleSpec(
                identity_group=groups[a.id],
                id=a.id,
                name=a.name,
                owner=a.owner,
                role=a.role,
                pool_size=a.capacity,
                calendar=calendar_spec(a.calendar),
                nodes=performed.get(a.id, []),
            )
            for a in workflow.actors
            if isinstance(a, Human)
        ],
        oversight=_oversight(workflow, graph),
        guardrails=_guardrails(workflow, graph),
        data_bindings=_data_bindings(workflow),
        audit=AuditSpec(
            enabled=audit.enabled, format=AUDIT_FORMAT, record_fields=list(audit.fields),
            retention_seconds=audit.retention, sink=placeholder("AUDIT", "SINK", "URL"),
        ),
        queue_priority=_queue_priority(workflow),
    )


def _queue_priority(workflow: Workflow) -> list[QueuePrioritySpec] | None:
    from studio.expr import parse  # noqa: PLC0415 - as the routes read their conditions

    rules = workflow.simulation.priority
    if not rules:
        return None
    return [QueuePrioritySpec(condition=rule.when, level=rule.level,
                              condition_fields=sorted(parse(rule.when).root_fields()) if rule.when else [])
            for rule in rules]


# --------------------------------------------------------------------------- evidence


def _finite(value: Any) -> Any:
    """JSON from a results folder with NaN/Infinity replaced by null (they are not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _read_json(path: Path) -> Any:
    try:
        return _finite(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoadError(
            [Finding("L001", Severity.ERROR, "", f"cannot read simulation results `{path}`: {exc}",
                     "re-run the simulation to write the results folder again", str(path))],
            summary=f"{path}: unreadable",
        ) from None


def _simulation_evidence(results: Path) -> tuple[SimulationEvidence, list[InputDigest]]:
    kpis_path = results / "kpis.json"
    if not kpis_path.is_file():
        raise LoadError(
            [Finding("L001", Severity.ERROR, "", f"`{results}` has no `kpis.json`",
                     "pass the folder a simulation wrote its results to (`studio simulate ... -o DIR`)",
                     str(results))],
            summary=f"{results}: no simulation results",
        )
    kpis = _read_json(kpis_path)
    if not isinstance(kpis, dict):
        raise LoadError(
            [Finding("L001", Severity.ERROR, "", f"`{kpis_path}` is not a JSON object of KPIs",
                     "re-run the simulation", str(kpis_path))],
            summary=f"{kpis_path}: not KPIs",
        )
    digests = [InputDigest(role="kpis", name="kpis.json", sha256=_sha256_file(kpis_path))]
    gold: Any = None
    gold_path = results / "gold.json"
    if gold_path.is_file():
        gold = _read_json(gold_path)
        digests.append(InputDigest(role="gold_results", name="gold.json", sha256=_sha256_file(gold_path)))
    return SimulationEvidence(kpis=kpis, gold_pass_rate=_gold_pass_rate(kpis, gold), gold=gold), digests


def _gold_pass_rate(kpis: Mapping[str, Any], gold: Any) -> float | None:
    """``gold_pass_rate`` from the KPIs, else their ``gold.pass_rate``, else gold.json's ``pass_rate``."""
    nested = kpis.get("gold")
    candidates = [kpis.get("gold_pass_rate"), nested.get("pass_rate") if isinstance(nested, dict) else None]
    if isinstance(gold, dict):
        candidates += [gold.get("gold_pass_rate"), gold.get("pass_rate")]
    for rate in candidates:
        if isinstance(rate, (int, float)) and not isinstance(rate, bool):
            return float(rate)
    return None


def _gold_gate(simulation: SimulationEvidence | None, minimum: float, *, given: bool) -> GoldGateEvidence:
    rate = simulation.gold_pass_rate if simulation is not None else None
    return GoldGateEvidence(min_pass_rate=minimum, source="given" if given else "default", gold_pass_rate=rate,
                            passed=None if rate is None else rate >= minimum)


def _saved_file(workflow: Workflow) -> Path | None:
    """The file the workflow was loaded from, when it still holds exactly this workflow."""
    path = getattr(workflow.source, "path", None)
    if not isinstance(path, Path) or not path.is_file():
        return None
    try:
        return path if fileio.load(path) == workflow else None
    except LoadError:
        return None


def _input_digests(workflow: Workflow) -> list[InputDigest]:
    path = _saved_file(workflow)
    if path is not None:
        digests = [InputDigest(role="workflow", name=path.name, sha256=_sha256_file(path))]
    else:  # built or edited in memory: the digest of its canonical YAML (`studio.fileio.dumps`)
        text = fileio.dumps(workflow).encode("utf-8")
        digests = [InputDigest(role="workflow", name=f"{workflow.metadata.name}.yaml",
                               sha256=hashlib.sha256(text).hexdigest())]
    wanted: tuple[tuple[InputRole, str, str | None], ...] = (
        ("sample_data", "sample", workflow.simulation.sample_data),
        ("gold_data", "gold", workflow.simulation.gold_data),
    )
    for role, which, name in wanted:
        data_path = fileio.sample_path(workflow, which)
        if name is not None and data_path is not None and data_path.is_file():
            digests.append(InputDigest(role=role, name=Path(name).as_posix(), sha256=_sha256_file(data_path)))
    return digests


def _relative(workflow: Workflow) -> Callable[[str], str]:
    """Messages with the workflow's folder written as `.`, so the evidence does not depend on the cwd."""
    path = getattr(workflow.source, "path", None)
    if not isinstance(path, Path):
        return lambda text: text
    folders = sorted({str(path.parent), str(path.parent.resolve())} - {"", "."}, key=len, reverse=True)

    patterns = [re.compile(rf"(?<![\w./-]){re.escape(folder)}(?![\w-])") for folder in folders]

    def relative(text: str) -> str:
        for pattern in patterns:
            text = pattern.sub(".", text)
        return text

    return relative


def _validation_evidence(findings: Sequence[Finding], strict: bool,
                         relative: Callable[[str], str] = str) -> ValidationEvidence:
    from studio.validate import RULES  # noqa: PLC0415

    counts = {s: sum(f.severity is s for f in findings) for s in Severity}
    return ValidationEvidence(
        passed=counts[Severity.ERROR] == 0 and not (strict and counts[Severity.WARNING]),
        strict=strict,
        errors=counts[Severity.ERROR],
        warnings=counts[Severity.WARNING],
        info=counts[Severity.INFO],
        rules=sorted(RULES),
        findings=[
            FindingRecord(code=f.code, severity=f.severity.value, location=f.location, message=relative(f.message),
                          hint=relative(f.hint), line=f.line)
            for f in findings
        ],
    )


# --------------------------------------------------------------------------- public API


def build_definition(
    workflow: Workflow,
    findings: Sequence[Finding],
    *,
    strict: bool = False,
    evidence_dir: str | os.PathLike[str] | None = None,
    min_gold_pass: float | None = None,
) -> ControlPlaneDefinition:
    """Assemble the definition from a workflow and its (already computed) findings; no checks.

    ``min_gold_pass`` is the gold gate the evidence was checked against (``studio simulate --gold
    --min-pass``); None records the simulator's default, 1.0.
    """
    from studio._version import __version__  # noqa: PLC0415

    gate_min = DEFAULT_MIN_GOLD_PASS if min_gold_pass is None else float(min_gold_pass)
    if not 0.0 <= gate_min <= 1.0:
        raise ValueError(f"min_gold_pass must be between 0 and 1, got {min_gold_pass}")
    spec = build_spec(workflow)
    meta = workflow.metadata
    inputs = _input_digests(workflow)
    simulation = None
    if evidence_dir is not None:
        simulation, results = _simulation_evidence(Path(evidence_dir))
        inputs.extend(results)
    return ControlPlaneDefinition(
        api_version=API_VERSION,
        kind=KIND,
        metadata=DefinitionMetadata(
            name=meta.name,
            version=meta.version,
            owner=meta.owner,
            description=meta.description,
            tags=list(meta.tags),
            content_hash=content_hash(spec),
            source_api_version=workflow.api_version,
        ),
        spec=spec,
        evidence=Evidence(
            generator=GeneratorInfo(name="workflow-design-studio", version=__version__),
            validation=_validation_evidence(findings, strict, _relative(workflow)),
            simulation=simulation,
            gold_gate=_gold_gate(simulation, gate_min, given=min_gold_pass is not None),
            inputs=inputs,
        ),
    )


def check_exportable(workflow: Workflow, *, strict: bool = False, data: Any = None) -> list[Finding]:
    """Validate for export: the findings, or :class:`WorkflowInvalid` when errors (or warnings if strict).

    ``data`` defaults to the workflow's own sample data when the file is there.
    """
    from studio.validate import validate  # noqa: PLC0415

    findings = validate(workflow, data=fileio.workflow_cases(workflow, data))
    if has_errors(findings):
        raise WorkflowInvalid(findings, summary=f"`{workflow.metadata.name}` has error findings; not exported")
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    if strict and warnings:
        raise WorkflowInvalid(warnings, summary=f"`{workflow.metadata.name}` has warnings and --strict is set; "
                                                "not exported")
    return findings


def to_controlplane(
    workflow: Workflow,
    *,
    evidence_dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
    data: Any = None,
    min_gold_pass: float | None = None,
) -> ControlPlaneDefinition:
    """Validate, then build the control-plane definition.

    Raises :class:`~studio.errors.WorkflowInvalid` when the workflow has error findings (or any
    warning with ``strict``), and :class:`~studio.errors.LoadError` when ``evidence_dir`` has no
    readable ``kpis.json``. ``min_gold_pass``: the gold gate recorded in ``evidence.gold_gate``
    (default 1.0, as ``studio simulate --min-pass``).
    """
    findings = check_exportable(workflow, strict=strict, data=data)
    return build_definition(workflow, findings, strict=strict, evidence_dir=evidence_dir,
                            min_gold_pass=min_gold_pass)


def export_controlplane(
    workflow: Workflow,
    path: str | os.PathLike[str],
    *,
    evidence_dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
    min_gold_pass: float | None = None,
) -> Path:
    """Write the definition atomically: YAML for ``.yaml``/``.yml``, JSON otherwise."""
    definition = to_controlplane(workflow, evidence_dir=evidence_dir, strict=strict, min_gold_pass=min_gold_pass)
    fmt = "yaml" if Path(path).suffix.lower() in (".yaml", ".yml") else "json"
    return fileio.atomic_write(path, dumps_definition(definition, fmt))

