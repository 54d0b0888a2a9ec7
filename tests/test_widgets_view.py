"""The studio widget driven through its widget models (set ``.value``, ``button.click()``), no browser."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")

from studio import fileio
from studio.widgets import Studio, copy_template


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return copy_template("procurement", tmp_path)


@pytest.fixture
def studio(work: Path) -> Studio:
    return Studio(work)


def status(studio: Studio) -> str:
    return str(studio.status.value)


def test_opens_with_diagram_title_and_no_problems(studio: Studio, work: Path) -> None:
    assert [studio.tabs.get_title(i) for i in range(4)] == ["Map", "Simulate", "Walk a case", "Export"]
    assert "procurement 1.0.0" in studio.title.value and str(work) in studio.title.value
    assert "<svg" in studio.diagram.svg and "intake_request" in studio.diagram.svg
    assert studio.findings_list.options == (("No problems found.", -1),)
    assert studio.undo_button.disabled and studio.redo_button.disabled
    assert studio.path_text.value == str(work)


def test_add_task_through_the_form(studio: Studio, work: Path) -> None:
    studio.node_pick.value = ""
    studio.node_id.value = "legal_review"
    studio.node_name.value = "Legal reviews the contract"
    studio.node_kind.value = "task"
    studio.node_actor.value = "line_managers"
    studio.node_duration.dist.value = "triangular"
    for widget, value in zip(studio.node_duration.params, ["10m", "30m", "2h"], strict=True):
        widget.value = value
    studio.node_sla.value = "1d"
    studio.node_escalate.value = "procurement_leads"
    studio.node_add.click()

    assert "Added task `legal_review`" in status(studio)
    assert "legal_review" in studio.diagram.svg  # redrawn
    node = fileio.load(work).node("legal_review")  # and saved
    assert node.actor == "line_managers" and node.sla == 86400  # type: ignore[union-attr]
    assert node.behaviour.duration.dist == "triangular"  # type: ignore[union-attr]
    # the new, unconnected step lights up at once, and the form now shows it
    lines = [label for label, _ in studio.findings_list.options]
    assert any("S005" in line and "legal_review" in line for line in lines)
    assert studio.node_pick.value == "legal_review"
    assert studio.diagram.selected == ["legal_review"]
    assert not studio.undo_button.disabled


def test_refused_edit_shows_why_and_changes_nothing(studio: Studio, work: Path) -> None:
    text = work.read_text()
    studio.node_pick.value = ""
    studio.node_id.value = "create_po"
    studio.node_add.click()
    assert "already used" in status(studio) and "wds-bad" in status(studio)
    studio.node_id.value = "new_step"
    studio.node_sla.value = "tomorrow"
    studio.node_add.click()
    assert "`tomorrow` is not a duration" in status(studio)
    assert work.read_text() == text
    assert studio.undo_button.disabled


def test_selecting_a_finding_selects_its_element(studio: Studio) -> None:
    studio.controller.update_node("manager_approval", actor="intake_agent")  # code edits redraw the widget too
    options = dict(studio.findings_list.options)
    line = next(label for label in options if "A005" in label)
    studio.editors.selected_index = 4
    studio.findings_list.value = options[line]
    assert studio.editors.selected_index == 0
    assert studio.node_pick.value == "manager_approval"
    assert studio.node_actor.value == "intake_agent"
    assert "A005" in studio.finding_detail.value and "How to fix" in studio.finding_detail.value
    assert studio.diagram.selected == ["manager_approval"]


def test_edit_a_step_and_rename_it(studio: Studio, work: Path) -> None:
    studio.node_pick.value = "create_po"
    assert studio.node_id.value == "create_po" and studio.node_actor.value == "intake_agent"
    assert studio.node_tools.value == ("create_purchase_order",)
    studio.node_id.value = "raise_po"
    studio.node_name.value = "Raise the PO"
    studio.node_update.click()
    wf = fileio.load(work)
    assert "raise_po" in wf.node_ids and wf.node("raise_po").name == "Raise the PO"
    assert ("raise_po", "receive_goods") in [e.key for e in wf.edges]
    assert studio.node_pick.value == "raise_po"
    studio.node_delete.click()
    assert "raise_po" not in fileio.load(work).node_ids


def test_connections_check_conditions_as_you_type(studio: Studio, work: Path) -> None:
    studio.edge_pick.value = -1
    studio.edge_from.value = "match_gate"
    studio.edge_to.value = "invoice_disputed"
    studio.edge_when.value = "invoice_amount >"
    assert "column 17" in studio.edge_check.value and "^" in studio.edge_check.value
    studio.edge_add.click()
    assert "column 17" in status(studio)
    studio.edge_when.value = "invoice_amount > amount * 2"
    assert "valid condition" in studio.edge_check.value
    studio.edge_label.value = "double the PO"
    studio.edge_add.click()
    edge = fileio.load(work).edges[-1]
    assert edge.key == ("match_gate", "invoice_disputed") and edge.label == "double the PO"
    assert studio.edge_pick.value == len(studio.controller.workflow.edges) - 1
    studio.edge_delete.click()
    assert ("match_gate", "invoice_disputed") not in [e.key for e in fileio.load(work).edges]


def test_actor_tool_and_data_forms(studio: Studio, work: Path) -> None:
    studio.actor_pick.value = ""
    studio.actor_id.value = "legal_team"
    studio.actor_kind.value = "human"
    studio.actor_capacity.value = 4
    studio.actor_approve.value = "0.75"
    studio.actor_add.click()
    actor = fileio.load(work).actor("legal_team")
    assert actor.capacity == 4 and actor.behaviour.approve_rate == 0.75  # type: ignore[union-attr]
    assert ("legal_team  (human)", "legal_team") in studio.node_actor.options  # pick lists follow

    studio.tool_pick.value = ""
    studio.tool_id.value = "contract_store"
    studio.tool_tier.value = "restricted_write"
    studio.tool_calls.value = "30"
    studio.tool_per.value = "1m"
    studio.tool_add.click()
    tool = fileio.load(work).tool("contract_store")
    assert tool.rate_limit is not None and tool.rate_limit.calls == 30
    assert "contract_store" in studio.node_tools.options

    studio.data_pick.value = ""
    studio.data_id.value = "contracts"
    studio.data_freshness.value = "1d"
    studio.data_pii.value = True
    studio.data_add.click()
    assert any(d.id == "contracts" and d.contains_pii for d in fileio.load(work).data_sources)


def test_undo_redo_buttons(studio: Studio, work: Path) -> None:
    studio.controller.add_node("task", "temp", actor="ap_team")
    studio.undo_button.click()
    assert "temp" not in fileio.load(work).node_ids and "Undid" in status(studio)
    assert not studio.redo_button.disabled
    studio.redo_button.click()
    assert "temp" in fileio.load(work).node_ids


def test_template_save_as_and_open(studio: Studio, tmp_path: Path) -> None:
    studio.template_pick.value = "support_triage"
    studio.template_button.click()
    assert "support_triage" in studio.title.value
    other = tmp_path / "copy" / "triage.yaml"
    studio.path_text.value = str(other)
    studio.save_button.click()
    assert fileio.load(other).metadata.name == "support_triage" and "Saved to" in status(studio)
    studio.path_text.value = str(tmp_path / "missing.yaml")
    studio.load_button.click()
    assert "does not exist" in status(studio) and "support_triage" in studio.title.value


def test_lanes_and_direction_from_the_diagram(studio: Studio) -> None:
    import re

    def size() -> tuple[float, float]:
        found = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', studio.diagram.svg)
        assert found is not None
        return float(found.group(1)), float(found.group(2))

    assert studio.diagram.zoom == "fit"  # the browser scales it; Python keeps Graphviz's size
    width, height = size()
    assert height > width  # top to bottom by default: tall, fits a notebook's width
    studio.diagram.direction = "LR"  # what the diagram's own Direction list does
    width, height = size()
    assert width > height and studio.controller.direction == "LR"
    studio.diagram.lanes = "kind"
    assert "AI agents" in studio.diagram.svg and studio.controller.lanes == "kind"


def test_export_tab_refuses_with_the_errors_then_exports(studio: Studio, work: Path) -> None:
    assert studio.export_path.value.endswith("workflow.controlplane.yaml")
    studio.controller.delete_actor("cfo_office")
    studio.export_button.click()
    assert "Not exported" in studio.export_result.value and "A001" in studio.export_result.value
    assert not Path(studio.export_path.value).exists()
    studio.undo_button.click()
    studio.export_button.click()
    assert "Exported" in studio.export_result.value
    assert Path(studio.export_path.value).is_file()
    assert "procurement" in studio.export_preview.value
    studio.export_format.value = "json"
    assert studio.export_path.value.endswith(".json")
    studio.export_target.value = "langgraph"
    assert studio.export_path.value.endswith("workflow.app.py")
    studio.export_button.click()
    assert "Exported the LangGraph application" in studio.export_result.value
    assert "R101" in studio.export_result.value and "not kept by this target" in studio.export_result.value


# --------------------------------------------------------------------------- simulate, walk, export evidence


def test_simulate_tab_runs_with_progress_kpis_and_plots(studio: Studio, work: Path) -> None:
    seen: list[int] = []
    studio.sim_progress.observe(lambda change: seen.append(change["new"]), names="value")
    studio.sim_cases.value = 24
    studio.sim_replications.value = 1
    studio.sim_seed.value = 7
    studio.sim_run.click()
    assert studio.sim_progress.bar_style == "success"
    assert studio.sim_progress.value == studio.sim_progress.max == 24
    assert len(set(seen)) > 3  # the bar moved while cases finished
    shown = studio.sim_kpis.value
    assert "Cases simulated" in shown and "Budget-holding line managers" in shown  # names, not ids
    assert "scenario baseline (as mapped)" in shown and "Bottleneck:" in shown and "%" in shown
    titles = [studio.sim_plots.get_title(i) for i in range(len(studio.sim_plots.children))]
    assert titles == ["Cycle times", "Utilisation", "Waits", "Hand-offs", "Waits on the map"]
    assert all(page.value[:4] == b"\x89PNG" for page in studio.sim_plots.children[:3])
    assert "<svg" in studio.sim_plots.children[3].value and "intake_agent" in studio.sim_plots.children[3].value
    assert "Simulated 24 case(s)" in status(studio)
    # the run of the workflow as mapped is attached to the next export as evidence
    studio.export_button.click()
    assert "with the simulation KPIs as evidence" in studio.export_result.value
    assert "kpis" in Path(studio.export_path.value).read_text()


def test_bad_scenario_is_refused_in_the_status_line(studio: Studio) -> None:
    studio.sim_cases.value = 5
    studio.sim_scenario.value = "actors.nobody.capacity=3"
    studio.sim_run.click()
    assert studio.sim_progress.bar_style == "danger"
    assert "nobody" in status(studio) and "wds-bad" in status(studio)


def test_compare_two_scenarios(studio: Studio) -> None:
    studio.sim_cases.value = 12
    studio.sim_replications.value = 2
    studio.sim_scenario_b.value = "actors.line_managers.capacity=1\nactors.warehouse_team.capacity=1"
    studio.sim_compare.click()
    table = studio.sim_compare_out.value
    assert "A: baseline (as mapped)" in table and "B: actors.line_managers.capacity=1" in table
    assert "95% interval" in table and "Busy share, Goods-in team" in table
    assert table.count("<tr>") > 5


def test_walk_a_case_through_the_approvals(studio: Studio) -> None:
    case = studio.case_pick.options[0]
    assert studio.case_pick.value == case  # the first case is picked already
    studio.walk_start.click()
    assert "manager_approval" in studio.walk_pending.value and "line_managers" in studio.walk_pending.value
    assert not studio.walk_approve.disabled and studio.walk_approve.description == "Approve"
    assert case in studio.walk_state.value and "Path so far" in studio.walk_state.value
    studio.walk_approve.click()
    for _ in range(10):  # goods receipt and any other human step, until the case ends
        if studio.walk_approve.disabled:
            break
        studio.walk_approve.click()
    assert "Case finished" in studio.walk_pending.value and "paid" in studio.walk_pending.value
    assert "manager_approval (approve)" in studio.walk_state.value
    assert studio.walk_approve.disabled


def test_walkthrough_reject_and_steer(studio: Studio) -> None:
    studio.case_pick.value = studio.case_pick.options[1]
    studio.walk_start.click()
    studio.walk_note.value = "attach the quote"
    studio.walk_steer.click()
    assert "manager_approval (send_back)" in studio.walk_state.value
    assert studio.walk_note.value == ""
    studio.walk_reject.click()  # the request comes back to the manager, who rejects it now
    assert "Case finished" in studio.walk_pending.value and "rejected" in studio.walk_pending.value
    studio.walk_reject.click()
    assert "start a walkthrough first" in status(studio) or "finished" in status(studio)


def test_export_other_targets(studio: Studio, work: Path) -> None:
    studio.export_target.value = "mermaid"
    assert studio.export_path.value.endswith("workflow.mmd")
    assert studio.export_format.layout.display == "none"
    studio.export_button.click()
    assert "Mermaid diagram" in studio.export_result.value
    assert "flowchart LR" in (work.parent / "workflow.mmd").read_text()
