"""What changed between two versions of a workflow, and which changes weaken governance.

``diff_workflows(old, new)`` compares nodes, edges, actors, tools, data sources, policies and
metadata element by element (matched by id; edges by ``from -> to``) down to the field, and
raises **governance flags**, each with a severity:

=====================  ========  ===========================================================
code                   severity  when
=====================  ========  ===========================================================
approval_removed       high      a critical-tool node had an approval on every path, now not
critical_ungated       high      a new (or newly critical) node reaches a critical tool with no approval
approval_deleted       medium    an approval node was removed
tier_lowered           high/med  a tool's permission tier went down (the gateway enforces less)
tier_raised            medium    a tool's permission tier went up (it can now do more)
tool_granted           low-high  an agent or system may call a tool it could not before
autonomy_raised        medium    an agent (or the default) acts with less human involvement
sla_removed            medium    an approval or human task lost its SLA
sla_lengthened         low       an SLA (or a later level's time in an escalation chain) got longer
escalation_removed     medium    an approval or human task lost its escalation
loop_guard_disabled    high      ``max_repeats`` switched off
loop_guard_loosened    medium    ``max_repeats`` (policy or edge) raised
max_turns_raised       low       ``max_turns`` raised
agent_version_changed  low       an agent's pinned version changed (or was unpinned)
agent_handoff_added    medium    two agents' nodes are now connected (through gateways only)
audit_reduced          high/med  audit switched off, or audit record fields removed
gate_changed           high/med  an approval's threshold changed or was added, or a route into an
                                 approval or towards a critical tool changed its condition or
                                 was added or removed (high: on a path to a critical tool)
escalation_changed     medium    the effective escalation target of an approval or human task
                                 changed (its own, or the policy default it falls back to), or a
                                 later level of its escalation chain changed or went
secret_added           high      a string that looks like a secret appears (shown masked)
=====================  ========  ===========================================================

Every flag marks a change that loosens what the control plane enforces, so a review gate can
fail on any of them (``studio diff`` exits 1) unless a reviewer accepts them (``--accept``).
Secrets are never shown in full: every value in the change list and in flag messages has each
secret cut to its first 4 characters and ``…`` (the validator's ``G007`` detection).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import networkx as nx

from studio import graph as g
from studio.export import _oversight as ov
from studio.fileio import to_data
from studio.model import (
    Agent,
    Approval,
    Autonomy,
    Edge,
    Human,
    System,
    Task,
    Tier,
    Workflow,
    declared_levels,
    step_sla,
)
from studio.validate import find_secrets, mask_secrets

__all__ = ["Change", "FieldChange", "GovernanceFlag", "WorkflowDiff", "diff_workflows"]

FlagSeverity = Literal["high", "medium", "low"]
ChangeKind = Literal["added", "removed", "changed"]
_SEVERITY_RANK: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
_GATEWAYS = frozenset({"decision", "parallel", "join", "wait"})  # actorless steps a hand-off passes through
_AUTONOMY_RANK: dict[Autonomy, int] = {
    Autonomy.HUMAN_IN_THE_LOOP: 0,
    Autonomy.HUMAN_ON_THE_LOOP: 1,
    Autonomy.FULLY_AUTONOMOUS: 2,
}
_SECTIONS = ("metadata", "nodes", "edges", "actors", "tools", "data_sources", "policies", "simulation")


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: ``path`` is dotted (``behaviour.duration.mean``)."""

    path: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Change:
    """An element added, removed or changed in one section (``nodes``, ``edges``, ``policies``...)."""

    section: str
    kind: ChangeKind
    key: str
    fields: tuple[FieldChange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "kind": self.kind, "key": self.key,
                "fields": [f.to_dict() for f in self.fields]}


@dataclass(frozen=True)
class GovernanceFlag:
    """A change that weakens governance, with a severity and where it is."""

    code: str
    severity: FlagSeverity
    location: str
    message: str

    def sort_key(self) -> tuple[int, str, str, str]:
        return (_SEVERITY_RANK[self.severity], self.code, self.location, self.message)

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "location": self.location, "message": self.message}


