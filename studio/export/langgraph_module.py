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
import math
import re
from typing import Any

from studio.expr import FUNCTIONS, parse
from studio.model import Decision, End, Workflow

__all__ = ["condition_to_python", "to_langgraph_module"]

_LENIENT = frozenset({"coalesce", "is_empty"})
_CONSTANTS = {"true": "True", "false": "False", "null": "None"}
_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
}
_COMPARES: dict[type[ast.cmpop], str] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
}


class _Translator:
    """Python source for a parsed condition, built only from whitelisted syntax."""

    def expr(self, node: ast.expr, lenient: bool = False) -> str:
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.field(node, lenient)
        if isinstance(node, ast.List):
            return "[" + ", ".join(self.expr(e) for e in node.elts) + "]"
        if isinstance(node, ast.Tuple):
            return "(" + "".join(self.expr(e) + ", " for e in node.elts) + ")"
        if isinstance(node, ast.UnaryOp):
            operand = self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return f"(not {operand})"
            if isinstance(node.op, ast.USub):
                return f"_neg({operand})"
            if isinstance(node.op, ast.UAdd):
                return f"_pos({operand})"
        if isinstance(node, ast.BinOp):
            left, right = self.expr(node.left), self.expr(node.right)
            if isinstance(node.op, ast.Mod):
                return f"_mod({left}, {right})"
            if isinstance(node.op, ast.Pow):
                return f"_pow({left}, {right})"
            symbol = _BINOPS.get(type(node.op))
            if symbol is not None:
                return f"({left} {symbol} {right})"
        if isinstance(node, ast.BoolOp):
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + joiner.join(self.expr(v) for v in node.values) + ")"
        if isinstance(node, ast.Compare):
            parts = [self.expr(node.left)]
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                symbol = _COMPARES.get(type(op))
                if symbol is None:
                    break
                parts += [symbol, self.expr(comparator)]
            else:
                return "(" + " ".join(parts) + ")"
        if isinstance(node, ast.IfExp):
            return f"({self.expr(node.body)} if {self.expr(node.test)} else {self.expr(node.orelse)})"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS \
                and not node.keywords:
            name = node.func.id
            args = ", ".join(self.expr(a, lenient=name in _LENIENT) for a in node.args)
            return f"_fn_{name}({args})"
        raise ValueError(f"`{type(node).__name__}` is not part of the condition language")

    @staticmethod
    def constant(value: Any) -> str:
        if value is None or isinstance(value, (bool, str, int)):
            return repr(value)
        if isinstance(value, float):
            if math.isnan(value):
                return "float('nan')"
            if math.isinf(value):
                return "float('inf')" if value > 0 else "float('-inf')"
            return repr(value)
        raise ValueError(f"literal of type {type(value).__name__} is not part of the condition language")

    def field(self, node: ast.Name | ast.Attribute, lenient: bool) -> str:
        path: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            path.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            raise ValueError("attributes can only follow a field name")
        path.append(current.id)
        path.reverse()
        if len(path) == 1 and path[0] in _CONSTANTS:
            return _CONSTANTS[path[0]]
        if path[0] == "case":
            path = path[1:]
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


# --------------------------------------------------------------------------- the module text

