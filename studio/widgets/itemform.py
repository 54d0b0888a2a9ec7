"""One generic form for the Map tab: a table of fields per item kind, one class that builds, lays out,
loads and reads any of them.

A form is a :class:`FormSpec`: which section of the workflow it edits, its pick list, the controller
calls an edit goes through, and a tuple of :class:`Field` rows. A row names the edit's keyword, its
label and placeholder and its widget (:class:`Text`, :class:`Choice`, :class:`Many`, :class:`Check`,
:class:`Count`, :class:`Condition`, :class:`Distribution`, :class:`WorkingTime`, :class:`Limit`,
:class:`Models`). Which node or actor kinds show a row comes from the pydantic models of
:mod:`studio.model` (a row shows for the kinds whose model has the field), and its tooltip is the
model field's description; a row states ``kinds`` only where the form deliberately shows less.
:class:`ItemForm` builds the widgets, shows the rows the chosen kind has, loads an item from the
workflow and reads the form back into the controller's edit (rows the kind does not show are left
out of it, so an edit never touches what the form does not show).

Every widget is also an attribute of the studio, ``<prefix>_<name>`` (``studio.node_pick``,
``studio.node_sla``, ``studio.actor_calendar``...), as notebooks and tests use them.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import ipywidgets as w
from pydantic import BaseModel

from studio.model import format_duration
from studio.widgets._parts import (
    FIELD,
    FORM_WIDTH,
    NEW,
    StudioBase,
    _button,
    _Calendar,
    _details,
    _dropdown,
    _Duration,
    _multi,
    _show,
    _text,
)
from studio.widgets.controller import StudioController, parse_output_models
from studio.widgets.present import _esc

__all__ = [
    "Check",
    "Choice",
    "Condition",
    "Count",
    "Distribution",
    "Field",
    "FormSpec",
    "ItemForm",
    "Limit",
    "Many",
    "Models",
    "Text",
    "WorkingTime",
    "as_duration",
    "as_list",
    "as_number",
    "as_text",
]

Options = Callable[[StudioController], list[Any]]
"""A pick list's entries from the current workflow: ids, or ``(label, value)`` pairs."""


# --------------------------------------------------------------------------- how a value reads in a text box


def as_text(value: Any) -> str:
    """A model value as a text box shows it (None: empty)."""
    return "" if value is None else str(value)


def as_duration(value: Any) -> str:
    """Seconds as the file writes them (``4h``, ``1d``)."""
    return "" if value is None else format_duration(value)


def as_number(value: Any) -> str:
    """A number without trailing zeros (``0.9``, ``12.5``)."""
    return "" if value is None else f"{value:g}"


def as_list(value: Any) -> str:
    """A list of names, comma separated."""
    return ", ".join(value or ())


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def as_chain(value: Any) -> str:
    """An escalation chain as ``team_leads@4h, directors@8h`` (empty: none)."""
    return ", ".join(f"{level.to}@{format_duration(level.after)}" for level in value or ())


def _chain(text: str) -> list[dict[str, str]] | None:
    """``team_leads@4h, directors@8h`` as the chain's levels (the model checks pools and times)."""
    levels = []
    for part in _split(text):
        to, _, after = part.partition("@")
        levels.append({"to": to.strip(), "after": after.strip()})
    return levels or None


# --------------------------------------------------------------------------- the inputs (a row's widgets)


class _Input:
    """A row's widgets: ``box`` is laid out (and hidden for kinds without the row); ``set`` shows a
    model value (None: empty), ``value`` is what the controller's edit takes (it may raise
    :class:`~studio.widgets.controller.EditRefused`, shown in the status line)."""

    main: Any  # the widget the label and tooltip belong to
    boxes: list[Any]  # what the form lays out, in order (and hides for kinds without the row)

    def set(self, value: Any) -> None:
        self.main.value = value

    def value(self) -> Any:
        return self.main.value

    def parts(self, name: str) -> dict[str, Any]:
        """The widgets by their attribute names (``name`` is the row's)."""
        return {name: self.main}

    def watched(self) -> list[Any]:
        """The widgets whose values the person edits."""
        return [self.main]

    def refresh(self, controller: StudioController) -> None:
        """Take the current workflow's choices (pick lists)."""

    def relabel(self, label: str, hint: str | None) -> None:
        self.main.description = label
        if hint is not None:
            self.main.placeholder = hint

    def explain(self, text: str) -> None:
        self.main.tooltip = text or None


