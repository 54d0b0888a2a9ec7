"""The networkx view of a workflow: reachability, paths, cycles, gates and post-dominators.

``to_networkx(workflow)`` gives a ``DiGraph`` whose nodes carry ``kind``, ``actor``,
``actor_kind`` and ``node`` (the model object) and whose edges carry ``edge`` (the model
object) and ``index`` (position in ``workflow.edges``). Edges to unknown nodes are left out of
the graph (the validator reports them). Everything here is read-only analysis.

The analysis half (below the validator's helpers) answers the workshop questions and returns
frozen dataclasses in a deterministic order:

- :func:`routes`: bounded enumeration of the ways a case can go (one choice at each decision,
  every branch of a parallel section), with probability, success, duration and hand-offs;
- :func:`critical_path`: the longest chain by expected duration (parallel branches count their
  longest);
- :func:`handoffs` and :func:`interaction_network`: who hands work to whom (passing through
  gateways), optionally weighted by observed counts from a simulation;
- :func:`loops`, :func:`actor_cycles`, :func:`hot_spots`, :func:`blast_radius`,
  :func:`delegation_risks`, :func:`pairwise_interactions` and :func:`success_estimate`.

Static estimates look at a case that does not loop back: back edges (found by a depth-first
search from the start, in edge order) are left out and the probability on them is shared among
the forward edges of the same decision (see ``docs/decisions.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from studio.model import (
    Agent,
    Approval,
    Behaviour,
    Human,
    System,
    Task,
    Tier,
    Workflow,
    distribution_mean,
)

_EXIT = "\x00exit"


def to_networkx(workflow: Workflow) -> nx.DiGraph:
    """The workflow as a directed graph (first node wins when ids repeat)."""
    graph: nx.DiGraph = nx.DiGraph(name=workflow.metadata.name)
    actors: dict[str, Agent | Human | System] = {}
    for declared in workflow.actors:
        actors.setdefault(declared.id, declared)
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
            reverse.add_edge(_EXIT, end)
    if _EXIT not in reverse:
        return {}
    idom: dict[str, str] = nx.immediate_dominators(reverse, _EXIT)
    return {node: dom for node, dom in idom.items() if node != _EXIT}


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
        if kind in ("decision", "parallel", "join"):
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
    actors: dict[str, Agent | Human | System] = {}
    for actor in workflow.actors:
        actors.setdefault(actor.id, actor)
    out: dict[str, Agent | Human | System | None] = {}
    for node in workflow.nodes:
        if node.id not in out:
            named = getattr(node, "actor", None)
            out[node.id] = actors.get(named) if named is not None else None
    return out


# =========================================================================== analysis
#
# Everything below builds on one index of the workflow (lookups by id, first occurrence wins)
# so that a 1,000-node workflow is analysed in linear passes, not by repeated list scans.

ActorModel = Agent | Human | System


class _Index:
    """Lookups by id, successors in edge order, hand-off links and the forward view, each
    computed once and shared by every analysis of one workflow."""

    def __init__(self, workflow: Workflow, graph: nx.DiGraph | None = None) -> None:
        self.workflow = workflow
        self.graph: nx.DiGraph = graph if graph is not None else to_networkx(workflow)
        self.order: dict[str, int] = {}
        self.nodes: dict[str, Any] = {}
        for position, node in enumerate(workflow.nodes):
            if node.id not in self.nodes:
                self.nodes[node.id] = node
                self.order[node.id] = position
        self.actors: dict[str, ActorModel] = {}
        for actor in workflow.actors:
            self.actors.setdefault(actor.id, actor)
        self.tools: dict[str, Tier] = {}
        self.tool_writes: dict[str, tuple[str, ...]] = {}
        for tool in workflow.tools:
            if tool.id not in self.tools:
                self.tools[tool.id] = tool.tier
                self.tool_writes[tool.id] = tuple(tool.writes)
        self._actor_of: dict[str, str | None] = {}
        for node_id, node in self.nodes.items():
            named = getattr(node, "actor", None)
            self._actor_of[node_id] = named if named in self.actors else None
        self._succs: dict[str, list[str]] | None = None
        self._performed: dict[str, list[str]] | None = None
        self._kinds: dict[str, str] | None = None
        self._links: tuple[HandOff, ...] | None = None
        self._forward: _Forward | None = None

    def actor_id(self, node_id: str) -> str | None:
        """The id of a node's actor when that actor is declared, else None."""
        return self._actor_of.get(node_id)

    def actor_kind(self, actor_id: str) -> str:
        return self.actors[actor_id].kind

    def node_tools(self, node_id: str) -> tuple[str, ...]:
        node = self.nodes.get(node_id)
        return tuple(node.tools) if isinstance(node, Task) else ()

    def performed_by(self, actor_id: str) -> list[str]:
        """The nodes an actor performs, in workflow order (grouped once for every actor)."""
        if self._performed is None:
            self._performed = {}
            for node_id, owner in self._actor_of.items():
                if owner is not None:
                    self._performed.setdefault(owner, []).append(node_id)
        return self._performed.get(actor_id, [])

    def held_tools(self, actor_id: str) -> tuple[str, ...]:
        """Tools an actor may call (its own list) plus those its steps call, in first-seen order."""
        actor = self.actors[actor_id]
        held: dict[str, None] = dict.fromkeys(getattr(actor, "tools", ()))
        for node_id in self.performed_by(actor_id):
            held.update(dict.fromkeys(self.node_tools(node_id)))
        return tuple(held)

    def sort_nodes(self, ids: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(set(ids), key=lambda n: (self.order.get(n, 1 << 30), n)))

    @property
    def kinds(self) -> dict[str, str]:
        """The kind of every graph node (computed once)."""
        if self._kinds is None:
            self._kinds = {n: attrs["kind"] for n, attrs in self.graph.nodes(data=True)}
        return self._kinds

    @property
    def succs(self) -> dict[str, list[str]]:
        """Successors of every node in edge order (computed once)."""
        if self._succs is None:
            self._succs = {n: _successors(self.graph, n) for n in self.graph.nodes}
        return self._succs

    @property
    def links(self) -> tuple[HandOff, ...]:
        """Every hand-off link (computed once)."""
        if self._links is None:
            self._links = _handoffs(self)
        return self._links

    @property
    def forward(self) -> _Forward:
        if self._forward is None:
            self._forward = _Forward(self)
        return self._forward


