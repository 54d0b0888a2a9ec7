"""Static analyses of a workflow's graph (:mod:`studio.graph`), answering the workshop's questions
with frozen dataclasses in a deterministic order:

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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from studio.expr import EvaluationError, Expression, ExpressionError, parse
from studio.graph import EXIT, cycles, end_ids, post_dominators, start_ids, to_networkx, with_outcome_routers
from studio.model import (
    Agent,
    Approval,
    Behaviour,
    Decision,
    Human,
    Subworkflow,
    System,
    Task,
    Tier,
    Wait,
    Workflow,
    distribution_mean,
    wait_mean,
)

# Everything here builds on one index of the workflow (lookups by id, first occurrence wins)
# so that a 1,000-node workflow is analysed in linear passes, not by repeated list scans.

ActorModel = Agent | Human | System


class _Index:
    """Lookups by id, successors in edge order, hand-off links and the forward view, each
    computed once and shared by every analysis of one workflow."""

    def __init__(self, workflow: Workflow, graph: nx.DiGraph | None = None,
                 field_ids: Mapping[str, str] | None = None) -> None:
        self.field_ids: Mapping[str, str] = field_ids or {}
        """Step id -> the id its approval fields are named by (a subworkflow's steps: their id in their own
        file, see :meth:`studio.expand.Expanded.local_ids`); others by their own id."""
        runs = with_outcome_routers(workflow)  # what every engine runs (approvals routing on their outcome)
        if runs is not workflow:
            workflow, graph = runs, None
        self.workflow = workflow
        self.graph: nx.DiGraph = graph if graph is not None else to_networkx(workflow)
        index = workflow.index
        self.order: dict[str, int] = index.node_order
        self.nodes: dict[str, Any] = index.nodes
        self.actors: dict[str, ActorModel] = index.actors
        self.tools: dict[str, Tier] = {tool_id: tool.tier for tool_id, tool in index.tools.items()}
        self.tool_writes: dict[str, tuple[str, ...]] = {
            tool_id: tuple(tool.writes) for tool_id, tool in index.tools.items()
        }
        self._actor_of: dict[str, str | None] = {}
        for node_id, node in self.nodes.items():
            named = getattr(node, "actor", None)
            self._actor_of[node_id] = named if named in self.actors else None
        self._succs: dict[str, list[str]] | None = None
        self._performed: dict[str, list[str]] | None = None
        self._kinds: dict[str, str] | None = None
        self._links: tuple[HandOff, ...] | None = None
        self._forward: _Forward | None = None
        self.shares: dict[str, dict[str, float]] = {}
        self._tool_failures: dict[str, float] | None = None
        self._steps: dict[str, tuple[float, int, float]] = {}
        """Branch probabilities per decision (target -> share) estimated from data; see ``use_shares``."""

    def actor_id(self, node_id: str) -> str | None:
        """The id of a node's actor when that actor is declared, else None."""
        return self._actor_of.get(node_id)

    def actor_kind(self, actor_id: str) -> str:
        return self.actors[actor_id].kind

    def tool_failure(self, tool_id: str) -> float:
        """Probability one call of a tool fails: ``simulation.tools[tool]`` over the tool's own behaviour."""
        if self._tool_failures is None:
            self._tool_failures = {}
            for tool in self.workflow.tools:
                if tool.id not in self._tool_failures:
                    override = self.workflow.simulation.tools.get(tool.id)
                    failures = _field(override, tool.behaviour, "failures")
                    self._tool_failures[tool.id] = float(failures.total) if failures is not None else 0.0
        return self._tool_failures.get(tool_id, 0.0)

    def step(self, node_id: str) -> tuple[float, int, float]:
        """(one attempt's success, retries, success with retries) of a node (worked out once)."""
        known = self._steps.get(node_id)
        if known is None:
            attempt, retries = _attempt(self, node_id)
            known = self._steps[node_id] = (attempt, retries, 1.0 - (1.0 - attempt) ** (retries + 1))
        return known

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

    def use_shares(self, branches: Iterable[BranchShare]) -> None:
        """Route probabilities from these branch shares (the forward view is worked out again)."""
        self.shares = {b.decision: dict(b.shares) for b in branches if b.source != "even split"}
        if self._forward is not None:
            self._forward.probs = _branch_probabilities(self._forward.dag, self.shares)


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
        self.probs = _branch_probabilities(dag, index.shares)
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
    """Expected seconds a node takes: its own behaviour's duration, else its actor's, else 0; a wait
    its expected wait (:func:`~studio.model.wait_mean`)."""
    index = _index or _Index(workflow)
    node = index.nodes.get(node_id)
    if isinstance(node, Wait):
        return wait_mean(node)
    for behaviour in _behaviours(index, node_id):
        if behaviour is not None and behaviour.duration is not None:
            return distribution_mean(behaviour.duration)
    return 0.0


