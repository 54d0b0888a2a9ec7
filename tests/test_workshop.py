"""The `workshop` section: kept exactly through load and save, checked (A007, A008), and ignored by
simulation, every export and `studio diff`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES

import studio
from studio import fileio
from studio.export import TARGETS, diff_workflows, export_as
from studio.model import Workflow

WORKSHOP = FIXTURES / "workshop" / "workflow.yaml"
TEXT = WORKSHOP.read_text()
WITHOUT = TEXT.split("\nworkshop:\n")[0] + "\n"


def _pair(tmp_path: Path) -> tuple[Workflow, Workflow]:
    """The fixture with and without its workshop section, each saved in its own folder with the data."""
    out = []
    for name, text in (("with", TEXT), ("without", WITHOUT)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "sample.csv").write_bytes((WORKSHOP.parent / "sample.csv").read_bytes())
        (folder / "workflow.yaml").write_text(text)
        out.append(fileio.load(folder / "workflow.yaml"))
    return out[0], out[1]


# --------------------------------------------------------------------------- the model


def test_the_fixture_has_notes_and_validates_clean() -> None:
    workflow = fileio.load(WORKSHOP)
    shop = workflow.workshop
    assert shop.date == "2026-11-30" and shop.attendees == ["Maria Lopez (claims lead)", "Tom Berg"]
    notes = shop.nodes["manager_approval"]
    assert notes.raci.responsible == ["managers"] and notes.raci.consulted == ["Legal team"]
    assert [q.status for q in notes.questions] == ["open", "answered"]
    assert notes.decisions[0].when == "2026-11-30" and notes.decisions[1].when is None
    assert studio.validate(workflow, data=WORKSHOP.parent / "sample.csv") == []


def test_load_save_load_keeps_the_section_exactly(tmp_path: Path) -> None:
    workflow = fileio.load(WORKSHOP)
    for suffix in (".yaml", ".json"):
        path = fileio.save(workflow, tmp_path / f"again{suffix}")
        again = fileio.load(path)
        assert again == workflow
        assert again.workshop.model_dump() == workflow.workshop.model_dump()
        assert fileio.save(again, tmp_path / f"third{suffix}").read_text() == path.read_text()
    text = fileio.dumps(workflow)
    assert "workshop:\n  date: '2026-11-30'\n" in text
    assert fileio.dumps(fileio.loads(text)) == text


def test_a_file_without_the_section_loads_and_saves_without_it() -> None:
    workflow = fileio.loads(WITHOUT)
    assert workflow.workshop.nodes == {} and workflow.workshop.attendees == []
    assert "workshop" not in fileio.dumps(workflow)
    assert "workshop" not in fileio.dumps(workflow, "json")


def test_the_schema_accepts_the_section_and_refuses_a_bad_day() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from studio.model import json_schema

    validator = jsonschema.Draft202012Validator(json_schema())
    data = fileio.to_data(fileio.load(WORKSHOP))
    assert list(validator.iter_errors(data)) == []
    data["workshop"]["date"] = "30/11/2026"
    assert list(validator.iter_errors(data))


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        ("  date: 2026-11-30", "`workshop.date`: `30.11.2026` is not a day"),
        ("      questions:\n        - {text: Which", "unknown field `questons`"),
        ("        - {text: Directors take escalations}", "`workshop.nodes.manager_approval.decisions"),
    ],
    ids=["date", "typo", "empty-text"],
)
def test_bad_notes_are_load_errors_that_name_the_place(replace: str, expected: str) -> None:
    broken = {
        "  date: 2026-11-30": "  date: 30.11.2026",
        "      questions:\n        - {text: Which": "      questons:\n        - {text: Which",
        "        - {text: Directors take escalations}": "        - {text: ''}",
    }[replace]
    assert replace in TEXT
    with pytest.raises(studio.LoadError) as caught:
        fileio.loads(TEXT.replace(replace, broken), "notes.yaml")
    finding = caught.value.findings[0]
    assert finding.code == "L003" and expected in finding.message, finding.format()
    assert finding.line is not None and finding.line > TEXT[: TEXT.index("workshop:")].count("\n")


def test_raci_entries_written_as_ids_must_name_actors() -> None:
    text = TEXT.replace("accountable: [directors]", "accountable: [directrs, CFO, Head of claims]")
    findings = studio.validate(fileio.loads(text, WORKSHOP))
    assert [(f.code, f.severity.value) for f in findings] == [("A007", "warning")]
    finding = findings[0]
    assert finding.location == "workshop.nodes.manager_approval.raci.accountable[0]"
    assert "`directrs`" in finding.message and "did you mean `directors`?" in finding.hint
    assert finding.line == text.splitlines().index("        accountable: [directrs, CFO, Head of claims]") + 1


def test_notes_on_a_renamed_step_are_pointed_out() -> None:
    text = TEXT.replace("    intake:\n      raci:", "    intak:\n      raci:")
    findings = studio.validate(fileio.loads(text, WORKSHOP))
    assert [(f.code, f.location) for f in findings] == [("A008", "workshop.nodes.intak")]
    assert "did you mean `intake`?" in findings[0].hint


# --------------------------------------------------------------------------- ignored by everything that runs


@pytest.mark.parametrize("target", [t for t in TARGETS if t != "controlplane"])
def test_exports_are_byte_identical_with_and_without_the_section(target: str, tmp_path: Path) -> None:
    with_notes, without = _pair(tmp_path)
    assert export_as(with_notes, target) == export_as(without, target)


def test_the_langgraph_application_is_identical_with_and_without_the_section(tmp_path: Path) -> None:
    from studio.export import langgraph_app_files

    with_notes, without = _pair(tmp_path)
    assert langgraph_app_files(with_notes) == langgraph_app_files(without)


def test_the_control_plane_definition_differs_only_in_the_input_file_digest(tmp_path: Path) -> None:
    with_notes, without = _pair(tmp_path)
    a = json.loads(export_as(with_notes, "controlplane"))
    b = json.loads(export_as(without, "controlplane"))
    assert a["spec"] == b["spec"] and a["metadata"] == b["metadata"]  # content_hash included
    digests = [doc["evidence"]["inputs"][0] for doc in (a, b)]
    assert digests[0]["role"] == "workflow" and digests[0]["sha256"] != digests[1]["sha256"]
    for doc in (a, b):
        doc["evidence"]["inputs"][0].pop("sha256")
    assert a == b


def test_diff_ignores_the_section(tmp_path: Path) -> None:
    with_notes, without = _pair(tmp_path)
    changed = with_notes.model_copy(deep=True)
    changed.workshop.nodes["manager_approval"].questions[0].status = "answered"
    for old, new in ((without, with_notes), (with_notes, without), (with_notes, changed)):
        result = diff_workflows(old, new)
        assert result.changes == () and result.flags == ()


def test_the_diff_command_reports_no_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from studio.cli import main

    with_notes, without = _pair(tmp_path)
    assert main(["diff", str(without.source.path), str(with_notes.source.path)]) == 0
    assert capsys.readouterr().out.strip() == "`claims` 1.2.0 -> `claims` 1.2.0: no changes"


def test_simulation_figures_do_not_depend_on_the_section(tmp_path: Path) -> None:
    from studio.simulate import simulate

    with_notes, without = _pair(tmp_path)
    a = simulate(with_notes, cases=12, seed=4)
    b = simulate(without, cases=12, seed=4)
    assert a.kpis == b.kpis


def test_the_documented_example_loads_and_validates(tmp_path: Path) -> None:
    import re

    from conftest import ROOT

    doc = (ROOT / "docs" / "workflow-format.md").read_text()
    match = re.search(r"## Workshop notes.*?```yaml\n(.*?)```", doc, flags=re.S)
    assert match is not None
    template = ROOT / "templates" / "procurement"
    for name in ("sample.csv", "gold.csv"):
        (tmp_path / name).write_bytes((template / name).read_bytes())
    (tmp_path / "workflow.yaml").write_text((template / "workflow.yaml").read_text() + match.group(1))
    workflow = fileio.load(tmp_path / "workflow.yaml")
    assert workflow.workshop.nodes["manager_approval"].raci.informed == ["ap_team", "Requesters"]
    assert studio.validate(workflow, data=tmp_path / "sample.csv") == []
