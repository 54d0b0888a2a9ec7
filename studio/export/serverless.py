"""A Serverless Workflow 1.0 (CNCF) document: the workflow for any Serverless Workflow runtime.

``to_serverless(workflow)`` validates the workflow (refusing error findings) and returns YAML text
that validates against the official DSL schema (vendored as
``schemas/serverlessworkflow-1.0.schema.yaml``; :func:`serverless_schema`)::

    document   dsl 1.0.3, namespace, name (DNS label), version, title, summary, metadata (the
               studio's guardrails, owner, tags, audit: what the DSL has no field for)
    use        functions (one per agent or system: an HTTP call to the task router), retries
               (one policy per retry count), secrets (tool credential NAMES)
    do         one task per node, in graph order, each with an explicit `then`:
               task (agent/system)  call <actor>          (try/catch with the retry policy)
               task (human)         do: emit <ns>.task.requested, listen <ns>.task.completed
               approval             do: emit <ns>.approval.requested, listen <ns>.approval.decided
                                    (timeout = SLA; on timeout escalate: emit, listen for the
                                    escalation role), decision written to `<id>_decision`
               decision             switch (cases in edge order, `when` in jq, default last)
               parallel             fork (one `do` branch per outgoing edge, up to the join)
               subworkflow          run: workflow
               wait                 wait: the ISO-8601 delay (a drawn delay or an `until` calendar:
                                    the expected wait, reported as W110)
               end                  set `outcome`, then: end

Case data flows as the task input/output object: every task merges what it produces into it,
so conditions read case fields (``${ .amount > 10000 }``). Conditions are translated from their
parsed form (:mod:`studio.export._jq`), never pasted.

What the export cannot keep is never silent: a structure or condition it cannot express refuses
the export (:class:`~studio.errors.WorkflowInvalid` with ``W101``/``W102`` findings); what it keeps
only as metadata or keeps differently is reported as a finding (``W103``-``W110``, see
``docs/codes.md``). Output is deterministic: the same workflow gives the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from studio import fileio
from studio import graph as g
from studio.errors import Finding, Severity, WorkflowInvalid
from studio.export._conditions import batched_steps, probability_only_branches
from studio.export._jq import UntranslatableCondition, condition_to_jq
from studio.expr import ExpressionError
from studio.model import (
    Agent,
    Approval,
    Calendar,
    Decision,
    End,
    Human,
    Join,
    Parallel,
    Start,
    Subworkflow,
    System,
    Task,
    Tool,
    Wait,
    Workflow,
    escalation_chain,
    iso_duration,
    step_sla,
    wait_mean,
)

__all__ = [
    "DSL_VERSION",
    "SCHEMA_FILE",
    "ServerlessExport",
    "export_serverless",
    "serverless_findings",
    "serverless_schema",
    "to_serverless",
    "validate_serverless",
]

DSL_VERSION = "1.0.3"
SCHEMA_FILE = "serverlessworkflow-1.0.schema.yaml"
DEFAULT_NAMESPACE = "studio"
TIMEOUT_STATUS = 408  # the DSL's timeout error (type .../errors/timeout)
STEP_FAILED_ERROR = "https://workflow-design-studio.dev/errors/step-failed"
ROUTER = "http://task-router"

_Task = dict[str, Any]
_ListKey = tuple[str, ...]
_TOP: _ListKey = ()
_DIRECTIVES = frozenset({"continue", "exit", "end"})


@dataclass(frozen=True)
class ServerlessExport:
    """The exported document, its YAML text, and what the export could keep only as metadata."""

    document: dict[str, Any]
    text: str
    findings: tuple[Finding, ...]


# --------------------------------------------------------------------------- small helpers


def dns_label(name: str) -> str:
    """``Purchase_to_Pay v2`` -> ``purchase-to-pay-v2``: lower case, digits and dashes, 63 at most."""
    label = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "workflow"


def _unwrap(jq: str) -> str:
    """``(a == b)`` -> ``a == b`` when the outer parentheses enclose the whole expression."""
    while jq.startswith("(") and jq.endswith(")"):
        depth, in_string, escaped = 0, False, False
        for index, char in enumerate(jq):
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
                continue
            if char == '"':
                in_string = True
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0 and index != len(jq) - 1:
                    return jq
        jq = jq[1:-1]
    return jq


def _expression(jq: str) -> str:
    return "${ " + _unwrap(jq) + " }"


def _key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def _compact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata without empty values, keys sorted (their order means nothing)."""
    return {k: fileio.sort_keys(mapping[k]) for k in sorted(mapping) if mapping[k] not in (None, [], {}, "")}


