"""Studio conditions as self-contained Python expressions for a BPMN engine (SpiffWorkflow).

SpiffWorkflow's default ``PythonScriptEngine`` evaluates a ``conditionExpression`` with Python's
``eval`` and the task data as the globals, so a case field ``amount`` is the Python name
``amount``. :func:`condition_to_python` turns the parsed, whitelisted form of a condition (the
``ast`` tree :func:`studio.expr.parse` accepted) into such an expression, keeping the studio's
semantics without helper functions the engine would not have:

==========================  ========================================================================
studio                      Python for the engine
==========================  ========================================================================
``amount``, ``case.amount``  ``amount`` (a field named like a Python builtin: ``globals()["id"]``)
``vendor.country``           the flat key ``"vendor.country"`` if the case has it, else
                             ``vendor["country"]`` (longer paths: the same rule at every level)
``true false null``          ``True False None``
``lower(x)``, ``upper(x)``   ``(None if x is None else x.lower())``
``contains``, ``startswith``  inline lambdas: false on null, a list of affixes becomes a tuple
``is_empty``, ``coalesce``   missing fields read as null (``globals().get(...)``); lazy like the studio
``min(list)``, ``max(list)``  refuse a single argument that is not a list, as the studio does
``a % b``, ``a ** b``         refuse string formatting; ``**`` needs numbers, ``|b| <= 100``, no complex
others                       the same Python operator or builtin (``len abs round + - * / // == in``...)
==========================  ========================================================================

A failure the studio reports (a missing field, a type mismatch) is an exception in the engine too:
the case stops in both. Where the studio raises with a message of its own, the expression raises
``TypeError`` with that message (``(_e for _e in ()).throw(TypeError(...))``). Not kept: the size
limits on results (integers up to 10**30, repeated strings up to 10,000 items), which only stop
hostile values. Lambda parameters start with ``_``, which no studio field can, so they never hide a
field. Nothing here evaluates the condition: it only writes text from a checked tree.
"""

from __future__ import annotations

import ast
import builtins
import keyword
from dataclasses import dataclass

from studio.export._conditions import BINOPS, PythonTranslator
from studio.expr import parse

__all__ = ["PythonCondition", "condition_to_python"]

_BUILTINS = frozenset(dir(builtins))
_SIZED = "(str, list, tuple, dict, set, frozenset)"
_SEQUENCES = "(list, tuple, set, frozenset)"


@dataclass(frozen=True)
class PythonCondition:
    """A translated condition: the Python text, the builtins it calls and the case fields it reads."""

    text: str
    builtins: frozenset[str]
    fields: frozenset[str]
    """First segment of every field read (``vendor.country`` -> ``vendor``)."""


def _fail(message: str) -> str:
    return f"(_e for _e in ()).throw(TypeError({message!r}))"


