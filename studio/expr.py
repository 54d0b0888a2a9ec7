"""The safe condition language used on workflow edges and thresholds.

A condition is one Python-like expression, for example::

    amount > 10000 and vendor.country in ["DE", "FR"]

It is parsed with :func:`ast.parse` and every node is checked against a whitelist; the checked
tree is then compiled into nested closures that this module interprets itself.  User text is
never given to ``eval``, ``exec`` or ``compile``, and nothing ever calls ``getattr`` on a value.

Grammar (informal, loosest binding first)::

    expr     := a "if" cond "else" b  |  or
    or       := and ("or" and)*                 Python semantics: returns an operand
    and      := not ("and" not)*
    not      := "not" not  |  compare
    compare  := sum (op sum)*                   op: == != < <= > >= in "not in"; chains allowed
    sum      := term (("+" | "-") term)*
    term     := unary (("*" | "/" | "//" | "%") unary)*
    unary    := ("-" | "+") unary  |  power
    power    := atom ["**" unary]
    atom     := number | string | true | false | null | True | False | None
              | field | function "(" args ")" | "[" items "]" | "(" items ")" | "(" expr ")"
    field    := name ("." name)*                 `case.` in front is optional

* Fields: ``amount`` and ``case.amount`` are the same field.  ``vendor.country`` reads the flat
  key ``"vendor.country"`` if the case has it, otherwise ``case["vendor"]["country"]``.  A missing
  field raises :class:`EvaluationError` (``evaluate(..., strict=False)`` reads it as null instead);
  inside ``coalesce(...)`` and ``is_empty(...)`` a missing field always reads as null.
* Functions (see :data:`FUNCTIONS`): ``len abs min max round lower upper contains startswith
  endswith is_empty coalesce``.  ``lower``/``upper`` pass null through; ``contains``,
  ``startswith`` and ``endswith`` are false on a null first argument.
* Refused: names or attributes starting with ``_``, calls to anything else, method calls
  (write ``lower(x)``, not ``x.lower()``), keyword arguments, lambdas, comprehensions, subscripts,
  f-strings, ``:=``, ``*``/``**`` unpacking, set/dict/bytes/complex literals, ``is``, bitwise
  operators, ``await``/``yield``, ``%`` string formatting.
* Limits: at most 1000 characters, nesting depth 50, ``|exponent| <= 100``, integers up to
  ``10**30`` in size, repeated strings/lists up to 10,000 items.  Limits are checked before the
  work is done; constant sub-expressions are computed (and checked) when parsing.
* ``evaluate_bool`` uses Python truthiness: null, false, 0, 0.0, "" and [] are false.

Every refusal is an :class:`ExpressionError` (a ``ValueError``) with ``expression``, a 1-based
``column`` into the text and ``message``; failures on a case's data are :class:`EvaluationError`.
"""

from __future__ import annotations

import ast
import io
import operator
import re
import tokenize
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final, NoReturn, Union

from studio.errors import StudioError

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_INT",
    "MAX_LENGTH",
    "MAX_SEQUENCE",
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "attribute_chain",
    "check",
    "parse",
]

MAX_LENGTH: Final = 1000
MAX_DEPTH: Final = 50
MAX_EXPONENT: Final = 100
MAX_INT: Final = 10**30
MAX_SEQUENCE: Final = 10_000

_Case = Mapping[str, Any]
_Fn = Callable[[_Case], Any]


# --------------------------------------------------------------------------------------- errors


class ExpressionError(StudioError, ValueError):
    """A condition is not in the safe language (or, as a subclass, failed on a case)."""

    def __init__(self, message: str, expression: str = "", column: int = 1) -> None:
        message = message.strip()
        if message and message[-1] not in ".?!":
            message += "."
        super().__init__(message, expression, column)
        self.message: str = message
        self.expression: str = expression
        self.column: int = column

    def __str__(self) -> str:
        shown = _printable(self.expression if len(self.expression) <= 120 else self.expression[:117] + "...")
        return f"Condition `{shown}` column {self.column}: {self.message}"


