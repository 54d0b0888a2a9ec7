"""Results in the analyst's language: units, names, the scenario, the pointers, the plots' labels."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest

from studio import fileio
from studio.cli import main
from studio.simulate import Results, compare, simulate
from studio.simulate import summary as s
from studio.templates import load_template

FIXTURES = Path(__file__).parent / "fixtures" / "simulate"
NAMES = ["actors.managers.name=Line managers", "actors.directors.name=Directors", "nodes.intake.name=Intake"]


@pytest.fixture(scope="module")
def baseline() -> Results:
    return simulate(fileio.load(FIXTURES / "approval.yaml"), cases=30, seed=5, replications=2, scenario=NAMES)


@pytest.fixture(scope="module")
def scenario() -> Results:
    return simulate(fileio.load(FIXTURES / "approval.yaml"), cases=30, seed=5, replications=2,
                    scenario=[*NAMES, "actors.managers.capacity=2"])


@pytest.fixture(scope="module")
def procurement() -> Results:
    workflow = load_template("procurement")
    data = Path(str(workflow.source.path)).parent / "sample.csv"
    return simulate(workflow, data=data, cases=20, seed=1)


def test_units() -> None:
    assert s.duration(90) == "1.5 min" and s.duration(3 * 3600) == "3.00 h" and s.duration(5 * 86400) == "5.0 days"
    assert s.duration(0) == "0 min" and s.duration(None) == "–"
    assert s.money(0.148228) == "0.15" and s.money(1234.5, "EUR") == "1,234.50 EUR"


def test_headline_has_units_names_and_the_scenario(scenario: Results) -> None:
    rows = dict(s.headline_rows(scenario))
    assert rows["Scenario"].startswith("actors.managers.name=Line managers") and "capacity=2" in rows["Scenario"]
    assert rows["Completed successfully"].endswith("%")
    assert rows["Cycle time, median"].endswith((" min", " h", " days"))
    assert rows["Cost per case"].count(".") == 1 and len(rows["Cost per case"].split(".")[1]) == 2
    assert rows["Cases simulated"] == "60 (2 replication(s), seed 5)"
    people = {row[0]: row for row in s.resource_rows(scenario)}
    assert people["Line managers"][1] == "2 people" and people["Directors"][1] == "1 person"
    assert people["Line managers"][2].endswith("%")


def test_pointers_name_the_bottleneck_and_risky_setups(baseline: Results) -> None:
    found = s.pointers(baseline)
    managers = baseline.kpis["resources"]["managers"]["utilisation"]
    directors = baseline.kpis["resources"]["directors"]["utilisation"]
    top = "Line managers [managers]" if managers >= directors else "Directors [directors]"
    assert found[0].startswith(f"Bottleneck: {top} is busy")
    assert any("above 85% busy" in line and "Line managers" in line for line in found) == (managers > 0.85)
    one = [line for line in found if "pool of one person" in line]
    assert len(one) == 1 and "Directors [directors]" in one[0] and "manager_approval" in one[0]


def test_escalation_through_policies_to_a_pool_of_one_is_pointed_out(baseline: Results) -> None:
    workflow = baseline.compiled.workflow.model_copy(deep=True)
    workflow.nodes[2].escalate_to = None  # manager_approval now escalates through the policies
    workflow.policies.escalate_to = "directors"
    assert s._escalations_to_one(workflow) == {"directors": ["manager_approval"]}


def test_comparison_with_names_units_and_intervals(baseline: Results, scenario: Results) -> None:
    rows = {row[0]: row for row in s.comparison_rows(compare(baseline, scenario), scenario.compiled.workflow)}
    assert "Busy share, Line managers" in rows and "Mean wait, Line managers" in rows
    busy = rows["Busy share, Line managers"]
    assert busy[1].endswith("%") and busy[3].endswith(" pts") and " to " in busy[4] and busy[5] in ("yes", "no")
    assert rows["Cycle time, median"][1].endswith((" min", " h", " days"))
    text = s.text(scenario, baseline, compare(baseline, scenario))
    assert text.startswith("approval 1.0.0: scenario actors.managers.name=Line managers")
    assert "Compared with the baseline (as mapped)" in text and "Look at:" in text


def test_utilisation_plot_drops_empty_rows_and_labels_every_line(procurement: Results) -> None:
    figure = procurement.plot_utilisation()
    axes = figure.axes[0]
    labels = [tick.get_text() for tick in axes.get_yticklabels()]
    resources = procurement.kpis["resources"]
    unused = [rid for rid, r in resources.items() if r["kind"] != "pool" and r["utilisation"] < 0.005]
    assert unused and not any(rid in labels for rid in unused)  # no empty rows for idle tools
    assert "Budget-holding line managers" in labels and "line_managers" not in labels  # names, not ids
    legend = axes.get_legend()
    assert legend is not None and any("85%" in t.get_text() for t in legend.get_texts())


def test_waits_chart_uses_names(procurement: Results) -> None:
    labels = [tick.get_text() for tick in procurement.plot_waits().axes[0].get_yticklabels()]
    workflow = procurement.compiled.workflow
    assert labels and all(label not in workflow.node_ids or workflow.node(label).name is None for label in labels)


def test_cli_prints_the_gold_line_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", str(FIXTURES / "approval.yaml"), "--cases", "10", "--out", str(tmp_path), "--gold",
            "--no-progress", "--min-pass", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("Gold cases passing") == 1 and "gold cases:" not in out
    assert "scenario baseline (as mapped)" in out and "Compared with" not in out