class _Forward:
    """The forward view used by the static estimates: no back edges, only nodes that can finish.

    Edges into nodes from which no end can be reached without looping back are left out too, so
    every route ends at an end node.
    """

    def __init__(self, index: _Index) -> None:
        workflow = index.workflow
        self.back_edges = back_edges(index.graph, workflow)
        dag: nx.DiGraph = index.graph.copy()
        dag.remove_edges_from(self.back_edges)
        finishing: set[str] = set()
        for end in end_ids(workflow):
            if end in dag:
                finishing |= {end} | nx.ancestors(dag, end)
        dag.remove_nodes_from([n for n in list(dag.nodes) if n not in finishing])
        self.dag = dag
        self.succs: dict[str, list[str]] = {n: _successors(dag, n) for n in dag.nodes}
        self.kinds = index.kinds
        self.probs = _branch_probabilities(dag)
        self.joins = _fork_joins(dag, workflow)
        self.duration = {n: node_duration(workflow, n, _index=index) for n in dag.nodes}
        self.success = {n: step_success(workflow, n, _index=index) for n in dag.nodes}
        self.topo: list[str] = list(nx.lexicographical_topological_sort(dag, key=lambda n: index.order.get(n, 0)))


def _behaviours(index: _Index, node_id: str) -> tuple[Behaviour | None, Behaviour | None]:
    node = index.nodes.get(node_id)
    own = getattr(node, "behaviour", None)
    actor_id = index.actor_id(node_id)
    actor = index.actors[actor_id].behaviour if actor_id is not None else None
    return own, actor


def node_duration(workflow: Workflow, node_id: str, *, _index: _Index | None = None) -> float:
    """Expected seconds a node takes: its own behaviour's duration, else its actor's, else 0."""
    index = _index or _Index(workflow)
    for behaviour in _behaviours(index, node_id):
        if behaviour is not None and behaviour.duration is not None:
            return distribution_mean(behaviour.duration)
    return 0.0


def step_success(workflow: Workflow, node_id: str, *, _index: _Index | None = None) -> float:
    """Probability one step succeeds: ``1 - failures.total`` of the node's, else its actor's, behaviour."""
    index = _index or _Index(workflow)
    for behaviour in _behaviours(index, node_id):
        if behaviour is not None and behaviour.failures is not None:
            return 1.0 - behaviour.failures.total
    return 1.0


# --------------------------------------------------------------------------- acyclic view


