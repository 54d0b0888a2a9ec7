"""What the studio's controller is made of besides its class: the edit vocabulary (kinds, tiers,
distributions, policy and simulation fields), the helpers that turn form values into file values and
back, copying a template, and the messages of refused edits."""

from __future__ import annotations

import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from studio import _backup, fileio
from studio.errors import (
    Finding,
    LoadError,
    StudioError,
)
from studio.model import (
    Actor,
    Autonomy,
    Behaviour,
    Node,
    Workflow,
    format_duration,
)
from studio.templates import get_template, templates_dir

Section = Literal["nodes", "edges", "actors", "tools", "data_sources"]
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
HISTORY_LIMIT = 200
POLICY_FIELDS: tuple[str, ...] = (
    "max_turns", "max_repeats", "approval_sla", "escalate_to", "escalation", "retries", "autonomy",
)
SIMULATION_FIELDS: tuple[str, ...] = ("seed", "start", "cases", "sample_data", "gold_data")
AUTONOMY: tuple[str, ...] = tuple(level.value for level in Autonomy)
ARRIVALS: dict[str, str] = {"poisson": "rate", "fixed": "interval", "column": "column"}
"""Arrival process -> its one parameter."""
ARRIVAL_EXAMPLES: dict[str, str] = {"rate": "30/h", "interval": "2m", "column": "arrival_s"}
"""An arrival parameter -> an example value (for forms and messages)."""
_Rename = Callable[[dict[str, Any], str, "str | None"], None]


class EditRefused(StudioError, ValueError):
    """An edit was refused; the workflow is exactly as it was before the edit."""


def models_by_kind(union: Any) -> dict[str, type[BaseModel]]:
    """``{kind: model}`` of a discriminated union of pydantic models (``Node``, ``Actor``), in order."""
    members = typing.get_args(typing.get_args(union)[0]) if typing.get_origin(union) is typing.Annotated else ()
    out: dict[str, type[BaseModel]] = {}
    for model in members or typing.get_args(union):
        for name in ("kind", "process"):
            info = model.model_fields.get(name)
            if info is not None:
                out[typing.get_args(info.annotation)[0]] = model
                break
    return out


_NODE_MODELS = models_by_kind(Node)
_ACTOR_MODELS = models_by_kind(Actor)
ACTOR_KINDS: tuple[str, ...] = tuple(_ACTOR_MODELS)


def _change_kind(item: dict[str, Any], models: Mapping[str, type[BaseModel]]) -> str:
    """After ``kind=``: drop the fields of plain-data ``item`` its kind (a key of ``models``) has not;
    the note for the edit's message (empty when nothing was dropped)."""
    kind = item["kind"]
    dropped = sorted(key for key in item if key not in models[kind].model_fields)
    for key in dropped:
        del item[key]
    article = "an" if kind[:1] in "aeiou" else "a"
    return f" ({', '.join(dropped)} dropped: {article} {kind} has none)" if dropped else ""


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
        data, _ = fileio.parse_text(text, "output models")
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
    The workflow is written with :func:`studio.fileio.save` (atomic), never into the template itself.
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
            fileio.atomic_write(destination, extra.read_text(encoding="utf-8"))
    fileio.save(template.load(), target)
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
    file's problems are (:func:`studio.fileio.validation_findings`), with the element named."""

    def place(loc: tuple[str | int, ...]) -> str:
        where = fileio.format_location(loc) or "the workflow"
        if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int) and loc[0] in _SINGULAR:
            item = data[loc[0]][loc[1]]
            name = item.get("id") if isinstance(item, dict) else None
            if loc[0] == "edges" and isinstance(item, dict):
                name = f"{item.get('from')} → {item.get('to')}"
            rest = fileio.format_location(loc[2:])
            where = f"{_SINGULAR[loc[0]]} `{name}`" + (f", `{rest}`" if rest else "")
        return where

    problems = [f"{finding.message}; {finding.hint}" if finding.hint else finding.message
                for finding in fileio.validation_findings(exc, data, place=place)]
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
    """The format a workflow file is written in, by its extension (as :func:`studio.fileio.save` does)."""
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
    positions: dict[fileio.Loc, tuple[int, int]] | None = None

    def source(self) -> fileio.Source:
        if self.positions is None:
            self.positions = fileio.parse_text(self.text or "", str(self.path))[1]
        return fileio.Source(self.path, self.positions)


_BY_ID: tuple[str, ...] = ("nodes", "actors", "tools", "data_sources")


def _on_disk(loc: fileio.Loc, now: Workflow, disk: Workflow) -> fileio.Loc | None:
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
    cases: fileio.Cases | None = None




def _pct(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1%}"


def _hours(seconds: Any) -> str:
    if seconds is None:
        return "–"
    value = float(seconds)
    return f"{value / 60:.1f} min" if value < 3600 else f"{value / 3600:.2f} h"