def step_success(workflow: Workflow, node_id: str, *, _index: _Index | None = None) -> float:
    """Probability a step succeeds, as the simulator runs it: every attempt calls the step's tools
    (each may fail) and then does the work (``failures.total``); a failed attempt is retried
    ``retries`` times (``behaviour.retries`` of the node, else its actor's, else
    ``policies.retries``, which defaults to 1). Human steps and approvals never fail (their
    outcome is a decision, not a failure); start, end and gateways cannot fail.
    """
    return (_index or _Index(workflow)).step(node_id)[2]


def _attempt(index: _Index, node_id: str) -> tuple[float, int]:
    workflow = index.workflow
    node = index.nodes.get(node_id)
    if not isinstance(node, (Task, Subworkflow)):
        return 1.0, 0
    actor_id = index.actor_id(node_id)
    if actor_id is not None and index.actor_kind(actor_id) == "human":
        return 1.0, 0
    own, actor = _behaviours(index, node_id)
    failures = _field(own, actor, "failures")
    retries = _field(own, actor, "retries")
    attempt = 1.0 - (failures.total if failures is not None else 0.0)
    for tool in node.tools if isinstance(node, Task) else ():
        attempt *= 1.0 - index.tool_failure(tool)
    return attempt, int(retries) if retries is not None else workflow.policies.retries


def _field(own: Behaviour | None, actor: Behaviour | None, name: str) -> Any:
    """A behaviour field as the simulator layers it: the node's, else its actor's, else None."""
    for behaviour in (own, actor):
        value = getattr(behaviour, name, None) if behaviour is not None else None
        if value is not None:
            return value
    return None


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


def _branch_probabilities(dag: nx.DiGraph, shares: Mapping[str, Mapping[str, float]] | None = None
                          ) -> dict[tuple[str, str], float]:
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
        known_shares = (shares or {}).get(node)
        if known_shares is not None and sum(known_shares.get(s, 0.0) for s in succs) > 0:
            forward = sum(known_shares.get(s, 0.0) for s in succs)
            out.update({(node, s): known_shares.get(s, 0.0) / forward for s in succs})
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
        out[fork] = meet if meet is not None and meet != EXIT and meet in dag else None
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
class BranchShare:
    """Where one decision's branch probabilities come from, and what they are (per visit)."""

    decision: str
    source: str
    """``workflow`` (the edges' ``probability``), ``sample data`` (the conditions evaluated over the
    rows, approvals' decisions weighted by their rates), ``approval rates`` (conditions that read
    only approvals' decisions) or ``even split`` (no probabilities and no data to evaluate)."""
    shares: tuple[tuple[str, float], ...]
    """(target, probability) in edge order; with data, the rows no branch takes are left out."""
    unrouted: float = 0.0
    """Share of evaluations no branch takes or that cannot be evaluated (those cases fail)."""