def _printable(text: str) -> str:
    """One line, printable: line breaks and tabs become spaces (so columns still line up)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else " " if ch in "\r\n\t\f" else ascii(ch)[1:-1] for ch in text)


class EvaluationError(ExpressionError):
    """A parsed condition could not be evaluated on a case (missing field, bad types, ...)."""


class _LimitError(Exception):
    """Raised by the operators when a size limit would be exceeded; message only."""


# ------------------------------------------------------------------------------------- helpers


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "record"
    return type(value).__name__


def _short(value: Any, limit: int = 40) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return "a very large integer"
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not escape
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(value: Any) -> str:
    return "null" if value is None else f"{_type_name(value)} {_short(value)}"


def _cap(value: Any) -> Any:
    if type(value) is int and not -MAX_INT <= value <= MAX_INT:
        raise _LimitError("the result is too large (integers are limited to 10**30)")
    return value


def _needs_copy(value: Any) -> bool:
    return isinstance(value, list) or (isinstance(value, tuple) and any(_needs_copy(v) for v in value))


def _fresh(value: Any) -> Any:
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_fresh(v) for v in value)
    return value


# ----------------------------------------------------------------------------------- operators


def _add(a: Any, b: Any) -> Any:
    return _cap(a + b)


def _sub(a: Any, b: Any) -> Any:
    return _cap(a - b)


def _check_repeat(seq: Any, times: int) -> None:
    if times > 0 and len(seq) * times > MAX_SEQUENCE:
        unit = "characters" if isinstance(seq, str) else "items"
        size = _short(len(seq) * times)
        raise _LimitError(f"the result would be {size} {unit} long (the limit is {MAX_SEQUENCE})")


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, (str, list, tuple)) and isinstance(b, int):
        _check_repeat(a, b)
    elif isinstance(b, (str, list, tuple)) and isinstance(a, int):
        _check_repeat(b, a)
    elif isinstance(a, int) and isinstance(b, int) and a and b and abs(a).bit_length() + abs(b).bit_length() > 101:
        raise _LimitError("the result is too large (integers are limited to 10**30)")
    return _cap(a * b)


def _truediv(a: Any, b: Any) -> Any:
    return a / b


def _floordiv(a: Any, b: Any) -> Any:
    return _cap(a // b)


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes)):
        raise _LimitError("string formatting with `%` is not allowed")
    return _cap(a % b)


def _pow(a: Any, b: Any) -> Any:
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        raise TypeError("** needs numbers")
    if abs(b) > MAX_EXPONENT:
        raise _LimitError(f"the exponent {_short(b)} is too large (the limit is {MAX_EXPONENT})")
    if isinstance(a, int) and isinstance(b, int) and b > 0:
        bits = abs(a).bit_length()
        if bits > 1 and (bits - 1) * b >= 100:
            raise _LimitError("the result is too large (integers are limited to 10**30)")
    result = a**b
    if isinstance(result, complex):
        raise _LimitError("the result is not a real number")
    return _cap(result)


def _contains_op(a: Any, b: Any) -> bool:
    return a in b


def _not_contains_op(a: Any, b: Any) -> bool:
    return a not in b


_BINOPS: Final[dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]]] = {
    ast.Add: ("+", _add),
    ast.Sub: ("-", _sub),
    ast.Mult: ("*", _mul),
    ast.Div: ("/", _truediv),
    ast.FloorDiv: ("//", _floordiv),
    ast.Mod: ("%", _mod),
    ast.Pow: ("**", _pow),
}
_REFUSED_BINOPS: Final[dict[type[ast.operator], str]] = {
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.MatMult: "@",
}
_COMPARES: Final[dict[type[ast.cmpop], tuple[str, Callable[[Any, Any], Any]]]] = {
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.In: ("in", _contains_op),
    ast.NotIn: ("not in", _not_contains_op),
}
_ORDERING: Final = frozenset({"<", "<=", ">", ">="})


# ----------------------------------------------------------------------------------- functions

_SIZED = (str, list, tuple, Mapping, set, frozenset)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def fn_len(value: Any) -> int:
    """Length of a string, list or record."""
    if isinstance(value, _SIZED):
        return len(value)
    raise TypeError(f"expected a string or a list, got {_describe(value)}")


def fn_abs(value: Any) -> Any:
    """Absolute value of a number."""
    if _is_number(value):
        return abs(value)
    raise TypeError(f"expected a number, got {_describe(value)}")


def _extreme(pick: Callable[..., Any], name: str, args: tuple[Any, ...]) -> Any:
    items: Any = args
    if len(args) == 1:
        items = args[0]
        if not isinstance(items, (list, tuple, set, frozenset)):
            raise TypeError(f"with one argument, {name}() expects a list, got {_describe(items)}")
    if not items:
        raise ValueError(f"{name}() of an empty list")
    try:
        return pick(items)
    except TypeError:
        kinds = sorted({_type_name(v) for v in items})
        raise TypeError(f"{name}() cannot compare {' and '.join(kinds)} values") from None


def fn_min(*args: Any) -> Any:
    """Smallest of the arguments, or of a single list argument."""
    return _extreme(min, "min", args)


def fn_max(*args: Any) -> Any:
    """Largest of the arguments, or of a single list argument."""
    return _extreme(max, "max", args)


def fn_round(value: Any, ndigits: Any = None) -> Any:
    """``round(x)`` -> int, ``round(x, n)`` -> number rounded to n decimal places."""
    if not _is_number(value):
        raise TypeError(f"expected a number, got {_describe(value)}")
    if ndigits is None:
        return round(value)
    if not isinstance(ndigits, int) or isinstance(ndigits, bool):
        raise TypeError(f"the number of digits must be an integer, got {_describe(ndigits)}")
    return round(value, max(-MAX_EXPONENT, min(MAX_EXPONENT, ndigits)))


def fn_lower(value: Any) -> Any:
    """Lower-cased string; null stays null."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.lower()
    raise TypeError(f"expected a string, got {_describe(value)}")


