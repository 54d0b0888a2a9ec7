"""Simulation results and walkthrough state for people: HTML tables, figures and a network diagram.

Plain Python (no ipywidgets): the studio widget shows what these return, and the notebooks and
tests call them directly. Results are read through the simulator's public surface (``kpis``,
``plot_*``, ``node_figures``, ``edge_traffic``; ``compare`` rows; the walkthrough's ``pending``,
``state``, ``history``, ``path``, ``done`` and ``outcome``). The KPI, resource and comparison rows and the
pointers are :mod:`studio.simulate.summary`'s, the same ``studio simulate`` prints.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from studio.simulate.summary import comparison_rows, pointers, resource_rows, scenario_name
from studio.simulate.summary import headline_rows as kpi_rows

__all__ = [
    "comparison_rows",
    "comparison_table",
    "figures",
    "hours",
    "kpi_rows",
    "kpi_table",
    "network_svg",
    "overlay",
    "oversight_summary",
    "pointers",
    "resource_rows",
    "table",
    "walk_path",
    "walkthrough",
]

def _esc(value: Any) -> str:
    return html.escape(str(value))


def hours(seconds: float | None) -> str:
    """Seconds as hours (``"3.25 h"``), or minutes under an hour (``"12.5 min"``)."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    if abs(seconds) < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    """An HTML table (every cell escaped) in the studio's style."""
    head = "<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="wds-table">{head}{body}</table>'


def kpi_table(results: Any) -> str:
    """What ``studio simulate`` prints, as HTML: the scenario, the figures with units, the people and
    tools by name, and what to look at first."""
    kpis = results.kpis
    title = (
        f"<h4>{_esc(kpis['workflow']['name'])} {_esc(kpis['workflow']['version'])}: "
        f"scenario {_esc(scenario_name(results))}</h4>"
    )
    outcomes = ", ".join(f"{k} {v:,}" for k, v in (kpis.get("outcomes") or {}).items())
    found = pointers(results)
    look = (
        '<div class="wds-warn"><b>Look at:</b><ul>' + "".join(f"<li>{_esc(p)}</li>" for p in found) + "</ul></div>"
        if found
        else ""
    )
    return (
        title
        + look
        + '<div style="display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start">'
        + "<div>"
        + table(kpi_rows(results), ["KPI", "value"])
        + f"<p>Outcomes: {_esc(outcomes)}</p></div>"
        + "<div>"
        + table(resource_rows(results), ["people / tool", "capacity", "busy", "mean wait", "p95 wait"])
        + "</div></div>"
    )


def network_svg(results: Any, workflow: Any) -> str:
    """The interaction network (who hands work to whom) with the simulated hand-off counts, as SVG."""
    import graphviz  # noqa: PLC0415

    from studio import graph_analysis as ga  # noqa: PLC0415

    counts = {(row["from"], row["to"]): float(row["count"]) for row in results.kpis.get("interaction_network", [])}
    network = ga.interaction_network(workflow, observed=counts)
    top = max((float(d.get("weight") or 0) for _, _, d in network.edges(data=True)), default=0.0)
    dot = graphviz.Digraph("interactions", engine="dot")
    dot.attr(rankdir="LR", fontname="Helvetica", bgcolor="white", pad="0.2", nodesep="0.5", ranksep="0.9")
    fills = {"agent": "#EEF4FB", "human": "#FDF5EA", "system": "#F3F3F3"}
    shapes = {"agent": "box", "human": "ellipse", "system": "component"}
    for actor, data in network.nodes(data=True):
        kind = str(data.get("kind", "system"))
        dot.node(
            actor,
            f"{actor}\n({kind})",
            shape=shapes.get(kind, "box"),
            style="filled,rounded",
            fillcolor=fills.get(kind, "#FFFFFF"),
            fontname="Helvetica",
            fontsize="13",
        )
    for source, target, data in network.edges(data=True):
        weight = float(data.get("weight") or 0)
        width = 1.0 + 5.0 * (weight / top if top > 0 else 0.0)
        shown = f"{weight:,.0f}" if data.get("observed") is not None else f"{data.get('handoffs', 0)} link(s)"
        dot.edge(
            source,
            target,
            label=f" {shown} ",
            penwidth=f"{width:.2f}",
            fontname="Helvetica",
            fontsize="12",
            color="#546E7A",
        )
    svg = str(dot.pipe(format="svg").decode("utf-8"))
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def figures(results: Any) -> Iterator[tuple[str, Any]]:
    """The simulator's plots, titled for tabs: cycle times, utilisation, waits."""
    for title, name in (
        ("Cycle times", "plot_cycle_times"),
        ("Utilisation", "plot_utilisation"),
        ("Waits", "plot_waits"),
    ):
        method = getattr(results, name, None)
        if method is not None:
            yield title, method()


def overlay(results: Any) -> Any:
    """The diagram overlay: mean wait per step as heat, transitions taken as arrow width."""
    from studio.render import Overlay  # noqa: PLC0415

    figures_ = results.node_figures()
    waits = {node: float(f["wait"]) for node, f in figures_.items() if f.get("wait")}
    text = {node: hours(value) for node, value in waits.items()}
    traffic = {tuple(edge): float(count) for edge, count in results.edge_traffic().items()}
    return Overlay(nodes=waits, edges=traffic, label="wait", text=text)


