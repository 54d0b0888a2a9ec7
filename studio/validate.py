"""Validation rules: every problem in a workflow at once, each with its place and its fix.

``validate(workflow, data=None)`` runs every rule and returns a sorted list of
:class:`~studio.errors.Finding`; it never raises for a bad workflow. Each rule has a stable code
(``S`` structure, ``A`` assignment, ``G`` governance, ``D`` data, ``V`` values; ``L`` codes come from
loading),
documented in ``docs/codes.md`` with a fixture under ``tests/fixtures/invalid/``.
"""

from __future__ import annotations

import ast
import difflib
import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import networkx as nx
from pydantic import BaseModel

from studio import _gcpause
from studio import _secrets as secret_scan
from studio import graph as g
from studio.errors import Finding, Severity, sort_findings
from studio.expr import Expression, ExpressionError, parse
from studio.fileio import (
    ALLOW_OUTSIDE_ENV,
    Cases,
    Source,
    as_cases,
    data_outside_allowed,
    data_path,
    is_inside,
    to_data,
    workflow_folder,
)
from studio.model import (
    Agent,
    Approval,
    Calendar,
    Human,
    System,
    Task,
    Tier,
    Workflow,
    parse_duration,
    parse_rate,
    step_sla,
)

MAX_AGENTS = 7


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    title: str
    check: Callable[[Context], Iterator[Finding]]


RULES: dict[str, Rule] = {}


def rule(
    code: str, severity: Severity, title: str
) -> Callable[[Callable[[Context], Iterator[Finding]]], Callable[[Context], Iterator[Finding]]]:
    def register(check: Callable[[Context], Iterator[Finding]]) -> Callable[[Context], Iterator[Finding]]:
        if code in RULES:
            raise RuntimeError(f"rule code {code} registered twice")
        RULES[code] = Rule(code, severity, title, check)
        return check

    return register


