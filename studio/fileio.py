"""Load and save workflows (YAML or JSON) and case data (CSV or JSONL).

Every load error names the file, line and column: YAML is parsed by libyaml's C parser into
plain data that records the position of every key and item (:mod:`studio._yamlread`), and
pydantic's error locations are mapped back to those positions. Nothing in a file is ever
executed, and every read is bounded (:mod:`studio.limits`): a file is read up to its size limit
and no further, nesting and alias expansion are checked before the work is done. Saves are atomic: the text goes to a
temporary file in the same folder, which then replaces the old file, so a failed save never
destroys what the user had.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import difflib
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML

from studio import _gcpause, _yamlread, limits
from studio.errors import Finding, LoadError, Severity
from studio.model import Workflow

Loc = tuple[str | int, ...]


@dataclass
class Source:
    """Where a workflow came from, and the line and column of every element in it (1-based)."""

    path: Path | None = None
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    text: str | None = field(default=None, repr=False)  # the file's text, for checks of its comments

    @property
    def file(self) -> str | None:
        return str(self.path) if self.path is not None else None

    def position(self, loc: Loc) -> tuple[int, int] | None:
        """Line and column of ``loc``, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while True:
            if loc in self.positions:
                return self.positions[loc]
            if not loc:
                return None
            loc = loc[:-1]

    def resolve(self, path: str) -> tuple[int, int] | None:
        """Position of a location path such as ``nodes[3].actor``."""
        return self.position(parse_location(path))


def placed(workflow: Workflow, findings: Iterable[Finding]) -> list[Finding]:
    """The findings with the file, line and column of their location in the workflow's source."""
    source = workflow.source if isinstance(workflow.source, Source) else None
    if source is None:
        return list(findings)
    out = []
    for finding in findings:
        position = source.resolve(finding.location) if finding.line is None else None
        if position is not None:
            out.append(dataclasses.replace(finding, file=source.file, line=position[0], column=position[1]))
        else:
            out.append(finding if finding.file is not None else dataclasses.replace(finding, file=source.file))
    return out


def format_location(loc: Loc) -> str:
    """``("nodes", 3, "actor")`` -> ``nodes[3].actor``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def parse_location(path: str) -> Loc:
    """``nodes[3].actor`` -> ``("nodes", 3, "actor")``."""
    parts: list[str | int] = []
    for chunk in path.replace("]", "").split("."):
        if not chunk:
            continue
        name, *indices = chunk.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indices if i.lstrip("-").isdigit())
    return tuple(parts)


# --------------------------------------------------------------------------- reading YAML


def parse_text(text: str, file: str | None = None) -> tuple[Any, dict[Loc, tuple[int, int]]]:
    """Parse YAML (or JSON, which is YAML) into plain data plus a position map.

    libyaml's C parser does the parsing; :mod:`studio._yamlread` builds the data within the
    limits in force (:mod:`studio.limits`): depth, values (aliases expanded) and number length.
    """
    return _yamlread.read(text, file, limits.current())


# --------------------------------------------------------------------------- pydantic errors


def _fields_at(loc: Sequence[str | int]) -> list[str]:
    """Field names allowed by the model at a pydantic error location (tags pick union members)."""
    current: list[Any] = [Workflow]
    for part in loc:
        models = [m for item in current for m in _model_args(item)]
        if isinstance(part, int):
            continue
        tagged = [m for m in models if _tag_of(m) == part]
        if tagged:
            current = tagged
            continue
        nxt: list[Any] = []
        for model in models:
            for name, info in model.model_fields.items():
                if part in (name, info.alias):
                    nxt.append(info.annotation)
        if not nxt:
            break
        current = nxt
    names: set[str] = set()
    for model in {m for item in current for m in _model_args(item)}:
        names.update(info.alias or name for name, info in model.model_fields.items())
    return sorted(names)


def _tag_of(model: type[BaseModel]) -> str | None:
    for key in ("kind", "dist", "process"):
        info = model.model_fields.get(key)
        if info is not None:
            args: tuple[Any, ...] = tuple(getattr(info.annotation, "__args__", ()))
            if len(args) == 1 and isinstance(args[0], str):
                return str(args[0])
    return None


def _model_args(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            found.append(item)
            continue
        stack.extend(getattr(item, "__args__", ()) or ())
        stack.extend(a for a in getattr(item, "__metadata__", ()) or () if isinstance(a, type))
    return found


def _suggest(word: str, loc: Sequence[str | int]) -> str:
    allowed = _fields_at(loc)
    close = difflib.get_close_matches(word, allowed, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    if allowed:
        return "allowed here: " + ", ".join(f"`{name}`" for name in allowed)
    return "remove it or check the spelling"


def _data_loc(data: Any, loc: Sequence[str | int]) -> Loc:
    """Drop the union tags pydantic puts in error locations, keeping only real keys and indices."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and str(part) in node:
            out.append(str(part))
            node = node[str(part)]
        elif isinstance(node, dict) and part in ("from", "to"):
            out.append(part)
            node = None
        elif isinstance(node, dict) and out[-1:] != [part]:
            # A missing field, or a tag of a discriminated union (skipped when it is a tag).
            if part in _TAGS:
                continue
            out.append(part)
            node = None
        else:
            continue
    return tuple(out)


