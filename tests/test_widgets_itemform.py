"""The one generic item form (``studio.widgets.itemform``): a form is a table of rows, the kinds that
show a row come from the pydantic models, and a new field or node kind is one row."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

pytest.importorskip("ipywidgets")

from studio import fileio
from studio.model import NODE_KINDS, Actor, Duration, Node, NodeBase, System, Task
from studio.widgets import Studio, copy_template
from studio.widgets import forms as form_tables
from studio.widgets.controller import models_by_kind
from studio.widgets.itemform import DURATION, Field, ItemForm


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return copy_template("procurement", tmp_path)


@pytest.fixture
def studio(work: Path) -> Studio:
    return Studio(work)


def _shown(studio: Studio, *names: str) -> dict[str, bool]:
    return {name: getattr(studio, name).layout.display != "none" for name in names}


def test_which_kinds_show_a_row_comes_from_the_models(studio: Studio) -> None:
    rows = ("node_actor", "node_sla", "node_threshold", "node_outcome", "node_ref", "node_tools", "node_outputs")
    expected = {  # the node models' fields (outputs: tasks only, as the form chose)
        "task": (True, True, False, False, False, True, True),
        "approval": (True, True, True, False, False, False, False),
        "subworkflow": (True, False, False, False, True, False, False),
        "end": (False, False, False, True, False, False, False),
        "decision": (False, False, False, False, False, False, False),
    }
    studio.node_pick.value = ""
    for kind, shown in expected.items():
        studio.node_kind.value = kind
        assert _shown(studio, *rows) == dict(zip(rows, shown, strict=True)), kind
    assert studio.node_actor.description == "Done by"
    studio.node_kind.value = "approval"
    assert studio.node_actor.description == "Approver"


def test_tooltips_are_the_model_descriptions_of_the_kind_shown(studio: Studio) -> None:
    assert studio.edge_probability.tooltip.startswith("Branch probability (0 < p <= 1)")
    studio.node_pick.value = "intake_request"
    assert studio.node_outputs.tooltip == Task.model_fields["outputs"].description
    studio.actor_pick.value = ""
    studio.actor_kind.value = "system"
    assert studio.actor_at_once.tooltip == System.model_fields["capacity"].description
    assert studio.actor_calendar.days.tooltip == System.model_fields["calendar"].description
    studio.actor_kind.value = "human"  # a pool's calendar has no description: no tooltip
    assert studio.actor_calendar.days.tooltip is None


def test_an_edit_sends_only_the_rows_the_kind_shows(studio: Studio) -> None:
    form = studio.forms["nodes"]
    studio.node_pick.value = "manager_approval"
    sent = form.values()
    assert sent["kind"] == "approval" and {"threshold", "sla", "escalate_to", "actor"} <= set(sent)
    assert not {"tools", "reads", "writes", "outputs", "output_models", "outcome", "ref"} & set(sent)
    studio.node_pick.value = "paid"
    assert set(form.values()) == {"id", "name", "kind", "outcome"}


class Pause(NodeBase):
    """A kind the studio does not have: pauses a while."""

    kind: Literal["pause"]
    hold: Duration | None = None


def test_a_new_node_kind_and_its_field_are_one_row(studio: Studio) -> None:
    steps = form_tables.STEPS
    spec = dataclasses.replace(
        steps, prefix="trial", models={**steps.models, "pause": Pause},
        fields=(*steps.fields, Field("hold", "Pauses for", "e.g. 2d", DURATION)),
    )
    form = ItemForm(spec, studio)
    kind, hold = form.inputs["kind"].main, form.inputs["hold"].main
    kind.options = [*kind.options, "pause"]  # the kind list comes from NODE_KINDS, which would gain it
    kind.value = "pause"
    shown = [row.attr for row, widget in form.rows if widget.boxes[0].layout.display != "none"]
    assert shown == ["id", "name", "kind", "hold"]  # what a Pause model has, no more
    form.inputs["id"].main.value = "cool_off"
    hold.value = "2d"
    assert form.values() == {"id": "cool_off", "name": "", "kind": "pause", "hold": "2d"}
    kind.value = "task"
    assert hold.layout.display == "none" and "hold" not in form.values()
    assert "trial_hold" in form.parts()


def test_a_new_field_of_every_kind_is_one_row_through_to_the_file(
    monkeypatch: pytest.MonkeyPatch, work: Path
) -> None:
    steps = form_tables.STEPS
    described = dataclasses.replace(steps, fields=(*steps.fields, Field("description", "Description", "")))
    monkeypatch.setattr(form_tables, "FORMS", (described, *form_tables.FORMS[1:]))
    studio = Studio(work)
    studio.node_pick.value = "create_po"
    studio.node_description.value = "Raise the purchase order in the ERP"
    studio.node_update.click()
    assert fileio.load(work).node("create_po").description == "Raise the purchase order in the ERP"
    studio.node_pick.value = ""
    studio.node_pick.value = "create_po"  # loaded back as saved
    assert studio.node_description.value == "Raise the purchase order in the ERP"
    studio.node_kind.value = "decision"  # every node model has a description: it stays
    assert studio.node_description.layout.display is None


def test_a_row_no_kind_shows_is_refused_when_the_form_is_built(studio: Studio) -> None:
    spec = dataclasses.replace(form_tables.TOOLS, fields=(Field("colour", "Colour"),))
    with pytest.raises(ValueError, match="row `colour` shows for no kind"):
        ItemForm(spec, studio)


def test_models_by_kind_reads_the_discriminated_unions() -> None:
    assert list(models_by_kind(Actor)) == ["agent", "human", "system"]
    assert list(models_by_kind(Node)) == list(NODE_KINDS)
    assert "wait" in NODE_KINDS


def test_a_wait_step_is_added_and_edited_through_the_step_form(work: Path) -> None:
    studio = Studio(work)
    studio.node_pick.value = ""
    studio.node_kind.value = "wait"
    shown = {row.attr for row, widget in studio.forms["nodes"].rows if widget.boxes[0].layout.display != "none"}
    assert {"delay", "until"} <= shown and not {"actor", "sla", "tools"} & shown  # a wait holds nobody
    studio.node_id.value = "goods_arrive"
    studio.node_delay.dist.value = "fixed"
    studio.node_delay.params[0].value = "2d"
    studio.node_add.click()
    saved = fileio.load(work).node("goods_arrive")
    assert saved is not None and saved.kind == "wait" and saved.fixed_delay == 172800.0  # type: ignore[union-attr]
    studio.node_pick.value = ""
    studio.node_pick.value = "goods_arrive"  # loaded back as saved
    assert studio.node_delay.params[0].value == "2d"


def test_an_escalation_chain_is_typed_as_pools_and_times(work: Path) -> None:
    studio = Studio(work)
    approval = next(n for n in fileio.load(work).nodes if n.kind == "approval")
    humans = [a.id for a in fileio.load(work).actors if a.kind == "human" and a.id != approval.actor]  # type: ignore[union-attr]
    studio.node_pick.value = approval.id
    studio.node_sla.value = ""
    studio.node_escalate.value = ""
    studio.node_escalation.value = f"{humans[0]}@4h, {humans[1]}@8h"
    studio.node_update.click()
    saved = fileio.load(work).node(approval.id)
    assert [(level.to, level.after) for level in saved.escalation] == [  # type: ignore[union-attr]
        (humans[0], 4 * 3600), (humans[1], 8 * 3600)]
    studio.node_pick.value = ""
    studio.node_pick.value = approval.id  # loaded back as saved
    assert studio.node_escalation.value == f"{humans[0]}@4h, {humans[1]}@8h"
    studio.node_escalation.value = f"{humans[0]} 4h"  # no @: refused with the model's words, file kept
    studio.node_update.click()
    assert [level.to for level in fileio.load(work).node(approval.id).escalation] == humans[:2]  # type: ignore[union-attr]
