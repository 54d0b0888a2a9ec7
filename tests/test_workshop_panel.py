"""The Workshop tab, driven through its widget models as a browser would: every change goes through
the controller (one undo step, autosaved), refusals change nothing, and the button writes the minutes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES

from studio import fileio
from studio.model import Workflow
from studio.widgets.controller import EditRefused, StudioController
from studio.widgets.workshop import WorkshopEditor, WorkshopPanel, split_entries


@pytest.fixture
def panel(tmp_path: Path) -> WorkshopPanel:
    folder = tmp_path / "claims"
    shutil.copytree(FIXTURES / "workshop", folder)
    return WorkshopPanel(StudioController(folder / "workflow.yaml"))


def _on_disk(panel: WorkshopPanel) -> Workflow:
    assert panel.controller.path is not None
    return fileio.load(panel.controller.path)


def test_split_entries() -> None:
    assert split_entries(" managers, Maria Lopez,,managers ") == ["managers", "Maria Lopez"]
    assert split_entries(None) == [] and split_entries(["a", " ", "b"]) == ["a", "b"]


def test_the_panel_shows_the_workshop_and_the_selected_step(panel: WorkshopPanel) -> None:
    assert panel.date_text.value == "2026-11-30"
    assert panel.attendees_text.value == "Maria Lopez (claims lead), Tom Berg"
    assert [value for _, value in panel.step_pick.options][:3] == ["start", "intake", "manager_approval"]
    assert ("Manager approves the claim (manager_approval)", "manager_approval") in panel.step_pick.options
    panel.select("manager_approval")
    assert panel.raci["responsible"].value == "managers"
    assert panel.raci["informed"].value == "Finance, intake_agent"
    assert "Who approves when both managers are away?" in panel.questions_html.value
    assert "answered: Yes on weekdays" in panel.questions_html.value
    assert "Claims under 500 skip the approval" in panel.decisions_html.value
    assert len(panel.question_pick.options) == 2 and len(panel.decision_pick.options) == 2
    panel.select("paid")
    assert panel.raci["responsible"].value == "" and "No questions" in panel.questions_html.value
    assert panel.answer_button.disabled and panel.delete_decision_button.disabled


def test_raci_edit_is_saved_and_undone(panel: WorkshopPanel) -> None:
    panel.select("manager_approval")
    panel.raci["consulted"].value = "Legal team, directors"
    panel.raci["informed"].value = ""
    panel.raci_button.click()
    raci = _on_disk(panel).workshop.nodes["manager_approval"].raci
    assert raci.consulted == ["Legal team", "directors"] and raci.informed == []
    assert "Changed the RACI of `manager_approval`" in panel.status.value
    panel.controller.undo()
    assert panel.raci["informed"].value == "Finance, intake_agent"  # the panel follows the undo
    assert _on_disk(panel).workshop.nodes["manager_approval"].raci.informed == ["Finance", "intake_agent"]


def test_questions_are_added_answered_reopened_and_deleted(panel: WorkshopPanel) -> None:
    panel.select("paid")
    panel.question_text.value = "Who is told when a claim is paid?"
    panel.asked_by_text.value = "Tom Berg"
    panel.add_question_button.click()
    assert panel.question_text.value == ""
    question = _on_disk(panel).workshop.nodes["paid"].questions[0]
    assert (question.text, question.asked_by, question.status) == ("Who is told when a claim is paid?", "Tom Berg",
                                                                  "open")
    panel.question_pick.value = 0
    panel.answer_text.value = "The claimant, by mail"
    panel.answer_button.click()
    question = _on_disk(panel).workshop.nodes["paid"].questions[0]
    assert (question.status, question.answer) == ("answered", "The claimant, by mail")
    panel.reopen_button.click()
    assert _on_disk(panel).workshop.nodes["paid"].questions[0].status == "open"
    panel.delete_question_button.click()
    assert "paid" not in _on_disk(panel).workshop.nodes  # no empty notes left behind
    assert panel.controller.history[-4:] == [
        "Noted a question about `paid`.", "Marked question 1 of `paid` answered.",
        "Reopened question 1 of `paid`.", "Deleted question 1 of `paid`."]


def test_decisions_default_to_the_workshop_date(panel: WorkshopPanel) -> None:
    panel.select("intake")
    panel.decision_text.value = "The agent reads scanned claims too"
    panel.decided_by_text.value = "Maria Lopez"
    panel.add_decision_button.click()
    decision = _on_disk(panel).workshop.nodes["intake"].decisions[0]
    assert (decision.text, decision.when, decision.decided_by) == (
        "The agent reads scanned claims too", "2026-11-30", "Maria Lopez")
    panel.decision_pick.value = 0
    panel.delete_decision_button.click()
    assert _on_disk(panel).workshop.nodes["intake"].decisions == []


def test_details_are_saved(panel: WorkshopPanel) -> None:
    panel.date_text.value = "2026-12-01"
    panel.attendees_text.value = "Maria Lopez, Ana Silva"
    panel.notes_text.value = ""
    panel.details_button.click()
    shop = _on_disk(panel).workshop
    assert (shop.date, shop.attendees, shop.notes) == ("2026-12-01", ["Maria Lopez", "Ana Silva"], None)


def test_a_refused_edit_says_why_and_changes_nothing(panel: WorkshopPanel) -> None:
    before = panel.controller.path.read_text() if panel.controller.path else ""
    history = list(panel.controller.history)
    panel.date_text.value = "30.11.2026"
    panel.details_button.click()
    assert "Not done" in panel.status.value and "is not a day" in panel.status.value
    panel.select("intake")
    panel.question_text.value = "  "
    panel.add_question_button.click()
    assert "write the question first" in panel.status.value
    assert panel.controller.path is not None and panel.controller.path.read_text() == before
    assert panel.controller.history == history
    with pytest.raises(EditRefused, match="no step `nope`"):
        WorkshopEditor(panel.controller).add_question("nope", "Why?")
    with pytest.raises(EditRefused, match="not a RACI role"):
        WorkshopEditor(panel.controller).set_raci("intake", owner="x")


def test_write_minutes_button(panel: WorkshopPanel) -> None:
    assert panel.controller.path is not None
    expected = panel.controller.path.with_name("workflow-minutes.html")
    assert panel.minutes_path.value == str(expected)
    panel.minutes_button.click()
    assert expected.is_file() and "Wrote the minutes to" in panel.status.value
    page = expected.read_text()
    assert "Who approves when both managers are away?" in page and "<svg" in page
    panel.minutes_path.value = str(expected.with_name("notes.txt"))
    panel.minutes_button.click()
    assert "Not done" in panel.status.value and "name the minutes `.md`" in panel.status.value


def test_a_step_deleted_elsewhere_leaves_the_list(panel: WorkshopPanel) -> None:
    panel.select("intake")
    panel.controller.delete_node("refused")  # another tab changes the map: the panel follows
    assert "refused" not in [value for _, value in panel.step_pick.options]
    assert panel.selected == "intake"