def fn_upper(value: Any) -> Any:
    """Upper-cased string; null stays null."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.upper()
    raise TypeError(f"expected a string, got {_describe(value)}")


def fn_contains(haystack: Any, needle: Any) -> bool:
    """``needle in haystack`` for a string (substring), list or record (key); false on null."""
    if haystack is None:
        return False
    if isinstance(haystack, str):
        if not isinstance(needle, str):
            raise TypeError(f"a string can only contain strings, got {_describe(needle)}")
        return needle in haystack
    if isinstance(haystack, _SIZED):
        try:
            return needle in haystack
        except TypeError:
            raise TypeError(f"cannot look up {_describe(needle)} in a {_type_name(haystack)}") from None
    raise TypeError(f"expected a string or a list to search in, got {_describe(haystack)}")


def _affix(value: Any, affix: Any, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name}() expects a string, got {_describe(value)}")
    options = tuple(affix) if isinstance(affix, (list, tuple)) else (affix,)
    for option in options:
        if not isinstance(option, str):
            raise TypeError(f"{name}() needs string(s) to look for, got {_describe(option)}")
    return options


def fn_startswith(value: Any, prefix: Any) -> bool:
    """True when the string starts with ``prefix`` (or any string of a list); false on null."""
    options = _affix(value, prefix, "startswith")
    return options is not None and str(value).startswith(options)


def fn_endswith(value: Any, suffix: Any) -> bool:
    """True when the string ends with ``suffix`` (or any string of a list); false on null."""
    options = _affix(value, suffix, "endswith")
    return options is not None and str(value).endswith(options)


def fn_is_empty(value: Any) -> bool:
    """True for null, "" and empty lists/records (a blank string "  " is not empty)."""
    return value is None or (isinstance(value, _SIZED) and len(value) == 0)


def fn_coalesce(*args: Any) -> Any:
    """The first argument that is not null (null when all are)."""
    for value in args:
        if value is not None:
            return value
    return None


FUNCTIONS: Final[Mapping[str, Callable[..., Any]]] = MappingProxyType(
    {
        "len": fn_len,
        "abs": fn_abs,
        "min": fn_min,
        "max": fn_max,
        "round": fn_round,
        "lower": fn_lower,
        "upper": fn_upper,
        "contains": fn_contains,
        "startswith": fn_startswith,
        "endswith": fn_endswith,
        "is_empty": fn_is_empty,
        "coalesce": fn_coalesce,
    }
)
_ARITY: Final[dict[str, tuple[int, int | None]]] = {
    "len": (1, 1),
    "abs": (1, 1),
    "min": (1, None),
    "max": (1, None),
    "round": (1, 2),
    "lower": (1, 1),
    "upper": (1, 1),
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "is_empty": (1, 1),
    "coalesce": (1, None),
}
_LENIENT_FUNCTIONS: Final = frozenset({"coalesce", "is_empty"})
_FUNCTION_LIST: Final = ", ".join(sorted(FUNCTIONS))
_CONSTANT_NAMES: Final[dict[str, Any]] = {"true": True, "false": False, "null": None}

_REFUSED_NODES: Final[dict[type[ast.AST], str]] = {
    ast.Lambda: "lambda expressions are not allowed",
    ast.ListComp: "list comprehensions are not allowed",
    ast.SetComp: "set comprehensions are not allowed",
    ast.DictComp: "dict comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.Subscript: "subscripts like `x[0]` are not allowed; use a dotted field name like `vendor.country`",
    ast.Slice: "slices are not allowed",
    ast.JoinedStr: "f-strings are not allowed; use + to join strings",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (`:=`, the walrus operator) are not allowed",
    ast.Starred: "starred expressions (`*x`) are not allowed",
    ast.Set: "set literals `{...}` are not allowed; use a list `[...]`",
    ast.Dict: "dict literals `{...: ...}` are not allowed",
    ast.Await: "`await` is not allowed",
    ast.Yield: "`yield` is not allowed",
    ast.YieldFrom: "`yield from` is not allowed",
}


class _Const:
    """A value known when parsing (literal or folded constant sub-expression)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


_Node = Union[_Const, _Fn]
_EMPTY_CASE: Final[_Case] = MappingProxyType({})
_MISSING: Final = object()


def _available(mapping: Mapping[Any, Any]) -> str:
    names = sorted(str(k) for k in mapping)
    if not names:
        return "it has no fields"
    shown = ", ".join(names[:10])
    if len(names) > 10:
        shown += f" (and {len(names) - 10} more)"
    return f"available fields: {shown}"


# ------------------------------------------------------------------------------------ compiler


