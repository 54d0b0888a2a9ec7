"""No lost work: working copies are kept, autosaves keep rotating backups, a blank start is valid,
and findings keep their file, line and column after edits in the studio."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from studio import _backup, fileio
from studio.cli import main
from studio.validate import validate
from studio.widgets import Studio
from studio.widgets.controller import StudioController, copy_template

ROOT = Path(__file__).resolve().parents[1]


def _notebook_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "scripts" / "make_notebooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- copy_template


def test_copy_template_keeps_an_edited_copy_and_says_so(tmp_path: Path) -> None:
    said: list[str] = []
    path = copy_template("procurement", tmp_path, say=said.append)
    assert said[-1].startswith("Copied template `procurement`")
    StudioController(path).add_actor("human", "legal_team", capacity=2)
    (tmp_path / "sample.csv").write_text("case_id,amount\nX-1,5\n", encoding="utf-8")  # edited data too

    again = copy_template("procurement", tmp_path, say=said.append)
    assert again == path
    assert "legal_team" in [a.id for a in fileio.load(path).actors]
    assert (tmp_path / "sample.csv").read_text(encoding="utf-8") == "case_id,amount\nX-1,5\n"
    assert "Kept your working copy" in said[-1] and "overwrite=True" in said[-1]


def test_copy_template_overwrite_backs_up_the_edited_copy(tmp_path: Path) -> None:
    path = copy_template("procurement", tmp_path, say=None)
    StudioController(path).add_actor("human", "legal_team", capacity=2)
    edited = path.read_text(encoding="utf-8")
    said: list[str] = []
    copy_template("procurement", tmp_path, overwrite=True, say=said.append)
    assert "legal_team" not in path.read_text(encoding="utf-8")
    newest = _backup.backups(path)[-1]
    assert newest.read_text(encoding="utf-8") == edited
    assert str(newest) in said[-1]


def test_every_notebook_run_twice_keeps_the_edits_made_between_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run each notebook's setup cells (the same text the notebooks hold), edit, run them again."""
    script = _notebook_script()
    monkeypatch.setenv("STUDIO_WORK", str(tmp_path / ".work"))
    setup = script.SETUP[1]
    for name, cells in script.NOTEBOOK_CELLS.items():
        opening = [source for _, source in cells if "copy_template(" in source and "import" not in source]
        assert opening, f"{name} opens no working copy"

        def run(opening: list[str] = opening) -> Path:
            namespace: dict[str, Any] = {}
            exec(setup, namespace)
            for source in opening:
                exec(source, namespace)
            return Path(namespace["path"])

        path = run()
        assert path.is_relative_to(tmp_path)
        StudioController(path).update_metadata(description=f"edited by the room in {name}")
        assert run() == path
        assert fileio.load(path).metadata.description == f"edited by the room in {name}", name


def test_the_workshop_edit_cells_do_not_fail_on_a_second_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _notebook_script()
    monkeypatch.setenv("STUDIO_WORK", str(tmp_path / ".work"))
    cells = [source for kind, source in script.WORKSHOP if kind != "md"][:5]  # setup, open, map, connect
    for _ in range(2):
        namespace: dict[str, Any] = {"display": lambda *_: None}
        for source in cells:
            exec(source, namespace)
    workflow = fileio.load(namespace["path"])
    assert workflow.node_ids.count("legal_review") == 1 and "legal_team" in [a.id for a in workflow.actors]


# --------------------------------------------------------------------------- backups


def test_autosave_keeps_rotating_backups_next_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_backup, "KEEP", 3)
    path = copy_template("support_triage", tmp_path, say=None)
    original = path.read_text(encoding="utf-8")
    studio = StudioController(path)
    for number in range(5):
        studio.update_metadata(description=f"version {number}")
    kept = _backup.backups(path)
    assert [p.parent.name for p in kept] == [".studio-backups"] * 3
    assert "version 3" in kept[-1].read_text(encoding="utf-8")  # the one before the last save
    assert original not in [p.read_text(encoding="utf-8") for p in kept]  # older ones rotated out
    assert "version 4" in path.read_text(encoding="utf-8")


def test_save_over_another_file_keeps_that_file(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(fileio.dumps(StudioController.blank("someone_elses")), encoding="utf-8")
    studio = StudioController(copy_template("procurement", tmp_path / "p", say=None))
    studio.save(other)
    assert "kept as" in studio.message
    assert "someone_elses" in _backup.backups(other)[-1].read_text(encoding="utf-8")


# --------------------------------------------------------------------------- blank start


def test_studio_new_without_a_template_is_blank_and_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "claims", "-C", str(tmp_path)]) == 0
    assert "blank" in capsys.readouterr().out
    path = tmp_path / "claims" / "workflow.yaml"
    workflow = fileio.load(path)
    assert workflow.metadata.name == "claims"
    assert [n.kind for n in workflow.nodes] == ["start", "task", "end"]
    assert validate(workflow) == []
    assert main(["validate", str(path)]) == 0
    assert main(["new", "claims", "-C", str(tmp_path)]) == 2  # kept
    assert main(["new", "claims", "-C", str(tmp_path), "--force"]) == 0
    assert _backup.backups(path)  # --force kept the previous file


