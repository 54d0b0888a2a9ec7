"""The model and its files: every error located, saves atomic, round trips exact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import studio
from studio import fileio
from studio.model import Fixed, Triangular, Workflow, format_duration, iso_duration, parse_duration, parse_rate


def _problems(text: str) -> list[studio.Finding]:
    with pytest.raises(studio.LoadError) as caught:
        studio.loads(text, "wf.yaml")
    assert isinstance(caught.value, ValueError)
    return caught.value.findings


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20s", 20), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1.5h", 5400), ("500ms", 0.5), (30, 30), ("1w", 604800)],
)
def test_durations_with_units(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["3 hours", "h", "-5m", "1y", "", True])
def test_bad_durations_say_how_to_write_one(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**7))
def test_duration_format_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_rates() -> None:
    assert parse_rate("12/h") == pytest.approx(12 / 3600)
    assert parse_rate("100/1m") == pytest.approx(100 / 60)
    with pytest.raises(ValueError, match="rate"):
        parse_rate("fast")


def test_duration_shorthand_and_distributions(base_path: Path) -> None:
    wf = studio.loads(
        "metadata: {name: x}\n"
        "actors:\n"
        "  - {id: a, kind: agent, behaviour: {duration: 20s}}\n"
        "  - {id: b, kind: agent, behaviour: {duration: {dist: triangular, low: 1m, mode: 2m, high: 10m}}}\n"
    )
    assert wf.actors[0].behaviour.duration == Fixed(dist="fixed", value=20)
    assert isinstance(wf.actors[1].behaviour.duration, Triangular)
    assert "duration: 20s" in studio.dumps(wf)


def test_errors_name_file_line_column_and_fix() -> None:
    text = (
        "metadata:\n"
        "  name: demo\n"
        "  version: 1.0\n"
        "nodes:\n"
        "  - {id: start, kind: strat}\n"
        "  - id: work\n"
        "    kind: task\n"
        "    actr: clerks\n"
        "    sla: 3 hours\n"
        "edges:\n"
        "  - {from: start, too: work}\n"
    )
    problems = _problems(text)
    got = {(f.line, f.location): f for f in problems}
    assert all(f.file == "wf.yaml" and f.code == "L003" for f in problems)
    assert "put the value in quotes" in got[(3, "metadata.version")].hint
    assert "`strat`" in got[(5, "nodes[0]")].message and "task" in got[(5, "nodes[0]")].hint
    assert got[(8, "nodes[1].actr")].hint == "did you mean `actor`?"
    assert "`3 hours` is not a duration" in got[(9, "nodes[1].sla")].message
    assert got[(11, "edges[0].too")].hint == "did you mean `to`?"
    assert (11, "edges[0].to") in got  # the missing `to` is reported too
    assert [f.column for f in problems if f.line == 8] == [5]


def test_every_problem_is_reported_at_once() -> None:
    text = "metadata: {name: x}\nnodes:\n" + "".join(f"  - {{id: n{i}, kind: nope}}\n" for i in range(5))
    assert [f.line for f in _problems(text)] == [3, 4, 5, 6, 7]


def test_broken_yaml_names_the_line() -> None:
    problems = _problems("metadata:\n  name: x\nnodes:\n  - {id: a, kind: start\n  - {id: b}\n")
    assert [(p.code, p.line) for p in problems] == [("L002", 5)]


def test_duplicate_keys_are_refused() -> None:
    problems = _problems("metadata:\n  name: x\n  name: y\n")
    assert problems[0].code == "L002" and "twice" in problems[0].message


def test_not_a_mapping() -> None:
    assert _problems("- just\n- a list\n")[0].code == "L003"


def test_missing_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(studio.LoadError, match="does not exist"):
        studio.load(tmp_path / "nope.yaml")


def test_unknown_fields_rejected_everywhere() -> None:
    for snippet in ("policies: {max_turn: 3}", "simulation: {sed: 3}", "metadata: {name: x, ownr: me}"):
        text = "metadata: {name: x}\n" + snippet + "\n" if not snippet.startswith("metadata") else snippet + "\n"
        assert any("unknown field" in p.message for p in _problems(text)), snippet


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_load_save_load_is_equal(base_path: Path, tmp_path: Path, suffix: str) -> None:
    original = studio.load(base_path)
    out = studio.save(original, tmp_path / f"copy{suffix}")
    again = studio.load(out)
    assert again == original
    assert studio.dumps(again) == studio.dumps(original)
    if suffix == ".json":
        assert json.loads(out.read_text())["apiVersion"] == "studio/v1"


def test_templates_round_trip(tmp_path: Path) -> None:
    for template in studio.list_templates():
        original = template.load()
        assert studio.load(studio.save(original, tmp_path / f"{template.name}.yaml")) == original


def test_save_is_atomic(base_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "wf.yaml"
    target.write_text("precious: content\n")
    workflow = studio.load(base_path)

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        studio.save(workflow, target)
    assert target.read_text() == "precious: content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["wf.yaml"]  # no temporary file left behind


def test_loading_never_runs_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f"metadata: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(studio.LoadError):
        studio.loads(text)
    assert not marker.exists()


def test_equality_ignores_where_it_was_loaded_from(base_path: Path) -> None:
    assert studio.load(base_path) == studio.loads(base_path.read_text())


def test_cases_csv_and_jsonl(tmp_path: Path) -> None:
    csv_path = tmp_path / "cases.csv"
    csv_path.write_text("case_id,amount,urgent,note\nc1,100,true,\nc2,2.5,false,hello\n")
    cases = fileio.load_cases(csv_path)
    assert cases.columns == ["case_id", "amount", "urgent", "note"]
    assert cases.rows[0] == {"case_id": "c1", "amount": 100, "urgent": True, "note": None}
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_text('{"case_id": "c1", "amount": 5}\n\n{"case_id": "c2", "vip": true}\n')
    assert fileio.load_cases(jsonl).columns == ["case_id", "amount", "vip"]


def test_bad_case_data_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("case_id,amount\nc1,100\nc2,1,2\n")
    with pytest.raises(studio.LoadError) as caught:
        fileio.load_cases(bad)
    assert [(f.code, f.line) for f in caught.value.findings] == [("L004", 3)]
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(studio.LoadError) as caught:
        fileio.load_cases(jsonl)
    assert caught.value.findings[0].line == 2


def test_workflow_schema_is_committed_and_current() -> None:
    from studio.model import json_schema

    committed = Path(__file__).resolve().parents[1] / "schemas" / "workflow.schema.json"
    expected = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    assert committed.read_text() == expected, "run `studio schema -o schemas/workflow.schema.json`"


def test_templates_validate_against_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from studio.model import json_schema

    validator = jsonschema.Draft202012Validator(json_schema())
    for template in studio.list_templates():
        validator.validate(fileio.to_data(template.load()))


def test_workflow_lookups(base_path: Path) -> None:
    wf: Workflow = studio.load(base_path)
    assert wf.node("review").kind == "approval"
    assert wf.actor_of("review").id == "managers"  # type: ignore[union-attr]
    assert wf.actor_of("fork") is None
    with pytest.raises(KeyError):
        wf.node("nope")


def test_iso_durations_for_exports() -> None:
    assert [iso_duration(s) for s in (0, 59, 3600, 4 * 3600, 86400 * 5, 86400 + 5400)] == [
        "PT0S", "PT59S", "PT1H", "PT4H", "P5D", "P1DT1H30M"]
    assert [iso_duration(s) for s in (0, 0.5, 90, 3600, 86400, 2 * 86400 + 4 * 3600)] == [
        "PT0S", "PT0.5S", "PT1M30S", "PT1H", "P1D", "P2DT4H"]
