"""Optional real LLMs behind agents: ``llm: "module:factory"`` returning a LangChain chat model.

Trust note: the factory name comes from the workflow file and importing it runs code, so the
simulator only imports it when the caller passes ``allow_llm=True`` (``--allow-llm`` on the CLI).
Without it the agent's behaviour model is used and nothing is imported. The default needs no
network and no API key.

The model is asked for the node's ``outputs`` as one JSON object; a reply that is not JSON counts
as a reasoning failure of that attempt (retried per policy). Virtual time still comes from the
behaviour model; tokens come from the reply's ``usage_metadata`` when the model reports it.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from studio.errors import StudioError

__all__ = ["Answer", "LLMError", "ask", "load_model"]


class LLMError(StudioError, ValueError):
    """An agent's ``llm:`` factory cannot be imported or called."""


def load_model(spec: str) -> Any:
    """Import ``module:factory`` and call the factory; it must return a chat model (``ainvoke``)."""
    module_name, _, factory_name = spec.partition(":")
    if not module_name or not factory_name:
        raise LLMError(f"`llm: {spec}` must be written `module:factory`")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LLMError(f"cannot import `{module_name}` for `llm: {spec}`: {exc}") from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise LLMError(f"`{module_name}` has no callable `{factory_name}` (from `llm: {spec}`)")
    model = factory()
    if not hasattr(model, "ainvoke"):
        raise LLMError(f"`{spec}` did not return a LangChain chat model (it has no `ainvoke`)")
    return model


@dataclass
class Answer:
    fields: dict[str, Any] = field(default_factory=dict)
    tokens_in: int | None = None
    tokens_out: int | None = None
    error: str | None = None


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def prompt(agent: str, node: Any, case: Mapping[str, Any]) -> list[tuple[str, str]]:
    outputs = list(node.outputs)
    system = (
        f"You are the agent `{agent}` doing the step `{node.label}` of a business workflow. "
        "Reply with one JSON object and nothing else."
    )
    wanted = ", ".join(f'"{name}"' for name in outputs) if outputs else "(none; reply {})"
    human = f"Case:\n{json.dumps(dict(case), default=str, sort_keys=True)}\nReturn these fields: {wanted}"
    return [("system", system), ("human", human)]


async def ask(model: Any, agent: str, node: Any, case: Mapping[str, Any]) -> Answer:
    """Ask ``model`` for the node's outputs; parse the JSON reply."""
    reply = await model.ainvoke(prompt(agent, node, case))
    content = getattr(reply, "content", reply)
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    usage = getattr(reply, "usage_metadata", None) or {}
    answer = Answer(tokens_in=usage.get("input_tokens"), tokens_out=usage.get("output_tokens"))
    match = _JSON_OBJECT.search(text)
    try:
        data = json.loads(match.group(0) if match else text)
    except (json.JSONDecodeError, TypeError):
        answer.error = "the reply is not JSON"
        return answer
    if not isinstance(data, dict):
        answer.error = "the reply is not a JSON object"
        return answer
    answer.fields = {name: data.get(name) for name in node.outputs} if node.outputs else {}
    return answer
