"""The interaction-network report: one call gathers every analysis of :mod:`studio.graph_analysis`.

``analyze(workflow)`` answers the workshop questions (who hands off to whom, where are the
loops, where does work pile up, what can an agent reach before a person looks, how reliable is
the chain end to end) and returns an :class:`Analysis`, a frozen value that prints as text
(:meth:`Analysis.format_text`) or serialises deterministically (:meth:`Analysis.to_dict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from studio import _gcpause, fileio
from studio import graph_analysis as ga
from studio.errors import has_errors
from studio.expand import expand
from studio.model import Workflow, format_duration

ROUTE_LIMIT = 200
SAMPLE_DATA: Any = object()
"""``analyze(..., data=SAMPLE_DATA)`` (the default): the workflow's own sample data."""


@dataclass(frozen=True)
class Analysis:
    """Everything :func:`analyze` found, in a deterministic order."""

    workflow: str
    version: str
    interactions: tuple[ga.Interaction, ...]
    actor_cycles: tuple[tuple[str, ...], ...]
    routes: tuple[ga.Route, ...]
    routes_complete: bool
    """False when more routes exist than the limit allowed; figures over routes are then partial."""
    loops: tuple[ga.Loop, ...]
    hot_spots: tuple[ga.HotSpot, ...]
    blast_radius: tuple[ga.BlastRadius, ...]
    delegation_risks: tuple[ga.DelegationRisk, ...]
    pairwise: ga.PairwiseInteractions
    critical_path: ga.CriticalPath
    success: ga.SuccessEstimate

    @property
    def expected_handoffs(self) -> float:
        """Hand-offs per case, weighted by route probability (over the routes listed)."""
        covered = sum(r.probability for r in self.routes)
        if covered <= 0:
            return 0.0
        return sum(r.probability * r.handoff_count for r in self.routes) / covered

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (dump with ``sort_keys=True`` for byte-stable output)."""
        return {
            "workflow": self.workflow,
            "version": self.version,
            "interaction_network": [
                {
                    "from": i.from_actor, "to": i.to_actor, "from_kind": i.from_kind, "to_kind": i.to_kind,
                    "handoffs": i.handoffs, "observed": i.observed, "weight": i.weight,
                    "links": [list(link) for link in i.links],
                }
                for i in self.interactions
            ],
            "actor_cycles": [list(c) for c in self.actor_cycles],
            "routes": {
                "complete": self.routes_complete,
                "count": len(self.routes),
                "expected_handoffs": _round(self.expected_handoffs),
                "items": [
                    {
                        "nodes": list(r.nodes), "end": r.end, "probability": _round(r.probability),
                        "success": _round(r.success), "duration_s": _round(r.duration),
                        "handoffs": r.handoff_count,
                        "handoff_links": [[h.source, h.target] for h in r.handoffs],
                    }
                    for r in self.routes
                ],
            },
            "loops": [
                {"nodes": list(loop.nodes), "actors": list(loop.actors), "agent_only": loop.agent_only}
                for loop in self.loops
            ],
            "hot_spots": [
                {"actor": h.actor, "kind": h.kind, "upstream": list(h.upstream), "handoffs": h.handoffs,
                 "weight": h.weight}
                for h in self.hot_spots
            ],
            "blast_radius": [
                {
                    "agent": b.agent, "performs": list(b.performs), "reach": list(b.reach),
                    "tools": [{"tool": t.tool, "tier": t.tier, "at": list(t.at)} for t in b.tools],
                    "writes": list(b.writes), "stopped_by": list(b.stopped_by), "reaches_end": b.reaches_end,
                    "max_tier": b.max_tier,
                }
                for b in self.blast_radius
            ],
            "delegation_risks": [
                {"agent": d.agent, "delegate": d.delegate, "agent_tier": d.agent_tier,
                 "delegate_tier": d.delegate_tier, "tools": list(d.tools), "via": list(d.via)}
                for d in self.delegation_risks
            ],
            "pairwise_interactions": {
                "agents": self.pairwise.agents, "possible": self.pairwise.possible,
                "interacting": [list(p) for p in self.pairwise.interacting],
                "one_more_agent_adds": self.pairwise.one_more_adds,
            },
            "critical_path": {
                "nodes": list(self.critical_path.nodes),
                "duration_s": _round(self.critical_path.duration),
                "duration": _duration(self.critical_path.duration),
                "steps": [[n, _round(d)] for n, d in self.critical_path.steps],
            },
            "success_estimate": {
                "probability": _round(self.success.probability),
                "steps": [[n, _round(p)] for n, p in self.success.steps],
                "attempts": [[n, _round(p), r] for n, p, r in self.success.attempts],
                "loops_left_out": [list(e) for e in self.success.back_edges],
                "exact": self.success.exact,
                "lost": {"failed_step": _round(self.success.failed_steps), "loop_guard": _round(self.success.killed),
                         "no_branch": _round(self.success.failed_routing)},
                "sample_rows": self.success.rows,
                "branches": [
                    {"decision": b.decision, "source": b.source, "unrouted": _round(b.unrouted),
                     "shares": [[t, _round(p)] for t, p in b.shares]}
                    for b in self.success.branches
                ],
                "assumptions": list(self.success.assumptions),
            },
        }

    def format_text(self, routes_shown: int = 10) -> str:  # noqa: C901, PLR0912 - the report's sections in reading order, each a short block
        """A report for a terminal: short sections, most important first within each."""
        out: list[str] = [f"{self.workflow} {self.version}: interaction analysis", ""]

        out.append("Interaction network (who hands work to whom)")
        if not self.interactions:
            out.append("  no hand-offs: one actor does everything")
        width = max((len(f"{i.from_actor} -> {i.to_actor}") for i in self.interactions), default=0)
        for i in self.interactions:
            pair = f"{i.from_actor} -> {i.to_actor}"
            count = f"{i.handoffs} link(s)" + (f", {_num(i.observed)} observed" if i.observed is not None else "")
            links = ", ".join(f"{a}->{b}" for a, b in i.links)
            out.append(f"  {pair:<{width}}  {i.from_kind}->{i.to_kind:<6}  {count}" + (f"  [{links}]" if links else ""))
        if self.actor_cycles:
            out.append("  work comes back: " + "; ".join(" -> ".join([*c, c[0]]) for c in self.actor_cycles[:5]))

        out += ["", f"Hand-offs per route ({len(self.routes)} route(s){'' if self.routes_complete else ', cut off'}; "
                f"{self.expected_handoffs:.2f} hand-offs per case expected; loops not taken)"]
        ranked = sorted(self.routes, key=lambda r: (-r.probability, r.nodes))
        for route in ranked[:routes_shown]:
            steps = " -> ".join(route.nodes)
            out.append(f"  p={route.probability:.3f}  {route.handoff_count:>2} hand-off(s)  "
                       f"success {route.success:.3f}  ends at {route.end}: {steps}")
        if len(ranked) > routes_shown:
            out.append(f"  ... and {len(ranked) - routes_shown} more (use --format json for all)")

        out += ["", "Loops"]
        if not self.loops:
            out.append("  none")
        for loop in self.loops:
            tag = "  AGENT-ONLY (no person in the loop)" if loop.agent_only else ""
            out.append(f"  {' -> '.join([*loop.nodes, loop.nodes[0]])}{tag}")

        out += ["", "Hot spots (actors many others feed)"]
        if not self.hot_spots:
            out.append("  none")
        for spot in self.hot_spots[:5]:
            out.append(f"  {spot.actor} ({spot.kind}): {len(spot.upstream)} upstream actor(s) "
                       f"[{', '.join(spot.upstream)}], incoming weight {_num(spot.weight)}")

        out += ["", "Blast radius per agent (reachable before the next approval)"]
        if not self.blast_radius:
            out.append("  no agents")
        for radius in self.blast_radius:
            by_tier: dict[str, list[str]] = {}
            for tool in radius.tools:
                by_tier.setdefault(tool.tier, []).append(tool.tool)
            tools = "; ".join(f"{tier} {', '.join(names)}" for tier, names in by_tier.items()) or "no tools"
            writes = ", ".join(radius.writes) or "nothing"
            stop = f"stopped by {', '.join(radius.stopped_by)}" if radius.stopped_by else "no approval stops it"
            tail = "; reaches an end with no approval" if radius.reaches_end else ""
            out.append(f"  {radius.agent}: {tools}; writes {writes}; {stop}{tail}")

        out += ["", "Escalation by delegation (hand work to a higher-tier agent, no approval between)"]
        if not self.delegation_risks:
            out.append("  none")
        for risk in self.delegation_risks:
            out.append(f"  {risk.agent} ({risk.agent_tier or 'no tools'}) -> {risk.delegate} "
                       f"({risk.delegate_tier}: {', '.join(risk.tools)}) via {' -> '.join(risk.via)}")

        pw = self.pairwise
        out += ["", f"Pairwise interactions: {pw.agents} agent(s) -> {pw.possible} possible pair(s), "
                f"{len(pw.interacting)} hand work to each other directly; one more agent adds "
                f"{pw.one_more_adds} (to {pw.pairs(pw.agents + 1)})"]

        path = self.critical_path
        out += ["", f"Critical path: {_duration(path.duration)} expected"]
        if path.nodes:
            out.append("  " + " -> ".join(path.nodes))

        out += ["", *self._success_text()]
        return "\n".join(out) + "\n"

    def _success_text(self) -> list[str]:
        success = self.success
        out = [f"End-to-end success estimate: {success.probability:.1%} of cases complete "
               "(what `studio simulate` counts as success)"]
        if success.exact:
            out.append(f"  lost: {success.failed_steps:.1%} a step fails after its retries, {success.killed:.1%} "
                       f"stopped by a loop guard, {success.failed_routing:.1%} no branch can be taken")
        else:
            out.append("  an estimate without loops (see the assumptions): rework is not counted")
        attempts = {n: (p, r) for n, p, r in success.attempts}
        weakest = sorted(success.steps, key=lambda s: (s[1], s[0]))[:3]
        if weakest:
            out.append("  weakest steps: " + ", ".join(
                f"{n} {p:.1%} (one attempt {attempts[n][0]:.1%}, {_retries(attempts[n][1])})" for n, p in weakest))
        data = f"{success.rows} sample row(s)" if success.rows else "no sample data"
        out.append(f"  branch probabilities ({data}):" if success.branches else f"  no decisions to route ({data})")
        for branch in success.branches:
            shares = ", ".join(f"{t} {p:.1%}" for t, p in branch.shares)
            tail = f", {branch.unrouted:.1%} no branch" if branch.unrouted > 0 else ""
            out.append(f"    {branch.decision}: from {branch.source}: {shares}{tail}")
        if success.back_edges:
            out.append("  loops left out: " + ", ".join(f"{a}->{b}" for a, b in success.back_edges))
        if success.assumptions:
            out.append("  assumptions:")
            out += [f"    - {text}" for text in success.assumptions]
        return out


def _retries(count: int) -> str:
    return f"{count} retry" if count == 1 else f"{count} retries"


def _round(value: float) -> float:
    return round(value, 6)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"


def _duration(seconds: float) -> str:
    """``format_duration`` of a figure rounded for reading (to the minute past 10 minutes)."""
    rounded = round(seconds / 60) * 60 if seconds >= 600 else round(seconds)
    text = format_duration(float(rounded))
    if seconds >= 3600 and text[-1] in "ms":
        text += f" (about {seconds / 3600:.1f}h)"
    return text


@_gcpause.paused()
def analyze(workflow: Workflow, observed: ga.Observed | None = None, route_limit: int = ROUTE_LIMIT,
            graph: nx.DiGraph | None = None, data: Any = SAMPLE_DATA) -> Analysis:
    """Run every interaction analysis on ``workflow``.

    ``observed`` maps ``(from_actor, to_actor)`` to hand-off counts from a simulation; they then
    weight the interaction network and the hot spots. ``data`` (rows, a path or
    :class:`~studio.fileio.Cases`) routes decisions without branch probabilities by their conditions
    for the success estimate and the route probabilities; by default (:data:`SAMPLE_DATA`) the
    workflow's own ``simulation.sample_data`` when the file exists; None: no data (branches the
    workflow gives no probability for are split evenly).
    """
    if data is SAMPLE_DATA:
        data = fileio.workflow_cases(workflow)
    expanded = expand(workflow)  # a subworkflow's steps in its place, as the simulator runs them
    runs, field_ids = workflow, None
    if expanded.workflow is not workflow and not has_errors(expanded.findings):
        runs, graph, field_ids = expanded.workflow, None, expanded.local_ids()
    index = ga._Index(runs, graph, field_ids)  # one shared index (private to the graph layer) keeps 1,000 nodes fast
    success = ga._success_estimate(index, ga._rows_of(data))  # first: its branch shares weight the routes
    items = ga._interactions(index, observed)
    network = ga._network(index, observed)
    routes = ga._routes(index, route_limit + 1)
    return Analysis(
        workflow=workflow.metadata.name,
        version=workflow.metadata.version,
        interactions=items,
        actor_cycles=ga.actor_cycles(network),
        routes=routes[:route_limit],
        routes_complete=len(routes) <= route_limit,
        loops=ga._loops(index, 1000),
        hot_spots=ga._hot_spots(index, items),
        blast_radius=ga._blast_radius(index),
        delegation_risks=ga._delegation_risks(index),
        pairwise=ga._pairwise(index, items),
        critical_path=ga._critical_path(index),
        success=success,
    )


__all__ = ["SAMPLE_DATA", "Analysis", "analyze"]
