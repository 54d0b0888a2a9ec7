"""The studio's editing logic in plain Python: no widgets here, so all of it is tested without a browser.

:class:`StudioController` holds one :class:`~studio.model.Workflow` and changes it only through
its methods. Every edit works on a plain-data copy of the workflow, is validated by pydantic into a
new ``Workflow`` and only then replaces the old one, so an edit that would make the model invalid
is refused (:class:`EditRefused`, with a message naming the element and the fix) and nothing
changes. Each accepted edit is one step on the undo stack and, when the studio was opened on a
file, is saved to that file at once (atomically; a failed save keeps the edit in memory and says
why in :attr:`StudioController.message`).

The view (``studio.widgets.studio``) only wires ipywidgets to these methods and properties::

    edits      add_node, insert_step, update_node, delete_node (rejoin=), add_edge, update_edge, delete_edge,
               add_actor / update_actor / delete_actor, add_tool / ..., add_data_source / ...,
               update_metadata, update_policies, update_simulation, undo, redo
    files      save, load, new_blank, from_template, copy_template (keeps an existing copy),
               rotating backups of every autosave (studio._backup)
    reading    workflow, findings, diagram_svg, check_condition, select_finding, options_for
    simulate   run_simulation, compare_scenarios, parse_scenario   (studio.simulate)
    walk       start_walkthrough, answer, walkthrough_state          (studio.simulate.Walkthrough)
    export     export                                                (studio.export when present)
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import EllipsisType
from typing import Any, Literal

from pydantic import ValidationError

from studio import _backup, io
from studio.errors import (
    Finding,
    GraphvizMissing,
    LoadError,
    Severity,
    StudioError,
    WorkflowInvalid,
    has_errors,
    sort_findings,
)
from studio.expr import check as check_expression
from studio.model import (
    NODE_KINDS,
    Agent,
    Approval,
    Autonomy,
    Behaviour,
    Decision,
    End,
    Human,
    Join,
    Parallel,
    Start,
    Subworkflow,
    System,
    Task,
    Workflow,
    format_duration,
)
from studio.templates import blank_workflow, get_template, template_names, templates_dir

__all__ = [
    "ACTOR_KINDS",
    "ARRIVALS",
    "ARRIVAL_EXAMPLES",
    "AUTONOMY",
    "BOUNDS",
    "DISTRIBUTIONS",
    "NODE_KINDS",
    "NUMBER_PARAMS",
    "POLICY_FIELDS",
    "SECTIONS",
    "SIMULATION_FIELDS",
    "TIERS",
    "EditRefused",
    "ExportResult",
    "StudioController",
    "blank_workflow",
    "copy_template",
    "describe_distribution",
    "make_distribution",
    "parse_output_models",
    "parse_scenario",
]

Section = Literal["nodes", "edges", "actors", "tools", "data_sources"]
SECTIONS: tuple[Section, ...] = ("nodes", "edges", "actors", "tools", "data_sources")
ACTOR_KINDS: tuple[str, ...] = ("agent", "human", "system")
TIERS: tuple[str, ...] = ("read_only", "restricted_write", "critical")
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "normal": ("mean", "sd"),
    "lognormal": ("mean", "sd"),
    "exponential": ("mean",),
    "gamma": ("shape", "scale", "mean", "sd"),
    "exponnorm": ("k", "loc", "scale"),
}
"""Distribution name -> its parameters (each a duration such as ``20s``, ``15m``, ``2h``, except the plain
numbers in :data:`NUMBER_PARAMS`); ``gamma`` takes either ``shape`` and ``scale`` or ``mean`` and ``sd``,
and ``exponnorm``'s ``loc`` may be left out (0)."""
NUMBER_PARAMS: frozenset[str] = frozenset({"shape", "k"})
"""Distribution parameters that are plain numbers, not durations."""
BOUNDS: tuple[str, ...] = ("loc", "min", "max")
"""What any distribution may add (each optional): a shift added to every draw, and truncation."""
_OPTIONAL_PARAMS: dict[str, frozenset[str]] = {
    "gamma": frozenset({"shape", "scale", "mean", "sd"}),  # one of two pairs, checked on its own
    "exponnorm": frozenset({"loc"}),
}

_BEHAVIOUR_FIELDS = frozenset(Behaviour.model_fields)
_SINGULAR: dict[str, str] = {
    "nodes": "step",
    "edges": "connection",
    "actors": "actor",
    "tools": "tool",
    "data_sources": "data source",
}
_NODE_MODELS: dict[str, Any] = {
    "start": Start,
    "end": End,
    "task": Task,
    "approval": Approval,
    "decision": Decision,
    "parallel": Parallel,
    "join": Join,
    "subworkflow": Subworkflow,
}
_ACTOR_MODELS: dict[str, Any] = {"agent": Agent, "human": Human, "system": System}
HISTORY_LIMIT = 200
POLICY_FIELDS: tuple[str, ...] = ("max_turns", "max_repeats", "approval_sla", "escalate_to", "retries", "autonomy")
SIMULATION_FIELDS: tuple[str, ...] = ("seed", "start", "cases", "sample_data", "gold_data")
AUTONOMY: tuple[str, ...] = tuple(level.value for level in Autonomy)
ARRIVALS: dict[str, str] = {"poisson": "rate", "fixed": "interval", "column": "column"}
"""Arrival process -> its one parameter."""
ARRIVAL_EXAMPLES: dict[str, str] = {"rate": "30/h", "interval": "2m", "column": "arrival_s"}
"""An arrival parameter -> an example value (for forms and messages)."""
_Rename = Callable[[dict[str, Any], str, "str | None"], None]


class EditRefused(StudioError, ValueError):
    """An edit was refused; the workflow is exactly as it was before the edit."""


# --------------------------------------------------------------------------- small helpers


def make_distribution(dist: str | None, **params: str | float | None) -> str | dict[str, Any] | None:
    """The file form of a duration distribution: ``"15m"`` for fixed, else ``{"dist": ..., ...}``.

    ``dist`` None or ``""`` means "no duration set" (the default applies) and returns None.
    Parameters are durations with units (``"20s"``, ``"15m"``) or numbers of seconds (``shape`` and
    ``k`` are plain numbers); ``loc``, ``min`` and ``max`` (:data:`BOUNDS`) may be given for any
    distribution, empty meaning not set.
    """
    if not dist:
        return None
    if dist not in DISTRIBUTIONS:
        raise EditRefused(f"unknown distribution `{dist}`; use one of {', '.join(DISTRIBUTIONS)}")
    unknown = sorted(set(params) - set(DISTRIBUTIONS[dist]) - set(BOUNDS))
    if unknown:
        raise EditRefused(
            f"a `{dist}` duration has no `{unknown[0]}`; it takes {', '.join((*DISTRIBUTIONS[dist], *BOUNDS))}"
        )
    values: dict[str, Any] = {}
    for name in (*DISTRIBUTIONS[dist], *(b for b in BOUNDS if b not in DISTRIBUTIONS[dist])):
        value = params.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in BOUNDS or name in _OPTIONAL_PARAMS.get(dist, ()):
                continue
            kind = "a number such as `1.5`" if name in NUMBER_PARAMS else "a duration such as `20s`, `15m` or `2h`"
            article = "an" if dist[0] in "aeiou" else "a"
            raise EditRefused(f"{article} {dist} duration needs `{name}` ({kind})")
        values[name] = value.strip() if isinstance(value, str) else value
    if dist == "gamma" and set(values) - set(BOUNDS) not in ({"shape", "scale"}, {"mean", "sd"}):
        raise EditRefused(
            "a gamma duration needs either `shape` and `scale` (e.g. 2.5 and 4m) or `mean` and `sd` "
            "(e.g. 10m and 6m): one whole pair"
        )
    if dist == "fixed" and not set(values) & set(BOUNDS):
        fixed: str | dict[str, Any] = values["value"]
        return fixed
    return {"dist": dist, **values}


def describe_distribution(duration: Any) -> tuple[str, dict[str, str]]:
    """A model's duration as ``(dist, {param: "15m"})`` for a form (``loc``, ``min`` and ``max`` too,
    when set); ``("", {})`` when unset."""
    if duration is None:
        return "", {}
    dist = str(getattr(duration, "dist", "fixed"))
    attributes = {"min": "minimum", "max": "maximum"}
    params: dict[str, str] = {}
    for name in (*DISTRIBUTIONS.get(dist, ()), *BOUNDS):
        value = getattr(duration, attributes.get(name, name), None)
        if value is not None:
            params[name] = f"{float(value):g}" if name in NUMBER_PARAMS else format_duration(float(value))
    return dist, params