@dataclass(frozen=True)
class WorkflowDiff:
    """The changes between two workflows and the governance flags they raise."""

    old_name: str
    old_version: str
    new_name: str
    new_version: str
    changes: tuple[Change, ...] = ()
    flags: tuple[GovernanceFlag, ...] = field(default=())

    @property
    def weakens_governance(self) -> bool:
        return bool(self.flags)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0}
        for change in self.changes:
            out[change.kind] += 1
        return out

    def flag_counts(self) -> dict[str, int]:
        out = {"high": 0, "medium": 0, "low": 0}
        for flag in self.flags:
            out[flag.severity] += 1
        return out

    def summary(self) -> str:
        c, f = self.counts(), self.flag_counts()
        head = f"`{self.old_name}` {self.old_version} -> `{self.new_name}` {self.new_version}: "
        if self.is_empty:
            return head + "no changes"
        text = head + f"{c['added']} added, {c['removed']} removed, {c['changed']} changed; "
        if not self.flags:
            return text + "no governance flags"
        parts = [f"{n} {sev}" for sev, n in f.items() if n]
        return text + f"{len(self.flags)} governance flag(s) ({', '.join(parts)})"

    # ---- output formats

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": {"name": self.old_name, "version": self.old_version},
            "new": {"name": self.new_name, "version": self.new_version},
            "summary": self.summary(),
            "counts": self.counts(),
            "weakens_governance": self.weakens_governance,
            "flags": [flag.to_dict() for flag in self.flags],
            "changes": [change.to_dict() for change in self.changes],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def to_text(self) -> str:
        lines = [self.summary()]
        if self.flags:
            lines.append("")
            lines.append("governance flags:")
            lines.extend(f"  {f.severity.upper():<6} {f.code:<22} {f.location}: {f.message}" for f in self.flags)
        if self.changes:
            lines.append("")
            lines.append("changes:")
            for change in self.changes:
                sign = {"added": "+", "removed": "-", "changed": "~"}[change.kind]
                lines.append(f"  {sign} {change.section} {change.key}")
                lines.extend(f"      {fc.path}: {_show(fc.old)} -> {_show(fc.new)}" for fc in change.fields)
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        icon = ":warning:" if self.flags else ":white_check_mark:"
        lines = [f"{icon} **Workflow diff** {self.summary()}", ""]
        if self.flags:
            lines += ["### Governance flags", "", "| Severity | Flag | Where | What |", "|---|---|---|---|"]
            lines += [f"| {f.severity} | `{f.code}` | `{_cell(f.location)}` | {_cell(f.message)} |"
                      for f in self.flags]
            lines.append("")
        if self.changes:
            lines += ["### Changes", ""]
            for section in _SECTIONS:
                items = [c for c in self.changes if c.section == section]
                if not items:
                    continue
                lines.append(f"**{section}**")
                lines.append("")
                for change in items:
                    lines.append(f"- {change.kind} `{change.key}`")
                    lines.extend(f"  - `{fc.path}`: `{_show(fc.old)}` → `{_show(fc.new)}`"
                                 for fc in change.fields)
                lines.append("")
        return "\n".join(lines).rstrip("\n") + "\n"

    def format(self, fmt: str) -> str:
        formats: dict[str, Callable[[], str]] = {
            "text": self.to_text, "json": self.to_json, "markdown": self.to_markdown,
        }
        if fmt not in formats:
            raise ValueError(f"unknown format `{fmt}`; use text, json or markdown")
        return formats[fmt]()


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(none)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------- element changes


class _Absent:
    def __repr__(self) -> str:
        return "(none)"


_ABSENT: Any = _Absent()


def _redact(value: Any, path: str) -> Any:
    """``value`` with every secret in its strings masked (first 4 characters and ``…``)."""
    if isinstance(value, str):
        return mask_secrets(value, path)
    if isinstance(value, dict):
        return {key: _redact(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, path) for item in value]
    return value


