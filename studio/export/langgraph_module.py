"""A standalone Python module that builds the workflow's graph with LangGraph's ``StateGraph``.

``to_langgraph_module(workflow)`` returns Python source text that needs only ``langgraph`` (not the
studio): one graph node per workflow node whose body records the visit, conditional edges for
decisions, fan-out for parallel forks and joins that wait for every branch. Hand it to a platform
team as an executable skeleton of the flow, or run it to check a case's path.

Conditions are translated from the parsed, whitelisted form of the studio's safe language (the
``ast`` tree :func:`studio.expr.parse` accepted), never by pasting the condition text: every
field read becomes ``_field(case, ("vendor", "country"))``, every literal is written with
``repr``, every function is a small helper defined in the module. Identifiers, names and labels
from the workflow only ever appear inside ``repr``-quoted strings.
"""

from __future__ import annotations

import ast
import json
import os
import pprint
import re
from pathlib import Path
from typing import Any

from studio import fileio
from studio import graph as g
from studio._names import unique
from studio.errors import Finding, Severity, sort_findings
from studio.export._conditions import BINOPS, PythonTranslator, batched_steps, probability_only_branches
from studio.expr import parse
from studio.model import Agent, Human, Subworkflow, Wait, Workflow, wait_mean
from studio.simulate.compiler import build_plan

__all__ = [
    "condition_to_python", "langgraph_app_files", "langgraph_findings", "to_langgraph_module", "write_langgraph_app",
]


class _Translator(PythonTranslator):
    """Python for the LangGraph application: helpers defined in the module give the studio's meaning."""

    def sign(self, symbol: str, operand: str) -> str:
        return f"_neg({operand})" if symbol == "-" else f"_pos({operand})"

    def binop(self, node: ast.BinOp) -> str:
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(node.op, ast.Mod):
            return f"_mod({left}, {right})"
        if isinstance(node.op, ast.Pow):
            return f"_pow({left}, {right})"
        symbol = BINOPS.get(type(node.op))
        if symbol is None:
            raise ValueError(f"operator `{type(node.op).__name__}` is not part of the condition language")
        return f"({left} {symbol} {right})"

    def call(self, name: str, args: list[str], nodes: list[ast.expr]) -> str:
        return f"_fn_{name}({', '.join(args)})"

    def field(self, path: list[str], lenient: bool) -> str:
        for part in path:
            if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", part):
                raise ValueError(f"field name `{part}` is not allowed")
        return f"_field(case, {tuple(path)!r}, {lenient!r})"


def condition_to_python(text: str) -> str:
    """Python source of a condition (reads the case as ``case``); raises for text outside the language."""
    parse(text)  # the studio's own checks first: whitelist, limits, names
    body = text.lstrip(" \t\r\n\f")
    tree = ast.parse(body, mode="eval")
    return _Translator().expr(tree.body)


# --------------------------------------------------------------------------- the application

_TEMPLATE = Path(__file__).with_name("_langgraph_app.py")
_RESERVED = frozenset({"__start__", "__end__"})


def _python_name(text: str, taken: set[str]) -> str:
    return unique("_c_" + re.sub(r"[^A-Za-z0-9_]", "_", text), taken)


def _literal(name: str, annotation: str, value: dict[str, Any]) -> str:
    """``NAME: annotation = {...}`` with one entry per line, keys in the given order, values sorted."""
    if not value:
        return f"{name}: {annotation} = {{}}"
    lines = [f"{name}: {annotation} = {{"]
    for key, item in value.items():
        text = pprint.pformat(item, width=112 - 6 - len(repr(key)), sort_dicts=True, compact=True)
        text = text.replace("\n", "\n" + " " * (6 + len(repr(key))))
        lines.append(f"    {key!r}: {text},")
    lines.append("}")
    return "\n".join(lines)


def _wait_spec(node: Wait) -> dict[str, Any]:
    """A wait's timer for the application: seconds (a fixed delay, else the drawn delay's mean), or the
    calendar as written and its working ranges of the week (:meth:`studio.model.Calendar.week`)."""
    until = node.until
    return {"timer": node.timer_text,
            "wait_seconds": wait_mean(node) if node.delay is not None else None,
            "until": until.written() if until is not None else None,
            "until_week": [list(span) for span in until.week()] if until is not None else None}


