"""What the exporters share to translate a condition: the parsed tree's building blocks.

Every export target writes conditions from the parsed, whitelisted form of the studio's safe
condition language (the ``ast`` tree :func:`studio.expr.parse` accepted), never by pasting text.
:class:`PythonTranslator` walks that tree once; each Python target (the LangGraph application,
BPMN for SpiffWorkflow) says only how it writes fields, operators and functions.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from studio.expr import FUNCTIONS, attribute_chain
from studio.model import format_duration

__all__ = ["BINOPS", "COMPARES", "CONSTANTS", "LENIENT", "PythonTranslator", "batched_steps", "field_path",
           "probability_only_branches"]

CONSTANTS = {"true": "True", "false": "False", "null": "None"}
"""The language's constants, as Python."""
LENIENT = frozenset({"coalesce", "is_empty"})
"""Functions whose arguments read a missing field as null instead of failing."""
BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
}
COMPARES: dict[type[ast.cmpop], str] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
}


def probability_only_branches(workflow: Any) -> list[tuple[int, Any]]:
    """``(index, edge)`` of the non-default edges leaving a decision that carry a branch probability but
    no ``when``: the simulator takes them by chance, an engine that evaluates conditions never does."""
    kinds = {n.id: n.kind for n in workflow.nodes}
    return [(index, edge) for index, edge in enumerate(workflow.edges)
            if kinds.get(edge.source) == "decision" and edge.probability is not None
            and edge.when is None and not edge.default]


def batched_steps(workflow: Any) -> list[tuple[int, Any, str]]:
    """``(index, node, what)`` of the steps with a ``batch``; ``what`` says it for a message: ``cases are
    collected until 10 wait (or the oldest has waited 4h) and done together``."""
    out = []
    for index, node in enumerate(workflow.nodes):
        batch = getattr(node, "batch", None)
        if batch is not None:
            timeout = ""
            if batch.timeout is not None:
                timeout = f" (or the oldest has waited {format_duration(batch.timeout)})"
            out.append((index, node, f"cases are collected until {batch.size} wait{timeout} and done together"))
    return out


def field_path(node: ast.Name | ast.Attribute) -> list[str]:
    """``vendor.country`` -> ``["vendor", "country"]``; raises ``ValueError`` unless it starts at a name."""
    root, attributes = attribute_chain(node)
    if not isinstance(root, ast.Name):
        raise ValueError("attributes can only follow a field name")
    return [root.id, *attributes]


class PythonTranslator:
    """Python source for a parsed condition; subclasses write fields, unary and binary operators, calls."""

    def expr(self, node: ast.expr, lenient: bool = False) -> str:  # noqa: C901, PLR0911, PLR0912 - a branch per expression node type
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, (ast.Name, ast.Attribute)):
            path = field_path(node)
            if len(path) == 1 and path[0] in CONSTANTS:
                return CONSTANTS[path[0]]
            if path[0] == "case":  # `case.amount` is `amount`
                path = path[1:]
            if not path:
                raise ValueError("`case` on its own is not a value")
            return self.field(path, lenient)
        if isinstance(node, ast.List):
            return "[" + ", ".join(self.expr(e) for e in node.elts) + "]"
        if isinstance(node, ast.Tuple):
            return "(" + "".join(self.expr(e) + ", " for e in node.elts) + ")"
        if isinstance(node, ast.UnaryOp):
            operand = self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return f"(not {operand})"
            if isinstance(node.op, (ast.USub, ast.UAdd)):
                return self.sign("-" if isinstance(node.op, ast.USub) else "+", operand)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.BoolOp):
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + joiner.join(self.expr(v) for v in node.values) + ")"
        if isinstance(node, ast.Compare):
            parts = [self.expr(node.left)]
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                symbol = COMPARES.get(type(op))
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
            return self.call(name, [self.expr(a, lenient=name in LENIENT) for a in node.args], node.args)
        raise ValueError(f"`{type(node).__name__}` is not part of the condition language")

    def constant(self, value: Any) -> str:
        if value is None or isinstance(value, (bool, str, int)):
            return repr(value)
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                return self.special_float(str(value))
            return repr(value)
        raise ValueError(f"literal of type {type(value).__name__} is not part of the condition language")

    def special_float(self, text: str) -> str:
        return f"float({text!r})"

    def field(self, path: list[str], lenient: bool) -> str:
        """A case field (``vendor.country`` -> ``["vendor", "country"]``); ``lenient``: missing reads as null."""
        raise NotImplementedError

    def sign(self, symbol: str, operand: str) -> str:
        raise NotImplementedError

    def binop(self, node: ast.BinOp) -> str:
        raise NotImplementedError

    def call(self, name: str, args: list[str], nodes: list[ast.expr]) -> str:
        raise NotImplementedError