class _TextInput(_Input):
    def __init__(self, spec: Text, label: str, hint: str) -> None:
        self.spec = spec
        self.main = _text(label, hint)
        self.boxes = [self.main]

    def set(self, value: Any) -> None:
        self.main.value = self.spec.show(value)

    def value(self) -> Any:
        return self.spec.parse(self.main.value) if self.spec.parse is not None else self.main.value


class _ChoiceInput(_Input):
    def __init__(self, spec: Choice, label: str) -> None:
        self.spec = spec
        # a list from the workflow starts empty (nothing chosen) and is filled by `refresh`
        self.main = _dropdown(label, [] if callable(spec.options) else list(spec.options), spec.default)
        self.boxes = [self.main]

    def refresh(self, controller: StudioController) -> None:
        if callable(self.spec.options):
            self.main.options = self.spec.options(controller)

    def set(self, value: Any) -> None:
        """Show ``value`` when it is a choice; otherwise the blank choice where there is one (a list
        without one, such as a kind, keeps what was last chosen)."""
        value = value.value if isinstance(value, Enum) else value
        values = [option[1] if isinstance(option, tuple) else option for option in self.main.options]
        if value in values:
            self.main.value = value
        elif "" in values:
            self.main.value = ""

    def value(self) -> Any:
        return None if self.main.value == "" else self.main.value


class _ManyInput(_Input):
    def __init__(self, spec: Many, label: str) -> None:
        self.spec = spec
        self.main = _multi(label)
        self.boxes = [self.main]

    def refresh(self, controller: StudioController) -> None:
        self.main.options = self.spec.options(controller)

    def set(self, value: Any) -> None:
        self.main.value = tuple(x for x in value or () if x in self.main.options)

    def value(self) -> Any:
        return list(self.main.value)


class _CheckInput(_Input):
    def __init__(self, label: str) -> None:
        self.main = w.Checkbox(description=label, style=FIELD)
        self.boxes = [self.main]

    def set(self, value: Any) -> None:
        self.main.value = bool(value)

    def value(self) -> Any:
        return self.main.value or None  # unticked: the field is left out, its default (false) applies


class _CountInput(_Input):
    """A whole number between ``LOW`` and ``HIGH`` (empty shows ``LOW``)."""

    LOW, HIGH, WIDTH = 1, 100_000, "260px"

    def __init__(self, label: str) -> None:
        self.main = w.BoundedIntText(
            value=self.LOW, min=self.LOW, max=self.HIGH, description=label, style=FIELD,
            layout=w.Layout(width=self.WIDTH),
        )
        self.boxes = [self.main]

    def set(self, value: Any) -> None:
        self.main.value = self.LOW if value is None else value


class _ConditionInput(_Input):
    """A condition and, under it, whether it parses (a caret under the column where it does not)."""

    def __init__(self, spec: Condition, label: str, hint: str, caret: Callable[[str], Any]) -> None:
        self.spec, self.caret = spec, caret
        self.main = _text(label, hint)
        self.check = w.HTML()
        self.boxes = [self.main, self.check]
        self.main.observe(lambda change: self.show_check(change["new"]), names="value")

    def parts(self, name: str) -> dict[str, Any]:
        return {name: self.main, self.spec.check or f"{name}_check": self.check}

    def set(self, value: Any) -> None:
        self.main.value = value or ""
        self.show_check(self.main.value)

    def show_check(self, text: str) -> None:
        caret = self.caret(text)
        if not text.strip():
            self.check.value = ""
        elif caret is None:
            self.check.value = '<span class="wds-ok">✓ valid condition</span>'
        else:
            column, message = caret
            pointer = " " * (column - 1) + "^"
            self.check.value = (
                f'<div class="wds-bad">✗ column {column}: {_esc(message)}</div>'
                f'<div class="wds-mono">{_esc(text)}\n{pointer}</div>'
            )