def comparison_table(
    comparison: Mapping[str, Mapping[str, Any]], workflow: Any = None, a: str = "A", b: str = "B"
) -> str:
    """The A vs B table; ``a`` and ``b`` head the columns (e.g. ``baseline`` and the scenario's name)."""
    return table(comparison_rows(comparison, workflow), ["KPI", a, b, f"{b} − {a}", "95% interval", "real difference?"])


def walkthrough(walk: Any) -> tuple[str, str]:
    """``(what is waiting for an answer, the case so far)`` of a walkthrough, as HTML."""
    pending = getattr(walk, "pending", None)
    if getattr(walk, "done", False):
        outcome = getattr(walk, "outcome", None)
        reason = getattr(walk, "stop_reason", None)
        head = f'<div class="wds-ok" style="font-size:18px">Case finished: <b>{_esc(outcome)}</b>'
        head += f" ({_esc(reason)})</div>" if reason else "</div>"
    elif isinstance(pending, Mapping):
        who = f" — <b>{_esc(pending['actor'])}</b> decides" if pending.get("actor") else ""
        head = (
            f'<div style="font-size:18px">Waiting at <b>{_esc(pending.get("node"))}</b>{who}: '
            f"{_esc(pending.get('question', ''))}</div>"
        )
        if pending.get("why"):
            head += f"<div>Why this step: {_esc(pending['why'])}</div>"
        if pending.get("time_iso"):
            head += f"<div>Virtual time: {_esc(pending['time_iso'])}</div>"
    else:
        head = "<div>Pick a case and press Start.</div>"
    history = list(getattr(walk, "history", None) or [])
    steps = " → ".join(_esc(_step_name(step)) for step in history)
    state = getattr(walk, "state", None) or {}
    case = state.get("case") if isinstance(state, Mapping) else None
    if not isinstance(case, Mapping) and isinstance(pending, Mapping):
        case = pending.get("case")
    rows = [(key, _short(value)) for key, value in (case or {}).items()]
    body = f'<p style="font-size:15px"><b>Path so far:</b> {steps or "–"}</p>' + table(rows, ["case field", "value"])
    return head, body


def _step_name(step: Any) -> str:
    if isinstance(step, Mapping):
        name = str(step.get("node"))
        decision = step.get("decision")
        return f"{name} ({decision})" if decision else name
    return str(step)


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def walk_path(walk: Any) -> tuple[list[str], str | None]:
    """``(the node ids the case went through so far, the node it waits at)`` of a walkthrough, for
    highlighting them on the diagram (the current node is also the path's last)."""
    pending = walk.pending
    path = [str(node) for node in walk.path]
    here = str(pending["node"]) if pending else (path[-1] if path else None)
    return list(dict.fromkeys([*path, *([here] if here is not None else [])])), here


def oversight_summary(workflow: Any) -> str:
    """HTML in plain words of where people sit between agents and critical tools (what the
    control-plane definition records): the approval gates, each agent's effective autonomy and the
    paths that reach a critical step with no person on them."""
    from studio import graph as g  # noqa: PLC0415 - the export layer loads with the Export tab
    from studio.export import _oversight as ov  # noqa: PLC0415
    from studio.model import Approval  # noqa: PLC0415

    graph = g.to_networkx(workflow)
    gates = []
    for node in workflow.nodes:
        if isinstance(node, Approval):
            who = f" by {_esc(node.actor)}" if node.actor else ""
            when = f" only when <code>{_esc(node.threshold)}</code>" if node.threshold else " always"
            gates.append(f"<b>{_esc(node.name or node.id)}</b>{who},{when}")
    agents = []
    for item in ov.agent_autonomy(workflow, graph):  # the control-plane definition's own rule
        actor, declared, effective = item.agent, item.declared, item.effective
        text = f"<b>{_esc(actor.name or actor.id)}</b>: {_esc(effective.value.replace('_', ' '))}"
        if effective is not declared:
            first = item.reaches[0]
            text += (
                f" (declared {_esc(declared.value.replace('_', ' '))}, but it reaches "
                f"<code>{_esc(first.critical)}</code> with no person in between)"
            )
        agents.append(text)
    ungated = []
    for node_id in ov.critical_nodes(workflow):
        for found in ov.ungated_paths(workflow, graph, node_id):
            when = f" when <code>{_esc(found.when)}</code>" if found.when else ""
            ungated.append(f"{' → '.join(_esc(n) for n in found.path)}{when}")

    def items(rows: list[str], empty: str) -> str:
        return "<ul>" + "".join(f"<li>{row}</li>" for row in rows) + "</ul>" if rows else f" {empty}"

    bad = "wds-bad" if ungated else "wds-ok"
    return (
        '<div class="wds-summary" style="font-size:15px">'
        f"<b>Approval gates ({len(gates)}):</b>{items(gates, 'none: nobody approves anything.')}"
        f"<br><b>Agents' effective autonomy:</b>{items(agents, 'no agents.')}"
        f'<br><b class="{bad}">Paths to a critical step with no person on them ({len(ungated)}):</b>'
        f"{items(ungated, 'none: a person is on every path to a critical tool.')}"
        "</div>"
    )