@dataclass(frozen=True)
class SuccessEstimate:
    """Static estimate of the share of cases that complete (reach an end), computed the way the
    simulator runs a case: step failures with retries, approvals' decisions by their rates, branch
    probabilities or conditions over the sample data, loops until their guard stops them."""

    probability: float
    steps: tuple[tuple[str, float], ...]
    """(node, success with retries) for every step that can fail, in workflow order."""
    back_edges: tuple[tuple[str, str], ...]
    """Loops left out of the estimate (only when it fell back to the loop-free view; see ``exact``)."""
    attempts: tuple[tuple[str, float, int], ...] = ()
    """(node, success of one attempt, retries after a failed attempt) for the same steps."""
    branches: tuple[BranchShare, ...] = ()
    killed: float = 0.0
    """Share of cases a loop guard stops."""
    failed_steps: float = 0.0
    """Share of cases a step fails (after its retries)."""
    failed_routing: float = 0.0
    """Share of cases a decision cannot route (a condition fails to evaluate, or no branch matches)."""
    rows: int = 0
    """Sample rows averaged over (cases cycle through them); 0 without data."""
    exact: bool = True
    """False when the case's states were too many (or a loop has no guard) and the estimate is the
    loop-free one: back edges left out, their share given to the forward branches."""
    assumptions: tuple[str, ...] = ()


def success_estimate(workflow: Workflow, graph: nx.DiGraph | None = None, data: Any = None) -> SuccessEstimate:
    """Share of cases that complete, as :func:`studio.simulate.simulate` would find it.

    ``data``: sample rows (a :class:`~studio.fileio.Cases`, a path or dicts); decisions without branch
    probabilities are routed by evaluating their conditions on each row (cases cycle through the
    rows), without data their branches are split evenly. The walk is exact for a workflow without
    parallel sections: every state a case can be in (node, loop counts, the approval decisions and
    fields a later condition reads) is visited once per distinct row. Parallel branches must all
    succeed and are taken to be independent.
    """
    index = _Index(workflow, graph)
    return _success_estimate(index, _rows_of(data))


def _rows_of(data: Any) -> list[dict[str, Any]] | None:
    if data is None:
        return None
    from studio import fileio  # noqa: PLC0415 - only when data is given

    cases = fileio.as_cases(data)
    return [dict(row) for row in cases.rows] if cases is not None else None


_SUCCESS = (1.0, 0.0, 0.0, 0.0)
_KILLED = (0.0, 1.0, 0.0, 0.0)
_FAILED = (0.0, 0.0, 1.0, 0.0)
_UNROUTED = (0.0, 0.0, 0.0, 1.0)
_STATE_LIMIT = 200_000
_SWEEPS = 5_000
_MISSING = object()

Vec = tuple[float, float, float, float]
State = tuple[str, tuple[tuple[str, str, int], ...], tuple[tuple[str, Any], ...], str | None]
Term = tuple[float, "State | Vec"]


class _TooMany(Exception):
    """The walk met more states than the limit, or a loop without a guard."""


