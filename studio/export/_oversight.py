"""Where people sit between agents and critical tools: the analysis behind the control-plane
definition's autonomy, gate and ungated-path fields and behind ``studio diff``'s gate flags.

A **person** is an approval that always runs (no ``threshold``) or a task done by a human pool. An
approval with a ``threshold`` auto-approves when the threshold is false, so it is *skippable*: a
path through it reaches what follows without a person for the cases where the threshold fails.

- :func:`critical_nodes`: task -> its critical tools.
- :func:`agent_reaches`: for an agent's nodes, the critical steps they reach with no person in
  between (the agent's own critical step: reached from the start with no person before it), each
  with a shortest witness path.
- :func:`ungated_paths`: witness paths from the start to a critical step with no approval that
  always runs (one per incoming route).
- :func:`gate_conditions`: the conditions on the routes into an approval, walked back through
  gateways to the step before.
- :func:`route_condition`: the condition under which a case takes one route of a decision (earlier
  routes win; the default is taken when none holds), as text in the condition language.

Everything is read-only and deterministic (workflow order, shortest paths with ties broken by it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import networkx as nx

from studio import graph as g
from studio.model import Agent, Approval, Autonomy, Edge, Human, Task, Tier, Workflow

__all__ = [
    "APPROVAL_DECISIONS",
    "AgentAutonomy",
    "CriticalReach",
    "GateCondition",
    "UngatedPath",
    "agent_autonomy",
    "agent_reaches",
    "critical_nodes",
    "edges_by_source",
    "gate_conditions",
    "is_person",
    "nodes_by_actor",
    "route_condition",
    "ungated_paths",
]

APPROVAL_DECISIONS = ("approve", "reject", "send_back")
_GATEWAYS = frozenset({"decision", "parallel", "join"})
_MAX_GATE_ROUTES = 50
_COMPOUND = re.compile(r"\s(and|or|if|else)\s")


def critical_nodes(workflow: Workflow) -> dict[str, list[str]]:
    """Each task calling a critical tool -> those tools, in workflow order."""
    tiers = {t.id: t.tier for t in workflow.tools}
    out: dict[str, list[str]] = {}
    for node in workflow.nodes:
        if isinstance(node, Task) and node.id not in out:
            tools = [t for t in node.tools if tiers.get(t) is Tier.CRITICAL]
            if tools:
                out[node.id] = tools
    return out


def _thresholds(workflow: Workflow) -> dict[str, str]:
    return {n.id: n.threshold for n in workflow.nodes if isinstance(n, Approval) and n.threshold is not None}


def is_person(workflow: Workflow) -> Callable[[str], bool]:
    """Approvals without a threshold and tasks done by a human pool: a person always acts there."""
    actors = g.node_actors(workflow)
    people = {
        n.id
        for n in workflow.nodes
        if (isinstance(n, Approval) and n.threshold is None)
        or (isinstance(n, Task) and isinstance(actors.get(n.id), Human))
    }
    return lambda node_id: node_id in people


def _always_approved(workflow: Workflow) -> Callable[[str], bool]:
    gates = {n.id for n in workflow.nodes if isinstance(n, Approval) and n.threshold is None}
    return lambda node_id: node_id in gates


def _wrap(text: str) -> str:
    return f"({text})" if _COMPOUND.search(text) else text


def _conjunction(parts: Iterable[str]) -> str | None:
    items = list(parts)
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    return " and ".join(_wrap(p) for p in items)


def _unless(thresholds: Iterable[str]) -> str | None:
    """``not (t1)`` for each skippable approval's threshold: when a case passes them all unseen."""
    return _conjunction(f"not ({t})" for t in thresholds)


@dataclass(frozen=True)
class CriticalReach:
    """Agent step ``node`` leads to critical step ``critical`` with no person in between.

    ``path`` runs from ``node`` to ``critical``; when the agent's own step is critical, from the
    start to it. ``skippable`` are threshold approvals on the path, ``when`` the condition under
    which all of them auto-approve (None: the path has no approval at all).
    """

    node: str
    critical: str
    tools: tuple[str, ...]
    path: tuple[str, ...]
    skippable: tuple[str, ...]
    when: str | None


def _witness(graph: nx.DiGraph, source: str, target: str, blocked: Callable[[str], bool],
             approval: Callable[[str], bool]) -> list[str] | None:
    """A path avoiding ``blocked``, preferring one that passes no approval at all."""
    clean = g.path_avoiding(graph, source, target, lambda n: blocked(n) or approval(n))
    return clean if clean is not None else g.path_avoiding(graph, source, target, blocked)


def nodes_by_actor(workflow: Workflow) -> dict[str, list[str]]:
    """Actor id -> the steps it does, in file order."""
    out: dict[str, list[str]] = {}
    for node in workflow.nodes:
        actor = getattr(node, "actor", None)
        if actor is not None:
            out.setdefault(actor, []).append(node.id)
    return out


@dataclass(frozen=True)
class AgentAutonomy:
    """An agent's declared autonomy and the one it has in effect: an agent declared human-in-the-loop
    that reaches a critical step with no person in between acts human-on-the-loop there."""

    agent: Agent
    nodes: list[str]
    declared: Autonomy
    effective: Autonomy
    reaches: list[CriticalReach]


def agent_autonomy(workflow: Workflow, graph: nx.DiGraph) -> list[AgentAutonomy]:
    """Every agent's autonomy, declared and in effect, with the critical steps it reaches unwatched."""
    performed = nodes_by_actor(workflow)
    out = []
    for actor in workflow.actors:
        if isinstance(actor, Agent):
            nodes = performed.get(actor.id, [])
            declared = actor.autonomy or workflow.policies.autonomy
            reaches = agent_reaches(workflow, graph, nodes)
            effective = Autonomy.HUMAN_ON_THE_LOOP if reaches and declared is Autonomy.HUMAN_IN_THE_LOOP else declared
            out.append(AgentAutonomy(actor, nodes, declared, effective, reaches))
    return out