def _app_tables(workflow: Workflow) -> tuple[str, str]:
    """The spec block (constants) and the conditions block of the application module."""
    workflow = g.with_outcome_routers(workflow)  # approvals routing on their outcome: the decision after them
    plan = build_plan(workflow)
    policies = workflow.policies
    conditions: list[str] = []
    texts: dict[str, str] = {}
    names: set[str] = set()
    keys: dict[str, str] = {}

    def condition(key: str, text: str) -> str:
        name = _python_name(key, names)
        conditions.append(f"def {name}(case: Mapping[str, Any]) -> Any:\n"
                          f"    return {condition_to_python(text)}\n")
        texts[key] = text
        keys[key] = name
        return key

    nodes: dict[str, dict[str, Any]] = {}
    for node_id, node in sorted(plan.nodes.items(), key=lambda item: (item[1].order, item[1].kind == "relay")):
        if node_id in _RESERVED:
            raise ValueError(f"node id `{node_id}` is reserved by LangGraph; rename it")
        behaviour = node.behaviours.get(node.actor or "")
        spec: dict[str, Any] = {
            "id": node_id, "kind": node.kind, "name": node.label, "order": node.order,
            "actor": node.actor, "actor_kind": node.actor_kind, "tools": list(node.tools),
            "outputs": list(node.outputs), "reviews": list(node.reviews),
            "retries": behaviour.retries if behaviour is not None else policies.retries,
            "sla_seconds": node.sla, "escalate_to": node.escalation[0][1] if node.escalation else None,
            "escalation": [[after, role] for after, role in node.escalation] if len(node.escalation) > 1 else [],
            "threshold": None, "branches": [], "default": node.default, "graph_target": dict(node.graph_target),
            "targets": list(node.targets), "preds": list(node.preds), "sources": {},
            "limits": dict(node.limits), "outcome": node.outcome,
        }
        waits = workflow.index.nodes.get(node_id)
        if isinstance(waits, Wait):
            spec.update(_wait_spec(waits))
        if node.threshold is not None:
            spec["threshold"] = condition(f"threshold:{node_id}", node.threshold.text)
        for index, (expression, target) in enumerate(node.branches):
            spec["branches"].append([condition(f"{node_id}#{index}>{target}", expression.text), target])
        for pred in node.preds:
            relay = plan.nodes[pred]
            spec["sources"][pred] = relay.relay_from if relay.kind == "relay" and relay.relay_from else pred
        nodes[node_id] = {k: v for k, v in spec.items() if k in ("id", "kind", "order") or v not in (None, [], {})}

    tools = {
        tool.id: {
            "name": tool.name or tool.id, "tier": str(tool.tier.value), "credential": tool.credential,
            "timeout_seconds": tool.timeout,
            "rate_limit": [tool.rate_limit.calls, tool.rate_limit.per] if tool.rate_limit is not None else None,
        }
        for tool in sorted({t.id: t for t in reversed(workflow.tools)}.values(), key=lambda t: t.id)
    }
    actors: dict[str, dict[str, Any]] = {}
    for actor in sorted({a.id: a for a in reversed(workflow.actors)}.values(), key=lambda a: a.id):
        entry: dict[str, Any] = {"kind": actor.kind, "name": actor.name or actor.id,
                                 "tools": list(getattr(actor, "tools", []))}
        if isinstance(actor, Agent):
            entry.update(version=actor.version, capability=actor.capability, model=actor.model,
                         autonomy=str((actor.autonomy or policies.autonomy).value))
        if isinstance(actor, Human):
            entry.update(role=actor.role, capacity=actor.capacity)
        actors[actor.id] = entry

    meta = workflow.metadata
    spec_block = "\n".join([
        f"WORKFLOW: str = {meta.name!r}",
        f"VERSION: str = {meta.version!r}",
        f"START_NODE: str = {plan.start!r}",
        f"MAX_TURNS: int = {plan.max_turns!r}",
        f"AUDIT_ENABLED: bool = {workflow.policies.audit.enabled!r}",
        f"AUDIT_FIELDS: list[str] = {list(workflow.policies.audit.fields)!r}",
        _literal("NODES", "dict[str, dict[str, Any]]", nodes),
        _literal("TOOLS", "dict[str, dict[str, Any]]", tools),
        _literal("ACTORS", "dict[str, dict[str, Any]]", actors),
    ])
    condition_lines = ["# translated from the studio's safe condition language (docs/conditions.md)", ""]
    for text in conditions:
        condition_lines += [text, ""]
    condition_lines.append("CONDITIONS: dict[str, Callable[[Mapping[str, Any]], Any]] = {")
    condition_lines += [f"    {key!r}: {name}," for key, name in keys.items()]
    condition_lines.append("}")
    condition_lines.append(_literal("CONDITION_TEXT", "dict[str, str]", texts))
    return spec_block, "\n".join(condition_lines)


