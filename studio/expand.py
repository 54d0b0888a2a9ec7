"""Subworkflow expansion: the referenced workflow's steps run inside the case, in place of one step.

A pure pass over a validated :class:`~studio.model.Workflow`: it returns a flattened copy in which
every ``subworkflow`` node whose ``ref`` resolves (a file next to the workflow first, then a
template name) is replaced by the referenced workflow's nodes, their ids prefixed with the
subworkflow node's id and ``__`` (``review`` runs ``check`` as ``review__check``)::

    prev -> review -> next                       (parent)
    start -> check -> sign -> done               (review.yaml)

    prev -> review__start -> review__check -> review__sign -> review__done -> review -> next

``review__start`` (the sub's start, kind ``sub_start`` in the plan), ``review__done`` (each of the
sub's ends, ``sub_end``, recording its outcome) and ``review`` itself (``sub_return``, where the case
comes back to the parent's edges) are zero-time steps: they mark where the subworkflow was entered
and left, so its time and cost can be reported as a whole. Nested references expand the same way
(``review__kyc__check``); a reference cycle is an error (``M002``).

The referenced workflow's actors, tools and data sources join the parent's: one id is one thing,
the outermost definition is used, and a different definition of the same id in a referenced file
is a warning (``M003``). Its ``simulation`` section is ignored (the parent's arrivals, seed, data
and overrides apply) except its tool behaviours (``simulation.tools``) for tools the parent does not
set; its ``policies`` are the parent's (one case, one set of guards). A referenced workflow with
error findings, or one that cannot be read, refuses the simulation (``M004``). A ``ref`` that does
not resolve leaves the node one step of its actor (the validator reports it, ``S010``).

Exports do not expand: a subworkflow stays a reference (docs/semantics.md, "Subworkflows").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import Finding, LoadError, Severity
from studio.fileio import Source, is_inside, load, placed, workflow_folder
from studio.graph import with_outcome_routers
from studio.model import Approval, DataSource, Edge, Parallel, Subworkflow, Tool, Workflow

__all__ = ["SEPARATOR", "Expanded", "Expansion", "expand", "resolve_ref"]

SEPARATOR = "__"
"""Between a subworkflow node's id and the ids of the referenced workflow's nodes."""

SUB_START, SUB_END, SUB_RETURN = "sub_start", "sub_end", "sub_return"
"""Plan kinds of the zero-time steps that mark a subworkflow's entry, its ends and the return."""


@dataclass(frozen=True)
class Expansion:
    """One expanded subworkflow node, with ids as they are in the flattened workflow."""

    node: str
    """The subworkflow node (``review``, nested ``review__kyc``): its ``sub_return`` step."""
    ref: str
    file: str
    """Where the referenced workflow was read from."""
    start: str
    """Its ``sub_start`` step (``review__start``)."""
    ends: tuple[tuple[str, str], ...]
    """Its ``sub_end`` steps with the outcome each records."""

    @property
    def prefix(self) -> str:
        """What the ids of the steps inside it start with."""
        return self.node + SEPARATOR

    def prefixed(self, prefix: str) -> Expansion:
        return Expansion(prefix + self.node, self.ref, self.file, prefix + self.start,
                         tuple((prefix + end, outcome) for end, outcome in self.ends))


@dataclass(frozen=True)
class Expanded:
    """The flattened workflow, what was expanded, and what the expansion found."""

    workflow: Workflow
    subworkflows: tuple[Expansion, ...] = ()
    findings: tuple[Finding, ...] = ()

    def markers(self) -> dict[str, tuple[str, str | None]]:
        """Step id -> (plan kind, outcome it records) of every marker step."""
        out: dict[str, tuple[str, str | None]] = {}
        for sub in self.subworkflows:
            out[sub.start] = (SUB_START, None)
            for end, outcome in sub.ends:
                out[end] = (SUB_END, outcome)
            out[sub.node] = (SUB_RETURN, None)
        return out

    def local_ids(self) -> dict[str, str]:
        """Step id -> its id in the file it comes from (``review__sign`` -> ``sign``), for the steps
        inside a subworkflow: an approval records ``<its own id>_decision``, as its conditions read."""
        out: dict[str, str] = {}
        for sub in sorted(self.subworkflows, key=lambda s: len(s.node)):  # innermost prefix wins
            for node in self.workflow.nodes:
                if node.id.startswith(sub.prefix):
                    out[node.id] = node.id[len(sub.prefix):]
        return out