def back_edges(graph: nx.DiGraph, workflow: Workflow) -> tuple[tuple[str, str], ...]:
    """Edges that close a loop: found by a depth-first search from the start, in edge order.

    Removing them leaves a DAG (a case that never loops back); nodes the start cannot reach are
    searched afterwards, in workflow order, so the result is acyclic for any graph.
    """
    found: list[tuple[str, str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    roots = [s for s in start_ids(workflow) if s in graph] + list(graph.nodes)
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(_successors(graph, root)))]
        while stack:
            node, successors = stack[-1]
            advanced = False
            for succ in successors:
                mark = state.get(succ)
                if mark == 1:
                    found.append((node, succ))
                elif mark is None:
                    state[succ] = 1
                    stack.append((succ, iter(_successors(graph, succ))))
                    advanced = True
                    break
            if not advanced:
                state[node] = 2
                stack.pop()
    return tuple(sorted(found, key=lambda e: graph.edges[e]["index"]))


def _successors(graph: nx.DiGraph, node: str) -> list[str]:
    """Successors in the order the edges are written in the workflow."""
    out: dict[str, dict[str, Any]] = graph._succ[node]  # networkx's own adjacency dict: no view objects
    if len(out) < 2:
        return list(out)
    return sorted(out, key=lambda succ: out[succ]["index"])


def _branch_probabilities(dag: nx.DiGraph) -> dict[tuple[str, str], float]:
    """Probability of each forward edge of ``dag`` (the forward view) given its source is reached.

    Parallel forks take every branch (1.0 each). Elsewhere one outgoing edge is taken: edges with
    a ``probability`` keep it, the remainder is split evenly among those without, and the forward
    edges are then scaled to add up to 1 (the share of a back edge goes to the forward ones).
    """
    out: dict[tuple[str, str], float] = {}
    for node in dag.nodes:
        succs = _successors(dag, node)
        if not succs:
            continue
        if dag.nodes[node]["kind"] == "parallel" or len(succs) == 1:
            out.update({(node, s): 1.0 for s in succs})
            continue
        given = {s: dag.edges[node, s]["edge"].probability for s in succs}
        known = sum(p for p in given.values() if p is not None)
        unknown = [s for s, p in given.items() if p is None]
        share = max(0.0, 1.0 - known) / len(unknown) if unknown else 0.0
        raw = {s: (p if p is not None else share) for s, p in given.items()}
        total = sum(raw.values())
        for s in succs:
            out[node, s] = raw[s] / total if total > 0 else 1.0 / len(succs)
    return out


def _fork_joins(dag: nx.DiGraph, workflow: Workflow) -> dict[str, str | None]:
    """For each parallel fork, the join its branches close at (None when they never meet)."""
    forks = [n for n in dag.nodes if dag.nodes[n]["kind"] == "parallel"]
    if not forks:
        return {}
    ipdom = post_dominators(dag, workflow)
    out: dict[str, str | None] = {}
    for fork in forks:
        meet = ipdom.get(fork)
        out[fork] = meet if meet is not None and meet != _EXIT and meet in dag else None
    return out


# --------------------------------------------------------------------------- hand-offs


@dataclass(frozen=True)
class HandOff:
    """Work passes from one actor to another between two consecutive actor-bearing nodes."""

    source: str
    target: str
    from_actor: str
    to_actor: str
    from_kind: str
    to_kind: str
    via: tuple[str, ...] = ()
    """Gateways (and other actorless nodes) passed through between the two, in order."""

    @property
    def kinds(self) -> str:
        return f"{self.from_kind}->{self.to_kind}"


def handoffs(workflow: Workflow, graph: nx.DiGraph | None = None) -> tuple[HandOff, ...]:
    """Every hand-off link in the workflow (loops included), in workflow order.

    From each node with an actor the search passes through nodes without one (decisions,
    forks, joins) to the next actor-bearing nodes; a link is a hand-off when the actor changes.
    """
    return _Index(workflow, graph).links


def _handoffs(index: _Index) -> tuple[HandOff, ...]:
    graph = index.graph
    links: list[HandOff] = []
    for source in index.sort_nodes(n for n in graph.nodes if index.actor_id(n) is not None):
        from_actor = index.actor_id(source)
        assert from_actor is not None
        for target, via in _next_actor_nodes(index, source):
            to_actor = index.actor_id(target)
            assert to_actor is not None
            if to_actor != from_actor:
                links.append(HandOff(source, target, from_actor, to_actor, index.actor_kind(from_actor),
                                     index.actor_kind(to_actor), via))
    return tuple(links)


