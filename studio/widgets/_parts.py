"""The studio's shared pieces: the CSS, small widget makers and the base every tab builds on."""

from __future__ import annotations

import asyncio
import io as _io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as w

from studio.errors import LoadError, StudioError
from studio.model import _TIME, Weekday
from studio.widgets.controller import (
    DISTRIBUTIONS,
    NUMBER_PARAMS,
    EditRefused,
    StudioController,
    describe_distribution,
    make_distribution,
)
from studio.widgets.present import _esc

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


SETTLE_SECONDS = 0.1
"""How long a button press waits, in a running kernel, for field edits the browser still holds back."""


class _Button(w.Button):  # type: ignore[misc]
    """A button whose clicks in the browser act after the browser's pending field edits reach Python.

    ipywidgets sends a click at once but holds back a field's latest value while the kernel is busy
    (its message throttle applies to value updates, not to clicks), so "type, then click Save" could
    save the value from before the typing. A click from the browser, in a running kernel, runs the
    handlers a moment later, after the held-back updates; ``button.click()`` from Python (notebooks,
    tests) and clicks without an event loop act at once.
    """

    def _handle_button_msg(self, _: Any, content: Mapping[str, Any], buffers: Any) -> None:
        if content.get("event", "") != "click":
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.click()
        else:
            loop.call_later(SETTLE_SECONDS, self.click)


def _button(text: str, style: str = "", tooltip: str = "", icon: str = "") -> Any:
    return _Button(
        description=text, button_style=style, tooltip=tooltip or text, icon=icon, layout=w.Layout(width="auto")
    )