class _DistributionInput(_Input):
    def __init__(self, label: str) -> None:
        self.duration = _Duration(label)
        self.main, self.boxes = self.duration.dist, [self.duration.box]

    def parts(self, name: str) -> dict[str, Any]:
        return {name: self.duration}

    def watched(self) -> list[Any]:
        return [self.duration.dist, *self.duration.fields, *self.duration.bounds.values()]

    def set(self, value: Any) -> None:
        self.duration.set(value)

    def value(self) -> Any:
        return self.duration.value()


class _WorkingTimeInput(_Input):
    def __init__(self, spec: WorkingTime) -> None:
        self.calendar = _Calendar(spec.what, spec.place)
        self.main, self.boxes = self.calendar.days, [self.calendar.box]

    def parts(self, name: str) -> dict[str, Any]:
        return {name: self.calendar}

    def watched(self) -> list[Any]:
        return [self.calendar.days, self.calendar.hours, self.calendar.timezone]

    def relabel(self, label: str, hint: str | None) -> None:
        pass  # its three boxes carry their own labels

    def set(self, value: Any) -> None:
        self.calendar.set(value)

    def value(self) -> Any:
        return self.calendar.value()


class _LimitInput(_Input):
    """A rate limit: calls (empty: no limit) per a period (empty: a minute)."""

    DEFAULT_PER = "1m"

    def __init__(self, label: str, hint: str) -> None:
        self.main = _text(label, hint)
        self.per = _text("  per", "e.g. 1m")
        self.boxes = [self.main, self.per]

    def parts(self, name: str) -> dict[str, Any]:
        return {name: self.main, "per": self.per}

    def watched(self) -> list[Any]:
        return [self.main, self.per]

    def set(self, value: Any) -> None:
        self.main.value = "" if value is None else str(value.calls)
        self.per.value = "" if value is None else format_duration(value.per)

    def value(self) -> Any:
        calls, per = self.main.value.strip(), self.per.value.strip()
        return {"calls": calls, "per": per or self.DEFAULT_PER} if calls else None


class _ModelsInput(_Input):
    """YAML in a text area that joins the page only when opened: the form stays short (and the page's
    other text areas, the scenarios, keep their places)."""

    BUTTON = "Output models (YAML)"
    PLACEHOLDER = (
        "YAML, simulation only, e.g.\nfraud_score: {value: {dist: uniform, low: 0, high: 1}}\n"
        "severity: {choice: {low: 0.7, high: 0.3}}"
    )

    def __init__(self, label: str) -> None:
        self.main = w.Textarea(
            description=label, placeholder=self.PLACEHOLDER, rows=5, style=FIELD, layout=w.Layout(width=FORM_WIDTH)
        )
        self.open = w.ToggleButton(description=self.BUTTON, tooltip="How simulation sets each output", icon="pencil")
        self.box = w.VBox([self.open])
        self.boxes = [self.box]
        self.open.observe(lambda _: self.fold(), names="value")

    def parts(self, name: str) -> dict[str, Any]:
        return {name: self.main, f"{name}_open": self.open, f"{name}_box": self.box}

    def fold(self) -> None:
        self.box.children = [self.open, *([self.main] if self.open.value else [])]
        count = sum(1 for line in self.main.value.splitlines() if line[:1] not in " #-\t" and ":" in line)
        self.open.description = self.BUTTON + (f": {count} set" if count else "")

    def explain(self, text: str) -> None:
        pass  # the button's tooltip says what it is

    def set(self, value: Any) -> None:
        self.main.value = value or ""
        self.fold()

    def value(self) -> Any:
        return parse_output_models(self.main.value)


# --------------------------------------------------------------------------- the widget kinds of a row


