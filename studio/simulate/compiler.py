"""Compile a validated :class:`~studio.model.Workflow` to a LangGraph ``StateGraph``, once.

One LangGraph node per workflow node. Plain edges for sequences; conditional edges with an
explicit path map for decisions (the decision node evaluates the conditions and writes its choice
to the ``route`` channel, the router reads it); several edges out of a fork for parallel splits and
``add_edge([branch ends...], join)`` for joins, whose barrier waits for every branch. A decision that
routes straight into a join goes through a tiny relay node so the join's barrier still counts it.

Nodes are ``async`` and get their behaviour at run time from the runtime object in
``config["configurable"]["studio_runtime"]`` (see :mod:`studio.simulate.runtime`): the same graph
serves a walkthrough (human steps call ``interrupt()``) and Monte Carlo (simulated humans queue for
resources in virtual time). A case that fails, or that a loop guard kills, raises
:class:`~studio.simulate.runtime.CaseStop` out of the graph.

State channels: ``case`` (the case's fields; merged), ``trace`` (step records; ``operator.add`` so
parallel branches merge), ``transitions`` (``"from>to"`` -> count; merged), ``route`` (decision ->
chosen target; merged) and ``outcome`` (set by the end node). ``invoke`` returns only ``outcome``; the runtime keeps
the per-case record, and a walkthrough reads the whole state with ``get_state``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from studio.errors import Finding, Severity, WorkflowInvalid, has_errors
from studio.expand import Expanded, Expansion, expand
from studio.expr import Expression, parse
from studio.model import (
    Agent,
    Approval,
    Behaviour,
    Human,
    Subworkflow,
    System,
    Task,
    Wait,
    Workflow,
    escalation_chain,
    step_sla,
)
from studio.simulate.behaviour import DEFAULT_DURATIONS, OVERRIDE_FIELDS, Resolved, Sampler, layer, sampler
from studio.simulate.clock import WorkCalendar

__all__ = [
    "RUNTIME_KEY", "CaseState", "CompiledWorkflow", "NodePlan", "Plan", "ToolPlan", "compile_workflow",
    "superstep_limit",
]

RUNTIME_KEY = "studio_runtime"
"""Key of the runtime object in ``config["configurable"]``."""


def _merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    if not left:
        return dict(right or {})
    if not right:
        return left
    return {**left, **right}


class CaseState(TypedDict, total=False):
    """The LangGraph state of one case (see the module docstring for each channel)."""

    case: Annotated[dict[str, Any], _merge]
    trace: Annotated[list[tuple[Any, ...]], operator.add]
    transitions: Annotated[dict[str, int], _merge]
    route: Annotated[dict[str, str], _merge]
    outcome: str


class CaseOutput(TypedDict, total=False):
    """What ``invoke`` returns: only the outcome. The full state stays readable with ``get_state``;
    limiting the output spares LangGraph a snapshot of every channel after every step."""

    outcome: str


OutputPlan = tuple[Expression | None, Sampler | None, tuple[tuple[str, float], ...]]
"""One output rule: (condition or None, number sampler or None, choices as (value, probability))."""


@dataclass(eq=False)
class NodePlan:
    """Everything the runtime needs about one node, as plain attributes."""

    id: str
    kind: str
    order: int
    label: str
    actor: str | None = None
    actor_kind: str | None = None
    tools: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    behaviours: dict[str, Resolved] = field(default_factory=dict)
    """Resolved behaviour per actor that may do this step (its actor, its escalation pool)."""
    behaviour_layers: dict[str, tuple[Behaviour | None, ...]] = field(default_factory=dict)
    sla: float | None = None
    escalation: tuple[tuple[float, str], ...] = ()
    """The escalation chain: ``(after seconds, pool)`` per level (:func:`studio.model.escalation_chain`)."""
    threshold: Expression | None = None
    branches: tuple[tuple[Expression, str], ...] = ()
    probabilities: tuple[tuple[float, str], ...] = ()
    """Decisions with branch probabilities: (probability, target) in file order; routed by a draw."""
    default: str | None = None
    targets: tuple[str, ...] = ()
    """LangGraph nodes this node triggers (non-decisions); decisions use ``graph_target``."""
    graph_target: dict[str, str] = field(default_factory=dict)
    preds: tuple[str, ...] = ()
    """Joins: the LangGraph nodes the barrier waits for."""
    limits: dict[str, int | None] = field(default_factory=dict)
    transition_keys: dict[str, str] = field(default_factory=dict)
    """Predecessor -> its ``"from>to"`` transition key (the loop guard's counter), made once."""
    outcome: str | None = None
    reviews: tuple[str, ...] = ()
    relay_from: str | None = None
    relay_to: str | None = None
    output_models: tuple[tuple[str, tuple[OutputPlan, ...]], ...] = ()
    """Outputs with a model: (field, rules in order); the first rule whose condition holds sets it."""
    wait_delay: Sampler | None = None
    """Waits with a ``delay``: draws the delay (one draw per visit from the case's stream)."""
    wait_until: WorkCalendar | None = None
    """Waits with ``until``: the calendar whose next opening ends the wait."""

    batch: tuple[int, float | None] | None = None
    """A batched person's step: (size, timeout in seconds or None)."""

    field_id: str = ""
    """The id an approval names its case fields by (``<field_id>_decision``): its id in the file it
    comes from (a step of an expanded subworkflow: ``sign``, not ``review__sign``)."""

    def __post_init__(self) -> None:
        if not self.field_id:
            self.field_id = self.id


@dataclass(eq=False)
class ToolPlan:
    id: str
    behaviour: Resolved
    rate_limit: tuple[int, float] | None
    layers: tuple[Behaviour | None, ...] = ()


@dataclass(eq=False)
class Plan:
    """The compiled view of a workflow the runtime reads (no pydantic in the hot path)."""

    name: str
    version: str
    start: str
    nodes: dict[str, NodePlan]
    joins: frozenset[str]
    pools: dict[str, tuple[int, Any]]
    """Pool id (people, and systems with a capacity) -> (capacity, Calendar or None)."""
    members: dict[str, tuple[tuple[Any, float], ...]]
    """Pools whose people differ -> (calendar, speed) per person, in order (the person's calendar, else
    the pool's; None: always working)."""
    tools: dict[str, ToolPlan]
    actor_kinds: dict[str, str]
    agent_versions: dict[str, str | None]
    max_turns: int
    retries: int
    overrides: tuple[tuple[str, str, str], ...]
    """(column, target id, behaviour field)."""
    llm: dict[str, str]
    """Agent id -> ``module:factory`` of its LangChain chat model."""
    subworkflows: tuple[Expansion, ...] = ()
    """The expanded subworkflow nodes (``studio.expand``), outermost last."""
    own_durations: dict[str, tuple[dict[str, Sampler], ...]] = field(default_factory=dict)
    """Pools whose people have their own durations -> per person, node id -> that person's sampler."""
    priority: tuple[tuple[Expression | None, int], ...] = ()
    """``simulation.priority``: (condition or None for every case, level), first match wins; empty:
    people serve first come, first served (no priority queues at all)."""

    @cached_property
    def node_order(self) -> dict[str, int]:
        return {node_id: plan.order for node_id, plan in self.nodes.items()}

    @cached_property
    def priority_pools(self) -> tuple[str, ...]:
        """People's pools, whose queues serve by priority (none without ``simulation.priority``)."""
        if not self.priority:
            return ()
        return tuple(sorted(pool for pool in self.pools if self.actor_kinds.get(pool) == "human"))

    @cached_property
    def batched(self) -> bool:
        """Whether some step collects cases into batches."""
        return any(node.batch is not None for node in self.nodes.values())


def _relay_id(decision: str, join: str) -> str:
    return f"__relay__{decision}__{join}"


def _override_findings(workflow: Workflow) -> list[Finding]:
    known = {n.id for n in workflow.nodes} | {a.id for a in workflow.actors} | {t.id for t in workflow.tools}
    waits = {n.id for n in workflow.nodes if n.kind == "wait"}
    findings = []
    for column, target in workflow.simulation.overrides.items():
        head, _, name = target.partition(".")
        if head in waits and name != "duration":
            findings.append(Finding(
                "M001", Severity.ERROR, f"simulation.overrides.{column}",
                f"override `{column}: {target}`: wait `{head}` has no `{name}`; a case may only give its delay",
                f"write `{head}.duration` (the case's delay, e.g. a lead time in hours: `36h`)",
            ))
        elif head not in known or name not in OVERRIDE_FIELDS:
            findings.append(Finding(
                "M001", Severity.ERROR, f"simulation.overrides.{column}",
                f"override `{column}: {target}` must name a node, actor or tool and a behaviour field",
                "write `<node, actor or tool id>.<field>`; fields: " + ", ".join(f"`{f}`" for f in OVERRIDE_FIELDS),
            ))
    return findings


@dataclass
class _Graph:
    """The workflow's nodes and edges indexed once (duplicates: the first node, the first actor win;
    the validator reports them)."""

    workflow: Workflow
    actors: dict[str, Any]
    nodes: dict[str, Any]
    joins: frozenset[str]
    outgoing: dict[str, list[Any]]
    incoming: dict[str, list[Any]]

    @classmethod
    def of(cls, workflow: Workflow) -> _Graph:
        index = workflow.index
        actors: dict[str, Any] = dict(index.actors)
        nodes: dict[str, Any] = dict(index.nodes)
        outgoing: dict[str, list[Any]] = {}
        incoming: dict[str, list[Any]] = {}
        for edge in workflow.edges:
            if edge.source in nodes and edge.target in nodes:
                outgoing.setdefault(edge.source, []).append(edge)
                incoming.setdefault(edge.target, []).append(edge)
        joins = frozenset(node_id for node_id, node in nodes.items() if node.kind == "join")
        return cls(workflow, actors, nodes, joins, outgoing, incoming)

    def resolved_for(self, node: Any, actor_id: str) -> tuple[Resolved, tuple[Behaviour | None, ...]]:
        """A step's behaviour when ``actor_id`` does it: kind defaults <- actor <- node."""
        actor = self.actors.get(actor_id)
        kind = actor.kind if actor is not None else "none"
        layers = (actor.behaviour if actor is not None else None, getattr(node, "behaviour", None))
        return layer(DEFAULT_DURATIONS[kind], self.workflow.policies.retries, *layers), layers


def _actor_part(graph: _Graph, node: Any, plan: NodePlan) -> None:
    """Who does the step, with what behaviour, tools, outputs, SLA and escalation."""
    actor_id = getattr(node, "actor", None)
    if actor_id is not None and actor_id in graph.actors:
        plan.actor = actor_id
        plan.actor_kind = graph.actors[actor_id].kind
        plan.behaviours[actor_id], plan.behaviour_layers[actor_id] = graph.resolved_for(node, actor_id)
    elif isinstance(node, (Task, Approval, Subworkflow)):
        plan.behaviours[""], plan.behaviour_layers[""] = graph.resolved_for(node, "")
    if isinstance(node, Task):
        plan.tools = tuple(node.tools)
        plan.outputs = tuple(node.outputs)
        plan.output_models = tuple(
            (name, tuple((parse(rule.when) if rule.when is not None else None,
                          sampler(rule.value, 0.0) if rule.value is not None else None,
                          tuple((rule.choice or {}).items())) for rule in rules))
            for name, rules in node.output_models.items()
        )
    if isinstance(node, (Task, Approval)):
        policies = graph.workflow.policies
        plan.sla = step_sla(node, policies)
        plan.escalation = escalation_chain(node, graph.actors, policies)
        for _after, escalate in plan.escalation:
            plan.behaviours[escalate], plan.behaviour_layers[escalate] = graph.resolved_for(node, escalate)
        if node.batch is not None:
            plan.batch = (node.batch.size, node.batch.timeout)
    if isinstance(node, Approval):
        plan.outputs = tuple(node.outputs)
        plan.threshold = parse(node.threshold) if node.threshold is not None else None
        plan.reviews = tuple(node.reviews)
    if node.kind == "end":
        plan.outcome = getattr(node, "outcome", None) or node.id
    if isinstance(node, Wait):
        plan.wait_delay = sampler(node.delay, 0.0) if node.delay is not None else None
        plan.wait_until = WorkCalendar(node.until) if node.until is not None else None


def _routing_part(graph: _Graph, node: Any, plan: NodePlan) -> None:
    """Where the case goes next: a decision's branches, or every target; and the loop-guard limits."""
    edges = graph.outgoing.get(node.id, [])
    if node.kind == "decision":
        branches = []
        for edge in edges:
            if edge.default:
                if plan.default is None:
                    plan.default = edge.target
            elif edge.when is not None:
                branches.append((parse(edge.when), edge.target))
        plan.branches = tuple(branches)
        plan.probabilities = tuple((edge.probability, edge.target) for edge in edges
                                   if not edge.default and edge.probability is not None)
        for edge in edges:
            target = edge.target
            plan.graph_target[target] = _relay_id(node.id, target) if target in graph.joins else target
    else:
        plan.targets = tuple(dict.fromkeys(edge.target for edge in edges))
    limit_default = graph.workflow.policies.max_repeats
    for edge in graph.incoming.get(node.id, []):
        plan.limits.setdefault(edge.source, edge.max_repeats if edge.max_repeats is not None else limit_default)
        plan.transition_keys.setdefault(edge.source, f"{edge.source}>{node.id}")


def _relays_and_barriers(graph: _Graph, plans: dict[str, NodePlan]) -> None:
    """Add a relay node for every decision branch into a join, and each join's barrier (what it waits for)."""
    relays: dict[str, NodePlan] = {}
    for plan in plans.values():
        for target, graph_name in plan.graph_target.items():
            if graph_name != target and graph_name not in relays:
                relays[graph_name] = NodePlan(
                    id=graph_name, kind="relay", order=plan.order, label=graph_name,
                    targets=(target,), relay_from=plan.id, relay_to=target,
                )
    for join in graph.joins:
        preds: dict[str, None] = {}
        for edge in graph.incoming.get(join, []):
            source = plans[edge.source]
            preds.setdefault(source.graph_target.get(join, edge.source) if source.kind == "decision" else edge.source)
        plans[join].preds = tuple(preds)
    plans.update(relays)


def _tool_plans(workflow: Workflow) -> dict[str, ToolPlan]:
    tools: dict[str, ToolPlan] = {}
    for tool in workflow.tools:
        if tool.id in tools:
            continue
        layers = (tool.behaviour, workflow.simulation.tools.get(tool.id))
        rate = (tool.rate_limit.calls, tool.rate_limit.per) if tool.rate_limit is not None else None
        tools[tool.id] = ToolPlan(tool.id, layer(DEFAULT_DURATIONS["tool"], 0, *layers), rate, layers)
    return tools


def build_plan(workflow: Workflow, expanded: Expanded | None = None) -> Plan:
    """The runtime plan of a (validated) workflow: node plans (actor part, routing part), relays and
    join barriers, tools, pools and the per-case override columns. With ``expanded`` (the workflow is
    ``expanded.workflow``), the marker steps of its subworkflows get their plan kinds. ``workflow`` is what
    runs: an approval that routes on its own outcome already followed by its decision node
    (:func:`studio.expand.expand` and :func:`studio.graph.with_outcome_routers` make it so)."""
    graph = _Graph.of(workflow)
    markers = expanded.markers() if expanded is not None else {}
    local = expanded.local_ids() if expanded is not None else {}
    plans: dict[str, NodePlan] = {}
    for order, node in enumerate(workflow.nodes):
        if node.id in plans:
            continue
        marker = markers.get(node.id)
        plan = NodePlan(id=node.id, kind=marker[0] if marker is not None else node.kind, order=order,
                        label=node.label, field_id=local.get(node.id, node.id))
        _actor_part(graph, node, plan)
        _routing_part(graph, node, plan)
        if marker is not None:
            plan.outcome = marker[1]
        plans[node.id] = plan
    _relays_and_barriers(graph, plans)
    pools: dict[str, tuple[int, Any]] = {}
    for actor in graph.actors.values():  # people, and systems with a capacity, queue for their pool
        capacity = actor.capacity if isinstance(actor, (Human, System)) else None
        if capacity is not None:
            pools[actor.id] = (capacity, actor.calendar)
    overrides = tuple((column, *target.partition(".")[::2]) for column, target in workflow.simulation.overrides.items())
    policies = workflow.policies
    return Plan(
        name=workflow.metadata.name,
        version=workflow.metadata.version,
        start=next(n.id for n in workflow.nodes if n.kind == "start"),
        nodes=plans,
        joins=graph.joins,
        pools=pools,
        tools=_tool_plans(workflow),
        members={actor.id: tuple((m.calendar or actor.calendar, m.speed) for m in actor.members)
                 for actor in graph.actors.values() if isinstance(actor, Human) and actor.members},
        actor_kinds={actor.id: actor.kind for actor in graph.actors.values()},
        agent_versions={a.id: a.version for a in graph.actors.values() if isinstance(a, Agent)},
        max_turns=policies.max_turns,
        retries=policies.retries,
        overrides=overrides,
        llm={a.id: a.llm for a in graph.actors.values() if isinstance(a, Agent) and a.llm},
        subworkflows=expanded.subworkflows if expanded is not None else (),
        own_durations={actor.id: tuple({node: sampler(dist, 0.0) for node, dist in sorted(m.durations.items())}
                                       for m in actor.members)
                       for actor in graph.actors.values()
                       if isinstance(actor, Human) and any(m.durations for m in actor.members)},
        priority=tuple((parse(rule.when) if rule.when is not None else None, rule.level)
                       for rule in workflow.simulation.priority),
    )


def superstep_limit(plan: Plan) -> int:
    """Most supersteps a case may take (LangGraph's ``recursion_limit``): past it the case is a runaway,
    killed by ``max_turns``. Generous: ``max_turns`` node steps normally stop a case long before."""
    return 2 * plan.max_turns + 10


def _node_function(plan: NodePlan) -> Any:
    async def node(state: CaseState, config: RunnableConfig) -> dict[str, Any]:
        runtime = config["configurable"][RUNTIME_KEY]
        result: dict[str, Any] = await runtime.execute(plan, state, config["metadata"]["langgraph_step"])
        return result

    node.__name__ = f"node_{plan.id}"
    node.__qualname__ = node.__name__
    return node


def _router(decision: str) -> Any:
    async def route(state: CaseState) -> str:  # async: a sync router would run in a thread pool
        return state["route"][decision]

    route.__name__ = f"route_{decision}"
    return route


def build_graph(plan: Plan) -> Any:
    """The LangGraph ``StateGraph`` of a plan, compiled without a checkpointer."""
    builder: StateGraph[Any] = StateGraph(CaseState, output_schema=CaseOutput)
    for node in plan.nodes.values():
        builder.add_node(node.id, _node_function(node))
    builder.add_edge(START, plan.start)
    for node in plan.nodes.values():
        if node.kind == "decision":
            path_map = dict(node.graph_target)
            if path_map:
                builder.add_conditional_edges(node.id, _router(node.id), path_map)  # type: ignore[arg-type]
        elif node.kind == "end":
            builder.add_edge(node.id, END)
        else:
            for target in node.targets:
                if target not in plan.joins:
                    builder.add_edge(node.id, target)
    for join in sorted(plan.joins):
        preds = list(plan.nodes[join].preds)
        if len(preds) == 1:
            builder.add_edge(preds[0], join)
        elif preds:
            builder.add_edge(preds, join)
    return builder.compile(name=plan.name)


class CompiledWorkflow:
    """A validated workflow compiled once to a LangGraph graph, ready to simulate or walk through.

    ``graph`` has no checkpointer (Monte Carlo); :attr:`interactive` is the same graph with an
    in-memory checkpointer attached, for walkthroughs that ``interrupt()`` at human steps.
    """

    def __init__(self, workflow: Workflow, plan: Plan, graph: Any, findings: Sequence[Finding], *,  # noqa: PLR0913 - keywords
                 allow_llm: bool = False, expanded: Workflow | None = None) -> None:
        self.workflow = workflow
        self.expanded = expanded if expanded is not None else workflow
        """What runs: ``workflow`` with its subworkflows expanded (the same object when it has none)."""
        self.plan = plan
        self.graph = graph
        self.findings = list(findings)
        self.allow_llm = allow_llm
        self._interactive: Any = None
        self._models: dict[str, Any] | None = None

    @property
    def interactive(self) -> Any:
        """The compiled graph with an ``InMemorySaver`` checkpointer (created on first use)."""
        if self._interactive is None:
            self._interactive = self.graph.copy(update={"checkpointer": InMemorySaver()})
        return self._interactive

    def models(self) -> dict[str, Any]:
        """LangChain chat models of agents with ``llm:`` (only with ``allow_llm=True``)."""
        if self._models is None:
            from studio.simulate.llm import load_model  # noqa: PLC0415

            self._models = {}
            if self.allow_llm:
                for agent, spec in sorted(self.plan.llm.items()):
                    self._models[agent] = load_model(spec)
        return self._models

    def draw_mermaid(self) -> str:
        """Mermaid text of the LangGraph graph (what actually runs)."""
        text: str = self.graph.get_graph().draw_mermaid()
        return text

    def __repr__(self) -> str:
        return (f"CompiledWorkflow({self.plan.name!r} {self.plan.version}, "
                f"{sum(1 for n in self.plan.nodes.values() if n.kind != 'relay')} nodes)")


def compile_workflow(workflow: Workflow, data: Any = None, *, allow_llm: bool = False) -> CompiledWorkflow:
    """Validate ``workflow`` (against ``data`` when given) and compile it to LangGraph.

    Raises :class:`~studio.errors.WorkflowInvalid` carrying the findings when any is an error.
    ``allow_llm=True`` lets agents with ``llm: "module:factory"`` import and call that factory;
    the name comes from the workflow file, so only pass it for files you trust.
    """
    from studio.validate import validate  # noqa: PLC0415

    findings = validate(workflow, data=data)
    expanded = expand(workflow) if not has_errors(findings) else None  # what runs
    findings += _override_findings(expanded.workflow if expanded is not None else workflow)  # inner steps too
    if expanded is not None:
        findings += expanded.findings
    if expanded is None or has_errors(findings):
        name = workflow.metadata.name
        errors = sum(f.is_error for f in findings)
        raise WorkflowInvalid(findings, summary=f"cannot simulate `{name}`: {errors} error(s) found")
    plan = build_plan(expanded.workflow, expanded)
    graph = build_graph(plan)
    return CompiledWorkflow(workflow, plan, graph, findings, allow_llm=allow_llm, expanded=expanded.workflow)
