"""Policies and simulation settings: controller edits (validated, undoable, saved) and the Settings form."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import fileio
from studio.widgets import Studio
from studio.widgets.controller import EditRefused, StudioController, copy_template


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return copy_template("procurement", tmp_path, say=None)


@pytest.fixture
def studio(work: Path) -> StudioController:
    return StudioController(work)


def test_update_policies_is_validated_saved_and_undoable(studio: StudioController, work: Path) -> None:
    before = studio.workflow.policies
    studio.update_policies(max_turns="40", approval_sla="4h", escalate_to="deputy_cfo", retries=2,
                           autonomy="human_on_the_loop")
    policies = fileio.load(work).policies
    assert (policies.max_turns, policies.approval_sla, policies.escalate_to, policies.retries) == (40, 14400.0,
                                                                                                   "deputy_cfo", 2)
    assert policies.autonomy.value == "human_on_the_loop"
    assert "policies" in studio.message
    studio.update_policies(max_repeats="off")
    assert fileio.load(work).policies.max_repeats is None  # the loop guard is off, explicitly
    studio.undo()
    studio.undo()
    assert studio.workflow.policies == before and fileio.load(work).policies == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"escalate_to": "nobody"}, "`nobody` is not a human pool; pick one of `line_managers`"),
        ({"max_turns": "many"}, "policies.max_turns: `many` is not a number"),
        ({"approval_sla": "tomorrow"}, "policies.approval_sla: `tomorrow` is not a duration"),
        ({"autonomy": "sometimes"}, "`sometimes` is not an autonomy level"),
        ({"max_repeats": "0"}, "policies.max_repeats"),
        ({"sla": "4h"}, "`sla` is not a policy here"),
    ],
)
def test_bad_policies_are_refused_and_change_nothing(
    studio: StudioController, work: Path, fields: dict[str, str], message: str
) -> None:
    text = work.read_text(encoding="utf-8")
    with pytest.raises(EditRefused, match=message.replace(".", r"\.").replace("(", r"\(")):
        studio.update_policies(**fields)
    assert work.read_text(encoding="utf-8") == text and not studio.can_undo


def test_update_simulation_settings(studio: StudioController, work: Path) -> None:
    studio.update_simulation(seed="7", cases="40", process="fixed", interval="2m")
    simulation = fileio.load(work).simulation
    assert (simulation.seed, simulation.cases, simulation.arrivals.process) == (7, 40, "fixed")
    studio.update_simulation(rate="30/h", process="poisson")
    assert fileio.load(work).simulation.arrivals.rate == pytest.approx(30 / 3600)
    studio.update_simulation(process="column", column="arrival_s")
    assert fileio.load(work).simulation.arrivals.column == "arrival_s"
    studio.update_simulation(sample_data="gold.csv")
    assert studio.cases is not None and len(studio.cases) == 30  # the studio reads the new sample data
    studio.undo()
    assert studio.workflow.simulation.sample_data == "sample.csv"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"process": "fixed"}, "arrivals `fixed` needs `interval`"),
        ({"process": "column", "column": "nope"}, "the sample data has no column `nope`"),
        ({"process": "bursty"}, "`bursty` is not an arrival process"),
        ({"rate": "fast"}, "`fast` is not a rate"),
        ({"seed": "abc"}, "simulation.seed: `abc` is not a number"),
        ({"sample_data": "missing.csv"}, "there is no file `missing.csv`"),
        ({"sample_data": "/etc/passwd"}, "outside the workflow's folder"),
        ({"gold_data": "../gold.csv"}, "outside the workflow's folder"),
        ({"tools": "x"}, "`tools` is not a simulation setting here"),
    ],
)
def test_bad_simulation_settings_are_refused(studio: StudioController, fields: dict[str, str], message: str) -> None:
    before = studio.workflow
    with pytest.raises(EditRefused, match=message.replace(".", r"\.")):
        studio.update_simulation(**fields)
    assert studio.workflow is before


def test_settings_form_edits_policies_and_simulation(work: Path) -> None:
    studio = Studio(work)
    assert studio.policy_max_turns.value == "60" and studio.policy_escalate.value == "procurement_leads"
    assert studio.sim_set_process.value == "poisson" and studio.sim_set_arrival.description == "Rate"
    studio.policy_sla.value = "6h"
    studio.policy_escalate.value = "deputy_cfo"
    studio.policy_save.click()
    assert fileio.load(work).policies.approval_sla == 6 * 3600
    assert fileio.load(work).policies.escalate_to == "deputy_cfo"
    studio.policy_max_turns.value = "lots"
    studio.policy_save.click()
    assert "max_turns" in studio.status.value and "not a number" in studio.status.value
    assert fileio.load(work).policies.max_turns == 60  # nothing changed

    studio.sim_set_process.value = "fixed"
    assert studio.sim_set_arrival.description == "Interval" and studio.sim_set_arrival.value == ""
    studio.sim_set_arrival.value = "2m"
    studio.sim_set_seed.value = "11"
    studio.sim_settings_save.click()
    simulation = fileio.load(work).simulation
    assert (simulation.arrivals.process, simulation.seed) == ("fixed", 11)
    assert studio.sim_set_arrival.value == "2m"  # the form shows what is saved
    assert studio.sim_seed.value == 11  # the Simulate tab follows the new setting
    studio.undo_button.click()
    assert studio.sim_set_process.value == "poisson" and studio.sim_set_seed.value != "11"


def test_a_policy_finding_opens_the_settings_form(tmp_path: Path) -> None:
    studio = Studio(copy_template("procurement", tmp_path, say=None))
    studio.select("policies", None)
    assert studio.editors.selected_index == 5
    assert studio.editors.get_title(5) == "Settings"


def test_settings_forms_say_when_they_hold_unsaved_values(tmp_path: Path) -> None:
    studio = Studio(copy_template("procurement", tmp_path))
    assert studio.policy_save.description == "Save policies"
    studio.policy_max_turns.value = "120"
    assert studio.policy_save.description == "Save policies (changed)"
    assert studio.policy_save.button_style == "warning"
    studio.policy_save.click()
    assert studio.policy_save.description == "Save policies" and studio.controller.workflow.policies.max_turns == 120
    studio.sim_set_seed.value = "7"
    assert studio.sim_settings_save.description.endswith("(changed)")
    studio.controller.undo()  # the form shows the workflow again: nothing unsaved
    assert studio.sim_settings_save.description == "Save simulation settings"


def test_policy_message_names_only_what_changed(studio: StudioController) -> None:
    studio.update_policies(max_turns="120", retries=str(studio.workflow.policies.retries))
    assert studio.message == "Changed the policies (`max_turns`)."
    undo_depth = len(studio.history)
    studio.update_policies(max_turns="120")
    assert "as they were" in studio.message and len(studio.history) == undo_depth  # nothing recorded