@dataclass(frozen=True)
class Text:
    """A text box; ``show`` turns the model's value into text, ``parse`` the text into the edit's
    value (default: the text, which the controller checks and converts)."""

    show: Callable[[Any], str] = as_text
    parse: Callable[[str], Any] | None = None

    def build(self, label: str, hint: str, _: ItemForm) -> _Input:
        return _TextInput(self, label, hint)


LIST = Text(show=as_list, parse=_split)
CHAIN = Text(show=as_chain, parse=_chain)
DURATION = Text(show=as_duration)
NUMBER = Text(show=as_number)


@dataclass(frozen=True)
class Choice:
    """A drop-down: fixed ``options`` (values, or ``(label, value)`` pairs) or a function of the
    workflow (refreshed after every change); ``""`` is the blank choice, sent as None."""

    options: Sequence[Any] | Options
    default: Any = None

    def build(self, label: str, _: str, __: ItemForm) -> _Input:
        return _ChoiceInput(self, label)


@dataclass(frozen=True)
class Many:
    """A multiple choice among names from the workflow."""

    options: Options

    def build(self, label: str, _: str, __: ItemForm) -> _Input:
        return _ManyInput(self, label)


@dataclass(frozen=True)
class Check:
    """A tick box (unticked leaves the field out: its default applies)."""

    def build(self, label: str, _: str, __: ItemForm) -> _Input:
        return _CheckInput(label)


@dataclass(frozen=True)
class Count:
    """A whole number from 1 (empty shows 1)."""

    def build(self, label: str, _: str, __: ItemForm) -> _Input:
        return _CountInput(label)


@dataclass(frozen=True)
class Condition:
    """A condition in the safe language, checked as it is typed; ``check`` names the attribute of the
    check under it (default ``<row>_check``)."""

    check: str | None = None

    def build(self, label: str, hint: str, form: ItemForm) -> _Input:
        return _ConditionInput(self, label, hint, form.host.controller.condition_caret)


@dataclass(frozen=True)
class Distribution:
    """A duration with a distribution (:class:`~studio.widgets._parts._Duration`)."""

    def build(self, label: str, _: str, __: ItemForm) -> _Input:
        return _DistributionInput(label)


@dataclass(frozen=True)
class WorkingTime:
    """Working days, hours and time zone (:class:`~studio.widgets._parts._Calendar`)."""

    what: str = "works"
    place: str = "calendar"

    def build(self, _: str, __: str, ___: ItemForm) -> _Input:
        return _WorkingTimeInput(self)


@dataclass(frozen=True)
class Limit:
    """A rate limit: the row's box takes the calls, a ``per`` box the period (empty: a minute)."""

    def build(self, label: str, hint: str, _: ItemForm) -> _Input:
        return _LimitInput(label, hint)


@dataclass(frozen=True)
class Models:
    """Output models as YAML, in a text area opened by a button."""

    def build(self, label: str, _: str, __: ItemForm) -> _Input:
        return _ModelsInput(label)


Widget = Text | Choice | Many | Check | Count | Condition | Distribution | WorkingTime | Limit | Models


# --------------------------------------------------------------------------- a row, a form


@dataclass(frozen=True)
class Field:
    """One row of a form.

    ``key`` is the controller edit's keyword (a mapping kind -> keyword when it differs by kind);
    ``path`` where the value is in the model item (dotted, ``{key}`` for the keyword; default the
    keyword), or ``read(controller, item, key)``; ``name`` the attribute suffix (default the keyword);
    ``kinds`` the kinds that show it (default: those whose model has the path's first field);
    ``labels`` and ``hints`` per-kind labels and placeholders; ``more`` puts it in the folded section.
    The tooltip is the model field's description.
    """

    key: str | Mapping[str, str]
    label: str
    hint: str = ""
    widget: Widget = Text()
    name: str | None = None
    path: str = "{key}"
    read: Callable[[StudioController, Any, str], Any] | None = None
    kinds: tuple[str, ...] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)
    more: bool = False

    @property
    def attr(self) -> str:
        return self.name or (self.key if isinstance(self.key, str) else next(iter(self.key.values())))

    def key_for(self, kind: str) -> str:
        return self.key if isinstance(self.key, str) else self.key[kind]

    def path_for(self, kind: str) -> str:
        return self.path.format(key=self.key_for(kind))


