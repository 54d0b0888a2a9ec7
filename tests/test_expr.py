"""Tests for the safe condition language (studio.expr), through its public API only."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.expr import FUNCTIONS, EvaluationError, Expression, ExpressionError, check, parse

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def ev(text: str, case: dict[str, Any] | None = None) -> Any:
    return parse(text).evaluate(case or {})


# --------------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("-3.5", -3.5),
        ("1_000", 1000),
        ("'EU'", "EU"),
        ('"a" "b"', "ab"),
        ("True", True),
        ("False", False),
        ("None", None),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 'a', null]", [1, "a", None]),
        ("(1, 2)", (1, 2)),
        ("()", ()),
        ("[]", []),
        ("((7))", 7),
    ],
)
def test_literals(text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7 + 2", 9),
        ("7 - 2", 5),
        ("7 * 2", 14),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("-x", -5),
        ("+x", 5),
        ("--x", 5),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("2 ** 3 ** 2", 512),
        ("-2 ** 2", -4),
        ("'ab' + 'cd'", "abcd"),
        ("'ab' * 3", "ababab"),
        ("[1] + [2]", [1, 2]),
        ("x * 1.5", 7.5),
    ],
)
def test_arithmetic(text: str, expected: Any) -> None:
    assert ev(text, {"x": 5}) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x == 5", True),
        ("x != 5", False),
        ("x < 6", True),
        ("x <= 5", True),
        ("x > 5", False),
        ("x >= 5", True),
        ("1 < x < 10", True),
        ("1 < x < 3", False),
        ("5 == x == 5.0", True),
        ("'a' < 'b'", True),
        ("x in [1, 5]", True),
        ("x in (1, 2)", False),
        ("x not in [1, 2]", True),
        ("'ell' in 'hello'", True),
        ("'DE' in tags", True),
        ("'US' not in tags", True),
        ("null == null", True),
        ("x == '5'", False),
    ],
)
def test_comparisons(text: str, expected: bool) -> None:
    assert ev(text, {"x": 5, "tags": ["DE", "FR"]}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true and false", False),
        ("true or false", True),
        ("not true", False),
        ("not 0", True),
        ("x > 1 and x < 10", True),
        ("x > 10 or x < 0", False),
        ("0 or 'fallback'", "fallback"),
        ("1 and 2 and 3", 3),
        ("0 or '' or null", None),
        ("'big' if x > 3 else 'small'", "big"),
        ("'big' if x > 30 else 'small'", "small"),
        ("not x > 3 and x < 10", False),
    ],
)
def test_boolean_logic(text: str, expected: Any) -> None:
    assert ev(text, {"x": 5}) == expected


def test_and_or_short_circuit_does_not_read_missing_fields() -> None:
    assert ev("false and missing > 1") is False
    assert ev("true or missing > 1") is True
    assert ev("1 if true else missing") == 1
    assert ev("x > 9 and missing", {"x": 1}) is False


def test_example_condition() -> None:
    expr = parse('amount > 10000 and vendor.country in ["DE", "FR"]')
    assert expr.evaluate({"amount": 20000, "vendor": {"country": "FR"}}) is True
    assert expr.evaluate({"amount": 20000, "vendor": {"country": "US"}}) is False
    assert expr.evaluate({"amount": 500, "vendor": {"country": "DE"}}) is False


# ------------------------------------------------------------------------------ functions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("len(name)", 5),
        ("len(tags)", 2),
        ("len([])", 0),
        ("abs(-3)", 3),
        ("abs(-2.5)", 2.5),
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2)", 3),
        ("min(tags)", "DE"),
        ("max([4, 9])", 9),
        ("round(2.567)", 3),
        ("round(2.567, 2)", 2.57),
        ("lower(name)", "alice"),
        ("upper(name)", "ALICE"),
        ("lower(null)", None),
        ("contains(name, 'lic')", True),
        ("contains(tags, 'FR')", True),
        ("contains(tags, 'US')", False),
        ("contains(null, 'x')", False),
        ("startswith(name, 'Al')", True),
        ("startswith(name, ['x', 'A'])", True),
        ("endswith(name, 'ce')", True),
        ("endswith(name, 'x')", False),
        ("startswith(null, 'x')", False),
        ("is_empty(null)", True),
        ("is_empty('')", True),
        ("is_empty([])", True),
        ("is_empty(' ')", False),
        ("is_empty(0)", False),
        ("is_empty(name)", False),
        ("coalesce(null, null, 3)", 3),
        ("coalesce(null)", None),
        ("coalesce(discount, 0)", 0),
        ("is_empty(notes)", True),
        ("lower(upper(name)) == 'alice'", True),
    ],
)
def test_functions(text: str, expected: Any) -> None:
    assert ev(text, {"name": "Alice", "tags": ["DE", "FR"]}) == expected


def test_functions_mapping_is_read_only_and_complete() -> None:
    expected = {
        "len",
        "abs",
        "min",
        "max",
        "round",
        "lower",
        "upper",
        "contains",
        "startswith",
        "endswith",
        "is_empty",
        "coalesce",
    }
    assert set(FUNCTIONS) == expected
    assert FUNCTIONS["len"]("abc") == 3
    assert FUNCTIONS["coalesce"](None, 2) == 2
    with pytest.raises(TypeError):
        FUNCTIONS["eval"] = eval  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("len(n)", "len()"),
        ("lower(n)", "lower()"),
        ("abs(s)", "abs()"),
        ("min(x)", "empty"),
        ("max(n, s)", "max()"),
        ("contains(s, n)", "contains()"),
        ("startswith(n, 'a')", "startswith()"),
        ("round(s)", "round()"),
    ],
)
def test_function_errors_are_evaluation_errors(text: str, fragment: str) -> None:
    with pytest.raises(EvaluationError) as info:
        ev(text, {"x": [], "n": 5, "s": "abc"})
    assert fragment in info.value.message


def test_constant_errors_are_found_when_parsing() -> None:
    for text in ["len(5)", "1 / 0", "lower(5)", "1 + 2 > null"]:
        error = check(text)
        assert error is not None and not isinstance(error, EvaluationError), text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("len(1, 2)", "takes 1 argument (2 given)"),
        ("min()", "at least 1"),
        ("round(1, 2, 3)", "1 or 2"),
        ("contains('a')", "takes 2 arguments"),
    ],
)
def test_function_arity_is_checked_when_parsing(text: str, fragment: str) -> None:
    error = check(text)
    assert error is not None and fragment in error.message


# --------------------------------------------------------------------------------- fields


def test_case_prefix_is_the_same_field() -> None:
    case = {"amount": 12}
    assert ev("case.amount", case) == ev("amount", case) == 12
    assert parse("case.amount > 10").variables() == parse("amount > 10").variables() == {"amount"}


def test_nested_and_flat_dotted_fields() -> None:
    assert ev("vendor.country", {"vendor": {"country": "DE"}}) == "DE"
    assert ev("case.vendor.country", {"vendor": {"country": "DE"}}) == "DE"
    assert ev("vendor.country", {"vendor.country": "FR"}) == "FR"
    # a flat key wins over the nested dict when both exist
    assert ev("vendor.country", {"vendor.country": "FR", "vendor": {"country": "DE"}}) == "FR"
    assert ev("a.b.c", {"a": {"b": {"c": 1}}}) == 1
    assert ev("a.b.c", {"a": {"b.c": 2}}) == 2


def test_variables_and_root_fields() -> None:
    expr = parse("case.amount > limit and vendor.country in ['DE'] and lower(vendor.name) == 'x' or true")
    assert expr.variables() == {"amount", "limit", "vendor.country", "vendor.name"}
    assert expr.root_fields() == {"amount", "limit", "vendor"}
    assert parse("1 + 2 > 0 or null").variables() == frozenset()
    assert parse("coalesce(discount, 0)").variables() == {"discount"}


def test_missing_field_names_it_and_lists_at_most_ten() -> None:
    case = {f"field{i:02d}": i for i in range(15)}
    with pytest.raises(EvaluationError) as info:
        parse("amount > 1").evaluate(case)
    message = info.value.message
    assert "`amount`" in message
    assert "field00" in message and "field09" in message
    assert "field10" not in message
    assert "5 more" in message
    assert info.value.column == 1


def test_missing_nested_field() -> None:
    with pytest.raises(EvaluationError, match="cntry"):
        ev("vendor.cntry == 1", {"vendor": {"country": "DE"}})
    with pytest.raises(EvaluationError, match="not a record"):
        ev("vendor.country == 1", {"vendor": "ACME"})


def test_non_strict_reads_missing_fields_as_null() -> None:
    expr = parse("is_empty(region) or region == 'EU'")
    assert expr.evaluate({}, strict=False) is True
    assert parse("vendor.country").evaluate({"vendor": {}}, strict=False) is None
    with pytest.raises(EvaluationError):
        parse("region == 'EU'").evaluate({})


def test_case_must_be_a_mapping() -> None:
    with pytest.raises(EvaluationError, match="mapping"):
        parse("x").evaluate(["x"])  # type: ignore[arg-type]


def test_evaluate_bool_uses_truthiness() -> None:
    assert parse("amount").evaluate_bool({"amount": 3}) is True
    assert parse("amount").evaluate_bool({"amount": 0}) is False
    assert parse("tags").evaluate_bool({"tags": []}) is False
    assert parse("null").evaluate_bool({}) is False
    assert parse("'x'").evaluate_bool({}) is True
    assert parse("a > 1").evaluate_bool({"a": 2}) is True


def test_results_are_fresh_lists() -> None:
    expr = parse("[1, [2]]")
    first = expr.evaluate({})
    first[1].append(3)
    assert expr.evaluate({}) == [1, [2]]


# --------------------------------------------------------------------------------- errors


def test_error_message_format() -> None:
    error = check("amount >> 3")
    assert isinstance(error, ExpressionError)
    assert str(error) == (
        "Condition `amount >> 3` column 8: operator `>>` is not allowed; use + - * / // % ** or comparisons."
    )
    assert error.expression == "amount >> 3"
    assert error.column == 8
    assert error.message == "operator `>>` is not allowed; use + - * / // % ** or comparisons."


def test_error_classes() -> None:
    assert issubclass(ExpressionError, ValueError)
    assert issubclass(EvaluationError, ExpressionError)
    error = check("amount >> 3")
    assert error is not None
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.column, copy.message) == (str(error), error.column, error.message)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("amount > ", 9),
        ("amount = 5", 8),
        ("amount >", 9),
        ("a > 1 ) ", 7),
        ("  amount >> 3", 10),
        ("(a >\n 1 >> 2)", 9),
        ("name == 'é' >> 1", 13),
    ],
)
def test_error_columns(text: str, column: int) -> None:
    error = check(text)
    assert error is not None
    assert error.column == column, str(error)


def test_syntax_error_reports_a_column() -> None:
    error = check("amount > ")
    assert error is not None
    assert "syntax" in error.message
    assert f"column {error.column}:" in str(error)
    assert check("amount = 5") is not None and "==" in str(check("amount = 5"))


def test_check_and_parse() -> None:
    assert check("amount > 1") is None
    assert isinstance(check("amount >"), ExpressionError)
    assert parse("amount > 1") is parse("amount > 1")  # cached
    assert parse("a") == Expression("a")
    assert pickle.loads(pickle.dumps(parse("a + 1"))).evaluate({"a": 1}) == 2
    assert parse("  a + 1").evaluate({"a": 1}) == 2  # leading blanks are fine
    assert parse("(a\n + 1)").evaluate({"a": 1}) == 2  # multi-line inside parentheses


@pytest.mark.parametrize("value", [None, 5, True, ["a"]])
def test_non_text_is_an_expression_error(value: Any) -> None:
    with pytest.raises(ExpressionError, match="text"):
        parse(value)


@pytest.mark.parametrize(
    ("text", "case", "fragment", "column"),
    [
        ("amount > 'x'", {"amount": 5}, "cannot compare `amount`", 8),
        ("a / b", {"a": 1, "b": 0}, "division by zero", 3),
        ("a // b", {"a": 1, "b": 0}, "division by zero", 3),
        ("a % b", {"a": 1, "b": 0}, "division by zero", 3),
        ("a + b", {"a": 1, "b": "x"}, "cannot apply `+`", 3),
        ("-a", {"a": "x"}, "`a`", 1),
        ("a in b", {"a": 1, "b": 2}, "`in`", 3),
        ("a < b", {"a": None, "b": 1}, "null", 3),
    ],
)
def test_evaluation_errors_never_leak_raw_exceptions(
    text: str, case: dict[str, Any], fragment: str, column: int
) -> None:
    with pytest.raises(EvaluationError) as info:
        parse(text).evaluate(case)
    assert fragment in info.value.message
    assert info.value.column == column
    assert info.value.expression == text


# ------------------------------------------------------------------------- hostile input

HOSTILE = [
    ("().__class__.__bases__[0].__subclasses__()", "__class__"),
    ('__import__("os").system("echo hi")', "__import__"),
    ("(lambda: 1)()", "lambda"),
    ("[x for x in range(10)]", "comprehension"),
    ("(x for x in y)", "generator"),
    ("2 ** 10 ** 10", "exponent"),
    ("9 ** 999999", "exponent"),
    ('"a" * 10**9', "limit is 10000"),
    ("(" * 500 + "1" + ")" * 500, "too long"),
    ("(" * 300 + "1" + ")" * 300, "nested"),
    ("-" * 500 + "1", "nested too deeply"),
    ("[" * 100 + "]" * 100, "nested"),
    ('open("/etc/passwd")', "`open` is not allowed"),
    ('getattr(amount, "real")', "`getattr` is not allowed"),
    ('eval("1")', "`eval` is not allowed"),
    ("amount.__class__", "__class__"),
    ("amount._private", "_private"),
    ('f"{amount}"', "f-string"),
    ("x := 1", ":="),
    ("(x := 1)", ":="),
    ("{1: 2}", "dict"),
    ("{1, 2}", "set"),
    ('b"x"', "bytes"),
    ('"' + "a" * 5000 + '"', "too long"),
    ("amount.lower()", "method call"),
    ("amount[0]", "subscript"),
    ("round(amount, ndigits=2)", "keyword"),
    ("len(*amount)", "starred"),
    ("amount >> 3", "`>>`"),
    ("amount & 1", "`&`"),
    ("~amount", "`~`"),
    ("amount is None", "`is`"),
    ("1j", "complex"),
    ("await amount", "await"),
    ("(yield)", "yield"),
    ("10 ** 31 * 10", "too large"),
    ("'%s' % 'x'", "formatting"),
    ("case", "case"),
]


@pytest.mark.parametrize(("text", "fragment"), HOSTILE, ids=[t[:40] for t, _ in HOSTILE])
def test_hostile_input_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text).evaluate({"amount": 1, "y": [1]})
    error = info.value
    assert type(error) is ExpressionError  # refused when parsing, not when running
    assert fragment in error.message, str(error)
    assert 1 <= error.column <= len(text) + 1
    assert check(text) is not None


@pytest.mark.parametrize(
    "template",
    [
        '__import__("os").system("touch {marker}")',
        'open("{marker}", "w")',
        '().__class__.__base__.__subclasses__()[0]("{marker}")',
        'getattr(__builtins__, "open")("{marker}", "w")',
        '[open("{marker}", "w") for _ in [1]]',
        '(lambda: open("{marker}", "w"))()',
    ],
)
def test_hostile_input_has_no_side_effect(tmp_path: Path, template: str) -> None:
    marker = tmp_path / "marker"
    text = template.format(marker=marker)
    with pytest.raises(ExpressionError):
        parse(text).evaluate({})
    assert not marker.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "case", "fragment"),
    [
        ("x ** y", {"x": 2, "y": 1000}, "exponent"),
        ("x ** 2", {"x": 10**20}, "too large"),
        ("x * y", {"x": 10**20, "y": 10**20}, "too large"),
        ("s * n", {"s": "ab", "n": 10**9}, "limit is 10000"),
        ("s * n", {"s": [1], "n": 20_000}, "limit is 10000"),
        ("x % 2", {"x": "%s"}, "formatting"),
    ],
)
def test_limits_apply_to_case_data(text: str, case: dict[str, Any], fragment: str) -> None:
    with pytest.raises(EvaluationError) as info:
        parse(text).evaluate(case)
    assert fragment in info.value.message


def test_length_limit_is_inclusive() -> None:
    text = "1 + " * 24 + "1"  # keeps depth under the limit
    padded = text + " " * (1000 - len(text))
    assert parse(padded).evaluate({}) == 25
    assert check(padded + " ") is not None


@pytest.mark.parametrize(
    "text",
    [
        "-" * 999 + "1",
        "not " * 249 + "x",
        "a." * 499 + "a",
        "1+" * 499 + "1",
        "(1," * 300 + ")" * 300,
        "len(" * 199 + "x" + ")" * 199,
        "x**" * 333 + "1",
    ],
)
def test_deep_nesting_is_a_clean_error(text: str) -> None:
    error = check(text[:1000])
    assert isinstance(error, ExpressionError)
    assert "nested" in error.message


# --------------------------------------------------------------------------------- properties


@FUZZ
@given(st.text(max_size=200))
def test_parse_never_raises_anything_but_expression_error(text: str) -> None:
    try:
        result = parse(text)
    except ExpressionError as exc:
        assert exc.expression == text
        assert exc.column >= 1
        str(exc)
    else:
        assert isinstance(result, Expression)


TOKENS = [
    "**",
    "//",
    " and ",
    " or ",
    " not ",
    " in ",
    " if ",
    " else ",
    "len(",
    "min(",
    "lower(",
    "coalesce(",
    "null",
    "case.",
]
EXPRESSION_CHARS = st.sampled_from([*"abxy0123456789.+-*/%<>=!()[], '\"_", *TOKENS])
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
)


@FUZZ
@given(st.lists(EXPRESSION_CHARS, max_size=30).map("".join), st.dictionaries(st.sampled_from("abxy"), VALUES))
def test_evaluation_never_raises_anything_but_expression_error(text: str, case: dict[str, Any]) -> None:
    try:
        expr = parse(text)
    except ExpressionError:
        return
    try:
        expr.evaluate(case)
        expr.evaluate_bool(case, strict=False)
    except EvaluationError:
        pass


SMALL_INTS = st.integers(min_value=-(10**15), max_value=10**15)


@FUZZ
@given(SMALL_INTS, SMALL_INTS)
def test_arithmetic_matches_python(a: int, b: int) -> None:
    assert parse("a + b * 2 > a").evaluate({"a": a, "b": b}) == (a + b * 2 > a)
    assert parse(f"{a} + {b} * 2 > {a}").evaluate({}) == (a + b * 2 > a)
    assert parse("(a - b) // 3 + a % 7").evaluate({"a": a, "b": b}) == (a - b) // 3 + a % 7


class _Hostile:
    def __bool__(self) -> bool:
        raise RuntimeError("boom")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    __hash__ = object.__hash__


@pytest.mark.parametrize("text", ["x == 1", "not x", "x", "x and 1", "1 if x else 2"])
def test_hostile_case_values_give_evaluation_errors(text: str) -> None:
    expr = parse(text)
    with pytest.raises(EvaluationError):
        expr.evaluate_bool({"x": _Hostile()})