def _show(widget: Any, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


def _png(figure: Any) -> bytes:
    """PNG bytes of a matplotlib figure (closed afterwards so the notebook does not show it twice)."""
    buffer = _io.BytesIO()
    figure.savefig(buffer, format="png", dpi=130, bbox_inches="tight")
    if getattr(figure.canvas, "manager", None) is not None:  # made through pyplot: let it go
        import matplotlib.pyplot as plt  # noqa: PLC0415

        plt.close(figure)
    return buffer.getvalue()


def _fit_width(svg: str) -> str:
    """The SVG without its own width and height on the ``<svg>`` tag, so the page's CSS fits it to the width."""
    match = _SVG_OPEN.search(svg)
    if match is None:
        return svg
    tag = re.sub(r'\s(width|height)="[^"]*"', "", match.group(0))
    return svg[: match.start()] + tag + svg[match.end() :]


def _details(title: str, children: Sequence[Any]) -> Any:
    """A folded section for the fields needed less often (the form stays short on a projector)."""
    section = w.Accordion(children=[w.VBox(list(children))], selected_index=None)
    section.set_title(0, title)
    return section


class _Duration:
    """A duration with a distribution: a Dropdown of distributions, its parameters and the optional
    shift and truncation (``loc``, ``min``, ``max``) any distribution may take."""

    def __init__(self, description: str = "Duration") -> None:
        options = [("not set (use the actor's)", ""), *[(name, name) for name in DISTRIBUTIONS]]
        self.dist = _dropdown(description, options, "")
        self.fields = [_text("", "e.g. 15m") for _ in range(max(len(p) for p in DISTRIBUTIONS.values()))]
        self.bounds = {
            "loc": _text("  shift (loc)", "added to every draw, e.g. 2m (optional)"),
            "min": _text("  at least (min)", "shortest draw, e.g. 1m (optional)"),
            "max": _text("  at most (max)", "longest draw, e.g. 2h (optional)"),
        }
        self.box = w.VBox([self.dist, *self.fields, *self.bounds.values()])
        self.dist.observe(lambda _: self._layout(), names="value")
        self._layout()

    @property
    def params(self) -> list[Any]:
        """The chosen distribution's parameter fields, in the order of :data:`DISTRIBUTIONS`."""
        return self.fields[: len(DISTRIBUTIONS.get(self.dist.value, ()))]

    def _layout(self) -> None:
        names = DISTRIBUTIONS.get(self.dist.value, ())
        for index, widget in enumerate(self.fields):
            visible = index < len(names)
            _show(widget, visible)
            if visible:
                widget.description = f"  {names[index]}"
                widget.placeholder = (
                    "a number, e.g. 1.5" if names[index] in NUMBER_PARAMS else "e.g. 20s, 15m, 2h"
                ) + (" (or the other pair)" if self.dist.value == "gamma" else "")
        for name, widget in self.bounds.items():
            _show(widget, bool(names) and name not in names)

    def value(self) -> str | dict[str, Any] | None:
        names = DISTRIBUTIONS.get(self.dist.value, ())
        params = {name: self.fields[i].value for i, name in enumerate(names)}
        params.update({name: widget.value for name, widget in self.bounds.items() if name not in names})
        return make_distribution(self.dist.value or None, **params)

    def set(self, duration: Any) -> None:
        dist, params = describe_distribution(duration)
        self.dist.value = dist if dist in DISTRIBUTIONS else ""
        names = DISTRIBUTIONS.get(dist, ())
        for index, widget in enumerate(self.fields):
            widget.value = params.get(names[index], "") if index < len(names) else ""
        for name, widget in self.bounds.items():
            widget.value = params.get(name, "") if name not in names else ""


_HOURS = re.compile(_TIME)  # one time range, as the model's `Calendar.hours` takes it
_WEEK = tuple(day.value for day in Weekday)


class _Calendar:
    """Working time (a human pool's, a system's or the arrivals'): days, hours and time zone; all
    three empty means no calendar. Days are names or ranges: ``mon-fri``, ``mon, wed, sat``. Hours
    that differ by day (the calendar's ``shifts``) go in the hours field with the days left empty:
    ``mon 09:00-17:00; tue-fri 09:00-12:00,13:00-15:00``."""

    def __init__(self, what: str = "works", place: str = "calendar") -> None:
        self.place = place
        self.days = _text("Working days", f"when it {what}, e.g. mon-fri (all empty: no calendar)")
        self.hours = _text("Hours", "e.g. 09:00-17:00 (empty: 09:00-17:00); per day: mon 09:00-17:00; "
                                    "tue-fri 09:00-12:00,13:00-15:00")
        self.timezone = _text("Time zone", "e.g. Europe/Berlin (empty: UTC)")
        self.box = w.VBox([self.days, self.hours, self.timezone])

    def value(self) -> dict[str, Any] | None:
        days, hours, zone = (x.value.strip() for x in (self.days, self.hours, self.timezone))
        if not (days or hours or zone):
            return None
        calendar: dict[str, Any] = {}
        if days:
            calendar["days"] = _days(days)
        if hours and re.search(r"[a-z]", hours, flags=re.I):  # hours per day: the calendar's shifts
            if days:
                raise EditRefused(f"{self.place}: with hours per day (`{hours}`) leave the working days empty; "
                                  "the days are the ones the hours name")
            calendar["shifts"] = self._shifts(hours)
        elif hours:
            hours = hours.replace(" ", "")
            if not _HOURS.fullmatch(hours):
                raise EditRefused(f"{self.place} `hours`: `{hours}` is not a time range; write it like `09:00-17:00`")
            calendar["hours"] = hours
        if zone:
            from studio.validate import _zone_exists  # noqa: PLC0415  (the validator loads networkx)

            if not _zone_exists(zone):
                raise EditRefused(
                    f"{self.place} `timezone`: `{zone}` is not a time zone known here; use a name such as "
                    "`Europe/Berlin`, `America/New_York` or `UTC`"
                )
            calendar["timezone"] = zone
        return calendar

    def _shifts(self, text: str) -> list[dict[str, Any]]:
        """``mon 09:00-17:00; tue-fri 09:00-12:00,13:00-15:00`` as the calendar's ``shifts``."""
        shifts: list[dict[str, Any]] = []
        for part in (p.strip() for p in text.split(";")):
            if not part:
                continue
            match = re.fullmatch(r"([^\d]+?)\s*(\d.*)", part)
            ranges = match.group(2).replace(" ", "") if match else ""
            if match is None or not all(_HOURS.fullmatch(r) for r in ranges.split(",")):
                raise EditRefused(f"{self.place} `hours`: `{part}` is not days and time ranges; write hours per day "
                                  "like `mon 09:00-17:00; tue-fri 09:00-12:00,13:00-15:00`")
            shifts.append({"days": _days(match.group(1).strip().rstrip(":")), "hours": ranges})
        return shifts

    def set(self, calendar: Any) -> None:
        shifts = calendar.shifts if calendar is not None else []
        self.days.value = ", ".join(str(d.value) for d in calendar.days) if calendar is not None and not shifts else ""
        self.hours.value = "; ".join(f"{', '.join(str(d.value) for d in shift.days)} {shift.hours}"
                                     for shift in shifts) if shifts else calendar.hours if calendar is not None else ""
        self.timezone.value = calendar.timezone if calendar is not None else ""


def _days(text: str) -> list[str]:
    """``mon-fri, sun`` as ``[mon, tue, wed, thu, fri, sun]``; a name that is not a day is kept for the
    model to refuse (its message names the field and the allowed days)."""
    out: list[str] = []
    for part in re.split(r"[,\s]+", text.lower()):
        first, dash, last = part.partition("-")
        if dash and first[:3] in _WEEK and last[:3] in _WEEK:
            start, stop = _WEEK.index(first[:3]), _WEEK.index(last[:3])
            if start > stop:
                raise EditRefused(f"working days `{part}`: the range runs backwards; write it like `mon-fri`")
            out.extend(_WEEK[start : stop + 1])
        elif part:
            out.append(part[:3] if part[:3] in _WEEK else part)
    return out


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
