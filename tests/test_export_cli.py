"""``studio export`` and ``studio import`` through ``studio.cli.main``: outputs, refusals and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, TEMPLATES
from ruamel.yaml import YAML

from studio import fileio
from studio.cli import main
from studio.export import TARGETS, export_as

BASE = FIXTURES / "valid" / "base.yaml"
TEMPLATE_FILES = sorted(TEMPLATES.glob("*/workflow.yaml")) or [BASE]
WORKFLOWS = [*TEMPLATE_FILES, BASE]
SUFFIX = {"controlplane": "json", "bpmn": "bpmn", "langgraph": "py", "mermaid": "mmd", "serverless": "yaml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.parent.name if p.name == "workflow.yaml" else p.stem
                                                  for p in WORKFLOWS])
def test_every_workflow_exports_to_every_target(path: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    workflow = fileio.load(path)
    for target in TARGETS:
        out = tmp_path / f"out.{SUFFIX[target]}"
        assert main(["export", str(path), "--to", target, "-o", str(out)]) == 0, target
        assert out.read_bytes() == export_as(workflow, target)
        assert f"wrote {out}" in capsys.readouterr().err


def test_export_to_standard_output_and_yaml_by_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(BASE), "--to", "controlplane"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "AgentWorkflow"
    out = tmp_path / "definition.yaml"
    assert main(["export", str(BASE), "--to", "controlplane", "-o", str(out)]) == 0
    assert YAML(typ="safe").load(out.read_text(encoding="utf-8")) == document


def test_export_attaches_evidence(tmp_path: Path) -> None:
    (tmp_path / "kpis.json").write_text('{"gold_pass_rate": 1.0, "cases": 10}', encoding="utf-8")
    out = tmp_path / "definition.json"
    assert main(["export", str(BASE), "--to", "controlplane", "-o", str(out), "--evidence", str(tmp_path)]) == 0
    assert json.loads(out.read_text())["evidence"]["simulation"]["gold_pass_rate"] == 1.0
    assert main(["export", str(BASE), "--to", "controlplane", "--evidence", str(tmp_path / "nothing")]) == 2
    assert main(["export", str(BASE), "--to", "bpmn", "--evidence", str(tmp_path)]) == 2


def test_export_records_the_gold_gate_given(tmp_path: Path) -> None:
    (tmp_path / "kpis.json").write_text('{"cases": 10}', encoding="utf-8")
    (tmp_path / "gold.json").write_text('{"pass_rate": 0.95, "passed": 19, "total": 20}', encoding="utf-8")
    out = tmp_path / "definition.json"
    args = ["export", str(BASE), "--to", "controlplane", "-o", str(out), "--evidence", str(tmp_path)]
    assert main([*args, "--min-pass", "0.9"]) == 0
    gate = json.loads(out.read_text())["evidence"]["gold_gate"]
    assert gate == {"min_pass_rate": 0.9, "source": "given", "gold_pass_rate": 0.95, "passed": True}
    assert main([*args, "--min-pass", "95"]) == 2
    assert main(["export", str(BASE), "--to", "bpmn", "--min-pass", "0.9"]) == 2


@pytest.mark.parametrize("target", TARGETS)
def test_export_refuses_error_findings(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["export", str(FIXTURES / "invalid" / "G001.yaml"), "--to", target, "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "G001 error" in captured.out
    assert "not exported" in captured.err
    assert not out.exists()


def test_strict_refuses_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warned = FIXTURES / "invalid" / "G003.yaml"
    assert main(["export", str(warned), "--to", "controlplane", "-o", str(tmp_path / "a.json")]) == 0
    assert main(["export", str(warned), "--to", "controlplane", "-o", str(tmp_path / "b.json"), "--strict"]) == 1
    assert "G003 warning" in capsys.readouterr().out
    assert not (tmp_path / "b.json").exists()


def test_export_of_unreadable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "missing.yaml"), "--to", "bpmn"]) == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("nodes: [", encoding="utf-8")
    assert main(["export", str(broken), "--to", "bpmn"]) == 2
    assert "L002" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["export", str(BASE), "--to", "pdf"])
    assert caught.value.code == 2


def test_import_writes_the_workflow_and_prints_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "invoice" / "workflow.yaml"
    source = FIXTURES / "bpmn" / "camunda_invoice.bpmn"
    assert main(["import", str(source), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "B003 warning" in captured.out and "B008 warning" in captured.out
    assert f"wrote {out}" in captured.err
    workflow = fileio.load(out)
    assert workflow.metadata.name == "invoice_approval"
    # refuses to overwrite without --force, and leaves the file alone
    before = out.read_text(encoding="utf-8")
    assert main(["import", str(source), "-o", str(out), "--name", "other"]) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == before
    assert main(["import", str(source), "-o", str(out), "--name", "other", "--force"]) == 0
    assert fileio.load(out).metadata.name == "other"


def test_import_of_a_studio_export_round_trips(tmp_path: Path) -> None:
    bpmn = tmp_path / "base.bpmn"
    assert main(["export", str(BASE), "--to", "bpmn", "-o", str(bpmn)]) == 0
    out = tmp_path / "back.yaml"
    assert main(["import", str(bpmn), "-o", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    assert main(["diff", str(BASE), str(out)]) == 0  # no governance flags


def test_import_of_unreadable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.yaml"
    assert main(["import", str(FIXTURES / "bpmn" / "not_bpmn.xml"), "-o", str(out)]) == 2
    assert "B000" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.bpmn"), "-o", str(out)]) == 2
    assert not out.exists()