def _next_actor_nodes(index: _Index, source: str) -> list[tuple[str, tuple[str, ...]]]:
    """Actor-bearing nodes one step of work after ``source``, with the actorless nodes between."""
    found: dict[str, tuple[str, ...]] = {}
    seen = {source}
    queue: list[tuple[str, tuple[str, ...]]] = [(source, ())]
    while queue:
        current, via = queue.pop(0)
        for succ in index.succs[current]:
            if succ in seen:
                continue
            seen.add(succ)
            if index.actor_id(succ) is not None:
                found.setdefault(succ, via)
            else:
                queue.append((succ, (*via, succ)))
    return sorted(found.items(), key=lambda item: (index.order.get(item[0], 0), item[0]))


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    """One way a case can go: a choice at each decision, every branch of a parallel section.

    ``nodes`` lists a parallel section branch by branch (in edge order), then its join.
    """

    nodes: tuple[str, ...]
    end: str
    probability: float
    success: float
    duration: float
    handoffs: tuple[HandOff, ...]

    @property
    def handoff_count(self) -> int:
        return len(self.handoffs)


@dataclass(frozen=True)
class _Frame:
    join: str | None
    remaining: tuple[str, ...]
    frontier: tuple[str, ...]
    collected: tuple[str, ...]
    fork_time: float
    longest: float


@dataclass
class _Walk:
    """One partial route. ``trail`` and ``handoffs`` grow in place along a route and are copied
    only where it branches, so listing routes costs their new steps, not their whole length."""

    node: str
    trail: list[str]
    probability: float
    success: float
    time: float
    frontier: tuple[str, ...]
    handoffs: list[HandOff]
    frames: tuple[_Frame, ...] = ()

    def to(self, node: str, time: float, frontier: tuple[str, ...], frames: tuple[_Frame, ...]) -> _Walk:
        return _Walk(node, self.trail, self.probability, self.success, time, frontier, self.handoffs, frames)


def routes(workflow: Workflow, limit: int = 1000, graph: nx.DiGraph | None = None) -> tuple[Route, ...]:
    """Up to ``limit`` routes from the start to an end, in edge order, loops not taken.

    Each route carries its probability (product of the branch probabilities chosen), its success
    (product of the step successes of every node on it, all parallel branches included), its
    expected duration (parallel branches count their longest) and its hand-offs.
    """
    return _routes(_Index(workflow, graph), limit)


def _routes(index: _Index, limit: int) -> tuple[Route, ...]:
    workflow = index.workflow
    fwd = index.forward
    succs, probs, joins, duration, success = fwd.succs, fwd.probs, fwd.joins, fwd.duration, fwd.success
    handoff_at: dict[tuple[str, str], HandOff] = {(h.source, h.target): h for h in index.links}
    found: list[Route] = []
    stack: list[_Walk] = [
        _Walk(s, [], 1.0, 1.0, 0.0, (), []) for s in reversed(start_ids(workflow)) if s in fwd.dag
    ]
    while stack and len(found) < limit:
        walk = stack.pop()
        node = walk.node
        # arrive at ``node``: record it, its time and success, and its hand-offs
        walk.trail.append(node)
        walk.time += duration[node]
        walk.success *= success[node]
        if index.actor_id(node) is not None:
            for prev in walk.frontier:
                link = handoff_at.get((prev, node))
                if link is not None:
                    walk.handoffs.append(link)
            walk.frontier = (node,)
        nexts = succs[node]
        if fwd.kinds[node] == "parallel" and len(nexts) > 1:
            frame = _Frame(joins.get(node), tuple(nexts[1:]), walk.frontier, (), walk.time, walk.time)
            walk.frames = (*walk.frames, frame)
            forked, _ = _advance(nexts[0], walk)
            assert forked is not None
            stack.append(forked)
            continue
        # leaving ``node``: a branch may be finished (next is its join, or it ended)
        if not nexts:
            closed, end_time = _advance(None, walk) if walk.frames else (None, walk.time)
            if closed is not None:
                stack.append(closed)
            else:
                found.append(Route(tuple(walk.trail), node, walk.probability, walk.success, end_time,
                                   tuple(walk.handoffs)))
            continue
        reached = walk.probability
        for position, target in enumerate(reversed(nexts)):
            last = position == len(nexts) - 1  # the last one goes on with the walk's own lists
            branch = walk if last else _Walk(node, list(walk.trail), reached, walk.success, walk.time,
                                             walk.frontier, list(walk.handoffs), walk.frames)
            branch.probability = reached * probs[node, target]
            moved, _ = _advance(target, branch)
            assert moved is not None
            stack.append(moved)
    return tuple(found)


