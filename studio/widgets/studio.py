"""The studio widget: ipywidgets wired to :class:`~studio.widgets.controller.StudioController`.

Nothing here decides anything: every button calls one controller method, every refresh reads the
controller's state. Standard ipywidgets only (no custom JavaScript, nothing from a CDN), so the
studio works offline in JupyterLab and in a saved notebook.

Layout (made for a projector)::

    Workflow Design Studio: <name> <version>        <file>       2 errors · 1 warning
    <what the last action did>
    [ Map | Simulate | Walk a case | Export ]
    Map:  Undo Redo | Save  [path]  Open | [template] Start from template | lanes
          the diagram (inline SVG, problems outlined, the selected element in blue)
          [ Steps | Connections | People & agents | Tools | Data ]      Problems (click to jump)
"""

from __future__ import annotations

import html
import io as _io
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import ipywidgets as w

from studio.errors import Finding, LoadError, StudioError
from studio.model import (
    NODE_KINDS,
    Agent,
    Approval,
    End,
    Human,
    Subworkflow,
    System,
    Workflow,
    format_duration,
)
from studio.widgets.controller import (
    ARRIVAL_EXAMPLES,
    ARRIVALS,
    AUTONOMY,
    DISTRIBUTIONS,
    EditRefused,
    StudioController,
    describe_distribution,
    make_distribution,
)
from studio.widgets.diagram import DiagramView, edge_id, split_edge_id

__all__ = ["Studio"]

NEW = ""  # the value of "a new element" in the pick lists
LABEL_WIDTH = "120px"
FIELD = {"description_width": LABEL_WIDTH}
FORM_WIDTH = "96%"
_EXPORT_SUFFIXES = {"bpmn": ".bpmn", "langgraph": ".app.py", "mermaid": ".mmd", "serverless": ".serverless.yaml"}
_SVG_OPEN = re.compile(r"<svg\b[^>]*>", re.S)

CSS = """
<style>
.wds-diagram svg { max-width: none; }
.wds-fit svg { width: 100%; height: auto; }
.wds-selected polygon, .wds-selected ellipse, .wds-selected path, .wds-selected polyline {
  stroke: #1565C0 !important; stroke-width: 5px !important; }
.wds-title { font-size: 20px; font-weight: 600; }
.wds-table { border-collapse: collapse; font-size: 14px; }
.wds-table th, .wds-table td { border: 1px solid #CFD8DC; padding: 4px 10px; text-align: left; }
.wds-table th { background: #ECEFF1; }
.wds-ok { color: #2E7D32; } .wds-bad { color: #C62828; } .wds-warn { color: #B26A00; }
.wds-mono { font-family: monospace; white-space: pre; font-size: 14px; }
.wds-problems select { font-size: 14px; }
.wds-status { font-size: 16px; padding: 4px 10px; border-left: 5px solid #2E7D32; background: #F1F8E9; }
.wds-status.wds-bad { border-left-color: #C62828; background: #FFEBEE; }
.wds-status.wds-warn { border-left-color: #B26A00; background: #FFF8E1; }
.wds-studio .widget-label, .wds-studio .widget-button, .wds-studio input, .wds-studio select,
.wds-studio .widget-toggle-button { font-size: 14px; }
</style>
"""


def _text(description: str, placeholder: str = "", value: str = "") -> Any:
    return w.Text(
        value=value, description=description, placeholder=placeholder, style=FIELD, layout=w.Layout(width=FORM_WIDTH)
    )


def _dropdown(description: str, options: Sequence[Any], value: Any = None) -> Any:
    widget = w.Dropdown(options=list(options), description=description, style=FIELD, layout=w.Layout(width=FORM_WIDTH))
    if value is not None:
        widget.value = value
    return widget


def _multi(description: str) -> Any:
    return w.SelectMultiple(options=[], description=description, rows=4, style=FIELD, layout=w.Layout(width=FORM_WIDTH))


def _button(text: str, style: str = "", tooltip: str = "", icon: str = "") -> Any:
    return w.Button(
        description=text, button_style=style, tooltip=tooltip or text, icon=icon, layout=w.Layout(width="auto")
    )


