"""The studio in JupyterLab: ``Studio(workflow_or_path)`` is one ipywidgets widget with Map,
Simulate, Walkthrough and Export tabs.

The editing logic is :class:`~studio.widgets.controller.StudioController` (plain Python, importable
without ipywidgets); :class:`Studio` only wires widgets to it. ``Studio`` imports ipywidgets on
first use and says how to install it when it is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.widgets.controller import EditRefused, ExportResult, StudioController, copy_template, parse_scenario

if TYPE_CHECKING:
    from studio.widgets.studio import Studio

__all__ = ["EditRefused", "ExportResult", "Studio", "StudioController", "copy_template", "parse_scenario"]


def __getattr__(name: str) -> Any:
    if name == "Studio":
        try:
            from studio.widgets.studio import Studio  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ImportError(
                f"the studio widget needs ipywidgets ({exc}); install it with "
                "`pip install 'workflow-design-studio[lab]'`"
            ) from None
        return Studio
    raise AttributeError(f"module `studio.widgets` has no attribute `{name}`")