def agent_reaches(workflow: Workflow, graph: nx.DiGraph, nodes: Iterable[str]) -> list[CriticalReach]:
    """Critical steps the given (agent) steps reach with no person in between, with witnesses."""
    critical = critical_nodes(workflow)
    person = is_person(workflow)
    thresholds = _thresholds(workflow)
    approval = g.is_approval(workflow)
    starts = [s for s in g.start_ids(workflow) if s in graph]
    out: list[CriticalReach] = []
    for node in nodes:
        if node not in graph:
            continue
        reached = g.reachable_avoiding(graph, node, person)
        for target, tools in critical.items():
            if target == node:
                sources = starts
            elif not person(target) and target in reached:
                sources = [node]
            else:
                continue
            for source in sources:
                path = _witness(graph, source, target, person, approval)
                if path is None:
                    continue
                skippable = tuple(n for n in path[:-1] if n in thresholds)
                out.append(CriticalReach(node, target, tuple(tools), tuple(path), skippable,
                                         _unless(thresholds[n] for n in skippable)))
                break
    return out


@dataclass(frozen=True)
class UngatedPath:
    """A path from the start to a critical step with no approval that always runs."""

    path: tuple[str, ...]
    skippable: tuple[str, ...]
    when: str | None


def ungated_paths(workflow: Workflow, graph: nx.DiGraph, node: str) -> list[UngatedPath]:
    """One witness per incoming route of ``node`` that the start reaches past no always-run approval."""
    blocked = _always_approved(workflow)
    approval = g.is_approval(workflow)
    thresholds = _thresholds(workflow)
    if node not in graph:
        return []
    out: list[UngatedPath] = []
    seen: set[tuple[str, ...]] = set()
    for start in g.start_ids(workflow):
        if start not in graph:
            continue
        reached = g.reachable_avoiding(graph, start, blocked)
        if node not in reached:
            continue
        if node == start:
            return [UngatedPath((node,), (), None)]
        for pred in graph.predecessors(node):
            if pred not in reached or blocked(pred):
                continue
            head = _witness(graph, start, pred, lambda n: blocked(n) or n == node, approval)
            if head is None:
                continue
            path = (*head, node)
            if path in seen:
                continue
            seen.add(path)
            skippable = tuple(n for n in path[:-1] if n in thresholds)
            out.append(UngatedPath(path, skippable, _unless(thresholds[n] for n in skippable)))
    return out


def route_condition(edge: Edge, siblings: Iterable[Edge]) -> str | None:
    """When a case takes ``edge`` among its source's ``siblings`` (edges in file order).

    A condition holds only if no earlier route's condition does (first true wins); the default is
    taken when no condition holds. None: always (an unconditional route).
    """
    if not edge.default and edge.when is None:
        return None
    earlier: list[str] = []
    others: list[str] = []
    passed = False
    for sibling in siblings:
        if sibling is edge:
            passed = True
            continue
        if sibling.when is None or sibling.default:
            continue
        others.append(sibling.when)
        if not passed:
            earlier.append(sibling.when)
    if edge.default:
        excluded = others
        own = None
    else:
        excluded, own = earlier, edge.when
    parts = []
    if excluded:
        parts.append("not " + ("(" + " or ".join(_wrap(c) for c in excluded) + ")"
                               if len(excluded) > 1 else f"({excluded[0]})"))
    if own is not None:
        parts.append(own)
    return _conjunction(parts)


@dataclass(frozen=True)
class GateCondition:
    """A way into an approval: from step ``source`` through gateways ``via`` when ``when`` holds."""

    source: str
    via: tuple[str, ...]
    when: str | None


def edges_by_source(workflow: Workflow) -> dict[str, list[Edge]]:
    """Each node's outgoing edges in file order (the siblings :func:`route_condition` needs)."""
    out: dict[str, list[Edge]] = {}
    for edge in workflow.edges:
        out.setdefault(edge.source, []).append(edge)
    return out


def gate_conditions(workflow: Workflow, graph: nx.DiGraph, approval: str,
                    outgoing: Mapping[str, list[Edge]] | None = None) -> list[GateCondition]:
    """The routes into ``approval``: walked back through gateways to the step before, with the
    conjunction of the route conditions on the way (at most 50, in edge order).

    ``outgoing``: :func:`edges_by_source` of the workflow, when the caller has it already.
    """
    if approval not in graph:
        return []
    if outgoing is None:
        outgoing = edges_by_source(workflow)
    found: list[GateCondition] = []
    # Each stack entry: (node, gateways after it towards the approval, conditions collected).
    stack: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [(approval, (), ())]
    while stack and len(found) < _MAX_GATE_ROUTES:
        node, via, conditions = stack.pop()
        entries = []
        for pred in graph.predecessors(node):
            edge = graph.edges[pred, node]["edge"]
            text = route_condition(edge, outgoing.get(pred, []))
            collected = conditions if text is None else (text, *conditions)
            if graph.nodes[pred]["kind"] in _GATEWAYS and pred not in via and pred != approval:
                entries.append((pred, (pred, *via), collected))
            else:
                found.append(GateCondition(pred, via, _conjunction(collected)))
        stack.extend(reversed(entries))
    unique: dict[GateCondition, None] = dict.fromkeys(found)
    return list(unique)[:_MAX_GATE_ROUTES]