_RUNTIME = '''
class LoopGuardError(RuntimeError):
    """A decision would take the same way more often than the loop guard allows."""


class ConditionError(ValueError):
    """A condition could not be evaluated on the case (a missing field, a type mismatch)."""


_MISSING = object()


def _field(case: Mapping[str, Any], path: tuple[str, ...], lenient: bool) -> Any:
    """`a.b.c`: the flat key "a.b.c" if present, else nested lookups (as the studio reads fields)."""
    current: Any = case
    depth = 0
    while depth < len(path):
        if not isinstance(current, Mapping):
            if lenient:
                return None
            raise ConditionError(f"cannot read `{'.'.join(path)}`: not a record")
        rest = ".".join(path[depth:])
        value = current.get(rest, _MISSING)
        if value is not _MISSING:
            return value
        value = current.get(path[depth], _MISSING)
        if value is _MISSING:
            if lenient:
                return None
            raise ConditionError(f"unknown field `{'.'.join(path)}`")
        current = value
        depth += 1
    return current


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConditionError(f"expected a number, got {value!r}")
    return value


def _neg(value: Any) -> Any:
    return -_number(value)


def _pos(value: Any) -> Any:
    return +_number(value)


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        raise ConditionError("string formatting with `%` is not allowed")
    return a % b


def _pow(a: Any, b: Any) -> Any:
    if abs(_number(b)) > 100:
        raise ConditionError("the exponent is too large")
    return _number(a) ** b


def _fn_len(value: Any) -> int:
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        return len(value)
    raise ConditionError(f"len() expects a string or a list, got {value!r}")


def _fn_abs(value: Any) -> Any:
    return abs(_number(value))


def _items(args: tuple[Any, ...], name: str) -> Any:
    items: Any = args[0] if len(args) == 1 else args
    if len(args) == 1 and not isinstance(items, (list, tuple, set, frozenset)):
        raise ConditionError(f"with one argument, {name}() expects a list")
    if not items:
        raise ConditionError(f"{name}() of an empty list")
    return items


def _fn_min(*args: Any) -> Any:
    return min(_items(args, "min"))


def _fn_max(*args: Any) -> Any:
    return max(_items(args, "max"))


def _fn_round(value: Any, ndigits: Any = None) -> Any:
    return round(_number(value)) if ndigits is None else round(_number(value), ndigits)


def _fn_lower(value: Any) -> Any:
    return None if value is None else str(value).lower() if isinstance(value, str) else _bad("lower", value)


def _fn_upper(value: Any) -> Any:
    return None if value is None else str(value).upper() if isinstance(value, str) else _bad("upper", value)


def _bad(name: str, value: Any) -> Any:
    raise ConditionError(f"{name}() expects a string, got {value!r}")


def _fn_contains(haystack: Any, needle: Any) -> bool:
    if haystack is None:
        return False
    if isinstance(haystack, str) and not isinstance(needle, str):
        raise ConditionError("a string can only contain strings")
    return needle in haystack


def _affixes(value: Any, affix: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConditionError(f"expected a string, got {value!r}")
    return tuple(affix) if isinstance(affix, (list, tuple)) else (affix,)


def _fn_startswith(value: Any, prefix: Any) -> bool:
    options = _affixes(value, prefix)
    return options is not None and value.startswith(options)


def _fn_endswith(value: Any, suffix: Any) -> bool:
    options = _affixes(value, suffix)
    return options is not None and value.endswith(options)


def _fn_is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple, dict, set, frozenset)) and len(value) == 0)


def _fn_coalesce(*args: Any) -> Any:
    return next((value for value in args if value is not None), None)


def _visit(name: str, outcome: str | None = None) -> Callable[[State], dict[str, Any]]:
    def node(state: State) -> dict[str, Any]:
        update: dict[str, Any] = {"visited": [name]}
        if outcome is not None:
            update["outcomes"] = [outcome]
        return update

    return node


def _decide(
    name: str, ways: list[tuple[Callable[[Mapping[str, Any]], Any] | None, str, int | None]]
) -> Callable[[State], dict[str, Any]]:
    """A decision node: the first way whose condition holds, else the default (condition None)."""

    def node(state: State) -> dict[str, Any]:
        case = state.get("case", {})
        chosen: tuple[str, int | None] | None = None
        for condition, target, limit in ways:
            if condition is not None and condition(case):
                chosen = (target, limit)
                break
        if chosen is None:
            defaults = [(target, limit) for condition, target, limit in ways if condition is None]
            if not defaults:
                raise ConditionError(f"decision `{name}`: no condition holds and there is no default")
            chosen = defaults[0]
        target, limit = chosen
        transition = f"{name}->{target}"
        if limit is not None and state.get("transitions", []).count(transition) >= limit:
            raise LoopGuardError(f"`{name}` -> `{target}` taken more than {limit} time(s); the case is stopped")
        return {"visited": [name], "transitions": [transition]}

    return node


def _route(name: str) -> Callable[[State], str]:
    prefix = name + "->"

    def route(state: State) -> str:
        for transition in reversed(state.get("transitions", [])):
            if transition.startswith(prefix):
                return transition[len(prefix):]
        raise RuntimeError(f"decision `{name}` has not decided")

    return route
'''


