"""Results: KPIs, tables, plots, files, and the figures for the diagram overlay."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from studio import fileio
from studio.simulate import Results, simulate

FIXTURES = Path(__file__).parent / "fixtures" / "simulate"


@pytest.fixture(scope="module")
def results() -> Results:
    return simulate(fileio.load(FIXTURES / "approval.yaml"), cases=40, seed=9, replications=2)


def test_kpis_are_plain_json_in_a_fixed_order(results: Results) -> None:
    kpis = results.kpis
    assert list(kpis)[:6] == ["workflow", "seed", "scenario", "replications", "cases", "status"]
    assert json.loads(results.kpis_json()) == kpis
    assert kpis["cases"] == 80 and kpis["replications"] == 2
    assert sum(kpis["status"].values()) == 80
    for key in ("mean", "p50", "p95", "max"):
        assert kpis["cycle_time"][key] > 0
    assert kpis["cycle_time"]["p50"] <= kpis["cycle_time"]["p95"] <= kpis["cycle_time"]["max"]
    assert kpis["throughput"]["per_day"] == pytest.approx(kpis["throughput"]["per_hour"] * 24, rel=1e-5)
    assert kpis["tokens"]["in_total"] >= 80 * 500
    assert kpis["cost"]["per_case"] > 0
    assert set(kpis["failures"]["by_category"]) == {"tool", "reasoning", "handoff", "data", "policy"}
    network = {(e["from"], e["to"]): e["count"] for e in kpis["interaction_network"]}
    assert network[("intake_agent", "managers")] > 0 and network[("managers", "intake_agent")] > 0
    assert kpis["handoffs_per_case"] > 0.5
    managers = kpis["resources"]["managers"]
    assert managers["kind"] == "pool" and managers["capacity"] == 1 and 0 < managers["utilisation"] <= 1


def test_tables(results: Results) -> None:
    cases, steps, resources = results.cases, results.steps, results.resources
    assert len(cases) == 80 and {"cycle_time", "status", "outcome", "cost", "handoffs"} <= set(cases.columns)
    assert len(steps) == sum(cases["steps"])
    assert {"case_id", "node", "actor", "agent_version", "tools", "decision", "start", "end", "wait", "tokens_in",
            "cost", "failure"} <= set(steps.columns)
    assert set(steps[steps["node"] == "intake"]["agent_version"]) == {"1.0.0"}
    assert set(resources["resource"]) == {"managers", "directors"}


def test_node_figures_and_edge_traffic(results: Results) -> None:
    figures = results.node_figures()
    assert list(figures)[:2] == ["start", "intake"]
    assert figures["start"]["visits"] == 80
    assert figures["manager_approval"]["utilisation"] == results.kpis["resources"]["managers"]["utilisation"]
    assert figures["manager_approval"]["wait"] is not None
    traffic = results.edge_traffic()
    assert traffic[("start", "intake")] == 80
    assert traffic[("gate", "intake")] == figures["intake"]["visits"] - 80


def _drawn(figure: Figure) -> Axes:
    assert isinstance(figure, Figure)
    figure.draw_without_rendering()
    [axes] = figure.axes
    return axes


def _legend(axes: Axes) -> list[str]:
    legend = axes.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend is not None else []


def test_plots_show_the_runs_figures(results: Results) -> None:
    kpis = results.kpis
    # cycle times: one bar height per completed case, p50 and p95 marked at the KPIs' values
    axes = _drawn(results.plot_cycle_times())
    assert axes.get_title() == "approval: cycle times of completed cases"
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("cycle time (hours, virtual)", "cases")
    assert sum(bar.get_height() for bar in axes.patches) == kpis["status"]["completed"]
    cycle = kpis["cycle_time"]
    assert _legend(axes) == [f"p50 {cycle['p50'] / 3600:.2f} h", f"p95 {cycle['p95'] / 3600:.2f} h"]

    # utilisation: a row per pool, as long as its utilisation
    axes = _drawn(results.plot_utilisation())
    assert axes.get_title() == "approval: resource utilisation"
    rows = [label.get_text() for label in axes.get_yticklabels()]
    assert rows == ["directors", "managers"]
    widths = {row: bar.get_width() for row, bar in zip(rows, axes.patches, strict=True)}
    assert widths == pytest.approx({r: kpis["resources"][r]["utilisation"] for r in rows})

    # waits: a row per step where cases waited, the stacked bars adding up to its mean wait per visit
    axes = _drawn(results.plot_waits())
    assert axes.get_title() == "approval: where cases wait"
    assert [label.get_text() for label in axes.get_yticklabels()] == ["manager_approval"]
    assert set(_legend(axes)) <= {"queue", "calendar", "rate_limit", "escalation"} and _legend(axes)
    steps = results.steps[results.steps["node"] == "manager_approval"]
    assert sum(bar.get_width() for bar in axes.patches) == pytest.approx(steps["wait"].mean() / 3600)


def test_save_writes_kpis_traces_and_plots(results: Results, tmp_path: Path) -> None:
    written = results.save(tmp_path)
    names = {path.name for path in written}
    assert names == {"kpis.json", "traces.jsonl", "cases.jsonl", "cycle_times.png", "utilisation.png", "waits.png"}
    assert json.loads((tmp_path / "kpis.json").read_text()) == results.kpis
    lines = (tmp_path / "traces.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["replication"] == 0 and first["node"] == "start" and len(lines) == len(results.steps)
    assert "gold.json" not in names
    assert "success" in results.summary() and "busiest" in results.summary()