class _Source:
    """Maps ast positions (line, UTF-8 byte column) to 0-based character offsets in the text."""

    def __init__(self, text: str, base: int) -> None:
        self.text = text
        self.base = base  # characters stripped from the front of the original text
        self.ascii = text.isascii()
        self.starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def index(self, lineno: int | None, col: int | None) -> int:
        if lineno is None or col is None:
            return self.base
        line = max(1, min(lineno, len(self.starts)))
        start = self.starts[line - 1]
        if not self.ascii:
            end = self.starts[line] if line < len(self.starts) else len(self.text)
            col = len(self.text[start:end].encode("utf-8")[:col].decode("utf-8", "replace"))
        return self.base + start + col

    def start(self, node: ast.AST) -> int:
        return self.index(getattr(node, "lineno", None), getattr(node, "col_offset", None))

    def end(self, node: ast.AST) -> int:
        return self.index(getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None))



def attribute_chain(node: ast.expr) -> tuple[ast.expr, list[str]]:
    """``vendor.country.code`` -> (the ``vendor`` name node, ``["country", "code"]``): the expression the
    attributes hang on, and the attributes in reading order (the exporters' translators use it too)."""
    attributes: list[str] = []
    current = node
    while isinstance(current, ast.Attribute):
        attributes.append(current.attr)
        current = current.value
    attributes.reverse()
    return current, attributes

