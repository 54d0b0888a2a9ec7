"""The studio's editing logic, without widgets or a browser: edits, refusals, undo/redo, files."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import fileio
from studio.errors import LoadError
from studio.model import Approval, Human, Task, Wait
from studio.widgets.controller import (
    EditRefused,
    StudioController,
    copy_template,
    describe_distribution,
    make_distribution,
    parse_scenario,
)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return copy_template("procurement", tmp_path)


@pytest.fixture
def studio(work: Path) -> StudioController:
    return StudioController(work)


def codes(controller: StudioController) -> list[str]:
    return [f.code for f in controller.findings]


def saved(path: Path) -> fileio.Workflow:  # type: ignore[name-defined]
    return fileio.load(path)


# --------------------------------------------------------------------------- opening


def test_copy_template_writes_workflow_and_data_without_touching_the_template(tmp_path: Path) -> None:
    path = copy_template("support_triage", tmp_path / "w")
    assert path == tmp_path / "w" / "workflow.yaml"
    assert (tmp_path / "w" / "sample.csv").is_file() and (tmp_path / "w" / "gold.csv").is_file()
    controller = StudioController(path)
    assert controller.cases is not None and len(controller.cases) > 100
    assert controller.findings == []  # the templates are clean against their own data


def test_opening_a_missing_file_raises_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="does not exist"):
        StudioController(tmp_path / "nope.yaml")


def test_blank_studio_is_a_minimal_valid_workflow() -> None:
    controller = StudioController()
    assert [n.kind for n in controller.workflow.nodes] == ["start", "task", "end"]
    assert controller.workflow.actor_of("first_step") is not None
    assert controller.path is None
    assert not controller.findings


# --------------------------------------------------------------------------- nodes


def test_add_task_with_actor_autosaves_and_lights_up_findings(studio: StudioController, work: Path) -> None:
    studio.add_node("task", "legal_review", actor="line_managers", name="Legal review", duration="15m", sla="1d")
    node = studio.workflow.node("legal_review")
    assert isinstance(node, Task) and node.actor == "line_managers" and node.sla == 86400.0
    assert node.behaviour.duration is not None
    # placed before the end nodes, saved at once, and the unconnected step shows up as problems
    kinds = [n.kind for n in studio.workflow.nodes]
    assert kinds.index("task", kinds.index("task")) < kinds.index("end")
    assert saved(work).node("legal_review").name == "Legal review"
    assert {"S005", "S006"} <= set(codes(studio))
    section, index = studio.select_finding(next(f for f in studio.findings if f.code == "S005"))
    assert section == "nodes" and studio.workflow.nodes[index or 0].id == "legal_review"
    # connecting it clears the structural problems
    studio.add_edge("create_po", "legal_review")
    studio.add_edge("legal_review", "receive_goods")
    assert not {"S005", "S006"} & set(codes(studio))


def test_a_wait_step_is_added_with_its_timer(studio: StudioController, work: Path) -> None:
    node_id = studio.insert_step("create_po", "receive_goods", kind="wait", name="Wait for the goods")
    assert "S015" in codes(studio)  # no timer yet: the room sees what is missing
    studio.update_node(node_id, delay="3d")
    wait = saved(work).node(node_id)
    assert isinstance(wait, Wait) and wait.fixed_delay == 3 * 86400.0 and "S015" not in codes(studio)
    studio.update_node("receive_goods", kind="wait", until={"days": ["mon", "tue"], "hours": "09:00-12:00"})
    changed = studio.workflow.node("receive_goods")
    assert isinstance(changed, Wait) and changed.until is not None and not hasattr(changed, "actor")


def test_duplicate_id_is_refused_and_nothing_changes(studio: StudioController, work: Path) -> None:
    before = studio.workflow
    text = work.read_text()
    with pytest.raises(EditRefused, match="already used"):
        studio.add_node("task", "create_po")
    assert studio.workflow is before
    assert work.read_text() == text
    assert not studio.can_undo


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sla": "soon"}, r"step `create_po`, `sla`: `soon` is not a duration"),
        ({"duration": {"dist": "uniform", "low": "2h", "high": "1h"}}, "must not be greater"),
        ({"outcome": "done"}, "`outcome` does not apply here"),
    ],
)
def test_invalid_update_is_refused_with_a_message_naming_the_element(
    studio: StudioController, work: Path, fields: dict[str, object], message: str
) -> None:
    before, text = studio.workflow, work.read_text()
    with pytest.raises(EditRefused, match=message):
        studio.update_node("create_po", **fields)
    assert studio.workflow is before and work.read_text() == text
    assert studio.message.startswith("Not changed:")


def test_bad_new_id_is_refused(studio: StudioController) -> None:
    with pytest.raises(EditRefused, match="not a valid id"):
        studio.add_node("task", "two words")
    with pytest.raises(EditRefused, match="give the new step an id"):
        studio.add_node("task", "  ")
    with pytest.raises(EditRefused, match="not a kind of step"):
        studio.add_node("robot", "r2")


def test_rename_node_updates_edges_and_reviews(studio: StudioController) -> None:
    studio.update_node("intake_request", id="intake")
    wf = studio.workflow
    assert "intake_request" not in wf.node_ids
    assert ("start", "intake") in [e.key for e in wf.edges]
    cfo = wf.node("cfo_approval")
    assert isinstance(cfo, Approval) and "intake" in cfo.reviews
    assert studio.findings == []


def test_change_kind_drops_fields_the_new_kind_has_not(studio: StudioController) -> None:
    studio.update_node("receive_goods", kind="approval")
    node = studio.workflow.node("receive_goods")
    assert isinstance(node, Approval)
    assert "reads" in studio.message and "dropped" in studio.message


def test_delete_node_removes_its_edges(studio: StudioController) -> None:
    edges = len(studio.workflow.edges)
    studio.delete_node("three_way_match")
    assert "three_way_match" not in studio.workflow.node_ids
    assert len(studio.workflow.edges) == edges - 2
    assert all("three_way_match" not in e.key for e in studio.workflow.edges)
    assert "2 connection(s)" in studio.message


def test_duration_helpers_round_trip() -> None:
    assert make_distribution("fixed", value="15m") == "15m"
    tri = make_distribution("triangular", low="10m", mode="30m", high="2h")
    assert tri == {"dist": "triangular", "low": "10m", "mode": "30m", "high": "2h"}
    assert make_distribution("") is None
    with pytest.raises(EditRefused, match="needs `sd`"):
        make_distribution("normal", mean="1h", sd="")
    controller = StudioController()
    controller.add_node("task", "t", duration=tri)
    node = controller.workflow.node("t")
    assert isinstance(node, Task)
    assert describe_distribution(node.behaviour.duration) == ("triangular", {"low": "10m", "mode": "30m", "high": "2h"})
    assert describe_distribution(None) == ("", {})


def test_clearing_a_field_restores_its_default(studio: StudioController) -> None:
    studio.update_node("create_po", name="", tools=[])
    node = studio.workflow.node("create_po")
    assert isinstance(node, Task) and node.name is None and node.tools == []


# --------------------------------------------------------------------------- edges


def test_conditions_are_checked_with_their_column(studio: StudioController) -> None:
    assert studio.check_condition("amount > 10000") is None
    assert studio.check_condition("") is None
    message = studio.check_condition("amount >")
    assert message is not None and "column 9" in message
    assert studio.condition_caret("amount >> 3") is not None
    with pytest.raises(EditRefused, match="column 9"):
        studio.add_edge("match_gate", "paid", when="amount >")


def test_edges_must_join_known_steps_once(studio: StudioController) -> None:
    with pytest.raises(EditRefused, match="no step `nowhere`"):
        studio.add_edge("create_po", "nowhere")
    with pytest.raises(EditRefused, match="already connected"):
        studio.add_edge("start", "intake_request")


def test_update_and_delete_edge(studio: StudioController, work: Path) -> None:
    index = next(i for i, e in enumerate(studio.workflow.edges) if e.key == ("match_gate", "resolve_mismatch"))
    studio.update_edge(index, when='match_result in ["mismatch", "partial"]', label="needs a look")
    edge = studio.workflow.edges[index]
    assert edge.label == "needs a look" and edge.when is not None and "partial" in edge.when
    assert saved(work).edges[index].label == "needs a look"
    studio.delete_edge(index)
    assert ("match_gate", "resolve_mismatch") not in [e.key for e in studio.workflow.edges]
    assert "S005" in codes(studio)  # resolve_mismatch is now unreachable
    with pytest.raises(EditRefused, match="no connection number"):
        studio.delete_edge(999)


def test_a_decision_without_default_lights_up(studio: StudioController) -> None:
    index = next(i for i, e in enumerate(studio.workflow.edges) if e.key == ("match_gate", "post_invoice"))
    studio.update_edge(index, default=False)
    assert "S007" in codes(studio)


# --------------------------------------------------------------------------- actors, tools, data


def test_renaming_or_deleting_a_pool_follows_it_into_escalation_chains(studio: StudioController) -> None:
    studio.update_node("cfo_approval", sla=None, escalate_to=None,
                       escalation=[{"to": "deputy_cfo", "after": "2d"}, {"to": "procurement_leads", "after": "1d"}])
    studio.update_policies(escalate_to=None)
    studio.update_actor("procurement_leads", id="leads")
    node = studio.workflow.node("cfo_approval")
    assert [level.to for level in node.escalation or ()] == ["deputy_cfo", "leads"]  # type: ignore[union-attr]
    assert "A002" not in codes(studio)
    studio.delete_actor("leads")
    assert "`cfo_approval`" in studio.message
    node = studio.workflow.node("cfo_approval")
    assert [level.to for level in node.escalation or ()] == ["deputy_cfo"]  # type: ignore[union-attr]
    studio.delete_actor("deputy_cfo")
    assert getattr(studio.workflow.node("cfo_approval"), "escalation", None) is None
    studio.update_policies(approval_sla=None, escalation=[{"to": "line_managers", "after": "1d"}])
    assert [level.to for level in studio.workflow.policies.escalation or ()] == ["line_managers"]
    assert "`escalation`" in studio.message
    with pytest.raises(EditRefused, match="both `escalation` \\(a chain\\) and `escalate_to`"):
        studio.update_policies(escalate_to="line_managers")


def test_actors_add_rename_delete(studio: StudioController) -> None:
    studio.add_actor("human", "legal_team", name="Legal", capacity="3", approve_rate="0.8", duration="2h")
    actor = studio.workflow.actor("legal_team")
    assert isinstance(actor, Human) and actor.capacity == 3 and actor.behaviour.approve_rate == 0.8
    studio.update_actor("line_managers", id="managers")
    assert studio.workflow.node("manager_approval").actor == "managers"  # type: ignore[union-attr]
    assert studio.findings == []
    studio.delete_actor("managers")
    assert getattr(studio.workflow.node("manager_approval"), "actor", None) is None
    assert "A001" in codes(studio)
    assert "`manager_approval`" in studio.message
    with pytest.raises(EditRefused, match=r"not a number|capacity"):
        studio.update_actor("ap_team", capacity="many")


def test_tools_and_tiers(studio: StudioController) -> None:
    studio.add_tool("contract_store", tier="restricted_write", rate_limit={"calls": "10", "per": "1m"}, timeout="5s")
    assert studio.workflow.tool("contract_store").rate_limit is not None
    with pytest.raises(EditRefused, match="not a permission tier"):
        studio.add_tool("x", tier="admin")
    # making a tool critical lights up the governance rule where it is used without an approval
    studio.update_tool("erp_read", tier="critical")  # intake reads the ERP before any approval
    assert {f.code for f in studio.findings} >= {"G001"}
    studio.delete_tool("release_payment")
    assert all("release_payment" not in getattr(n, "tools", []) for n in studio.workflow.nodes)


def test_data_sources(studio: StudioController) -> None:
    studio.add_data_source("contracts", system="SharePoint", freshness="1d", contains_pii=True)
    source = next(d for d in studio.workflow.data_sources if d.id == "contracts")
    assert source.freshness == 86400.0 and source.contains_pii
    studio.update_data_source("erp", id="sap")
    assert "sap" in studio.workflow.node("intake_request").reads  # type: ignore[union-attr]
    studio.delete_data_source("sap")
    assert studio.findings == [] or all(f.code != "A004" for f in studio.findings)


def test_metadata(studio: StudioController) -> None:
    studio.update_metadata(version="1.1.0", owner="me@example.com")
    assert studio.workflow.metadata.version == "1.1.0"
    with pytest.raises(EditRefused, match="version"):
        studio.update_metadata(version="one")


# --------------------------------------------------------------------------- undo, redo, files


def test_undo_redo_restore_and_autosave(studio: StudioController, work: Path) -> None:
    original = studio.workflow
    studio.add_node("task", "a", actor="ap_team")
    studio.delete_node("create_po")
    assert studio.history == ["Added task `a` done by `ap_team`.", studio.history[1]]
    studio.undo()
    assert "create_po" in saved(work).node_ids
    studio.undo()
    assert studio.workflow == original and saved(work) == original
    assert not studio.can_undo and studio.can_redo
    studio.redo()
    assert "a" in saved(work).node_ids
    studio.add_node("task", "b")
    assert not studio.can_redo  # a new edit drops what was undone
    with pytest.raises(EditRefused, match="nothing to redo"):
        studio.redo()


def test_listeners_hear_changed_then_saved(studio: StudioController) -> None:
    events: list[str] = []
    studio.subscribe(events.append)
    studio.add_node("task", "a")
    assert events == ["changed", "saved"]


def test_failed_autosave_is_reported_when_the_file_cannot_be_replaced(
    studio: StudioController, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise OSError(28, "No space left on device")

    text = work.read_text()
    monkeypatch.setattr(fileio, "atomic_write", broken)
    studio.add_node("task", "kept")
    assert "kept" in studio.workflow.node_ids  # the edit stands in memory
    assert work.read_text() == text  # and the file is as it was
    assert studio.save_error is not None and "No space left" in studio.message
    monkeypatch.undo()
    studio.save()
    assert "kept" in saved(work).node_ids and studio.save_error is None


def test_save_as_moves_autosave_and_brings_the_data(studio: StudioController, tmp_path: Path) -> None:
    target = tmp_path / "other" / "mine.yaml"
    studio.save(target)
    assert studio.path == target and (target.parent / "sample.csv").is_file()
    studio.add_node("task", "later")
    assert "later" in saved(target).node_ids


def test_save_needs_a_path_when_there_is_no_file() -> None:
    with pytest.raises(EditRefused, match="no file yet"):
        StudioController().save()


def test_load_broken_file_keeps_current_workflow(studio: StudioController, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("metadata: {name: x}\nnodes: [\n")
    before = studio.workflow
    with pytest.raises(LoadError):
        studio.load(broken)
    assert studio.workflow is before and "Could not open" in studio.message


def test_load_and_from_template_are_undoable(studio: StudioController, work: Path) -> None:
    studio.from_template("support_triage")
    assert studio.workflow.metadata.name == "support_triage"
    assert saved(work).metadata.name == "support_triage"
    studio.undo()
    assert studio.workflow.metadata.name == "procurement"
    with pytest.raises(EditRefused, match="no template"):
        studio.from_template("nope")


def test_from_template_without_a_file_reads_the_template_data() -> None:
    controller = StudioController()
    controller.from_template("finance_close")
    assert controller.cases is not None and controller.findings == []


def test_template_files_are_never_written(tmp_path: Path) -> None:
    from studio.templates import get_template

    template = get_template("procurement").workflow_path
    before = template.read_bytes()
    controller = StudioController(fileio.load(template))
    controller.add_node("task", "x")
    assert controller.path is None and template.read_bytes() == before


# --------------------------------------------------------------------------- reading


def test_diagram_svg_shows_nodes_and_is_cached(studio: StudioController) -> None:
    svg = studio.diagram_svg()
    assert svg.startswith("<svg") and "intake_request" in svg
    assert studio.diagram_svg() is svg
    studio.add_node("task", "fresh_step")
    assert "fresh_step" in studio.diagram_svg()


def test_options_and_labels(studio: StudioController) -> None:
    assert "line_managers" in studio.options_for("humans")
    assert "intake_agent" in studio.options_for("agents")
    assert "procurement" in studio.options_for("templates")
    with pytest.raises(KeyError):
        studio.options_for("colours")
    labelled = next(i for i, e in enumerate(studio.workflow.edges) if e.label)
    edge = studio.workflow.edges[labelled]
    studio.update_edge(labelled, when="amount > 100000 and vendor_risk == 'high'", label=None)
    index = labelled
    label = studio.edge_label(index)
    assert label.startswith(f"{edge.source} -> {edge.target} [if ") and label.endswith("]")
    assert len(label) <= len(f"{edge.source} -> {edge.target} []") + 32
    labelled = next(i for i, e in enumerate(studio.workflow.edges) if e.label)
    assert "…" in label  # a long condition is cut
    assert studio.edge_label(labelled).endswith(f"[{studio.workflow.edges[labelled].label}]")
    choices = studio.edge_choices()
    assert [label for label, _ in choices] == sorted(label for label, _ in choices)
    assert sorted(index for _, index in choices) == list(range(len(studio.workflow.edges)))


def test_select_finding_points_at_sections(studio: StudioController) -> None:
    studio.update_node("manager_approval", actor="intake_agent")  # an agent cannot approve
    finding = next(f for f in studio.findings if f.code == "A005")
    assert studio.select_finding(finding) == ("nodes", studio.workflow.node_ids.index("manager_approval"))
    assert studio.select_finding(studio.findings.index(finding))[0] == "nodes"


def test_case_ids_and_scenarios(studio: StudioController) -> None:
    ids = studio.case_ids()
    assert ids[0] == "PR-00001" and studio.case(ids[0])["amount"] == 897.08
    with pytest.raises(EditRefused, match="no case"):
        studio.case("PR-99999")
    assert parse_scenario("a.capacity = 3\n# note\n\nb=x # why") == {"a.capacity": "3", "b": "x"}
    with pytest.raises(EditRefused, match="line 1"):
        parse_scenario("just words")


# --------------------------------------------------------------------------- export


def test_export_refuses_errors_and_lists_them(studio: StudioController, tmp_path: Path) -> None:
    studio.delete_actor("cfo_office")
    result = studio.export(tmp_path / "out.yaml")
    assert not result.ok and "Not exported" in result.message
    assert {f.code for f in result.findings} >= {"A001"}
    assert all(f.is_error for f in result.findings)
    assert not (tmp_path / "out.yaml").exists()


def test_export_writes_the_definition(studio: StudioController, tmp_path: Path) -> None:
    result = studio.export(tmp_path / "out.json", fmt="json")
    assert result.ok and result.path == tmp_path / "out.json"
    text = (tmp_path / "out.json").read_text()
    assert text == result.text and "procurement" in text
    assert result.target == "controlplane"  # the default target
    assert '"kind": "AgentWorkflow"' in text
    with pytest.raises(EditRefused, match="export format"):
        studio.export(fmt="xml")


@pytest.mark.parametrize(("target", "codes"), [("bpmn", {"B102"}), ("serverless", {"W103"}),
                                               ("langgraph", {"R101"}), ("controlplane", set())])
def test_export_lists_what_the_target_does_not_keep(studio: StudioController, tmp_path: Path, target: str,
                                                    codes: set[str]) -> None:
    result = studio.export(tmp_path / f"out.{target}", target=target)
    assert result.ok and result.target == target
    assert codes <= {f.code for f in result.losses} and (not codes) == (not result.losses)
    assert ("does not keep" in result.message) == bool(codes)


def test_a_template_opened_by_path_is_never_written(tmp_path: Path) -> None:
    from studio.templates import get_template

    template = get_template("finance_close").workflow_path
    before = template.read_bytes()
    controller = StudioController(template)
    assert controller.path is None and "save a copy" in controller.message
    controller.add_node("task", "extra")
    assert template.read_bytes() == before
    with pytest.raises(EditRefused, match="read-only"):
        controller.save(template)
    controller.save(tmp_path / "mine.yaml")
    assert "extra" in saved(tmp_path / "mine.yaml").node_ids and (tmp_path / "sample.csv").is_file()
    controller.load(template)
    assert controller.path is None
