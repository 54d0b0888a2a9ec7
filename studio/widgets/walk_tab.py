"""The studio's Walk a case tab: one sample case through the graph, its path on the diagram."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from studio.widgets._parts import (
    FIELD,
    StudioBase,
    _button,
)
from studio.widgets.diagram import DiagramView

__all__ = ["WalkTab"]


class WalkTab(StudioBase):
    """Pick a case, Start, answer each approval; the diagram shows where the case is."""

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