@dataclass(frozen=True)
class FormSpec:
    """One form: ``prefix`` of its attributes, the ``section`` it edits, the controller's ``edit``
    methods (``add_<edit>``, ``update_<edit>``, ``delete_<edit>``), ``models`` kind -> pydantic model
    (one entry under ``""`` for a section without kinds), the ``kind`` row's name, the ``fields``.

    An item form has a pick list (``pick`` its label, ``new`` its first entry, ``choices`` the rest,
    ``item`` the model item for a picked value) and Add, Save changes and Delete buttons; ``marks``
    what the diagram selects for a picked value. A settings form (``pick`` None) edits one part of
    the workflow (``item``) and has one ``save`` button (``save_name`` its attribute); a row its kind
    hides is sent as None there (removed).
    """

    prefix: str
    section: str
    what: str
    edit: str
    models: Mapping[str, type[BaseModel]]
    fields: tuple[Field, ...]
    item: Callable[[Any, Any], Any]
    kind: str | None = None
    pick: str | None = None
    new: tuple[str, Any] = ("", NEW)
    choices: Callable[[StudioController], list[tuple[str, Any]]] | None = None
    add_tip: str = ""
    delete_tip: str = ""
    delete_options: Mapping[str, Any] = field(default_factory=dict)
    more: str = ""
    marks: Callable[[Any, Any], list[str]] | None = None
    add: Callable[[StudioController, dict[str, Any]], Any] | None = None
    added: Callable[[Any, Mapping[str, Any]], Any] | None = None
    title: str = ""
    save: tuple[str, str] = ("", "")
    save_name: str | None = None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (through ``X | None`` and ``Annotated``), if one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _described(model: type[BaseModel], path: str) -> tuple[bool, str]:
    """Whether ``model`` has the dotted ``path``'s first field, and the last field's description."""
    parts = path.split(".")
    if parts[0] not in model.model_fields:
        return False, ""
    current: type[BaseModel] | None = model
    description = ""
    for part in parts:
        info = current.model_fields.get(part) if current is not None else None
        if info is None:
            return True, ""
        description, current = info.description or "", _model_of(info.annotation)
    return True, description


def _walk(item: Any, path: str) -> Any:
    for part in path.split("."):
        item = getattr(item, part, None)
    return item