class _Compiler:
    def __init__(self, text: str, source: _Source, strict: bool) -> None:
        self.text = text
        self.source = source
        self.strict = strict
        self.variables: set[str] = set()

    # -- positions and messages

    def column(self, node: ast.AST) -> int:
        return self.source.start(node) + 1

    def snippet(self, node: ast.AST) -> str:
        piece = " ".join(self.text[self.source.start(node) : self.source.end(node)].split())
        return piece if len(piece) <= 60 else piece[:57] + "..."

    def op_column(self, left: ast.AST, right: ast.AST, symbol: str) -> int:
        lo, hi = self.source.end(left), self.source.start(right)
        found = self.text.find(symbol.split(maxsplit=1)[0], lo, hi)
        return (found if found >= 0 else lo) + 1

    def attr_column(self, node: ast.Attribute) -> int:
        return self.source.end(node) - len(node.attr) + 1

    def fail(self, where: ast.AST | int, message: str) -> NoReturn:
        column = where if isinstance(where, int) else self.column(where)
        raise ExpressionError(message, self.text, column)

    def eval_error(self, column: int, message: str) -> EvaluationError:
        return EvaluationError(message, self.text, column)

    # -- checks before compiling

    def look_alike_names(self) -> None:
        """Refuse a name whose NFKC form differs from its text (full-width ``ｖendor``, ligatures, ...).

        Python reads identifiers NFKC-normalised, so ``ｖendor_status`` would read the field
        ``vendor_status`` while showing something else; the condition must say what it reads.
        """
        source = self.source
        if source.ascii:
            return
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(source.text).readline))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            return
        for token in tokens:
            if token.type == tokenize.NAME and not token.string.isascii():
                plain = unicodedata.normalize("NFKC", token.string)
                if plain != token.string:
                    line, col = token.start  # a character column, where ast's are UTF-8 bytes
                    start = source.base + source.starts[min(line, len(source.starts)) - 1] + col
                    self.fail(
                        start + 1,
                        f"name `{token.string}` reads as `{plain}` (look-alike characters); "
                        f"type it as `{plain}` in plain letters",
                    )

    def scan(self, root: ast.expr) -> None:
        """Depth limit (iterative, so no recursion), then names starting with `_` (leftmost)."""
        self.look_alike_names()
        underscores: list[tuple[int, str]] = []
        stack: list[tuple[ast.AST, int]] = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                self.fail(node, f"the condition is nested too deeply (more than {MAX_DEPTH} levels)")
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                message = f"attribute `{node.attr}` is not allowed: names starting with `_` are refused"
                underscores.append((self.attr_column(node), message))
            elif isinstance(node, ast.Name) and node.id.startswith("_"):
                message = f"name `{node.id}` is not allowed: names starting with `_` are refused"
                underscores.append((self.column(node), message))
            for child in ast.iter_child_nodes(node):
                stack.append((child, depth + 1 if isinstance(child, ast.expr) else depth))
        if underscores:
            column, message = min(underscores)
            self.fail(column, message)

    # -- compiling

    def as_fn(self, node: _Node) -> _Fn:
        if not isinstance(node, _Const):
            return node
        value = node.value
        if _needs_copy(value):
            return lambda case: _fresh(value)
        return lambda case: value

    def fold(self, fn: _Fn, children: list[_Node]) -> _Node:
        if all(isinstance(child, _Const) for child in children):
            try:
                return _Const(fn(_EMPTY_CASE))
            except EvaluationError as exc:
                raise ExpressionError(exc.message, self.text, exc.column) from None
        return fn

    def compile(self, node: ast.expr, lenient: bool = False) -> _Node:
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.field_or_constant(node, lenient)
        handler = _HANDLERS.get(type(node))
        if handler is None:
            message = _REFUSED_NODES.get(type(node), f"`{type(node).__name__}` expressions are not allowed")
            self.fail(node, message)
        return handler(self, node)

    def c_constant(self, node: ast.expr) -> _Node:
        assert isinstance(node, ast.Constant)
        value = node.value
        if value is None or isinstance(value, (bool, str, float)):
            return _Const(value)
        if isinstance(value, int):
            if abs(value) > MAX_INT:
                self.fail(node, "integer literal is too large (integers are limited to 10**30)")
            return _Const(value)
        if isinstance(value, bytes):
            self.fail(node, 'bytes literals (b"...") are not allowed; use a plain string')
        if isinstance(value, complex):
            self.fail(node, "complex numbers are not allowed")
        self.fail(node, f"the literal `{self.snippet(node)}` is not allowed")

    def field_or_constant(self, node: ast.Name | ast.Attribute, lenient: bool) -> _Node:
        current, path = attribute_chain(node)
        if not isinstance(current, ast.Name):
            assert isinstance(node, ast.Attribute)
            attr = path[0]
            hint = f"; to call a function write {attr}(x)" if attr in FUNCTIONS else ""
            self.fail(
                self.attr_column(node) if len(path) == 1 else self.source.end(current) + 2,
                f"attribute `.{attr}` is not allowed here: attributes can only follow a field name "
                f"(like `vendor.country`){hint}",
            )
        name = current.id
        if name in _CONSTANT_NAMES:
            if path:
                self.fail(node, f"`{name}` is a constant and has no fields")
            return _Const(_CONSTANT_NAMES[name])
        if name == "case":
            if not path:
                self.fail(node, "`case` on its own is not a value; write `case.<field>`, e.g. `case.amount`")
        else:
            path.insert(0, name)
        return self.field(tuple(path), self.column(node), lenient)

    def field(self, path: tuple[str, ...], column: int, lenient: bool) -> _Fn:  # noqa: C901 - a branch per field-path shape
        dotted = ".".join(path)
        self.variables.add(dotted)
        null_if_missing = lenient or not self.strict
        text = self.text

        def missing(mapping: Any, depth: int) -> Any:
            if null_if_missing:
                return None
            if depth == 0:
                message = f"unknown field `{dotted}`; {_available(mapping)}"
            else:
                parent = ".".join(path[:depth])
                if not isinstance(mapping, Mapping):
                    message = f"cannot read `{dotted}`: `{parent}` is {_describe(mapping)}, not a record"
                else:
                    message = (
                        f"unknown field `{dotted}`: `{parent}` has no field `{'.'.join(path[depth:])}`; "
                        f"{_available(mapping)}"
                    )
            raise EvaluationError(message, text, column)

        if len(path) == 1:
            key = path[0]

            def read_one(case: _Case) -> Any:
                try:
                    return case[key]
                except KeyError:
                    pass
                return missing(case, 0)

            return read_one

        keys = path

        def read_path(case: _Case) -> Any:
            current: Any = case
            depth = 0
            while depth < len(keys):
                if not isinstance(current, Mapping):
                    return missing(current, depth)
                rest = keys[depth] if depth == len(keys) - 1 else ".".join(keys[depth:])
                value = current.get(rest, _MISSING)
                if value is not _MISSING:
                    return value
                value = current.get(keys[depth], _MISSING)
                if value is _MISSING:
                    return missing(current, depth)
                current = value
                depth += 1
            return current

        return read_path

    def c_list(self, node: ast.expr) -> _Node:
        assert isinstance(node, (ast.List, ast.Tuple))
        items = [self.compile(item) for item in node.elts]
        make: Callable[[list[Any]], Any] = list if isinstance(node, ast.List) else tuple
        fns = [self.as_fn(item) for item in items]

        def build(case: _Case) -> Any:
            return make([fn(case) for fn in fns])

        return self.fold(build, items)

    def c_unary(self, node: ast.expr) -> _Node:
        assert isinstance(node, ast.UnaryOp)
        operand_node = self.compile(node.operand)
        operand = self.as_fn(operand_node)
        column = self.column(node)
        snippet = self.snippet(node)
        inner = self.snippet(node.operand)
        if isinstance(node.op, ast.Not):

            def not_(case: _Case) -> Any:
                return not operand(case)

            return self.fold(not_, [operand_node])
        if isinstance(node.op, ast.Invert):
            self.fail(node, "operator `~` is not allowed; use - or not")
        negate = isinstance(node.op, ast.USub)

        def sign(case: _Case) -> Any:
            value = operand(case)
            if not _is_number(value):
                raise self.eval_error(
                    column, f"cannot apply `{'-' if negate else '+'}` to `{inner}` ({_describe(value)}) in `{snippet}`"
                )
            return -value if negate else +value

        return self.fold(sign, [operand_node])

    def c_binop(self, node: ast.expr) -> _Node:
        assert isinstance(node, ast.BinOp)
        left_node = self.compile(node.left)
        op_type = type(node.op)
        if op_type not in _BINOPS:
            symbol = _REFUSED_BINOPS.get(op_type, op_type.__name__)
            self.fail(
                self.op_column(node.left, node.right, symbol),
                f"operator `{symbol}` is not allowed; use + - * / // % ** or comparisons",
            )
        right_node = self.compile(node.right)
        symbol, impl = _BINOPS[op_type]
        column = self.op_column(node.left, node.right, symbol)
        snippet, lsnip, rsnip = self.snippet(node), self.snippet(node.left), self.snippet(node.right)
        text = self.text

        def error(a: Any, b: Any, exc: Exception) -> EvaluationError:
            if isinstance(exc, _LimitError):
                message = f"`{snippet}`: {exc}"
            elif isinstance(exc, ZeroDivisionError):
                message = f"division by zero in `{snippet}` (`{rsnip}` is {_short(b)})"
            elif isinstance(exc, OverflowError):
                message = f"`{snippet}`: the result is too large"
            else:
                message = f"cannot apply `{symbol}` to `{lsnip}` ({_describe(a)}) and `{rsnip}` ({_describe(b)})"
            return EvaluationError(message, text, column)

        left, right = self.as_fn(left_node), self.as_fn(right_node)

        def binop(case: _Case) -> Any:
            a = left(case)
            b = right(case)
            try:
                return impl(a, b)
            except Exception as exc:  # every failure becomes an EvaluationError
                raise error(a, b, exc) from None

        return self.fold(binop, [left_node, right_node])

    def c_boolop(self, node: ast.expr) -> _Node:
        assert isinstance(node, ast.BoolOp)
        nodes = [self.compile(value) for value in node.values]
        fns = [self.as_fn(n) for n in nodes]
        is_and = isinstance(node.op, ast.And)
        if len(fns) == 2:
            first, second = fns
            if is_and:

                def and2(case: _Case) -> Any:
                    return first(case) and second(case)

                return self.fold(and2, nodes)

            def or2(case: _Case) -> Any:
                return first(case) or second(case)

            return self.fold(or2, nodes)

        def many(case: _Case) -> Any:
            value: Any = None
            for fn in fns:
                value = fn(case)
                if (not value) if is_and else value:
                    return value
            return value

        return self.fold(many, nodes)

    def c_compare(self, node: ast.expr) -> _Node:  # noqa: C901 - a branch per comparison operator
        assert isinstance(node, ast.Compare)
        operands = [node.left, *node.comparators]
        compiled: list[_Node] = [self.compile(node.left)]
        steps: list[tuple[Callable[[Any, Any], Any], Callable[[Any, Any], EvaluationError]]] = []
        for index, op in enumerate(node.ops):
            left_ast, right_ast = operands[index], operands[index + 1]
            if type(op) not in _COMPARES:
                symbol = "is not" if isinstance(op, ast.IsNot) else "is"
                self.fail(
                    self.op_column(left_ast, right_ast, symbol),
                    f"operator `{symbol}` is not allowed; use == or != (e.g. `x == null`)",
                )
            symbol, impl = _COMPARES[type(op)]
            right_node = self.compile(right_ast)
            if symbol in ("in", "not in") and isinstance(right_node, _Const) and isinstance(right_node.value, list):
                right_node = _Const(tuple(right_node.value))
            compiled.append(right_node)
            steps.append((impl, self.compare_error(left_ast, right_ast, symbol)))
        # Operands of a comparison never leave it, so constants need no defensive copy.
        fns = [n if not isinstance(n, _Const) else _constant_fn(n.value) for n in compiled]
        if len(steps) == 1:
            (impl, error), first = steps[0], fns[0]
            right_const = compiled[1]
            if isinstance(right_const, _Const):
                constant = right_const.value

                def compare_const(case: _Case) -> Any:
                    a = first(case)
                    try:
                        return impl(a, constant)
                    except Exception:
                        raise error(a, constant) from None

                return self.fold(compare_const, compiled)
            second = fns[1]

            def compare(case: _Case) -> Any:
                a = first(case)
                b = second(case)
                try:
                    return impl(a, b)
                except Exception:
                    raise error(a, b) from None

            return self.fold(compare, compiled)

        chain = list(zip(steps, fns[1:], strict=True))
        head = fns[0]

        def compare_chain(case: _Case) -> Any:
            a = head(case)
            result: Any = True
            for (impl, error), fn in chain:
                b = fn(case)
                try:
                    result = impl(a, b)
                except Exception:
                    raise error(a, b) from None
                if not result:
                    return result
                a = b
            return result

        return self.fold(compare_chain, compiled)

    def compare_error(self, left: ast.expr, right: ast.expr, symbol: str) -> Callable[[Any, Any], EvaluationError]:
        column = self.op_column(left, right, symbol)
        lsnip, rsnip = self.snippet(left), self.snippet(right)
        verb = "compare" if symbol in _ORDERING else "apply"
        text = self.text

        def error(a: Any, b: Any) -> EvaluationError:
            if verb == "compare":
                message = f"cannot compare `{lsnip}` ({_describe(a)}) with `{rsnip}` ({_describe(b)}) using `{symbol}`"
            else:
                message = f"cannot apply `{symbol}` to `{lsnip}` ({_describe(a)}) and `{rsnip}` ({_describe(b)})"
            return EvaluationError(message, text, column)

        return error

    def c_ifexp(self, node: ast.expr) -> _Node:
        assert isinstance(node, ast.IfExp)
        nodes = [self.compile(node.body), self.compile(node.test), self.compile(node.orelse)]
        body, test, orelse = (self.as_fn(n) for n in nodes)

        def if_else(case: _Case) -> Any:
            return body(case) if test(case) else orelse(case)

        return self.fold(if_else, nodes)

    def c_call(self, node: ast.expr) -> _Node:  # noqa: C901, PLR0915 - a branch per function of the safe language
        assert isinstance(node, ast.Call)
        func = node.func
        if isinstance(func, ast.Attribute):
            attr = func.attr
            hint = f"write `{attr}(x)` instead" if attr in FUNCTIONS else f"allowed functions: {_FUNCTION_LIST}"
            self.fail(self.attr_column(func), f"method calls like `.{attr}()` are not allowed; {hint}")
        if not isinstance(func, ast.Name):
            self.compile(func)  # reports lambdas and the like by name
            self.fail(node, f"only these functions can be called: {_FUNCTION_LIST}")
        name = func.id
        if name not in FUNCTIONS:
            self.fail(func, f"function `{name}` is not allowed; allowed functions: {_FUNCTION_LIST}")
        if node.keywords:
            keyword = node.keywords[0]
            if keyword.arg is None:
                self.fail(keyword, "`**` argument unpacking is not allowed")
            self.fail(keyword, f"keyword arguments (`{keyword.arg}=`) are not allowed; pass arguments by position")
        lowest, highest = _ARITY[name]
        given = len(node.args)
        if given < lowest or (highest is not None and given > highest):
            if highest is None:
                wanted = f"at least {lowest}"
            elif lowest == highest:
                wanted = str(lowest)
            else:
                wanted = f"{lowest} or {highest}"
            plural = "" if wanted == "1" else "s"
            self.fail(node, f"function `{name}` takes {wanted} argument{plural} ({given} given)")
        lenient = name in _LENIENT_FUNCTIONS
        args = [self.compile(arg, lenient=lenient) for arg in node.args]
        fns = [self.as_fn(arg) for arg in args]
        column, snippet, text = self.column(node), self.snippet(node), self.text

        if name == "coalesce":

            def coalesce(case: _Case) -> Any:
                for fn in fns:
                    value = fn(case)
                    if value is not None:
                        return value
                return None

            return self.fold(coalesce, args)

        impl = FUNCTIONS[name]

        def error(exc: Exception) -> EvaluationError:
            known = isinstance(exc, (_LimitError, TypeError, ValueError))
            detail = str(exc) if known else f"{type(exc).__name__}: {exc}"
            return EvaluationError(f"{name}() failed in `{snippet}`: {detail}", text, column)

        if len(fns) == 1:
            only = fns[0]

            def call1(case: _Case) -> Any:
                value = only(case)
                try:
                    return _cap(impl(value))
                except Exception as exc:
                    raise error(exc) from None

            return self.fold(call1, args)

        def call(case: _Case) -> Any:
            values = [fn(case) for fn in fns]
            try:
                return _cap(impl(*values))
            except Exception as exc:
                raise error(exc) from None

        return self.fold(call, args)