class _Walker:
    """Every decision the simulator makes for one case, as probabilities (see ``success_estimate``)."""

    def __init__(self, index: _Index, rows: list[dict[str, Any]] | None) -> None:
        self.index = index
        graph = index.graph
        self.rows = rows
        self.kinds = index.kinds
        self.edges: dict[str, list[Any]] = {}
        for edge in index.workflow.edges:
            if edge.source in graph and edge.target in graph:
                self.edges.setdefault(edge.source, []).append(edge)
        self._components()
        self.success: dict[str, float] = {}
        self.outputs: dict[str, tuple[str, ...]] = {}
        self.approvals: dict[str, tuple[float, float, float, Expression | None]] = {}
        self.conditions: dict[str, list[tuple[str, Expression | None, bool, float | None]]] = {}
        self.last_read: dict[str, int] = {}
        """Field -> the latest topological position of a node that reads it (see ``position``)."""
        for node_id, node in index.nodes.items():
            if node_id in graph:
                self._node(node_id, node)
        self.read = frozenset(self.last_read)
        self.joins = index.forward.joins
        self.assumptions: dict[str, None] = {}
        self.states = 0

    def _components(self) -> None:
        """Loops (strongly connected components) and their guards."""
        graph = self.index.graph
        components = list(nx.strongly_connected_components(graph))
        member = {node: i for i, nodes in enumerate(components) for node in nodes}
        size = {i: len(nodes) for i, nodes in enumerate(components)}
        condensed = nx.condensation(graph, scc=components)
        order = {c: position for position, c in enumerate(nx.topological_sort(condensed))}
        self.member = member
        self.position = {node: order[c] for node, c in member.items()}
        """Topological position of each node's strongly connected component: a loop's count is kept
        only while the case is inside that loop's component, and a field only while a node that reads
        it may still come (no reader at a later position: it is dropped), so states do not multiply
        with every loop and approval the case has left behind."""
        policy = self.index.workflow.policies.max_repeats
        self.guards: dict[tuple[str, str], int] = {}
        self.unguarded: list[tuple[str, str]] = []
        for source, out in self.edges.items():
            for edge in out:
                same = member[source] == member[edge.target]
                if not same or (size[member[source]] == 1 and source != edge.target):
                    continue
                limit = edge.max_repeats if edge.max_repeats is not None else policy
                if limit is None:
                    self.unguarded.append((source, edge.target))
                else:
                    self.guards.setdefault((source, edge.target), limit)

    def _reads(self, node_id: str, expression: Expression | None) -> None:
        if expression is not None:
            for name in expression.root_fields():
                self.last_read[name] = max(self.last_read.get(name, -1), self.position[node_id])

    def _node(self, node_id: str, node: Any) -> None:
        """What the walk needs about one node: success with retries, outputs, outcomes, branches."""
        index = self.index
        self.success[node_id] = index.step(node_id)[2]
        self.outputs[node_id] = tuple(getattr(node, "outputs", ()) or ())
        if isinstance(node, Approval):
            own, actor = _behaviours(index, node_id)
            approve = _field(own, actor, "approve_rate")
            send_back = float(_field(own, actor, "send_back_rate") or 0.0)
            approve = float(approve) if approve is not None else 1.0 - send_back
            threshold = _parsed(node.threshold)
            self._reads(node_id, threshold)
            self.approvals[node_id] = (approve, send_back, max(0.0, 1.0 - approve - send_back), threshold)
        elif isinstance(node, Decision):
            branches = []
            for edge in self.edges.get(node_id, []):
                expression = None if edge.default else _parsed(edge.when)
                self._reads(node_id, expression)
                branches.append((edge.target, expression, edge.default, getattr(edge, "probability", None)))
            self.conditions[node_id] = branches

    # ------------------------------------------------------------------ one row

    def solve(self, row: Mapping[str, Any]) -> Vec:
        """(completed, killed, failed step, unrouted) shares of the cases that start with ``row``."""
        starts = [s for s in start_ids(self.index.workflow) if s in self.index.graph]
        if not starts:
            return (0.0, 0.0, 0.0, 0.0)
        root: State = (starts[0], (), (), None)
        try:
            return self._acyclic(root, row)
        except _TooMany as why:
            if str(why) != "cycle":
                raise
            return self._iterate(root, row)

    def _iterate(self, root: State, row: Mapping[str, Any]) -> Vec:
        """A loop without a guard makes the states cyclic: every reachable state, then sweeps of the
        same sums until they settle (they converge like the chance of still being in the loop).
        What never leaves the loop is what ``policies.max_turns`` stops: counted as killed."""
        expansions: dict[State, tuple[str, float, list[Term]]] = {}
        todo = [root]
        while todo:
            state = todo.pop()
            if state in expansions:
                continue
            expansions[state] = expansion = self._expand(state, row)
            self.states += 1
            if self.states > _STATE_LIMIT:
                raise _TooMany("states")
            todo += [child for _, child in expansion[2] if isinstance(child[0], str) and child not in expansions]
        values: dict[State, Vec] = dict.fromkeys(expansions, (0.0, 0.0, 0.0, 0.0))
        order = list(reversed(expansions))
        for _ in range(_SWEEPS):
            change = 0.0
            for state in order:
                new = self._combine(expansions[state], values)
                change = max(change, abs(new[0] - values[state][0]), abs(new[1] - values[state][1]))
                values[state] = new
            if change < 1e-13:
                break
        else:
            raise _TooMany("sweeps")
        done, killed, failed, unrouted = values[root]
        return (done, killed + max(0.0, 1.0 - done - killed - failed - unrouted), failed, unrouted)

    def _acyclic(self, root: State, row: Mapping[str, Any]) -> Vec:
        memo: dict[State, Vec] = {}
        stack: list[tuple[State, tuple[str, float, list[Term]] | None]] = [(root, None)]
        open_states: set[State] = set()
        while stack:
            state, expansion = stack.pop()
            if state in memo:
                continue
            if expansion is None:
                expansion = self._expand(state, row)
                self.states += 1
                if self.states > _STATE_LIMIT:
                    raise _TooMany("states")
            waiting = [child for _, child in expansion[2] if isinstance(child[0], str) and child not in memo]
            if waiting:
                if state in open_states:
                    raise _TooMany("cycle")
                open_states.add(state)
                stack.append((state, expansion))
                for child in waiting:
                    if child in open_states:
                        raise _TooMany("cycle")
                    stack.append((child, None))
                continue
            open_states.discard(state)
            memo[state] = self._combine(expansion, memo)
        return memo[root]

    @staticmethod
    def _combine(expansion: tuple[str, float, list[Term]], memo: Mapping[State, Vec]) -> Vec:
        how, factor, terms = expansion
        vecs = [(w, child if not isinstance(child[0], str) else memo[child]) for w, child in terms]
        if how == "sum":
            done = killed = failed = unrouted = 0.0
            for w, v in vecs:
                done += w * v[0]
                killed += w * v[1]
                failed += w * v[2]
                unrouted += w * v[3]
            return (done, killed, failed, unrouted)
        # all of the children must complete (parallel branches, then what follows the join)
        done = factor
        for _, v in vecs:
            done *= v[0]
        rest = [sum(v[i] for _, v in vecs) for i in (1, 2, 3)]
        total = sum(rest)
        lost = factor * (1.0 - done / factor if factor > 0 else 1.0)
        failed_here = 1.0 - factor
        shares = [lost * r / total if total > 0 else 0.0 for r in rest]
        return (done, shares[0], shares[1] + failed_here, shares[2])

    def _expand(self, state: State, row: Mapping[str, Any]) -> tuple[str, float, list[Term]]:
        node, counts, fields, stop = state
        kind = self.kinds.get(node)
        if kind == "end":
            return ("sum", 1.0, [(1.0, _SUCCESS)])
        case = {**row, **dict(fields)} if fields else row
        if kind == "decision":
            return ("sum", 1.0, self._route(node, state, case))
        if kind == "approval":
            return ("sum", 1.0, self._approval(state, case))
        success = self.success.get(node, 1.0)
        after = self._with(fields, {}, case, node) if self.outputs.get(node) else fields
        targets = self._targets(node)
        if len(targets) > 1:  # a fork: every branch must complete, then the join (or nothing) follows
            join = self.joins.get(node) if kind == "parallel" else None
            children: list[Term] = []
            for target in targets:
                children.append((1.0, self._go(node, target, counts, after, join)[1]))
            if join is not None:
                children.append((1.0, (join, counts, after, stop)))
            elif stop is not None:
                self._assume(f"`{node}`: branches that never meet inside an enclosing parallel section")
            return ("prod", success, children)
        terms = [(success * w, child) for w, child in self._onward(node, counts, after, stop)]
        if success < 1.0:
            terms.append((1.0 - success, _FAILED))
        return ("sum", 1.0, terms)

    def _approval(self, state: State, case: Mapping[str, Any]) -> list[Term]:
        node, counts, fields, stop = state
        approve, send_back, reject, threshold = self.approvals[node]
        outcomes: list[tuple[float, str]] = [(approve, "approve"), (send_back, "send_back"), (reject, "reject")]
        if threshold is not None:
            try:
                needed = threshold.evaluate_bool(case)
            except ExpressionError:
                if self.rows:
                    return [(1.0, _UNROUTED)]
                self._assume(f"approval `{node}`: its threshold cannot be evaluated without sample data; "
                             "taken as needed")
                needed = True
            if not needed:
                outcomes = [(1.0, "approve")]
        terms: list[Term] = []
        for weight, decision in outcomes:
            if weight > 0:
                named = self.index.field_ids.get(node, node)
                after = self._with(fields, {f"{named}_decision": decision, f"{named}_note": None}, case, node)
                terms += [(weight * w, child) for w, child in self._onward(node, counts, after, stop)]
        return terms

    def _targets(self, node: str) -> list[str]:
        return self.index.succs.get(node, [])  # in edge order

    def _onward(self, node: str, counts: Any, fields: Any, stop: str | None) -> list[Term]:
        targets = self._targets(node)
        if not targets:
            return [(1.0, _SUCCESS)]  # a dead end: the case stops with nothing left to run
        return [self._go(node, targets[0], counts, fields, stop)]

    def _go(self, source: str, target: str, counts: tuple[tuple[str, str, int], ...], fields: Any,
            stop: str | None) -> Term:
        if target == stop:
            return (1.0, _SUCCESS)
        limit = self.guards.get((source, target))
        if limit is not None:
            taken = dict(((a, b), n) for a, b, n in counts)
            n = taken.get((source, target), 0) + 1
            if n > limit:
                return (1.0, _KILLED)
            taken[source, target] = n
            counts = tuple(sorted((a, b, c) for (a, b), c in taken.items()))
        if (counts or fields) and self.member[source] != self.member[target]:  # left a loop: forget what cannot return
            inside = self.member[target]
            counts = tuple(c for c in counts if self.member[c[1]] == inside)
            here = self.position[target]
            fields = tuple(f for f in fields if self.last_read.get(f[0], -1) >= here)
        return (1.0, (target, counts, fields, stop))

    def _route(self, node: str, state: State, case: Mapping[str, Any]) -> list[Term]:
        _, counts, fields, stop = state
        branches = self.conditions.get(node, [])
        if not branches:
            return [(1.0, _SUCCESS)]
        default = next((target for target, _, is_default, _ in branches if is_default), None)
        drawn = [(p, target) for target, _, is_default, p in branches if not is_default and p is not None]
        if drawn:  # one fresh draw per visit; the default (else the last branch) takes the remainder
            rest = max(0.0, 1.0 - math.fsum(p for p, _ in drawn))
            if rest > 0:
                drawn.append((rest, default if default is not None else drawn[-1][1]))
            return [(p * w, child) for p, target in drawn
                    for w, child in [self._go(node, target, counts, fields, stop)]]
        for target, expression, is_default, _ in branches:
            if is_default or expression is None:
                continue
            try:
                taken = expression.evaluate_bool(case)
            except ExpressionError as exc:
                return self._unevaluable(node, state, expression, exc)
            if taken:
                return [self._go(node, target, counts, fields, stop)]
        if default is None:
            return [(1.0, _UNROUTED)]
        return [self._go(node, default, counts, fields, stop)]

    def _unevaluable(self, node: str, state: State, expression: Expression, exc: ExpressionError) -> list[Term]:
        """With data, the simulator fails the case; without, the branches are split evenly (and it says so)."""
        _, counts, fields, stop = state
        if self.rows:
            message = exc.message if isinstance(exc, EvaluationError) else str(exc)
            self._assume(f"decision `{node}`: `{expression.text}` cannot be evaluated on some rows "
                         f"({message}); the simulator fails those cases")
            return [(1.0, _UNROUTED)]
        self._assume(f"decision `{node}`: no sample data to evaluate its conditions; branches split evenly")
        targets = list(dict.fromkeys(t for t, *_ in self.conditions[node]))
        return [(w / len(targets), child) for t in targets for w, child in [self._go(node, t, counts, fields, stop)]]

    def _with(self, fields: tuple[tuple[str, Any], ...], new: Mapping[str, Any], case: Mapping[str, Any],
              node: str) -> tuple[tuple[str, Any], ...]:
        """The fields a later condition reads, after ``node`` ran: its decision, outputs it left unset."""
        changes = {k: v for k, v in new.items() if k in self.read}
        for name in self.outputs.get(node, ()):
            if name in self.read and name not in case and name not in changes:
                changes[name] = None
        if not changes:
            return fields
        merged = dict(fields)
        merged.update(changes)
        return tuple(sorted(merged.items(), key=lambda item: item[0]))

    def _assume(self, text: str) -> None:
        self.assumptions.setdefault(text, None)


