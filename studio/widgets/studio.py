"""The studio widget: ipywidgets wired to :class:`~studio.widgets.controller.StudioController`.

Nothing here decides anything: every button calls one controller method, every refresh reads the
controller's state. Standard ipywidgets plus the interactive diagram
(:class:`~studio.widgets.diagram.DiagramView`, an anywidget whose JavaScript ships in the package:
nothing from a CDN), so the studio works offline in JupyterLab and in a saved notebook.

Each tab is a module of its own, mixed into :class:`Studio`: :mod:`~studio.widgets.map_tab` (with
the forms of :mod:`~studio.widgets.forms`, tables of
:class:`~studio.widgets.itemform.ItemForm`), :mod:`~studio.widgets.simulate_tab`,
:mod:`~studio.widgets.walk_tab`, :mod:`~studio.widgets.export_tab`, and the Workshop tab's
:class:`~studio.widgets.workshop.WorkshopPanel`.

Layout (made for a projector)::

    Workflow Design Studio: <name> <version>        <file>       2 errors · 1 warning
    <what the last action did>
    [ Map | Simulate | Walk a case | Export | Workshop ]
    Map:  Undo Redo | Save  [path]  Open | [template] Start from template | New blank
          Selected: <step or connection>                                   Problems (click to jump)
          [new step's name] [done by] Insert step | Connect from selected | Delete selected
          Fit Presentation - + Full screen  Lanes  Direction
          the diagram (click, wheel zoom, drag)      [ Steps | Connections | People & agents | ... ]
"""

from __future__ import annotations

import os

import ipywidgets as w

from studio.model import (
    Workflow,
)
from studio.widgets._parts import (
    CSS,
)
from studio.widgets.controller import (
    StudioController,
)
from studio.widgets.export_tab import ExportTab
from studio.widgets.map_tab import MapTab
from studio.widgets.present import _esc
from studio.widgets.simulate_tab import SimulateTab
from studio.widgets.walk_tab import WalkTab
from studio.widgets.workshop import WorkshopPanel

__all__ = ["Studio"]


class Studio(MapTab, SimulateTab, WalkTab, ExportTab, w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
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
        self._finding_lines: list[str] = []  # what the problem list shows
        self.title = w.HTML()
        self.status = w.HTML()
        self.map_tab = self._build_map()
        self.simulate_tab = self._build_simulate()
        self.walk_tab = self._build_walkthrough()
        self.export_tab = self._build_export()
        self.workshop_tab = WorkshopPanel(self.controller)
        pages = [
            (self.map_tab, "Map"),
            (self.simulate_tab, "Simulate"),
            (self.walk_tab, "Walk a case"),
            (self.export_tab, "Export"),
            (self.workshop_tab, "Workshop"),
        ]
        self.tabs = w.Tab(children=[page for page, _ in pages])
        for index, (_, name) in enumerate(pages):
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