def _advance(target: str | None, after: _Walk) -> tuple[_Walk | None, float]:
    """The walk that goes on to ``target`` from the state ``after`` a node, closing the parallel
    branches that finish there.

    ``target`` None means the branch reached an end: the next branch starts, or, when the fork
    has no join (a broken workflow), the route is complete once its last branch ends: then the
    walk is None and the float is the route's duration.
    """
    frames, frontier, time = after.frames, after.frontier, after.time
    while frames and (target is None or target == frames[-1].join):
        frame = frames[-1]
        collected = frame.collected + frontier
        longest = max(frame.longest, time)
        if frame.remaining:
            frames = (*frames[:-1], _Frame(frame.join, frame.remaining[1:], frame.frontier, collected,
                                           frame.fork_time, longest))
            return after.to(frame.remaining[0], frame.fork_time, frame.frontier, frames), longest
        frames = frames[:-1]
        frontier = tuple(dict.fromkeys(collected))
        time = longest
        if frame.join is not None:
            target = frame.join
            break
    if target is None:
        return None, time
    return after.to(target, time, frontier, frames), time


# --------------------------------------------------------------------------- critical path


@dataclass(frozen=True)
class CriticalPath:
    """The longest chain from the start to an end by expected duration."""

    nodes: tuple[str, ...]
    duration: float
    steps: tuple[tuple[str, float], ...]
    """(node, expected seconds) along the path."""


def critical_path(workflow: Workflow, graph: nx.DiGraph | None = None) -> CriticalPath:
    """The chain of steps that takes longest, loops not taken.

    A node takes the mean of its behaviour's duration, else its actor's, else nothing; a
    parallel section lasts as long as its longest branch, so the path runs through that branch.
    Ties go to the edge written first.
    """
    return _critical_path(_Index(workflow, graph))


def _critical_path(index: _Index) -> CriticalPath:
    fwd = index.forward
    dag = fwd.dag
    best: dict[str, float] = {}
    choice: dict[str, str | None] = {}
    for node in reversed(fwd.topo):
        after = [(best[s], s) for s in _successors(dag, node) if s in best]
        if after:
            top = max(value for value, _ in after)
            choice[node] = next(s for value, s in after if value == top)
            best[node] = fwd.duration[node] + top
        else:
            choice[node] = None
            best[node] = fwd.duration[node]
    starts = [s for s in start_ids(index.workflow) if s in best]
    if not starts:
        return CriticalPath((), 0.0, ())
    current: str | None = max(starts, key=lambda s: best[s])
    nodes: list[str] = []
    while current is not None:
        nodes.append(current)
        current = choice[current]
    return CriticalPath(tuple(nodes), best[nodes[0]], tuple((n, fwd.duration[n]) for n in nodes))


# --------------------------------------------------------------------------- success


@dataclass(frozen=True)
class SuccessEstimate:
    """Static estimate of the share of cases that finish without a failed step."""

    probability: float
    steps: tuple[tuple[str, float], ...]
    """(node, success of one attempt) for every step that can fail, in workflow order."""
    back_edges: tuple[tuple[str, str], ...]
    """Loops left out of the estimate (a case is assumed not to loop back)."""


def success_estimate(workflow: Workflow, graph: nx.DiGraph | None = None) -> SuccessEstimate:
    """End-to-end success: over every route, the product of its step successes, weighted by the
    route's probability, summed; all branches of a parallel section must succeed.

    Computed by dynamic programming over the forward graph (so it is exact however many routes
    there are); it equals ``sum(r.probability * r.success for r in routes(workflow))`` when the
    routes are not cut off by their limit.
    """
    return _success_estimate(_Index(workflow, graph))


def _success_estimate(index: _Index) -> SuccessEstimate:
    fwd = index.forward
    dag = fwd.dag
    stop = _regions(dag, fwd.joins)
    value: dict[str, float] = {}

    def term(node: str, target: str) -> float:
        return 1.0 if target == stop.get(node) else value[target]

    for node in reversed(fwd.topo):
        succs = _successors(dag, node)
        own = fwd.success[node]
        if not succs:
            value[node] = own
        elif dag.nodes[node]["kind"] == "parallel" and len(succs) > 1:
            join = fwd.joins.get(node)
            total = own
            for branch in succs:
                total *= 1.0 if branch == join else value[branch]
            if join is not None:
                total *= term(node, join)
            value[node] = total
        else:
            value[node] = own * math.fsum(fwd.probs[node, s] * term(node, s) for s in succs)
    starts = [s for s in start_ids(index.workflow) if s in value]
    probability = value[starts[0]] if starts else 0.0
    steps = tuple((n, fwd.success[n]) for n in index.sort_nodes(fwd.dag.nodes) if fwd.success[n] < 1.0)
    return SuccessEstimate(probability, steps, fwd.back_edges)


