"""The networkx view of a workflow: reachability, paths, cycles, gates and post-dominators.

``to_networkx(workflow)`` gives a ``DiGraph`` whose nodes carry ``kind``, ``actor``,
``actor_kind`` and ``node`` (the model object) and whose edges carry ``edge`` (the model
object) and ``index`` (position in ``workflow.edges``). Edges to unknown nodes are left out of
the graph (the validator reports them). Everything here is read-only; the analyses built on it
(routes, success, hand-offs, reach) are in :mod:`studio.graph_analysis`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from typing import Any

import networkx as nx

from studio.model import (
    Agent,
    Approval,
    Decision,
    Edge,
    Human,
    System,
    Task,
    Tier,
    Workflow,
)

EXIT = "\x00exit"


def to_networkx(workflow: Workflow) -> nx.DiGraph:
    """The workflow as a directed graph (first node wins when ids repeat)."""
    graph: nx.DiGraph = nx.DiGraph(name=workflow.metadata.name)
    actors = workflow.index.actors
    for node in workflow.nodes:
        if node.id in graph:
            continue
        actor_id = getattr(node, "actor", None)
        actor = actors.get(actor_id) if actor_id is not None else None  # as workflow.actor_of, in O(1)
        graph.add_node(
            node.id,
            kind=node.kind,
            label=node.label,
            node=node,
            actor=getattr(node, "actor", None),
            actor_kind=actor.kind if actor is not None else None,
        )
    for index, edge in enumerate(workflow.edges):
        if edge.source in graph and edge.target in graph and not graph.has_edge(edge.source, edge.target):
            graph.add_edge(edge.source, edge.target, edge=edge, index=index)
    return graph


def start_ids(workflow: Workflow) -> list[str]:
    return [n.id for n in workflow.nodes if n.kind == "start"]


def end_ids(workflow: Workflow) -> list[str]:
    return [n.id for n in workflow.nodes if n.kind == "end"]


def reachable_from_start(graph: nx.DiGraph, workflow: Workflow) -> set[str]:
    seen: set[str] = set()
    for start in start_ids(workflow):
        if start in graph:
            seen |= {start} | nx.descendants(graph, start)
    return seen


def can_reach_end(graph: nx.DiGraph, workflow: Workflow) -> set[str]:
    seen: set[str] = set()
    for end in end_ids(workflow):
        if end in graph:
            seen |= {end} | nx.ancestors(graph, end)
    return seen


def reachable_avoiding(graph: nx.DiGraph, source: str, blocked: Callable[[str], bool]) -> set[str]:
    """Nodes reachable from ``source`` along paths whose inner nodes are not ``blocked``.

    A reached blocked node is included but not passed through.
    """
    seen = {source}
    stack = [source]
    while stack:
        current = stack.pop()
        for succ in graph.successors(current):
            if succ in seen:
                continue
            seen.add(succ)
            if not blocked(succ):
                stack.append(succ)
    return seen


def path_avoiding(graph: nx.DiGraph, source: str, target: str, blocked: Callable[[str], bool]) -> list[str] | None:
    """A shortest path ``source`` -> ``target`` whose inner nodes are not ``blocked`` (None: none).

    A witness for :func:`reachable_avoiding`; ties are broken by node and edge order, so the same
    workflow gives the same path.
    """
    if source not in graph or target not in graph:
        return None
    view = nx.subgraph_view(graph, filter_node=lambda n: n in (source, target) or not blocked(n))
    try:
        path: list[str] = nx.shortest_path(view, source, target)
    except nx.NetworkXNoPath:
        return None
    return path


def ungated_from_start(graph: nx.DiGraph, workflow: Workflow, gate: Callable[[str], bool]) -> set[str]:
    """Nodes some path from the start reaches without passing a gate node first."""
    reached: set[str] = set()
    for start in start_ids(workflow):
        if start in graph:
            reached |= reachable_avoiding(graph, start, gate)
    return reached


def post_dominators(graph: nx.DiGraph, workflow: Workflow) -> dict[str, str]:
    """Immediate post-dominator of every node that can reach an end (ends map to a virtual exit)."""
    reverse: nx.DiGraph = nx.DiGraph()  # structure only: copying the attributes (models) is slow
    reverse.add_nodes_from(graph.nodes)
    reverse.add_edges_from((v, u) for u, v in graph.edges)
    for end in end_ids(workflow):
        if end in reverse:
            reverse.add_edge(EXIT, end)
    if EXIT not in reverse:
        return {}
    idom: dict[str, str] = nx.immediate_dominators(reverse, EXIT)
    return {node: dom for node, dom in idom.items() if node != EXIT}


def cycles(graph: nx.DiGraph, limit: int = 1000) -> list[list[str]]:
    """Simple cycles, each rotated to start at its smallest id, sorted; at most ``limit``."""
    found: list[list[str]] = []
    for cycle in nx.simple_cycles(graph):
        pivot = cycle.index(min(cycle))
        found.append(cycle[pivot:] + cycle[:pivot])
        if len(found) >= limit:
            break
    return sorted(found, key=lambda c: (len(c), c))


def cycle_edges(cycle: list[str]) -> list[tuple[str, str]]:
    return [(cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(len(cycle))]


def node_tiers(workflow: Workflow) -> dict[str, Tier]:
    """The highest permission tier each node's tools carry (nodes with no known tools left out)."""
    tiers = {t.id: t.tier for t in workflow.tools}
    out: dict[str, Tier] = {}
    for node in workflow.nodes:
        if isinstance(node, Task):
            known = [tiers[t] for t in node.tools if t in tiers]
            if known:
                out[node.id] = max(known, key=lambda tier: tier.rank)
    return out