@dataclass
class Context:
    """What every rule sees: the workflow, its graph, index lookups and the case data columns."""

    workflow: Workflow
    data: Cases | None
    graph: nx.DiGraph = field(init=False)
    node_index: dict[str, int] = field(init=False)
    actor_index: dict[str, int] = field(init=False)
    tool_index: dict[str, int] = field(init=False)
    source: Source | None = field(init=False)
    out_edges: dict[str, list[tuple[int, Any]]] = field(init=False)
    _actor_of: dict[str, Agent | Human | System | None] = field(init=False)
    _upstream: dict[str, set[str]] = field(init=False, default_factory=dict)
    _cycles: list[list[str]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        wf = self.workflow
        self.graph = g.to_networkx(wf)
        self.node_index = _first_index(n.id for n in wf.nodes)
        self.actor_index = _first_index(a.id for a in wf.actors)
        self.tool_index = _first_index(t.id for t in wf.tools)
        self.source = wf.source if isinstance(wf.source, Source) else None
        actors = {a.id: a for a in reversed(wf.actors)}  # first occurrence wins
        self._actor_of = {}
        for node in reversed(wf.nodes):
            actor_id = getattr(node, "actor", None)
            self._actor_of[node.id] = actors.get(actor_id) if actor_id is not None else None
        self.out_edges = {}
        for index, edge in enumerate(wf.edges):
            self.out_edges.setdefault(edge.source, []).append((index, edge))

    def cycles(self) -> list[list[str]]:
        """The graph's simple cycles (enumerated once, shared by the loop rules)."""
        if self._cycles is None:
            self._cycles = g.cycles(self.graph)
        return self._cycles

    def upstream(self, node_id: str) -> set[str]:
        """The node and every node before it (computed once per node)."""
        if node_id not in self._upstream:
            found = nx.ancestors(self.graph, node_id) | {node_id} if node_id in self.graph else set()
            self._upstream[node_id] = found
        return self._upstream[node_id]

    def produced_before(self, node_id: str) -> set[str]:
        """Case fields the node or a step before it produces (``outputs``, approvals' decisions)."""
        return {name for n in self.upstream(node_id) for name in g.node_outputs(self.graph.nodes[n]["node"])}

    def actor_of(self, node_id: str) -> Agent | Human | System | None:
        """The actor responsible for a node (as ``Workflow.actor_of``, in constant time)."""
        return self._actor_of.get(node_id)

    def finding(
        self, code: str, location: str, message: str, hint: str = "", severity: Severity | None = None
    ) -> Finding:
        position = self.source.resolve(location) if self.source is not None else None
        return Finding(
            code,
            severity or RULES[code].severity,
            location,
            message,
            hint,
            self.source.file if self.source is not None else None,
            position[0] if position else None,
            position[1] if position else None,
        )

    def node_loc(self, node_id: str, attr: str = "") -> str:
        loc = f"nodes[{self.node_index.get(node_id, 0)}]"
        return f"{loc}.{attr}" if attr else loc

    def actor_loc(self, actor_id: str, attr: str = "") -> str:
        loc = f"actors[{self.actor_index.get(actor_id, 0)}]"
        return f"{loc}.{attr}" if attr else loc


def _first_index(ids: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for index, item in enumerate(ids):
        out.setdefault(item, index)
    return out


def _near(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def validate(workflow: Workflow, data: Any = None) -> list[Finding]:
    """Every finding for ``workflow``, sorted by place then severity.

    ``data`` is case data (a path to CSV/JSONL, rows, a DataFrame or :class:`~studio.fileio.Cases`);
    when given, conditions must only read fields the data has or an earlier step produces.
    """
    cases = as_cases(data)
    with _gcpause.paused():
        ctx = Context(workflow, cases)
        findings: list[Finding] = []
        for item in RULES.values():
            findings.extend(item.check(ctx))
        return sort_findings(findings)


# =========================================================================== structure


@rule("S001", Severity.ERROR, "exactly one start node")
def _one_start(ctx: Context) -> Iterator[Finding]:
    starts = g.start_ids(ctx.workflow)
    if not starts:
        yield ctx.finding(
            "S001",
            "nodes",
            "the workflow has no `start` node",
            "add a node with `kind: start` and an edge from it to the first step",
        )
    for extra in starts[1:]:
        yield ctx.finding(
            "S001",
            ctx.node_loc(extra),
            f"`{extra}` is a second `start` node; a workflow has exactly one",
            f"keep `{starts[0]}` and turn `{extra}` into a task, or remove it",
        )


@rule("S002", Severity.ERROR, "at least one end node")
def _has_end(ctx: Context) -> Iterator[Finding]:
    if not g.end_ids(ctx.workflow):
        yield ctx.finding(
            "S002",
            "nodes",
            "the workflow has no `end` node",
            "add a node with `kind: end` (and an `outcome`) where cases finish",
        )


@rule("S003", Severity.ERROR, "ids are unique")
def _unique_ids(ctx: Context) -> Iterator[Finding]:
    wf = ctx.workflow
    groups: list[tuple[str, list[str]]] = [
        ("nodes", [n.id for n in wf.nodes]),
        ("actors", [a.id for a in wf.actors]),
        ("tools", [t.id for t in wf.tools]),
        ("data_sources", [d.id for d in wf.data_sources]),
    ]
    for section, ids in groups:
        seen: set[str] = set()
        for index, item in enumerate(ids):
            if item in seen:
                yield ctx.finding(
                    "S003",
                    f"{section}[{index}].id",
                    f"id `{item}` is used twice in `{section}`",
                    "give each one its own id",
                )
            seen.add(item)


@rule("S004", Severity.ERROR, "edges connect known nodes")
def _edge_ends(ctx: Context) -> Iterator[Finding]:
    known = set(ctx.node_index)
    for index, edge in enumerate(ctx.workflow.edges):
        for attr, ref in (("from", edge.source), ("to", edge.target)):
            if ref not in known:
                near = _near(ref, known)
                yield ctx.finding(
                    "S004",
                    f"edges[{index}].{attr}",
                    f"edge `{edge.source}` -> `{edge.target}` {'starts at' if attr == 'from' else 'routes to'} "
                    f"unknown node `{ref}`",
                    near or f"add `{ref}` to `nodes` or fix the edge",
                )


@rule("S005", Severity.ERROR, "every node is reachable from the start")
def _reachable(ctx: Context) -> Iterator[Finding]:
    if not g.start_ids(ctx.workflow):
        return
    reached = g.reachable_from_start(ctx.graph, ctx.workflow)
    for node_id in ctx.node_index:
        if node_id not in reached:
            yield ctx.finding(
                "S005",
                ctx.node_loc(node_id),
                f"node `{node_id}` cannot be reached from the start",
                f"add an edge into `{node_id}` or remove it",
            )


@rule("S006", Severity.ERROR, "every node can reach an end")
def _reaches_end(ctx: Context) -> Iterator[Finding]:
    if not g.end_ids(ctx.workflow):
        return
    finishing = g.can_reach_end(ctx.graph, ctx.workflow)
    for node_id in ctx.node_index:
        if node_id not in finishing:
            yield ctx.finding(
                "S006",
                ctx.node_loc(node_id),
                f"cases at `{node_id}` can never reach an end node",
                f"add an edge from `{node_id}` towards an `end` node",
            )


def _out_edges(ctx: Context, node_id: str) -> list[tuple[int, Any]]:
    return ctx.out_edges.get(node_id, [])


@rule("S007", Severity.ERROR, "a decision has exactly one default edge")
def _decision_default(ctx: Context) -> Iterator[Finding]:
    routers = g.outcome_routers(ctx.workflow)
    for node in ctx.workflow.nodes:
        outcome = node.id in routers  # an approval routing on its own decision
        if node.kind != "decision" and not outcome:
            continue
        what = f"approval `{node.id}`, which routes on its outcome," if outcome else f"decision `{node.id}`"
        outs = _out_edges(ctx, node.id)
        defaults = [i for i, e in outs if e.default]
        if not defaults and not _routes_every_case(outs):
            yield ctx.finding(
                "S007",
                ctx.node_loc(node.id),
                f"{what} has no default edge; a case no condition matches gets stuck",
                "mark one outgoing edge `default: true`",
            )
        elif len(defaults) > 1:
            yield ctx.finding(
                "S007",
                f"edges[{defaults[1]}].default",
                f"{what} has {len(defaults)} default edges; it needs exactly one",
                "keep `default: true` on one edge only",
            )
        for index, edge in outs:
            if not edge.default and edge.when is None and (edge.probability is None or outcome):
                yield ctx.finding(
                    "S007",
                    f"edges[{index}]",
                    f"edge `{node.id}` -> `{edge.target}` leaves {what} with no condition",
                    "add `when:` with a condition (on an approval, e.g. `decision == \"approve\"`), "
                    "or make it the `default`" if outcome else
                    "add `when:` with a condition, or a `probability:`, or make it the `default`",
                )


def _routes_every_case(outs: list[tuple[int, Any]]) -> bool:
    """A decision without a default still routes every case: its branches carry probabilities (S014 checks
    they add up to 1), or it has two branches whose conditions are each other's negation."""
    branches = [e for _, e in outs if not e.default]
    if branches and any(e.probability is not None for e in branches):
        return True
    return len(branches) == 2 and all(e.when is not None for e in branches) and \
        complementary(branches[0].when, branches[1].when)


_NEGATED_OPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
}


def _condition_tree(text: str) -> ast.expr | None:
    if _parse_error(text) is not None:
        return None
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError:  # pragma: no cover - the condition language is a subset of Python's
        return None


def _strip_case(tree: ast.expr) -> str:
    """The tree's dump with the optional `case.` prefix of fields removed (`case.x` and `x` are one field)."""

    class _Unprefix(ast.NodeTransformer):
        def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
            self.generic_visit(node)
            if isinstance(node.value, ast.Name) and node.value.id == "case":
                return ast.Name(id=node.attr, ctx=ast.Load())
            return node

    return ast.dump(_Unprefix().visit(tree))


def complementary(first: str, second: str) -> bool:
    """Whether two conditions are each other's negation, so exactly one holds for every case:
    `x` / `not x`, `a > 5` / `a <= 5` (also `==`/`!=`, `<`/`>=`, `in`/`not in`)."""
    a, b = _condition_tree(first), _condition_tree(second)
    if a is None or b is None:
        return False
    for left, right in ((a, b), (b, a)):
        if isinstance(left, ast.UnaryOp) and isinstance(left.op, ast.Not) and \
                _strip_case(left.operand) == _strip_case(right):
            return True
    if isinstance(a, ast.Compare) and isinstance(b, ast.Compare) and len(a.ops) == len(b.ops) == 1:
        negated = _NEGATED_OPS.get(type(a.ops[0]))
        same_operands = _strip_case(a.left) == _strip_case(b.left) and \
            _strip_case(a.comparators[0]) == _strip_case(b.comparators[0])
        return negated is not None and isinstance(b.ops[0], negated) and same_operands
    return False


_PROBABILITY_TOLERANCE = 1e-9


@rule("S013", Severity.WARNING, "branch probabilities only on edges leaving a decision")
def _stray_probability(ctx: Context) -> Iterator[Finding]:
    kinds = {node_id: node.kind for node_id, node in ctx.workflow.index.nodes.items()}  # the first of a repeated id
    for index, edge in enumerate(ctx.workflow.edges):
        if edge.probability is not None and kinds.get(edge.source) not in (None, "decision"):
            yield ctx.finding(
                "S013",
                f"edges[{index}].probability",
                f"edge `{edge.source}` -> `{edge.target}` has a probability but `{edge.source}` is a "
                f"`{kinds[edge.source]}`, not a decision, so it is ignored",
                "put a `decision` node before the branches and give its edges the probabilities, or drop "
                "`probability`",
            )


@rule("S014", Severity.ERROR, "a decision's branch probabilities are complete and add up")
def _branch_probabilities(ctx: Context) -> Iterator[Finding]:
    for node in ctx.workflow.nodes:
        if node.kind != "decision":
            continue
        outs = _out_edges(ctx, node.id)
        if not any(e.probability is not None for _, e in outs):
            continue
        branches = [(i, e) for i, e in outs if not e.default]
        missing = [(i, e) for i, e in branches if e.probability is None]
        for index, edge in missing:
            yield ctx.finding(
                "S014",
                f"edges[{index}]",
                f"edge `{node.id}` -> `{edge.target}` has no probability, but other edges of decision `{node.id}` "
                "do; once one branch has a probability, every branch needs one (the default takes the rest)",
                "add `probability:` to this edge, or remove the probabilities from the decision's edges",
            )
        if missing:
            continue
        total = math.fsum(e.probability or 0.0 for _, e in branches)
        defaults = [(i, e) for i, e in outs if e.default]
        if total > 1.0 + _PROBABILITY_TOLERANCE:
            yield ctx.finding(
                "S014",
                ctx.node_loc(node.id),
                f"the branch probabilities of decision `{node.id}` add up to {total:.6g}, more than 1",
                "lower them so they add up to 1, or to less than 1 with a `default: true` edge taking the rest",
            )
        elif not defaults and abs(total - 1.0) > _PROBABILITY_TOLERANCE:
            yield ctx.finding(
                "S014",
                ctx.node_loc(node.id),
                f"the branch probabilities of decision `{node.id}` add up to {total:.6g}, not 1, and it has no "
                f"default edge to take the remaining {1.0 - total:.6g}",
                "make them add up to 1, or mark one outgoing edge `default: true` to take the rest",
            )
        else:
            remainder = max(0.0, 1.0 - total)
            for index, edge in defaults:
                if edge.probability is not None and abs(edge.probability - remainder) > _PROBABILITY_TOLERANCE:
                    yield ctx.finding(
                        "S014",
                        f"edges[{index}].probability",
                        f"the default edge `{node.id}` -> `{edge.target}` takes the remainder "
                        f"{remainder:.6g} of the other branches, but says probability {edge.probability:.6g}",
                        f"drop `probability` from the default edge, or make it {remainder:.6g}",
                    )


@rule("S008", Severity.ERROR, "conditions parse")
def _conditions_parse(ctx: Context) -> Iterator[Finding]:
    for index, edge in enumerate(ctx.workflow.edges):
        if edge.when is not None:
            error = _parse_error(edge.when)
            if error is not None:
                yield ctx.finding(
                    "S008",
                    f"edges[{index}].when",
                    f"condition on `{edge.source}` -> `{edge.target}` does not parse: {error}",
                    "see docs/conditions.md for the condition language",
                )
    for node in ctx.workflow.nodes:
        threshold = getattr(node, "threshold", None)
        if threshold is not None:
            error = _parse_error(threshold)
            if error is not None:
                yield ctx.finding(
                    "S008",
                    ctx.node_loc(node.id, "threshold"),
                    f"threshold of `{node.id}` does not parse: {error}",
                    "see docs/conditions.md for the condition language",
                )
        for name, rules in getattr(node, "output_models", {}).items():
            for position, rule in enumerate(rules):
                error = _parse_error(rule.when) if rule.when is not None else None
                if error is not None:
                    yield ctx.finding(
                        "S008",
                        ctx.node_loc(node.id, f"output_models.{name}[{position}].when"),
                        f"condition of the output model of `{name}` on `{node.id}` does not parse: {error}",
                        "see docs/conditions.md for the condition language",
                    )
    for position, priority in enumerate(ctx.workflow.simulation.priority):
        error = _parse_error(priority.when) if priority.when is not None else None
        if error is not None:
            yield ctx.finding(
                "S008",
                f"simulation.priority[{position}].when",
                f"condition of priority rule {position + 1} (level {priority.level}) does not parse: {error}",
                "see docs/conditions.md for the condition language",
            )


def _parse_error(text: str) -> str | None:
    try:
        parse(text)
    except ExpressionError as exc:
        return str(exc)
    return None


@rule("S009", Severity.ERROR, "a parallel fork closes at a join")
def _fork_join(ctx: Context) -> Iterator[Finding]:
    ipdom = g.post_dominators(ctx.graph, ctx.workflow)
    for node in ctx.workflow.nodes:
        if node.kind != "parallel" or node.id not in ipdom:
            continue
        if ctx.graph.out_degree(node.id) < 2:
            yield ctx.finding(
                "S009",
                ctx.node_loc(node.id),
                f"parallel fork `{node.id}` has fewer than two branches",
                "add the branches that run at the same time, or remove the fork",
            )
            continue
        meet = ipdom[node.id]
        if meet not in ctx.graph or ctx.graph.nodes[meet]["kind"] != "join":
            where = f"they first meet at `{meet}`" if meet in ctx.graph else "they never meet again"
            yield ctx.finding(
                "S009",
                ctx.node_loc(node.id),
                f"the branches of parallel fork `{node.id}` do not close at a `join` ({where})",
                "add a node with `kind: join` where all its branches meet",
            )


@rule("S010", Severity.ERROR, "subworkflow references resolve")
def _subworkflow_ref(ctx: Context) -> Iterator[Finding]:
    from studio.templates import template_names  # noqa: PLC0415 - templates sit above the model

    base = ctx.source.path.parent if ctx.source is not None and ctx.source.path is not None else Path.cwd()
    for node in ctx.workflow.nodes:
        if node.kind != "subworkflow":
            continue
        ref = getattr(node, "ref", None)
        if not ref:
            yield ctx.finding(
                "S010",
                ctx.node_loc(node.id),
                f"subworkflow `{node.id}` does not say which workflow it runs",
                "add `ref:` with a workflow file path or a template name",
            )
        elif ref not in template_names() and (Path(ref).is_absolute() or not is_inside(base / ref, base)):
            yield ctx.finding(
                "S010",
                ctx.node_loc(node.id, "ref"),
                f"subworkflow `{node.id}` refers to `{ref}`, which is outside this workflow's folder",
                "refer to a workflow file next to this one by a relative path, or to a template name",
            )
        elif ref not in template_names() and not (base / ref).is_file():
            yield ctx.finding(
                "S010",
                ctx.node_loc(node.id, "ref"),
                f"subworkflow `{node.id}` refers to `{ref}`, which is neither a file next to this "
                "workflow nor a template",
                "fix the path (relative to this file) or use a template name",
            )


@rule("S011", Severity.WARNING, "conditions only on edges leaving a decision or an approval")
def _stray_condition(ctx: Context) -> Iterator[Finding]:
    kinds = {node_id: node.kind for node_id, node in ctx.workflow.index.nodes.items()}  # the first of a repeated id
    for index, edge in enumerate(ctx.workflow.edges):
        if (edge.when is not None or edge.default) and kinds.get(edge.source) not in (None, "decision", "approval"):
            yield ctx.finding(
                "S011",
                f"edges[{index}]",
                f"edge `{edge.source}` -> `{edge.target}` has a condition but `{edge.source}` is a "
                f"`{kinds[edge.source]}`, not a decision or an approval, so it is ignored",
                "put a `decision` node before the branches, or drop `when`/`default`",
            )


@rule("S020", Severity.ERROR, "an approval that routes on its outcome leaves the id `<id>_route` free")
def _router_id_free(ctx: Context) -> Iterator[Finding]:
    for approval in sorted(g.outcome_routers(ctx.workflow), key=ctx.node_index.__getitem__):
        router = approval + g.ROUTER_SUFFIX
        if router in ctx.node_index:
            yield ctx.finding(
                "S020",
                ctx.node_loc(router, "id"),
                f"approval `{approval}` routes on its outcome, so every engine runs a decision `{router}` "
                f"after it, but a node of that id already exists",
                f"rename `{router}`, or route after `{approval}` through that node as a `decision`",
            )


@rule("S012", Severity.ERROR, "starts have no incoming and ends no outgoing edges")
def _start_end_edges(ctx: Context) -> Iterator[Finding]:
    kinds = {node_id: node.kind for node_id, node in ctx.workflow.index.nodes.items()}  # the first of a repeated id
    for index, edge in enumerate(ctx.workflow.edges):
        if kinds.get(edge.target) == "start":
            yield ctx.finding(
                "S012",
                f"edges[{index}].to",
                f"edge into start node `{edge.target}`",
                "route it to the first step instead",
            )
        if kinds.get(edge.source) == "end":
            yield ctx.finding(
                "S012",
                f"edges[{index}].from",
                f"edge out of end node `{edge.source}`",
                "an end finishes the case; change its kind or remove the edge",
            )


@rule("S015", Severity.ERROR, "a wait says how long or until when")
def _wait_timer(ctx: Context) -> Iterator[Finding]:
    for node in ctx.workflow.nodes:
        if node.kind == "wait" and getattr(node, "delay", None) is None and getattr(node, "until", None) is None:
            yield ctx.finding(
                "S015",
                ctx.node_loc(node.id),
                f"wait `{node.id}` says neither how long the case waits nor until when",
                "add `delay:` (e.g. `2h`, or a distribution) or `until:` (a calendar, e.g. "
                "`{days: [mon, tue, wed, thu, fri], hours: 09:00-17:00}`)",
            )


# =========================================================================== assignment


@rule("A001", Severity.ERROR, "tasks and approvals have an actor")
def _has_actor(ctx: Context) -> Iterator[Finding]:
    for node in ctx.workflow.nodes:
        if node.kind in ("task", "approval") and getattr(node, "actor", None) is None:
            yield ctx.finding(
                "A001",
                ctx.node_loc(node.id),
                f"{node.kind} `{node.id}` has no actor",
                "add `actor:` naming the agent, human pool or system that does it",
            )


@rule("A002", Severity.ERROR, "actors referenced exist")
def _known_actor(ctx: Context) -> Iterator[Finding]:
    known = set(ctx.actor_index)
    for node in ctx.workflow.nodes:
        for attr in ("actor", "escalate_to"):
            ref = getattr(node, attr, None)
            if ref is not None and ref not in known:
                yield ctx.finding(
                    "A002",
                    ctx.node_loc(node.id, attr),
                    f"`{node.id}` names unknown actor `{ref}` in `{attr}`",
                    _near(ref, known) or f"add `{ref}` to `actors` or fix the name",
                )
        for position, level in enumerate(getattr(node, "escalation", None) or ()):
            if level.to not in known:
                yield ctx.finding(
                    "A002",
                    ctx.node_loc(node.id, f"escalation[{position}].to"),
                    f"`{node.id}` escalates (level {position + 1}) to unknown actor `{level.to}`",
                    _near(level.to, known) or f"add `{level.to}` to `actors` or fix the name",
                )
    policies = ctx.workflow.policies
    ref = policies.escalate_to
    if ref is not None and ref not in known:
        yield ctx.finding(
            "A002",
            "policies.escalate_to",
            f"`policies.escalate_to` names unknown actor `{ref}`",
            _near(ref, known) or f"add `{ref}` to `actors` or fix the name",
        )
    for position, level in enumerate(policies.escalation or ()):
        if level.to not in known:
            yield ctx.finding(
                "A002",
                f"policies.escalation[{position}].to",
                f"`policies.escalation` (level {position + 1}) names unknown actor `{level.to}`",
                _near(level.to, known) or f"add `{level.to}` to `actors` or fix the name",
            )


@rule("A003", Severity.ERROR, "tools referenced exist")
def _known_tool(ctx: Context) -> Iterator[Finding]:
    known = set(ctx.tool_index)
    for node in ctx.workflow.nodes:
        for pos, ref in enumerate(getattr(node, "tools", ())):
            if ref not in known:
                yield ctx.finding(
                    "A003",
                    ctx.node_loc(node.id, f"tools[{pos}]"),
                    f"`{node.id}` uses unknown tool `{ref}`",
                    _near(ref, known) or f"add `{ref}` to `tools` with its tier",
                )
    for actor in ctx.workflow.actors:
        for pos, ref in enumerate(getattr(actor, "tools", ())):
            if ref not in known:
                yield ctx.finding(
                    "A003",
                    ctx.actor_loc(actor.id, f"tools[{pos}]"),
                    f"actor `{actor.id}` is allowed unknown tool `{ref}`",
                    _near(ref, known) or f"add `{ref}` to `tools` with its tier",
                )
    for ref in ctx.workflow.simulation.tools:
        if ref not in known:
            yield ctx.finding(
                "A003",
                f"simulation.tools.{ref}",
                f"simulation settings describe unknown tool `{ref}`",
                _near(ref, known) or "remove the entry or fix the name",
            )


@rule("A004", Severity.ERROR, "data sources referenced exist")
def _known_data(ctx: Context) -> Iterator[Finding]:
    known = {d.id for d in ctx.workflow.data_sources}
    for node in ctx.workflow.nodes:
        for attr in ("reads", "writes"):
            for pos, ref in enumerate(getattr(node, attr, ())):
                if ref not in known:
                    yield ctx.finding(
                        "A004",
                        ctx.node_loc(node.id, f"{attr}[{pos}]"),
                        f"`{node.id}` {attr} unknown data source `{ref}`",
                        _near(ref, known) or f"add `{ref}` to `data_sources`",
                    )
    for index, tool in enumerate(ctx.workflow.tools):
        for pos, ref in enumerate(tool.writes):
            if ref not in known:
                yield ctx.finding(
                    "A004",
                    f"tools[{index}].writes[{pos}]",
                    f"tool `{tool.id}` writes unknown data source `{ref}`",
                    _near(ref, known) or f"add `{ref}` to `data_sources`",
                )


@rule("A005", Severity.ERROR, "approvals are done by people")
def _approval_human(ctx: Context) -> Iterator[Finding]:
    for node in ctx.workflow.nodes:
        if isinstance(node, Approval) and node.actor is not None:
            actor = ctx.actor_of(node.id)
            if actor is not None and not isinstance(actor, Human):
                yield ctx.finding(
                    "A005",
                    ctx.node_loc(node.id, "actor"),
                    f"approval `{node.id}` is given to {actor.kind} `{actor.id}`; approvals are human decisions",
                    "assign a `human` pool, or make it a `task` if no person decides",
                )


@rule("A006", Severity.ERROR, "actors only use tools they are allowed")
def _allowed_tool(ctx: Context) -> Iterator[Finding]:
    for node in ctx.workflow.nodes:
        if not isinstance(node, Task):
            continue
        actor = ctx.actor_of(node.id)
        if not isinstance(actor, (Agent, System)):
            continue
        for pos, ref in enumerate(node.tools):
            if ref in ctx.tool_index and ref not in actor.tools:
                yield ctx.finding(
                    "A006",
                    ctx.node_loc(node.id, f"tools[{pos}]"),
                    f"`{node.id}` calls tool `{ref}`, which {actor.kind} `{actor.id}` is not allowed",
                    f"add `{ref}` to the tools of `{actor.id}`, or give the step to an actor that has it",
                )


# --------------------------------------------------------------------------- workshop notes (warnings only)

_ID_LIKE = re.compile(r"^[a-z_][a-z0-9_\-]*$")
"""A RACI entry written like this is meant as an actor id; anything else (`Maria Lopez`, `CFO`) is a name."""


@rule("A007", Severity.WARNING, "workshop RACI entries written as ids name known actors")
def _raci_actors(ctx: Context) -> Iterator[Finding]:
    known = set(ctx.actor_index)
    for node_id, notes in ctx.workflow.workshop.nodes.items():
        for role in type(notes.raci).model_fields:
            for index, entry in enumerate(getattr(notes.raci, role)):
                name = entry.strip()
                if name in known or not _ID_LIKE.match(name):
                    continue
                yield ctx.finding(
                    "A007",
                    f"workshop.nodes.{node_id}.raci.{role}[{index}]",
                    f"the RACI of `{node_id}` names `{name}` ({role}), which is written like an actor id "
                    "but no actor has it",
                    _near(name, known) or f"add `{name}` to `actors`, or write a person's or team's name as "
                    f"people read it (with a capital or a space, e.g. `{name.replace('_', ' ').title()}`)",
                )


@rule("A008", Severity.WARNING, "workshop notes are about steps that exist")
def _notes_on_known_steps(ctx: Context) -> Iterator[Finding]:
    for node_id in ctx.workflow.workshop.nodes:
        if node_id not in ctx.node_index:
            yield ctx.finding(
                "A008",
                f"workshop.nodes.{node_id}",
                f"workshop notes are kept for step `{node_id}`, which is not in `nodes`",
                _near(node_id, ctx.node_index) or "rename the entry to the step's id, or remove the notes",
            )


# =========================================================================== governance


def _tools_of_tier(ctx: Context, node: Task, tier: Tier) -> list[str]:
    tiers = {t.id: t.tier for t in ctx.workflow.tools}
    return [t for t in node.tools if tiers.get(t) is tier]


@rule("A009", Severity.WARNING, "calendars name time zones that exist")
def _known_time_zones(ctx: Context) -> Iterator[Finding]:
    """A time zone the simulator cannot load would silently be UTC: every calendar is checked, wherever
    the model holds one (pools, systems, pool members, the arrivals, waits)."""
    for place, calendar in _calendars(ctx.workflow, ""):
        if not _zone_exists(calendar.timezone):
            yield ctx.finding(
                "A009",
                f"{place}.timezone",
                f"the calendar at `{place}` names time zone `{calendar.timezone}`, which is not known: "
                "simulation would count its hours in UTC",
                _near(calendar.timezone, _zone_names()) or "write an IANA time zone, e.g. `Europe/Berlin` or `UTC`",
            )


def _calendars(value: Any, place: str) -> Iterator[tuple[str, Calendar]]:
    """Every calendar under ``value`` with its place (``actors[2].members[0].calendar``): a walk over the
    model, so a calendar in a new place is checked without listing it here."""
    if isinstance(value, Calendar):
        yield place, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _calendars(getattr(value, name), f"{place}.{name}" if place else name)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _calendars(item, f"{place}[{position}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _calendars(item, f"{place}.{key}")


@rule("A010", Severity.ERROR, "a pool member's own durations name steps that exist")
def _member_durations_known(ctx: Context) -> Iterator[Finding]:
    """``members[].durations`` keys are node ids; a typo would silently leave the step's duration."""
    nodes = [n.id for n in ctx.workflow.nodes]
    known = set(nodes)
    for actor in ctx.workflow.actors:
        for position, member in enumerate(getattr(actor, "members", ())):
            for node in member.durations:
                if node not in known:
                    yield ctx.finding(
                        "A010",
                        ctx.actor_loc(actor.id, f"members[{position}].durations.{node}"),
                        f"`{actor.id}` member {member.name} has a duration for step `{node}`, which is not in "
                        "`nodes`",
                        _near(node, nodes) or "write the id of a step the pool does, or remove the entry",
                    )


def _zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@rule("A011", Severity.ERROR, "escalation chains go from pool to pool of people")
def _escalation_levels(ctx: Context) -> Iterator[Finding]:
    for node in ctx.workflow.nodes:
        chain = getattr(node, "escalation", None)
        if chain:
            owner = getattr(node, "actor", None)
            yield from _chain_levels(ctx, chain, ctx.node_loc(node.id, "escalation"), f"`{node.id}`", owner)
    chain = ctx.workflow.policies.escalation
    if chain:
        yield from _chain_levels(ctx, chain, "policies.escalation", "`policies.escalation`", None)


def _article(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _chain_levels(ctx: Context, chain: Any, where: str, what: str, owner: str | None) -> Iterator[Finding]:
    """Each level of a chain hands the step to another human pool (unknown actors are A002's)."""
    held = {owner} if owner is not None else set()
    for position, level in enumerate(chain):
        target = ctx.workflow.index.actors.get(level.to)
        loc = f"{where}[{position}].to"
        if target is not None and not isinstance(target, Human):
            yield ctx.finding(
                "A011", loc,
                f"{what} escalates (level {position + 1}) to `{level.to}`, {_article(target.kind)}: escalation "
                "hands the step to people",
                "name a `human` pool in `to`",
            )
        elif level.to in held:
            who = "the step's own pool" if level.to == owner else "an earlier level's pool"
            yield ctx.finding(
                "A011", loc,
                f"{what} escalates (level {position + 1}) to `{level.to}`, {who}: that level hands nothing over",
                "name the next pool up in `to`, or remove the level",
            )
        held.add(level.to)


@rule("G001", Severity.ERROR, "critical tools only after an approval on every path")
def _critical_gated(ctx: Context) -> Iterator[Finding]:
    ungated = g.ungated_from_start(ctx.graph, ctx.workflow, g.is_approval(ctx.workflow))
    for node in ctx.workflow.nodes:
        if isinstance(node, Task) and node.id in ungated:
            for tool in _tools_of_tier(ctx, node, Tier.CRITICAL):
                yield ctx.finding(
                    "G001",
                    ctx.node_loc(node.id),
                    f"`{node.id}` calls critical tool `{tool}` but some path from the start reaches "
                    "it without an approval",
                    f"put an `approval` before `{node.id}` on every path",
                )


@rule("G002", Severity.WARNING, "restricted writes after a check")
def _restricted_checked(ctx: Context) -> Iterator[Finding]:
    ungated = g.ungated_from_start(ctx.graph, ctx.workflow, g.is_control(ctx.workflow))
    for node in ctx.workflow.nodes:
        if isinstance(node, Task) and node.id in ungated and not node.validates:
            for tool in _tools_of_tier(ctx, node, Tier.RESTRICTED_WRITE):
                yield ctx.finding(
                    "G002",
                    ctx.node_loc(node.id),
                    f"`{node.id}` writes through `{tool}` (restricted_write) with no approval or "
                    "validation step before it on some path",
                    "add an approval, or a task with `validates: true`, upstream",
                )


@rule("G003", Severity.WARNING, "human steps have an SLA and an escalation")
def _sla(ctx: Context) -> Iterator[Finding]:
    policies = ctx.workflow.policies
    for node in ctx.workflow.nodes:
        if not isinstance(node, (Task, Approval)):
            continue
        if isinstance(node, Task) and not isinstance(ctx.actor_of(node.id), Human):
            continue
        missing = []
        if step_sla(node, policies) is None:
            missing.append("an SLA")
        if node.escalation is None and node.escalate_to is None and policies.escalate_to is None \
                and policies.escalation is None:
            missing.append("an escalation")
        if missing:
            what = "approval" if isinstance(node, Approval) else "human task"
            fixes = []
            if "an SLA" in missing:
                fixes.append(
                    "add `sla:` (e.g. `4h`) to the step, or set `policies.approval_sla`"
                    if isinstance(node, Approval)
                    else "add `sla:` (e.g. `4h`) to the step (`policies.approval_sla` covers approvals only)"
                )
            if "an escalation" in missing:
                fixes.append("add `escalate_to:` (a human pool) or an `escalation:` chain to the step, or set "
                             "`policies.escalate_to`")
            yield ctx.finding(
                "G003",
                ctx.node_loc(node.id),
                f"{what} `{node.id}` has no {' and no '.join(m.removeprefix('an ') for m in missing)}; "
                "work can wait there forever",
                "; ".join(fixes),
            )


@rule("M005", Severity.ERROR, "batches are on a person's step, fill, and run alone in their case")
def _batches(ctx: Context) -> Iterator[Finding]:
    branches = _in_parallel_branches(ctx)
    for node in ctx.workflow.nodes:
        batch = getattr(node, "batch", None)
        if batch is None:
            continue
        where = ctx.node_loc(node.id, "batch")
        if not isinstance(ctx.actor_of(node.id), Human):
            yield ctx.finding("M005", where, f"step `{node.id}` batches cases, but it is not done by a human pool",
                              "give the step a `human` actor, or remove `batch:`")
        if batch.size < 1:
            yield ctx.finding("M005", f"{where}.size", f"the batch at `{node.id}` has size {batch.size}",
                              "set `size:` to 1 or more (the cases that fill a batch)")
        if batch.timeout is not None and batch.timeout <= 0:
            yield ctx.finding("M005", f"{where}.timeout", f"the batch at `{node.id}` has a zero timeout",
                              "set `timeout:` to how long the oldest case may wait (e.g. `4h`), or remove it")
        if node.id in branches:
            yield ctx.finding("M005", where, f"step `{node.id}` batches cases inside a branch of fork "
                              f"`{branches[node.id]}`; a case waiting there could be stopped by its other branch",
                              "move the batched step before the fork or after its join")


def _in_parallel_branches(ctx: Context) -> dict[str, str]:
    """Node -> the fork whose branches (up to where they meet again) it lies on: a `parallel` node, or a
    step with several plain outgoing edges (which runs them all, an implicit fork)."""
    ipdom = g.post_dominators(ctx.graph, ctx.workflow)
    inside: dict[str, str] = {}
    for node in ctx.workflow.nodes:
        if node.id not in ctx.graph or node.kind == "decision":
            continue
        if node.kind != "parallel" and ctx.graph.out_degree(node.id) < 2:
            continue
        meet = ipdom.get(node.id)
        todo = list(ctx.graph.successors(node.id))
        while todo:
            current = todo.pop()
            if current == meet or current in inside or current == node.id:
                continue
            inside[current] = node.id
            todo.extend(ctx.graph.successors(current))
    return inside


@rule("G004", Severity.WARNING, "separation of duties")
def _separation(ctx: Context) -> Iterator[Finding]:
    wf = ctx.workflow
    for node in wf.nodes:
        if not isinstance(node, Approval):
            continue
        approver = ctx.actor_of(node.id)
        if approver is None:
            continue
        for reviewed in g.reviewed_nodes(ctx.graph, wf, node):
            worker = ctx.actor_of(reviewed)
            if worker is None:
                continue
            same = worker.id == approver.id or (
                isinstance(worker, Human)
                and isinstance(approver, Human)
                and worker.role is not None
                and worker.role == approver.role
            )
            if same:
                yield ctx.finding(
                    "G004",
                    ctx.node_loc(node.id, "actor"),
                    f"approval `{node.id}` is decided by `{approver.id}`, the same role that did `{reviewed}`",
                    "give the approval to a different role (separation of duties)",
                )


@rule("G005", Severity.ERROR, "every loop is guarded")
def _loop_guard(ctx: Context) -> Iterator[Finding]:
    if ctx.workflow.policies.max_repeats is not None:
        return
    guarded = {e.key for e in ctx.workflow.edges if e.max_repeats is not None}
    for cycle in ctx.cycles():
        if not any(pair in guarded for pair in g.cycle_edges(cycle)):
            loop = " -> ".join([*cycle, cycle[0]])
            yield ctx.finding(
                "G005",
                ctx.node_loc(cycle[0]),
                f"loop {loop} has no max-repeats guard and can run forever",
                "set `policies.max_repeats` (e.g. 3) or `max_repeats` on an edge of the loop",
            )


@rule("G006", Severity.WARNING, "no agent-only loops")
def _agent_loops(ctx: Context) -> Iterator[Finding]:
    for cycle in ctx.cycles():
        kinds = [ctx.graph.nodes[n]["actor_kind"] for n in cycle if ctx.graph.nodes[n]["actor_kind"] is not None]
        if kinds and all(kind == "agent" for kind in kinds):
            loop = " -> ".join([*cycle, cycle[0]])
            yield ctx.finding(
                "G006",
                ctx.node_loc(cycle[0]),
                f"agents can loop among themselves with no person involved: {loop}",
                "put a human step or approval in the loop, or break it",
            )


def _credential_value(path: str, text: str) -> bool:
    """A long, mixed, high-entropy string where a secret *name* belongs (``credential:``)."""
    if path != "credential" and not path.endswith(".credential"):
        return False
    token = text.strip()
    mixed = any(c.islower() for c in token) and any(c.isupper() for c in token) and any(c.isdigit() for c in token)
    return len(token) >= 20 and mixed and secret_scan.entropy(token) > 3.5


def find_secrets(data: Any) -> Iterator[tuple[str, str, str]]:
    """``(path, text, what)`` for every string in ``data`` (a workflow as plain data) that looks like a secret.

    Detection is :mod:`studio._secrets`: detect-secrets' plugins plus the studio's own rules.
    """
    strings = list(g.iter_strings(data))
    found = secret_scan.scan_many(text for _, text in strings)
    for path, text in strings:
        what = found.get(text)
        if what is None and _credential_value(path, text):
            what = "a secret value (credentials are given by secret name)"
        if what is not None:
            yield path, text, what


def mask_secrets(text: str, path: str = "") -> str:
    """``text`` with every secret cut to its first 4 characters and ``…``, so it can be shown.

    ``path`` (``tools[0].credential``) lets a high-entropy value under ``credential`` be masked whole.
    """
    if _credential_value(path, text) and not secret_scan.scan(text):
        return text.strip()[:4] + "…"
    return secret_scan.mask(text)


def comment_secrets(text: str) -> Iterator[tuple[int, int, str]]:
    """``(line, column, what)`` for every secret in a YAML comment of ``text`` (1-based)."""
    for number, line in enumerate(text.splitlines(), start=1):
        hash_at = line.find("#")
        if hash_at < 0:
            continue
        for start, _, what in secret_scan.scan(line[hash_at:]):
            yield number, hash_at + start + 1, what
            break


@rule("G007", Severity.ERROR, "no secrets in the workflow")
def _secrets(ctx: Context) -> Iterator[Finding]:
    for path, _, what in find_secrets(to_data(ctx.workflow)):
        yield ctx.finding(
            "G007",
            path,
            f"`{path}` looks like it contains {what}",
            "never put secrets in a workflow; name the secret (e.g. `credential: ERP_TOKEN`) "
            "and let the gateway resolve it",
        )
    source = ctx.source
    if source is None or source.text is None or "#" not in source.text:
        return
    for line, column, what in comment_secrets(source.text):
        yield Finding(
            "G007", Severity.ERROR, f"line {line} (a comment)",
            f"a comment on line {line} looks like it contains {what}",
            "delete the secret from the comment and rotate it; comments are shared with the file",
            source.file, line, column,
        )


_PINNED = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.\-]+)?$")


@rule("G008", Severity.WARNING, "agents are pinned and owned")
def _pinned(ctx: Context) -> Iterator[Finding]:
    for actor in ctx.workflow.actors:
        if not isinstance(actor, Agent):
            continue
        if actor.version is None or not _PINNED.match(actor.version):
            shown = f"`{actor.version}`" if actor.version else "no version"
            yield ctx.finding(
                "G008",
                ctx.actor_loc(actor.id, "version" if actor.version else ""),
                f"agent `{actor.id}` has {shown}; production needs a pinned registry version",
                'set `version:` to an exact version such as "2.1.0"',
            )
        if not actor.owner:
            yield ctx.finding(
                "G008",
                ctx.actor_loc(actor.id),
                f"agent `{actor.id}` has no owner to answer for it",
                "set `owner:` to the accountable team or person",
            )


@rule("G009", Severity.WARNING, "at most seven agents")
def _agent_count(ctx: Context) -> Iterator[Finding]:
    agents = [a.id for a in ctx.workflow.actors if isinstance(a, Agent)]
    if len(agents) > MAX_AGENTS:
        pairs = len(agents) * (len(agents) - 1) // 2
        yield ctx.finding(
            "G009",
            "actors",
            f"{len(agents)} agents in one workflow ({pairs} possible pairwise interactions); past "
            f"{MAX_AGENTS} the interactions become hard to test and govern",
            "split the workflow into subworkflows or merge agents with overlapping jobs",
        )


# =========================================================================== data


def _condition_sites(ctx: Context) -> Iterator[tuple[str, str, str, Expression]]:
    """(location, node the condition is evaluated at, text, parsed) for every parseable condition."""
    routers = g.outcome_routers(ctx.workflow)
    for index, edge in enumerate(ctx.workflow.edges):
        if edge.when is not None:
            text = edge.when  # on an approval's own edges `decision` is its `<id>_decision`
            if edge.source in routers:
                text = g.outcome_condition(edge.source, text)
            try:
                yield f"edges[{index}].when", edge.source, edge.when, parse(text)
            except ExpressionError:
                continue
    for node in ctx.workflow.nodes:
        threshold = getattr(node, "threshold", None)
        if threshold is not None:
            try:
                yield ctx.node_loc(node.id, "threshold"), node.id, threshold, parse(threshold)
            except ExpressionError:
                continue
        for name, rules in getattr(node, "output_models", {}).items():
            for position, rule in enumerate(rules):
                if rule.when is not None:
                    try:
                        yield (ctx.node_loc(node.id, f"output_models.{name}[{position}].when"), node.id, rule.when,
                               parse(rule.when))
                    except ExpressionError:
                        continue


@rule("D001", Severity.ERROR, "conditions read fields that exist")
def _fields_exist(ctx: Context) -> Iterator[Finding]:
    if ctx.data is None:
        return
    columns = set(ctx.data.columns)
    for location, at, text, expression in _condition_sites(ctx):
        produced = ctx.produced_before(at)
        for name in sorted(expression.root_fields()):
            if name not in columns and name not in produced:
                yield ctx.finding(
                    "D001",
                    location,
                    f"condition `{text}` reads `{name}`, which is neither a column of the sample data "
                    f"nor produced by a step before `{at}`",
                    _near(name, columns | produced)
                    or f"add a `{name}` column to the data or list it in an earlier step's `outputs`",
                )
    for position, priority in enumerate(ctx.workflow.simulation.priority):
        if priority.when is None:
            continue
        try:
            fields = parse(priority.when).root_fields()
        except ExpressionError:
            continue
        for name in sorted(fields):
            if name not in columns:
                yield ctx.finding(
                    "D001",
                    f"simulation.priority[{position}].when",
                    f"priority condition `{priority.when}` reads `{name}`, which is not a column of the sample "
                    "data (a case's priority is decided from its data as it arrives)",
                    _near(name, columns) or f"add a `{name}` column to the data, or change the condition",
                )


@rule("D004", Severity.WARNING, "fields conditions read have values in simulation")
def _fields_have_values(ctx: Context) -> Iterator[Finding]:
    """A field only an agent's or a person's `outputs` promise has no value when simulated from data.

    Approvals' `<id>_decision`/`<id>_note` are answered in simulation and agents backed by a real
    model (`llm:`) produce their outputs, so only other producers need a column of ground truth.
    """
    if ctx.data is None:
        return
    columns = set(ctx.data.columns)
    for location, at, text, expression in _condition_sites(ctx):
        upstream = ctx.upstream(at)
        for name in sorted(expression.root_fields() - columns):
            producers = sorted(n for n in upstream if name in g.node_outputs(ctx.graph.nodes[n]["node"]))
            unfilled = [
                n for n in producers
                if not (isinstance(ctx.graph.nodes[n]["node"], Approval) and name.startswith(f"{n}_"))
                and not (isinstance(ctx.actor_of(n), Agent) and getattr(ctx.actor_of(n), "llm", None))
                and name not in getattr(ctx.graph.nodes[n]["node"], "output_models", {})
            ]
            if producers and len(unfilled) == len(producers):
                yield ctx.finding(
                    "D004",
                    location,
                    f"condition `{text}` reads `{name}`, an output of `{unfilled[0]}`, but the sample data has no "
                    f"`{name}` column, so simulated cases have no value for it",
                    f"add a `{name}` column with the values `{unfilled[0]}` would produce (ground truth), "
                    "or back its agent with a model (`llm:`)",
                )


@rule("D002", Severity.ERROR, "per-case overrides name columns that exist")
def _override_columns(ctx: Context) -> Iterator[Finding]:
    if ctx.data is None:
        return
    columns = set(ctx.data.columns)
    for column in ctx.workflow.simulation.overrides:
        if column not in columns:
            yield ctx.finding(
                "D002",
                f"simulation.overrides.{column}",
                f"override reads column `{column}`, which the sample data does not have",
                _near(column, columns) or "add the column or remove the override",
            )


def _declared_data(workflow: Workflow) -> Iterator[tuple[str, str, Path, bool]]:
    """``(attribute, name as written, resolved path, inside the workflow's folder)`` of its data files."""
    folder = workflow_folder(workflow)
    for attr in ("sample_data", "gold_data"):
        name = getattr(workflow.simulation, attr)
        path = data_path(workflow, attr.removesuffix("_data"))
        if name is not None and path is not None:
            yield attr, name, path, is_inside(path, folder)


@rule("D003", Severity.WARNING, "declared data files exist")
def _data_files(ctx: Context) -> Iterator[Finding]:
    if ctx.source is None or ctx.source.path is None:
        return
    for attr, name, path, inside in _declared_data(ctx.workflow):
        if inside and not path.is_file():  # outside the folder: D005 says so, and the file is never looked at
            yield ctx.finding(
                "D003",
                f"simulation.{attr}",
                f"`simulation.{attr}` names `{name}`, which is not next to the workflow file",
                "fix the path (relative to the workflow file) or remove the setting",
            )


def data_secrets(cases: Cases) -> list[tuple[int, str, str, str]]:
    """``(row index, column, text, what)`` for every string of case data that looks like a secret.

    Scanned once per :class:`~studio.fileio.Cases` (validation's D006 and the run's redaction share it)."""
    cached: list[tuple[int, str, str, str]] | None = cases.derived.get("secrets")
    if cached is None:
        texts = [(index, str(column), value) for index, row in enumerate(cases.rows)
                 for column, value in row.items() if isinstance(value, str)]
        found = secret_scan.scan_many(text for _, _, text in texts)
        cached = [(index, column, text, found[text]) for index, column, text in texts if text in found]
        cases.derived["secrets"] = cached
    return cached


@rule("D006", Severity.WARNING, "case data holds no secrets")
def _data_secret_values(ctx: Context) -> Iterator[Finding]:
    if ctx.data is None:
        return
    data = ctx.data
    for shown, (index, column, _, what) in enumerate(data_secrets(data)):
        if shown == 20:
            break
        line = data.lines[index] if index < len(data.lines) else None
        yield Finding(
            "D006", Severity.WARNING, f"data row {index + 1}, column `{column}`",
            f"case data row {index + 1}, column `{column}` looks like it contains {what}; traces show it masked",
            "remove the secret from the data and rotate it",
            str(data.path) if data.path is not None else None, line, 1 if line is not None else None,
        )


@rule("D005", Severity.ERROR, "data files stay inside the workflow's folder")
def _data_confined(ctx: Context) -> Iterator[Finding]:
    if data_outside_allowed():
        return
    for attr, name, _, inside in _declared_data(ctx.workflow):
        if not inside:
            yield ctx.finding(
                "D005",
                f"simulation.{attr}",
                f"`simulation.{attr}` names `{name}`, which is outside the workflow's folder, so it is not read",
                "move the data next to the workflow file and name it by a relative path, or pass it with "
                f"`--data`; to trust the file's paths set {ALLOW_OUTSIDE_ENV}=1",
            )


# =========================================================================== values


_YEAR = 366 * 86400.0
_DURATION_MAX: dict[str, float] = {"retention": 100 * _YEAR}
_RATE_RANGE = (1 / _YEAR, 10_000.0)  # events per second: at least one a year, at most 10,000 a second
_NUMBER_MAX: dict[str, float] = {
    "tokens_in": 10_000_000,
    "tokens_out": 10_000_000,
    "cost_per_1k_tokens": 10_000,
    "cost_per_call": 1_000_000,
    "calls": 1_000_000,
    "capacity": 100_000,
    "max_turns": 100_000,
    "max_repeats": 10_000,
    "cases": 10_000_000,
}


def _field_kind(annotation: Any, metadata: Iterable[Any] = ()) -> str | None:
    """``duration`` or ``rate`` for the studio's unit-carrying scalar types, else None."""
    found = list(metadata)
    stack = [annotation]
    while stack:
        item = stack.pop()
        found.extend(getattr(item, "__metadata__", ()) or ())
        stack.extend(getattr(item, "__args__", ()) or ())
    parsers = {getattr(meta, "func", None) for meta in found}
    return "duration" if parse_duration in parsers else "rate" if parse_rate in parsers else None


_FIELDS: dict[type[BaseModel], tuple[tuple[str, str, str | None], ...]] = {}


def _fields_of(cls: type[BaseModel]) -> tuple[tuple[str, str, str | None], ...]:
    """``(attribute, key in the file, kind)`` of a model's fields (worked out once per model)."""
    found = _FIELDS.get(cls)
    if found is None:
        found = tuple((name, info.alias or name, _field_kind(info.annotation, info.metadata))
                      for name, info in cls.model_fields.items())
        _FIELDS[cls] = found
    return found


def _values(model: BaseModel, path: str) -> Iterator[tuple[str, str, str | None, Any]]:
    """``(location, field name, kind, value)`` for every number that has a range, in a model tree."""
    stack: list[tuple[Any, str]] = [(model, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, BaseModel):
            for name, key, kind in _fields_of(type(item)):
                value = getattr(item, name)
                if isinstance(value, (BaseModel, list, dict)):
                    if value:
                        stack.append((value, f"{where}.{key}" if where else key))
                elif (kind is not None or key in _NUMBER_MAX) and isinstance(value, (int, float)) \
                        and not isinstance(value, bool):
                    yield (f"{where}.{key}" if where else key), key, kind, value
        elif isinstance(item, list):
            stack.extend((value, f"{where}[{index}]") for index, value in enumerate(item)
                         if isinstance(value, (BaseModel, dict)))
        elif isinstance(item, dict):
            stack.extend((value, f"{where}.{key}") for key, value in item.items() if isinstance(value, BaseModel))


@rule("V001", Severity.ERROR, "durations, rates, capacities and costs are in sane ranges")
def _sane_values(ctx: Context) -> Iterator[Finding]:
    for location, key, kind, value in _values(ctx.workflow, ""):
        if kind == "duration":
            limit = _DURATION_MAX.get(key, _YEAR)
            if value > limit:
                yield ctx.finding(
                    "V001", location,
                    f"`{location}` is {value:.3g} seconds, longer than the {limit / 86400:,.0f} days a "
                    f"`{key}` may last",
                    "check the number and its unit (`15m`, `2h`, `1d`, `1w`)",
                )
        elif kind == "rate":
            low, high = _RATE_RANGE
            if not low <= value <= high:
                yield ctx.finding(
                    "V001", location,
                    f"`{location}` is {value:.3g} per second, outside the sane range (one a year to "
                    f"{high:,.0f} a second)",
                    "write the rate per a unit that fits, e.g. `12/h` or `200/d`",
                )
        elif key in _NUMBER_MAX and value > _NUMBER_MAX[key]:
            yield ctx.finding(
                "V001", location,
                f"`{location}` is {value:.3g}, more than the {_NUMBER_MAX[key]:,.0f} a `{key}` may be",
                "check the number (a typo with extra digits?)",
            )


def summary(findings: Iterable[Finding]) -> Mapping[str, int]:
    counts = Counter(f.severity.value for f in findings)
    return {"error": counts.get("error", 0), "warning": counts.get("warning", 0), "info": counts.get("info", 0)}
