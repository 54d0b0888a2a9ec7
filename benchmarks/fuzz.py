"""Structure-aware fuzzing of everything that reads untrusted input (hypothesis).

    .venv/bin/python benchmarks/fuzz.py                 # the full run: 100,000 inputs
    .venv/bin/python benchmarks/fuzz.py --seconds 40    # a short run (what the tests do)
    .venv/bin/python benchmarks/fuzz.py --targets yaml,condition --scale 0.1

Four targets, each fed by hypothesis strategies that know the input's structure:

``yaml``       workflow files: the templates and fixtures mutated with YAML's own syntax (anchors,
               aliases, merge keys, tags, brackets, tabs, look-alike and invisible characters, huge
               numbers and durations), plus generated documents of model-shaped keys; each input is
               loaded and, when it loads, validated.
``condition``  the condition language: expressions from its grammar and outside it (lambdas,
               subscripts, dunders, huge exponents, deep nesting, full-width names), parsed and
               evaluated against generated cases.
``data``       case data: CSV (quotes, NUL, long cells, ragged rows, huge numbers) and JSONL (NaN,
               deep nesting, long digits, non-objects) files read with ``load_cases``.
``bpmn``       BPMN import: the test models with elements deleted, duplicated and re-wired, attributes
               replaced (``calledElement="/etc/passwd"``, dangling references), conditions rewritten and
               raw bytes flipped.

Any exception other than the studio's own (``studio.errors.StudioError`` and its subclasses) is a
failure. The report gives the inputs tried per target, the distinct failure signatures (exception
type and the place it was raised) with one input each, and the slowest input. Exit 1 when any
failure was found.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree

from studio import fileio
from studio.errors import StudioError
from studio.export import import_bpmn
from studio.expr import parse
from studio.validate import validate

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = {"yaml": 30_000, "condition": 40_000, "data": 20_000, "bpmn": 10_000}
CHUNK = 250


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class Tally:
    target: str
    tried: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    slowest: float = 0.0
    slowest_input: str = ""

    def run(self, text: Any, action: Callable[[], Any]) -> None:
        self.tried += 1
        start = time.perf_counter()
        try:
            action()
        except StudioError:
            pass
        except Exception as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            ours = [f for f in frames if "/studio/" in f.filename] or frames
            place = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
            signature = f"{self.target}: {type(exc).__name__} at {place}"
            self.failures.setdefault(signature, f"{_short(text)}  ->  {exc!s:.200}")
        elapsed = time.perf_counter() - start
        if elapsed > self.slowest:
            self.slowest, self.slowest_input = elapsed, _short(text)


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


# --------------------------------------------------------------------------- strategies

_SNIPPETS = [
    "&a ", "*a", "<<: *a\n", "[", "]", "{", "}", ": ", "- ", "? ", "!!python/object:os.system ", "!!str ",
    "!!int ", "!custom ", "\t", '"', "'", "#", "\n---\n", "...\n", "%YAML 1.1\n", "|\n", ">-\n", "~", "null",
    "99999999999999999999w", "1e999", ".nan", "-.inf", "NaN", "0x", "0o777", "1_000", "9" * 80, "ｖendor",
    "\u200b", "\u202e", "\x00", "\x85", "\ufeff", "é", "𝔞", "-1", "0", "true", "yes", "on", "'a'::", "\\",
    "when: ", "kind: ", "id: ", "actor: ", "duration: ", "rate: ", "sla: ", "ref: /etc/passwd",
    "sample_data: /etc/passwd", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[[[[[[[[[[", "{a: {b: {c: {d: ",
]
_KEYS = ["apiVersion", "metadata", "name", "version", "nodes", "edges", "actors", "tools", "id", "kind", "from",
         "to", "when", "default", "actor", "behaviour", "duration", "dist", "mean", "sd", "capacity", "tier",
         "simulation", "arrivals", "process", "rate", "sample_data", "policies", "max_repeats", "sla",
         "escalate_to", "outputs", "ref", "threshold", "failures", "tool", "approve_rate", "x"]
_KINDS = ["start", "end", "task", "approval", "decision", "parallel", "join", "subworkflow", "agent", "human",
          "system", "read_only", "critical", "fixed", "normal", "poisson", "bogus"]


def _seeds(pattern: str) -> list[str]:
    found = sorted({*ROOT.glob(pattern)})
    return [p.read_text(encoding="utf-8", errors="replace") for p in found]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str], snippets: list[str]) -> str:
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            text = draw(st.sampled_from(snippets))
            continue
        at = draw(st.integers(0, len(text)))
        action = draw(st.integers(0, 5))
        if action <= 1:
            text = text[:at] + draw(st.sampled_from(snippets)) + text[at:]
        elif action == 2:
            end = min(len(text), at + draw(st.integers(1, 200)))
            text = text[:at] + text[end:]
        elif action == 3:
            end = min(len(text), at + draw(st.integers(1, 200)))
            text = text[:end] + text[at:end] * draw(st.integers(1, 3)) + text[end:]
        elif action == 4:
            text = text[:at] + draw(st.text(max_size=8)) + text[at:]
        else:
            line_start = text.rfind("\n", 0, at) + 1
            text = text[:line_start] + " " * draw(st.integers(0, 6)) + text[line_start:]
    return text


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_KINDS), st.sampled_from(["20s", "15m", "2h", "1d", "99999999999999999999w", "12/h", "0/s",
                                              "amount > 10", "ｖendor == 1", "/etc/passwd", "../../x.csv"]),
    st.text(max_size=20),
)
_documents = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=6),
                               st.dictionaries(st.sampled_from(_KEYS), children, max_size=6)),
    max_leaves=40,
)

_NAMES = ["amount", "score", "vendor.country", "case.amount", "ｖendor", "_x", "__class__", "a" * 60, "null",
          "true", "len", "x1", "é", "𝔞b"]
_FUNCS = ["len", "abs", "min", "max", "round", "lower", "upper", "contains", "startswith", "endswith",
          "is_empty", "coalesce", "eval", "getattr", "__import__"]
_BINOPS = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", " in ", " not in ", " and ",
           " or ", " is ", "&", "|", "^", "<<", " if true else ", ":="]


def _atom() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(_NAMES),
        st.integers(-(10**40), 10**40).map(str),
        st.floats(allow_nan=False).map(repr),
        st.sampled_from(["1e308", "1e999", "9" * 50, "0x10", "1_0", "10**100", "2**9999", ".5"]),
        st.text(max_size=10).map(json.dumps),
        st.sampled_from(["true", "false", "null", "[]", "[1, 2]", "{}", "{1: 2}", "lambda: 1", "x[0]", "f'{x}'",
                         "b'x'", "1j", "...", "*x", "not", "(", ")", ",", "'"]),
    )


_expressions = st.recursive(
    _atom(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(_BINOPS), inner).map("".join),
        st.tuples(st.sampled_from(["not ", "-", "+", "~"]), inner).map("".join),
        inner.map(lambda e: f"({e})"),
        st.tuples(st.sampled_from(_FUNCS), st.lists(inner, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(inner, st.sampled_from(["amount", "lower", "__class__", "x"])).map(lambda t: f"{t[0]}.{t[1]}"),
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.tuples(inner, st.integers(1, 200)).map(lambda t: "(" * t[1] + t[0] + ")" * t[1]),
        st.tuples(inner, st.integers(0, 20)).map(lambda t: t[0] + " " * t[1] + "\n"),
    ),
    max_leaves=12,
)
_case_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=12),
    st.lists(st.integers(), max_size=4), st.dictionaries(st.sampled_from(["country", "x"]), st.integers(), max_size=2),
)
_cases = st.dictionaries(st.sampled_from(["amount", "score", "vendor", "vendor.country", "x1", "é"]), _case_values,
                         max_size=5)

_cells = st.one_of(
    st.text(max_size=12), st.integers().map(str), st.floats().map(repr),
    st.sampled_from(['"', '""', 'a,"b', "\x00", "\r", "\n", "NaN", "inf", "-Infinity", "9" * 80, "1e999", "",
                     "true", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "x" * 5000]),
)
_csv_text = st.tuples(
    st.lists(st.sampled_from(["case_id", "amount", "", "score", "amount", "é"]), min_size=0, max_size=4),
    st.lists(st.lists(_cells, max_size=5), max_size=6),
    st.sampled_from([",", ";", "\t"]),
).map(lambda t: "\n".join([t[2].join(t[0])] + [t[2].join(row) for row in t[1]]) + "\n")
_json_line = st.one_of(
    st.dictionaries(st.text(max_size=6), _case_values, max_size=4).map(json.dumps),
    st.sampled_from(['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', "[1, 2]", "null", "{", '"x"',
                     '{"a": ' + "9" * 5001 + "}", '{"a": ' + "[" * 2000 + "]" * 2000 + "}", '{"a": 1e999}',
                     '{"a": "\\ud800"}', '{"a": 1}{"b": 2}', "\x00", '{"a": "' + "x" * 3000 + '"}']),
    st.integers(1, 100_000).map(lambda n: '{"a": ' + "[" * n + "]" * n + "}"),
)
_jsonl_text = st.lists(_json_line, max_size=6).map(lambda lines: "\n".join(lines) + "\n")

_BPMN_ATTRS = ["id", "sourceRef", "targetRef", "calledElement", "name", "default", "attachedToRef",
               "processRef", "isExecutable", "gatewayDirection"]
_BPMN_VALUES = ["", "/etc/passwd", "../../etc/passwd", "x" * 300, "start", "Task_1", "ｖ", "\u200b", "0", "-1",
                "true", "amount > 10", "${amount > 10}", "&amp;", "<", "Flow_1"]


def _elements(root: Any) -> list[Any]:
    return [e for e in root.iter() if isinstance(e.tag, str)]


@st.composite
def bpmn_documents(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = draw(st.sampled_from(seeds))
    if draw(st.integers(0, 4)) == 0:  # raw byte mutations
        raw = bytearray(data)
        for _ in range(draw(st.integers(1, 6))):
            if raw:
                at = draw(st.integers(0, len(raw) - 1))
                raw[at] = draw(st.integers(0, 255))
        return bytes(raw)
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return data
    elements = _elements(root)
    for _ in range(draw(st.integers(1, 5))):
        element = draw(st.sampled_from(elements))
        action = draw(st.integers(0, 4))
        parent = element.getparent()
        if action == 0 and parent is not None:
            parent.remove(element)
            elements = _elements(root)
        elif action == 1 and parent is not None:
            parent.append(copy.deepcopy(element))
            elements = _elements(root)
        elif action == 2:
            element.set(draw(st.sampled_from(_BPMN_ATTRS)), draw(st.sampled_from(_BPMN_VALUES)))
        elif action == 3:
            text = draw(st.one_of(st.sampled_from(_BPMN_VALUES), _expressions))
            with contextlib.suppress(ValueError, TypeError):  # text XML cannot hold (NUL, lone surrogates)
                element.text = text
        elif parent is not None:
            tag = draw(st.sampled_from(["callActivity", "subProcess", "exclusiveGateway", "parallelGateway",
                                        "userTask", "boundaryEvent", "sequenceFlow", "lane", "process"]))
            element.tag = "{http://www.omg.org/spec/BPMN/20100524/MODEL}" + tag
    return bytes(etree.tostring(root))


# --------------------------------------------------------------------------- targets


def _chunks(strategy: st.SearchStrategy[Any], body: Callable[[Any], None], budget: int, deadline: float,
            tally: Tally) -> None:
    """Feed ``body`` inputs drawn from ``strategy`` in chunks, until ``budget`` inputs or the deadline."""
    while tally.tried < budget and time.monotonic() < deadline:
        size = min(CHUNK, budget - tally.tried)

        def test(value: Any) -> None:
            if time.monotonic() < deadline:
                body(value)

        settings(max_examples=size, database=None, deadline=None, derandomize=False, phases=[Phase.generate],
                 suppress_health_check=list(HealthCheck))(given(strategy)(test))()


def fuzz_yaml(budget: int, deadline: float) -> Tally:
    tally = Tally("yaml")
    seeds = _seeds("templates/*/workflow.yaml") + _seeds("tests/fixtures/valid/*.yaml") + _seeds(
        "tests/fixtures/invalid/*.yaml")

    def load_and_validate(text: str) -> None:
        workflow = fileio.loads(text, "fuzz.yaml")
        validate(workflow)

    documents = _documents.map(lambda doc: json.dumps(doc, allow_nan=True))

    def body(text: str) -> None:
        tally.run(text, lambda: load_and_validate(text))

    _chunks(st.one_of(mutated(seeds, _SNIPPETS), mutated(seeds, _SNIPPETS), documents), body, budget, deadline,
            tally)
    return tally


def fuzz_condition(budget: int, deadline: float) -> Tally:
    tally = Tally("condition")

    def parse_and_run(text: str, case: dict[str, Any]) -> None:
        expression = parse(text)
        expression.variables()
        expression.evaluate(case, strict=False)
        expression.evaluate_bool(case)

    def body(item: tuple[str, dict[str, Any]]) -> None:
        text, case = item
        tally.run(text, lambda: parse_and_run(text, case))

    _chunks(st.tuples(_expressions, _cases), body, budget, deadline, tally)
    return tally


def fuzz_data(budget: int, deadline: float) -> Tally:
    tally = Tally("data")
    with tempfile.TemporaryDirectory(prefix="studio-fuzz-") as folder:
        csv_path, jsonl_path = Path(folder) / "cases.csv", Path(folder) / "cases.jsonl"

        def body(item: tuple[Path, str]) -> None:
            path, text = item
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            tally.run(text, lambda: fileio.load_cases(path))

        _chunks(st.one_of(_csv_text.map(lambda t: (csv_path, t)), _jsonl_text.map(lambda t: (jsonl_path, t))), body,
                budget, deadline, tally)
    return tally


def fuzz_bpmn(budget: int, deadline: float) -> Tally:
    tally = Tally("bpmn")
    seeds = [p.read_bytes() for p in sorted(ROOT.glob("tests/fixtures/bpmn*/*.bpmn"))]

    def body(data: bytes) -> None:
        tally.run(data[:400], lambda: import_bpmn(data))

    _chunks(bpmn_documents(seeds), body, budget, deadline, tally)
    return tally


TARGETS: dict[str, Callable[[int, float], Tally]] = {
    "yaml": fuzz_yaml, "condition": fuzz_condition, "data": fuzz_data, "bpmn": fuzz_bpmn,
}


def run(targets: list[str], scale: float = 1.0, seconds: float | None = None) -> list[Tally]:
    """Fuzz ``targets``; each gets its default count times ``scale``, and an equal share of ``seconds``."""
    tallies = []
    start = time.monotonic()
    for index, name in enumerate(targets):
        share = None if seconds is None else (seconds - (time.monotonic() - start)) / (len(targets) - index)
        deadline = float("inf") if share is None else time.monotonic() + max(share, 1.0)
        tallies.append(TARGETS[name](max(1, round(DEFAULTS[name] * scale)), deadline))
    return tallies


def report(tallies: list[Tally], elapsed: float) -> str:
    lines = [f"{'target':<10} {'inputs':>8} {'failures':>8} {'slowest':>9}  slowest input"]
    for t in tallies:
        lines.append(f"{t.target:<10} {t.tried:>8,} {len(t.failures):>8} {t.slowest * 1000:>7.1f}ms  {t.slowest_input}")
    total = sum(t.tried for t in tallies)
    failures = {sig: example for t in tallies for sig, example in t.failures.items()}
    lines.append(f"{'total':<10} {total:>8,} {len(failures):>8}   in {elapsed:.0f} s "
                 f"({total / max(elapsed, 1e-9):,.0f} inputs/s)")
    if failures:
        lines.append("distinct failure signatures:")
        lines.extend(f"  {sig}\n    {example}" for sig, example in sorted(failures.items()))
    else:
        lines.append("distinct failure signatures: none (every refusal was one of the studio's own errors)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz the studio's readers (see the module docstring).")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated: " + ", ".join(TARGETS))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every target's input count")
    parser.add_argument("--seconds", type=float, help="stop each target at its share of this many seconds")
    args = parser.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s): {', '.join(unknown)}")
    start = time.monotonic()
    tallies = run(targets, args.scale, args.seconds)
    print(report(tallies, time.monotonic() - start))
    return 1 if any(t.failures for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