def _regions(dag: nx.DiGraph, joins: Mapping[str, str | None]) -> dict[str, str | None]:
    """For each node inside a parallel section, the join of the innermost section holding it."""
    sections: list[tuple[int, str | None, set[str]]] = []
    for fork, join in joins.items():
        inside: set[str] = set()
        stack = [s for s in dag.successors(fork) if s != join]
        while stack:
            node = stack.pop()
            if node in inside:
                continue
            inside.add(node)
            stack.extend(s for s in dag.successors(node) if s != join)
        sections.append((len(inside), join, inside))
    stop: dict[str, str | None] = {}
    for _, join, inside in sorted(sections, key=lambda item: -item[0]):  # inner sections overwrite outer
        for node in inside:
            stop[node] = join
    return stop


# --------------------------------------------------------------------------- interaction network


@dataclass(frozen=True)
class Interaction:
    """One edge of the interaction network: work passes from one actor to another."""

    from_actor: str
    to_actor: str
    from_kind: str
    to_kind: str
    handoffs: int
    """How many hand-off links the workflow has between the two (distinct node pairs)."""
    links: tuple[tuple[str, str], ...]
    observed: float | None = None
    """Hand-offs counted in a simulation, when given."""

    @property
    def weight(self) -> float:
        return self.observed if self.observed is not None else float(self.handoffs)


Observed = Mapping[tuple[str, str], float]


def interactions(workflow: Workflow, observed: Observed | None = None,
                 graph: nx.DiGraph | None = None) -> tuple[Interaction, ...]:
    """Who hands work to whom, heaviest first (then by actor order)."""
    return _interactions(_Index(workflow, graph), observed)


def _interactions(index: _Index, observed: Observed | None) -> tuple[Interaction, ...]:
    grouped: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for link in index.links:
        grouped.setdefault((link.from_actor, link.to_actor), []).append((link.source, link.target))
    seen = dict(observed or {})
    for pair in seen:
        grouped.setdefault(pair, [])
    actor_order = {a: i for i, a in enumerate(index.actors)}

    def kind(actor: str) -> str:
        return index.actors[actor].kind if actor in index.actors else "unknown"

    out = [
        Interaction(a, b, kind(a), kind(b), len(links), tuple(links),
                    float(seen[a, b]) if observed is not None and (a, b) in seen else (0.0 if observed else None))
        for (a, b), links in grouped.items()
    ]
    return tuple(sorted(out, key=lambda i: (-i.weight, actor_order.get(i.from_actor, 1 << 30), i.from_actor,
                                            actor_order.get(i.to_actor, 1 << 30), i.to_actor)))


def interaction_network(workflow: Workflow, observed: Observed | None = None,
                        graph: nx.DiGraph | None = None) -> nx.DiGraph:
    """The actor-level DiGraph: nodes are actors (``kind``, ``name``), edges carry ``handoffs``,
    ``links``, ``observed`` (when simulation counts are given) and ``weight`` (observed if given,
    else the number of hand-off links)."""
    return _network(_Index(workflow, graph), observed)


def _network(index: _Index, observed: Observed | None) -> nx.DiGraph:
    network: nx.DiGraph = nx.DiGraph(name=index.workflow.metadata.name)
    for actor in index.actors.values():
        network.add_node(actor.id, kind=actor.kind, name=actor.name or actor.id)
    for item in sorted(_interactions(index, observed), key=lambda i: (i.from_actor, i.to_actor)):
        for name, kind in ((item.from_actor, item.from_kind), (item.to_actor, item.to_kind)):
            if name not in network:
                network.add_node(name, kind=kind, name=name)
        network.add_edge(item.from_actor, item.to_actor, handoffs=item.handoffs, links=item.links,
                         observed=item.observed, weight=item.weight)
    return network


# --------------------------------------------------------------------------- loops and hot spots


@dataclass(frozen=True)
class Loop:
    """A cycle of nodes, rotated to start at its smallest id."""

    nodes: tuple[str, ...]
    actors: tuple[str, ...]
    """Distinct actors of the loop's nodes, in loop order."""
    agent_only: bool
    """Every actor in the loop is an agent: no person ever looks at the work going round."""


