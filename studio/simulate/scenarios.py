"""What-if scenarios: ``KEY=VALUE`` overrides applied to a copy of a workflow, then re-validated.

``KEY`` is a dotted path into the workflow file's structure; items of ``actors``, ``nodes`` and
``tools`` are picked by id, ``edges`` by ``from>to``, any list by index::

    actors.approvers.capacity=5
    nodes.manager_approval.threshold=amount > 5000        # approval only above 5000
    actors.intake_agent.behaviour.duration=10s
    tools.payments.rate_limit.calls=20
    edges.review>intake.max_repeats=2
    policies.max_repeats=2
    simulation.arrivals.rate=30/h

``VALUE`` is read as a YAML scalar or flow collection (``5`` is a number, ``true`` a boolean,
``null`` clears a field, ``[a, b]`` a list); when that does not fit the field, the raw text is
tried. The result is validated as a whole workflow (``Workflow.model_validate``); the original is
never changed.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from studio.errors import StudioError
from studio.model import Workflow

__all__ = ["ScenarioError", "apply", "normalise", "parse_override"]

_BY_ID = ("actors", "nodes", "tools", "data_sources")
_MISSING = object()


class ScenarioError(StudioError, ValueError):
    """A scenario override does not name a place in the workflow, or its value does not fit."""


def normalise(scenario: str | Iterable[str] | Mapping[str, Any] | None) -> list[str]:
    """Scenario overrides as a list of ``KEY=VALUE`` texts."""
    if scenario is None:
        return []
    if isinstance(scenario, str):
        return [scenario] if scenario.strip() else []
    if isinstance(scenario, Mapping):
        return [f"{key}={value}" for key, value in scenario.items()]
    return [str(item) for item in scenario]


def parse_override(text: str) -> tuple[list[str], str]:
    """``"actors.approvers.capacity=5"`` -> (``["actors", "approvers", "capacity"]``, ``"5"``)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"scenario `{text}` must be written KEY=VALUE, e.g. `actors.approvers.capacity=5`")
    parts = [part.strip() for part in key.split(".")]
    if any(not part for part in parts):
        raise ScenarioError(f"scenario key `{key}` has an empty part")
    return parts, value.strip()


def _typed(value: str) -> Any:
    if value == "":
        return value
    try:
        loaded = YAML(typ="safe", pure=True).load(io.StringIO(value))
    except YAMLError:
        return value
    return loaded if isinstance(loaded, (str, int, float, bool, list, dict)) or loaded is None else value


def _child(container: Any, part: str, path: Sequence[str], depth: int) -> tuple[Any, Any]:
    """(key or index into ``container``, current value) for ``part``."""
    where = ".".join(path[: depth + 1])
    if isinstance(container, list):
        if part.lstrip("-").isdigit():
            index = int(part)
            if not -len(container) <= index < len(container):
                raise ScenarioError(f"`{where}`: index {index} is out of range (0..{len(container) - 1})")
            return index, container[index]
        parent = path[depth - 1] if depth else ""
        if parent == "edges":
            source, _, target = part.partition(">")
            for index, item in enumerate(container):
                if isinstance(item, dict) and item.get("from") == source and item.get("to") == target:
                    return index, item
            known = [f"{e.get('from')}>{e.get('to')}" for e in container if isinstance(e, dict)]
            raise ScenarioError(f"`{where}`: no edge `{part}`" + _near(part, known))
        for index, item in enumerate(container):
            if isinstance(item, dict) and item.get("id") == part:
                return index, item
        known = [str(item.get("id")) for item in container if isinstance(item, dict)]
        what = parent.rstrip("s") if parent in _BY_ID else "item"
        raise ScenarioError(f"`{where}`: no {what} `{part}`" + _near(part, known))
    if isinstance(container, dict):
        return part, container.get(part, _MISSING)
    raise ScenarioError(f"`{where}`: `{'.'.join(path[:depth])}` is a value, not a section")


def _near(word: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else (f" (known: {', '.join(known[:10])})" if known else "")


def _set(data: dict[str, Any], path: Sequence[str], value: Any) -> None:
    container: Any = data
    for depth, part in enumerate(path[:-1]):
        key, current = _child(container, part, path, depth)
        if current is _MISSING or current is None:
            if isinstance(container, dict):
                container[key] = current = {}
            else:  # pragma: no cover - list items always exist
                raise ScenarioError(f"`{'.'.join(path)}` cannot be created")
        container = current
    key, _current = _child(container, path[-1], path, len(path) - 1)
    container[key] = value


def apply(workflow: Workflow, changes: Iterable[str]) -> Workflow:
    """A validated copy of ``workflow`` with every ``KEY=VALUE`` change applied, in order."""
    data = workflow.model_dump(mode="json", by_alias=True)
    for text in changes:
        path, raw = parse_override(text)
        typed = _typed(raw)
        attempt = _copy(data)
        _set(attempt, path, typed)
        try:
            Workflow.model_validate(attempt)
        except ValidationError as exc:
            if typed != raw:
                retry = _copy(data)
                _set(retry, path, raw)
                try:
                    Workflow.model_validate(retry)
                except ValidationError:
                    pass
                else:
                    data = retry
                    continue
            first = exc.errors(include_url=False)[0]
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ScenarioError(f"scenario `{text}`: {message}") from None
        data = attempt
    result = Workflow.model_validate(data)
    result._source = workflow._source
    return result


def _copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _copy(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_copy(value) for value in data]
    return data
