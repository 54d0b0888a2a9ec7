"""The interactive diagram and the few-click edits: the controller's insert and re-joining delete,
and the studio driven through the diagram's synced state (``selected``, the actions the browser
sends), no browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import fileio
from studio.widgets.controller import EditRefused, StudioController, copy_template

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")

from studio.widgets import Studio
from studio.widgets.diagram import DiagramView, edge_id, split_edge_id


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return copy_template("procurement", tmp_path)


@pytest.fixture
def controller(work: Path) -> StudioController:
    return StudioController(work)


@pytest.fixture
def studio(work: Path) -> Studio:
    return Studio(work)


def keys(controller: StudioController) -> list[tuple[str, str]]:
    return [(e.source, e.target) for e in controller.workflow.edges]


# --------------------------------------------------------------------------- controller


def test_insert_on_a_connection_keeps_its_condition(controller: StudioController, work: Path) -> None:
    edge = next(e for e in controller.workflow.edges if e.when)
    new_id = controller.insert_step(edge.source, edge.target, name="Check the contract", actor="line_managers")
    assert new_id == "check_the_contract"
    assert (edge.source, edge.target) not in keys(controller)
    into = next(e for e in controller.workflow.edges if e.key == (edge.source, new_id))
    assert into.when == edge.when and into.label == edge.label
    assert (new_id, edge.target) in keys(controller)
    node = fileio.load(work).node(new_id)  # saved
    assert node.name == "Check the contract" and getattr(node, "actor", None) == "line_managers"
    ids = controller.workflow.node_ids
    assert ids.index(new_id) == ids.index(edge.source) + 1  # the file reads in order
    controller.undo()
    assert (edge.source, edge.target) in keys(controller) and new_id not in controller.workflow.node_ids


def test_insert_after_a_step_with_one_way_out_goes_onto_it(controller: StudioController) -> None:
    assert [e.target for e in controller.workflow.edges if e.source == "create_po"] == ["receive_goods"]
    new_id = controller.insert_step("create_po")
    assert new_id == "step_1"
    assert ("create_po", "step_1") in keys(controller) and ("step_1", "receive_goods") in keys(controller)
    assert ("create_po", "receive_goods") not in keys(controller)
    assert controller.insert_step("create_po", name="step") == "step_2"  # ids never clash


def test_insert_between_unconnected_steps_and_before(controller: StudioController) -> None:
    new_id = controller.insert_step("intake_request", "create_po", name="Shortcut")
    assert ("intake_request", new_id) in keys(controller) and (new_id, "create_po") in keys(controller)
    into = [e.source for e in controller.workflow.edges if e.target == "receive_goods"]
    before = controller.insert_step(before="receive_goods", name="Notify the supplier")
    assert [e.source for e in controller.workflow.edges if e.target == before] == into
    assert (before, "receive_goods") in keys(controller)


def test_insert_is_refused_where_it_makes_no_sense(controller: StudioController) -> None:
    end = next(n.id for n in controller.workflow.nodes if n.kind == "end")
    with pytest.raises(EditRefused, match="is an end"):
        controller.insert_step(end)
    with pytest.raises(EditRefused, match="select a step or a connection"):
        controller.insert_step()
    with pytest.raises(EditRefused, match="no step `nowhere`"):
        controller.insert_step("nowhere")
    with pytest.raises(EditRefused, match="already used"):
        controller.insert_step("create_po", id="receive_goods")


def test_delete_rejoins_only_when_unambiguous(controller: StudioController) -> None:
    edges = controller.workflow.edges
    step = next(n.id for n in controller.workflow.nodes
                if [e.target for e in edges].count(n.id) == 1 and [e.source for e in edges].count(n.id) == 1)
    into = next(e for e in edges if e.target == step)
    out = next(e for e in edges if e.source == step)
    controller.delete_node(step, rejoin=True)
    assert (into.source, out.target) in keys(controller)
    assert "joined" in controller.message
    joined = next(e for e in controller.workflow.edges if e.key == (into.source, out.target))
    assert joined.when == into.when
    controller.undo()
    controller.delete_node(step)  # without rejoin: only removed
    assert (into.source, out.target) not in keys(controller)
    controller.undo()
    gate = "precheck_gate"  # a decision: several ways out, nothing to join
    before = len(controller.workflow.edges)
    controller.delete_node(gate, rejoin=True)
    assert "not re-joined" in controller.message
    assert len(controller.workflow.edges) < before


# --------------------------------------------------------------------------- the widget


def test_edge_ids_round_trip() -> None:
    assert split_edge_id(edge_id("a", "b-c")) == ("a", "b-c")
    assert split_edge_id("node-1") is None
    view = DiagramView(selected=["a", "a->b"])
    assert view.selected_nodes == ["a"] and view.selected_edges == [("a", "b")]


def test_clicking_a_node_opens_its_form(studio: Studio) -> None:
    studio.editors.selected_index = 3
    studio.diagram.selected = ["manager_approval"]  # what a click in the browser sets
    assert studio.editors.selected_index == 0 and studio.node_pick.value == "manager_approval"
    assert "manager_approval" in studio.selection_label.value
    edge = studio.controller.workflow.edges[3]
    studio.diagram.selected = [edge_id(edge.source, edge.target)]
    assert studio.editors.selected_index == 1 and studio.edge_pick.value == 3
    studio.node_pick.value = "create_po"  # and the other way round: the form selects in the diagram
    assert studio.diagram.selected == ["create_po"]


def test_insert_a_step_on_a_clicked_connection(studio: Studio, work: Path) -> None:
    studio.diagram.selected = [edge_id("create_po", "receive_goods")]
    studio.quick_name.value = "Check the order"
    studio.quick_actor.value = "line_managers"
    studio.insert_button.click()
    saved = fileio.load(work)
    assert ("create_po", "check_the_order") in [e.key for e in saved.edges]
    assert ("check_the_order", "receive_goods") in [e.key for e in saved.edges]
    assert getattr(saved.node("check_the_order"), "actor", None) == "line_managers"
    assert studio.diagram.selected == ["check_the_order"] and studio.node_pick.value == "check_the_order"
    assert "check_the_order" in studio.diagram.svg and studio.quick_name.value == ""
    assert studio.quick_actor.value == "line_managers"  # kept for the next step


def test_connect_from_selected_then_click_the_target(studio: Studio) -> None:
    studio.diagram.selected = ["intake_request"]
    studio.connect_button.click()
    assert "Click the step to connect `intake_request` to" in studio.diagram.hint
    studio.diagram.selected = ["create_po"]
    assert ("intake_request", "create_po") in keys(studio.controller)
    assert studio.diagram.hint == "" and studio.diagram.selected == ["create_po"]
    studio.connect_button.click()
    studio.diagram.send_action("escape")  # Esc cancels
    studio.diagram.selected = ["receive_goods"]
    assert ("create_po", "receive_goods") in keys(studio.controller)
    assert studio.node_pick.value == "receive_goods"


def test_delete_selected_and_keyboard_undo_redo(studio: Studio) -> None:
    studio.diagram.selected = ["create_po"]
    studio.delete_selected_button.click()
    assert "create_po" not in studio.controller.workflow.node_ids and studio.diagram.selected == []
    assert "Deleted step `create_po`" in studio.status.value
    studio.diagram.send_action("undo")  # Ctrl+Z in the browser
    assert "create_po" in studio.controller.workflow.node_ids
    studio.diagram.send_action("redo")  # Ctrl+Shift+Z or Ctrl+Y
    assert "create_po" not in studio.controller.workflow.node_ids
    studio.diagram._on_message(None, {"action": "undo"})  # the message the browser sends
    assert "create_po" in studio.controller.workflow.node_ids


def test_selection_drops_what_an_edit_removed(studio: Studio) -> None:
    studio.diagram.selected = ["create_po", edge_id("create_po", "receive_goods")]
    studio.controller.delete_node("create_po")
    assert studio.diagram.selected == []
    assert studio.insert_button.disabled


def test_export_preview_leads_with_a_plain_summary(studio: Studio) -> None:
    studio.export_path.value = ""
    studio.export_button.click()
    preview = studio.export_preview.value
    assert preview.index("Approval gates") < preview.index("<pre")
    assert "effective autonomy" in preview and "Paths to a critical step with no person" in preview


def test_workshop_tab_follows_the_selection_and_writes_minutes(studio: Studio, tmp_path: Path) -> None:
    titles = [studio.tabs.get_title(i) for i in range(len(studio.tabs.children))]
    if studio.workshop_tab is None:
        pytest.skip("workshop mode is not installed")
    assert titles[-1] == "Workshop"
    studio.diagram.selected = ["manager_approval"]  # a click on the step in the diagram
    panel = studio.workshop_tab
    assert panel.selected == "manager_approval"
    panel.question_text.value = "Who approves when the manager is away?"
    panel.add_question_button.click()
    assert studio.controller.workflow.workshop.nodes["manager_approval"].questions
    panel.minutes_path.value = str(tmp_path / "minutes.md")
    panel.minutes_button.click()
    assert "Who approves when the manager is away?" in (tmp_path / "minutes.md").read_text()
