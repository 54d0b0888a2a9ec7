"""The studio's shared pieces: the CSS, small widget makers and the base every tab builds on."""

from __future__ import annotations

import html
import io as _io
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as w

from studio.errors import LoadError, StudioError
from studio.widgets.controller import (
    DISTRIBUTIONS,
    EditRefused,
    StudioController,
    describe_distribution,
    make_distribution,
)

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


class StudioBase:
    """What every part of the studio shares: the controller, the status line and the plumbing that
    runs a controller call and shows its message. The tabs (:mod:`~studio.widgets.map_tab`,
    :mod:`~studio.widgets.forms`, :mod:`~studio.widgets.simulate_tab`, :mod:`~studio.widgets.walk_tab`,
    :mod:`~studio.widgets.export_tab`) are mixins of :class:`~studio.widgets.studio.Studio` built on it;
    the methods below that raise are the ones a tab calls on another (Studio has them all)."""

    controller: StudioController
    status: Any
    tabs: Any
    _quiet: int
    _connect_from: str | None
    workshop_tab: Any
    _finding_lines: list[str]

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

    def refresh(self) -> None:
        raise NotImplementedError  # Studio

    def _redraw(self) -> None:
        raise NotImplementedError  # the Map tab

    def _mark(self, items: Sequence[str]) -> None:
        raise NotImplementedError  # the Map tab

    def _show_walk(self, walk: Any) -> None:
        raise NotImplementedError  # the Walk a case tab
