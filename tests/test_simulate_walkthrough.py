"""Walkthrough: one case stepped by a person through the same compiled graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import fileio
from studio.simulate import Walkthrough, compile

FIXTURES = Path(__file__).parent / "fixtures" / "simulate"


@pytest.fixture(scope="module")
def compiled():  # type: ignore[no-untyped-def]
    return compile(fileio.load(FIXTURES / "approval.yaml"))


def test_walkthrough_stops_at_the_approval_and_says_what_and_why(compiled) -> None:  # type: ignore[no-untyped-def]
    wt = Walkthrough(compiled, case=1)  # row 1: amount 2500, above the threshold
    assert wt.status == "not started" and wt.pending is None
    pending = wt.start()
    assert pending is wt.pending
    assert pending["node"] == "manager_approval" and pending["actor"] == "managers"
    assert pending["why"] == "`amount > 1000` is true for this case"
    assert pending["case"]["amount"] == 2500 and pending["reviews"] == ["intake"]
    assert pending["path"] == ["start", "intake"]
    assert pending["options"] == ["approve", "reject", "steer"]
    assert not wt.done and wt.status == "waiting"
    assert [step["node"] for step in wt.history] == ["start", "intake"]
    assert wt.history[1]["end"] == 120.0 and wt.history[1]["actor"] == "intake_agent"
    assert wt.state["case"]["amount"] == 2500


def test_approve_finishes_the_case(compiled) -> None:  # type: ignore[no-untyped-def]
    wt = Walkthrough(compiled, case=1)
    wt.start()
    assert wt.answer("approve", note="fine") is None
    assert wt.done and wt.outcome == "paid" and wt.status == "completed"
    approval = wt.history[2]
    assert (approval["decision"], approval["note"], approval["actor"]) == ("approve", "fine", "managers")
    assert approval["start"] == 120.0 and approval["end"] == 120.0 + 20 * 60
    assert wt.state["case"]["manager_approval_decision"] == "approve"
    assert wt.state["outcome"] == "paid"
    with pytest.raises(RuntimeError, match="has ended"):
        wt.answer("approve")


def test_reject_ends_refused(compiled) -> None:  # type: ignore[no-untyped-def]
    wt = Walkthrough(compiled, case=2)
    wt.start()
    wt.answer("reject", note="too expensive")
    assert wt.outcome == "refused"
    assert wt.path == ["start", "intake", "manager_approval", "gate", "refused"]


def test_steer_sends_the_case_back_with_the_note(compiled) -> None:  # type: ignore[no-untyped-def]
    wt = Walkthrough(compiled, case={"case_id": "S", "amount": 5000, "category": "travel"})
    wt.start()
    again = wt.answer("steer", note="attach the receipt")
    assert again is not None and again["node"] == "manager_approval"
    assert again["path"] == ["start", "intake", "manager_approval", "gate", "intake"]
    assert wt.state["case"]["manager_approval_note"] == "attach the receipt"
    assert wt.state["transitions"]["gate>intake"] == 1
    wt.answer("approve")
    assert wt.outcome == "paid"
    assert [s["decision"] for s in wt.history if s["node"] == "manager_approval"] == ["send_back", "approve"]


def test_below_the_threshold_nobody_is_asked(compiled) -> None:  # type: ignore[no-untyped-def]
    wt = Walkthrough(compiled, case=0)  # amount 500
    assert wt.start() is None
    assert wt.done and wt.outcome == "paid"
    assert "auto-approved" in wt.history[2]["note"]


def test_walkthrough_needs_data_for_a_row_index() -> None:
    workflow = fileio.load(FIXTURES / "chain.yaml")
    with pytest.raises(IndexError, match="no sample data"):
        Walkthrough(workflow, case=0)
    wt = Walkthrough(workflow, case={"case_id": "x"}, seed=1)
    wt.start()
    assert wt.done and wt.status in ("completed", "failed")
