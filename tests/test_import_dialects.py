"""BPMN import: condition dialects become the studio's condition language, flow probabilities become
branch probabilities, and what cannot be translated is kept as a label and reported."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import FIXTURES

import studio
from studio.cli import main
from studio.export import read_bpmn
from studio.export._bpmn_import import translate_condition
from studio.simulate import simulate

DIALECTS = FIXTURES / "bpmn_dialects"


def _branches(workflow: studio.Workflow) -> dict[str, studio.model.Edge]:
    """Edges leaving the decision, by the name of the task they lead to."""
    decision = next(n.id for n in workflow.nodes if n.kind == "decision")
    names = {n.id: n.name for n in workflow.nodes}
    return {str(names[e.target]): e for e in workflow.edges if e.source == decision}


def _errors(workflow: studio.Workflow) -> list[str]:
    return [f.code for f in studio.validate(workflow) if f.is_error]


@pytest.mark.parametrize(
    ("text", "language", "expected", "dialect"),
    [
        ("${amount > 1000}", None, "amount > 1000", "JUEL"),
        ("${approved}", None, "approved", "JUEL"),
        ("${!approved}", None, "not approved", "JUEL"),
        ("${a && b}", None, "a and b", "JUEL"),
        ("${x == 'gold'}", None, "x == 'gold'", "JUEL"),
        ("#{amount gt 5 and tier eq \"gold\"}", None, "amount > 5 and tier == \"gold\"", "JUEL"),
        ("${empty comment}", None, "is_empty(comment)", "JUEL"),
        ("${execution.getVariable('amount') >= 10}", None, "amount >= 10", "JUEL"),
        ("bpmn:getDataObject('approved')", None, "approved", "XPath"),
        ("bpmn:getDataObject('amount') > 1000", "http://www.w3.org/1999/XPath", "amount > 1000", "XPath"),
        ("bpmn:getDataObject('region') = 'EU' or true()", "http://www.w3.org/1999/XPath", "region == 'EU' or true",
         "XPath"),
        ("bpmn:getDataObject('total') div 2 > 10", "http://www.w3.org/1999/XPath", "total / 2 > 10", "XPath"),
        ("amount > 1000", "https://www.omg.org/spec/FEEL/20140401", "amount > 1000", "FEEL"),
        ('status = "open"', "feel", 'status == "open"', "FEEL"),
        ("not(approved)", "feel", "not(approved)", "FEEL"),
        ("=amount <= 5", None, "amount <= 5", "FEEL"),
    ],
)
def test_dialects_translate(text: str, language: str | None, expected: str, dialect: str) -> None:
    assert translate_condition(text, language) == (expected, dialect)


@pytest.mark.parametrize(
    "text",
    ['${execution.getVariable("supplier").isNew()}', "=amount in [100..500]", 'date("2024-01-01") > due',
     "${a = 1}", "${x ? y : z}", "__import__('os')", "bpmn:getDataObject('order')/amount > 5"],
)
def test_what_is_not_a_condition_is_not_translated(text: str) -> None:
    assert translate_condition(text)[0] is None


def test_juel_fixture_translates_and_reports_the_method_call() -> None:
    result = read_bpmn(DIALECTS / "juel.bpmn")
    branches = _branches(result.workflow)
    assert branches["Senior review"].when == "amount > 1000 and not approved"
    assert branches["Gold desk"].when == "tier == 'gold' or vip"
    assert branches["Standard"].default
    kept = branches["Supplier check"]
    assert kept.when is None and kept.label is not None and "isNew()" in kept.label
    b003 = [f for f in result.findings if f.code == "B003"]
    assert [f.location for f in b003] == ["f_new"]
    assert "isNew()" in b003[0].message and "could not be translated" in b003[0].message
    assert b003[0].line is not None
    b014 = {f.location for f in result.findings if f.code == "B014"}
    assert b014 == {"f_big", "f_gold"}


def test_xpath_fixture_imports_as_a_valid_workflow() -> None:
    result = read_bpmn(DIALECTS / "xpath.bpmn")
    branches = _branches(result.workflow)
    assert branches["Pay"].when == "approved"
    assert branches["Senior review"].when == "not (approved) and amount > 1000"
    assert branches["Regional desk"].when == "region == 'EU'"
    assert _errors(result.workflow) == []


def test_feel_fixture_translates_and_keeps_the_range_as_a_label() -> None:
    result = read_bpmn(DIALECTS / "feel.bpmn")
    branches = _branches(result.workflow)
    assert branches["Senior review"].when == "amount > 1000"
    assert branches["Open desk"].when == 'status == "open"'
    assert branches["Reject"].when == "not(approved)"
    assert branches["Mid desk"].when is None and "[100..500]" in str(branches["Mid desk"].label)
    assert [f.location for f in result.findings if f.code == "B003"] == ["f_range"]
    # the untranslated branch is what keeps the workflow from validating, and the validator says where
    assert _errors(result.workflow) == ["S007"]


def test_complementary_pair_needs_no_default_and_routes_every_case() -> None:
    workflow = read_bpmn(DIALECTS / "juel_pair.bpmn").workflow
    branches = _branches(workflow)
    assert (branches["Pay"].when, branches["Reject"].when) == ("approved", "not approved")
    assert not any(e.default for e in branches.values())
    assert _errors(workflow) == []
    rows = [{"approved": value} for value in (True, False, False, True)]
    results = simulate(workflow, data=rows, cases=4, seed=1)
    paths = [[s[0] for s in case["steps"]] for case in results.payloads[0]["cases"]]
    assert [("pay" in p, "reject" in p) for p in paths] == [(True, False), (False, True), (False, True),
                                                            (True, False)]


@pytest.mark.parametrize(
    ("name", "expected", "source"),
    [
        ("bimp", {"Approve": 0.25, "Rework": 0.75}, "BIMP simulation info"),
        ("bpsim", {"Approve": 0.6, "Rework": 0.3, "Escalate": None}, "BPSim parameters"),
        ("properties", {"Approve": 0.5, "Rework": 0.2, "Escalate": 0.3}, "extension"),
    ],
)
def test_tool_probabilities_become_branch_probabilities(name: str, expected: dict[str, float | None],
                                                        source: str) -> None:
    result = read_bpmn(DIALECTS / f"{name}.bpmn")
    branches = _branches(result.workflow)
    assert {k: e.probability for k, e in branches.items()} == pytest.approx(expected)
    assert all(e.when is None for e in branches.values())
    assert any(f.code == "B015" and source in f.message for f in result.findings)
    assert _errors(result.workflow) == []


def test_numbers_as_conditions_are_probabilities_not_always_true_conditions() -> None:
    """Simod/Prosimos write a gateway's probabilities as the condition text: `0.7` is not a condition."""
    result = read_bpmn(DIALECTS / "simod.bpmn")
    branches = _branches(result.workflow)
    assert {k: (e.when, e.probability, e.default) for k, e in branches.items()} == {
        "Approve": (None, 0.7, False), "Rework": (None, 0.3, False), "Escalate": (None, None, True)}
    assert _errors(result.workflow) == []