def _parsed(text: str | None) -> Expression | None:
    if text is None:
        return None
    try:
        return parse(text)
    except ExpressionError:
        return None  # the validator reports it; the simulator would not compile


def _success_estimate(index: _Index, rows: list[dict[str, Any]] | None = None) -> SuccessEstimate:
    workflow = index.workflow
    walker = _Walker(index, rows)
    attempts = []
    steps = []
    for node in index.nodes:  # workflow order
        attempt, retries, success = index.step(node)
        if attempt < 1.0 and node in index.graph:
            attempts.append((node, attempt, retries))
            steps.append((node, success))
    assumptions = _stated(workflow, walker, attempts)
    groups: dict[tuple[Any, ...], tuple[dict[str, Any], int]] = {}
    for row in rows or [{}]:
        key = tuple(repr(row.get(name, _MISSING)) for name in sorted(walker.read))
        seen = groups.get(key)
        groups[key] = (row, seen[1] + 1 if seen is not None else 1)
    total = sum(count for _, count in groups.values())
    branches = _branch_shares(index, walker, rows)
    index.use_shares(branches)
    try:
        sums = [0.0, 0.0, 0.0, 0.0]
        for row, count in groups.values():
            vec = walker.solve(row)
            for i in range(4):
                sums[i] += vec[i] * count
        probability, killed, failed, unrouted = (value / total for value in sums)
    except _TooMany as why:
        fwd = index.forward
        loop_free = _loop_free(index)
        reason = (f"an unguarded loop did not settle in {_SWEEPS:,} sweeps" if str(why) == "sweeps"
                  else f"more than {_STATE_LIMIT:,} states")
        assumptions.append(f"loops left out ({reason}): a case is taken not to loop back")
        assumptions += list(walker.assumptions)
        return SuccessEstimate(loop_free, tuple(steps), fwd.back_edges, tuple(attempts), branches,
                               rows=len(rows or ()), exact=False, assumptions=tuple(assumptions))
    if walker.guards:
        assumptions.append("loops run until a branch leaves them or their guard (max_repeats) stops the case")
    if walker.unguarded:
        assumptions.append("a loop without a guard runs until a branch leaves it; policies.max_turns is not "
                           "counted, so only a case that can never leave counts as stopped")
    if any(walker.kinds.get(n) == "parallel" for n in index.nodes):
        assumptions.append("parallel branches succeed or fail independently; all must complete")
    assumptions += list(walker.assumptions)
    return SuccessEstimate(probability, tuple(steps), (), tuple(attempts), branches, killed, failed, unrouted,
                           len(rows or ()), True, tuple(assumptions))