def parse_scenario(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (blank lines and ``#`` comments skipped) as a dict of text values.

    Raises :class:`EditRefused` naming the first line that is not ``KEY=VALUE``.
    """
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise EditRefused(
                f"scenario line {number} `{raw.strip()}` is not KEY=VALUE (e.g. `line_managers.capacity=10`)"
            )
        out[key.strip()] = value.strip()
    return out


_OUTPUT_MODELS_EXAMPLE = "fraud_score: {value: {dist: uniform, low: 0, high: 1}}"


def parse_output_models(text: str) -> dict[str, Any] | None:
    """A task's ``output_models`` written as YAML (output name -> a rule or a list of rules) as plain
    data; None for empty text. Read with the studio's safe YAML reader (never evaluated); text that is
    not YAML, or not such a mapping, raises :class:`EditRefused` naming the line and the fix."""
    if not text.strip():
        return None
    try:
        data, _ = io.parse_text(text, "output models")
    except LoadError as exc:
        finding = exc.findings[0] if exc.findings else None
        where = f" line {finding.line}" if finding is not None and finding.line else ""
        problem = f"{finding.message} ({finding.hint})" if finding is not None else str(exc)
        raise EditRefused(f"output models{where}: {problem}; write YAML like `{_OUTPUT_MODELS_EXAMPLE}`") from None
    if data is None:
        return None
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise EditRefused(
            "output models: write a mapping of output name -> rule (or a list of rules), e.g. "
            f"`{_OUTPUT_MODELS_EXAMPLE}`"
        )
    return data


def copy_template(
    name: str,
    directory: str | os.PathLike[str],
    filename: str = "workflow.yaml",
    *,
    overwrite: bool = False,
    say: Callable[[str], None] | None = print,
) -> Path:
    """Copy template ``name`` (its workflow and sample/gold data) into ``directory``; return the workflow path.

    A working copy that is already there is **kept** (with every edit made to it) and its path is
    returned, so running a notebook again never loses the room's work; ``overwrite=True`` starts
    over from the template, after copying the current file into the backup folder next to it
    (``.studio-backups/``, see :mod:`studio._backup`). Data files already in ``directory`` are kept
    too. ``say`` receives one line saying which of these happened (``None``: silent).
    The workflow is written with :func:`studio.io.save` (atomic), never into the template itself.
    """
    template = get_template(name)
    folder = Path(directory)
    target = folder / filename
    if target.exists() and not overwrite:
        if say is not None:
            say(
                f"Kept your working copy `{target}` with its edits (it already exists); opening it. "
                f"To start over from the template: copy_template({name!r}, ..., overwrite=True) "
                f"(the current file then goes to {_backup.describe(target)})."
            )
        return target
    folder.mkdir(parents=True, exist_ok=True)
    saved = _backup.backup(target)  # None when there was no file yet
    for extra in (template.sample_path, template.gold_path):
        destination = folder / extra.name
        if extra.is_file() and not destination.exists():
            io.atomic_write(destination, extra.read_text(encoding="utf-8"))
    io.save(template.load(), target)
    if say is not None:
        kept = f"; the previous version is in `{saved}`" if saved is not None else ""
        say(f"Copied template `{name}` to `{target}`{kept}. Every change in the studio is saved there.")
    return target


def _is_template(path: Path) -> bool:
    """True for a file inside the studio's templates folder (which the studio never writes)."""
    try:
        root = templates_dir().resolve()
    except FileNotFoundError:
        return False
    return path.resolve().is_relative_to(root)


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, (list, tuple, dict)) and not value)
    )


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, tuple):
        return list(value)
    return value


def _explain(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """Short, element-first messages for a refused edit (at most three problems), worded as a
    file's problems are (:func:`studio.io.validation_findings`), with the element named."""

    def place(loc: tuple[str | int, ...]) -> str:
        where = io.format_location(loc) or "the workflow"
        if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int) and loc[0] in _SINGULAR:
            item = data[loc[0]][loc[1]]
            name = item.get("id") if isinstance(item, dict) else None
            if loc[0] == "edges" and isinstance(item, dict):
                name = f"{item.get('from')} → {item.get('to')}"
            rest = io.format_location(loc[2:])
            where = f"{_SINGULAR[loc[0]]} `{name}`" + (f", `{rest}`" if rest else "")
        return where

    problems = [f"{finding.message}; {finding.hint}" if finding.hint else finding.message
                for finding in io.validation_findings(exc, data, place=place)]
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + more


