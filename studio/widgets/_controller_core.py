"""The studio controller's core: the workflow it holds, reading it, and the edit cycle every edit goes
through (see :mod:`studio.widgets.controller`)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from studio import _backup, _names, fileio
from studio.errors import (
    Finding,
    GraphvizMissing,
    LoadError,
    Severity,
    sort_findings,
)
from studio.expr import check as check_expression
from studio.model import (
    Agent,
    Human,
    Workflow,
)
from studio.templates import blank_workflow, get_template, template_names
from studio.widgets._edit_support import (
    _BEHAVIOUR_FIELDS,
    _SINGULAR,
    HISTORY_LIMIT,
    EditRefused,
    Section,
    _blank,
    _Cache,
    _Disk,
    _explain,
    _format_of,
    _is_template,
    _on_disk,
    _set_fields,
)


class ControllerCore:
    """The controller's state and machinery: reading, the edit cycle (validate, replace, autosave,
    notify), undo and redo, files. :class:`~studio.widgets.controller.StudioController` adds the edits
    and the runs."""

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
        self._cache = _Cache()
        self._lanes, self._direction, self._key = lanes, direction, key
        self.message = ""
        self.save_error: str | None = None
        self._undo: list[tuple[Workflow, str]] = []
        self._redo: list[tuple[Workflow, str]] = []
        self._listeners: list[Callable[[str], None]] = []
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
            self._base = source.path if isinstance(source, fileio.Source) else None
            self.message = f"Opened `{workflow.metadata.name}`."
        else:
            workflow, self.message = self._open(Path(workflow_or_path))
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
    def cases(self) -> fileio.Cases | None:
        """The workflow's sample data (cached; reloaded when the file changes), or None."""
        path = fileio.sample_path(self._workflow)
        if path is None or not path.is_file():
            self._cache.data_key, self._cache.cases = None, None
            return None
        key = (str(path), path.stat().st_mtime)
        if key != self._cache.data_key:
            try:
                self._cache.cases = fileio.load_cases(path)
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
            self._cache.text = fileio.dumps(self._workflow, _format_of(self.path))
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
        if opened and isinstance(source, fileio.Source) and source.positions:
            return findings  # as opened: the validator placed them in the file's own text
        base = source.path if isinstance(source, fileio.Source) else None
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
            loc = fileio.parse_location(finding.location)
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

    @property
    def lanes(self) -> str:
        """The diagram's swimlanes: ``"actor"``, ``"kind"`` or ``"none"`` (setting it redraws)."""
        return self._lanes

    @lanes.setter
    def lanes(self, value: str) -> None:
        self._lanes, self._cache.svg = value, None

    @property
    def direction(self) -> str:
        """The diagram's layout: ``"TB"`` top to bottom or ``"LR"`` left to right (setting it redraws)."""
        return self._direction

    @direction.setter
    def direction(self, value: str) -> None:
        self._direction, self._cache.svg = value, None

    @property
    def key(self) -> bool:
        """Whether the diagram carries its key of shapes and colours (setting it redraws)."""
        return self._key

    @key.setter
    def key(self, value: bool) -> None:
        self._key, self._cache.svg = value, None

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
        loc = fileio.parse_location(finding.location)
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

    def options_for(self, reference: str) -> list[str]:  # noqa: PLR0911 - one return per kind of reference
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
        return fileio.dump_yaml(models) if models else ""

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
        """A free step id made from ``name`` (``"Check the contract"`` -> ``check_the_contract``, then
        ``check_the_contract_2``...: :mod:`studio._names`' rule), else ``step_1``, ``step_2``..."""
        stem = _names.slug(name or "")[:40].strip("_") or "step"
        if stem[0].isdigit():
            stem = f"step_{stem}"
        used = set(self.options_for("nodes"))
        if stem != "step":
            return _names.unique(stem, used)
        number = 1  # unnamed steps count from step_1
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
        if base is not None and not (isinstance(source, fileio.Source) and source.path == base):
            workflow._source = fileio.Source(base, {})
        self._cache = _Cache(data_key=self._cache.data_key, cases=self._cache.cases)
        return workflow

    def _remember_disk(self, workflow: Workflow, text: str | None = None, path: Path | None = None) -> None:
        """Note what a file now holds (just opened, or just saved), to place findings after edits."""
        source = workflow.source
        if path is not None and text is not None:
            self._disk = _Disk(path, workflow, text)
        elif isinstance(source, fileio.Source) and source.path is not None and source.positions:
            self._disk = _Disk(source.path, workflow, positions=dict(source.positions))

    def _data(self) -> dict[str, Any]:
        return fileio.to_data(self._workflow)

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
            fileio.atomic_write(self.path, text)
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
            text = self._file_text() if target == self.path else fileio.dumps(self._workflow, _format_of(target))
            fileio.atomic_write(target, text)
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
            source = fileio.sample_path(self._workflow, which)
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
            workflow, message = self._open(target)
        except LoadError as exc:
            self.message = f"Could not open `{target}`: " + "; ".join(f.message for f in exc.findings[:3])
            raise
        self._remember_disk(workflow)
        return self._replace(workflow, message, save=False)  # opening never rewrites the file

    def _open(self, path: Path) -> tuple[Workflow, str]:
        """Read a workflow file and make it the one edits are saved to (a template: none, it is read
        only); the workflow and what to say. Raises :class:`~studio.errors.LoadError`, changing nothing."""
        workflow = fileio.load(path)
        self._base = path
        if _is_template(path):  # a template is read, never written: Save writes a copy elsewhere
            self.path = None
            return workflow, f"Opened template `{path.parent.name}`; to keep changes, save a copy to a file."
        self.path = path
        saved = (f"; every change is saved to it (earlier versions: {_backup.FOLDER}/ next to it)"
                 if self.autosave else "")
        return workflow, f"Opened `{path}`{saved}."

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
                    fileio.atomic_write(destination, extra.read_text(encoding="utf-8"))
        else:
            self._base = template.workflow_path
        return self._replace(workflow, f"Started from template `{name}`.")

