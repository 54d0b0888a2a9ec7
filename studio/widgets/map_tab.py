"""The studio's Map tab: the toolbar, the interactive diagram and its selection, the problem list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import ipywidgets as w

from studio.errors import Finding
from studio.widgets._parts import (
    _button,
)
from studio.widgets.diagram import DiagramView, edge_id, split_edge_id
from studio.widgets.forms import ItemForms
from studio.widgets.present import _esc

__all__ = ["MapTab"]


class MapTab(ItemForms):
    """The Map tab (its forms are :class:`~studio.widgets.forms.ItemForms`)."""

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
        self.editors = w.Tab(children=self._build_forms())
        for index, name in enumerate(["Steps", "Connections", "People & agents", "Tools", "Data", "Settings"]):
            self.editors.set_title(index, name)
        left = w.VBox([selection_bar, self.diagram], layout=w.Layout(width="58%", padding="0 12px 0 0"))
        right = w.VBox([problems, self.editors], layout=w.Layout(width="42%"))
        return w.VBox([toolbar, w.HBox([left, right], layout=w.Layout(width="100%"))])

    def _on_view(self, _: Any = None) -> None:
        self.controller.lanes = str(self.diagram.lanes)
        self.controller.direction = str(self.diagram.direction)
        self.controller.key = bool(self.key_check.value)
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
                    self.forms["nodes"].select(item)
                    self.forms["nodes"].load()
                    self.workshop_tab.select(item)  # the Workshop tab shows this step's notes
            else:
                index = self.controller.edge_index(*pair)
                if index is not None:
                    self.editors.selected_index = 1
                    self.forms["edges"].select(index)
                    self.forms["edges"].load()

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
                self.forms["edges"].select(index)
                edge = self.controller.workflow.edges[index]
                self._mark([edge_id(edge.source, edge.target)])
            return
        item_id = self.controller.element_id(section, index)
        pick = self.forms[section].pick
        if pick is not None and item_id is not None and item_id in [value for _, value in pick.options]:
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
        self._refresh_forms()
        quick = self.quick_actor.value
        actors = self.controller.workflow.actors
        self.quick_actor.options = [("done by: nobody yet", "")] + [(f"{a.id}  ({a.kind})", a.id) for a in actors]
        self.quick_actor.value = quick if quick in [a.id for a in actors] else ""