def loops(workflow: Workflow, limit: int = 1000, graph: nx.DiGraph | None = None) -> tuple[Loop, ...]:
    """The workflow's simple cycles (at most ``limit``), shortest first."""
    index = _Index(workflow, graph)
    return _loops(index, limit)


def _loops(index: _Index, limit: int) -> tuple[Loop, ...]:
    out: list[Loop] = []
    for cycle in cycles(index.graph, limit):
        actors = tuple(dict.fromkeys(a for a in (index.actor_id(n) for n in cycle) if a is not None))
        kinds = {index.actor_kind(a) for a in actors}
        out.append(Loop(tuple(cycle), actors, bool(kinds) and kinds == {"agent"}))
    return tuple(out)


def actor_cycles(network: nx.DiGraph, limit: int = 1000) -> tuple[tuple[str, ...], ...]:
    """Cycles in an interaction network (work that comes back to an actor), shortest first."""
    return tuple(tuple(c) for c in cycles(network, limit))


@dataclass(frozen=True)
class HotSpot:
    """An actor many others feed work to: where work piles up."""

    actor: str
    kind: str
    upstream: tuple[str, ...]
    """Distinct actors that hand work to this one, sorted."""
    handoffs: int
    weight: float
    """Incoming hand-off weight (observed counts when given)."""


def hot_spots(workflow: Workflow, observed: Observed | None = None,
              graph: nx.DiGraph | None = None) -> tuple[HotSpot, ...]:
    """Actors ranked by how many distinct actors feed them, then by incoming weight."""
    index = _Index(workflow, graph)
    return _hot_spots(index, _interactions(index, observed))


def _hot_spots(index: _Index, items: Iterable[Interaction]) -> tuple[HotSpot, ...]:
    upstream: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    weights: dict[str, float] = {}
    kinds: dict[str, str] = {}
    for item in items:
        upstream.setdefault(item.to_actor, set()).add(item.from_actor)
        counts[item.to_actor] = counts.get(item.to_actor, 0) + item.handoffs
        weights[item.to_actor] = weights.get(item.to_actor, 0.0) + item.weight
        kinds[item.to_actor] = item.to_kind
    spots = [HotSpot(a, kinds[a], tuple(sorted(ups)), counts[a], weights[a]) for a, ups in upstream.items()]
    return tuple(sorted(spots, key=lambda h: (-len(h.upstream), -h.weight, h.actor)))


# --------------------------------------------------------------------------- reach of agents


@dataclass(frozen=True)
class ToolReach:
    tool: str
    tier: str
    at: tuple[str, ...]
    """Nodes that call the tool."""


@dataclass(frozen=True)
class BlastRadius:
    """What an agent's work can touch before a person approves it."""

    agent: str
    performs: tuple[str, ...]
    reach: tuple[str, ...]
    """Nodes reachable from the agent's steps without passing an approval (its own included)."""
    tools: tuple[ToolReach, ...]
    """Tools called in reach, highest tier first."""
    writes: tuple[str, ...]
    """Data sources written in reach (by steps or their tools), sorted."""
    stopped_by: tuple[str, ...]
    """The approvals that bound the reach."""
    reaches_end: bool
    """Some end is reachable with no approval at all."""

    @property
    def max_tier(self) -> str | None:
        return self.tools[0].tier if self.tools else None


_TIER_RANK = {t.value: t.rank for t in Tier}


def _reach(index: _Index, sources: Iterable[str]) -> tuple[dict[str, str | None], set[str]]:
    """Breadth-first reach from ``sources`` not passing approvals: (node -> parent, approvals met)."""
    graph = index.graph
    kinds = index.kinds
    parent: dict[str, str | None] = {}
    queue: list[str] = []
    for source in sources:
        if source in graph and source not in parent:
            parent[source] = None
            queue.append(source)
    approvals: set[str] = set()
    head = 0
    while head < len(queue):
        current = queue[head]
        head += 1
        for succ in index.succs[current]:
            if kinds[succ] == "approval":
                approvals.add(succ)
                continue
            if succ not in parent:
                parent[succ] = current
                queue.append(succ)
    return parent, approvals


def _performs(index: _Index, actor_id: str) -> tuple[str, ...]:
    return index.sort_nodes(index.performed_by(actor_id))


def blast_radius(workflow: Workflow, graph: nx.DiGraph | None = None) -> tuple[BlastRadius, ...]:
    """For each agent (in workflow order): the tools, tiers and data writes reachable downstream of
    the steps it performs before the next approval."""
    return _blast_radius(_Index(workflow, graph))