def _python_name(text: str, taken: set[str]) -> str:
    base = "_c_" + re.sub(r"[^A-Za-z0-9_]", "_", text)
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def to_langgraph_module(workflow: Workflow) -> str:
    """Python source of a module that builds, compiles and runs the workflow's graph with LangGraph.

    The module defines ``build_graph()`` (a ``StateGraph``), ``compile_graph()`` and
    ``run(case) -> {"visited": [...], "outcomes": [...], ...}``. It does not validate; ``studio
    export`` refuses workflows with error findings before calling it.
    """
    for node in workflow.nodes:
        if node.id in ("__start__", "__end__"):
            raise ValueError(f"node id `{node.id}` is reserved by LangGraph; rename it")
    meta = workflow.metadata
    policy = workflow.policies.max_repeats
    kinds = {n.id: n.kind for n in workflow.nodes}
    nodes: list[Any] = []
    for node in workflow.nodes:  # the first of repeated ids wins (the validator reports repeats)
        if all(node.id != other.id for other in nodes):
            nodes.append(node)
    edges = [e for e in workflow.edges if e.source in kinds and e.target in kinds]
    decisions = {n.id for n in nodes if isinstance(n, Decision)}

    conditions: list[str] = []
    names: set[str] = set()
    condition_name: dict[int, str] = {}
    for index, edge in enumerate(edges):
        if edge.source in decisions and edge.when is not None and not edge.default:
            name = _python_name(f"{edge.source}__{edge.target}", names)
            condition_name[index] = name
            conditions.append(f"def {name}(case: Mapping[str, Any]) -> Any:\n"
                              f"    return {condition_to_python(edge.when)}\n")

    lines = [
        f'"""LangGraph graph of workflow {meta.name!r} version {meta.version!r}, generated by Workflow Design Studio.',
        "",
        "Standalone: needs only `langgraph`. Every node records its visit in `visited`; decisions evaluate",
        "the workflow's conditions on `case` (first match in edge order, else the default) and stop the",
        "case with LoopGuardError past the loop guard; forks fan out and joins wait for every branch.",
        "`run(case)` returns the final state. Regenerate with `studio export ... --to langgraph`; do not edit.",
        '"""',
        "",
        "import operator",
        "from collections.abc import Callable, Mapping",
        "from typing import Annotated, Any, TypedDict",
        "",
        "from langgraph.graph import END, START, StateGraph",
        "",
        f"WORKFLOW = {meta.name!r}",
        f"VERSION = {meta.version!r}",
        f"MAX_TURNS = {workflow.policies.max_turns!r}",
        f"MAX_REPEATS = {policy!r}",
        f"NODES = {tuple(n.id for n in nodes)!r}",
        "",
        "",
        "class State(TypedDict, total=False):",
        "    case: dict[str, Any]",
        "    visited: Annotated[list[str], operator.add]",
        "    outcomes: Annotated[list[str], operator.add]",
        "    transitions: Annotated[list[str], operator.add]",
        "",
        _RUNTIME.strip("\n"),
        "",
        "",
        "# ---- conditions (translated from the studio's safe condition language)",
        "",
    ]
    for text in conditions:
        lines += ["", text]
    lines += ["", "def build_graph() -> StateGraph:", "    builder = StateGraph(State)"]

    joins_waiting: dict[str, list[str]] = {}
    for node in nodes:
        if node.kind != "join":
            continue
        preds = [e.source for e in edges if e.target == node.id]
        if preds and all(p not in decisions for p in preds) and len(set(preds)) == len(preds):
            joins_waiting[node.id] = preds
    for node in nodes:
        if node.id in decisions:
            ways = []
            for index, edge in enumerate(edges):
                if edge.source != node.id:
                    continue
                limit = edge.max_repeats if edge.max_repeats is not None else policy
                condition = "None" if edge.default or edge.when is None else condition_name[index]
                if not edge.default and edge.when is None:
                    continue  # an edge with neither condition nor default is never taken (S007)
                ways.append(f"({condition}, {edge.target!r}, {limit!r})")
            lines.append(f"    builder.add_node({node.id!r}, _decide({node.id!r}, [{', '.join(ways)}]))")
        elif isinstance(node, End):
            lines.append(f"    builder.add_node({node.id!r}, _visit({node.id!r}, {(node.outcome or node.id)!r}))")
        else:
            defer = ", defer=True" if node.kind == "join" and node.id not in joins_waiting else ""
            lines.append(f"    builder.add_node({node.id!r}, _visit({node.id!r}){defer})")
    starts = [n.id for n in nodes if n.kind == "start"]
    if starts:
        lines.append(f"    builder.add_edge(START, {starts[0]!r})")
    for node in nodes:
        out = [e for e in edges if e.source == node.id]
        if node.id in decisions:
            targets = list(dict.fromkeys(e.target for e in out))
            lines.append(f"    builder.add_conditional_edges({node.id!r}, _route({node.id!r}), {targets!r})")
            continue
        for target in dict.fromkeys(e.target for e in out):
            if target not in joins_waiting:
                lines.append(f"    builder.add_edge({node.id!r}, {target!r})")
        if node.kind == "end":
            lines.append(f"    builder.add_edge({node.id!r}, END)")
    for join, preds in joins_waiting.items():
        lines.append(f"    builder.add_edge({preds!r}, {join!r})  # waits for every branch")
    lines += [
        "    return builder",
        "",
        "",
        "def compile_graph() -> Any:",
        "    return build_graph().compile()",
        "",
        "",
        "def run(case: Mapping[str, Any], *, recursion_limit: int | None = None) -> dict[str, Any]:",
        '    """Run one case through the graph; the result has `visited`, `outcomes` and `transitions`."""',
        "    limit = recursion_limit if recursion_limit is not None else MAX_TURNS + 2",
        '    state = {"case": dict(case), "visited": [], "outcomes": [], "transitions": []}',
        '    return dict(compile_graph().invoke(state, {"recursion_limit": limit}))',
        "",
        "",
        'if __name__ == "__main__":',
        "    import json",
        "    import sys",
        "",
        "    print(json.dumps(run(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}), indent=2, default=str))",
    ]
    return "\n".join(lines) + "\n"