def _compare(old: Any, new: Any, path: str) -> Iterator[FieldChange]:
    """Field changes between two values: mappings recurse, anything else is compared whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from _compare(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}" if path else str(key))
    elif old != new:
        yield FieldChange(path, _redact(old, path), _redact(new, path))


def _field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    return tuple(_compare(dict(old), dict(new), ""))


def _dump(item: Any) -> dict[str, Any]:
    data: dict[str, Any] = item.model_dump(mode="json", by_alias=True)
    return data


def _keyed(items: Iterable[Any], key: Callable[[Any], str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        base = key(item)
        name, n = base, 2
        while name in out:
            name, n = f"{base} #{n}", n + 1
        out[name] = _dump(item)
    return out


def _section_changes(section: str, old: Mapping[str, dict[str, Any]],
                     new: Mapping[str, dict[str, Any]]) -> Iterator[Change]:
    for key in old:
        if key not in new:
            yield Change(section, "removed", key)
    for key in new:
        if key not in old:
            yield Change(section, "added", key)
        else:
            fields = _field_changes(old[key], new[key])
            if fields:
                yield Change(section, "changed", key, fields)


def _edge_key(edge: Any) -> str:
    return f"{edge.source} -> {edge.target}"


def _changes(old: Workflow, new: Workflow) -> list[Change]:
    changes: list[Change] = []
    for section in _SECTIONS:
        if section in ("metadata", "policies", "simulation"):
            fields = _field_changes(_dump(getattr(old, section)), _dump(getattr(new, section)))
            if fields:
                changes.append(Change(section, "changed", section, fields))
            continue
        key: Callable[[Any], str] = _edge_key if section == "edges" else (lambda item: str(item.id))
        changes.extend(_section_changes(section, _keyed(getattr(old, section), key),
                                        _keyed(getattr(new, section), key)))
    return changes


# --------------------------------------------------------------------------- governance flags


def _approval_flags(old: Workflow, new: Workflow) -> Iterator[GovernanceFlag]:
    old_graph, new_graph = g.to_networkx(old), g.to_networkx(new)
    old_ungated = g.ungated_from_start(old_graph, old, g.is_approval(old))
    new_ungated = g.ungated_from_start(new_graph, new, g.is_approval(new))
    old_critical = ov.critical_nodes(old)
    old_ids = set(old.node_ids)
    for node_id, tools in ov.critical_nodes(new).items():
        if node_id not in new_ungated:
            continue
        listed = ", ".join(f"`{t}`" for t in tools)
        if node_id in old_critical and node_id not in old_ungated:
            yield GovernanceFlag("approval_removed", "high", f"nodes.{node_id}",
                                 f"`{node_id}` calls critical tool {listed}; it had an approval on every path "
                                 "before, now some path reaches it without one")
        elif node_id not in old_critical or node_id not in old_ids:
            what = "new node" if node_id not in old_ids else "node now calling a critical tool"
            yield GovernanceFlag("critical_ungated", "high", f"nodes.{node_id}",
                                 f"{what} `{node_id}` calls critical tool {listed} and some path reaches it "
                                 "without an approval")
    new_approvals = {n.id for n in new.nodes if isinstance(n, Approval)}
    for node in old.nodes:
        if isinstance(node, Approval) and node.id not in new_approvals:
            yield GovernanceFlag("approval_deleted", "medium", f"nodes.{node.id}",
                                 f"approval `{node.id}` was removed")


def _tool_flags(old: Workflow, new: Workflow) -> Iterator[GovernanceFlag]:
    old_tools = old.index.tools
    for tool in new.tools:
        before = old_tools.get(tool.id)
        if before is None or before.tier is tool.tier:
            continue
        change = f"`{before.tier.value}` -> `{tool.tier.value}`"
        if tool.tier.rank < before.tier.rank:
            severity: FlagSeverity = "high" if before.tier is Tier.CRITICAL else "medium"
            yield GovernanceFlag("tier_lowered", severity, f"tools.{tool.id}",
                                 f"tool `{tool.id}` tier lowered {change}; the gateway enforces less for it")
        else:
            yield GovernanceFlag("tier_raised", "medium", f"tools.{tool.id}",
                                 f"tool `{tool.id}` tier raised {change}; it can now do more than the "
                                 "workflow was reviewed for")
    tiers = {t.id: t.tier for t in new.tools}
    old_actors = old.index.actors
    for actor in new.actors:
        if not isinstance(actor, (Agent, System)):
            continue
        old_actor = old_actors.get(actor.id)
        previous: set[str] = set(old_actor.tools) if isinstance(old_actor, (Agent, System)) else set()
        for tool_id in actor.tools:
            if tool_id in previous:
                continue
            tier = tiers.get(tool_id)
            severity = "low"
            if tier is Tier.CRITICAL:
                severity = "high"
            elif tier is Tier.RESTRICTED_WRITE:
                severity = "medium"
            yield GovernanceFlag("tool_granted", severity, f"actors.{actor.id}",
                                 f"{actor.kind} `{actor.id}` may now call `{tool_id}`"
                                 + (f" ({tier.value})" if tier else ""))


def _agent_flags(old: Workflow, new: Workflow) -> Iterator[GovernanceFlag]:
    old_agents = {a.id: a for a in old.actors if isinstance(a, Agent)}
    for agent in new.actors:
        if not isinstance(agent, Agent) or agent.id not in old_agents:
            continue
        before = old_agents[agent.id]
        if before.version != agent.version:
            yield GovernanceFlag("agent_version_changed", "low", f"actors.{agent.id}",
                                 f"agent `{agent.id}` version `{before.version}` -> `{agent.version}`; "
                                 "re-run the simulation and gold cases")
        old_level = before.autonomy or old.policies.autonomy
        new_level = agent.autonomy or new.policies.autonomy
        if _AUTONOMY_RANK[new_level] > _AUTONOMY_RANK[old_level]:
            yield GovernanceFlag("autonomy_raised", "medium", f"actors.{agent.id}",
                                 f"agent `{agent.id}` autonomy `{old_level.value}` -> `{new_level.value}`")
    if _AUTONOMY_RANK[new.policies.autonomy] > _AUTONOMY_RANK[old.policies.autonomy]:
        yield GovernanceFlag("autonomy_raised", "medium", "policies.autonomy",
                             f"default autonomy `{old.policies.autonomy.value}` -> `{new.policies.autonomy.value}`")


class _Terms(NamedTuple):
    """A person's step's effective SLA and escalation, as declared (its own, else the policies')."""

    sla: float | None
    chain: tuple[tuple[float | None, str], ...]
    """(after, pool) per level; level 1's ``after`` is the SLA."""
    fallback: bool
    """The escalation comes from the policies (the step names none of its own)."""

    @property
    def target(self) -> str | None:
        return self.chain[0][1] if self.chain else None

    @property
    def roles(self) -> str:
        return " then ".join(f"`{pool}`" for _, pool in self.chain)


def _oversight_terms(workflow: Workflow) -> dict[str, _Terms]:
    """Effective SLA and escalation chain of every approval and human task, and whether the chain is the
    policy default."""
    policies = workflow.policies
    out: dict[str, _Terms] = {}
    for node in workflow.nodes:
        if isinstance(node, Approval) or (isinstance(node, Task) and isinstance(workflow.actor_of(node.id), Human)):
            sla = step_sla(node, policies)
            chain = tuple(declared_levels(node, policies))
            own = node.escalation is not None or node.escalate_to is not None
            out.setdefault(node.id, _Terms(sla, chain, bool(chain) and not own))
    return out


def _oversight_flags(old: Workflow, new: Workflow) -> Iterator[GovernanceFlag]:
    from studio.model import format_duration  # noqa: PLC0415

    before = _oversight_terms(old)
    for node_id, terms in _oversight_terms(new).items():
        if node_id not in before:
            continue
        was = before[node_id]
        old_sla, sla = was.sla, terms.sla
        if old_sla is not None and sla is None:
            yield GovernanceFlag("sla_removed", "medium", f"nodes.{node_id}",
                                 f"`{node_id}` lost its SLA (was {format_duration(old_sla)}); work can wait forever")
        elif old_sla is not None and sla is not None and sla > old_sla:
            yield GovernanceFlag("sla_lengthened", "low", f"nodes.{node_id}",
                                 f"SLA of `{node_id}` lengthened {format_duration(old_sla)} -> {format_duration(sla)}")
        levels = zip(was.chain[1:], terms.chain[1:], strict=False)  # the levels both have
        for level, ((old_after, _), (after, _)) in enumerate(levels, start=2):
            if old_after is not None and after is not None and after > old_after:
                yield GovernanceFlag("sla_lengthened", "low", f"nodes.{node_id}",
                                     f"level {level} of the escalation of `{node_id}` lengthened "
                                     f"{format_duration(old_after)} -> {format_duration(after)}")
        if was.chain and not terms.chain:
            yield GovernanceFlag("escalation_removed", "medium", f"nodes.{node_id}",
                                 f"`{node_id}` no longer escalates (was {was.roles})")


def _loop_flags(old: Workflow, new: Workflow) -> Iterator[GovernanceFlag]:
    a, b = old.policies, new.policies
    if a.max_repeats is not None and b.max_repeats is None:
        yield GovernanceFlag("loop_guard_disabled", "high", "policies.max_repeats",
                             f"loop guard switched off (was max_repeats {a.max_repeats}); loops can run until "
                             "max_turns")
    elif a.max_repeats is not None and b.max_repeats is not None and b.max_repeats > a.max_repeats:
        yield GovernanceFlag("loop_guard_loosened", "medium", "policies.max_repeats",
                             f"max_repeats raised {a.max_repeats} -> {b.max_repeats}")
    if b.max_turns > a.max_turns:
        yield GovernanceFlag("max_turns_raised", "low", "policies.max_turns",
                             f"max_turns raised {a.max_turns} -> {b.max_turns}")
    old_edges = {e.key: e for e in old.edges}
    for edge in new.edges:
        before = old_edges.get(edge.key)
        if before is None or before.max_repeats is None:
            continue
        limit = edge.max_repeats if edge.max_repeats is not None else b.max_repeats
        if limit is None or limit > before.max_repeats:
            shown = "no limit" if limit is None else str(limit)
            yield GovernanceFlag("loop_guard_loosened", "medium", f"edges.{_edge_key(edge)}",
                                 f"loop guard on `{_edge_key(edge)}` loosened {before.max_repeats} -> {shown}")


def agent_handoffs(workflow: Workflow) -> set[tuple[str, str]]:
    """Pairs of agent-performed nodes (different agents) connected directly or through gateways only."""
    graph = g.to_networkx(workflow)
    agent_nodes = {n for n, d in graph.nodes(data=True) if d.get("actor_kind") == "agent"}
    pairs: set[tuple[str, str]] = set()
    for source in agent_nodes:
        seen = {source}
        stack = list(graph.successors(source))
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if current in agent_nodes:
                if graph.nodes[current]["actor"] != graph.nodes[source]["actor"]:
                    pairs.add((source, current))
            elif graph.nodes[current]["kind"] in _GATEWAYS:
                stack.extend(graph.successors(current))
    return pairs


def _handoff_flags(old: Workflow, new: Workflow) -> Iterator[GovernanceFlag]:
    before = agent_handoffs(old)
    for source, target in sorted(agent_handoffs(new) - before):
        a, b = new.actor_of(source), new.actor_of(target)
        yield GovernanceFlag("agent_handoff_added", "medium", f"edges.{source} -> {target}",
                             f"new agent-to-agent hand-off `{source}` ({a.id if a else '?'}) -> `{target}` "
                             f"({b.id if b else '?'}) with no person or check between them")


def _audit_flags(old: Workflow, new: Workflow) -> Iterator[GovernanceFlag]:
    a, b = old.policies.audit, new.policies.audit
    if a.enabled and not b.enabled:
        yield GovernanceFlag("audit_reduced", "high", "policies.audit.enabled", "audit switched off")
        return
    removed = [f for f in a.fields if f not in b.fields]
    if removed and b.enabled:
        yield GovernanceFlag("audit_reduced", "medium", "policies.audit.fields",
                             "audit records no longer carry " + ", ".join(f"`{f}`" for f in removed))


def _quoted(text: str | None, path: str = "") -> str:
    return "(none)" if text is None else f"`{mask_secrets(text, path)}`"


def _route_text(edge: Edge) -> str | None:
    if edge.when is not None:
        return edge.when + (" (default)" if edge.default else "")
    return "default" if edge.default else None


class _Gates:
    """Approvals and what each node leads to, for one version."""

    def __init__(self, workflow: Workflow) -> None:
        self.graph = g.to_networkx(workflow)
        self.critical = ov.critical_nodes(workflow)
        self.approvals = {n.id: n for n in workflow.nodes if isinstance(n, Approval)}
        self.edges = {e.key: e for e in workflow.edges}
        self.sources = {e.source for e in workflow.edges}

    def critical_after(self, node_id: str) -> list[str]:
        if node_id not in self.graph:
            return []
        reach = {node_id} | nx.descendants(self.graph, node_id)
        return [c for c in self.critical if c in reach]

    def route_flag(self, edge: Edge, what: str) -> GovernanceFlag | None:
        """``gate_changed`` for a route into an approval or on a path to a critical tool, else None."""
        after = self.critical_after(edge.target)
        if not after and edge.target not in self.approvals:
            return None
        key = _edge_key(edge)
        into = f" into approval `{edge.target}`" if edge.target in self.approvals else ""
        tail = "; it is on a path to critical " + ", ".join(f"`{n}`" for n in after) if after else ""
        return GovernanceFlag("gate_changed", "high" if after else "medium", f"edges.{key}",
                              f"route `{key}`{into} {what}{tail}")


def _gate_flags(old: Workflow, new: Workflow) -> Iterator[GovernanceFlag]:
    a, b = _Gates(old), _Gates(new)
    for node_id, node in b.approvals.items():
        previous = a.approvals.get(node_id)
        if previous is None or previous.threshold == node.threshold or node.threshold is None:
            continue  # new approvals, no change, or a threshold dropped (a person now always decides)
        after = b.critical_after(node_id)
        tail = "; it is on a path to critical " + ", ".join(f"`{n}`" for n in after) if after else ""
        yield GovernanceFlag("gate_changed", "high" if after else "medium", f"nodes.{node_id}.threshold",
                             f"approval `{node_id}` threshold changed {_quoted(previous.threshold)} -> "
                             f"{_quoted(node.threshold)}; below it the approval auto-approves{tail}")
    # Routes of a node in both versions: a condition changed, or a conditional route added or removed.
    for edge in new.edges:
        previous_edge = a.edges.get(edge.key)
        text = _route_text(edge)
        flag = None
        if previous_edge is not None and _route_text(previous_edge) != text:
            flag = b.route_flag(edge, f"condition changed {_quoted(_route_text(previous_edge))} -> {_quoted(text)}")
        elif previous_edge is None and text is not None and edge.source in a.sources:
            flag = b.route_flag(edge, f"added, taken when {_quoted(text)}")
        if flag is not None:
            yield flag
    for edge in old.edges:
        text = _route_text(edge)
        if edge.key not in b.edges and text is not None and edge.source in b.sources:
            flag = a.route_flag(edge, f"(taken when {_quoted(text)}) removed")
            if flag is not None:
                yield flag


def _escalation_flags(old: Workflow, new: Workflow) -> Iterator[GovernanceFlag]:
    before = _oversight_terms(old)
    for node_id, terms in _oversight_terms(new).items():
        was = before.get(node_id, _Terms(None, (), False))
        old_target, target, fallback, old_fallback = was.target, terms.target, terms.fallback, was.fallback
        if old_target is None or target is None:
            continue  # none before (tightening), none now (`escalation_removed`)
        if old_target == target:
            if [pool for _, pool in was.chain] != [pool for _, pool in terms.chain]:  # a later level changed
                yield GovernanceFlag("escalation_changed", "medium", f"nodes.{node_id}",
                                     f"`{node_id}` escalation chain {was.roles} -> {terms.roles}")
            continue
        if fallback:
            how = ("; now a fallback to the policy default (`escalate_to` removed from the node)"
                   if not old_fallback else "; a fallback to the policy default, which changed")
        else:
            how = "; set on the node" + (" (was the policy default)" if old_fallback else "")
        chains = f" (chain {was.roles} -> {terms.roles})" if len(was.chain) > 1 or len(terms.chain) > 1 else ""
        yield GovernanceFlag("escalation_changed", "medium", f"nodes.{node_id}",
                             f"`{node_id}` escalation `{old_target}` -> `{target}`{how}{chains}")
    a, b = old.policies.escalate_to, new.policies.escalate_to
    if a is not None and a != b:
        yield GovernanceFlag("escalation_changed", "medium", "policies.escalate_to",
                             f"default escalation `{a}` -> {_quoted(b)}")
    a_chain = [level.to for level in old.policies.escalation or ()]
    b_chain = [level.to for level in new.policies.escalation or ()]
    if a_chain and a_chain != b_chain:
        shown = " then ".join(f"`{pool}`" for pool in b_chain) or "none"
        yield GovernanceFlag("escalation_changed", "medium", "policies.escalation",
                             f"default escalation chain {' then '.join(f'`{pool}`' for pool in a_chain)} -> {shown}")


_INDEXED = re.compile(r"^(\w+)\[(\d+)\](.*)$")


def _id_path(data: Mapping[str, Any], path: str) -> str:
    """``tools[3].credential`` -> ``tools.release_payment.credential`` (edges: ``edges.a -> b``)."""
    match = _INDEXED.match(path)
    if match is None:
        return path
    section, index, rest = match.group(1), int(match.group(2)), match.group(3)
    items = data.get(section)
    item = items[index] if isinstance(items, list) and index < len(items) else None
    if isinstance(item, dict) and "id" in item:
        return f"{section}.{item['id']}{rest}"
    if isinstance(item, dict) and "from" in item and "to" in item:
        return f"{section}.{item['from']} -> {item['to']}{rest}"
    return path


def _secret_flags(old: Workflow, new: Workflow) -> Iterator[GovernanceFlag]:
    known = {text for _, text, _ in find_secrets(to_data(old))}
    data = to_data(new)
    for path, text, what in find_secrets(data):
        if text in known:
            continue
        shown = mask_secrets(text, path)
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        yield GovernanceFlag("secret_added", "high", _id_path(data, path),
                             f"`{_id_path(data, path)}` now holds what looks like {what} (`{shown}`); remove it, "
                             "rotate the secret, and name it instead (e.g. `credential: ERP_TOKEN`)")


_FLAG_RULES: tuple[Callable[[Workflow, Workflow], Iterator[GovernanceFlag]], ...] = (
    _approval_flags, _tool_flags, _agent_flags, _oversight_flags, _loop_flags, _handoff_flags, _audit_flags,
    _gate_flags, _escalation_flags, _secret_flags,
)


def diff_workflows(old: Workflow, new: Workflow) -> WorkflowDiff:
    """Field-level changes from ``old`` to ``new`` and the governance flags they raise (sorted)."""
    flags = sorted({flag for rule in _FLAG_RULES for flag in rule(old, new)}, key=GovernanceFlag.sort_key)
    return WorkflowDiff(
        old_name=old.metadata.name,
        old_version=old.metadata.version,
        new_name=new.metadata.name,
        new_version=new.metadata.version,
        changes=tuple(_changes(old, new)),
        flags=tuple(flags),
    )