def _show(widget: Any, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="wds-table">{"<tr>" + head + "</tr>" if head else ""}{body}</table>'


def _png(figure: Any) -> bytes:
    """PNG bytes of a matplotlib figure (closed afterwards so the notebook does not show it twice)."""
    buffer = _io.BytesIO()
    figure.savefig(buffer, format="png", dpi=130, bbox_inches="tight")
    if getattr(figure.canvas, "manager", None) is not None:  # made through pyplot: let it go
        import matplotlib.pyplot as plt  # noqa: PLC0415

        plt.close(figure)
    return buffer.getvalue()


def _fit_svg(svg: str, zoom: str | bool, selected: str | None) -> str:
    """Scale the SVG (``"fit"`` the width, or a factor such as ``"1.5"``) and outline the selected node."""
    if selected:
        title = html.escape(selected)
        pattern = re.compile(r'(<g id="[^"]*" class="node)(">\s*<title>)' + re.escape(title) + "</title>")
        svg = pattern.sub(lambda m: f"{m.group(1)} wds-selected{m.group(2)}{title}</title>", svg, count=1)
    match = _SVG_OPEN.search(svg)
    if match is None or zoom in ("1", False):
        return svg
    tag = match.group(0)
    if zoom in ("fit", True):
        tag = re.sub(r'\s(width|height)="[^"]*"', "", tag)
    else:
        factor = float(zoom)

        def scale(m: re.Match[str]) -> str:
            return f' {m.group(1)}="{float(m.group(2)) * factor:.0f}{m.group(3)}"'

        tag = re.sub(r'\s(width|height)="([\d.]+)(pt|px)?"', scale, tag)
    return svg[: match.start()] + tag + svg[match.end() :]


def _details(title: str, children: Sequence[Any]) -> Any:
    """A folded section for the fields needed less often (the form stays short on a projector)."""
    section = w.Accordion(children=[w.VBox(list(children))], selected_index=None)
    section.set_title(0, title)
    return section


class _Duration:
    """A duration with a distribution: a Dropdown of distributions and up to three parameters."""

    def __init__(self, description: str = "Duration") -> None:
        options = [("not set (use the actor's)", ""), *[(name, name) for name in DISTRIBUTIONS]]
        self.dist = _dropdown(description, options, "")
        self.params = [_text("", "e.g. 15m") for _ in range(3)]
        self.box = w.VBox([self.dist, *self.params])
        self.dist.observe(lambda _: self._layout(), names="value")
        self._layout()

    def _layout(self) -> None:
        names = DISTRIBUTIONS.get(self.dist.value, ())
        for index, widget in enumerate(self.params):
            visible = index < len(names)
            _show(widget, visible)
            if visible:
                widget.description = f"  {names[index]}"
                widget.placeholder = "e.g. 20s, 15m, 2h"

    def value(self) -> str | dict[str, Any] | None:
        names = DISTRIBUTIONS.get(self.dist.value, ())
        params = {name: self.params[i].value for i, name in enumerate(names)}
        return make_distribution(self.dist.value or None, **params)

    def set(self, duration: Any) -> None:
        dist, params = describe_distribution(duration)
        self.dist.value = dist if dist in DISTRIBUTIONS else ""
        for index, name in enumerate(DISTRIBUTIONS.get(dist, ())):
            self.params[index].value = params.get(name, "")
        for index in range(len(DISTRIBUTIONS.get(dist, ())), 3):
            self.params[index].value = ""


class Studio(w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """The workflow studio: map, simulate, walk a case through and export, without code.

    ``Studio(workflow_or_path)``: a :class:`~studio.model.Workflow`, or a workflow file, which is
    then saved after every change. ``Studio(controller=...)`` wraps an existing controller.
    ``studio.controller`` is the plain-Python object doing the work (usable from code cells too:
    the widget redraws after every change made through it).
    """

    def __init__(
        self,
        workflow_or_path: Workflow | str | os.PathLike[str] | None = None,
        *,
        controller: StudioController | None = None,
        lanes: str = "actor",
    ) -> None:
        self.controller = controller or StudioController(workflow_or_path, lanes=lanes)
        self._quiet = 0
        self._connect_from: str | None = None  # "Connect from selected": waiting for the target's click
        self._last_results: Any = None
        self._finding_lines: list[str] = []  # what the problem list shows
        self.title = w.HTML()
        self.status = w.HTML()
        self.map_tab = self._build_map()
        self.simulate_tab = self._build_simulate()
        self.walk_tab = self._build_walkthrough()
        self.export_tab = self._build_export()
        self.tabs = w.Tab(children=[self.map_tab, self.simulate_tab, self.walk_tab, self.export_tab])
        for index, name in enumerate(["Map", "Simulate", "Walk a case", "Export"]):
            self.tabs.set_title(index, name)
        super().__init__(children=[w.HTML(CSS), self.title, self.status, self.tabs], layout=w.Layout(width="100%"))
        self.add_class("wds-studio")
        self.controller.subscribe(self._on_controller)
        self.refresh()

    def __repr__(self) -> str:
        """Short and stable (a saved notebook shows this where the widget cannot be drawn)."""
        wf = self.controller.workflow
        counts = self.controller.counts()
        return (
            f"<Studio {wf.metadata.name} {wf.metadata.version}: {len(wf.nodes)} steps, {len(wf.edges)} connections, "
            f"{counts['error']} error(s), {counts['warning']} warning(s)>"
        )

    # ================================================================== plumbing

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Set widget values without their observers acting on them."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _unless_quiet(self, action: Callable[[], None]) -> Callable[[Any], None]:
        """An observer that runs ``action()`` unless the studio itself is setting values."""

        def handler(_: Any) -> None:
            if not self._quiet:
                action()

        return handler

    def _say(self, message: str, kind: str = "ok") -> None:
        css = {"ok": "wds-ok", "bad": "wds-bad", "warn": "wds-warn"}[kind]
        self.status.value = f'<div class="wds-status {css}">{_esc(message or " ")}</div>'

    def _act(self, action: Callable[[], Any]) -> Any:
        """Run one controller call; a refusal is shown in the status line and changes nothing."""
        try:
            result = action()
        except (EditRefused, LoadError, StudioError, ValueError, KeyError) as exc:
            text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            self._say(text, "bad")
            return None
        self._say(self.controller.message, "warn" if self.controller.save_error else "ok")
        return result

    def _on_controller(self, event: str) -> None:
        if event == "changed":
            self.refresh()
        else:
            # a save (or a failed one) moves the problems' places: to the file, or "(not saved yet)"
            if self.controller.finding_lines() != self._finding_lines:
                with self._quietly():
                    self._refresh_findings()
            self._refresh_title()
            self._say(self.controller.message, "bad" if self.controller.save_error else "ok")

    def refresh(self) -> None:
        """Redraw everything from the controller: the diagram and the problems first (what the room
        is waiting for), then the title, the pick lists and the forms."""
        self._redraw()
        with self._quietly():
            self._refresh_findings()
            self._refresh_title()
            self._say(self.controller.message, "bad" if self.controller.save_error else "ok")
            self._refresh_pick_lists()
            self._load_forms()
            self.undo_button.disabled = not self.controller.can_undo
            self.redo_button.disabled = not self.controller.can_redo
            self.path_text.value = str(self.controller.path) if self.controller.path else self.path_text.value
            cases = tuple(self.controller.case_ids()[:500])
            if cases != tuple(self.case_pick.options):
                chosen = self.case_pick.value
                self.case_pick.options = cases
                self.case_pick.value = chosen if chosen in cases else (cases[0] if cases else None)
            self._refresh_export_path()
            self._follow_simulation_settings()
            name = self.controller.workflow.metadata.name
            if name in self.template_pick.options:
                self.template_pick.value = name

    def _refresh_title(self) -> None:
        wf = self.controller.workflow
        counts = self.controller.counts()
        problems = (
            f'<span class="wds-bad">{counts["error"]} error(s)</span> · '
            f'<span class="wds-warn">{counts["warning"]} warning(s)</span>'
        )
        where = f" &nbsp; <code>{_esc(self.controller.path)}</code>" if self.controller.path else " &nbsp; (not saved)"
        self.title.value = (
            f'<div class="wds-title">Workflow Design Studio: {_esc(wf.metadata.name)} {_esc(wf.metadata.version)}'
            f'<span style="font-size:14px;font-weight:400">{where} &nbsp; {problems}</span></div>'
        )

    # ================================================================== Map

    def _build_map(self) -> Any:
        c = self.controller
        self.undo_button = _button("Undo", tooltip="Undo the last change", icon="undo")
        self.redo_button = _button("Redo", tooltip="Redo what was undone", icon="repeat")
        self.path_text = w.Text(placeholder="file to save to, e.g. my_flow.yaml", layout=w.Layout(width="300px"))
        self.save_button = _button("Save", "primary", "Save to the file named here", "save")
        self.load_button = _button("Open", "", "Open the workflow file named here", "folder-open")
        self.template_pick = w.Dropdown(options=c.options_for("templates"), layout=w.Layout(width="210px"))
        self.template_button = _button(
            "Start from template", "", "Replace the workflow with this template (Undo brings it back)"
        )
        self.blank_button = _button(
            "New blank", "", "Start a minimal workflow: start, one step, end (Undo brings this one back)", "file-o"
        )
        # the diagram (zoom, lanes and direction are in its own bar)
        self.diagram = DiagramView(lanes=c.lanes, direction=c.direction, shortcuts=True, height="min(760px, 72vh)")
        self.diagram.observe(self._on_diagram_select, names="selected")
        self.diagram.observe(self._on_view, names=["lanes", "direction"])
        self.diagram.on_action("undo", lambda: self._act(c.undo))
        self.diagram.on_action("redo", lambda: self._act(c.redo))
        self.diagram.on_action("escape", self._on_escape)
        self.diagram.on_action("delete", self.delete_selected)
        self.key_check = w.Checkbox(
            value=c.key, description="Show the key", indent=False, layout=w.Layout(width="130px")
        )
        self.key_check.observe(self._on_view, names="value")
        # what to do with the selection: fewer clicks than the forms
        self.selection_label = w.HTML()
        self.quick_name = w.Text(placeholder="new step's name", layout=w.Layout(width="230px"))
        self.quick_actor = w.Dropdown(options=[("done by: nobody yet", "")], value="", layout=w.Layout(width="230px"))
        self.insert_button = _button(
            "Insert step",
            "success",
            "A new step after the selected step, onto the selected connection, or between two selected steps",
            "plus",
        )
        self.connect_button = _button(
            "Connect from selected", "", "Then click the step to connect to in the diagram", "long-arrow-right"
        )
        self.delete_selected_button = _button(
            "Delete selected",
            "danger",
            "Delete the selected steps or connections (a step with one way in and one out: its neighbours are joined)",
            "trash",
        )
        self.insert_button.on_click(lambda _: self.insert_step())
        self.connect_button.on_click(lambda _: self.connect_from_selected())
        self.delete_selected_button.on_click(lambda _: self.delete_selected())
        self.undo_button.on_click(lambda _: self._act(c.undo))
        self.redo_button.on_click(lambda _: self._act(c.redo))
        self.save_button.on_click(lambda _: self._act(lambda: c.save(self.path_text.value.strip() or None)))
        self.load_button.on_click(lambda _: self._act(lambda: c.load(self.path_text.value.strip())))
        self.template_button.on_click(lambda _: self._act(lambda: c.from_template(self.template_pick.value)))
        self.blank_button.on_click(lambda _: self._act(c.new_blank))
        wrap = w.Layout(flex_flow="row wrap", align_items="center")
        toolbar = w.HBox(
            [
                self.undo_button,
                self.redo_button,
                w.HTML("&nbsp;│&nbsp;"),
                self.path_text,
                self.save_button,
                self.load_button,
                w.HTML("&nbsp;│&nbsp;"),
                self.template_pick,
                self.template_button,
                self.blank_button,
            ],
            layout=wrap,
        )
        selection_bar = w.VBox(
            [
                w.HBox([self.selection_label, self.key_check], layout=w.Layout(justify_content="space-between")),
                w.HBox(
                    [
                        self.quick_name,
                        self.quick_actor,
                        self.insert_button,
                        self.connect_button,
                        self.delete_selected_button,
                    ],
                    layout=wrap,
                ),
            ]
        )
        self.findings_list = w.Select(options=[], rows=7, layout=w.Layout(width="100%"))
        self.findings_list.add_class("wds-problems")
        self.findings_list.observe(self._on_finding, names="value")
        self.finding_detail = w.HTML()
        self.problems_title = w.HTML()
        problems = w.VBox([self.problems_title, self.findings_list, self.finding_detail])
        self.editors = w.Tab(
            children=[
                self._node_form(),
                self._edge_form(),
                self._actor_form(),
                self._tool_form(),
                self._data_form(),
                self._settings_form(),
            ]
        )
        for index, name in enumerate(["Steps", "Connections", "People & agents", "Tools", "Data", "Settings"]):
            self.editors.set_title(index, name)
        left = w.VBox([selection_bar, self.diagram], layout=w.Layout(width="58%", padding="0 12px 0 0"))
        right = w.VBox([problems, self.editors], layout=w.Layout(width="42%"))
        return w.VBox([toolbar, w.HBox([left, right], layout=w.Layout(width="100%"))])

    def _on_view(self, _: Any = None) -> None:
        self.controller.lanes = str(self.diagram.lanes)
        self.controller.direction = str(self.diagram.direction)
        self.controller.key = bool(self.key_check.value)
        self.controller._cache.svg = None  # drawn again with the new lanes or direction
        self._redraw()
        if self.controller.walkthrough is not None:
            self._show_walk(self.controller.walkthrough)

    def _redraw(self) -> None:
        svg, why = self.controller.diagram_or_message()
        wf = self.controller.workflow
        known = set(wf.node_ids) | {edge_id(e.source, e.target) for e in wf.edges}
        kept = [item for item in self.diagram.selected if item in known]
        with self._quietly():
            if kept != list(self.diagram.selected):
                self.diagram.selected = kept
            if self._connect_from is not None and self._connect_from not in known:
                self._connect_from = None
            self.diagram.hint = why if svg is None else self._connect_hint()
            self.diagram.svg = svg or ""
        self._refresh_selection()

    # ------------------------------------------------------------------ the selection

    def _connect_hint(self) -> str:
        if self._connect_from is None:
            return ""
        return f"Click the step to connect `{self._connect_from}` to (Esc or Connect again cancels)."

    def _refresh_selection(self) -> None:
        nodes, edges = self.diagram.selected_nodes, self.diagram.selected_edges
        if not nodes and not edges:
            text = "Click a step or a connection in the diagram (Shift+click: several)."
        else:
            parts = [f"<b>{_esc(n)}</b>" for n in nodes] + [f"<b>{_esc(a)} → {_esc(b)}</b>" for a, b in edges]
            text = "Selected: " + ", ".join(parts)
        self.selection_label.value = f'<span style="font-size:15px">{text}</span>'
        self.insert_button.disabled = self._insert_place() is None
        self.connect_button.disabled = len(nodes) != 1 or bool(edges)
        self.delete_selected_button.disabled = not nodes and not edges

    def _insert_place(self) -> tuple[str | None, str | None] | None:
        """Where Insert step puts the new step: ``(after, before)`` from the selection, or None."""
        nodes, edges = self.diagram.selected_nodes, self.diagram.selected_edges
        if len(edges) == 1 and not nodes:
            return edges[0]
        if len(nodes) == 2 and not edges:
            return nodes[0], nodes[1]
        if len(nodes) == 1 and not edges:
            return nodes[0], None
        return None

    def select_items(self, items: Sequence[str]) -> None:
        """Select nodes (ids) and edges (``"a->b"``) in the diagram, as clicks on them do, and open
        the form of the first one."""
        self.diagram.selected = list(items)

    def _on_diagram_select(self, change: Mapping[str, Any]) -> None:
        if self._quiet:
            return
        items = list(change["new"])
        if self._connect_from is not None and len(items) == 1 and split_edge_id(items[0]) is None:
            source, target = self._connect_from, items[0]
            if target != source:
                self._connect_from = None
                if self._act(lambda: self.controller.add_edge(source, target)) is None:
                    self._redraw()
                else:
                    with self._quietly():
                        self.diagram.selected = [target]
                    self._refresh_selection()
                return
        self._open_form(items[-1] if items else None)
        self._refresh_selection()

    def _open_form(self, item: str | None) -> None:
        """The form of the selected node or edge, in the Map tab."""
        if item is None:
            return
        pair = split_edge_id(item)
        with self._quietly():
            if pair is None:
                if item in self.controller.workflow.node_ids:
                    self.editors.selected_index = 0
                    self.node_pick.value = item
                    self._load_node()
            else:
                index = self.controller.edge_index(*pair)
                if index is not None:
                    self.editors.selected_index = 1
                    self.edge_pick.value = index
                    self._load_edge()

    def _on_escape(self) -> None:
        if self._connect_from is not None:
            self._connect_from = None
            self._say("Not connected.", "warn")
        else:
            self.diagram.selected = []
        self.diagram.hint = ""
        self._refresh_selection()

    def insert_step(self) -> str | None:
        """Insert step (the button): a new task with the quick name and actor after the selected
        step, onto the selected connection or between the two selected steps; returns its id."""
        place = self._insert_place()
        if place is None:
            self._say("Select a step or a connection first (or two steps to go between).", "warn")
            return None
        after, before = place
        name = self.quick_name.value.strip() or None
        actor = self.quick_actor.value or None
        new_id: str | None = self._act(lambda: self.controller.insert_step(after, before, name=name, actor=actor))
        if new_id is not None:
            with self._quietly():
                self.quick_name.value = ""
                self.diagram.selected = [new_id]
            self._open_form(new_id)
            self._refresh_selection()
        return new_id

    def connect_from_selected(self) -> None:
        """Connect from selected (the button): the next step clicked in the diagram is the target."""
        nodes = self.diagram.selected_nodes
        if self._connect_from is not None:
            self._on_escape()
            return
        if len(nodes) != 1:
            self._say("Select one step to connect from.", "warn")
            return
        self._connect_from = nodes[0]
        self.diagram.hint = self._connect_hint()
        self._say(self._connect_hint(), "ok")

    def delete_selected(self) -> None:
        """Delete selected (the button, or the Delete key on the diagram): connections first, then
        steps (a step with one way in and one way out: its neighbours are joined)."""
        c = self.controller
        edges, nodes = self.diagram.selected_edges, self.diagram.selected_nodes
        if not edges and not nodes:
            self._say("Select what to delete in the diagram first.", "warn")
            return
        for source, target in edges:
            index = c.edge_index(source, target)
            if index is not None and self._act(partial(c.delete_edge, index)) is None:
                return
        for node in nodes:
            if node in c.workflow.node_ids and self._act(partial(c.delete_node, node, rejoin=True)) is None:
                return
        self.diagram.selected = []

    # ------------------------------------------------------------------ findings

    def _refresh_findings(self) -> None:
        counts = self.controller.counts()
        self.problems_title.value = (
            f'<b style="font-size:15px">Problems:</b> <span class="wds-bad">{counts["error"]} error(s)</span>, '
            f'<span class="wds-warn">{counts["warning"]} warning(s)</span> (click one to jump to it)'
        )
        lines = self._finding_lines = self.controller.finding_lines()
        if lines:
            self.findings_list.options = [(line, index) for index, line in enumerate(lines)]
        else:
            self.findings_list.options = [("No problems found.", -1)]
        self.findings_list.value = None
        self.finding_detail.value = ""

    def _on_finding(self, change: Mapping[str, Any]) -> None:
        if self._quiet or change["new"] is None or change["new"] < 0:
            return
        finding: Finding = self.controller.findings[change["new"]]
        section, index = self.controller.select_finding(finding)
        self.finding_detail.value = (
            f"<b>{_esc(finding.code)}</b> at <code>{_esc(finding.location)}</code>: {_esc(finding.message)}"
            + (f"<br><i>How to fix:</i> {_esc(finding.hint)}" if finding.hint else "")
        )
        self.select(section, index)

    def select(self, section: str, index: int | None) -> None:
        """Open the form for ``section[index]`` (as selecting a problem does) and outline it."""
        tabs = {"nodes": 0, "edges": 1, "actors": 2, "tools": 3, "data_sources": 4, "policies": 5, "simulation": 5}
        if section not in tabs:
            self._say(f"This problem is about `{section}`: change it in the workflow file.", "warn")
            return
        self.tabs.selected_index = 0
        self.editors.selected_index = tabs[section]
        if index is None:
            return
        if section == "edges":
            if 0 <= index < len(self.controller.workflow.edges):
                self.edge_pick.value = index
                edge = self.controller.workflow.edges[index]
                self._mark([edge_id(edge.source, edge.target)])
            return
        item_id = self.controller.element_id(section, index)
        pick = {
            "nodes": self.node_pick,
            "actors": self.actor_pick,
            "tools": self.tool_pick,
            "data_sources": self.data_pick,
        }[section]
        if item_id is not None and item_id in [value for _, value in pick.options]:
            pick.value = item_id
        if section == "nodes" and item_id is not None:
            self._mark([item_id])

    def _mark(self, items: Sequence[str]) -> None:
        """Select ``items`` in the diagram without opening forms again (a form chose them)."""
        with self._quietly():
            self.diagram.selected = list(items)
        self._refresh_selection()

    # ------------------------------------------------------------------ pick lists

    def _refresh_pick_lists(self) -> None:
        wf = self.controller.workflow
        keep = {
            "node": self.node_pick.value,
            "edge": self.edge_pick.value,
            "actor": self.actor_pick.value,
            "tool": self.tool_pick.value,
            "data": self.data_pick.value,
        }
        node_ids = [n.id for n in wf.nodes]
        actor_ids = [a.id for a in wf.actors]
        self.node_pick.options = [("+ a new step", NEW)] + [(f"{n.id}  ({n.kind})", n.id) for n in wf.nodes]
        self.edge_pick.options = [("+ a new connection", -1), *self.controller.edge_choices()]
        self.actor_pick.options = [("+ a new actor", NEW)] + [(f"{a.id}  ({a.kind})", a.id) for a in wf.actors]
        self.tool_pick.options = [("+ a new tool", NEW)] + [(f"{t.id}  ({t.tier})", t.id) for t in wf.tools]
        self.data_pick.options = [("+ a new data source", NEW)] + [(d.id, d.id) for d in wf.data_sources]
        self.node_pick.value = keep["node"] if keep["node"] in node_ids else NEW
        self.edge_pick.value = keep["edge"] if keep["edge"] is not None and keep["edge"] < len(wf.edges) else -1
        self.actor_pick.value = keep["actor"] if keep["actor"] in actor_ids else NEW
        self.tool_pick.value = keep["tool"] if keep["tool"] in [t.id for t in wf.tools] else NEW
        self.data_pick.value = keep["data"] if keep["data"] in [d.id for d in wf.data_sources] else NEW
        who = [("— nobody —", "")] + [(f"{a.id}  ({a.kind})", a.id) for a in wf.actors]
        humans = [("— nobody —", "")] + [(h, h) for h in self.controller.options_for("humans")]
        self.node_actor.options = who
        quick = self.quick_actor.value
        self.quick_actor.options = [("done by: nobody yet", "")] + [(f"{a.id}  ({a.kind})", a.id) for a in wf.actors]
        self.quick_actor.value = quick if quick in actor_ids else ""
        self.node_escalate.options = humans
        self.node_tools.options = self.controller.options_for("tools")
        self.node_reads.options = self.controller.options_for("data_sources")
        self.node_writes.options = self.controller.options_for("data_sources")
        self.edge_from.options = node_ids
        self.edge_to.options = node_ids
        self.actor_tools.options = self.controller.options_for("tools")
        self.tool_writes.options = self.controller.options_for("data_sources")

    def _load_forms(self) -> None:
        with self._quietly():
            self._load_node()
            self._load_edge()
            self._load_actor()
            self._load_tool()
            self._load_data()
            self._load_settings()

    # ------------------------------------------------------------------ steps

    def _node_form(self) -> Any:
        self.node_pick = _dropdown("Step", [("+ a new step", NEW)], NEW)
        self.node_id = _text("Id", "e.g. review_contract")
        self.node_name = _text("Name", "what happens, in plain words")
        self.node_kind = _dropdown("Kind", list(NODE_KINDS), "task")
        self.node_actor = _dropdown("Done by", [("— nobody —", "")], "")
        self.node_tools = _multi("Tools")
        self.node_reads = _multi("Reads")
        self.node_writes = _multi("Writes")
        self.node_duration = _Duration("Takes")
        self.node_sla = _text("SLA", "e.g. 4h, 2d")
        self.node_escalate = _dropdown("Escalate to", [("— nobody —", "")], "")
        self.node_threshold = _text("Needed when", "condition, e.g. amount > 10000")
        self.node_threshold_check = w.HTML()
        self.node_outcome = _text("Outcome", "e.g. paid, rejected")
        self.node_ref = _text("Workflow", "path or template name")
        self.node_add = _button("Add step", "success", "Add a new step with these details", "plus")
        self.node_update = _button("Save changes", "primary", "Change the selected step", "check")
        self.node_delete = _button(
            "Delete step", "danger", "Delete the step and its connections (one way in and one out: re-joined)", "trash"
        )
        self.node_pick.observe(self._unless_quiet(self._on_node_pick), names="value")
        self.node_kind.observe(lambda _: self._node_layout(), names="value")
        self.node_threshold.observe(lambda ch: self._show_check(self.node_threshold_check, ch["new"]), names="value")
        self.node_add.on_click(lambda _: self._add_node())
        self.node_update.on_click(lambda _: self._update_node())
        self.node_delete.on_click(lambda _: self._delete_node())
        self._node_layout()
        self.node_details = _details(
            "More: how long it takes, SLA, tools, data",
            [
                self.node_duration.box,
                self.node_sla,
                self.node_escalate,
                self.node_tools,
                self.node_reads,
                self.node_writes,
            ],
        )
        return w.VBox(
            [
                self.node_pick,
                self.node_id,
                self.node_name,
                self.node_kind,
                self.node_actor,
                self.node_threshold,
                self.node_threshold_check,
                self.node_outcome,
                self.node_ref,
                w.HBox([self.node_add, self.node_update, self.node_delete]),
                self.node_details,
            ]
        )

    def _node_layout(self) -> None:
        kind = self.node_kind.value
        worked = kind in ("task", "approval", "subworkflow")
        _show(self.node_actor, worked)
        _show(self.node_duration.box, worked)
        for widget in (self.node_tools, self.node_reads, self.node_writes):
            _show(widget, kind == "task")
        for widget in (self.node_sla, self.node_escalate):
            _show(widget, kind in ("task", "approval"))
        _show(self.node_threshold, kind == "approval")
        _show(self.node_threshold_check, kind == "approval")
        _show(self.node_outcome, kind == "end")
        _show(self.node_ref, kind == "subworkflow")
        self.node_actor.description = "Approver" if kind == "approval" else "Done by"

    def _on_node_pick(self) -> None:
        with self._quietly():
            self._load_node()
        self._mark([self.node_pick.value] if self.node_pick.value else [])

    def _load_node(self) -> None:
        node_id = self.node_pick.value
        new = node_id == NEW
        self.node_update.disabled = new
        self.node_delete.disabled = new
        if new:
            for widget in (
                self.node_id,
                self.node_name,
                self.node_sla,
                self.node_threshold,
                self.node_outcome,
                self.node_ref,
            ):
                widget.value = ""
            self.node_actor.value = ""
            self.node_escalate.value = ""
            for multi in (self.node_tools, self.node_reads, self.node_writes):
                multi.value = ()
            self.node_duration.set(None)
            self._node_layout()
            return
        node = self.controller.workflow.node(node_id)
        self.node_id.value = node.id
        self.node_name.value = node.name or ""
        self.node_kind.value = node.kind
        actor = getattr(node, "actor", None) or ""
        self.node_actor.value = actor if actor in [v for _, v in self.node_actor.options] else ""
        escalate = getattr(node, "escalate_to", None) or ""
        self.node_escalate.value = escalate if escalate in [v for _, v in self.node_escalate.options] else ""
        for multi, attr in ((self.node_tools, "tools"), (self.node_reads, "reads"), (self.node_writes, "writes")):
            multi.value = tuple(x for x in getattr(node, attr, []) if x in multi.options)
        sla = getattr(node, "sla", None)
        self.node_sla.value = format_duration(sla) if sla is not None else ""
        self.node_threshold.value = node.threshold or "" if isinstance(node, Approval) else ""
        self.node_outcome.value = (node.outcome or "") if isinstance(node, End) else ""
        self.node_ref.value = (node.ref or "") if isinstance(node, Subworkflow) else ""
        behaviour = getattr(node, "behaviour", None)
        self.node_duration.set(behaviour.duration if behaviour is not None else None)
        self._node_layout()

    def _node_fields(self) -> dict[str, Any]:
        kind = self.node_kind.value
        fields: dict[str, Any] = {"name": self.node_name.value}
        if kind in ("task", "approval", "subworkflow"):
            fields["actor"] = self.node_actor.value or None
            fields["duration"] = self.node_duration.value()
        if kind == "task":
            fields["tools"] = list(self.node_tools.value)
            fields["reads"] = list(self.node_reads.value)
            fields["writes"] = list(self.node_writes.value)
        if kind in ("task", "approval"):
            fields["sla"] = self.node_sla.value
            fields["escalate_to"] = self.node_escalate.value or None
        if kind == "approval":
            fields["threshold"] = self.node_threshold.value
        if kind == "end":
            fields["outcome"] = self.node_outcome.value
        if kind == "subworkflow":
            fields["ref"] = self.node_ref.value
        return fields

    def _add_node(self) -> None:
        def add() -> Any:
            fields = self._node_fields()
            actor = fields.pop("actor", None)
            return self.controller.add_node(self.node_kind.value, self.node_id.value, actor=actor, **fields)

        new_id = self.node_id.value.strip()
        if self._act(add) is not None:
            with self._quietly():
                self.node_pick.value = new_id
                self._load_node()
            self._mark([self.node_pick.value])

    def _update_node(self) -> None:
        old = self.node_pick.value
        new_id = self.node_id.value.strip()

        def update() -> Any:
            return self.controller.update_node(old, id=new_id, kind=self.node_kind.value, **self._node_fields())

        if self._act(update) is not None:
            with self._quietly():
                self.node_pick.value = new_id
                self._load_node()
            self._mark([new_id])

    def _delete_node(self) -> None:
        if self._act(lambda: self.controller.delete_node(self.node_pick.value, rejoin=True)) is not None:
            self._mark([])

    def _show_check(self, target: Any, text: str) -> None:
        caret = self.controller.condition_caret(text)
        if not text.strip():
            target.value = ""
        elif caret is None:
            target.value = '<span class="wds-ok">✓ valid condition</span>'
        else:
            column, message = caret
            pointer = " " * (column - 1) + "^"
            target.value = (
                f'<div class="wds-bad">✗ column {column}: {_esc(message)}</div>'
                f'<div class="wds-mono">{_esc(text)}\n{pointer}</div>'
            )

    # ------------------------------------------------------------------ connections

    def _edge_form(self) -> Any:
        self.edge_pick = _dropdown("Connection", [("+ a new connection", -1)], -1)
        self.edge_from = _dropdown("From", [])
        self.edge_to = _dropdown("To", [])
        self.edge_when = w.Text(
            description="When",
            placeholder="condition, e.g. amount > 10000 (empty: always)",
            style=FIELD,
            layout=w.Layout(width=FORM_WIDTH),
            continuous_update=True,
        )
        self.edge_check = w.HTML()
        self.edge_default = w.Checkbox(description="Otherwise (the default route out of a decision)", style=FIELD)
        self.edge_label = _text("Label", "shown on the arrow")
        self.edge_add = _button("Add connection", "success", "Connect the two steps", "plus")
        self.edge_update = _button("Save changes", "primary", "Change the selected connection", "check")
        self.edge_delete = _button("Delete connection", "danger", "Delete the selected connection", "trash")
        self.edge_pick.observe(self._unless_quiet(self._on_edge_pick), names="value")
        self.edge_when.observe(lambda ch: self._show_check(self.edge_check, ch["new"]), names="value")
        self.edge_add.on_click(lambda _: self._add_edge())
        self.edge_update.on_click(lambda _: self._update_edge())
        self.edge_delete.on_click(lambda _: self._delete_edge())
        return w.VBox(
            [
                self.edge_pick,
                self.edge_from,
                self.edge_to,
                self.edge_when,
                self.edge_check,
                self.edge_default,
                self.edge_label,
                w.HBox([self.edge_add, self.edge_update, self.edge_delete]),
            ]
        )

    def _on_edge_pick(self) -> None:
        with self._quietly():
            self._load_edge()
        index = self.edge_pick.value
        edges = self.controller.workflow.edges
        self._mark([edge_id(edges[index].source, edges[index].target)] if 0 <= index < len(edges) else [])

    def _load_edge(self) -> None:
        index = self.edge_pick.value
        new = index is None or index < 0
        self.edge_update.disabled = new
        self.edge_delete.disabled = new
        if new:
            self.edge_when.value = ""
            self.edge_label.value = ""
            self.edge_default.value = False
            self.edge_check.value = ""
            return
        edge = self.controller.workflow.edges[index]
        if edge.source in self.edge_from.options:
            self.edge_from.value = edge.source
        if edge.target in self.edge_to.options:
            self.edge_to.value = edge.target
        self.edge_when.value = edge.when or ""
        self._show_check(self.edge_check, edge.when or "")
        self.edge_default.value = edge.default
        self.edge_label.value = edge.label or ""

    def _add_edge(self) -> None:
        c = self.controller
        if (
            self._act(
                lambda: c.add_edge(
                    self.edge_from.value,
                    self.edge_to.value,
                    when=self.edge_when.value,
                    default=self.edge_default.value,
                    label=self.edge_label.value,
                )
            )
            is not None
        ):
            with self._quietly():
                self.edge_pick.value = len(c.workflow.edges) - 1
                self._load_edge()

    def _update_edge(self) -> None:
        index = self.edge_pick.value
        self._act(
            lambda: self.controller.update_edge(
                index,
                source=self.edge_from.value,
                target=self.edge_to.value,
                when=self.edge_when.value,
                default=self.edge_default.value,
                label=self.edge_label.value,
            )
        )

    def _delete_edge(self) -> None:
        self._act(lambda: self.controller.delete_edge(self.edge_pick.value))

    # ------------------------------------------------------------------ actors

    def _actor_form(self) -> Any:
        self.actor_pick = _dropdown("Actor", [("+ a new actor", NEW)], NEW)
        self.actor_id = _text("Id", "e.g. legal_team")
        self.actor_kind = _dropdown(
            "Kind", [("AI agent", "agent"), ("people (a human pool)", "human"), ("system", "system")], "human"
        )
        self.actor_name = _text("Name", "e.g. Legal reviewers")
        self.actor_capacity = w.BoundedIntText(
            value=1, min=1, max=100000, description="How many people", style=FIELD, layout=w.Layout(width="260px")
        )
        self.actor_role = _text("Role", "e.g. Contract lawyer")
        self.actor_version = _text("Version", "pinned registry version, e.g. 2.1.0")
        self.actor_capability = _text("Capability", "registry capability, e.g. contract-review")
        self.actor_model = _text("Model", "model label")
        self.actor_autonomy = _dropdown(
            "Autonomy",
            [
                ("not set", ""),
                ("human in the loop", "human_in_the_loop"),
                ("human on the loop", "human_on_the_loop"),
                ("fully autonomous", "fully_autonomous"),
            ],
            "",
        )
        self.actor_tools = _multi("May call")
        self.actor_duration = _Duration("Work takes")
        self.actor_approve = _text("Approves (0-1)", "share of approvals, e.g. 0.9")
        self.actor_add = _button("Add actor", "success", "Add this agent, pool or system", "plus")
        self.actor_update = _button("Save changes", "primary", "Change the selected actor", "check")
        self.actor_delete = _button("Delete actor", "danger", "Delete the selected actor", "trash")
        self.actor_pick.observe(self._unless_quiet(self._load_actor), names="value")
        self.actor_kind.observe(lambda _: self._actor_layout(), names="value")
        self.actor_add.on_click(lambda _: self._add_actor())
        self.actor_update.on_click(lambda _: self._update_actor())
        self.actor_delete.on_click(lambda _: self._act(lambda: self.controller.delete_actor(self.actor_pick.value)))
        self._actor_layout()
        self.actor_details = _details(
            "More: role, registry, tools, how long work takes",
            [
                self.actor_role,
                self.actor_capability,
                self.actor_model,
                self.actor_autonomy,
                self.actor_tools,
                self.actor_duration.box,
                self.actor_approve,
            ],
        )
        return w.VBox(
            [
                self.actor_pick,
                self.actor_id,
                self.actor_kind,
                self.actor_name,
                self.actor_capacity,
                self.actor_version,
                w.HBox([self.actor_add, self.actor_update, self.actor_delete]),
                self.actor_details,
            ]
        )

    def _actor_layout(self) -> None:
        kind = self.actor_kind.value
        for widget in (self.actor_capacity, self.actor_role, self.actor_approve):
            _show(widget, kind == "human")
        for widget in (self.actor_version, self.actor_capability, self.actor_model, self.actor_autonomy):
            _show(widget, kind == "agent")
        _show(self.actor_tools, kind in ("agent", "system"))

    def _load_actor(self) -> None:
        actor_id = self.actor_pick.value
        new = actor_id == NEW
        self.actor_update.disabled = new
        self.actor_delete.disabled = new
        if new:
            for widget in (
                self.actor_id,
                self.actor_name,
                self.actor_role,
                self.actor_version,
                self.actor_capability,
                self.actor_model,
                self.actor_approve,
            ):
                widget.value = ""
            self.actor_capacity.value = 1
            self.actor_autonomy.value = ""
            self.actor_tools.value = ()
            self.actor_duration.set(None)
            self._actor_layout()
            return
        actor = self.controller.workflow.actor(actor_id)
        self.actor_id.value = actor.id
        self.actor_kind.value = actor.kind
        self.actor_name.value = actor.name or ""
        if isinstance(actor, Human):
            self.actor_capacity.value = actor.capacity
            self.actor_role.value = actor.role or ""
            rate = actor.behaviour.approve_rate
            self.actor_approve.value = "" if rate is None else f"{rate:g}"
        if isinstance(actor, Agent):
            self.actor_version.value = actor.version or ""
            self.actor_capability.value = actor.capability or ""
            self.actor_model.value = actor.model or ""
            self.actor_autonomy.value = actor.autonomy.value if actor.autonomy is not None else ""
        if isinstance(actor, (Agent, System)):
            self.actor_tools.value = tuple(t for t in actor.tools if t in self.actor_tools.options)
        self.actor_duration.set(actor.behaviour.duration)
        self._actor_layout()

    def _actor_fields(self) -> dict[str, Any]:
        kind = self.actor_kind.value
        fields: dict[str, Any] = {"name": self.actor_name.value, "duration": self.actor_duration.value()}
        if kind == "human":
            fields.update(
                capacity=self.actor_capacity.value, role=self.actor_role.value, approve_rate=self.actor_approve.value
            )
        if kind == "agent":
            fields.update(
                version=self.actor_version.value,
                capability=self.actor_capability.value,
                model=self.actor_model.value,
                autonomy=self.actor_autonomy.value or None,
            )
        if kind in ("agent", "system"):
            fields["tools"] = list(self.actor_tools.value)
        return fields

    def _add_actor(self) -> None:
        new_id = self.actor_id.value.strip()
        if self._act(lambda: self.controller.add_actor(self.actor_kind.value, new_id, **self._actor_fields())):
            with self._quietly():
                self.actor_pick.value = new_id
                self._load_actor()

    def _update_actor(self) -> None:
        old, new_id = self.actor_pick.value, self.actor_id.value.strip()
        if (
            self._act(
                lambda: self.controller.update_actor(old, id=new_id, kind=self.actor_kind.value, **self._actor_fields())
            )
            is not None
        ):
            with self._quietly():
                self.actor_pick.value = new_id
                self._load_actor()

    # ------------------------------------------------------------------ tools

    def _tool_form(self) -> Any:
        self.tool_pick = _dropdown("Tool", [("+ a new tool", NEW)], NEW)
        self.tool_id = _text("Id", "e.g. contract_store")
        self.tool_name = _text("Name", "what it does")
        self.tool_tier = _dropdown(
            "Permission",
            [
                ("read only", "read_only"),
                ("restricted write", "restricted_write"),
                ("critical (needs an approval before it)", "critical"),
            ],
            "read_only",
        )
        self.tool_calls = _text("Rate limit: calls", "e.g. 60 (empty: no limit)")
        self.tool_per = _text("  per", "e.g. 1m")
        self.tool_timeout = _text("Timeout", "e.g. 30s")
        self.tool_credential = _text("Credential name", "the secret's name, never the secret")
        self.tool_writes = _multi("Writes to")
        self.tool_add = _button("Add tool", "success", "Add this tool", "plus")
        self.tool_update = _button("Save changes", "primary", "Change the selected tool", "check")
        self.tool_delete = _button("Delete tool", "danger", "Delete the selected tool", "trash")
        self.tool_pick.observe(self._unless_quiet(self._load_tool), names="value")
        self.tool_add.on_click(lambda _: self._add_tool())
        self.tool_update.on_click(lambda _: self._update_tool())
        self.tool_delete.on_click(lambda _: self._act(lambda: self.controller.delete_tool(self.tool_pick.value)))
        return w.VBox(
            [
                self.tool_pick,
                self.tool_id,
                self.tool_name,
                self.tool_tier,
                self.tool_calls,
                self.tool_per,
                self.tool_timeout,
                self.tool_credential,
                self.tool_writes,
                w.HBox([self.tool_add, self.tool_update, self.tool_delete]),
            ]
        )

    def _tool_fields(self) -> dict[str, Any]:
        calls, per = self.tool_calls.value.strip(), self.tool_per.value.strip()
        limit = {"calls": calls, "per": per or "1m"} if calls else None
        return {
            "name": self.tool_name.value,
            "tier": self.tool_tier.value,
            "rate_limit": limit,
            "timeout": self.tool_timeout.value,
            "credential": self.tool_credential.value,
            "writes": list(self.tool_writes.value),
        }

    def _load_tool(self) -> None:
        tool_id = self.tool_pick.value
        new = tool_id == NEW
        self.tool_update.disabled = new
        self.tool_delete.disabled = new
        if new:
            for widget in (
                self.tool_id,
                self.tool_name,
                self.tool_calls,
                self.tool_per,
                self.tool_timeout,
                self.tool_credential,
            ):
                widget.value = ""
            self.tool_writes.value = ()
            return
        tool = self.controller.workflow.tool(tool_id)
        self.tool_id.value = tool.id
        self.tool_name.value = tool.name or ""
        self.tool_tier.value = tool.tier.value
        self.tool_calls.value = str(tool.rate_limit.calls) if tool.rate_limit else ""
        self.tool_per.value = format_duration(tool.rate_limit.per) if tool.rate_limit else ""
        self.tool_timeout.value = format_duration(tool.timeout) if tool.timeout is not None else ""
        self.tool_credential.value = tool.credential or ""
        self.tool_writes.value = tuple(x for x in tool.writes if x in self.tool_writes.options)

    def _add_tool(self) -> None:
        new_id = self.tool_id.value.strip()
        if self._act(lambda: self.controller.add_tool(new_id, **self._tool_fields())) is not None:
            with self._quietly():
                self.tool_pick.value = new_id
                self._load_tool()

    def _update_tool(self) -> None:
        old, new_id = self.tool_pick.value, self.tool_id.value.strip()
        if self._act(lambda: self.controller.update_tool(old, id=new_id, **self._tool_fields())) is not None:
            with self._quietly():
                self.tool_pick.value = new_id
                self._load_tool()

    # ------------------------------------------------------------------ data sources

    def _data_form(self) -> Any:
        self.data_pick = _dropdown("Data source", [("+ a new data source", NEW)], NEW)
        self.data_id = _text("Id", "e.g. crm")
        self.data_system = _text("System", "e.g. Salesforce")
        self.data_description = _text("Description", "what it holds")
        self.data_freshness = _text("Freshness", "how old the data may be, e.g. 15m")
        self.data_pii = w.Checkbox(description="Contains personal data", style=FIELD)
        self.data_add = _button("Add data source", "success", "Add this data source", "plus")
        self.data_update = _button("Save changes", "primary", "Change the selected data source", "check")
        self.data_delete = _button("Delete data source", "danger", "Delete the selected data source", "trash")
        self.data_pick.observe(self._unless_quiet(self._load_data), names="value")
        self.data_add.on_click(lambda _: self._add_data())
        self.data_update.on_click(lambda _: self._update_data())
        self.data_delete.on_click(lambda _: self._act(lambda: self.controller.delete_data_source(self.data_pick.value)))
        return w.VBox(
            [
                self.data_pick,
                self.data_id,
                self.data_system,
                self.data_description,
                self.data_freshness,
                self.data_pii,
                w.HBox([self.data_add, self.data_update, self.data_delete]),
            ]
        )

    def _data_fields(self) -> dict[str, Any]:
        return {
            "system": self.data_system.value,
            "description": self.data_description.value,
            "freshness": self.data_freshness.value,
            "contains_pii": self.data_pii.value or None,
        }

    def _load_data(self) -> None:
        source_id = self.data_pick.value
        new = source_id == NEW
        self.data_update.disabled = new
        self.data_delete.disabled = new
        if new:
            for widget in (self.data_id, self.data_system, self.data_description, self.data_freshness):
                widget.value = ""
            self.data_pii.value = False
            return
        source = next(d for d in self.controller.workflow.data_sources if d.id == source_id)
        self.data_id.value = source.id
        self.data_system.value = source.system or ""
        self.data_description.value = source.description or ""
        self.data_freshness.value = format_duration(source.freshness) if source.freshness is not None else ""
        self.data_pii.value = source.contains_pii

    def _add_data(self) -> None:
        new_id = self.data_id.value.strip()
        if self._act(lambda: self.controller.add_data_source(new_id, **self._data_fields())) is not None:
            with self._quietly():
                self.data_pick.value = new_id
                self._load_data()

    def _update_data(self) -> None:
        old, new_id = self.data_pick.value, self.data_id.value.strip()
        if self._act(lambda: self.controller.update_data_source(old, id=new_id, **self._data_fields())) is not None:
            with self._quietly():
                self.data_pick.value = new_id
                self._load_data()

    # ------------------------------------------------------------------ policies and simulation settings

    def _settings_form(self) -> Any:
        self.policy_max_turns = _text("Max turns", "steps a case may take, e.g. 100")
        self.policy_max_repeats = _text("Max repeats", "loop guard per transition, e.g. 3; `off` disables it")
        self.policy_sla = _text("Approval SLA", "how long an approval may wait, e.g. 4h")
        self.policy_escalate = _dropdown("Escalate to", [("— nobody —", "")], "")
        self.policy_retries = _text("Retries", "retries of a failed agent or tool call, e.g. 1")
        self.policy_autonomy = _dropdown("Autonomy", list(AUTONOMY), "human_in_the_loop")
        self.policy_save = _button("Save policies", "primary", "Change the workflow's policies", "check")
        self.sim_set_seed = _text("Seed", "e.g. 0")
        self.sim_set_cases = _text("Run size", "cases per run (empty: every sample case)")
        self.sim_set_process = _dropdown(
            "Arrivals",
            [("Poisson (random, at a rate)", "poisson"), ("Fixed interval", "fixed"), ("From a data column", "column")],
            "poisson",
        )
        self.sim_set_arrival = _text("Rate", "e.g. 30/h")
        self.sim_set_sample = _text("Sample data", "CSV/JSONL next to the workflow, e.g. sample.csv")
        self.sim_set_gold = _text("Gold data", "gold cases, e.g. gold.csv")
        self.sim_settings_save = _button(
            "Save simulation settings", "primary", "Change the simulation settings", "check"
        )
        self.sim_set_process.observe(self._unless_quiet(self._settings_layout), names="value")
        for field in (
            self.policy_max_turns,
            self.policy_max_repeats,
            self.policy_sla,
            self.policy_escalate,
            self.policy_retries,
            self.policy_autonomy,
        ):
            field.observe(self._unless_quiet(lambda: self._mark_unsaved(self.policy_save, True)), names="value")
        for field in (
            self.sim_set_seed,
            self.sim_set_cases,
            self.sim_set_process,
            self.sim_set_arrival,
            self.sim_set_sample,
            self.sim_set_gold,
        ):
            field.observe(self._unless_quiet(lambda: self._mark_unsaved(self.sim_settings_save, True)), names="value")
        self.policy_save.on_click(lambda _: self._act(lambda: self.controller.update_policies(**self._policy_fields())))
        self.sim_settings_save.on_click(
            lambda _: self._act(lambda: self.controller.update_simulation(**self._simulation_fields()))
        )
        return w.VBox(
            [
                w.HTML("<b>Policies</b> (guardrails the control plane enforces)"),
                self.policy_max_turns,
                self.policy_max_repeats,
                self.policy_sla,
                self.policy_escalate,
                self.policy_retries,
                self.policy_autonomy,
                self.policy_save,
                w.HTML("<b>Simulation</b>"),
                self.sim_set_seed,
                self.sim_set_cases,
                self.sim_set_process,
                self.sim_set_arrival,
                self.sim_set_sample,
                self.sim_set_gold,
                self.sim_settings_save,
            ]
        )

    def _settings_layout(self) -> None:
        kind = str(self.sim_set_process.value)
        param = ARRIVALS[kind]
        self.sim_set_arrival.description = param.capitalize()
        self.sim_set_arrival.placeholder = f"e.g. {ARRIVAL_EXAMPLES[param]}"
        # the current value as the file writes it (`30/h`, `2m`); empty when another process is picked
        current = self.controller.workflow.simulation.arrivals.model_dump(mode="json")
        self.sim_set_arrival.value = str(current.get(param, ""))

    def _policy_fields(self) -> dict[str, Any]:
        return {
            "max_turns": self.policy_max_turns.value,
            "max_repeats": self.policy_max_repeats.value,
            "approval_sla": self.policy_sla.value,
            "escalate_to": self.policy_escalate.value,
            "retries": self.policy_retries.value,
            "autonomy": self.policy_autonomy.value,
        }

    def _simulation_fields(self) -> dict[str, Any]:
        param = ARRIVALS[str(self.sim_set_process.value)]
        return {
            "seed": self.sim_set_seed.value,
            "cases": self.sim_set_cases.value,
            "sample_data": self.sim_set_sample.value,
            "gold_data": self.sim_set_gold.value,
            "process": self.sim_set_process.value,
            param: self.sim_set_arrival.value,
        }

    @staticmethod
    def _mark_unsaved(button: Any, unsaved: bool) -> None:
        """A settings form's Save button says when the form holds values not saved yet."""
        text = button.description.removesuffix(" (changed)")
        button.description = f"{text} (changed)" if unsaved else text
        button.button_style = "warning" if unsaved else "primary"

    def _load_settings(self) -> None:
        self._mark_unsaved(self.policy_save, False)
        self._mark_unsaved(self.sim_settings_save, False)
        wf = self.controller.workflow
        policies, simulation = wf.policies, wf.simulation
        humans = self.controller.options_for("humans")
        self.policy_escalate.options = [("— nobody —", "")] + [(h, h) for h in humans]
        self.policy_max_turns.value = str(policies.max_turns)
        self.policy_max_repeats.value = "off" if policies.max_repeats is None else str(policies.max_repeats)
        self.policy_sla.value = format_duration(policies.approval_sla) if policies.approval_sla is not None else ""
        self.policy_escalate.value = policies.escalate_to if policies.escalate_to in humans else ""
        self.policy_retries.value = str(policies.retries)
        self.policy_autonomy.value = policies.autonomy.value
        self.sim_set_seed.value = str(simulation.seed)
        self.sim_set_cases.value = "" if simulation.cases is None else str(simulation.cases)
        self.sim_set_process.value = simulation.arrivals.process
        self._settings_layout()
        self.sim_set_sample.value = simulation.sample_data or ""
        self.sim_set_gold.value = simulation.gold_data or ""

    # ================================================================== Simulate

    def _build_simulate(self) -> Any:
        wf = self.controller.workflow
        small = w.Layout(width="220px")
        self.sim_cases = w.BoundedIntText(
            value=wf.simulation.cases or 200, min=1, max=1_000_000, description="Cases", style=FIELD, layout=small
        )
        self.sim_replications = w.BoundedIntText(
            value=3,
            min=1,
            max=100,
            description="Replications",
            style=FIELD,
            layout=small,
            tooltip="independent runs; two or more give confidence intervals when comparing",
        )
        self.sim_seed = w.IntText(value=wf.simulation.seed, description="Seed", style=FIELD, layout=small)
        self._sim_settings = (wf.simulation.seed, wf.simulation.cases)
        self.sim_scenario = w.Textarea(
            description="Scenario A",
            placeholder="what-if changes, one a line, e.g.\nactors.line_managers.capacity=10\n(empty: as mapped)",
            style=FIELD,
            layout=w.Layout(width="48%", height="96px"),
        )
        self.sim_scenario_b = w.Textarea(
            description="Scenario B",
            placeholder="the scenario to compare with A, e.g.\nactors.cfo_office.capacity=2",
            style=FIELD,
            layout=w.Layout(width="48%", height="96px"),
        )
        self.sim_run = _button("Run simulation", "success", "Simulate scenario A against the sample data", "play")
        self.sim_compare = _button("Compare A and B", "primary", "Run both scenarios and compare them", "balance-scale")
        self.sim_progress = w.IntProgress(
            value=0, min=0, max=1, description="Progress", style=FIELD, layout=w.Layout(width="60%")
        )
        self.sim_note = w.HTML()
        self.sim_kpis = w.HTML()
        self.sim_plots = w.Tab(layout=w.Layout(width="100%"))
        self.sim_compare_out = w.HTML()
        self.sim_run.on_click(lambda _: self.run_simulation())
        self.sim_compare.on_click(lambda _: self.compare())
        if not self.controller.can_simulate:
            self.sim_note.value = '<span class="wds-warn">Simulation is not installed in this environment.</span>'
            self.sim_run.disabled = self.sim_compare.disabled = True
        return w.VBox(
            [
                w.HBox([self.sim_cases, self.sim_replications, self.sim_seed]),
                w.HBox([self.sim_scenario, self.sim_scenario_b], layout=w.Layout(justify_content="space-between")),
                w.HBox([self.sim_run, self.sim_compare]),
                self.sim_progress,
                self.sim_note,
                self.sim_kpis,
                self.sim_plots,
                self.sim_compare_out,
            ]
        )

    def _follow_simulation_settings(self) -> None:
        """The Simulate tab's seed and cases follow the workflow's settings when those change (a value
        typed into the tab for one run stays until then)."""
        simulation = self.controller.workflow.simulation
        settings = (simulation.seed, simulation.cases)
        if settings != self._sim_settings:
            self._sim_settings = settings
            self.sim_seed.value = simulation.seed
            if simulation.cases is not None:
                self.sim_cases.value = simulation.cases

    def _progress(self, done: int, total: int | None = None, *_: Any) -> None:
        if total:
            self.sim_progress.max = max(int(total), 1)
        self.sim_progress.value = min(int(done), self.sim_progress.max)

    def _simulate(self, scenario: str) -> Any:
        self.sim_progress.value = 0
        self.sim_progress.max = max(int(self.sim_cases.value) * int(self.sim_replications.value), 1)
        self.sim_progress.bar_style = "info"
        results = self._act(
            lambda: self.controller.run_simulation(
                cases=self.sim_cases.value,
                seed=self.sim_seed.value,
                scenario=scenario,
                replications=self.sim_replications.value,
                progress=self._progress,
            )
        )
        if results is None:
            self.sim_progress.bar_style = "danger"
            return None
        self.sim_progress.value = self.sim_progress.max
        self.sim_progress.bar_style = "success"
        return results

    def run_simulation(self) -> Any:
        """Run scenario A with the form's settings (what Run simulation does); returns the results."""
        results = self._simulate(self.sim_scenario.value)
        if results is not None:
            self._show_results(results)
        return results

    def _show_results(self, results: Any) -> None:
        from studio.widgets import present  # noqa: PLC0415

        self.sim_kpis.value = present.kpi_table(results)
        pages: list[tuple[str, Any]] = []
        for title, figure in present.figures(results):
            pages.append((title, w.Image(value=_png(figure), format="png", layout=w.Layout(max_width="900px"))))
        try:
            network = present.network_svg(results, self.controller.workflow)
            overlaid = self.controller.diagram_svg(overlay=present.overlay(results))
        except StudioError as exc:
            network = overlaid = f'<div class="wds-bad">{_esc(exc)}</div>'
        pages.append(("Hand-offs", w.HTML(f'<div class="wds-diagram wds-fit">{_fit_svg(network, "fit", None)}</div>')))
        pages.append(
            (
                "Waits on the map",
                w.HTML(f'<div class="wds-diagram wds-fit">{_fit_svg(overlaid, "fit", None)}</div>'),
            )
        )
        self.sim_plots.children = [page for _, page in pages]
        for index, (title, _) in enumerate(pages):
            self.sim_plots.set_title(index, title)

    def compare(self) -> Any:
        """Run scenario A and scenario B and show the A vs B table (what Compare does)."""
        a = self.run_simulation()
        if a is None:
            return None
        b = self._simulate(self.sim_scenario_b.value)
        if b is None:
            return None
        comparison = self._act(lambda: self.controller.compare_scenarios(a, b))
        if comparison is None:
            return None
        from studio.simulate.summary import scenario_name  # noqa: PLC0415
        from studio.widgets import present  # noqa: PLC0415

        note = ""
        if int(self.sim_replications.value) < 2:
            note = "<p><i>Run two or more replications to get confidence intervals.</i></p>"
        name_a, name_b = scenario_name(a), scenario_name(b)
        self.sim_compare_out.value = (
            f"<h4>A: {_esc(name_a)} &nbsp; vs &nbsp; B: {_esc(name_b)} "
            f"(means over {_esc(self.sim_replications.value)} replication(s); B − A with its 95% interval)</h4>"
            + note
            + present.comparison_table(comparison, b.compiled.workflow, "A", "B")
        )
        return comparison

    # ================================================================== Walkthrough

    def _build_walkthrough(self) -> Any:
        self.case_pick = w.Dropdown(options=[], description="Case", style=FIELD, layout=w.Layout(width="360px"))
        self.walk_start = _button("Start", "success", "Walk this case through the workflow", "play")
        self.walk_pending = w.HTML()
        self.walk_note = w.Text(
            description="Note",
            placeholder="what to change (for Steer), or why",
            style=FIELD,
            layout=w.Layout(width="60%"),
        )
        self.walk_approve = _button("Approve", "success", "Approve, as the approver would", "check")
        self.walk_reject = _button("Reject", "danger", "Reject, as the approver would", "times")
        self.walk_steer = _button("Steer (send back with the note)", "warning", "Send back with the note", "reply")
        self.walk_state = w.HTML()
        self.walk_diagram = DiagramView(view_controls=False, selectable=False, height="min(620px, 66vh)")
        self.walk_start.on_click(lambda _: self.start_walkthrough())
        self.walk_approve.on_click(lambda _: self.answer("approve"))
        self.walk_reject.on_click(lambda _: self.answer("reject"))
        self.walk_steer.on_click(lambda _: self.answer("steer"))
        self._walk_buttons(False)
        controls = w.VBox(
            [
                w.HBox([self.case_pick, self.walk_start]),
                self.walk_pending,
                w.HBox([self.walk_approve, self.walk_reject, self.walk_steer]),
                self.walk_note,
                self.walk_state,
            ],
            layout=w.Layout(width="42%", padding="0 12px 0 0"),
        )
        legend = w.HTML(
            '<span style="font-size:14px"><b style="color:#C62828">red</b>: where the case is now · '
            '<b style="color:#EF6C00">orange</b>: the path so far</span>'
        )
        return w.HBox([controls, w.VBox([legend, self.walk_diagram], layout=w.Layout(width="58%"))])

    def _walk_buttons(self, enabled: bool) -> None:
        for button in (self.walk_approve, self.walk_reject, self.walk_steer):
            button.disabled = not enabled

    def start_walkthrough(self) -> Any:
        walk = self._act(lambda: self.controller.start_walkthrough(self.case_pick.value))
        self._show_walk(walk)
        return walk

    def answer(self, decision: str) -> Any:
        walk = self._act(lambda: self.controller.answer(decision, note=self.walk_note.value))
        if walk is not None:
            self.walk_note.value = ""
        self._show_walk(self.controller.walkthrough)
        return walk

    def _show_walk(self, walk: Any) -> None:
        from studio.widgets import present as views  # noqa: PLC0415

        if walk is None:
            self._walk_buttons(False)
            self.walk_diagram.highlight = []
            self.walk_diagram.current = ""
            return
        path, here = views.walk_path(walk)
        svg, why = self.controller.diagram_or_message()
        self.walk_diagram.hint = why if svg is None else ""
        self.walk_diagram.svg = svg or ""
        self.walk_diagram.highlight = path
        self.walk_diagram.current = here or ""
        pending, state = views.walkthrough(walk)
        self.walk_pending.value = pending
        self.walk_state.value = state
        self._walk_buttons(not bool(getattr(walk, "done", True)))
        waiting = getattr(walk, "pending", None) or {}
        is_approval = waiting.get("kind", "approval") == "approval"
        self.walk_approve.description = "Approve" if is_approval else "Done"
        self.walk_reject.description = "Reject" if is_approval else "Reject (stop the case)"

    # ================================================================== Export

    def _build_export(self) -> Any:
        self.export_target = w.Dropdown(
            options=[
                ("Control-plane definition", "controlplane"),
                ("BPMN 2.0 (process tools)", "bpmn"),
                ("Serverless Workflow 1.0 (YAML)", "serverless"),
                ("LangGraph application (Python)", "langgraph"),
                ("Mermaid diagram (text)", "mermaid"),
            ],
            value="controlplane",
            description="Export as",
            style=FIELD,
            layout=w.Layout(width="420px"),
        )
        self.export_format = w.ToggleButtons(options=[("YAML", "yaml"), ("JSON", "json")], value="yaml")
        self.export_path = w.Text(
            description="Write to",
            placeholder="file to write (empty: just show it here)",
            style=FIELD,
            layout=w.Layout(width="70%"),
        )
        self.export_button = _button("Validate and export", "success", "Check the workflow and export it", "upload")
        self.export_result = w.HTML()
        self.export_preview = w.HTML(layout=w.Layout(max_height="480px", overflow="auto"))
        self.export_button.on_click(lambda _: self.export())
        self.export_format.observe(lambda _: self._refresh_export_path(force=True), names="value")
        self.export_target.observe(self._on_export_target, names="value")
        return w.VBox(
            [
                w.HBox([self.export_target, self.export_format], layout=w.Layout(align_items="center")),
                self.export_path,
                w.HBox([self.export_button]),
                self.export_result,
                self.export_preview,
            ]
        )

    def _on_export_target(self, _: Any = None) -> None:
        _show(self.export_format, self.export_target.value == "controlplane")
        self._refresh_export_path(force=True)

    def _refresh_export_path(self, force: bool = False) -> None:
        path = self.controller.path
        if path is None or (self.export_path.value and not force):
            return
        target = self.export_target.value
        if target == "controlplane":
            suffix = ".controlplane.json" if self.export_format.value == "json" else ".controlplane.yaml"
        else:
            suffix = _EXPORT_SUFFIXES.get(target, ".txt")
        self.export_path.value = str(path.with_name(f"{path.stem}{suffix}"))

    def export(self) -> Any:
        """Validate and export (what the button does); shows the refusal's errors when there are any."""
        result = self._act(
            lambda: self.controller.export(
                self.export_path.value.strip() or None, self.export_format.value, target=self.export_target.value
            )
        )
        if result is None:
            return None
        if not result.ok:
            rows = [(f.code, f.location, f.message, f.hint) for f in result.findings]
            self.export_result.value = f'<div class="wds-status wds-bad">{_esc(result.message)}</div>' + (
                _table(rows, ["code", "where", "problem", "how to fix"]) if rows else ""
            )
            self.export_preview.value = ""
            self._say(result.message, "bad")
            return result
        rows = [(f.code, f.location, f.message, f.hint) for f in result.losses]
        self.export_result.value = f'<div class="wds-status wds-ok">{_esc(result.message)}</div>' + (
            _table(rows, ["code", "where", "not kept by this target", "what to do"]) if rows else ""
        )
        from studio.widgets import present  # noqa: PLC0415

        preview = result.text if len(result.text) < 20000 else result.text[:20000] + "\n..."
        summary = present.oversight_summary(self.controller.workflow)
        self.export_preview.value = (
            (f"<h4>In plain words</h4>{summary}<h4>The exported text</h4>" if summary else "")
            + f'<pre style="font-size:13px">{_esc(preview)}</pre>'
        )
        return result