def _union_tags() -> frozenset[str]:
    """Every discriminator value in the model (`task`, `agent`, `triangular`, `poisson`, ...)."""
    seen: set[type[BaseModel]] = set()
    stack: list[type[BaseModel]] = [Workflow]
    while stack:
        model = stack.pop()
        if model not in seen:
            seen.add(model)
            stack.extend(m for info in model.model_fields.values() for m in _model_args(info.annotation))
    return frozenset(tag for model in seen if (tag := _tag_of(model)) is not None)


# Steps pydantic may name in an error location that are not keys of the data.
_PYDANTIC_STEPS = frozenset(
    ("function-after", "function-before", "function-plain", "function-wrap", "nullable", "union",
     "tagged-union", "str", "int", "float")
)
_TAGS = _union_tags() | _PYDANTIC_STEPS


def file_place(loc: Loc) -> str:
    """How a file's problem names its place: the path in backticks (`` `nodes[1].actor` ``)."""
    return f"`{format_location(loc) or 'top level'}`"


def _describe(error: Mapping[str, Any], loc: Loc, place: Callable[[Loc], str]) -> tuple[str, str]:  # noqa: PLR0911 - one return per pydantic error type
    """(message, hint) for one pydantic error at the data location ``loc``, named by ``place``."""
    kind = error["type"]
    raw = error["loc"]
    last = str(raw[-1]) if raw else ""
    where = place(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        parent = place(loc[:-1]) if len(loc) > 1 else "the top level"
        return f"unknown field `{last}` in {parent}: `{last}` does not apply here", _suggest(last, raw[:-1])
    if kind == "missing":
        return f"{where} is required but missing", f"add `{last}:`"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return (
            f"`{ctx.get('tag')}` is not a valid `{ctx.get('discriminator', 'kind').strip(chr(39))}` at {where}",
            f"use one of {ctx.get('expected_tags')}",
        )
    if kind == "union_tag_not_found":
        ctx = error.get("ctx", {})
        disc = str(ctx.get("discriminator", "kind")).strip("'")
        return f"{where} has no `{disc}`", f"add `{disc}:` to say what it is"
    if kind == "string_type":
        return f"{where} must be text, got `{error.get('input')!r}`", "put the value in quotes"
    if kind == "string_pattern_mismatch":
        if loc and str(loc[-1]).endswith("version"):
            return (
                f"{where} `{error.get('input')}` is not a semantic version",
                'write it as MAJOR.MINOR.PATCH in quotes, e.g. "1.2.0"',
            )
        if loc and loc[-1] == "hours":
            return (
                f"{where} `{error.get('input')}` is not working hours",
                "write `HH:MM-HH:MM` with two digits each, e.g. `09:00-17:00`; in `shifts` several ranges "
                "may follow, comma-separated: `09:00-12:00,13:00-17:00`",
            )
        return (
            f"{where} `{error.get('input')}` is not a valid identifier",
            "use letters, digits, `_` and `-`, starting with a letter or `_`",
        )
    if kind in ("int_parsing", "float_parsing"):
        return f"{where}: `{error.get('input')}` is not a number", "write a number, e.g. 3 or 0.5"
    if kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        expected = "a list" if kind == "list_type" else "a mapping"
        return f"{where} must be {expected}", "check the indentation of this block"
    if "; " in message:  # the model's own messages read "what is wrong; how to fix it"
        problem, fix = message.split("; ", 1)
        return f"{where}: {problem}", fix
    return f"{where}: {message}", "check the value against docs/workflow-format.md"


def validation_findings(
    exc: ValidationError,
    data: Any,
    positions: Mapping[Loc, tuple[int, int]] | None = None,
    file: str | None = None,
    *,
    place: Callable[[Loc], str] = file_place,
) -> list[Finding]:
    """The one translation of pydantic's errors into findings (``L003``): what is wrong, where, how to fix it.

    ``data`` is what was validated (pydantic's locations are mapped back onto its keys and
    indices); ``positions`` add line and column. Loading a file names places by their path
    (:func:`file_place`); the studio's edits pass ``place`` to name the element instead
    ("step `review`, `sla`").
    """
    source = Source(None, dict(positions or {}))
    findings = []
    for error in exc.errors(include_url=False):
        loc = _data_loc(data, error["loc"])
        message, hint = _describe(error, loc, place)
        line_col = source.position(loc)
        findings.append(
            Finding(
                "L003",
                Severity.ERROR,
                format_location(loc) or "top level",
                message,
                hint,
                file,
                line_col[0] if line_col else None,
                line_col[1] if line_col else None,
            )
        )
    return findings


# --------------------------------------------------------------------------- public API


@_gcpause.paused()
def loads(text: str, file: str | os.PathLike[str] | None = None) -> Workflow:
    """Parse a workflow from YAML or JSON text. Raises :class:`LoadError` with every problem."""
    name = str(file) if file is not None else None
    data, positions = parse_text(text, name)
    if not isinstance(data, dict):
        raise LoadError(
            [
                Finding(
                    "L003",
                    Severity.ERROR,
                    "",
                    "a workflow file is a mapping with `metadata`, `nodes` and `edges`",
                    "start from `studio new NAME --template procurement`",
                    name,
                    1,
                    1,
                )
            ],
            summary=f"{name or 'input'}: not a workflow",
        )
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        findings = validation_findings(exc, data, positions, name)
        raise LoadError(findings, summary=f"{name or 'input'}: {len(findings)} problem(s) in the workflow") from None
    workflow._source = Source(Path(file) if file is not None else None, positions, text)
    return workflow


def read_limited_bytes(path: str | os.PathLike[str], limit: str = "workflow_bytes", what: str = "file") -> bytes:
    """The bytes of ``path``, read in chunks and never past the size ``limit`` names.

    ``limit`` is a name in :class:`studio.limits.Limits` (``workflow_bytes``, ``data_bytes``,
    ``bpmn_bytes``). A file larger than that (``/dev/zero``, a 200 MB upload) is refused with an
    ``L005`` error after reading at most the limit, so memory and time stay bounded. Missing,
    folder and unreadable files are ``L001`` errors.
    """
    path = Path(path)
    maximum: int = getattr(limits.current(), limit)
    name = str(path)
    try:
        with path.open("rb") as handle:
            with contextlib.suppress(OSError):
                size = os.fstat(handle.fileno()).st_size
                if size > maximum:
                    _refuse(name, "L005", f"{what} `{path}` is {limits.describe(limit, size)}, over the limit of "
                            f"{limits.describe(limit, maximum)}", limits.how_to_raise(limit), "too large")
            chunks: list[bytes] = []
            total = 0
            while total <= maximum:
                chunk = handle.read(min(1 << 20, maximum + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            if total > maximum:
                _refuse(name, "L005", f"{what} `{path}` is longer than the limit of "
                        f"{limits.describe(limit, maximum)} (reading stopped there)", limits.how_to_raise(limit),
                        "too large")
    except FileNotFoundError:
        _refuse(name, "L001", f"{what} `{path}` does not exist", "check the path", "not found")
    except IsADirectoryError:
        _refuse(name, "L001", f"`{path}` is a folder, not a {what}", "point at the file inside it", "is a folder")
    except OSError as exc:
        _refuse(name, "L001", f"cannot read `{path}`: {exc.strerror or exc}", "check the file's permissions",
                "unreadable")
    return b"".join(chunks)


def _refuse(name: str, code: str, message: str, hint: str, summary: str) -> NoReturn:
    raise LoadError([Finding(code, Severity.ERROR, "", message, hint, name)], summary=f"{name}: {summary}")


def read_limited(path: str | os.PathLike[str], limit: str = "workflow_bytes", what: str = "file") -> str:
    """The UTF-8 text of ``path`` (a leading BOM dropped), read as :func:`read_limited_bytes` does."""
    data = read_limited_bytes(path, limit, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        _refuse(str(path), "L001", f"`{path}` is not UTF-8 text (byte {exc.start + 1}, line {line})",
                "save the file as UTF-8", "not UTF-8")
    return text.removeprefix("\ufeff")


def load(path: str | os.PathLike[str]) -> Workflow:
    """Load a workflow file (``.yaml``, ``.yml`` or ``.json``), within the limits in force."""
    path = Path(path)
    text = read_limited(path, "workflow_bytes", "workflow file")
    return loads(text, path)


def _tidy(value: Any) -> Any:
    """Put `id` and `kind` first and `behaviour` last in every mapping, for files people read."""
    if isinstance(value, list):
        return [_tidy(item) for item in value]
    if not isinstance(value, dict):
        return value
    first = [k for k in ("id", "kind") if k in value]
    last = [k for k in ("behaviour",) if k in value]
    middle = [k for k in value if k not in first and k not in last]
    return {k: _tidy(value[k]) for k in (*first, *middle, *last)}


def to_data(workflow: Workflow) -> dict[str, Any]:
    """The workflow as plain data, defaults left out, in the field order of the model."""
    data = workflow.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data.pop("apiVersion", None)
    tidy: dict[str, Any] = _tidy(data)
    return {"apiVersion": workflow.api_version, **tidy}


def dumps(workflow: Workflow, fmt: str = "yaml") -> str:
    """Serialise a workflow as ``yaml`` or ``json`` text; the same workflow always gives the same text."""
    data = to_data(workflow)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt != "yaml":
        raise ValueError(f"unknown format `{fmt}`; use `yaml` or `json`")
    return dump_yaml(data)


def sort_keys(value: Any) -> Any:
    """Plain data with every mapping's keys sorted, at every level (for byte-stable documents)."""
    if isinstance(value, dict):
        return {key: sort_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sort_keys(item) for item in value]
    return value


def dump_yaml(data: Any) -> str:
    """Plain data as block-style YAML in the studio's house style (keys in the order given; a value
    used twice is written twice, never as an anchor and alias)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.ignore_aliases = lambda *_: True  # after the settings: reading `representer` creates it
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def os_error_at(exc: OSError, path: str | os.PathLike[str]) -> OSError:
    """``exc`` naming ``path``, the file the user asked for (not a temporary one); same errno, same subclass."""
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


def atomic_write(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a temporary file in the same folder, then a rename.

    A symlink is followed: its target is updated (atomically, in the target's folder) and the link
    stays a link. A failed write (disk full, read-only, no permission) leaves the old file as it was
    and raises :class:`OSError` naming ``path``.
    """
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise os_error_at(exc, path) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            raise os_error_at(exc, path) from exc
        raise
    return path


def save(workflow: Workflow, path: str | os.PathLike[str]) -> Path:
    """Save atomically; the format follows the extension (``.json`` or YAML)."""
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    text = dumps(workflow, fmt)
    return atomic_write(path, text)


# --------------------------------------------------------------------------- case data


_NUMERIC = re.compile(r"^[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


class _TooLong(ValueError):
    """A number of case data has more digits than ``number_digits`` allows."""


def _coerce(value: str, digits: int | None = None) -> Any:
    text = value.strip()
    if text == "":
        return None
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if digits is not None and len(text) > digits and _NUMERIC.match(text):
        raise _TooLong(text)
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return value
    # `nan`, `inf` and friends stay text: never a number that compares false with everything
    return number if math.isfinite(number) else value


@dataclass
class Cases:
    """Rows of case data (one a case) and the columns they have."""

    rows: list[dict[str, Any]]
    columns: list[str]
    path: Path | None = None
    lines: list[int] = field(default_factory=list)  # the file line each row starts on, when read from a file
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """What readers work out from the rows once (the secret scan), so validation and the run share it."""

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Any:
        return iter(self.rows)


def load_cases(path: str | os.PathLike[str]) -> Cases:
    """Read a CSV (header row, then one case a row) or JSONL file (one JSON object a line).

    Numbers and ``true``/``false`` in CSV cells become numbers and booleans; empty cells become
    missing values. Errors name the file and line. Untrusted data is bounded
    (:mod:`studio.limits`): the file's size, a cell's length, a number's digits and a JSONL line's
    nesting; ``NaN`` and ``Infinity`` are refused in JSONL, and a file without cases is refused.
    """
    path = Path(path)
    text = read_limited(path, "data_bytes", "data file")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        cases = _jsonl(text, path, limits.current())
    else:
        cases = _csv(text, path, limits.current())
    if not cases.rows:
        raise LoadError(
            [Finding("L004", Severity.ERROR, "", f"`{path}` has no cases (only a header, or only empty lines)",
                     "add one row per case, or leave the data out", str(path), 1, 1)],
            summary=f"{path}: no cases",
        )
    return cases


def _data_error(code: str, path: Path, where: str, message: str, hint: str, *, line: int) -> Finding:  # noqa: PLR0913 - a finding's fields, as keywords
    return Finding(code, Severity.ERROR, where, message, hint, str(path), line, 1)


def _csv(text: str, path: Path, bounds: limits.Limits) -> Cases:
    previous = csv.field_size_limit()
    csv.field_size_limit(bounds.field_chars)
    try:
        return _csv_rows(text, path, bounds)
    finally:
        csv.field_size_limit(previous)


def _csv_rows(text: str, path: Path, bounds: limits.Limits) -> Cases:  # noqa: C901, PLR0912 - one pass over the rows; each refusal has its own message
    reader = csv.reader(io.StringIO(text))

    def csv_error(exc: csv.Error) -> LoadError:
        line = reader.line_num or 1
        if "field larger than field limit" in str(exc):
            finding = _data_error(
                "L005", path, f"line {line}",
                f"a value on line {line} is longer than the limit of "
                f"{limits.describe('field_chars', bounds.field_chars)} characters",
                "check for an unclosed quote; " + limits.how_to_raise("field_chars"), line=line)
        else:
            finding = _data_error("L004", path, f"line {line}", f"not valid CSV: {exc}",
                                  "check the quoting on that line", line=line)
        return LoadError([finding], summary=f"{path}: cannot read the data")

    try:
        header = next(reader)
    except StopIteration:
        raise LoadError(
            [
                Finding(
                    "L004",
                    Severity.ERROR,
                    "",
                    f"`{path}` is empty",
                    "add a header row of column names",
                    str(path),
                    1,
                    1,
                )
            ],
            summary=f"{path}: empty",
        ) from None
    except csv.Error as exc:
        raise csv_error(exc) from None
    header = [h.strip() for h in header]
    problems = []
    for index, name in enumerate(header):
        if not name:
            problems.append(
                Finding(
                    "L004",
                    Severity.ERROR,
                    f"column {index + 1}",
                    "a column has no name",
                    "give every column a name in the header row",
                    str(path),
                    1,
                    index + 1,
                )
            )
    dupes = sorted({h for h in header if header.count(h) > 1 and h})
    for name in dupes:
        problems.append(
            Finding(
                "L004",
                Severity.ERROR,
                name,
                f"column `{name}` appears twice in the header",
                "rename one of them",
                str(path),
                1,
                header.index(name) + 1,
            )
        )
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    digits = bounds.number_digits
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise csv_error(exc) from None
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(
                Finding(
                    "L004",
                    Severity.ERROR,
                    f"row {len(rows) + 1}",
                    f"row has {len(row)} values but the header has {len(header)} columns",
                    "quote values that contain commas",
                    str(path),
                    line,
                    1,
                )
            )
            continue
        try:
            rows.append({name: _coerce(cell, digits) for name, cell in zip(header, row, strict=True)})
            lines.append(first_line)
        except _TooLong as exc:
            problems.append(_data_error(
                "L005", path, f"row {len(rows) + 1}",
                f"a number of {len(str(exc)):,} characters is longer than the limit of {digits} digits",
                "quote it as text if it is an identifier; " + limits.how_to_raise("number_digits"), line=line))
        if len(problems) > 100:
            break
    if problems:
        raise LoadError(problems, summary=f"{path}: {len(problems)} problem(s) in the data")
    return Cases(rows, header, path, lines)


class _Refused(ValueError):
    def __init__(self, code: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def _nesting(line: str) -> int:
    """How deeply ``[``/``{`` nest in a JSON line (outside strings), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in line:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _json_hooks(bounds: limits.Limits) -> dict[str, Any]:
    digits = bounds.number_digits

    def constant(name: str) -> Any:
        raise _Refused("L004", f"`{name}` is not a number a case can hold",
                       "write the value as a finite number, or leave the field out (null)")

    def bounded(text: str) -> str:
        if len(text) > digits:
            raise _Refused("L005", f"a number of {len(text):,} digits is longer than the limit of {digits} digits",
                           "write it as a string if it is an identifier; " + limits.how_to_raise("number_digits"))
        return text

    def integer(text: str) -> int:
        return int(bounded(text))

    def real(text: str) -> float:
        number = float(bounded(text))
        if not math.isfinite(number):
            constant(text)
        return number

    return {"parse_constant": constant, "parse_int": integer, "parse_float": real}


def _long_text(value: Any, limit: int) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) > limit:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _jsonl(text: str, path: Path, bounds: limits.Limits) -> Cases:
    rows: list[dict[str, Any]] = []
    problems = []
    columns: dict[str, None] = {}
    lines: list[int] = []
    hooks = _json_hooks(bounds)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            if line.count("[") + line.count("{") > bounds.data_depth and _nesting(line) > bounds.data_depth:
                raise _Refused("L005", f"line {number} nests arrays and objects more than {bounds.data_depth} deep",
                               "flatten the case's fields; " + limits.how_to_raise("data_depth"))
            row = json.loads(line, **hooks)
            if len(line) > bounds.field_chars and _long_text(row, bounds.field_chars):
                raise _Refused("L005", f"a value on line {number} is longer than the limit of "
                               f"{limits.describe('field_chars', bounds.field_chars)} characters",
                               limits.how_to_raise("field_chars"))
        except _Refused as exc:
            problems.append(_data_error(exc.code, path, f"line {number}", exc.message, exc.hint, line=number))
            continue
        except json.JSONDecodeError as exc:
            problems.append(
                Finding(
                    "L004",
                    Severity.ERROR,
                    f"line {number}",
                    f"not valid JSON: {exc.msg}",
                    "write one JSON object per line",
                    str(path),
                    number,
                    exc.colno,
                )
            )
            continue
        except (ValueError, RecursionError) as exc:  # belt and braces: the checks above come first
            problems.append(_data_error("L004", path, f"line {number}", f"cannot read line {number}: {exc}",
                                        "write one flat JSON object per line", line=number))
            continue
        if not isinstance(row, dict):
            problems.append(
                Finding(
                    "L004",
                    Severity.ERROR,
                    f"line {number}",
                    "each line must be a JSON object",
                    "write one {...} object per line",
                    str(path),
                    number,
                    1,
                )
            )
            continue
        rows.append(row)
        lines.append(number)
        columns.update(dict.fromkeys(row))
        if len(problems) > 100:
            break
    if problems:
        raise LoadError(problems, summary=f"{path}: {len(problems)} problem(s) in the data")
    return Cases(rows, list(columns), path, lines)


def as_cases(data: Cases | str | os.PathLike[str] | Iterable[Mapping[str, Any]] | None) -> Cases | None:
    """Accept a :class:`Cases`, a path, or rows (dicts); None stays None."""
    if data is None or isinstance(data, Cases):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_cases(data)
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        frame: Any = data
        return Cases(frame.to_dict(orient="records"), [str(c) for c in frame.columns])
    rows = [dict(row) for row in data]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return Cases(rows, list(columns))


def workflow_cases(workflow: Workflow, data: Any = None) -> Cases | None:
    """The case data to use: ``data`` when given (see :func:`as_cases`), else the workflow's own
    ``simulation.sample_data`` when that file is there, else None."""
    if data is not None:
        return as_cases(data)
    path = sample_path(workflow)
    return load_cases(path) if path is not None and path.is_file() else None


ALLOW_OUTSIDE_ENV = "STUDIO_ALLOW_DATA_OUTSIDE"


def data_outside_allowed() -> bool:
    """Whether data paths may point outside the workflow's folder (``STUDIO_ALLOW_DATA_OUTSIDE=1``)."""
    return os.environ.get(ALLOW_OUTSIDE_ENV, "").strip().lower() in ("1", "true", "yes")


def workflow_folder(workflow: Workflow) -> Path:
    """The folder a workflow's relative paths start from: its file's folder, else the current one."""
    source = workflow.source
    path = source.path if isinstance(source, Source) else None
    return path.parent if path is not None else Path.cwd()


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (symlinks and ``..`` resolved) lies inside ``folder``."""
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def data_path(workflow: Workflow, which: str = "sample") -> Path | None:
    """The workflow's sample (or gold) data path as written, resolved against its folder (unchecked)."""
    name = workflow.simulation.sample_data if which == "sample" else workflow.simulation.gold_data
    if name is None:
        return None
    candidate = Path(name)
    if not candidate.is_absolute():
        candidate = workflow_folder(workflow) / candidate
    return candidate


def sample_path(workflow: Workflow, which: str = "sample", *, allow_outside: bool | None = None) -> Path | None:
    """The workflow's sample (or gold) data path, resolved against the workflow file's folder.

    A workflow file is untrusted: a path that leaves the workflow's folder (``/etc/passwd``,
    ``../../secrets.csv``, a symlink out) gives None, so it is never read, unless ``allow_outside``
    (default: the ``STUDIO_ALLOW_DATA_OUTSIDE`` environment variable) says so. ``validate``
    reports such a path as ``D005``.
    """
    candidate = data_path(workflow, which)
    if candidate is None:
        return None
    allowed = data_outside_allowed() if allow_outside is None else allow_outside
    if not allowed and not is_inside(candidate, workflow_folder(workflow)):
        return None
    return candidate
