"""Read untrusted YAML (or JSON) into plain data, with positions and within limits.

libyaml's C parser (through PyYAML's ``CSafeLoader``; the pure-Python parser where libyaml is
missing) turns the text into a stream of events; this module builds plain dicts, lists and
scalars from that stream in one loop, without recursion, and records the 1-based line and column
of every key and item on the way. Because it builds the data itself it can refuse, before the
work is done:

* nesting deeper than ``yaml_depth`` (checked when a mapping or list opens);
* more than ``yaml_nodes`` values, an alias counted at its expanded size (so a small file of
  nested anchors cannot expand to gigabytes: an alias's subtree is shared, never copied);
* numbers longer than ``number_digits`` digits, repeated keys, keys that are not scalars,
  several documents, and tags other than YAML's standard ones (nothing is ever constructed
  from a tag, let alone executed).

Scalars resolve as in YAML 1.2's core schema (as ruamel.yaml does): ``yes``/``no``/``on`` stay
text; ``true``/``false``, ``null``/``~``, integers (``0x``/``0o`` too) and floats are typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from studio.errors import Finding, LoadError, Severity
from studio.limits import Limits, describe, how_to_raise

Loc = tuple[str | int, ...]
Positions = dict[Loc, tuple[int, int]]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))
_INT = re.compile(r"^[-+]?[0-9][0-9_]*$")
_INT_BASE = re.compile(r"^([-+]?)0([xob])([0-9a-fA-F_]+)$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^([-+]?)\.(?:inf|Inf|INF)$")
_NAN = frozenset((".nan", ".NaN", ".NAN"))
_STD = "tag:yaml.org,2002:"
_TAGS = frozenset(f"{_STD}{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq"))
_FIRST = frozenset("0123456789+-.~nNtTfF")


class _Refused(Exception):
    def __init__(self, code: str, mark: Any, message: str, hint: str) -> None:
        super().__init__(message)
        self.code, self.mark, self.message, self.hint = code, mark, message, hint


def _resolve(value: str, digits: int, mark: Any) -> Any:  # noqa: PLR0911 - one return per YAML 1.2 scalar type
    """A plain scalar's value under YAML 1.2's core schema."""
    if not value or value[0] not in _FIRST:
        return value
    if value in _NULL:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _INT.match(value):
        _digits(value, digits, mark)
        return int(value.replace("_", ""))
    based = _INT_BASE.match(value)
    if based is not None:
        base = {"x": 16, "o": 8, "b": 2}[based.group(2)]
        _digits(value, digits, mark)
        try:
            number = int(based.group(3).replace("_", ""), base)
        except ValueError:
            return value
        return -number if based.group(1) == "-" else number
    if _FLOAT.match(value) and any(c in value for c in ".eE"):
        _digits(value, digits, mark)
        return float(value.replace("_", ""))
    inf = _INF.match(value)
    if inf is not None:
        return float("-inf") if inf.group(1) == "-" else float("inf")
    if value in _NAN:
        return float("nan")
    return value


def _digits(value: str, limit: int, mark: Any) -> None:
    if sum(c.isdigit() for c in value) > limit:
        raise _Refused(
            "L005", mark, f"a number of {len(value):,} characters is longer than the limit ({limit} digits)",
            how_to_raise("number_digits"),
        )


_FITS: dict[str, Callable[[Any], bool]] = {  # does a resolved scalar fit the standard tag on it
    f"{_STD}int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    f"{_STD}float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    f"{_STD}bool": lambda v: isinstance(v, bool),
    f"{_STD}null": lambda v: v is None,
}


def _tagged(value: str, tag: str, mark: Any, digits: int) -> Any:
    if tag in (f"{_STD}str", "!"):
        return value
    resolved = _resolve(value, digits, mark)
    if not _FITS[tag](resolved):
        raise _Refused("L002", mark, f"`{value}` is not a valid `!!{tag.removeprefix(_STD)}`",
                       "remove the tag or fix the value")
    return float(resolved) if tag == f"{_STD}float" else resolved


class _Frame:
    __slots__ = ("anchor", "container", "key", "key_mark", "loc", "merges", "size", "start")

    def __init__(self, container: dict[str, Any] | list[Any], loc: Loc, anchor: str | None, start: Any) -> None:
        self.container = container
        self.loc = loc
        self.anchor = anchor
        self.start = start
        self.key: str | None = None
        self.key_mark: Any = None
        self.merges: list[tuple[dict[str, Any], Any]] = []
        self.size = 1


def read(text: str, file: str | None, limits: Limits) -> tuple[Any, Positions]:
    """Plain data and the position map of ``text``; :class:`LoadError` (L002/L005) when refused."""
    positions: Positions = {(): (1, 1)}
    try:
        data = _build(text, positions, limits)
    except _Refused as exc:
        raise _error(file, exc.code, exc.message, exc.hint, _place(exc.mark)) from None
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "the YAML cannot be parsed"
        hint = "indent with spaces, not tabs" if "\t" in problem or "tab" in problem else (
            "check the indentation and quoting on that line")
        raise _error(file, "L002", f"YAML syntax error: {problem}", hint,
                     _place(exc.problem_mark or exc.context_mark)) from None
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)
        at = (None, None) if position is None else (
            text.count("\n", 0, position) + 1, position - text.rfind("\n", 0, position))
        raise _error(file, "L002", f"YAML syntax error: {' '.join(str(exc).split())}",
                     "remove control characters; save the file as UTF-8 text", at) from None
    return data, positions


def _place(mark: Any) -> tuple[int | None, int | None]:
    """A parser mark's 1-based line and column."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