def _stated(workflow: Workflow, walker: _Walker, attempts: list[tuple[str, float, int]]) -> list[str]:
    """The assumptions every estimate of this workflow rests on."""
    out: list[str] = []
    if attempts:
        retried = ", ".join(str(r) for r in sorted({r for _, _, r in attempts}))
        out.append(f"a failed attempt is retried ({retried} time(s)); "
                   f"policies.retries = {workflow.policies.retries} unless a behaviour sets `retries`")
    if walker.approvals:
        out.append("approvals decide by their approve_rate / send_back_rate (the rest rejects); an "
                   "escalated approval is taken to decide at its own actor's rates")
    if workflow.simulation.overrides:
        out.append("per-case overrides (simulation.overrides) are not applied")
    return out


def _loop_free(index: _Index) -> float:
    """The loop-free estimate: over the forward view, products of step successes weighted by branch
    probabilities; all branches of a parallel section must succeed."""
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
    return value[starts[0]] if starts else 0.0


def _branch_shares(index: _Index, walker: _Walker, rows: list[dict[str, Any]] | None) -> tuple[BranchShare, ...]:
    """Each decision's branch probabilities per visit and where they come from."""
    out: list[BranchShare] = []
    for node in index.sort_nodes(walker.conditions):
        branches = walker.conditions[node]
        if len(branches) < 2:
            continue
        targets = list(dict.fromkeys(t for t, *_ in branches))
        default = next((t for t, _, d, _ in branches if d), None)
        drawn = [(t, p) for t, _, d, p in branches if not d and p is not None]
        if drawn:
            share = dict.fromkeys(targets, 0.0)
            for t, p in drawn:
                share[t] += p
            share[default if default is not None else drawn[-1][0]] += max(0.0, 1.0 - sum(p for _, p in drawn))
            out.append(BranchShare(node, "workflow", tuple(share.items())))
        else:
            out.append(_evaluated(node, walker, rows, targets, default))
    return tuple(out)


