"""`studio render` and `studio analyze`: files written, reports printed, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, TEMPLATES

from studio import fileio
from studio.cli import main
from studio.render import to_dot, to_mermaid

ANALYSIS = FIXTURES / "analysis"
PROCUREMENT = TEMPLATES / "procurement" / "workflow.yaml"


# --------------------------------------------------------------------------- render


@pytest.mark.parametrize("suffix", ["svg", "png", "dot", "mmd"])
def test_render_every_format(suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"procurement.{suffix}"
    assert main(["render", str(PROCUREMENT), "-o", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 1000
    assert f"wrote {out}" in capsys.readouterr().err
    workflow = fileio.load(PROCUREMENT)
    if suffix == "dot":
        assert out.read_text(encoding="utf-8") == to_dot(workflow)
    if suffix == "mmd":
        assert out.read_text(encoding="utf-8") == to_mermaid(workflow)


def test_render_lanes_by_kind(tmp_path: Path) -> None:
    out = tmp_path / "p.dot"
    assert main(["render", str(PROCUREMENT), "-o", str(out), "--lanes", "kind"]) == 0
    assert "subgraph cluster_human" in out.read_text(encoding="utf-8")
    assert main(["render", str(PROCUREMENT), "-o", str(tmp_path / "n.mmd"), "--lanes", "none"]) == 0
    assert "subgraph" not in (tmp_path / "n.mmd").read_text(encoding="utf-8")


def test_render_with_findings_outlines_them(tmp_path: Path) -> None:
    out = tmp_path / "g001.dot"
    assert main(["render", str(FIXTURES / "invalid" / "G001.yaml"), "-o", str(out), "--findings"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "G001 error" in text and 'color="#D32F2F"' in text and "error(s)" in text


def test_render_with_findings_uses_the_sample_data(tmp_path: Path) -> None:
    folder = tmp_path / "wf"
    folder.mkdir()
    workflow = fileio.load(FIXTURES / "valid" / "base.yaml")
    workflow.simulation.sample_data = "cases.csv"
    fileio.save(workflow, folder / "workflow.yaml")
    (folder / "cases.csv").write_text("id,total\n1,500\n", encoding="utf-8")  # no `amount` column
    out = tmp_path / "base.dot"
    assert main(["render", str(folder / "workflow.yaml"), "-o", str(out), "--findings"]) == 0
    assert "D001 error" in out.read_text(encoding="utf-8")


def test_render_unknown_suffix_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(PROCUREMENT), "-o", str(tmp_path / "x.pdf")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("studio: error: cannot tell the diagram format") and ".svg" in err
    assert not (tmp_path / "x.pdf").exists()


def test_render_unreadable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(tmp_path / "missing.yaml"), "-o", str(tmp_path / "x.svg")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_render_without_graphviz_exits_2_with_one_line(suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert main(["render", str(PROCUREMENT), "-o", str(tmp_path / f"x.{suffix}")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "apt-get install graphviz" in err and "conda install graphviz" in err and "brew install graphviz" in err
    assert main(["render", str(PROCUREMENT), "-o", str(tmp_path / "x.dot")]) == 0


# --------------------------------------------------------------------------- analyze


def test_analyze_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(ANALYSIS / "chain4.yaml")]) == 0
    out = capsys.readouterr().out
    assert "a1 -> a2" in out and "agent->agent" in out
    assert "End-to-end success estimate: 96.1%" in out  # 0.99^4: one retry per step (policies.retries)
    assert "Critical path: 6.5m expected" in out
    assert "4 agent(s) -> 6 possible pair(s), 3 hand work to each other directly; one more agent adds 4 (to 10)" in out
    assert "p=1.000   3 hand-off(s)" in out


def test_analyze_text_names_risks_and_loops(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(ANALYSIS / "agent_loop.yaml")]) == 0
    out = capsys.readouterr().out
    assert "draft -> review -> verdict_gate -> draft  AGENT-ONLY" in out
    assert "work comes back: drafter -> reviewer -> drafter" in out
    assert main(["analyze", str(ANALYSIS / "delegation.yaml")]) == 0
    out = capsys.readouterr().out
    assert "reader (read_only) -> writer (restricted_write: update_db) via read -> write" in out
    assert "reader: restricted_write update_db; read_only lookup; writes db, ledger; stopped by approve" in out


def test_analyze_json_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(PROCUREMENT), "--format", "json"]) == 0
    first = capsys.readouterr().out
    assert main(["analyze", str(PROCUREMENT), "--format", "json"]) == 0
    assert capsys.readouterr().out == first
    data = json.loads(first)
    assert json.dumps(data, indent=2, sort_keys=True) + "\n" == first
    assert data["workflow"] == "procurement"
    assert data["routes"]["complete"] is True and data["routes"]["count"] == len(data["routes"]["items"])
    assert {"from": "intake_agent", "to": "vendor_risk_agent"}.items() <= data["interaction_network"][1].items()
    assert data["critical_path"]["nodes"][0] == "start"
    assert 0 < data["success_estimate"]["probability"] < 1
    assert data["success_estimate"]["loops_left_out"] == []  # the send-back loop is walked until its guard
    assert data["success_estimate"]["exact"] is True
    assert [r["delegate"] for r in data["delegation_risks"]] == ["payment_agent", "payment_agent"]


def test_analyze_json_values_on_a_known_workflow(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(ANALYSIS / "parallel.yaml"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["success_estimate"]["probability"] == pytest.approx(0.99 * 0.96 * (0.7 * 0.75 + 0.3))
    assert data["critical_path"]["duration_s"] == 2160 and data["critical_path"]["duration"] == "36m"
    assert [r["handoffs"] for r in data["routes"]["items"]] == [4, 2]
    assert data["routes"]["expected_handoffs"] == pytest.approx(0.7 * 4 + 0.3 * 2)
    assert data["hot_spots"][0] == {"actor": "closer", "kind": "agent", "upstream": ["quick", "slow"],
                                    "handoffs": 2, "weight": 2.0}


def test_analyze_route_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(PROCUREMENT), "--format", "json", "--routes", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["routes"]["count"] == 2 and data["routes"]["complete"] is False
    assert main(["analyze", str(PROCUREMENT), "--routes", "2"]) == 0
    assert "cut off" in capsys.readouterr().out


def test_analyze_unreadable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("metadata: {name: x}\nnodes: [{id: a, kind: wormhole}]\n", encoding="utf-8")
    assert main(["analyze", str(broken)]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "Traceback" not in err