# --------------------------------------------------------------------------- the schema


def _schemas_dir() -> Path:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_schemas", here.parent / "schemas"):
        if (candidate / SCHEMA_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"the studio's `{SCHEMA_FILE}` is missing; reinstall the package")


@cache
def _schema_text() -> str:
    return (_schemas_dir() / SCHEMA_FILE).read_text(encoding="utf-8")


def serverless_schema() -> dict[str, Any]:
    """The official Serverless Workflow 1.0 JSON Schema (Draft 2020-12), from the vendored copy."""
    schema: dict[str, Any] = YAML(typ="safe", pure=True).load(_schema_text())
    return schema


def validate_serverless(document: Mapping[str, Any]) -> list[str]:
    """Schema errors of a Serverless Workflow document (``path: message``), empty when it is valid."""
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - jsonschema is needed only to check

    validator = Draft202012Validator(serverless_schema())
    return sorted(
        f"{'/'.join(str(p) for p in error.absolute_path) or '(document)'}: {error.message}"
        for error in validator.iter_errors(document)
    )


# --------------------------------------------------------------------------- the builder


class _Builder:
    def __init__(self, workflow: Workflow, namespace: str) -> None:
        self.workflow = workflow
        self.namespace = dns_label(namespace)
        self.name = dns_label(workflow.metadata.name)
        self.source = f"studio://{self.namespace}/{self.name}"
        self.graph = g.to_networkx(workflow)
        self.nodes = workflow.index.nodes  # the first of a repeated id wins
        self.actors = workflow.index.actors
        self.edges: dict[str, list[tuple[int, Any]]] = {}
        for index, edge in enumerate(workflow.edges):
            self.edges.setdefault(edge.source, []).append((index, edge))
        self.node_index = {n.id: i for i, n in reversed(list(enumerate(workflow.nodes)))}
        self.findings: list[Finding] = []
        self.owner: dict[str, _ListKey] = {}
        self.lists: dict[_ListKey, list[str]] = {}
        self.stops: dict[_ListKey, str | None] = {}
        self.joins: dict[str, str] = {}
        self.ipdom: dict[str, str] | None = None
        self.retry_counts: set[int] = set()
        self.functions: set[str] = set()

    # ---- findings

    def finding(self, code: str, severity: Severity, location: str, message: str, hint: str) -> None:
        source = self.workflow.source
        position = source.resolve(location) if hasattr(source, "resolve") else None
        self.findings.append(Finding(
            code, severity, location, message, hint, getattr(source, "file", None),
            position[0] if position else None, position[1] if position else None,
        ))

    def node_loc(self, node_id: str) -> str:
        return f"nodes[{self.node_index.get(node_id, 0)}]"

    def shape(self, node_id: str, message: str) -> None:
        self.finding("W102", Severity.ERROR, self.node_loc(node_id), message,
                     "give each parallel branch its own steps from the fork to its join, and route "
                     "loops and exits outside the fork; or export to the control plane or BPMN")

    # ---- structure: which task list each node belongs to

    def successors(self, node_id: str) -> list[str]:
        return list(dict.fromkeys(edge.target for _, edge in self.edges.get(node_id, [])))

    def join_of(self, fork: str) -> str | None:
        if fork not in self.joins:
            if self.ipdom is None:
                self.ipdom = g.post_dominators(self.graph, self.workflow)
            meet = self.ipdom.get(fork)
            if meet is None or not isinstance(self.nodes.get(meet), Join):
                self.shape(fork, f"the branches of parallel fork `{fork}` do not close at a join")
                return None
            self.joins[fork] = meet
        return self.joins[fork]

    def after(self, node_id: str, stop: str | None) -> list[str]:
        """The nodes that follow ``node_id`` in its own task list (a fork continues after its join)."""
        node = self.nodes.get(node_id)
        if isinstance(node, End) or node is None:
            return []
        if isinstance(node, Parallel):
            join = self.join_of(node_id)
            nexts = self.successors(join) if join is not None else []
        else:
            nexts = self.successors(node_id)
        return [n for n in nexts if n != stop and not isinstance(self.nodes.get(n), Join)]

    def collect(self, entry: str, stop: str | None, key: _ListKey) -> None:
        """Put the nodes reachable from ``entry`` (up to ``stop``) in list ``key``, graph order."""
        order: list[str] = []
        seen = {entry}
        stack: list[tuple[str, list[str]]] = [(entry, list(reversed(self.after(entry, stop))))]
        while stack:
            node_id, pending = stack[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, list(reversed(self.after(nxt, stop)))))
                continue
            stack.pop()
            order.append(node_id)
        order.reverse()  # reverse postorder: every node after the nodes that lead to it (loops aside)
        mine = []
        for node_id in order:
            if node_id in self.owner:
                where = "the main flow" if self.owner[node_id] == _TOP else f"branch `{self.owner[node_id][-1]}`"
                self.shape(node_id, f"`{node_id}` is reached both from {where} and from "
                                    f"{'the main flow' if key == _TOP else f'branch `{key[-1]}`'} of a parallel "
                                    "fork; a Serverless Workflow fork branch cannot share steps or jump out")
                continue
            self.owner[node_id] = key
            mine.append(node_id)
        self.lists[key] = mine
        self.stops[key] = stop
        for node_id in mine:
            if isinstance(self.nodes.get(node_id), Parallel):
                join = self.join_of(node_id)
                if join is None:
                    continue
                if len(self.successors(join)) != 1:
                    self.shape(join, f"join `{join}` has {len(self.successors(join))} outgoing edges; "
                                     "a fork continues with exactly one step")
                for branch in self.successors(node_id):
                    if branch != join:
                        self.collect(branch, join, (*key, node_id, branch))

    def then(self, key: _ListKey, source: str, target: str) -> str:
        if target == self.stops[key]:
            return "exit"
        if self.owner.get(target) == key:
            return self.task_name(target)
        if isinstance(self.nodes.get(target), Join):
            fork = next((f for f, j in self.joins.items() if j == target), None)
            self.shape(source, f"`{source}` routes to join `{target}` from outside the branches of "
                               f"fork `{fork}`" if fork else f"`{source}` routes to join `{target}`, "
                               "which closes no parallel fork")
        elif target in self.owner:
            self.shape(source, f"`{source}` routes to `{target}` across the boundary of a parallel fork branch")
        return self.task_name(target)

    def task_name(self, node_id: str) -> str:
        """The node id, unless it is a flow directive (`end`, `exit`, `continue`): then `<id>_node`."""
        if node_id not in _DIRECTIVES:
            return node_id
        name = f"{node_id}_node"
        while name in self.nodes:
            name += "_"
        return name

    def only_next(self, key: _ListKey, node_id: str) -> str:
        nexts = self.successors(node_id)
        if len(nexts) != 1:
            self.shape(node_id, f"`{node_id}` has {len(nexts)} outgoing edges but is no decision or fork; "
                                "put a `decision` or `parallel` node after it")
            return "end" if not nexts else self.then(key, node_id, nexts[0])
        return self.then(key, node_id, nexts[0])

    # ---- conditions

    def condition(self, text: str, location: str) -> str | None:
        try:
            return condition_to_jq(text)
        except UntranslatableCondition as exc:
            self.finding("W101", Severity.ERROR, location, str(exc),
                         "rewrite the condition with comparisons, `in`, `and`/`or`/`not` and the functions jq "
                         "can mirror (see docs/codes.md#w101)")
        except ExpressionError as exc:  # the validator refuses these first; kept for direct callers
            self.finding("W101", Severity.ERROR, location, str(exc), "fix the condition")
        return None

    # ---- tasks by node kind

    def task(self, key: _ListKey, node_id: str) -> _Task:  # noqa: PLR0911 - one state per node kind
        node = self.nodes[node_id]
        if isinstance(node, End):
            outcome = node.outcome or node.id
            return {"set": _expression(". + {\"outcome\": " + _key(outcome) + "}"), "then": "end",
                    "metadata": _compact({"studio_kind": "end", "name": node.name, "outcome": outcome})}
        if isinstance(node, Decision):
            return self.switch(key, node)
        if isinstance(node, Parallel):
            return self.fork(key, node)
        if isinstance(node, Approval):
            return self.approval(key, node)
        if isinstance(node, Subworkflow):
            return self.subworkflow(key, node)
        if isinstance(node, Wait):
            return self.wait(key, node)
        if isinstance(node, Task):
            actor = self.actors.get(node.actor or "")
            if isinstance(actor, Human):
                return self.human_task(key, node, actor)
            return self.call(key, node, actor)
        if isinstance(node, Start):  # a start reached again is not possible (S012); nothing to run
            return {"set": _expression("."), "then": self.only_next(key, node.id)}
        self.shape(node_id, f"`{node_id}` ({node.kind}) has no Serverless Workflow form here")
        return {"set": _expression(".")}

    def switch(self, key: _ListKey, node: Decision) -> _Task:
        cases: list[dict[str, Any]] = []
        default: dict[str, Any] | None = None
        names: set[str] = set()
        for index, edge in self.edges.get(node.id, []):
            then = self.then(key, node.id, edge.target)
            if edge.default:
                default = {"default": {"then": then}}
                continue
            if edge.when is None:
                continue  # S007 refuses this before export
            name = base = f"to_{edge.target}"
            suffix = 2
            while name in names:
                name, suffix = f"{base}_{suffix}", suffix + 1
            names.add(name)
            when = self.condition(edge.when, f"edges[{index}].when")
            cases.append({name: {"when": _expression(when or "false"), "then": then}})
        if default is not None:
            cases.append(default)
        limits = {
            f"{node.id}>{edge.target}": edge.max_repeats
            for _, edge in self.edges.get(node.id, []) if edge.max_repeats is not None
        }
        labels = {f"{node.id}>{edge.target}": edge.label for _, edge in self.edges.get(node.id, []) if edge.label}
        return {"switch": cases or [{"default": {"then": "end"}}],
                "metadata": _compact({"studio_kind": "decision", "name": node.name, "labels": labels,
                                      "max_repeats": limits})}

    def fork(self, key: _ListKey, node: Parallel) -> _Task:
        join = self.joins.get(node.id)
        branches: list[dict[str, Any]] = []
        for target in self.successors(node.id):
            branch_key = (*key, node.id, target)
            if target == join or branch_key not in self.lists:
                branches.append({f"branch_{target}": {"set": _expression(".")}})
                continue
            tasks = self.task_list(branch_key)
            only = next(iter(tasks[0].values())) if len(tasks) == 1 else {}
            if only.get("then") == "exit":  # a one-step branch is that step (less nesting to check)
                del only["then"]
                branches.append(tasks[0])
            else:
                branches.append({f"branch_{target}": {"do": tasks}})
        out: _Task = {
            "fork": {"compete": False, "branches": branches},
            # each branch returns the whole case; take from each only the fields it changed
            "output": {"as": _expression(
                "reduce .[] as $branch ($input; . + ($branch | with_entries(select(.key as $k "
                "| ($input | has($k) | not) or .value != $input[$k]))))"
            )},
        }
        if join is not None:
            out["then"] = self.only_next(key, join)
        out["metadata"] = _compact({"studio_kind": "parallel", "name": node.name, "join": join})
        return out

    @staticmethod
    def merge(fields: Iterable[str], answer: str = ".") -> str:
        """jq: the case (``$input``) with the step's ``outputs`` taken from ``answer``.

        An output the answer does not carry keeps the case's value, or becomes null (docs/semantics.md).
        """
        names = ", ".join(_key(f) for f in fields)
        if not names:
            return "$input"
        return (f"{answer} as $out | reduce ({names}) as $field ($input; "
                'if ($out | type) == "object" and ($out | has($field)) then .[$field] = $out[$field] '
                "else .[$field] = .[$field] end)")

    def retries(self, node: Task | Subworkflow) -> int:
        actor = self.actors.get(node.actor or "")
        for behaviour in (node.behaviour, actor.behaviour if actor is not None else None):
            if behaviour is not None and behaviour.retries is not None:
                return behaviour.retries
        return self.workflow.policies.retries

    def with_retries(self, inner_name: str, inner: _Task, retries: int, node_id: str) -> _Task:
        if retries <= 0:
            return inner
        self.retry_counts.add(retries)
        detail = _expression('($error.detail // $error.title // $error.type) | tostring')
        return {
            "try": [{inner_name: inner}],
            "catch": {
                "retry": f"retry-{retries}",
                "do": [{"fail": {"raise": {"error": {
                    "type": STEP_FAILED_ERROR,
                    "status": 500,
                    "title": f"step `{node_id}` failed after {retries} retr{'y' if retries == 1 else 'ies'}",
                    "detail": detail,
                }}}}],
            },
        }

    def tool_metadata(self, tool_ids: Iterable[str]) -> list[dict[str, Any]]:
        tools: dict[str, Tool] = {t.id: t for t in reversed(self.workflow.tools)}
        out = []
        for tool_id in tool_ids:
            tool = tools.get(tool_id)
            if tool is None:
                out.append({"id": tool_id})
                continue
            limit = tool.rate_limit
            out.append(_compact({
                "id": tool.id,
                "name": tool.name,
                "tier": tool.tier.value,
                "rate_limit": {"calls": limit.calls, "per": iso_duration(limit.per)} if limit else None,
                "timeout": iso_duration(tool.timeout) if tool.timeout is not None else None,
                "credential_secret": tool.credential,
                "writes": list(tool.writes),
            }))
        return out

    def call(self, key: _ListKey, node: Task, actor: Agent | System | Human | None) -> _Task:
        actor_id = actor.id if actor is not None else node.actor or "unknown"
        self.functions.add(actor_id)
        inner: _Task = {
            "call": actor_id,
            "with": {"node": node.id, "tools": list(node.tools), "case": _expression(".")},
            "output": {"as": _expression(self.merge(node.outputs))},
        }
        retries = self.retries(node)
        out = self.with_retries("invoke", inner, retries, node.id)
        out["then"] = self.only_next(key, node.id)
        agent = actor if isinstance(actor, Agent) else None
        out["metadata"] = _compact({
            "studio_kind": "task",
            "name": node.name,
            "actor": actor_id,
            "actor_kind": actor.kind if actor is not None else None,
            "agent": _compact({
                "capability": agent.capability, "version": agent.version, "model": agent.model,
                "prompt": agent.prompt,
                "autonomy": (agent.autonomy or self.workflow.policies.autonomy).value,
            }) if agent is not None else None,
            "tools": self.tool_metadata(node.tools),
            "reads": list(node.reads),
            "writes": list(node.writes),
            "outputs": list(node.outputs),
            "validates": node.validates or None,
            "retries": retries,
        })
        return out

    def subworkflow(self, key: _ListKey, node: Subworkflow) -> _Task:
        name, version = self.referenced(node)
        pinned = f"version {version}" if version != "latest" else "`latest`: its file could not be read"
        self.finding("W104", Severity.WARNING, f"{self.node_loc(node.id)}.ref",
                     f"subworkflow `{node.id}` runs the workflow `{self.namespace}/{name}` ({pinned}), which the "
                     "runtime must have deployed too (the simulator runs its steps in place, as the runtime does)",
                     "export the referenced workflow with `--to serverless` as well and deploy both")
        return {  # without `input`, the runtime passes the task's input: the case
            "run": {"workflow": {"namespace": self.namespace, "name": name, "version": version}},
            "output": {"as": _expression("$input + (if type == \"object\" then . else {} end)")},
            "then": self.only_next(key, node.id),
            "metadata": _compact({"studio_kind": "subworkflow", "name": node.name, "ref": node.ref,
                                  "actor": node.actor}),
        }

    def wait(self, key: _ListKey, node: Wait) -> _Task:
        """A timer: the DSL's `wait` for the delay; a drawn delay or an `until` calendar waits the expected time."""
        duration = iso_duration(wait_mean(node))
        if node.fixed_delay is None:
            self.finding("W110", Severity.WARNING, self.node_loc(node.id),
                         f"wait `{node.id}` waits `{node.timer_text}` in simulation; the DSL's `wait` is a fixed "
                         f"time, so it waits the expected {duration} (the timer is kept in the task's metadata)",
                         "give the wait a fixed `delay` if the runtime must wait as the simulator does")
        written = node.model_dump(mode="json", by_alias=True, exclude_none=True)
        return {"wait": duration, "then": self.only_next(key, node.id),
                "metadata": _compact({"studio_kind": "wait", "name": node.name, "delay": written.get("delay"),
                                      "until": written.get("until")})}

    def referenced(self, node: Subworkflow) -> tuple[str, str]:
        """DNS name and version of the referenced workflow (a file next to this one, or a template)."""
        from studio.templates import load_template, template_names  # noqa: PLC0415 - templates sit above

        ref = node.ref or node.id
        path = getattr(self.workflow.source, "path", None)
        base = path.parent if isinstance(path, Path) else Path.cwd()
        try:
            if (base / ref).is_file():
                meta = fileio.load(base / ref).metadata
                return dns_label(meta.name), meta.version
            if ref in template_names():
                meta = load_template(ref).metadata
                return dns_label(meta.name), meta.version
        except (OSError, ValueError):
            pass
        return dns_label(Path(ref).stem), "latest"

    # ---- people: approvals and human tasks

    def event_filter(self, event: str, subject: str, node_id: str, role: str | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {"type": f"{self.namespace}.{event}", subject: node_id}
        if role is not None:
            attributes["role"] = role
        return {"with": attributes,
                "correlate": {"case": {"from": _expression(".caseid"), "expect": _expression("$workflow.id")}}}

    def emit(self, event: str, subject: str, node_id: str, role: str | None, extra: Mapping[str, Any]) -> _Task:
        attributes: dict[str, Any] = {
            "source": self.source,
            "type": f"{self.namespace}.{event}",
            subject: node_id,
            "caseid": _expression("$workflow.id"),
        }
        if role is not None:
            attributes["role"] = role
        attributes["data"] = {"case": _expression("."), **extra}
        return {"emit": {"event": {"with": attributes}}, "output": {"as": _expression("$input")}}

    def escalation(self, node: Task | Approval) -> tuple[tuple[float, str], ...]:
        """The levels a person's step escalates through, as every engine decides
        (:func:`studio.model.escalation_chain`)."""
        return escalation_chain(node, self.actors, self.workflow.policies)

    def wait_for_people(self, subject: str, node_id: str, role: str | None, *,  # noqa: PLR0913 - the wait's settings, as keywords
                        chain: tuple[tuple[float, str], ...], extra: Mapping[str, Any],
                        first: list[dict[str, Any]]) -> _Task:
        """Announce the work and wait for its answer; past each level's time, announce it to the level's role.

        ``{do: [...]}``, or with an escalation ``{try: [...], catch: timeout -> escalate}``, the catch of a
        level before the last waiting for its role's answer in a ``try`` of its own with the next level's
        timeout: the node's own task holds the steps, so the document nests as little as it can.
        """
        done = "approval.decided" if subject == "approval" else "task.completed"
        steps = [*first, {"request": self.emit(f"{subject}.requested", subject, node_id, role, extra)}]
        answer: _Task = {"listen": {"to": {"one": self.event_filter(done, subject, node_id, role)}}}
        if not chain:
            return {"do": [*steps, {"answer": answer}]}
        sla = chain[0][0]
        answer["timeout"] = {"after": iso_duration(sla)}
        timeouts = ", ".join(iso_duration(after) for after, _ in chain)
        what = (f"the SLA of `{node_id}` ({iso_duration(sla)}) is a timeout on waiting for the answer"
                if len(chain) == 1 else
                f"each level of the escalation chain of `{node_id}` ({timeouts}) is a timeout on waiting for the "
                "answer of the role holding the step")
        self.finding("W107", Severity.INFO, self.node_loc(node_id),
                     f"{what}, from the request until it comes; the simulator escalates when the work has not "
                     "*started* within the SLA", "expect a few more escalations on the runtime than in simulation")
        return {"try": [*steps, {"answer": answer}],
                "catch": self.escalate(subject, node_id, role, chain, extra)}

    def escalate(self, subject: str, node_id: str, holder: str | None, chain: tuple[tuple[float, str], ...],
                 extra: Mapping[str, Any]) -> dict[str, Any]:
        """The catch of a timeout: announce the step to the next level's role and wait for its answer (with
        the level after's timeout, caught the same way)."""
        done = "approval.decided" if subject == "approval" else "task.completed"
        (_, role), rest = chain[0], chain[1:]
        answer: _Task = {"listen": {"to": {"one": self.event_filter(done, subject, node_id, role)}}}
        if rest:
            answer = {"try": [{"answer": {**answer, "timeout": {"after": iso_duration(rest[0][0])}}}],
                      "catch": self.escalate(subject, node_id, role, rest, extra)}
        escalated = {**extra, "escalated_from": holder}
        return {
            # the status only: the spec's own examples spell the timeout type URI two ways
            "errors": {"with": {"status": TIMEOUT_STATUS}},
            "do": [
                {"escalate": self.emit(f"{subject}.escalated", subject, node_id, role, escalated)},
                {"escalated_answer": answer},
            ],
        }

    def approval(self, key: _ListKey, node: Approval) -> _Task:
        sla = step_sla(node, self.workflow.policies)
        chain = self.escalation(node)
        steps: list[dict[str, Any]] = []
        if node.threshold is not None:
            test = self.condition(node.threshold, f"{self.node_loc(node.id)}.threshold")
            if test is not None:
                steps.append({"auto_approve": {
                    "if": _expression(f"{test} | not"),
                    "set": {"decision": "approve", "note": "auto-approved"},
                    "then": "exit",
                }})
        extra = {"decisions": ["approve", "reject", "send_back"]}
        waiting = self.wait_for_people("approval", node.id, node.actor, chain=chain, extra=extra, first=steps)
        event = '(if type == "array" then .[0] else . end) as $answer | '
        decision, note = _key(f"{node.id}_decision"), _key(f"{node.id}_note")
        return {
            **waiting,
            "output": {"as": _expression(f"{event}$input + {{{decision}: $answer.decision, {note}: $answer.note}}")},
            "then": self.only_next(key, node.id),
            "metadata": _compact({
                "studio_kind": "approval",
                "name": node.name,
                "approver": node.actor,
                "reviews": g.reviewed_nodes(self.graph, self.workflow, node),
                "threshold": node.threshold,
                "sla": iso_duration(sla) if sla is not None else None,
                **_chain_metadata(chain),
                "decision_field": f"{node.id}_decision",
            }),
        }

    def human_task(self, key: _ListKey, node: Task, actor: Human) -> _Task:
        chain = self.escalation(node)
        sla = step_sla(node, self.workflow.policies)
        extra = {"outputs": list(node.outputs)}
        waiting = self.wait_for_people("task", node.id, actor.id, chain=chain, extra=extra, first=[])
        answer = '(if type == "array" then .[0] else . end)'
        calendar = actor.calendar
        return {
            **waiting,
            "output": {"as": _expression(self.merge(node.outputs, answer))},
            "then": self.only_next(key, node.id),
            "metadata": _compact({
                "studio_kind": "task",
                "name": node.name,
                "actor": actor.id,
                "actor_kind": "human",
                "role": actor.role,
                "pool_size": actor.capacity,
                "calendar": _calendar(calendar) if calendar is not None else None,
                "sla": iso_duration(sla) if sla is not None else None,
                **_chain_metadata(chain),
                "reads": list(node.reads),
                "writes": list(node.writes),
                "outputs": list(node.outputs),
                "validates": node.validates or None,
            }),
        }

    # ---- the document

    def task_list(self, key: _ListKey) -> list[dict[str, Any]]:
        out = []
        for node_id in self.lists.get(key, []):
            task, name = self.task(key, node_id), self.task_name(node_id)
            if name != node_id:  # a node named like a flow directive keeps its id in the metadata
                task["metadata"] = fileio.sort_keys({**task.get("metadata", {}), "node": node_id})
            out.append({name: task})
        return out

    def build(self) -> dict[str, Any]:
        workflow = self.workflow
        starts = g.start_ids(workflow)
        entry = self.successors(starts[0]) if starts else []
        if len(entry) != 1:
            self.shape(starts[0] if starts else "", "the start node must lead to exactly one first step")
        if entry:
            self.collect(entry[0], None, _TOP)
        tasks = self.task_list(_TOP)
        self.report_losses()
        meta = workflow.metadata
        policies = workflow.policies
        document: dict[str, Any] = {
            "dsl": DSL_VERSION,
            "namespace": self.namespace,
            "name": self.name,
            "version": meta.version,
            "title": meta.name,
        }
        if meta.description:
            document["summary"] = meta.description
        limits = [{"from": e.source, "to": e.target, "max_repeats": e.max_repeats}
                  for e in workflow.edges if e.max_repeats is not None]
        document["metadata"] = _compact({
            "studio": _compact({
                "source_name": meta.name,
                "owner": meta.owner,
                "tags": list(meta.tags),
                "guardrails": _compact({
                    "max_turns": policies.max_turns,
                    "max_repeats": policies.max_repeats,
                    "transition_limits": limits,
                    "retries": policies.retries,
                    "autonomy": policies.autonomy.value,
                }),
                "audit": _compact({
                    "enabled": policies.audit.enabled,
                    "fields": list(policies.audit.fields),
                    "retention": iso_duration(policies.audit.retention) if policies.audit.retention else None,
                }),
                "events": {
                    "source": self.source,
                    "correlation": "CloudEvents extension attribute `caseid` = the workflow instance id",
                    "approval_decided_data": "{decision: approve | reject | send_back, note}",
                    "task_completed_data": "the task's outputs, by name",
                },
            }),
        })
        use: dict[str, Any] = {}
        if self.functions:
            actors = workflow.index.actors
            use["functions"] = {
                actor_id: {"call": "http", "with": {
                    "method": "post",
                    "endpoint": {"uri": f"{ROUTER}/{'agents' if isinstance(actors.get(actor_id), Agent) else 'systems'}"
                                        f"/{actor_id}/invoke"},
                    "body": _expression("."),
                }}
                for actor_id in sorted(self.functions)
            }
        if self.retry_counts:
            use["retries"] = {f"retry-{n}": {"limit": {"attempt": {"count": n}}} for n in sorted(self.retry_counts)}
        secrets = sorted({t.credential for t in workflow.tools if t.credential})
        if secrets:
            use["secrets"] = secrets
        out: dict[str, Any] = {"document": document}
        if use:
            out["use"] = use
        out["do"] = tasks
        return out

    def report_losses(self) -> None:
        policies = self.workflow.policies
        for index, edge in probability_only_branches(self.workflow):
            self.finding(
                "W108", Severity.WARNING, f"edges[{index}]",
                f"edge `{edge.source}` -> `{edge.target}` is taken with probability {edge.probability:g} in "
                "simulation but has no condition; the `switch` evaluates conditions, not probabilities, so the "
                "runtime never takes this branch",
                "add `when:` with the condition a real case takes this branch on",
            )
        for index, node, what in batched_steps(self.workflow):
            self.finding(
                "W109", Severity.WARNING, f"nodes[{index}].batch",
                f"at `{node.id}` {what} in simulation; Serverless Workflow has no batching, so the runtime "
                "asks for each case's step as the case arrives",
                "collect the cases in the task router or the service that answers the step, or expect shorter "
                "waits on the runtime than the simulation shows",
            )
        guarded = [e for e in self.workflow.edges if e.max_repeats is not None]
        self.finding(
            "W103", Severity.WARNING, "policies",
            f"loop guards have no Serverless Workflow form: `max_turns` ({policies.max_turns}) and `max_repeats` "
            f"({policies.max_repeats if policies.max_repeats is not None else 'off'}"
            f"{f', {len(guarded)} edge limit(s)' if guarded else ''}) are kept in `document.metadata` but a "
            "runtime does not enforce them",
            "have the task router count steps and transitions from `document.metadata.studio.guardrails`, "
            "or run the workflow on the control plane",
        )
        if self.workflow.tools:
            self.finding(
                "W105", Severity.INFO, "tools",
                "tool tiers, rate limits, timeouts and credential names travel as task `metadata` and in the "
                "call to the task router; the Serverless Workflow runtime itself does not enforce them",
                "route every call through the tool gateway, which enforces them",
            )
        if policies.audit.enabled:
            self.finding(
                "W106", Severity.INFO, "policies.audit",
                "the audit settings (JSONL record fields, retention) are kept in `document.metadata`; a "
                "Serverless Workflow runtime writes its own execution log instead",
                "collect the runtime's lifecycle events, or run the workflow on the control plane",
            )


# --------------------------------------------------------------------------- public API


def export_serverless(
    workflow: Workflow, *, namespace: str = DEFAULT_NAMESPACE, strict: bool = False, validated: bool = False
) -> ServerlessExport:
    """Validate (unless ``validated``), then build the document and the findings on what it lost.

    Raises :class:`~studio.errors.WorkflowInvalid` when the workflow has error findings, when a
    condition or the graph's shape cannot be expressed (``W101``, ``W102``), and, with ``strict``,
    when anything would be kept only as metadata with a warning (``W103``, ``W104``).
    """
    if not validated:
        from studio.export.controlplane import check_exportable  # noqa: PLC0415

        check_exportable(workflow, strict=strict)
    workflow = g.with_outcome_routers(workflow)  # approvals routing on their outcome: the decision after them
    builder = _Builder(workflow, namespace)
    document = builder.build()
    findings = tuple(sorted(set(builder.findings), key=Finding.sort_key))
    blocking = [f for f in findings if f.is_error or (strict and f.severity is Severity.WARNING)]
    if blocking:
        what = "cannot be expressed in" if any(f.is_error for f in blocking) else "loses guarantees (--strict) in"
        raise WorkflowInvalid(blocking, summary=f"`{workflow.metadata.name}` {what} Serverless Workflow; "
                                                "not exported")
    return ServerlessExport(document=document, text=fileio.dump_yaml(document), findings=findings)


def to_serverless(workflow: Workflow, *, namespace: str = DEFAULT_NAMESPACE, strict: bool = False) -> str:
    """The workflow as a Serverless Workflow 1.0 YAML document (see :func:`export_serverless`)."""
    return export_serverless(workflow, namespace=namespace, strict=strict).text


def serverless_findings(workflow: Workflow, *, namespace: str = DEFAULT_NAMESPACE) -> tuple[Finding, ...]:
    """What the export keeps only as metadata (or loses), for a workflow that exports."""
    return export_serverless(workflow, namespace=namespace, validated=True).findings


def _calendar(calendar: Calendar) -> dict[str, Any]:
    """A pool's working time for the task's metadata, as the control plane definition writes it."""
    from studio.export.controlplane import calendar_spec  # noqa: PLC0415 - as check_exportable above

    spec = calendar_spec(calendar)
    assert spec is not None
    return spec.model_dump(mode="json")


def _chain_metadata(chain: tuple[tuple[float, str], ...]) -> dict[str, Any]:
    """A step's escalation in its metadata: the first role (``escalate_to``), and for a chain of two levels
    or more every level with its timeout (``escalation``)."""
    if not chain:
        return {"escalate_to": None}
    if len(chain) == 1:
        return {"escalate_to": chain[0][1]}
    return {"escalate_to": chain[0][1],
            "escalation": [{"to": role, "after": iso_duration(after)} for after, role in chain]}