def _error(file: str | None, code: str, message: str, hint: str, at: tuple[int | None, int | None]) -> LoadError:
    what = "over a limit" if code == "L005" else "cannot parse"
    return LoadError([Finding(code, Severity.ERROR, "", message, hint, file, *at)],
                     summary=f"{file or 'input'}: {what}")


def _build(text: str, positions: Positions, limits: Limits) -> Any:  # noqa: C901, PLR0912, PLR0915 - one loop over the parser's events (no recursion); a branch per event kind
    depth_limit, node_limit, digits = limits.yaml_depth, limits.yaml_nodes, limits.number_digits
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    root: Any = None
    documents = 0
    total = 0

    def count(size: int, mark: Any) -> None:
        nonlocal total
        total += size
        if total > node_limit:
            raise _Refused(
                "L005", mark,
                f"the file expands to more than {describe('yaml_nodes', node_limit)} values "
                "(aliases count at their expanded size)",
                "remove the repeated aliases (`*name`) or split the file; " + how_to_raise("yaml_nodes"),
            )

    def place(value: Any, size: int, mark: Any, *, is_key_candidate: bool = False) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        frame = stack[-1]
        frame.size += size
        container = frame.container
        if isinstance(container, list):
            child = (*frame.loc, len(container))
            positions[child] = (mark.line + 1, mark.column + 1)
            container.append(value)
            return
        if frame.key is None:
            if not is_key_candidate:
                raise _Refused("L002", mark, "a key must be plain text, not a list or mapping",
                               "write the key as text")
            key = "None" if value is None else str(value)
            if key in container:
                raise _Refused("L002", mark, f"key `{key}` appears twice in the same mapping",
                               "remove or rename one of them")
            frame.key, frame.key_mark = key, mark
            return
        key, key_mark = frame.key, frame.key_mark
        frame.key = None
        if key == "<<" and not isinstance(value, (str, int, float, bool)) and value is not None:
            merged = value if isinstance(value, list) else [value]
            for item in merged:
                if not isinstance(item, dict):
                    raise _Refused("L002", key_mark, "a merge key `<<` takes a mapping or a list of mappings",
                                   "merge an anchored mapping: `<<: *defaults`")
                frame.merges.append((item, key_mark))
            return
        entry: Loc = (*frame.loc, key)
        positions[entry] = (key_mark.line + 1, key_mark.column + 1)
        container[key] = value

    def child_loc() -> Loc:
        frame = stack[-1]
        if isinstance(frame.container, list):
            return (*frame.loc, len(frame.container))
        return (*frame.loc, frame.key if frame.key is not None else "?")

    def check_tag(tag: str | None, mark: Any) -> None:
        if tag is not None and tag not in _TAGS and tag != "!":
            raise _Refused("L002", mark, f"tag `{tag}` is not supported: workflow files hold plain data",
                           "remove the tag")

    for event in yaml.parse(text, Loader=_Loader):
        kind = type(event)
        if kind is yaml.ScalarEvent:
            count(1, event.start_mark)
            tag = event.tag
            if tag is None or tag == "!":
                style = event.style
                value: Any = event.value if style or (tag == "!") else _resolve(event.value, digits, event.start_mark)
            else:
                check_tag(tag, event.start_mark)
                value = _tagged(event.value, tag, event.start_mark, digits)
            if event.anchor is not None:
                anchors[event.anchor] = (value, 1)
            place(value, 1, event.start_mark, is_key_candidate=True)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            count(1, event.start_mark)
            check_tag(event.tag, event.start_mark)
            if len(stack) + 1 > depth_limit:
                raise _Refused(
                    "L005", event.start_mark,
                    f"the file nests mappings and lists more than {depth_limit} levels deep",
                    "flatten the structure; " + how_to_raise("yaml_depth"),
                )
            container: dict[str, Any] | list[Any] = {} if kind is yaml.MappingStartEvent else []
            loc: Loc = child_loc() if stack else ()
            if stack and isinstance(stack[-1].container, dict) and stack[-1].key is None:
                raise _Refused("L002", event.start_mark, "a key must be plain text, not a list or mapping",
                               "write the key as text")
            stack.append(_Frame(container, loc, event.anchor, event.start_mark))
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            frame = stack.pop()
            if frame.merges and isinstance(frame.container, dict):
                mapping = frame.container
                for merged, _ in frame.merges:
                    for key, item in merged.items():
                        mapping.setdefault(key, item)
            if frame.anchor is not None:
                anchors[frame.anchor] = (frame.container, frame.size)
            place(frame.container, frame.size, frame.start)
        elif kind is yaml.AliasEvent:
            found = anchors.get(event.anchor)
            if found is None:
                raise _Refused("L002", event.start_mark, f"alias `*{event.anchor}` names no anchor before it",
                               f"define `&{event.anchor}` before using it")
            value, size = found
            count(size, event.start_mark)
            place(value, size, event.start_mark, is_key_candidate=not isinstance(value, (dict, list)))
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _Refused("L002", event.start_mark, "the file holds more than one YAML document (`---`)",
                               "keep one workflow per file")
    return root
