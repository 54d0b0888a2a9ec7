"""The studio's Export tab: validate, export to a target, the plain summary before the text."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from studio.widgets._parts import (
    _EXPORT_SUFFIXES,
    FIELD,
    StudioBase,
    _button,
    _show,
)
from studio.widgets.present import _esc, table

__all__ = ["ExportTab"]


class ExportTab(StudioBase):
    """Target, format, file; refused with the errors while there are any."""

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
                table(rows, ["code", "where", "problem", "how to fix"]) if rows else ""
            )
            self.export_preview.value = ""
            self._say(result.message, "bad")
            return result
        rows = [(f.code, f.location, f.message, f.hint) for f in result.losses]
        self.export_result.value = f'<div class="wds-status wds-ok">{_esc(result.message)}</div>' + (
            table(rows, ["code", "where", "not kept by this target", "what to do"]) if rows else ""
        )
        from studio.widgets import present  # noqa: PLC0415

        preview = result.text if len(result.text) < 20000 else result.text[:20000] + "\n..."
        summary = present.oversight_summary(self.controller.workflow)
        self.export_preview.value = (
            f"<h4>In plain words</h4>{summary}<h4>The exported text</h4>" if summary else ""
        ) + f'<pre style="font-size:13px">{_esc(preview)}</pre>'
        return result
