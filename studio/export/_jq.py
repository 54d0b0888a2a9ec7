"""Conditions in the studio's safe language, translated to jq for Serverless Workflow runtimes.

:func:`condition_to_jq` reads the parsed, whitelisted ``ast`` tree that :func:`studio.expr.parse`
accepted (never the condition text) and writes a jq expression over the case object (the task
input) that decides as the studio does:

* Python truthiness where a condition is tested (null, false, 0, "", [] and {} are false), so
  ``and``/``or``/``not``/``if`` behave the same even though jq treats only null and false as false;
* comparisons ``< <= > >=`` only between two numbers or two strings (jq would order any two values;
  the studio stops the case), and ``+ - * / // %`` only on the operand types Python accepts, with
  ``//`` and ``%`` written with ``floor`` (jq's ``//`` is "alternative" and its ``%`` truncates);
* ``x in [..]`` as membership, ``x in text`` as a substring test, ``x in record`` as a key test.

A construct whose jq meaning differs and cannot be guarded is refused with
:class:`UntranslatableCondition`, naming it: ``round`` (Python rounds halves to even), ``lower`` and
``upper`` (jq folds ASCII letters only), ``**``, ``and``/``or`` used as a value (Python returns an
operand), tuples outside ``in``, integers beyond 2**53 (jq numbers are doubles).

Known difference kept: jq reads a field the case lacks as null where the studio stops the case
with a data failure (``docs/controlplane.md``, "Other targets").
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from studio.export._conditions import field_path
from studio.expr import parse

__all__ = ["UntranslatableCondition", "condition_to_jq"]

_TRUTHY = '(. != null and . != false and . != 0 and . != "" and . != [] and . != {})'
_JQ_KEYWORDS = frozenset({
    "__loc__", "and", "as", "catch", "def", "elif", "else", "end", "foreach", "if", "import", "include",
    "label", "or", "reduce", "then", "try",
})
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_EXACT = 2**53
_ORDER = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_REFUSED_CALLS = {
    "round": "Python's `round` rounds halves to even and jq's rounds them away from zero",
    "lower": "jq's `ascii_downcase` folds ASCII letters only, the studio's `lower` every letter",
    "upper": "jq's `ascii_upcase` folds ASCII letters only, the studio's `upper` every letter",
}

Typed = tuple[str, str]  # (jq code, static type: bool number string array null any)


class UntranslatableCondition(ValueError):
    """A condition uses a construct that jq cannot express with the studio's meaning."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"condition `{expression}` cannot be translated to jq faithfully: {reason}")
        self.expression = expression
        self.reason = reason


def _string(text: str) -> str:
    """A jq string literal (JSON's syntax; a backslash is always escaped, so no `\\(` interpolation)."""
    return json.dumps(text, ensure_ascii=False)


def _fill(body: str, codes: Sequence[str]) -> str:
    """``body`` with its placeholders ``.[0]``, ``.[1]`` ... replaced by ``codes``."""
    pieces = re.split(r"(\.\[\d\])", body)
    return "".join(codes[int(p[2])] if re.fullmatch(r"\.\[\d\]", p) else p for p in pieces)


def _literal(code: str) -> bool:
    """A number or text literal (it reads nothing, so it may be evaluated against any input)."""
    try:
        value = json.loads(code[1:-1] if code.startswith("(") and code.endswith(")") else code)
    except ValueError:
        return False
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _error(message: str) -> str:
    return f"error({_string(message)})"