def test_new_blank_in_the_studio_is_undoable_and_saved(tmp_path: Path) -> None:
    path = copy_template("procurement", tmp_path, say=None)
    studio = Studio(path)
    studio.blank_button.click()
    assert [n.id for n in studio.controller.workflow.nodes] == ["start", "first_step", "end"]
    assert fileio.load(path).node_ids == ["start", "first_step", "end"]
    assert "first_step" in studio.diagram.value
    studio.undo_button.click()
    assert "manager_approval" in fileio.load(path).node_ids
    with pytest.raises(ValueError, match="not a valid workflow name"):
        studio.controller.new_blank("bad name!")


# --------------------------------------------------------------------------- findings keep their place


def _line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def test_findings_keep_line_and_column_after_an_edit(tmp_path: Path) -> None:
    path = copy_template("procurement", tmp_path, say=None)
    studio = StudioController(path)
    studio.update_node("receive_goods", sla=None)  # G003 on an element that was in the file
    studio.add_node("task", "legal_review", actor="line_managers")  # S005 etc. on a new element
    found = {(f.code, f.location): f for f in studio.findings}
    assert all(f.line is not None and f.file == str(path) for f in found.values())
    index = studio.workflow.node_ids.index("legal_review")
    new = [f for f in found.values() if f.location.startswith(f"nodes[{index}]")]
    assert new and all(f.line == _line_of(path, "id: legal_review") for f in new)  # its own entry, not `nodes:`
    old = next(f for f in found.values() if f.code == "G003" and "receive_goods" in f.message)
    assert old.line == _line_of(path, "id: receive_goods")


def test_a_node_only_in_memory_is_reported_as_not_saved_yet(tmp_path: Path) -> None:
    path = copy_template("procurement", tmp_path, say=None)
    studio = StudioController(path, autosave=False)
    lines = path.read_text(encoding="utf-8").splitlines()
    studio.add_node("task", "legal_review", actor="line_managers")
    studio.update_node("receive_goods", sla=None)
    index = studio.workflow.node_ids.index("legal_review")
    new = [f for f in studio.findings if f.location.startswith(f"nodes[{index}]")]
    assert new and all(f.line is None and f.file and f.file.endswith("(not saved yet)") for f in new)
    assert all("(not saved yet)" in line for line in studio.finding_lines() if "legal_review" in line)
    old = next(f for f in studio.findings if f.code == "G003" and "receive_goods" in f.message)
    assert old.file == str(path) and "receive_goods" in lines[(old.line or 0) - 1]  # found by its id
    studio.save()
    assert all(f.line is not None for f in studio.findings)


def test_a_failed_autosave_marks_new_elements_not_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = copy_template("procurement", tmp_path, say=None)
    studio = StudioController(path)

    def refuse(*_: Any, **__: Any) -> Path:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(fileio, "atomic_write", refuse)
    studio.add_node("task", "legal_review", actor="line_managers")
    assert studio.save_error is not None
    assert any((f.file or "").endswith("(not saved yet)") for f in studio.findings)
    assert os.path.getsize(path) > 0 and "legal_review" not in path.read_text(encoding="utf-8")


def test_g003_hint_points_only_to_settings_that_exist() -> None:
    from studio.model import Policies, Workflow

    workflow = StudioController.blank("hints")
    data = fileio.to_data(workflow)
    data["nodes"][1].pop("sla")
    data.pop("policies")
    found = [f for f in validate(Workflow.model_validate(data)) if f.code == "G003"]
    assert len(found) == 1 and "human task" in found[0].message
    hint = found[0].hint
    assert "`policies.approval_sla` covers approvals only" in hint and "`policies.escalate_to`" in hint
    for setting in ("approval_sla", "escalate_to"):
        assert setting in Policies.model_fields


def test_import_force_and_the_demo_keep_what_was_there(tmp_path: Path) -> None:
    out = tmp_path / "workflow.yaml"
    out.write_text(fileio.dumps(StudioController.blank("edited_by_hand")), encoding="utf-8")
    source = ROOT / "tests" / "fixtures" / "bpmn" / "camunda_invoice.bpmn"
    assert main(["import", str(source), "-o", str(out), "--force"]) == 0
    assert "edited_by_hand" in _backup.backups(out)[-1].read_text(encoding="utf-8")

    from studio.demo import one_template

    folder = tmp_path / "demo"
    copy_template("support_triage", folder / "support_triage", say=None)
    StudioController(folder / "support_triage" / "workflow.yaml").update_metadata(description="room edit")
    one_template("support_triage", 5, folder)
    kept = _backup.backups(folder / "support_triage" / "workflow.yaml")
    assert any("room edit" in path.read_text(encoding="utf-8") for path in kept)


def test_the_problem_list_says_not_saved_yet_when_the_autosave_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio = Studio(copy_template("procurement", tmp_path, say=None))

    def refuse(*_: Any, **__: Any) -> Path:
        raise OSError(30, "Read-only file system", str(tmp_path / "workflow.yaml"))

    monkeypatch.setattr(fileio, "atomic_write", refuse)
    studio.controller.add_node("task", "legal_review", actor="line_managers")
    labels = [label for label, _ in studio.findings_list.options if "legal_review" in label]
    assert labels and all("(not saved yet)" in label for label in labels)
    assert "Could not save" in studio.status.value
    monkeypatch.undo()  # the file can be written again: the next autosave places the problems in it
    studio.controller.update_metadata(description="saved again")
    labels = [label for label, _ in studio.findings_list.options if "legal_review" in label]
    assert labels and not any("(not saved yet)" in label for label in labels)
    assert labels == [line for line in studio.controller.finding_lines() if "legal_review" in line]