def _constant_fn(value: Any) -> _Fn:
    return lambda case: value


_HANDLERS: Final[dict[type[ast.AST], Callable[[_Compiler, ast.expr], _Node]]] = {
    ast.Constant: _Compiler.c_constant,
    ast.List: _Compiler.c_list,
    ast.Tuple: _Compiler.c_list,
    ast.UnaryOp: _Compiler.c_unary,
    ast.BinOp: _Compiler.c_binop,
    ast.BoolOp: _Compiler.c_boolop,
    ast.Compare: _Compiler.c_compare,
    ast.IfExp: _Compiler.c_ifexp,
    ast.Call: _Compiler.c_call,
}


# ------------------------------------------------------------------------------------- parsing


def _syntax_error(text: str, source: _Source, exc: SyntaxError) -> ExpressionError:
    message = exc.msg or "invalid syntax"
    end = len(text.rstrip()) + 1
    if exc.lineno is None:
        column = text.find("\x00") + 1 if "\x00" in text else 1
        if "null bytes" in message:
            message = "the condition contains a null character"
    elif exc.offset is None or exc.offset < 1:
        column = end
    else:
        line = max(1, min(exc.lineno, len(source.starts)))
        column = min(source.base + source.starts[line - 1] + exc.offset, end)
    at = text[column - 1 : column + 1]
    hint = ""
    if at.startswith(":=") or ":=" in text:
        hint = "assignment expressions (`:=`, the walrus operator) are not allowed"
    elif at[:1] == "=" and at != "==":
        hint = "`=` assigns; use `==` to compare"
    elif at == "&&":
        hint = "use `and` instead of `&&`"
    elif at == "||":
        hint = "use `or` instead of `||`"
    elif at[:1] == "!":
        hint = "use `not` or `!=`"
    elif column >= end and message == "invalid syntax":
        hint = "the condition ends too early"
    elif ("\n" in text or "\r" in text) and not text.lstrip().startswith("("):
        hint = "a condition spanning several lines must be wrapped in parentheses"
    return ExpressionError(f"syntax error: {message}" + (f"; {hint}" if hint else ""), text, column)