def to_langgraph_module(workflow: Workflow) -> str:
    """Python source of the workflow's LangGraph application (see ``docs/controlplane.md``).

    The module is the runtime in ``_langgraph_app.py`` with the workflow's tables (nodes as the
    simulator compiles them, tools, actors) and its conditions translated to Python. It does not
    validate; :func:`studio.export.export_as` refuses workflows with error findings first.
    """
    template = _TEMPLATE.read_text(encoding="utf-8")
    spec_block, condition_block = _app_tables(workflow)
    meta = workflow.metadata
    title = f"workflow {meta.name!r} version {meta.version!r}"
    template = template.replace("workflow {name!r} version {version!r}", title, 1)
    template = _replace_block(template, "spec", spec_block)
    return _replace_block(template, "conditions", condition_block)


def _replace_block(text: str, name: str, body: str) -> str:
    begin, end = f"# <{name}>\n", f"# </{name}>\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    return head + body.rstrip("\n") + "\n" + tail


def langgraph_findings(workflow: Workflow) -> list[Finding]:
    """What the LangGraph application does not do as the simulator does (``R101``-``R106``)."""
    workflow = g.with_outcome_routers(workflow)  # approvals routing on their outcome: the decision after them
    plan = build_plan(workflow)
    findings: list[Finding] = []
    for index, node in enumerate(workflow.nodes):
        step = plan.nodes.get(node.id)
        if step is None or step.order != index:
            continue
        if step.sla is not None and step.actor_kind == "human":
            roles = [f"`{role}`" for _, role in step.escalation]
            target = (f" and escalation to {roles[0]}" if len(roles) == 1 else
                      f" and escalation chain {' then '.join(roles)}" if roles else "")
            keys = "`sla_seconds`, `escalate_to`" + (", `escalation`" if len(roles) > 1 else "")
            findings.append(Finding(
                "R101", Severity.INFO, f"nodes[{index}]",
                f"the SLA of `{node.id}`{target} is handed to whoever answers its interrupt "
                f"({keys} in the payload); the graph does not time it",
                "let the service that answers interrupts escalate overdue steps"))
        if isinstance(node, Wait):
            findings.append(_wait_finding(node, index))
        if isinstance(node, Subworkflow):
            findings.append(Finding(
                "R103", Severity.WARNING, f"nodes[{index}]",
                f"subworkflow `{node.id}` runs as one step of its actor, not as the workflow `{node.ref}`; "
                "the simulator runs that workflow's steps in its place, so times, costs and paths differ",
                "export the referenced workflow too and call it from the actor's agent implementation"))
    for index, node, what in batched_steps(workflow):
        findings.append(Finding(
            "R105", Severity.WARNING, f"nodes[{index}].batch",
            f"at `{node.id}` {what} in simulation; the application runs each case on its own and interrupts "
            "for the step as the case arrives", "collect the interrupts of the step and answer them together "
            "in the service that answers interrupts, or expect shorter waits than the simulation shows"))
    for index, edge in probability_only_branches(workflow):
        findings.append(Finding(
            "R104", Severity.WARNING, f"edges[{index}]",
            f"edge `{edge.source}` -> `{edge.target}` is taken with probability {edge.probability:g} in simulation "
            "but has no condition; the application routes by conditions, not probabilities, so it never takes "
            "this branch", "add `when:` with the condition a real case takes this branch on"))
    for index, actor in enumerate(workflow.actors):
        if isinstance(actor, Agent) and actor.llm:
            findings.append(Finding(
                "R102", Severity.INFO, f"actors[{index}].llm",
                f"agent `{actor.id}` is backed by `{actor.llm}` in simulation; the application calls "
                f"`agents[{actor.id!r}]` when given, else only its tools",
                f"pass `build_graph(agents={{{actor.id!r}: ...}})` with the deployed agent"))
    return sort_findings(findings)