def _evaluated(node: str, walker: _Walker, rows: list[dict[str, Any]] | None, targets: list[str],
               default: str | None) -> BranchShare:
    """Shares of a decision routed by its conditions: over the rows, approvals' decisions by their rates."""
    branches = walker.conditions[node]
    approval_fields = {f"{walker.index.field_ids.get(a, a)}_decision": a for a in walker.approvals}
    read: set[str] = set()
    for _, expression, _, _ in branches:
        read |= expression.root_fields() if expression is not None else set()
    decided = sorted(f for f in read if f in approval_fields)
    if not rows and read - set(decided):
        return BranchShare(node, "even split", tuple((t, 1.0 / len(targets)) for t in targets))
    options: list[tuple[float, dict[str, Any]]] = [(1.0, {})]
    for name in decided:
        approve, send_back, reject, _ = walker.approvals[approval_fields[name]]
        options = [(w * p, {**chosen, name: d}) for w, chosen in options
                   for p, d in ((approve, "approve"), (send_back, "send_back"), (reject, "reject")) if p > 0]
    share = dict.fromkeys(targets, 0.0)
    unrouted = 0.0
    cases = rows or [{}]
    for row in cases:
        for weight, chosen in options:
            taken = _first_true(branches, {**row, **chosen}, default)
            if taken is None:
                unrouted += weight
            else:
                share[taken] += weight
    n = len(cases)
    return BranchShare(node, "sample data" if rows else "approval rates",
                       tuple((t, v / n) for t, v in share.items()), unrouted / n)


def _first_true(branches: list[tuple[str, Expression | None, bool, float | None]], case: Mapping[str, Any],
                default: str | None) -> str | None:
    """The branch the simulator takes for ``case`` (None: none can be taken, the case fails)."""
    try:
        for target, expression, is_default, _ in branches:
            if not is_default and expression is not None and expression.evaluate_bool(case):
                return target
    except ExpressionError:
        return None
    return default


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