def _blast_radius(index: _Index) -> tuple[BlastRadius, ...]:
    out: list[BlastRadius] = []
    for actor in index.actors.values():
        if not isinstance(actor, Agent):
            continue
        performs = _performs(index, actor.id)
        parent, approvals = _reach(index, performs)
        reach = index.sort_nodes(parent)
        called: dict[str, list[str]] = {}
        writes: set[str] = set()
        for node_id in reach:
            node = index.nodes[node_id]
            writes.update(getattr(node, "writes", ()))
            for tool in index.node_tools(node_id):
                if tool in index.tools:
                    called.setdefault(tool, []).append(node_id)
                    writes.update(index.tool_writes[tool])
        tools = sorted(
            (ToolReach(t, index.tools[t].value, tuple(at)) for t, at in called.items()),
            key=lambda r: (-_TIER_RANK[r.tier], r.tool),
        )
        ends = any(index.graph.nodes[n]["kind"] == "end" for n in reach)
        out.append(BlastRadius(actor.id, performs, reach, tuple(tools), tuple(sorted(writes)),
                               index.sort_nodes(approvals), ends))
    return tuple(out)


@dataclass(frozen=True)
class DelegationRisk:
    """An agent can hand work to an agent holding a higher-tier tool with no approval between."""

    agent: str
    delegate: str
    agent_tier: str | None
    """The highest tier the agent holds itself (None: no tools)."""
    delegate_tier: str
    tools: tuple[str, ...]
    """The delegate's tools above the agent's own tier, sorted."""
    via: tuple[str, ...]
    """A shortest chain of nodes from the agent's step to the delegate's step."""


def _held_rank(index: _Index, actor_id: str) -> int:
    ranks = [index.tools[t].rank for t in index.held_tools(actor_id) if t in index.tools]
    return max(ranks, default=-1)


def delegation_risks(workflow: Workflow, graph: nx.DiGraph | None = None) -> tuple[DelegationRisk, ...]:
    """Privilege escalation by delegation, by agent in workflow order then delegate."""
    return _delegation_risks(_Index(workflow, graph))


def _delegation_risks(index: _Index) -> tuple[DelegationRisk, ...]:
    agents = [a.id for a in index.actors.values() if isinstance(a, Agent)]
    rank = {a: _held_rank(index, a) for a in agents}
    tier_names = {t.rank: t.value for t in Tier}
    out: list[DelegationRisk] = []
    for agent in agents:
        parent, _ = _reach(index, _performs(index, agent))
        found: dict[str, str] = {}
        for node_id in parent:  # breadth-first order: the first hit is a shortest chain
            other = index.actor_id(node_id)
            if other is None or other == agent or other not in rank or other in found:
                continue
            if rank[other] > rank[agent]:
                found[other] = node_id
        for other in sorted(found, key=agents.index):
            chain: list[str] = []
            at: str | None = found[other]
            while at is not None:
                chain.append(at)
                at = parent[at]
            tools = sorted(t for t in index.held_tools(other) if t in index.tools and index.tools[t].rank > rank[agent])
            out.append(DelegationRisk(agent, other, tier_names.get(rank[agent]), tier_names[rank[other]],
                                      tuple(tools), tuple(reversed(chain))))
    return tuple(out)


@dataclass(frozen=True)
class PairwiseInteractions:
    """How many agent pairs could interact (n(n-1)/2) and how many hand work to each other."""

    agents: int
    possible: int
    interacting: tuple[tuple[str, str], ...]
    """Agent pairs (sorted, each pair sorted) with a hand-off in either direction."""

    @property
    def one_more_adds(self) -> int:
        """Another agent adds n possible pairs."""
        return self.agents

    @staticmethod
    def pairs(n: int) -> int:
        return n * (n - 1) // 2


def pairwise_interactions(workflow: Workflow, graph: nx.DiGraph | None = None) -> PairwiseInteractions:
    index = _Index(workflow, graph)
    return _pairwise(index, _interactions(index, None))


def _pairwise(index: _Index, items: Iterable[Interaction]) -> PairwiseInteractions:
    agents = [a for a in index.actors.values() if isinstance(a, Agent)]
    pairs = {
        (min(i.from_actor, i.to_actor), max(i.from_actor, i.to_actor))
        for i in items if i.from_kind == "agent" and i.to_kind == "agent" and i.handoffs > 0
    }
    n = len(agents)
    return PairwiseInteractions(n, PairwiseInteractions.pairs(n), tuple(sorted(pairs)))