class ItemForm:
    """A form built from a :class:`FormSpec` on the studio (``host``): its ``box`` is the page."""

    def __init__(self, spec: FormSpec, host: StudioBase) -> None:
        self.spec, self.host = spec, host
        self.rows: list[tuple[Field, _Input]] = []
        self.shows: dict[str, frozenset[str]] = {}  # row name -> kinds that show it
        self.helps: dict[tuple[str, str], str] = {}  # (row name, kind) -> tooltip
        for row in spec.fields:
            label = row.labels.get(self._first_kind, row.label)
            self.rows.append((row, row.widget.build(label, row.hint, self)))
            self._learn(row)
        self.inputs = {row.attr: widget for row, widget in self.rows}
        self.pick: Any = None
        buttons: list[Any] = []
        if spec.pick is not None:
            self.pick = _dropdown(spec.pick, [spec.new], spec.new[1])
            self.pick.observe(host._unless_quiet(self._on_pick), names="value")
            buttons = self._item_buttons()
        else:
            self.save_button = _button(spec.save[0], "primary", spec.save[1], "check")
            self.save_button.on_click(lambda _: self.host._act(self.save))
            for _, widget in self.rows:
                for part in widget.watched():
                    part.observe(host._unless_quiet(lambda: self.mark_unsaved(True)), names="value")
            buttons = [self.save_button]
        if spec.kind is not None:
            self.inputs[spec.kind].main.observe(lambda _: self._on_kind(), names="value")
        main = [box for row, widget in self.rows if not row.more for box in widget.boxes]
        folded = [box for row, widget in self.rows if row.more for box in widget.boxes]
        self.details = _details(spec.more, folded) if folded else None
        self.box = w.VBox(
            [
                *([w.HTML(spec.title)] if spec.title else []),
                *([self.pick] if self.pick is not None else []),
                *main,
                w.HBox(buttons) if spec.pick is not None else buttons[0],
                *([self.details] if self.details is not None else []),
            ]
        )
        self.layout()

    @property
    def _first_kind(self) -> str:
        return next(iter(self.spec.models))

    def _learn(self, row: Field) -> None:
        shown = set()
        for kind, model in self.spec.models.items():
            has, description = _described(model, row.path_for(kind))
            if (row.kinds is None and has) or (row.kinds is not None and kind in row.kinds):
                shown.add(kind)
            self.helps[row.attr, kind] = description
        if not shown:
            raise ValueError(f"form `{self.spec.prefix}`: row `{row.attr}` shows for no kind; check its `path`")
        self.shows[row.attr] = frozenset(shown)

    def _item_buttons(self) -> list[Any]:
        spec, what = self.spec, self.spec.what
        self.add_button = _button(f"Add {what}", "success", spec.add_tip, "plus")
        self.update_button = _button("Save changes", "primary", f"Change the selected {what}", "check")
        self.delete_button = _button(f"Delete {what}", "danger", spec.delete_tip or f"Delete the selected {what}",
                                     "trash")
        self.add_button.on_click(lambda _: self.add())
        self.update_button.on_click(lambda _: self.update())
        self.delete_button.on_click(lambda _: self.delete())
        return [self.add_button, self.update_button, self.delete_button]

    def parts(self) -> dict[str, Any]:
        """Every widget by its attribute name on the studio (``node_pick``, ``node_sla``...)."""
        prefix = self.spec.prefix
        named: dict[str, Any] = {}
        for row, widget in self.rows:
            named.update({f"{prefix}_{name}": part for name, part in widget.parts(row.attr).items()})
        if self.pick is not None:
            named.update({f"{prefix}_pick": self.pick, f"{prefix}_add": self.add_button,
                          f"{prefix}_update": self.update_button, f"{prefix}_delete": self.delete_button})
        else:
            named[self.spec.save_name or f"{prefix}_save"] = self.save_button
        if self.details is not None:
            named[f"{prefix}_details"] = self.details
        return named

    # ------------------------------------------------------------------ kinds

    @property
    def kind(self) -> str:
        """The chosen kind (``""`` for a section without kinds)."""
        return str(self.inputs[self.spec.kind].main.value) if self.spec.kind is not None else ""

    def shown(self, row: Field, kind: str) -> bool:
        return kind in self.shows[row.attr]

    def layout(self) -> None:
        """Show the rows the chosen kind has, with that kind's labels and tooltips."""
        kind = self.kind
        for row, widget in self.rows:
            visible = self.shown(row, kind)
            for box in widget.boxes:
                _show(box, visible)
            if row.labels or row.hints:
                widget.relabel(row.labels.get(kind, row.label), row.hints.get(kind))
            if visible:
                widget.explain(self.helps.get((row.attr, kind), ""))

    def _on_kind(self) -> None:
        self.layout()
        if self.host._quiet or all(isinstance(row.key, str) for row, _ in self.rows):
            return
        # a row whose keyword differs by kind shows the saved value of the new kind's keyword
        item = self._item()
        for row, widget in self.rows:
            if not isinstance(row.key, str):
                widget.set(self._read(row, item, self.kind) if item is not None else None)

    # ------------------------------------------------------------------ loading and reading

    def _item(self) -> Any:
        wf = self.host.controller.workflow
        if self.pick is None:
            return self.spec.item(wf, None)
        key = self.pick.value
        return None if key is None or key == self.spec.new[1] else self.spec.item(wf, key)

    def _read(self, row: Field, item: Any, kind: str) -> Any:
        key = row.key_for(kind)
        if row.read is not None:
            return row.read(self.host.controller, item, key)
        return _walk(item, row.path_for(kind))

    def load(self) -> None:
        """Show the picked item (empty rows for a new one; a kind list keeps its choice)."""
        item = self._item()
        if self.pick is not None:
            self.update_button.disabled = self.delete_button.disabled = item is None
        else:
            self.mark_unsaved(False)
        kind_row = self.inputs.get(self.spec.kind or "")
        if kind_row is not None and item is not None:
            kind_field = next(row for row, widget in self.rows if widget is kind_row)
            kind_row.set(self._read(kind_field, item, self.kind))
        kind = self.kind
        for row, widget in self.rows:
            if widget is not kind_row:
                shown = item is not None and self.shown(row, kind)
                widget.set(self._read(row, item, kind) if shown else None)
        self.layout()

    def values(self) -> dict[str, Any]:
        """The controller edit's keywords: the rows the chosen kind shows (a settings form sends the
        hidden ones as None)."""
        kind = self.kind
        out: dict[str, Any] = {}
        for row, widget in self.rows:
            if self.shown(row, kind):
                out[row.key_for(kind)] = widget.value()
            elif self.pick is None and isinstance(row.key, str):
                out[row.key] = None
        return out

    def refresh(self) -> None:
        """The pick list and the rows' choices from the current workflow (the picked item kept)."""
        c = self.host.controller
        if self.pick is not None and self.spec.choices is not None:
            keep = self.pick.value
            entries = [self.spec.new, *self.spec.choices(c)]
            self.pick.options = entries
            self.pick.value = keep if keep in [value for _, value in entries] else self.spec.new[1]
        for _, widget in self.rows:
            widget.refresh(c)

    def select(self, key: Any) -> None:
        """Pick ``key`` (as choosing it in the pick list does)."""
        self.pick.value = key

    # ------------------------------------------------------------------ the buttons

    def _on_pick(self) -> None:
        with self.host._quietly():
            self.load()
        if self.spec.marks is not None:
            self.host._mark(self.spec.marks(self.host.controller.workflow, self.pick.value))

    def _commit(self, action: Callable[[], Any], key: Callable[[], Any]) -> None:
        """Add and Save changes: run the controller call; when it is accepted, pick the item under
        its (new) key and load it again. Refused, the form keeps its text."""
        if self.host._act(action) is None:
            return
        with self.host._quietly():
            self.pick.value = key()
            self.load()
        if self.spec.marks is not None:
            self.host._mark(self.spec.marks(self.host.controller.workflow, self.pick.value))

    def add(self) -> None:
        c, spec, sent = self.host.controller, self.spec, {}

        def action() -> Any:
            sent.update(self.values())
            if spec.add is not None:
                return spec.add(c, dict(sent))
            return getattr(c, f"add_{spec.edit}")(**sent)

        def key() -> Any:
            return spec.added(c.workflow, sent) if spec.added is not None else str(sent["id"]).strip()

        self._commit(action, key)

    def update(self) -> None:
        c, old, sent = self.host.controller, self.pick.value, {}

        def action() -> Any:
            sent.update(self.values())
            return getattr(c, f"update_{self.spec.edit}")(old, **sent)

        self._commit(action, lambda: str(sent["id"]).strip() if "id" in sent else old)

    def delete(self) -> None:
        c, key = self.host.controller, self.pick.value
        done = self.host._act(lambda: getattr(c, f"delete_{self.spec.edit}")(key, **self.spec.delete_options))
        if done is not None and self.spec.marks is not None:
            self.host._mark([])

    def save(self) -> Any:
        """A settings form's Save: one controller call with every row."""
        return getattr(self.host.controller, f"update_{self.spec.edit}")(**self.values())

    def mark_unsaved(self, unsaved: bool) -> None:
        """A settings form's Save button says when the form holds values not saved yet."""
        button = self.save_button
        text = button.description.removesuffix(" (changed)")
        button.description = f"{text} (changed)" if unsaved else text
        button.button_style = "warning" if unsaved else "primary"