def _compile_text(text: str, strict: bool) -> tuple[_Fn, frozenset[str]]:
    if not isinstance(text, str):
        raise ExpressionError(f"a condition must be text, got {_describe(text)}", repr(text), 1)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"the condition is too long ({len(text)} characters; the limit is {MAX_LENGTH})", text, MAX_LENGTH + 1
        )
    body = text.lstrip(" \t\r\n\f")
    if not body.strip():
        raise ExpressionError("the condition is empty", text, 1)
    source = _Source(body, len(text) - len(body))
    source_text = text  # columns and snippets always refer to the original text
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "\d" escapes: accepted, as Python does
            tree = ast.parse(body, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(text, source, exc) from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the condition is nested too deeply", text, 1) from None
    except UnicodeError as exc:
        start = getattr(exc, "start", 0)
        raise ExpressionError("the condition contains a character that is not valid text", text, start + 1) from None
    except ValueError as exc:  # e.g. null bytes on some Python versions
        column = text.find("\x00") + 1 if "\x00" in text else 1
        raise ExpressionError(f"syntax error: {exc}", text, max(column, 1)) from None
    compiler = _Compiler(source_text, source, strict)
    compiler.scan(tree.body)
    root = compiler.compile(tree.body)
    return compiler.as_fn(root), frozenset(compiler.variables)


# ------------------------------------------------------------------------------------- the API


@dataclass(frozen=True)
class Expression:
    """A parsed, checked condition.  Build it with :func:`parse` (cached) or ``Expression(text)``."""

    text: str
    _fn: _Fn = field(init=False, repr=False, compare=False)
    _lenient: dict[str, _Fn] = field(init=False, repr=False, compare=False)
    _variables: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fn, variables = _compile_text(self.text, strict=True)
        object.__setattr__(self, "_fn", fn)
        object.__setattr__(self, "_lenient", {})
        object.__setattr__(self, "_variables", variables)

    def __reduce__(self) -> tuple[Any, ...]:
        return (parse, (self.text,))

    def variables(self) -> frozenset[str]:
        """Fields read, as dotted paths without a leading ``case.``: ``{"amount", "vendor.country"}``."""
        return self._variables

    def root_fields(self) -> frozenset[str]:
        """First segment of every field read: ``vendor.country`` -> ``vendor``."""
        return frozenset(name.split(".", 1)[0] for name in self._variables)

    def evaluate(self, case: Mapping[str, Any], *, strict: bool = True) -> Any:
        """The value of the condition for ``case``.

        A missing field raises :class:`EvaluationError` naming it and (up to 10) available fields;
        with ``strict=False`` it reads as null.  Any failure is an :class:`EvaluationError`.
        """
        if type(case) is not dict and not isinstance(case, Mapping):
            raise EvaluationError(
                f"a case must be a mapping of field names to values, got {_type_name(case)}", self.text, 1
            )
        fn = self._fn if strict else self._lenient_fn()
        try:
            return fn(case)
        except ExpressionError:
            raise
        except Exception as exc:  # e.g. a hostile __bool__/__eq__ in the case data
            raise EvaluationError(f"evaluation failed: {type(exc).__name__}: {exc}", self.text, 1) from exc

    def evaluate_bool(self, case: Mapping[str, Any], *, strict: bool = True) -> bool:
        """``evaluate`` converted with Python truthiness: null, false, 0, "" and [] are false."""
        value = self.evaluate(case, strict=strict)
        if value is True or value is False:
            return value
        try:
            return bool(value)
        except Exception as exc:
            raise EvaluationError(f"the result ({_describe(value)}) is not true or false", self.text, 1) from exc

    def _lenient_fn(self) -> _Fn:
        fn = self._lenient.get("fn")
        if fn is None:
            fn = self._lenient["fn"] = _compile_text(self.text, strict=False)[0]
        return fn


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Expression:
    return Expression(text)


def parse(text: str) -> Expression:
    """Parse and check a condition (cached by text).  Raises :class:`ExpressionError`."""
    if not isinstance(text, str):
        raise ExpressionError(f"a condition must be text, got {_describe(text)}", repr(text), 1)
    return _parse_cached(text)


def check(text: str) -> ExpressionError | None:
    """The :class:`ExpressionError` that :func:`parse` would raise, or None when ``text`` parses."""
    try:
        parse(text)
    except ExpressionError as exc:
        return exc
    return None
