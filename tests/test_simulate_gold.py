"""The gold gate: replay gold cases with their recorded human decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import fileio
from studio.errors import StudioError
from studio.simulate import run_gold
from studio.templates import template_names

FIXTURES = Path(__file__).parent / "fixtures" / "simulate"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def test_gold_cases_pass_and_fail_with_the_first_difference() -> None:
    report = run_gold(fileio.load(FIXTURES / "approval.yaml"))
    assert (report.passed, report.total) == (4, 5)
    assert report.pass_rate == pytest.approx(0.8)
    by_id = {case.case_id: case for case in report.cases}
    assert by_id["G-4"].passed  # sent back once, then approved: the path loops
    assert by_id["G-4"].actual_path.count("manager_approval") == 2
    failed = by_id["G-5"]
    assert not failed.passed and failed.actual_outcome == "refused" and failed.expected_outcome == "paid"
    assert failed.first_difference == {"index": 4, "expected": "paid", "actual": "refused", "after": "gate"}
    data = report.to_dict()
    assert data["pass_rate"] == 0.8 and len(data["cases"]) == 5
    assert "G-5: path differs at step 4" in report.summary()


def test_gold_runs_do_not_fail_agents(tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("case_id,human_decisions,expected_path,expected_outcome\n"
                    "g1,,start>read>check>write>done,written\n", encoding="utf-8")
    workflow = fileio.load(FIXTURES / "chain.yaml")
    workflow.actors[2].behaviour.failures.reasoning = 1.0  # type: ignore[union-attr]
    assert run_gold(workflow, data=gold).pass_rate == 1.0
    workflow.simulation.overrides = {"fail_write": "write.failures.reasoning"}
    gold.write_text("case_id,fail_write,human_decisions,expected_path,expected_outcome\n"
                    "g1,1,,start>read>check>write,failed:reasoning\n", encoding="utf-8")
    report = run_gold(workflow, data=gold)  # a column can still make an agent fail
    assert report.pass_rate == 1.0, report.summary()


def test_gold_data_needs_the_expectation_columns(tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("case_id,amount\n1,5\n", encoding="utf-8")
    with pytest.raises(StudioError, match="expected_path"):
        run_gold(fileio.load(FIXTURES / "approval.yaml"), data=gold)
    with pytest.raises(StudioError, match="gold_data"):
        run_gold(fileio.load(FIXTURES / "chain.yaml"))


@pytest.mark.parametrize("name", template_names())
def test_every_template_passes_its_gold_cases(name: str) -> None:
    """The contract between the templates' gold data and the simulator's semantics."""
    if not (TEMPLATES / name / "gold.csv").is_file():
        pytest.skip("template has no gold cases yet")
    report = run_gold(fileio.load(TEMPLATES / name / "workflow.yaml"))
    assert report.total >= 20
    assert report.pass_rate == 1.0, report.summary()