def test_prosimos_model_probabilities_come_through_and_simulate() -> None:
    params = DIALECTS / "prosimos.json"
    result = read_bpmn(DIALECTS / "prosimos.bpmn", simulation=params)
    branches = _branches(result.workflow)
    assert {k: e.probability for k, e in branches.items()} == {"Approve": 0.5, "Rework": 0.3, "Escalate": 0.2}
    assert _errors(result.workflow) == []
    arrivals = result.workflow.simulation.arrivals  # the other sections: tests/test_import_prosimos.py
    assert arrivals.process == "poisson" and arrivals.rate == pytest.approx(1 / 600)
    n = 6_000
    cases = simulate(result.workflow, cases=n, seed=4).payloads[0]["cases"]
    taken = Counter(step[0] for case in cases for step in case["steps"])
    for task, p in (("approve", 0.5), ("rework", 0.3), ("escalate", 0.2)):
        assert abs(taken[task] / n - p) <= 3.2905 * (p * (1 - p) / n) ** 0.5, (task, taken)


def test_prosimos_parameters_with_a_path_of_another_model_are_reported(tmp_path: Path) -> None:
    data = json.loads((DIALECTS / "prosimos.json").read_text())
    data["gateway_branching_probabilities"][0]["probabilities"].append({"path_id": "f_elsewhere", "value": 0.0})
    result = read_bpmn(DIALECTS / "prosimos.bpmn", simulation=data)
    assert [f.location for f in result.findings if f.code == "B015" and f.severity.value == "warning"] == [
        "f_elsewhere"]


@pytest.mark.parametrize(
    ("content", "words"),
    [("not json", "not JSON"), ("[1, 2]", "not a JSON object"),
     ('{"gateway_branching_probabilities": [{"gateway_id": "g"}]}', "gateway_branching_probabilities[0]"),
     ('{"gateway_branching_probabilities": [{"probabilities": [{"value": 1}]}]}', "probabilities[0]")],
)
def test_bad_simulation_parameters_name_the_place(content: str, words: str, tmp_path: Path) -> None:
    path = tmp_path / "params.json"
    path.write_text(content)
    with pytest.raises(studio.LoadError) as caught:
        read_bpmn(DIALECTS / "prosimos.bpmn", simulation=path)
    finding = caught.value.findings[0]
    assert words in finding.message and finding.hint and finding.file == str(path)


def test_round_trip_through_the_studio_keeps_probabilities() -> None:
    from studio.export import to_bpmn

    first = read_bpmn(DIALECTS / "bpsim.bpmn").workflow
    again = read_bpmn(to_bpmn(first)).workflow
    assert [(e.source, e.target, e.probability, e.default) for e in again.edges] == [
        (e.source, e.target, e.probability, e.default) for e in first.edges]


def test_import_cli_prints_translations_and_writes_a_valid_workflow(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "xpath.yaml"
    assert main(["import", str(DIALECTS / "xpath.bpmn"), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "B014" in printed.out + printed.err and "getDataObject" in printed.out + printed.err
    assert main(["validate", str(out)]) == 0