def _set_fields(target: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """Set plain fields (no behaviour shorthands, see ``StudioController._apply_fields``): None or
    empty removes one, so its default applies."""
    for key, raw in fields.items():
        value = _clean(raw)
        if _blank(value) and not isinstance(value, bool):
            target.pop(key, None)
        else:
            target[key] = value


def _format_of(path: Path) -> str:
    """The format a workflow file is written in, by its extension (as :func:`studio.io.save` does)."""
    return "json" if path.suffix.lower() == ".json" else "yaml"


def _rename_in_list(items: list[Any] | None, old: str, new: str | None) -> list[Any] | None:
    """Replace (or with ``new`` None, remove) ``old`` in a list of ids."""
    if not items:
        return items
    out = [new if item == old else item for item in items]
    return [item for item in out if item is not None]


@dataclass(frozen=True)
class ExportResult:
    """What an export produced (``ok``), or why it was refused (the error ``findings``)."""

    ok: bool
    message: str
    text: str = ""
    path: Path | None = None
    findings: tuple[Finding, ...] = ()
    target: str = "controlplane"
    evidence: bool = False
    losses: tuple[Finding, ...] = ()
    """What the target writes but does not keep or enforce (``export_as(..., losses=[])``)."""


@dataclass
class _Disk:
    """What is in a workflow file on disk: the workflow it holds and where each element is written."""

    path: Path
    workflow: Workflow
    text: str | None = None
    positions: dict[io.Loc, tuple[int, int]] | None = None

    def source(self) -> io.Source:
        if self.positions is None:
            self.positions = io.parse_text(self.text or "", str(self.path))[1]
        return io.Source(self.path, self.positions)


_BY_ID: tuple[str, ...] = ("nodes", "actors", "tools", "data_sources")


def _on_disk(loc: io.Loc, now: Workflow, disk: Workflow) -> io.Loc | None:
    """``loc`` in ``now`` as the same element's place in ``disk`` (items matched by id, edges by ends);
    None when the element is not in ``disk``."""
    if len(loc) < 2 or not isinstance(loc[1], int) or loc[0] not in (*_BY_ID, "edges"):
        return loc
    section, index = str(loc[0]), loc[1]
    items, saved = list(getattr(now, section)), list(getattr(disk, section))
    if not 0 <= index < len(items):
        return loc[:1]
    if section == "edges":
        key = items[index].key
        match = next((j for j, item in enumerate(saved) if item.key == key), None)
    else:
        match = next((j for j, item in enumerate(saved) if item.id == items[index].id), None)
    return None if match is None else (section, match, *loc[2:])


@dataclass
class _Cache:
    findings: list[Finding] | None = None
    placed: list[Finding] | None = None
    svg: str | None = None
    text: str | None = None  # the workflow's file text, made once for placing findings and the autosave
    data_key: tuple[str, float] | None = None
    cases: io.Cases | None = None


# --------------------------------------------------------------------------- the controller


class StudioController:
    """Holds the workflow being mapped, with undo/redo, autosave, findings and the diagram.

    ``workflow_or_path`` is a :class:`Workflow`, or the path of a workflow file: then every
    accepted edit is saved to that file (``autosave=False`` turns that off). ``lanes`` chooses the
    diagram's swimlanes (``"actor"``, ``"kind"`` or ``"none"``), ``direction`` its layout
    (``"TB"`` top to bottom, the default, or ``"LR"`` left to right as ``studio render`` draws it)
    and ``key`` whether the diagram carries its key of shapes and colours.
    """

    def __init__(
        self,
        workflow_or_path: Workflow | str | os.PathLike[str] | None = None,
        *,
        autosave: bool = True,
        lanes: str = "actor",
        direction: str = "TB",
        key: bool = False,
    ) -> None:
        self.path: Path | None = None
        self.autosave = autosave
        self.lanes = lanes
        self.direction = direction
        self.key = key
        self.message = ""
        self.save_error: str | None = None
        self._undo: list[tuple[Workflow, str]] = []
        self._redo: list[tuple[Workflow, str]] = []
        self._listeners: list[Callable[[str], None]] = []
        self._cache = _Cache()
        self._base: Path | None = None
        self._sim: Any = None
        self._walk: Any = None
        self._evidence: tuple[Workflow, Path] | None = None
        self._disk: _Disk | None = None
        if workflow_or_path is None:
            workflow = self.blank("new_workflow")
            self.message = "New workflow: add steps, people and agents below."
        elif isinstance(workflow_or_path, Workflow):
            workflow = workflow_or_path
            source = workflow.source
            self._base = source.path if isinstance(source, io.Source) else None
            self.message = f"Opened `{workflow.metadata.name}`."
        else:
            path = Path(workflow_or_path)
            workflow = io.load(path)
            self._base = path
            if _is_template(path):  # a template is read, never written: Save writes a copy elsewhere
                self.message = f"Opened template `{path.parent.name}`; to keep changes, save a copy to a file."
            else:
                self.path = path
                saved = (f"; every change is saved to it (earlier versions: {_backup.FOLDER}/ next to it)"
                         if autosave else "")
                self.message = f"Opened `{path}`{saved}."
        self._workflow = self._adopt(workflow)
        self._remember_disk(workflow)

    # ------------------------------------------------------------------ reading

    @property
    def workflow(self) -> Workflow:
        """The current workflow (a fresh object after every edit; never changed in place)."""
        return self._workflow

    @staticmethod
    def blank(name: str) -> Workflow:
        """A new, minimal workflow that validates clean: start -> one task done by a human pool -> end.

        The task has an SLA and approvals/human work escalate to a second pool (``policies``), so
        there is nothing to fix before the room starts mapping. Same as ``studio new NAME``.
        """
        return blank_workflow(name)

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(event)`` on changes: ``"changed"`` as soon as the workflow changed (edit,
        undo, load...; redraw now), then ``"saved"`` once the autosave is done (or failed)."""
        self._listeners.append(callback)

    @property
    def cases(self) -> io.Cases | None:
        """The workflow's sample data (cached; reloaded when the file changes), or None."""
        path = io.sample_path(self._workflow)
        if path is None or not path.is_file():
            self._cache.data_key, self._cache.cases = None, None
            return None
        key = (str(path), path.stat().st_mtime)
        if key != self._cache.data_key:
            try:
                self._cache.cases = io.load_cases(path)
            except LoadError:
                self._cache.cases = None
            self._cache.data_key = key
        return self._cache.cases

    @property
    def findings(self) -> list[Finding]:
        """Every finding of :func:`studio.validate.validate`, with the sample data when there is some."""
        if self._cache.placed is None:
            self._cache.placed = self._place(self._validated())
        return list(self._cache.placed)

    def _validated(self) -> list[Finding]:
        if self._cache.findings is None:
            from studio.validate import validate  # noqa: PLC0415  (the function, not the module)

            self._cache.findings = validate(self._workflow, data=self.cases)
        return self._cache.findings

    def _file_text(self) -> str:
        """The text the workflow's file gets on the next save (made once per change)."""
        if self._cache.text is None:
            assert self.path is not None
            self._cache.text = io.dumps(self._workflow, _format_of(self.path))
        return self._cache.text

    def _place(self, findings: list[Finding]) -> list[Finding]:
        """Give findings the file, line and column of their element after an edit.

        A workflow just opened already has them (its file's own positions). After an edit that is
        autosaved, they are the places in the text being saved; otherwise each element is found in
        the last version on disk by its id, and one that is only in memory is marked
        ``(not saved yet)`` instead of pointing somewhere it is not.
        """
        source = self._workflow.source
        opened = self._disk is not None and self._disk.workflow is self._workflow and self._disk.text is None
        if opened and isinstance(source, io.Source) and source.positions:
            return findings  # as opened: the validator placed them in the file's own text
        base = source.path if isinstance(source, io.Source) else None
        disk: _Disk | None = None
        mapped = False
        if self.path is not None and self.autosave and self.save_error is None:
            disk = _Disk(self.path, self._workflow, self._file_text())
        elif self._disk is not None:
            disk, mapped = self._disk, True
        located = disk.source() if disk is not None else None
        out = []
        for finding in findings:
            if finding.file is not None and base is not None and finding.file != str(base):
                out.append(finding)  # about another file (the sample data): placed there already
                continue
            loc = io.parse_location(finding.location)
            if located is not None and disk is not None:
                where = _on_disk(loc, self._workflow, disk.workflow) if mapped else loc
                position = located.position(where) if where is not None else None
                if position is not None:
                    out.append(replace(finding, file=str(disk.path), line=position[0], column=position[1]))
                    continue
            name = f"{disk.path} " if disk is not None else ""
            out.append(replace(finding, file=f"{name}(not saved yet)", line=None, column=None))
        return sort_findings(out)

    def finding_lines(self) -> list[str]:
        """``finding.format()`` for each finding, the file shown by its name only (for a projector)."""
        lines = []
        for finding in self.findings:
            shown = replace(finding, file=Path(finding.file).name) if finding.file else finding
            lines.append(shown.format())
        return lines

    def counts(self) -> dict[str, int]:
        found = self._validated()
        return {s.value: sum(f.severity is s for f in found) for s in Severity}

    def diagram_svg(self, overlay: Any = None) -> str:
        """The diagram as inline SVG with the findings outlined (``overlay``: simulation heat).

        Raises :class:`~studio.errors.GraphvizMissing` (with the install hint) without ``dot``.
        """
        if overlay is None and self._cache.svg is not None:
            return self._cache.svg
        from studio import render  # noqa: PLC0415

        opts: dict[str, Any] = {
            "lanes": self.lanes,
            "findings": self._validated(),
            "overlay": overlay,
            "legend": self.key or overlay is not None,
        }
        # Top to bottom (the default here) fits a notebook's width and reads well on a projector.
        svg = render.to_svg(self._workflow, direction=self.direction, **opts)
        start = svg.find("<svg")
        svg = svg[start:] if start >= 0 else svg
        if overlay is None:
            self._cache.svg = svg
        return svg

    def diagram_or_message(self) -> tuple[str | None, str]:
        """``(svg, "")``, or ``(None, why)`` when the diagram cannot be drawn."""
        try:
            return self.diagram_svg(), ""
        except GraphvizMissing as exc:
            return None, str(exc)

    @staticmethod
    def check_condition(text: str) -> str | None:
        """None when ``text`` is a valid condition (or empty), else the message with its column."""
        if not text or not text.strip():
            return None
        error = check_expression(text)
        return None if error is None else str(error)

    @staticmethod
    def condition_caret(text: str) -> tuple[int, str] | None:
        """``(column, message)`` of a condition's error (1-based column), or None when it parses."""
        if not text or not text.strip():
            return None
        error = check_expression(text)
        if error is None:
            return None
        return error.column, error.message

    def select_finding(self, finding: Finding | int) -> tuple[str, int | None]:
        """Where a finding points: ``(section, index)`` such as ``("nodes", 3)`` or ``("policies", None)``.

        ``finding`` is a :class:`Finding` or its position in :attr:`findings`.
        """
        if isinstance(finding, int):
            finding = self.findings[finding]
        loc = io.parse_location(finding.location)
        if not loc:
            return "workflow", None
        section = str(loc[0])
        index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        if section == "simulation" and len(loc) > 2 and loc[1] == "tools" and isinstance(loc[2], str):
            return "tools", self._index_of("tools", loc[2])
        return section, index

    def element_id(self, section: str, index: int) -> str | None:
        """The id of ``section[index]`` (nodes, actors, tools, data sources); None when out of range."""
        items: list[Any] = list(getattr(self._workflow, section, []) or [])
        if 0 <= index < len(items):
            return str(getattr(items[index], "id", index))
        return None

    def options_for(self, reference: str) -> list[str]:
        """Ids a form may choose from: ``nodes``, ``actors``, ``humans``, ``agents``, ``tools``,
        ``data_sources``, ``templates``."""
        wf = self._workflow
        if reference == "nodes":
            return [n.id for n in wf.nodes]
        if reference == "actors":
            return [a.id for a in wf.actors]
        if reference == "humans":
            return [a.id for a in wf.actors if isinstance(a, Human)]
        if reference == "agents":
            return [a.id for a in wf.actors if isinstance(a, Agent)]
        if reference == "tools":
            return [t.id for t in wf.tools]
        if reference == "data_sources":
            return [d.id for d in wf.data_sources]
        if reference == "templates":
            return list(template_names())
        raise KeyError(f"no option list `{reference}`")

    def edge_label(self, index: int, limit: int = 32) -> str:
        """``from -> to [label]``: the arrow's label, else its condition (``if ...``, cut at ``limit``
        characters) or ``otherwise`` for a default route; nothing for an unconditional one. A branch
        probability follows as ``p=0.3``."""
        edge = self._workflow.edges[index]
        text = f"{edge.source} -> {edge.target}"
        tag = edge.label or (f"if {edge.when}" if edge.when else "otherwise" if edge.default else "")
        if len(tag) > limit:
            tag = tag[: limit - 1].rstrip() + "…"
        if edge.probability is not None:
            tag = f"{tag}, p={edge.probability:g}" if tag else f"p={edge.probability:g}"
        return f"{text} [{tag}]" if tag else text

    def output_models_text(self, node_id: str) -> str:
        """A task's ``output_models`` as the YAML the file holds (empty when it has none), for a form."""
        index = self._index_of("nodes", node_id)
        models = self._data()["nodes"][index].get("output_models")
        return io.dump_yaml(models) if models else ""

    def edge_choices(self) -> list[tuple[str, int]]:
        """``(edge_label, index)`` for every connection, sorted by their labels (for pick lists)."""
        edges = self._workflow.edges
        return sorted(((self.edge_label(i), i) for i in range(len(edges))), key=lambda pair: (pair[0], pair[1]))

    def edge_index(self, source: str, target: str) -> int | None:
        """The index of the connection ``source -> target``, or None when there is none."""
        for index, edge in enumerate(self._workflow.edges):
            if edge.source == source and edge.target == target:
                return index
        return None

    def new_step_id(self, name: str | None = None) -> str:
        """A free step id made from ``name`` (``"Check the contract"`` -> ``check_the_contract``), else ``step_N``."""
        words = re.findall(r"[a-z0-9]+", (name or "").lower())
        stem = "_".join(words)[:40].strip("_") or "step"
        if stem[0].isdigit():
            stem = f"step_{stem}"
        used = set(self.options_for("nodes"))
        if stem != "step" and stem not in used:
            return stem
        number = 1
        while f"{stem}_{number}" in used:
            number += 1
        return f"{stem}_{number}"

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def history(self) -> list[str]:
        """What each undoable step did, oldest first."""
        return [description for _, description in self._undo]

    # ------------------------------------------------------------------ the edit machinery

    def _adopt(self, workflow: Workflow) -> Workflow:
        """Attach the place data resolves against (the opened file, else where it came from)."""
        base = self.path or self._base
        source = workflow.source
        if base is not None and not (isinstance(source, io.Source) and source.path == base):
            workflow._source = io.Source(base, {})
        self._cache = _Cache(data_key=self._cache.data_key, cases=self._cache.cases)
        return workflow

    def _remember_disk(self, workflow: Workflow, text: str | None = None, path: Path | None = None) -> None:
        """Note what a file now holds (just opened, or just saved), to place findings after edits."""
        source = workflow.source
        if path is not None and text is not None:
            self._disk = _Disk(path, workflow, text)
        elif isinstance(source, io.Source) and source.path is not None and source.positions:
            self._disk = _Disk(source.path, workflow, positions=dict(source.positions))

    def _data(self) -> dict[str, Any]:
        return io.to_data(self._workflow)

    def _commit(self, data: Mapping[str, Any], description: str) -> Workflow:
        """Validate ``data`` into a new workflow, make it current, record undo, autosave, notify."""
        try:
            new = Workflow.model_validate(data)
        except ValidationError as exc:
            self.message = f"Not changed: {_explain(exc, data)}"
            raise EditRefused(self.message) from None
        return self._replace(new, description)

    def _replace(self, new: Workflow, description: str, *, record: bool = True, save: bool = True) -> Workflow:
        if record:
            self._undo.append((self._workflow, description))
            del self._undo[:-HISTORY_LIMIT]
            self._redo.clear()
        self._workflow = self._adopt(new)
        self._walk = None
        self.message = description
        self._notify("changed")  # the view redraws first: the YAML save is the slower part
        if save:
            self._autosave()
        self._notify("saved")
        return self._workflow

    def _autosave(self) -> None:
        if self.path is None or not self.autosave:
            return
        try:
            text = self._file_text()
            _backup.backup(self.path)  # the version before this save, in .studio-backups/ next to it
            io.atomic_write(self.path, text)
        except OSError as exc:
            self._cache.placed = None  # the file does not hold this version: place findings again
            self.save_error = (
                f"Could not save to `{self.path}`: {exc.strerror or exc}. "
                "Your changes are kept here; save to another file."
            )
            self.message = f"{self.message} — {self.save_error}"
        else:
            if self.save_error is not None:
                self._cache.placed = None  # placed while the file was behind: place them again
            self.save_error = None
            self._remember_disk(self._workflow, text, self.path)

    def _notify(self, event: str) -> None:
        for callback in list(self._listeners):
            callback(event)

    def _index_of(self, section: Section, item_id: str) -> int:
        for index, item in enumerate(getattr(self._workflow, section)):
            if item.id == item_id:
                return index
        raise EditRefused(f"there is no {_SINGULAR[section]} `{item_id}`")

    def _require_new_id(self, section: Section, item_id: str | None) -> str:
        if _blank(item_id):
            raise EditRefused(f"give the new {_SINGULAR[section]} an id (letters, digits, `_`, `-`)")
        assert item_id is not None
        item_id = item_id.strip()
        if any(item.id == item_id for item in getattr(self._workflow, section)):
            raise EditRefused(f"{_SINGULAR[section]} id `{item_id}` is already used; choose another id")
        return item_id

    @staticmethod
    def _apply_fields(item: dict[str, Any], fields: Mapping[str, Any]) -> None:
        """Set fields on a plain-data item: None or empty removes the field (so the default applies);
        behaviour fields (``duration``, ``approve_rate``...) go into ``behaviour``."""
        for key, raw in fields.items():
            name = {"source": "from", "target": "to"}.get(key, key)
            if name in _BEHAVIOUR_FIELDS and name != "behaviour":
                behaviour = item.setdefault("behaviour", {})
                _set_fields(behaviour, {name: raw})
                if not behaviour:
                    item.pop("behaviour")
            else:
                _set_fields(item, {name: raw})

    # ------------------------------------------------------------------ nodes

    def add_node(self, kind: str, id: str, actor: str | None = None, **fields: Any) -> Workflow:
        """Add a step (``kind`` one of the node kinds) after the last non-end step.

        ``fields`` are the node's fields (``name``, ``tools``, ``sla``, ``outcome``...) plus the
        behaviour shorthands (``duration="15m"`` or a distribution from :func:`make_distribution`).
        """
        if kind not in NODE_KINDS:
            raise EditRefused(f"`{kind}` is not a kind of step; use one of {', '.join(NODE_KINDS)}")
        node_id = self._require_new_id("nodes", id)
        item: dict[str, Any] = {"id": node_id, "kind": kind}
        self._apply_fields(item, {"actor": actor, **fields} if actor is not None else fields)
        data = self._data()
        nodes = data.setdefault("nodes", [])
        position = len(nodes)
        while position > 0 and nodes[position - 1].get("kind") == "end":
            position -= 1
        nodes.insert(position, item)
        who = f" done by `{actor}`" if actor else ""
        return self._commit(data, f"Added {kind} `{node_id}`{who}.")

    def update_node(self, node_id: str, /, **fields: Any) -> Workflow:
        """Change a step's fields; ``id=`` renames it (edges and reviews follow), ``kind=`` changes
        its kind (fields the new kind does not have are dropped)."""
        index = self._index_of("nodes", node_id)
        data = self._data()
        item = data["nodes"][index]
        new_id = fields.pop("id", None)
        new_id = new_id.strip() if isinstance(new_id, str) else new_id
        kind = fields.get("kind", item["kind"])
        if kind not in NODE_KINDS:
            raise EditRefused(f"`{kind}` is not a kind of step; use one of {', '.join(NODE_KINDS)}")
        self._apply_fields(item, fields)
        notes = []
        if "kind" in fields:
            allowed = set(_NODE_MODELS[kind].model_fields) | {"kind", "id"}
            dropped = sorted(k for k in item if k not in allowed)
            for key in dropped:
                item.pop(key)
            if dropped:
                notes.append(f" ({', '.join(dropped)} dropped: a {kind} has none)")
        if new_id and new_id != node_id:
            new_id = self._require_new_id("nodes", new_id)
            item["id"] = new_id
            for edge in data.get("edges", []):
                if edge.get("from") == node_id:
                    edge["from"] = new_id
                if edge.get("to") == node_id:
                    edge["to"] = new_id
            for node in data["nodes"]:
                if "reviews" in node:
                    node["reviews"] = _rename_in_list(node["reviews"], node_id, new_id)
            notes.insert(0, f" (renamed to `{new_id}`)")
        return self._commit(data, f"Changed step `{node_id}`{''.join(notes)}.")

    def insert_step(
        self,
        after: str | None = None,
        before: str | None = None,
        *,
        kind: str = "task",
        id: str | None = None,
        name: str | None = None,
        actor: str | None = None,
        **fields: Any,
    ) -> str:
        """Insert a new step after ``after``, between ``after`` and ``before``, or before ``before``;
        returns its id (made from ``name`` when ``id`` is not given).

        On an existing connection ``after -> before`` the step goes onto it: the connection now ends
        at the new step (keeping its condition and label) and a plain one leads on to ``before``.
        ``after`` alone with exactly one connection out of it is the same as inserting on that
        connection; with none or several, the step is only connected from ``after``. ``before``
        alone: every connection into ``before`` now ends at the new step, which leads on to it.
        """
        if after is None and before is None:
            raise EditRefused("select a step or a connection first: the new step goes after it or onto it")
        if kind not in NODE_KINDS:
            raise EditRefused(f"`{kind}` is not a kind of step; use one of {', '.join(NODE_KINDS)}")
        for end in (after, before):
            if end is not None:
                self._index_of("nodes", end)
        if after is not None and isinstance(self._workflow.node(after), End):
            raise EditRefused(f"`{after}` is an end: nothing comes after it; select the connection into it instead")
        if before is not None and isinstance(self._workflow.node(before), Start):
            raise EditRefused(
                f"`{before}` is a start: nothing comes before it; select the connection out of it instead"
            )
        node_id = self._require_new_id("nodes", id) if not _blank(id) else self.new_step_id(name)
        item: dict[str, Any] = {"id": node_id, "kind": kind}
        self._apply_fields(item, {"name": name, "actor": actor, **fields})
        data = self._data()
        edges: list[dict[str, Any]] = data.setdefault("edges", [])
        if after is not None and before is None:
            out = [e for e in edges if e.get("from") == after]
            if len(out) == 1:
                before = str(out[0]["to"])
        nodes = data["nodes"]
        anchor = after if after is not None else before
        position = next(i for i, n in enumerate(nodes) if n.get("id") == anchor) + (1 if after is not None else 0)
        nodes.insert(position, item)
        split = next((e for e in edges if (e.get("from"), e.get("to")) == (after, before)), None)
        if split is not None:
            split["to"] = node_id
            edges.insert(edges.index(split) + 1, {"from": node_id, "to": before})
            where = f"on `{after}` → `{before}`"
        elif after is not None and before is not None:
            edges.append({"from": after, "to": node_id})
            edges.append({"from": node_id, "to": before})
            where = f"between `{after}` and `{before}`"
        elif after is not None:
            edges.append({"from": after, "to": node_id})
            where = f"after `{after}` (connect it onwards)"
        else:
            for edge in edges:
                if edge.get("to") == before:
                    edge["to"] = node_id
            edges.append({"from": node_id, "to": before})
            where = f"before `{before}`"
        who = f" done by `{actor}`" if actor else ""
        self._commit(data, f"Inserted {kind} `{node_id}`{who} {where}.")
        return node_id

    def delete_node(self, id: str, rejoin: bool = False) -> Workflow:
        """Delete a step and every edge to or from it.

        ``rejoin=True``: when the step has exactly one connection in and one out, its neighbours are
        connected directly (the new connection keeps the incoming one's condition and label);
        otherwise (several ways in or out: which to join is not clear) nothing is re-joined and
        the message says so.
        """
        index = self._index_of("nodes", id)
        data = self._data()
        data["nodes"].pop(index)
        before = len(data.get("edges", []))
        incoming = [e for e in data.get("edges", []) if e.get("to") == id and e.get("from") != id]
        outgoing = [e for e in data.get("edges", []) if e.get("from") == id and e.get("to") != id]
        kept = [e for e in data.get("edges", []) if id not in (e.get("from"), e.get("to"))]
        joined = ""
        if rejoin and len(incoming) == 1 and len(outgoing) == 1:
            source, target = incoming[0]["from"], outgoing[0]["to"]
            if source != target and not any((e.get("from"), e.get("to")) == (source, target) for e in kept):
                position = sum(1 for e in data["edges"][: data["edges"].index(incoming[0])] if e in kept)
                kept.insert(position, {**incoming[0], "to": target})
                joined = f"; joined `{source}` → `{target}`"
        elif rejoin and (incoming or outgoing):
            joined = f" (not re-joined: {len(incoming)} way(s) in, {len(outgoing)} out; connect them as needed)"
        for node in data["nodes"]:
            if "reviews" in node:
                node["reviews"] = _rename_in_list(node["reviews"], id, None)
                if not node["reviews"]:
                    node.pop("reviews")
        data["edges"] = kept
        removed = before - len(kept) + (1 if joined.startswith(";") else 0)
        return self._commit(data, f"Deleted step `{id}` and its {removed} connection(s){joined}.")

    # ------------------------------------------------------------------ edges

    def _check_edge(self, source: str, target: str, when: str | None) -> None:
        known = set(self.options_for("nodes"))
        for end in (source, target):
            if end not in known:
                raise EditRefused(f"there is no step `{end}`; add it first or pick one from the list")
        if when:
            problem = self.check_condition(when)
            if problem is not None:
                raise EditRefused(problem)

    def add_edge(
        self,
        src: str,
        dst: str,
        when: str | None = None,
        default: bool = False,
        label: str | None = None,
        **fields: Any,
    ) -> Workflow:
        """Connect two steps; ``when`` is a condition in the safe language (checked first)."""
        when = when.strip() if isinstance(when, str) and when.strip() else None
        self._check_edge(src, dst, when)
        if any(e.source == src and e.target == dst for e in self._workflow.edges):
            raise EditRefused(f"`{src}` → `{dst}` is already connected; change that connection instead")
        item: dict[str, Any] = {"from": src, "to": dst}
        self._apply_fields(item, {"when": when, "default": default or None, "label": label, **fields})
        data = self._data()
        data.setdefault("edges", []).append(item)
        condition = f" when {when}" if when else " (otherwise)" if default else ""
        return self._commit(data, f"Connected `{src}` → `{dst}`{condition}.")

    def update_edge(self, index: int, **fields: Any) -> Workflow:
        """Change connection ``index`` (``source``/``target`` or ``from``/``to``, ``when``, ``default``, ``label``)."""
        if not 0 <= index < len(self._workflow.edges):
            raise EditRefused(f"there is no connection number {index}")
        data = self._data()
        item = data["edges"][index]
        if "default" in fields:
            fields["default"] = bool(fields["default"]) or None
        self._apply_fields(item, fields)
        self._check_edge(item["from"], item["to"], item.get("when"))
        for other, edge in enumerate(data["edges"]):
            if other != index and (edge.get("from"), edge.get("to")) == (item["from"], item["to"]):
                raise EditRefused(
                    f"`{item['from']}` → `{item['to']}` is already connected; change that connection instead"
                )
        return self._commit(data, f"Changed connection `{item['from']}` → `{item['to']}`.")

    def delete_edge(self, index: int) -> Workflow:
        if not 0 <= index < len(self._workflow.edges):
            raise EditRefused(f"there is no connection number {index}")
        edge = self._workflow.edges[index]
        data = self._data()
        data["edges"].pop(index)
        return self._commit(data, f"Deleted connection `{edge.source}` → `{edge.target}`.")

    # ------------------------------------------------------------------ actors, tools, data sources

    def add_actor(self, kind: str, id: str, name: str | None = None, **fields: Any) -> Workflow:
        """Add an agent, a human pool or a system (``capacity``, ``version``, ``tools``, ``duration``...)."""
        if kind not in ACTOR_KINDS:
            raise EditRefused(f"`{kind}` is not a kind of actor; use agent, human or system")
        actor_id = self._require_new_id("actors", id)
        item: dict[str, Any] = {"id": actor_id, "kind": kind}
        self._apply_fields(item, {"name": name, **fields})
        data = self._data()
        data.setdefault("actors", []).append(item)
        return self._commit(data, f"Added {kind} `{actor_id}`.")

    def update_actor(self, actor_id: str, /, **fields: Any) -> Workflow:
        """Change an actor; ``id=`` renames it everywhere it is used."""
        return self._update_item("actors", actor_id, fields, self._rename_actor)

    def delete_actor(self, id: str) -> Workflow:
        """Delete an actor; steps it did are left without an actor (the findings show them)."""
        return self._delete_item("actors", id, self._rename_actor)

    def add_tool(self, id: str, tier: str = "read_only", name: str | None = None, **fields: Any) -> Workflow:
        """Add a tool with its permission tier (``rate_limit={"calls": 60, "per": "1m"}``, ``timeout``...)."""
        if tier not in TIERS:
            raise EditRefused(f"`{tier}` is not a permission tier; use {', '.join(TIERS)}")
        tool_id = self._require_new_id("tools", id)
        item: dict[str, Any] = {"id": tool_id, "tier": tier}
        self._apply_fields(item, {"name": name, **fields})
        data = self._data()
        data.setdefault("tools", []).append(item)
        return self._commit(data, f"Added {tier.replace('_', ' ')} tool `{tool_id}`.")

    def update_tool(self, tool_id: str, /, **fields: Any) -> Workflow:
        return self._update_item("tools", tool_id, fields, self._rename_tool)

    def delete_tool(self, id: str) -> Workflow:
        """Delete a tool and take it off every agent and step that listed it."""
        return self._delete_item("tools", id, self._rename_tool)

    def add_data_source(self, id: str, system: str | None = None, **fields: Any) -> Workflow:
        """Add a data source (``freshness="15m"``, ``contains_pii=True``...)."""
        source_id = self._require_new_id("data_sources", id)
        item: dict[str, Any] = {"id": source_id}
        self._apply_fields(item, {"system": system, **fields})
        data = self._data()
        data.setdefault("data_sources", []).append(item)
        return self._commit(data, f"Added data source `{source_id}`.")

    def update_data_source(self, source_id: str, /, **fields: Any) -> Workflow:
        return self._update_item("data_sources", source_id, fields, self._rename_data_source)

    def delete_data_source(self, id: str) -> Workflow:
        return self._delete_item("data_sources", id, self._rename_data_source)

    def update_metadata(self, **fields: Any) -> Workflow:
        """Change the name, version, owner, description or tags."""
        data = self._data()
        self._apply_fields(data["metadata"], fields)
        return self._commit(data, "Changed the workflow's details.")

    # ------------------------------------------------------------------ policies and simulation settings

    def update_policies(self, **fields: Any) -> Workflow:
        """Change the guardrails: ``max_turns``, ``max_repeats`` (``"off"`` disables the loop guard),
        ``approval_sla`` (a duration such as ``4h``), ``escalate_to`` (a human pool), ``retries``,
        ``autonomy`` (one of :data:`AUTONOMY`). None or empty puts a field back to its default."""
        unknown = sorted(set(fields) - set(POLICY_FIELDS))
        if unknown:
            raise EditRefused(f"`{unknown[0]}` is not a policy here; use one of {', '.join(POLICY_FIELDS)}")
        escalate = _clean(fields.get("escalate_to"))
        if not _blank(escalate) and escalate not in self.options_for("humans"):
            pools = ", ".join(f"`{h}`" for h in self.options_for("humans")) or "none yet: add one under People & agents"
            raise EditRefused(f"policies `escalate_to`: `{escalate}` is not a human pool; pick one of {pools}")
        autonomy = _clean(fields.get("autonomy"))
        if not _blank(autonomy) and autonomy not in AUTONOMY:
            raise EditRefused(f"policies `autonomy`: `{autonomy}` is not an autonomy level; use {', '.join(AUTONOMY)}")
        data = self._data()
        policies = data.setdefault("policies", {})
        if isinstance(fields.get("max_repeats"), str) and fields["max_repeats"].strip().lower() in ("off", "none"):
            policies["max_repeats"] = None  # an explicit null: the loop guard is off
            fields = {k: v for k, v in fields.items() if k != "max_repeats"}
        _set_fields(policies, fields)
        if not policies:
            data.pop("policies")
        try:
            after = Workflow.model_validate(data).policies.model_dump()
        except ValidationError as exc:
            self.message = f"Not changed: {_explain(exc, data)}"
            raise EditRefused(self.message) from None
        before = self._workflow.policies.model_dump()
        changed = [f"`{key}`" for key in POLICY_FIELDS if before.get(key) != after.get(key)]
        if not changed:
            self.message = "The policies are as they were: nothing to change."
            return self._workflow
        return self._commit(data, f"Changed the policies ({', '.join(changed)}).")

    def update_simulation(
        self,
        *,
        process: str | None = None,
        rate: str | float | None = None,
        interval: str | float | None = None,
        column: str | None = None,
        calendar: Mapping[str, Any] | EllipsisType | None = ...,
        **fields: Any,
    ) -> Workflow:
        """Change the simulation settings: ``seed``, ``start`` (ISO time of the first arrival),
        ``cases``, ``sample_data``, ``gold_data`` (paths relative to the workflow file, which must
        exist there) and the arrivals: ``process`` ``poisson`` with ``rate`` (``"30/h"``), ``fixed``
        with ``interval`` (``"2m"``) or ``column`` with ``column`` (a sample-data column holding each
        case's arrival). ``calendar`` (``{"days": [...], "hours": "09:00-17:00", "timezone": ...}``)
        limits poisson and fixed arrivals to working time; None removes it, left out it is kept (a
        column process has none). None or empty puts a field back to its default."""
        unknown = sorted(set(fields) - set(SIMULATION_FIELDS))
        if unknown:
            raise EditRefused(
                f"`{unknown[0]}` is not a simulation setting here; use one of {', '.join(SIMULATION_FIELDS)}, "
                "process, rate, interval or column"
            )
        for key in ("sample_data", "gold_data"):
            value = _clean(fields.get(key))
            if not _blank(value):
                self._check_data_file(key, str(value))
        data = self._data()
        simulation = data.setdefault("simulation", {})
        _set_fields(simulation, fields)
        arrival_params = {"rate": rate, "interval": interval, "column": column}
        note = ""
        arrivals_changed = (
            process is not None or calendar is not ... or any(not _blank(v) for v in arrival_params.values())
        )
        if arrivals_changed:
            current = self._workflow.simulation.arrivals.model_dump(mode="json")
            kind = _clean(process) or current["process"]
            if kind not in ARRIVALS:
                raise EditRefused(f"arrivals `process`: `{kind}` is not an arrival process; use {', '.join(ARRIVALS)}")
            param = ARRIVALS[kind]
            value = _clean(arrival_params[param])
            if _blank(value):
                value = current.get(param)  # kept when the process stays (each process has its own parameter)
            if _blank(value):
                raise EditRefused(f"arrivals `{kind}` needs `{param}` (e.g. `{ARRIVAL_EXAMPLES[param]}`)")
            if param == "column" and self.cases is not None and value not in self.cases.columns:
                raise EditRefused(
                    f"arrivals `column`: the sample data has no column `{value}`; "
                    f"pick one of {', '.join(f'`{c}`' for c in self.cases.columns[:12])}"
                )
            simulation["arrivals"] = {"process": kind, param: value}
            kept = current.get("calendar") if calendar is ... else calendar
            if kept and kind != "column":
                simulation["arrivals"]["calendar"] = dict(kept)
            elif kept and calendar is not ...:
                raise EditRefused(
                    "arrivals `calendar`: arrivals from a data column have no calendar (each case's arrival "
                    "is in the data); choose poisson or fixed arrivals, or leave the calendar empty"
                )
            elif kept:
                note = " (the arrival calendar is dropped: arrivals from a data column have none)"
        if not simulation:
            data.pop("simulation")
        changed = [*fields, *(["arrivals"] if arrivals_changed else [])]
        # another sample file is read on next use: the cache is keyed on the file's path and time
        return self._commit(
            data, f"Changed the simulation settings ({', '.join(f'`{k}`' for k in changed)}){note}."
        )

    def _check_data_file(self, key: str, name: str) -> None:
        folder = (self.path or self._base or Path("workflow.yaml")).parent
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise EditRefused(
                f"simulation `{key}`: `{name}` is outside the workflow's folder; copy the file next to the "
                "workflow and give its name (e.g. `sample.csv`)"
            )
        if not (folder / relative).is_file():
            raise EditRefused(
                f"simulation `{key}`: there is no file `{name}` in `{folder}`; put the CSV/JSONL there "
                "or give its path relative to the workflow file"
            )

    def _update_item(self, section: Section, item_id: str, fields: dict[str, Any], rename: _Rename) -> Workflow:
        index = self._index_of(section, item_id)
        data = self._data()
        item = data[section][index]
        new_id = fields.pop("id", None)
        new_id = new_id.strip() if isinstance(new_id, str) else new_id
        if section == "actors" and "kind" in fields and fields["kind"] != item["kind"]:
            kind = fields["kind"]
            if kind not in _ACTOR_MODELS:
                raise EditRefused(f"`{kind}` is not a kind of actor; use agent, human or system")
            allowed = set(_ACTOR_MODELS[kind].model_fields)
            for key in [k for k in item if k not in allowed]:
                item.pop(key)
        self._apply_fields(item, fields)
        note = ""
        if new_id and new_id != item_id:
            new_id = self._require_new_id(section, new_id)
            item["id"] = new_id
            rename(data, item_id, new_id)
            note = f" (renamed to `{new_id}`)"
        return self._commit(data, f"Changed {_SINGULAR[section]} `{item_id}`{note}.")

    def _delete_item(self, section: Section, item_id: str, rename: _Rename) -> Workflow:
        index = self._index_of(section, item_id)
        data = self._data()
        data[section].pop(index)
        users = self._users_of(section, item_id)
        rename(data, item_id, None)
        note = f"; {', '.join(f'`{u}`' for u in users)} no longer use it" if users else ""
        return self._commit(data, f"Deleted {_SINGULAR[section]} `{item_id}`{note}.")

    def _users_of(self, section: Section, item_id: str) -> list[str]:
        users: list[str] = []
        wf = self._workflow
        for node in wf.nodes:
            refs: list[str] = []
            if section == "actors":
                refs = [getattr(node, "actor", None) or "", getattr(node, "escalate_to", None) or ""]
            elif section == "tools":
                refs = list(getattr(node, "tools", []))
            elif section == "data_sources":
                refs = [*getattr(node, "reads", []), *getattr(node, "writes", [])]
            if item_id in refs:
                users.append(node.id)
        if section == "tools":
            users += [a.id for a in wf.actors if isinstance(a, (Agent, System)) and item_id in a.tools]
        return users

    @staticmethod
    def _rename_actor(data: dict[str, Any], old: str, new: str | None) -> None:
        for node in data.get("nodes", []):
            for key in ("actor", "escalate_to"):
                if node.get(key) == old:
                    if new is None:
                        node.pop(key)
                    else:
                        node[key] = new
        policies = data.get("policies", {})
        if policies.get("escalate_to") == old:
            if new is None:
                policies.pop("escalate_to")
            else:
                policies["escalate_to"] = new

    @staticmethod
    def _rename_tool(data: dict[str, Any], old: str, new: str | None) -> None:
        for item in [*data.get("nodes", []), *data.get("actors", [])]:
            if "tools" in item:
                item["tools"] = _rename_in_list(item["tools"], old, new)
                if not item["tools"]:
                    item.pop("tools")
        tools = data.get("simulation", {}).get("tools")
        if isinstance(tools, dict) and old in tools:
            behaviour = tools.pop(old)
            if new is not None:
                tools[new] = behaviour

    @staticmethod
    def _rename_data_source(data: dict[str, Any], old: str, new: str | None) -> None:
        for item in [*data.get("nodes", []), *data.get("tools", [])]:
            for key in ("reads", "writes"):
                if key in item:
                    item[key] = _rename_in_list(item[key], old, new)
                    if not item[key]:
                        item.pop(key)

    # ------------------------------------------------------------------ undo, redo, files

    def undo(self) -> Workflow:
        if not self._undo:
            raise EditRefused("nothing to undo")
        previous, description = self._undo.pop()
        self._redo.append((self._workflow, description))
        self._replace(previous, f"Undid: {description}", record=False)
        return self._workflow

    def redo(self) -> Workflow:
        if not self._redo:
            raise EditRefused("nothing to redo")
        following, description = self._redo.pop()
        self._undo.append((self._workflow, description))
        self._replace(following, f"Redid: {description}", record=False)
        return self._workflow

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Save atomically to ``path`` (which then becomes the file every later edit is saved to),
        or to the file the studio was opened on. A failed save raises and keeps everything in memory."""
        if path is not None and str(path).strip():
            target = Path(path)
            if _is_template(target):
                raise EditRefused("the templates are read-only here; save to a file of your own")
        elif self.path is not None:
            target = self.path
        else:
            raise EditRefused("this workflow has no file yet; type a path to save it to (e.g. `my_flow.yaml`)")
        backed_up = _backup.backup(target) if target != self.path else None  # None: no file there yet
        try:
            text = self._file_text() if target == self.path else io.dumps(self._workflow, _format_of(target))
            io.atomic_write(target, text)
        except OSError as exc:
            self.save_error = (
                f"Could not save to `{target}`: {exc.strerror or exc}. Nothing was lost; try another path."
            )
            self.message = self.save_error
            raise EditRefused(self.save_error) from None
        if self.path != target:
            self._copy_data_files(target)
            self.path = target
            self._workflow = self._adopt(self._workflow)
        self._remember_disk(self._workflow, text, target)
        self._cache.placed = None
        self.save_error = None
        kept = f" (the file that was there is kept as `{backed_up}`)" if backed_up is not None else ""
        self.message = f"Saved to `{target}`{kept}."
        self._notify("saved")
        return target

    def _copy_data_files(self, target: Path) -> None:
        """Bring the sample and gold data next to a workflow saved to a new folder (never overwrite)."""
        for which in ("sample", "gold"):
            source = io.sample_path(self._workflow, which)
            name = self._workflow.simulation.sample_data if which == "sample" else self._workflow.simulation.gold_data
            if source is None or name is None or not source.is_file() or Path(name).is_absolute():
                continue
            destination = target.parent / name
            if not destination.exists():
                with contextlib.suppress(OSError):
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, destination)

    def load(self, path: str | os.PathLike[str]) -> Workflow:
        """Open another workflow file (undoable); later edits are saved to it.

        Raises :class:`~studio.errors.LoadError` (every problem, with line and column) and keeps
        the current workflow when the file cannot be used.
        """
        target = Path(path)
        try:
            workflow = io.load(target)
        except LoadError as exc:
            self.message = f"Could not open `{target}`: " + "; ".join(f.message for f in exc.findings[:3])
            raise
        self._base = target
        if _is_template(target):
            self.path = None
            return self._replace(workflow, f"Opened template `{target.parent.name}` (save a copy to keep changes).")
        self.path = target
        self._remember_disk(workflow)
        return self._replace(workflow, f"Opened `{target}`.", save=False)  # opening never rewrites the file

    def new_blank(self, name: str = "new_workflow") -> Workflow:
        """Replace the workflow with a minimal valid one (start -> one task -> end; undoable).

        With a file open, the blank is saved to it (the previous version stays in the backups and
        on the undo stack)."""
        try:
            workflow = blank_workflow(name.strip() or "new_workflow")
        except ValidationError:
            raise EditRefused(
                f"`{name}` is not a valid workflow name; use letters, digits, `_` and `-`, starting with a letter"
            ) from None
        return self._replace(workflow, f"Started a new blank workflow `{workflow.metadata.name}` (Undo brings "
                                       "the previous one back).")

    def from_template(self, name: str) -> Workflow:
        """Replace the workflow with template ``name`` (undoable).

        With a file open, the template's sample and gold data are copied next to it (an existing
        file of the same name is kept) and the template is saved to the file.
        """
        try:
            template = get_template(name)
        except KeyError as exc:
            raise EditRefused(str(exc.args[0])) from None
        workflow = template.load()
        if self.path is not None:
            folder = self.path.parent
            for extra in (template.sample_path, template.gold_path):
                destination = folder / extra.name
                if extra.is_file() and not destination.exists():
                    io.atomic_write(destination, extra.read_text(encoding="utf-8"))
        else:
            self._base = template.workflow_path
        return self._replace(workflow, f"Started from template `{name}`.")

    # ------------------------------------------------------------------ simulation

    @staticmethod
    def _module(name: str) -> Any | None:
        try:
            return importlib.import_module(name)
        except ImportError:
            return None

    @property
    def can_simulate(self) -> bool:
        return self._module("studio.simulate") is not None

    def _require(self, name: str, what: str) -> Any:
        module = self._module(name)
        if module is None:
            raise EditRefused(f"{what} is not available in this installation (`{name}` is missing)")
        return module

    @property
    def evidence_dir(self) -> Path | None:
        """Where the last simulation of the workflow as mapped is kept for export (next to its file)."""
        if self.path is None:
            return None
        return self.path.with_name(f"{self.path.stem}.simulation")

    def run_simulation(
        self,
        cases: int | None = None,
        seed: int | None = None,
        scenario: Mapping[str, Any] | str | None = None,
        progress: Callable[[int, int], None] | None = None,
        replications: int = 1,
    ) -> Any:
        """Simulate the workflow against its sample data; returns the simulator's ``Results``.

        ``scenario`` is a dict or ``KEY=VALUE`` lines of what-if changes (for example
        ``actors.line_managers.capacity=10``); ``progress(done, total)`` is called as cases finish.
        A workflow with error findings is refused (:class:`~studio.errors.WorkflowInvalid`). A run
        of the workflow as mapped (no scenario) is kept next to the file as export evidence.
        """
        simulate = self._require("studio.simulate", "Simulation")
        changes = parse_scenario(scenario) if isinstance(scenario, str) else dict(scenario or {})
        results = simulate.simulate(
            self._workflow,
            data=self.cases,
            cases=None if cases is None else int(cases),
            seed=None if seed is None else int(seed),
            scenario=changes or None,
            replications=max(int(replications), 1),
            progress=progress or False,
        )
        self._sim = results
        folder = self.evidence_dir
        if not changes and folder is not None:
            try:
                results.save(folder, plots=False)
            except OSError:
                self._evidence = None
            else:
                self._evidence = (self._workflow, folder)
        kpis = results.kpis
        self.message = (
            f"Simulated {kpis['cases']} case(s) x {kpis['replications']} replication(s): "
            f"success {_pct(kpis.get('success_rate'))}, median cycle time {_hours(kpis['cycle_time'].get('p50'))}."
        )
        return results

    @property
    def last_results(self) -> Any:
        return self._sim

    def compare_scenarios(self, a: Any, b: Any) -> Any:
        """The simulator's A vs B comparison of two ``Results`` (B − A with 95% intervals per KPI)."""
        simulate = self._require("studio.simulate", "Simulation")
        return simulate.compare(a, b)

    # ------------------------------------------------------------------ walkthrough

    def case_ids(self) -> list[str]:
        """Ids of the sample cases (``case_id`` column, else the row number)."""
        cases = self.cases
        if cases is None:
            return []
        return [str(row.get("case_id", number)) for number, row in enumerate(cases.rows, start=1)]

    def case(self, case_id: str) -> dict[str, Any]:
        cases = self.cases
        if cases is None:
            raise EditRefused("this workflow has no sample data to pick a case from")
        for number, row in enumerate(cases.rows, start=1):
            if str(row.get("case_id", number)) == str(case_id):
                return dict(row)
        raise EditRefused(f"there is no case `{case_id}` in the sample data")

    def start_walkthrough(self, case_id: str) -> Any:
        """Start one case through the compiled graph; it stops at the first approval (or the end)."""
        simulate = self._require("studio.simulate", "The walkthrough")
        compiled = simulate.compile(self._workflow)
        walk = simulate.Walkthrough(compiled, self.case(case_id))
        walk.start()
        self._walk = walk
        return walk

    @property
    def walkthrough(self) -> Any:
        return self._walk

    def answer(self, decision: str, note: str | None = None) -> Any:
        """Answer the pending approval: ``approve``, ``reject`` or ``steer`` (with a note)."""
        if self._walk is None:
            raise EditRefused("start a walkthrough first: pick a case and press Start")
        if decision not in ("approve", "reject", "steer"):
            raise EditRefused(f"`{decision}` is not an answer; use approve, reject or steer")
        if getattr(self._walk, "done", False):
            raise EditRefused("this case has finished; start another one")
        self._walk.answer(decision, note=note or None)
        return self._walk

    # ------------------------------------------------------------------ export

    def export(
        self,
        path: str | os.PathLike[str] | None = None,
        fmt: str = "yaml",
        target: str = "controlplane",
    ) -> ExportResult:
        """Validate and export. ``target``: ``controlplane`` (``fmt`` yaml or json; with the last
        simulation of the workflow as mapped attached as evidence), ``bpmn``, ``serverless``,
        ``langgraph`` or ``mermaid`` (through :func:`studio.export.export_as`; what the target does not
        keep is in ``losses``); without :mod:`studio.export`, the
        validated workflow itself. A workflow with error findings is refused and the result lists
        them; with ``path`` the text is also written there atomically."""
        if fmt not in ("yaml", "json"):
            raise EditRefused(f"`{fmt}` is not an export format; use yaml or json")
        exporter = self._module("studio.export")
        targets = tuple(getattr(exporter, "TARGETS", ())) if exporter is not None else ()
        if target not in (*targets, "controlplane"):
            raise EditRefused(f"`{target}` is not an export target; use one of {', '.join(targets) or 'controlplane'}")
        evidence = None
        if self._evidence is not None and self._evidence[0] is self._workflow and target == "controlplane":
            evidence = self._evidence[1] if (self._evidence[1] / "kpis.json").is_file() else None
        found_losses: list[Finding] = []
        try:
            if exporter is not None and hasattr(exporter, "export_as"):
                data = exporter.export_as(self._workflow, target, fmt=fmt, evidence_dir=evidence, losses=found_losses)
                text = data.decode("utf-8") if isinstance(data, bytes) else str(data)
            else:
                found = self.findings
                if has_errors(found):
                    raise WorkflowInvalid(found, summary=f"`{self._workflow.metadata.name}` has error findings")
                text, target = io.dumps(self._workflow, fmt), "workflow"
        except WorkflowInvalid as exc:
            errors = tuple(f for f in exc.findings if f.is_error)
            message = (
                f"Not exported: `{self._workflow.metadata.name}` has {len(errors)} error(s). "
                "Fix them in the Map tab (click a problem to jump to it), then export again."
            )
            self.message = message
            return ExportResult(False, message, findings=errors, target=target)
        written: Path | None = None
        if path is not None and str(path).strip():
            try:
                written = io.atomic_write(path, text)
            except OSError as exc:
                message = f"Exported, but could not write `{path}`: {exc.strerror or exc}"
                self.message = message
                return ExportResult(False, message, text=text, target=target)
        where = f" to `{written}`" if written else ""
        what = {
            "controlplane": "control-plane definition",
            "bpmn": "BPMN 2.0 model",
            "langgraph": "LangGraph application",
            "serverless": "Serverless Workflow",
            "mermaid": "Mermaid diagram",
        }.get(target, "validated workflow")
        attached = " with the simulation KPIs as evidence" if evidence is not None else ""
        meta = self._workflow.metadata
        losses = tuple(found_losses)
        kept = f" The target does not keep {len(losses)} thing(s) (listed with the result)." if losses else ""
        message = f"Exported the {what} of `{meta.name}` {meta.version}{where}{attached}.{kept}"
        self.message = message
        return ExportResult(True, message, text=text, path=written, target=target, evidence=evidence is not None,
                            losses=losses)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1%}"


def _hours(seconds: Any) -> str:
    if seconds is None:
        return "–"
    value = float(seconds)
    return f"{value / 60:.1f} min" if value < 3600 else f"{value / 3600:.2f} h"