def resolve_ref(ref: str | None, folder: Path) -> Path | None:
    """The file a subworkflow's ``ref`` names: a file inside ``folder`` first, then a template; None
    when it is neither (the validator's ``S010`` says so)."""
    if not ref:
        return None
    candidate = folder / ref
    if not Path(ref).is_absolute() and is_inside(candidate, folder) and candidate.is_file():
        return candidate
    from studio.templates import get_template, template_names  # noqa: PLC0415 - only when a ref is used

    if ref in template_names():
        return get_template(ref).workflow_path
    return None


@dataclass
class _Parts:
    """A workflow's elements being flattened (ids local to that workflow)."""

    file: str
    nodes: list[Any]
    edges: list[Edge]
    actors: list[Any]
    tools: list[Tool]
    data_sources: list[DataSource]
    sim_tools: dict[str, Any]
    subs: list[Expansion] = field(default_factory=list)
    entries: dict[str, str] = field(default_factory=dict)
    """Expanded subworkflow node -> its ``sub_start`` step (where edges into the node go)."""


@dataclass
class _Pass:
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class _Site:
    """A subworkflow node being expanded: the workflow it is in, where, and the pass's findings."""

    workflow: Workflow
    position: int
    node: Subworkflow
    state: _Pass

    def note(self, code: str, severity: Severity, message: str, hint: str) -> None:
        """A finding at the node's ``ref`` (file, line and column where the workflow has them)."""
        finding = Finding(code, severity, f"nodes[{self.position}].ref", message, hint)
        self.state.findings.extend(placed(self.workflow, [finding]))


def _file_of(workflow: Workflow) -> str:
    source = workflow.source
    if isinstance(source, Source) and source.path is not None:
        return str(source.path)
    return f"<{workflow.metadata.name}>"


def expand(workflow: Workflow) -> Expanded:
    """What runs: ``workflow``'s subworkflows flattened (see the module docstring), and at every level
    an approval that routes on its outcome followed by its decision (:func:`studio.graph.with_outcome_routers`).
    A workflow with neither comes back as the very same object."""
    workflow = with_outcome_routers(workflow)
    if not any(node.kind == "subworkflow" for node in workflow.nodes):
        return Expanded(workflow)
    state = _Pass()
    top = _file_of(workflow)
    key = Path(top).resolve() if not top.startswith("<") else None
    parts = _flatten(workflow, ((key, top),), state)
    if not parts.subs:
        return Expanded(workflow, (), tuple(state.findings))
    simulation = workflow.simulation.model_copy(update={"tools": parts.sim_tools})
    flat = workflow.model_copy(update={
        "nodes": parts.nodes, "edges": parts.edges, "actors": parts.actors, "tools": parts.tools,
        "data_sources": parts.data_sources, "simulation": simulation,
    })
    return Expanded(flat, tuple(parts.subs), tuple(state.findings))


Chain = tuple[tuple[Path | None, str], ...]
"""The files being expanded, outermost first: (resolved path or None, as shown)."""


def _flatten(workflow: Workflow, chain: Chain, state: _Pass) -> _Parts:
    """``workflow``'s elements with its subworkflows expanded: its own edges first (those into an
    expanded node go to its ``sub_start`` step), then the expanded workflows' edges."""
    workflow = with_outcome_routers(workflow)  # its approvals that route on their outcome, with their decision
    parts = _Parts(_file_of(workflow), [], [], list(workflow.actors), list(workflow.tools),
                   list(workflow.data_sources), dict(workflow.simulation.tools))
    folder = workflow_folder(workflow)
    for position, node in enumerate(workflow.nodes):
        if not isinstance(node, Subworkflow):
            parts.nodes.append(node)
            continue
        site = _Site(workflow, position, node, state)
        inner = _inner(site, folder, chain)
        if inner is None:
            parts.nodes.append(node)
        else:
            _splice(site, parts, inner)
    own = []
    for edge in workflow.edges:
        entry = parts.entries.get(edge.target)
        own.append(edge if entry is None else edge.model_copy(update={"target": entry}))
    parts.edges[:0] = own
    return parts


