"""The interactive diagram: Graphviz's SVG with click, hover, zoom and pan (an anywidget).

The layout stays Graphviz's (:mod:`studio.render` draws it); this widget only shows the SVG text in
the browser and attaches behaviour to it. Graphviz puts a node's id in the ``<title>`` of its
``<g class="node">`` and an edge's ``source->target`` in the ``<title>`` of its ``<g class="edge">``,
so the JavaScript (``diagram.js``, shipped in the package: no CDN, no network) finds elements by
those titles.

Synced state (traitlets)::

    svg         the SVG text to show
    selected    ids of the selected nodes and edges (``"a->b"``); a click selects one, Shift/Ctrl+click
                adds or removes; Python sets it to select (the element is scrolled into view)
    highlight   node ids to highlight (a walkthrough's path so far); edges between two of them too
    current     one node id shown as "here now" (the walkthrough's current step)
    zoom        ``"fit"`` (the whole diagram in the box), ``"presentation"`` (every node's text at
                least :data:`PRESENTATION_PX` px) or a factor such as ``"1"`` (1 SVG unit = 1 px)
    lanes, direction   the diagram's swimlanes and layout, switchable from the widget's bar
    hint        a line shown above the diagram (e.g. "click the step to connect to")

The widget sends ``{"action": "undo" | "redo" | "escape" | "delete"}`` for Ctrl+Z, Ctrl+Shift+Z or
Ctrl+Y, Esc and Delete pressed in the studio (with ``shortcuts=True``); :meth:`on_action` routes them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

__all__ = ["PRESENTATION_PX", "DiagramView", "edge_id", "split_edge_id"]

PRESENTATION_PX = 14
"""The smallest node text, in CSS pixels, of the presentation zoom."""
_HERE = Path(__file__).parent


def edge_id(source: str, target: str) -> str:
    """The id of an edge in :attr:`DiagramView.selected` (Graphviz's edge title): ``source->target``."""
    return f"{source}->{target}"


def split_edge_id(item: str) -> tuple[str, str] | None:
    """``(source, target)`` of an edge id, or None for a node id (node ids never hold ``>``)."""
    if "->" not in item:
        return None
    source, _, target = item.partition("->")
    return source, target


class DiagramView(anywidget.AnyWidget):
    """Graphviz SVG with selection, hover, wheel zoom, drag pan, fit, presentation and full screen."""

    _esm = (_HERE / "diagram.js").read_text(encoding="utf-8")
    _css = (_HERE / "diagram.css").read_text(encoding="utf-8")

    svg = t.Unicode("").tag(sync=True)
    selected = t.List(t.Unicode()).tag(sync=True)
    highlight = t.List(t.Unicode()).tag(sync=True)
    current = t.Unicode("").tag(sync=True)
    zoom = t.Unicode("fit").tag(sync=True)
    lanes = t.Unicode("actor").tag(sync=True)
    direction = t.Unicode("TB").tag(sync=True)
    view_controls = t.Bool(True).tag(sync=True)
    selectable = t.Bool(True).tag(sync=True)
    shortcuts = t.Bool(False).tag(sync=True)
    hint = t.Unicode("").tag(sync=True)
    height = t.Unicode("760px").tag(sync=True)
    presentation_px = t.Int(PRESENTATION_PX).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._actions: dict[str, Callable[[], Any]] = {}
        self.on_msg(self._on_message)

    def on_action(self, name: str, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` when the browser sends ``name`` (``undo``, ``redo``, ``escape``, ``delete``)."""
        self._actions[name] = callback

    def send_action(self, name: str) -> None:
        """Act as if the browser had sent ``name`` (what a keyboard shortcut does; for code and tests)."""
        callback = self._actions.get(name)
        if callback is not None:
            callback()

    def _on_message(self, _: Any, content: Any, buffers: Any = None) -> None:
        if isinstance(content, dict) and isinstance(content.get("action"), str):
            self.send_action(content["action"])

    @property
    def value(self) -> str:
        """The SVG text shown (read-only; the name the diagram's earlier HTML widget had)."""
        return str(self.svg)

    @property
    def selected_nodes(self) -> list[str]:
        return [item for item in self.selected if split_edge_id(item) is None]

    @property
    def selected_edges(self) -> list[tuple[str, str]]:
        return [pair for pair in map(split_edge_id, self.selected) if pair is not None]