def is_approval(workflow: Workflow) -> Callable[[str], bool]:
    kinds = {n.id: n.kind for n in workflow.nodes}
    return lambda node_id: kinds.get(node_id) == "approval"


def is_control(workflow: Workflow) -> Callable[[str], bool]:
    """Approvals and validating tasks: the points where work is checked."""
    controls = {
        n.id for n in workflow.nodes if isinstance(n, Approval) or (isinstance(n, Task) and n.validates)
    }
    return lambda node_id: node_id in controls


def reviewed_nodes(graph: nx.DiGraph, workflow: Workflow, approval: Approval) -> list[str]:
    """What an approval reviews: its ``reviews`` list, else the nearest upstream tasks."""
    if approval.reviews:
        return list(approval.reviews)
    if approval.id not in graph:
        return []
    found: list[str] = []
    stack = list(graph.predecessors(approval.id))
    seen = set(stack)
    while stack:
        current = stack.pop()
        kind = graph.nodes[current]["kind"]
        if kind in ("task", "subworkflow"):
            found.append(current)
            continue
        if kind in ("decision", "parallel", "join", "wait"):
            for pred in graph.predecessors(current):
                if pred not in seen:
                    seen.add(pred)
                    stack.append(pred)
    return sorted(found)


def node_outputs(node: Any) -> set[str]:
    outputs = set(getattr(node, "outputs", ()) or ())
    if isinstance(node, Approval):
        outputs |= {f"{node.id}_decision", f"{node.id}_note"}
    return outputs


def iter_strings(value: Any, path: str = "") -> Iterable[tuple[str, str]]:
    """Every string in a nested structure with its location path (for secret scanning)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{index}]")


def node_actors(workflow: Workflow) -> dict[str, Agent | Human | System | None]:
    """``workflow.actor_of`` for every node at once, in O(n) (first occurrence wins, as there)."""
    actors = workflow.index.actors
    out: dict[str, Agent | Human | System | None] = {}
    for node in workflow.nodes:
        if node.id not in out:
            named = getattr(node, "actor", None)
            out[node.id] = actors.get(named) if named is not None else None
    return out


# --------------------------------------------------------------------------- approvals that route on their outcome

ROUTER_SUFFIX = "_route"
"""An approval ``a`` that routes on its own outcome is followed, for every engine, by ``a_route``."""


def outcome_routers(workflow: Workflow) -> frozenset[str]:
    """The approvals that route on their own outcome: an outgoing edge carries ``when`` or ``default``
    (``when: decision == "reject"``), so no decision node is needed after them. O(nodes + edges)."""
    conditional = {edge.source for edge in workflow.edges if edge.when is not None or edge.default}
    if not conditional:
        return frozenset()
    nodes = workflow.index.nodes
    return frozenset(source for source in conditional if isinstance(nodes.get(source), Approval))


def outcome_condition(approval_id: str, text: str) -> str:
    """``text`` with the field ``decision`` (``decision`` or ``case.decision``, one field in the condition
    language) read as the approval's own decision field ``<id>_decision``. Rewritten on Python's parse of
    the text (the condition language's own syntax), so a string or another attribute that merely
    contains the word is left alone; text that does not parse is returned as is (the validator reports it)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return text
    source = text.strip()
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:  # col_offset counts UTF-8 bytes of its line
        return starts[line - 1] + len(lines[line - 1].encode("utf-8")[:column].decode("utf-8"))

    spots: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "decision":
            begin = offset(node.lineno, node.col_offset)
            spots.append((begin, begin + len("decision"), f"{approval_id}_decision"))
        elif (isinstance(node, ast.Attribute) and node.attr == "decision" and isinstance(node.value, ast.Name)
              and node.value.id == "case" and node.end_lineno is not None and node.end_col_offset is not None):
            spots.append((offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset),
                          f"case.{approval_id}_decision"))
    for begin, end, replacement in sorted(spots, reverse=True):
        source = source[:begin] + replacement + source[end:]
    return source


def with_outcome_routers(workflow: Workflow) -> Workflow:
    """The workflow every engine runs: each approval that routes on its outcome (:func:`outcome_routers`)
    is followed by a decision node ``<id>_route`` that takes its outgoing edges, with ``decision`` in
    their conditions read as ``<id>_decision``; the routers and the edges into them are added after the
    file's nodes and edges. The same object when no approval routes on its outcome.
    See docs/semantics.md (approvals)."""
    routing = outcome_routers(workflow)
    if not routing:
        return workflow
    # the routers and the edges into them go after the file's own, so `nodes[i]`/`edges[j]` of the
    # file still name the same items (findings and exports report places in the file)
    routers = [Decision(id=node.id + ROUTER_SUFFIX, kind="decision", name=f"{node.label}: outcome")
               for node in workflow.index.nodes.values() if node.id in routing]
    edges: list[Any] = []
    for edge in workflow.edges:
        if edge.source not in routing:
            edges.append(edge)
            continue
        update: dict[str, Any] = {"source": edge.source + ROUTER_SUFFIX}
        if edge.when is not None:
            update["when"] = outcome_condition(edge.source, edge.when)
        edges.append(edge.model_copy(update=update))
    edges += [Edge.model_validate({"from": router.id[: -len(ROUTER_SUFFIX)], "to": router.id}) for router in routers]
    nodes = [*workflow.nodes, *routers]
    return workflow.model_copy(update={"nodes": nodes, "edges": edges})
