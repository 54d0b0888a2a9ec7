"""What-if scenarios (KEY=VALUE overrides) and comparing runs with confidence intervals."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import fileio
from studio.simulate import ScenarioError, apply_scenario, compare, simulate
from studio.simulate._stats import t975, welch

FIXTURES = Path(__file__).parent / "fixtures" / "simulate"


def test_overrides_change_a_copy_and_are_validated() -> None:
    workflow = fileio.load(FIXTURES / "approval.yaml")
    changed = apply_scenario(workflow, [
        "actors.managers.capacity=5",
        "nodes.manager_approval.threshold=amount > 5000",
        "actors.intake_agent.behaviour.duration=10s",
        "policies.max_repeats=2",
        "simulation.arrivals.rate=30/h",
        "edges.gate>intake.max_repeats=1",
    ])
    assert changed.actor("managers").capacity == 5  # type: ignore[union-attr]
    assert changed.node("manager_approval").threshold == "amount > 5000"  # type: ignore[union-attr]
    assert changed.actor("intake_agent").behaviour.duration.value == 10.0  # type: ignore[union-attr]
    assert changed.policies.max_repeats == 2
    assert changed.simulation.arrivals.rate == pytest.approx(30 / 3600)  # type: ignore[union-attr]
    assert changed.edges[3].max_repeats == 1
    assert changed.source is workflow.source  # sample data still resolves next to the file
    assert workflow.actor("managers").capacity == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "message"), [
    ("actors.managerz.capacity=5", "did you mean `managers`"),
    ("actors.managers.capacity=0", "greater than or equal to 1"),
    ("actors.managers.capacity", "KEY=VALUE"),
    ("edges.gate>nowhere.max_repeats=1", "no edge `gate>nowhere`"),
    ("policies.max_turns.deep=1", "is a value, not a section"),
])
def test_bad_overrides_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        apply_scenario(fileio.load(FIXTURES / "approval.yaml"), [text])


def test_threshold_scenario_auto_approves_below_the_amount() -> None:
    workflow = fileio.load(FIXTURES / "approval.yaml")
    base = simulate(workflow, cases=5, seed=2)
    high = simulate(workflow, cases=5, seed=2, scenario=["nodes.manager_approval.threshold=amount > 5000"])
    asked = [s for s in base.iter_steps() if s["node"] == "manager_approval" and s["actor"]]
    asked_high = [s for s in high.iter_steps() if s["node"] == "manager_approval" and s["actor"]]
    assert len(asked) >= 3 and len({s["case_id"] for s in asked_high}) == 1  # only the 12,000 case
    assert high.kpis["scenario"] == ["nodes.manager_approval.threshold=amount > 5000"]


def test_more_approvers_cut_the_wait_and_compare_gives_an_interval() -> None:
    workflow = fileio.load(FIXTURES / "mmc.yaml")
    base = simulate(workflow, cases=150, seed=4, replications=4)
    more = simulate(workflow, cases=150, seed=4, replications=4, scenario=["actors.approvers.capacity=4"])
    assert len(base.replication_kpis) == 4
    result = compare(base, more)
    wait = result["wait_mean[approvers]"]
    assert wait["diff"] is not None and wait["diff"] < 0
    assert wait["low"] is not None and wait["high"] is not None and wait["low"] <= wait["diff"] <= wait["high"]
    assert wait["significant"] == 1.0 and wait["n_a"] == wait["n_b"] == 4.0
    utilisation = result["utilisation[approvers]"]
    assert utilisation["b"] == pytest.approx(utilisation["a"] / 2, rel=0.15)
    single = compare(simulate(workflow, cases=30, seed=1), simulate(workflow, cases=30, seed=2))
    assert single["cycle_time_mean"]["low"] is None and single["cycle_time_mean"]["significant"] is None


def test_welch_interval_and_t_quantiles() -> None:
    assert t975(1) == 12.706 and t975(30) == 2.042 and t975(1000) == pytest.approx(1.96, abs=1e-3)
    assert 2.042 > t975(35) > 2.021
    result = welch([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert result["diff"] == 1.0 and result["df"] == pytest.approx(4.0)
    assert result["high"] == pytest.approx(1.0 + 2.776 * (2 / 3) ** 0.5, rel=1e-3)
    same = welch([1.0, 1.0], [3.0, 3.0])
    assert (same["low"], same["high"]) == (2.0, 2.0)