class _Translator(PythonTranslator):
    def __init__(self) -> None:
        self.builtins: set[str] = set()
        self.fields: set[str] = set()

    def use(self, *names: str) -> None:
        self.builtins.update(names)

    def sign(self, symbol: str, operand: str) -> str:
        return f"({symbol}{operand})"

    def binop(self, node: ast.BinOp) -> str:
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(node.op, ast.Mod):
            if isinstance(node.left, ast.Constant) and not isinstance(node.left.value, str):
                return f"({left} % {right})"
            self.use("isinstance", "str", "TypeError")
            fail = _fail("string formatting with `%` is not allowed")
            return f"(lambda _a, _b: {fail} if isinstance(_a, str) else _a % _b)({left}, {right})"
        if isinstance(node.op, ast.Pow):
            self.use("isinstance", "int", "float", "abs", "complex", "TypeError")
            result = f"(lambda _r: {_fail('the result is not a real number')} if isinstance(_r, complex) else _r)"
            fail = _fail("`**` needs numbers and an exponent of at most 100")
            return (f"(lambda _a, _b: {result}(_a ** _b) if isinstance(_a, (int, float)) "
                    f"and isinstance(_b, (int, float)) and abs(_b) <= 100 else {fail})({left}, {right})")
        symbol = BINOPS.get(type(node.op))
        if symbol is None:
            raise ValueError(f"operator `{type(node.op).__name__}` is not part of the condition language")
        return f"({left} {symbol} {right})"

    def call(self, name: str, args: list[str], nodes: list[ast.expr]) -> str:  # noqa: PLR0911 - one return per function of the safe language
        simple = len(nodes) == 1 and isinstance(nodes[0], (ast.Name, ast.Constant)) and not args[0].startswith("(")
        if name in ("len", "abs", "round"):
            self.use(name)
            return f"{name}({', '.join(args)})"
        if name in ("min", "max"):
            self.use(name)
            if len(args) > 1 or isinstance(nodes[0], (ast.List, ast.Tuple)):
                return f"{name}({', '.join(args)})"
            self.use("isinstance", "list", "tuple", "set", "frozenset", "TypeError")
            fail = _fail(f"with one argument, {name}() expects a list")
            return f"(lambda _v: {name}(_v) if isinstance(_v, {_SEQUENCES}) else {fail})({args[0]})"
        if name in ("lower", "upper"):
            if simple:
                return f"(None if {args[0]} is None else {args[0]}.{name}())"
            self.use("isinstance", "str", "TypeError")
            fail = _fail(f"{name}() expects a string")
            return f"(lambda _v: None if _v is None else _v.{name}() if isinstance(_v, str) else {fail})({args[0]})"
        if name == "contains":
            return f"(lambda _h, _n: False if _h is None else _n in _h)({args[0]}, {args[1]})"
        if name in ("startswith", "endswith"):
            self.use("isinstance", "list", "tuple")
            return (f"(lambda _v, _p: False if _v is None else "
                    f"_v.{name}(tuple(_p) if isinstance(_p, (list, tuple)) else _p))({args[0]}, {args[1]})")
        if name == "is_empty":
            self.use("isinstance", "str", "list", "tuple", "dict", "set", "frozenset", "len")
            return f"(lambda _v: _v is None or (isinstance(_v, {_SIZED}) and len(_v) == 0))({args[0]})"
        if name == "coalesce":
            text = args[-1]
            for arg in reversed(args[:-1]):
                text = f"(lambda _v: _v if _v is not None else {text})({arg})"
            return text
        raise ValueError(f"function `{name}` is not part of the condition language")  # pragma: no cover

    def special_float(self, text: str) -> str:
        self.use("float")
        return f"float({text!r})"

    def field(self, path: list[str], lenient: bool) -> str:
        self.fields.add(path[0])
        if lenient:
            self.use("globals")
            if len(path) == 1:
                return f"globals().get({path[0]!r})"
            self.use("isinstance", "dict")
            return self.level("globals()", path, lenient=True)
        head = path[0]
        if len(path) == 1:
            if head in _BUILTINS or keyword.iskeyword(head) or keyword.issoftkeyword(head):
                self.use("globals")
                return f"globals()[{head!r}]"
            return head
        self.use("globals")
        if len(path) == 2:  # the common case, written for a reader
            dotted = ".".join(path)
            first = self.field([head], lenient=False)
            return f"(globals()[{dotted!r}] if {dotted!r} in globals() else {first}[{path[1]!r}])"
        return self.level("globals()", path, lenient=False)

    def level(self, container: str, path: list[str], *, lenient: bool) -> str:
        """Read ``path`` from ``container`` as the studio does: the joined rest first, then one level down."""
        if not path:
            return container
        rest, head = ".".join(path), path[0]
        if lenient and len(path) == 1:
            return f"(lambda _c: _c.get({head!r}) if isinstance(_c, dict) else None)({container})"
        if lenient:
            below = self.level(f"_c.get({head!r})", path[1:], lenient=True)
            return f"(lambda _c: (_c[{rest!r}] if {rest!r} in _c else {below}) if isinstance(_c, dict) else None)" \
                   f"({container})"
        if len(path) == 1:
            return f"{container}[{head!r}]"
        below = self.level(f"_c[{head!r}]", path[1:], lenient=False)
        return f"(lambda _c: _c[{rest!r}] if {rest!r} in _c else {below})({container})"


def condition_to_python(text: str) -> PythonCondition:
    """The condition as a Python expression over the case fields; raises ``ValueError`` outside the language.

    The studio's own checks run first (:func:`studio.expr.parse`: whitelist, limits, names), so an
    :class:`~studio.expr.ExpressionError` (a ``ValueError``) reports text that is not a condition.
    """
    parse(text)
    tree = ast.parse(text.lstrip(" \t\r\n\f"), mode="eval")
    translator = _Translator()
    python = translator.expr(tree.body)
    return PythonCondition(python, frozenset(translator.builtins), frozenset(translator.fields))