def _wait_finding(node: Wait, index: int) -> Finding:
    """R106: the application interrupts at a wait with when the case is due; a drawn delay is its mean."""
    hint = "resume the case at `due` (a scheduler in the service that serves the application)"
    if node.delay is not None and node.fixed_delay is None:
        return Finding("R106", Severity.WARNING, f"nodes[{index}]",
                       f"wait `{node.id}` waits `{node.timer_text}` in simulation; the application's interrupt is "
                       "due after the mean delay", f"give the wait a fixed `delay`, or {hint}")
    return Finding("R106", Severity.INFO, f"nodes[{index}]",
                   f"wait `{node.id}` ({node.timer_text}) interrupts the case with the time it is due; the graph "
                   "does not sleep", hint)


def langgraph_app_files(workflow: Workflow) -> dict[str, str]:
    """The files of a deployable LangGraph application folder: ``app.py``, ``langgraph.json``,
    ``requirements.txt`` and a ``README.md`` (``langgraph dev`` in that folder serves the graph)."""
    meta = workflow.metadata
    config = {"dependencies": ["."], "graphs": {meta.name: "./app.py:graph"}, "python_version": "3.11"}
    readme = _APP_README.format(name=meta.name, version=meta.version)
    return {
        "app.py": to_langgraph_module(workflow),
        "langgraph.json": json.dumps(config, indent=2, sort_keys=True) + "\n",
        "requirements.txt": "langgraph>=1.0\nlanggraph-checkpoint-sqlite>=2.0\n",
        "README.md": readme,
    }


def write_langgraph_app(workflow: Workflow, folder: str | os.PathLike[str]) -> list[Path]:
    """Write :func:`langgraph_app_files` into ``folder`` (created; each file atomically); the paths written.
    It does not validate: :func:`studio.export.export_as` and the CLI refuse error findings first."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    return [fileio.atomic_write(target / name, text) for name, text in langgraph_app_files(workflow).items()]


_APP_README = """# {name} {version}: LangGraph application

Generated by Workflow Design Studio (`studio export workflow.yaml --to langgraph -o DIR/`); do not edit
`app.py` by hand: change the workflow and export again.

## Serve it

```bash
pip install -r requirements.txt "langgraph-cli[inmem]"
langgraph dev            # serves the graph `{name}` from app.py:graph (langgraph.json)
```

Start a run with the input `{{"case": {{...the case's fields...}}}}`. The run stops at every approval
and human task with an interrupt whose payload names the `node`, the approver `role`, the SLA
(`sla_seconds`) and its escalation target (with a chain, `escalation`: each level's role and time),
and the case; resume it with
`{{"decision": "approve" | "reject" | "send_back", "by": "who", "note": "why"}}` (human tasks answer
`"done"`). The final state has `path` and `outcome`.

## Embed it

```python
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
import sqlite3, app

saver = SqliteSaver(sqlite3.connect("cases.db", check_same_thread=False))
graph = app.build_graph(saver, gateway=app.ToolGateway({{"erp_read": my_erp_client}}), audit="audit.jsonl")
config = {{"configurable": {{"thread_id": "case-42"}}}}
state = graph.invoke({{"case": {{"case_id": "case-42", "amount": 1200}}}}, config)
state["__interrupt__"][0].value          # who must decide what
state = graph.invoke(Command(resume={{"decision": "approve", "by": "alice"}}), config)
```

The tool gateway lets an agent call only its allowed tools, a critical tool only after a person
approved the case, and each tool within its rate limit. Every step, tool call and decision is
appended to the audit log (`AUDIT_LOG_PATH`, default `audit.jsonl`). Loop guards stop a case that
repeats a transition too often or runs too many steps (`status: killed`, `stopped` says where).
"""
