"""The generated LangGraph module runs standalone and routes cases as the studio's conditions say; Mermaid."""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import FIXTURES, TEMPLATES

from studio import fileio, render
from studio.export import export_as, to_langgraph_module, to_mermaid
from studio.export.langgraph_module import condition_to_python
from studio.expr import EvaluationError, parse
from studio.model import Workflow

BASE = FIXTURES / "valid" / "base.yaml"
TEMPLATE_FILES = sorted(TEMPLATES.glob("*/workflow.yaml")) or [BASE]
WORKFLOWS = [*TEMPLATE_FILES, BASE]
HELPERS = {"_field", "_neg", "_pos", "_mod", "_pow"}

LOOP = """
apiVersion: studio/v1
metadata: {name: loop, version: 1.0.0}
actors:
  - {id: writer, kind: agent, capability: drafting, version: 1.0.0}
  - {id: editors, kind: human, role: editor}
nodes:
  - {id: start, kind: start}
  - {id: draft, kind: task, actor: writer}
  - {id: review, kind: approval, actor: editors, sla: 1h, escalate_to: editors}
  - {id: gate, kind: decision}
  - {id: done, kind: end, outcome: published}
edges:
  - {from: start, to: draft}
  - {from: draft, to: review}
  - {from: review, to: gate}
  - {from: gate, to: draft, when: review_decision == "send_back"}
  - {from: gate, to: done, default: true}
policies: {max_repeats: 2}
"""


load = functools.cache(fileio.load)  # read-only use: every file is parsed once per module


def _ids(paths: list[Path]) -> list[str]:
    return [p.parent.name if p.name == "workflow.yaml" else p.stem for p in paths]


def load_module(source: str, path: Path) -> ModuleType:
    path.write_text(source, encoding="utf-8")
    name = f"generated_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def expected_visits(workflow: Workflow, case: Mapping[str, Any]) -> set[str]:
    """The nodes a case passes, from the studio's own condition evaluation (no loops taken)."""
    seen: set[str] = set()
    stack = [n.id for n in workflow.nodes if n.kind == "start"]
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        out = [e for e in workflow.edges if e.source == node_id]
        if workflow.node(node_id).kind == "decision":
            chosen = next((e for e in out if not e.default and e.when and parse(e.when).evaluate_bool(case)), None)
            chosen = chosen or next(e for e in out if e.default)
            stack.append(chosen.target)
        else:
            stack.extend(e.target for e in out)
    return seen


def sample_cases(path: Path, workflow: Workflow, limit: int = 6) -> Iterator[dict[str, Any]]:
    sample = path.parent / "sample.csv"
    rows = list(fileio.load_cases(sample))[:limit] if sample.is_file() else [{"amount": 5000, "score": 0.9},
                                                                          {"amount": 10, "score": 0.1}]
    for row in rows:
        case = dict(row)
        for node in workflow.nodes:
            if node.kind == "approval":
                case.setdefault(f"{node.id}_decision", "approve")
        yield case


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_generated_module_runs_sample_cases_along_the_studio_path(path: Path, tmp_path: Path) -> None:
    workflow = load(path)
    source = export_as(workflow, "langgraph").decode("utf-8")
    assert source == to_langgraph_module(fileio.load(path))  # deterministic
    assert {n.split(".")[0] for n in _imports(source)} <= {
        "langgraph", "langchain_core", "json", "operator", "os", "threading", "time", "collections", "datetime",
        "typing", "argparse", "zoneinfo"}  # standalone: no studio
    module = load_module(source, tmp_path / f"{workflow.metadata.name}_graph.py")
    assert workflow.metadata.name == module.WORKFLOW and workflow.metadata.version == module.VERSION
    ran = 0
    for case in sample_cases(path, workflow):
        result = module.run(case)
        try:
            expected = expected_visits(workflow, case)
        except EvaluationError:
            assert result["outcome"] == "failed:data", case
            continue
        visited = result["path"]
        assert visited[0] == "start" or workflow.node(visited[0]).kind == "start"
        assert set(visited) == expected, case
        assert len(visited) == len(set(visited))  # each node once: joins wait for all branches
        end = workflow.node(visited[-1])
        assert end.kind == "end" and result["outcome"] == (end.outcome or end.id)
        ran += 1
    assert ran > 0