def _inner(site: _Site, folder: Path, chain: Chain) -> _Parts | None:
    """The referenced workflow flattened, or None when the node stays one step (a ref that does not
    resolve; a cycle or an unreadable or invalid file, which are findings)."""
    node = site.node
    found = resolve_ref(node.ref, folder)
    if found is None:
        return None
    path = found.resolve()
    if any(seen == path for seen, _ in chain):
        names = " -> ".join(f"`{Path(name).name}`" for _, name in (*chain, (path, str(path))))
        site.note("M002", Severity.ERROR,
                  f"subworkflow `{node.id}` refers to `{node.ref}`, which is already running: {names}; a "
                  "workflow cannot run itself",
                  "break the cycle: make one of these steps a `task`, or refer to a different workflow")
        return None
    sub = _load(site, found)
    if sub is None:
        return None
    return _flatten(sub, (*chain, (path, str(path))), site.state)


def _load(site: _Site, path: Path) -> Workflow | None:
    """The referenced workflow, if it reads and has no error findings (else an ``M004`` and its findings)."""
    from studio.validate import validate  # noqa: PLC0415 - validation sits below simulation; lazily, as compile does

    try:
        sub = load(path)
    except LoadError as exc:
        errors = list(exc.findings)
    else:
        errors = [f for f in validate(sub) if f.is_error]
        if not errors:
            return sub
    first = errors[0].message if errors else "it cannot be read"
    site.note("M004", Severity.ERROR,
              f"subworkflow `{site.node.id}` runs `{site.node.ref}` ({path}), which has {len(errors)} error(s) "
              f"of its own (first: {first})",
              f"fix `{path.name}` (`studio validate {path.name}` lists them all), or refer to another workflow")
    site.state.findings.extend(errors)
    return None


def _splice(site: _Site, parts: _Parts, inner: _Parts) -> None:
    """Put ``inner``'s steps in place of the node: ids prefixed, start and ends made markers, the node
    itself the step where the case returns; join its actors, tools and data sources."""
    node = site.node
    prefix = node.id + SEPARATOR
    start = next(n.id for n in inner.nodes if n.kind == "start")
    ends: list[tuple[str, str]] = []
    for member in inner.nodes:
        new_id = prefix + member.id
        if member.kind == "start":
            parts.nodes.append(Parallel(id=new_id, kind="parallel", name=f"enter {node.label}"))
        elif member.kind == "end":
            ends.append((new_id, getattr(member, "outcome", None) or member.id))
            parts.nodes.append(Parallel(id=new_id, kind="parallel", name=member.name))
        elif isinstance(member, Approval) and member.reviews:
            parts.nodes.append(member.model_copy(update={"id": new_id,
                                                         "reviews": [prefix + r for r in member.reviews]}))
        else:
            parts.nodes.append(member.model_copy(update={"id": new_id}))
    parts.nodes.append(Parallel(id=node.id, kind="parallel", name=node.name))
    inner_edges = [e.model_copy(update={"source": prefix + e.source, "target": prefix + e.target})
                   for e in inner.edges]
    inner_edges += [Edge.model_validate({"from": end, "to": node.id}) for end, _ in ends]
    parts.edges.extend(inner_edges)
    parts.entries[node.id] = prefix + start
    parts.subs.extend(sub.prefixed(prefix) for sub in inner.subs)
    parts.subs.append(Expansion(node.id, node.ref or "", inner.file, prefix + start, tuple(ends)))
    _join(site, parts, inner)


def _join(site: _Site, parts: _Parts, inner: _Parts) -> None:
    """The referenced workflow's actors, tools and data sources join the parent's (the outer definition
    of a shared id wins; a different inner one is an ``M003`` warning)."""
    sections: tuple[tuple[str, list[Any], list[Any]], ...] = (
        ("actors", parts.actors, inner.actors), ("tools", parts.tools, inner.tools),
        ("data_sources", parts.data_sources, inner.data_sources))
    outer, there = Path(parts.file).name, Path(inner.file).name
    for section, mine, theirs in sections:
        known = {item.id: item for item in mine}
        for item in theirs:
            defined = known.get(item.id)
            if defined is None:
                mine.append(item)
                known[item.id] = item
            elif defined != item:
                site.note("M003", Severity.WARNING,
                          f"`{item.id}` ({section}) is defined differently in `{there}` and in `{outer}`; the "
                          f"simulation uses the one in `{outer}` for both",
                          "make the two definitions the same, or give the referenced workflow's its own id")
    for tool, behaviour in inner.sim_tools.items():
        parts.sim_tools.setdefault(tool, behaviour)