class _Translator:
    def __init__(self, text: str) -> None:
        self.text = text

    def refuse(self, reason: str) -> NoReturn:
        raise UntranslatableCondition(self.text, reason)

    @staticmethod
    def show(node: ast.AST) -> str:
        return ast.unparse(node)

    # ---- boolean context: a condition, `and`/`or`/`not` operands, an `if` test

    def test(self, node: ast.expr) -> str:
        if isinstance(node, ast.BoolOp):
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + joiner.join(self.test(v) for v in node.values) + ")"
        if isinstance(node, ast.IfExp):
            return f"(if {self.test(node.test)} then {self.test(node.body)} else {self.test(node.orelse)} end)"
        code, kind = self.value(node)
        return code if kind == "bool" else f"({code} | {_TRUTHY})"

    # ---- value context

    def value(self, node: ast.expr) -> Typed:  # noqa: PLR0911 - one return per expression node type
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.field(node)
        if isinstance(node, ast.List):
            return "[" + ", ".join(self.value(e)[0] for e in node.elts) + "]", "array"
        if isinstance(node, ast.Tuple):
            self.refuse(f"the tuple `{self.show(node)}` compares unlike a jq array; write a list `[...]`")
        if isinstance(node, ast.BoolOp):
            self.refuse(f"`{self.show(node)}` is used as a value (Python's `and`/`or` return an operand, "
                        "jq's a boolean); compare it explicitly")
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Compare):
            return self.compare(node), "bool"
        if isinstance(node, ast.IfExp):
            body, orelse = self.value(node.body), self.value(node.orelse)
            kind = body[1] if body[1] == orelse[1] else "any"
            return f"(if {self.test(node.test)} then {body[0]} else {orelse[0]} end)", kind
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            return self.call(node.func.id, node.args, node)
        self.refuse(f"`{type(node).__name__}` is not part of the condition language")

    def constant(self, value: Any) -> Typed:
        if value is None:
            return "null", "null"
        if isinstance(value, bool):
            return ("true" if value else "false"), "bool"
        if isinstance(value, int):
            if abs(value) > _MAX_EXACT:
                self.refuse(f"the integer {value} is beyond 2**53, which jq's numbers (doubles) cannot hold exactly")
            return (str(value) if value >= 0 else f"({value})"), "number"
        if isinstance(value, float):
            if not math.isfinite(value):
                self.refuse("jq has no literal for an infinite or NaN number")
            return (repr(value) if value >= 0 else f"({value!r})"), "number"
        if isinstance(value, str):
            return _string(value), "string"
        self.refuse(f"a literal of type {type(value).__name__} is not part of the condition language")

    def field(self, node: ast.Name | ast.Attribute) -> Typed:
        try:
            path = field_path(node)
        except ValueError as exc:
            self.refuse(str(exc))
        if len(path) == 1 and path[0] in ("true", "false", "null"):
            return path[0], "bool" if path[0] != "null" else "null"
        if path[0] == "case":
            path = path[1:]
        return self.path(path), "any"

    def path(self, keys: Sequence[str]) -> str:
        """The studio's read of ``a.b.c``: the flat key ``"a.b.c"`` if the record has it, else nested."""
        first = keys[0]
        step = f".{first}" if _SIMPLE_KEY.match(first) and first not in _JQ_KEYWORDS else f".[{_string(first)}]"
        if len(keys) == 1:
            return step
        flat = _string(".".join(keys))
        return f'(if type == "object" and has({flat}) then .[{flat}] else {step} | {self.path(keys[1:])} end)'

    # ---- operators

    def guarded(self, operands: list[Typed], allowed: Sequence[tuple[str, ...]], body: str, message: str) -> str:
        """``body`` over ``.[0]``, ``.[1]`` ... when the operands' runtime types are one of ``allowed``.

        When the types are known here (literals, results of guarded operators) no check is written.
        """
        kinds = tuple(kind for _, kind in operands)
        if kinds in allowed:
            return _fill(body, [code for code, _ in operands])
        varying = [i for i, (code, _) in enumerate(operands) if not _literal(code)]
        if len(varying) == 1:  # e.g. `.amount > 10000`: check the one value that is not a literal
            (at,) = varying
            combos = [c for c in allowed if all(c[j] == kind for j, kind in enumerate(kinds) if j != at)]
            if combos:
                codes = [code if j != at else "." for j, (code, _) in enumerate(operands)]
                check = " or ".join(f'type == "{t}"' for t in sorted({c[at] for c in combos}))
                return f"({operands[at][0]} | if {check} then {_fill(body, codes)} else {_error(message)} end)"
        checks = " or ".join(
            "(" + " and ".join(f'(.[{i}] | type) == "{k}"' for i, k in enumerate(combo)) + ")"
            for combo in allowed
        )
        items = ", ".join(code for code, _ in operands)
        return f"([{items}] | if {checks} then {body} else {_error(message)} end)"

    def unary(self, node: ast.UnaryOp) -> Typed:
        if isinstance(node.op, ast.Not):
            return f"({self.test(node.operand)} | not)", "bool"
        if isinstance(node.op, (ast.USub, ast.UAdd)) and isinstance(node.operand, ast.Constant) \
                and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool):
            value = node.operand.value
            return self.constant(-value if isinstance(node.op, ast.USub) else value)
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.value(node.operand)
            body = "(0 - .[0])" if isinstance(node.op, ast.USub) else ".[0]"
            sign = "-" if isinstance(node.op, ast.USub) else "+"
            return self.guarded([operand], [("number",)], body,
                                f"cannot apply `{sign}` to `{self.show(node.operand)}`: it is not a number"), "number"
        self.refuse(f"the operator in `{self.show(node)}` is not part of the condition language")

    def binop(self, node: ast.BinOp) -> Typed:
        left, right = self.value(node.left), self.value(node.right)
        shown = self.show(node)
        numbers = [("number", "number")]
        if isinstance(node.op, ast.Add):
            allowed = [("number", "number"), ("string", "string"), ("array", "array")]
            kind = left[1] if left[1] == right[1] and left[1] != "any" else "any"
            return self.guarded([left, right], allowed, "(.[0] + .[1])",
                                f"cannot apply `+` in `{shown}`: it adds two numbers, two texts or two lists"), kind
        simple = {ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
        for op_type, symbol in simple.items():
            if isinstance(node.op, op_type):
                if symbol == "*" and {left[1], right[1]} & {"string", "array"}:
                    self.refuse(f"`{shown}` repeats a text or list, which jq does not do the same way")
                return self.guarded([left, right], numbers, f"(.[0] {symbol} .[1])",
                                    f"cannot apply `{symbol}` in `{shown}`: both sides must be numbers"), "number"
        if isinstance(node.op, ast.FloorDiv):
            return self.guarded([left, right], numbers, "((.[0] / .[1]) | floor)",
                                f"cannot apply `//` in `{shown}`: both sides must be numbers"), "number"
        if isinstance(node.op, ast.Mod):
            return self.guarded([left, right], numbers, "(.[0] - (.[1] * ((.[0] / .[1]) | floor)))",
                                f"cannot apply `%` in `{shown}`: both sides must be numbers"), "number"
        if isinstance(node.op, ast.Pow):
            self.refuse(f"`{shown}`: powers differ between Python and jq (`pow`) for integers and zero")
        self.refuse(f"the operator in `{shown}` is not part of the condition language")

    def compare(self, node: ast.Compare) -> str:
        operands = [node.left, *node.comparators]
        parts: list[str] = []
        for index, op in enumerate(node.ops):
            left_ast, right_ast = operands[index], operands[index + 1]
            shown = f"{self.show(left_ast)} {self.op_symbol(op)} {self.show(right_ast)}"
            if isinstance(op, (ast.In, ast.NotIn)):
                code = self.membership(left_ast, right_ast, shown)
                parts.append(f"({code} | not)" if isinstance(op, ast.NotIn) else code)
                continue
            left, right = self.value(left_ast), self.value(right_ast)
            if isinstance(op, (ast.Eq, ast.NotEq)):
                parts.append(f"({left[0]} {'==' if isinstance(op, ast.Eq) else '!='} {right[0]})")
                continue
            symbol = _ORDER.get(type(op))
            if symbol is None:
                self.refuse(f"the comparison in `{shown}` is not part of the condition language")
            parts.append(self.guarded(
                [left, right], [("number", "number"), ("string", "string")], f"(.[0] {symbol} .[1])",
                f"cannot compare `{self.show(left_ast)}` with `{self.show(right_ast)}` using `{symbol}`: "
                "both must be numbers or both texts",
            ))
        return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"

    @staticmethod
    def op_symbol(op: ast.cmpop) -> str:
        symbols = {ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in", **_ORDER}
        return symbols.get(type(op), "?")

    def membership(self, needle_ast: ast.expr, haystack_ast: ast.expr, shown: str) -> str:
        needle = self.value(needle_ast)[0]
        if isinstance(haystack_ast, (ast.List, ast.Tuple)):
            items = "[" + ", ".join(self.value(e)[0] for e in haystack_ast.elts) + "]"
            return f"({needle} as $item | any({items}[]; . == $item))"
        haystack = self.value(haystack_ast)[0]
        return self.lookup(needle, haystack, shown, null_is_false=False)

    def lookup(self, needle: str, haystack: str, shown: str, *, null_is_false: bool) -> str:
        """``needle in haystack`` for a list (membership), a text (substring) or a record (key)."""
        fail = _error(f"cannot evaluate `{shown}`: it looks up in a list, a text or a record")
        text_fail = _error(f"cannot evaluate `{shown}`: a text can only contain texts")
        null = "false" if null_is_false else fail
        return (f"({needle} as $item | {haystack} | if . == null then {null} "
                f'elif type == "array" then any(.[]; . == $item) '
                f'elif type == "string" then (if ($item | type) == "string" then contains($item) else {text_fail} end) '
                f'elif type == "object" then (($item | type) == "string" and has($item)) '
                f"else {fail} end)")

    # ---- functions

    def call(self, name: str, args: list[ast.expr], node: ast.Call) -> Typed:  # noqa: PLR0911 - one return per function of the safe language
        shown = self.show(node)
        if name in _REFUSED_CALLS:
            self.refuse(f"`{shown}`: {_REFUSED_CALLS[name]}")
        if name == "len":
            (arg,) = args
            code = self.value(arg)[0]
            return (f'({code} | if type == "string" or type == "array" or type == "object" then length '
                    f"else {_error(f'len() failed in `{shown}`: expected a text, a list or a record')} end)"), "number"
        if name == "abs":
            (arg,) = args
            return self.guarded([self.value(arg)], [("number",)], "(if .[0] < 0 then 0 - .[0] else .[0] end)",
                                f"abs() failed in `{shown}`: expected a number"), "number"
        if name in ("min", "max"):
            message = _error(f"{name}() failed in `{shown}`: it needs a non-empty list of numbers or of texts")
            items = (self.value(args[0])[0] if len(args) == 1
                     else "[" + ", ".join(self.value(a)[0] for a in args) + "]")
            return (f'({items} | if type == "array" and length > 0 and (all(.[]; type == "number") '
                    f'or all(.[]; type == "string")) then {name} else {message} end)'), "any"
        if name == "contains":
            haystack, needle = (self.value(a)[0] for a in args)
            return self.lookup(needle, haystack, shown, null_is_false=True), "bool"
        if name in ("startswith", "endswith"):
            subject, affix = args
            options = self.affixes(affix, name, shown)
            code = self.value(subject)[0]
            message = _error(f"{name}() failed in `{shown}`: expected a text")
            return (f'({code} | if . == null then false elif type == "string" then '
                    f"(. as $text | any({options}[]; . as $affix | $text | {name}($affix))) "
                    f"else {message} end)"), "bool"
        if name == "is_empty":
            (arg,) = args
            return f'({self.value(arg)[0]} | (. == null or . == "" or . == [] or . == {{}}))', "bool"
        if name == "coalesce":
            items = ", ".join(self.value(a)[0] for a in args)
            return f"([{items}] | map(select(. != null)) | if length > 0 then .[0] else null end)", "any"
        self.refuse(f"function `{name}` has no jq translation in this export yet")

    def affixes(self, node: ast.expr, name: str, shown: str) -> str:
        values: list[Any]
        if isinstance(node, ast.Constant):
            values = [node.value]
        elif isinstance(node, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Constant) for e in node.elts):
            values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        else:
            self.refuse(f"`{shown}`: write the {name}() prefix or suffix as a text or a list of texts")
        if not all(isinstance(v, str) for v in values):
            self.refuse(f"`{shown}`: {name}() looks for texts only")
        return "[" + ", ".join(_string(v) for v in values) + "]"


def condition_to_jq(text: str) -> str:
    """jq for a condition, true exactly when the studio takes the edge (the studio's truthiness).

    Raises :class:`~studio.expr.ExpressionError` for text outside the language and
    :class:`UntranslatableCondition` for a construct jq cannot express with the same meaning.
    """
    parse(text)  # the studio's own checks first: whitelist, limits, names
    tree = ast.parse(text.lstrip(" \t\r\n\f"), mode="eval")
    return _Translator(text).test(tree.body)