def _imports(source: str) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_loop_guard_stops_a_case_past_max_repeats(tmp_path: Path) -> None:
    workflow = fileio.loads(LOOP)
    module = load_module(to_langgraph_module(workflow), tmp_path / "loop_graph.py")
    result = module.run({})
    assert result["path"] == ["start", "draft", "review", "gate", "done"]
    assert result["outcome"] == "published"
    assert result["transitions"] == {f"{a}>{b}": 1 for a, b in [("start", "draft"), ("draft", "review"),
                                                                ("review", "gate"), ("gate", "done")]}
    looping = module.run({}, {"review": ["send_back"] * 5})
    assert looping["outcome"] == "killed:loop_guard" and looping["stopped"]["where"] == "draft>review"
    assert looping["path"].count("draft") == 3  # max_repeats: 2 -> the third pass is refused at `draft>review`


EXPRESSIONS = [
    "amount > 1000 and score >= 0.5",
    "vendor.country in ['DE', 'FR']",
    "case.amount * 2 + 1 > 10",
    "not approved",
    "lower(region) == 'eu'",
    "coalesce(missing_field, 5) == 5",
    "is_empty(notes) or is_empty(absent)",
    "contains(tags, 'urgent')",
    "startswith(code, ['A', 'B']) and endswith(code, '2')",
    "amount if amount > 0 else -amount",
    "1 < amount <= 5000",
    "len(items) >= 2",
    "max(a, b) - min([a, b]) == abs(a - b)",
    "round(ratio, 1) == 0.3",
    "name == 'O\\'Brien \"quoted\" \\n x'",
    "amount % 7 == 6",
    "2 ** 3 == 8 and -a < +b",
    "amount // 3 == 333",
    "region != null and true and not false",
    "upper(missing_or_null) == None",
    "amount / 4 == 250.0 and (a, b) == (3, 7)",
    'name == "\\"); import os; os.system(\'boom\'); (\\""',
]
CASES: list[dict[str, Any]] = [
    {"amount": 1000, "score": 0.7, "vendor": {"country": "DE"}, "approved": False, "region": "EU", "notes": "",
     "tags": ["urgent"], "code": "B12", "items": [1, 2], "a": 3, "b": 7, "ratio": 0.26,
     "name": "O'Brien \"quoted\" \n x", "missing_or_null": None},
    {"amount": -20, "score": 0.1, "vendor.country": "FR", "approved": True, "region": None, "notes": None,
     "tags": [], "code": "C2", "items": [], "a": 9, "b": 1, "ratio": 0.34,
     "name": '"); import os; os.system(\'boom\'); ("',
     "missing_or_null": "x"},
    {"amount": "text"},
]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load_module(to_langgraph_module(load(BASE)), tmp_path_factory.mktemp("rt") / "base_graph.py")


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_translated_conditions_agree_with_the_studio(text: str, runtime: ModuleType) -> None:
    code = condition_to_python(text)
    tree = ast.parse(code, mode="eval")
    for node in ast.walk(tree):  # only the module's helpers are called; no attribute, subscript or import
        assert not isinstance(node, (ast.Attribute, ast.Subscript, ast.Lambda, ast.NamedExpr)), ast.dump(node)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            assert node.func.id in HELPERS or node.func.id.startswith("_fn_"), node.func.id
    compiled = compile(tree, "<condition>", "eval")
    for case in CASES:
        try:
            expected: Any = ("value", bool(parse(text).evaluate(case)))
        except EvaluationError:
            expected = ("error",)
        try:
            got: Any = ("value", bool(eval(compiled, vars(runtime), {"case": case})))
        except (runtime.ConditionError, TypeError, ValueError, KeyError):
            got = ("error",)
        assert got == expected, (text, case)


def test_conditions_outside_the_language_are_refused() -> None:
    from studio.expr import ExpressionError

    for text in ("__import__('os')", "x.__class__", "open('f')", "[x for x in y]"):
        with pytest.raises(ExpressionError):
            condition_to_python(text)


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_mermaid_export_is_the_renderers_mermaid(path: Path) -> None:
    workflow = load(path)
    text = export_as(workflow, "mermaid").decode("utf-8")
    assert text == render.to_mermaid(workflow) == to_mermaid(workflow)
    assert text.startswith("flowchart")
