"""Subworkflow expansion: the referenced workflow's steps run inside the case (docs/semantics.md,
"Subworkflows"), on both engines, with their KPIs attributed; cycles, invalid and missing refs."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES

import studio
from studio import fileio
from studio.cli import main
from studio.errors import WorkflowInvalid
from studio.expand import expand, resolve_ref
from studio.simulate import Walkthrough, compile, run_gold, simulate
from studio.simulate.compiler import build_plan

SIM = FIXTURES / "simulate"
SUB = SIM / "subworkflow"


def _path(case: dict[str, object]) -> list[str]:
    return [str(step[0]) for step in case["steps"]]  # type: ignore[attr-defined]


def _both(path: Path, **options: object) -> tuple[studio.simulate.Results, studio.simulate.Results]:
    kernel = simulate(path, engine="kernel", verify=0, **options)  # type: ignore[arg-type]
    langgraph = simulate(path, engine="langgraph", **options)  # type: ignore[arg-type]
    return kernel, langgraph


def _assert_identical(kernel: studio.simulate.Results, langgraph: studio.simulate.Results) -> None:
    for mine, theirs in zip(kernel.payloads, langgraph.payloads, strict=True):
        for a, b in zip(mine["cases"], theirs["cases"], strict=True):
            assert json.dumps(a) == json.dumps(b), f"case {a['case_id']} differs"
    strip = ("engine",)
    assert json.dumps({k: v for k, v in kernel.kpis.items() if k not in strip}) == \
        json.dumps({k: v for k, v in langgraph.kpis.items() if k not in strip})


# --------------------------------------------------------------------------- known answers


def test_two_fixed_steps_in_a_subworkflow_give_a_known_cycle_time_and_cost() -> None:
    # 1m + (5m + 10m) + 2m = 1080s for every case; cost 0.1 + (0.5 + 1.0) + 0.2 = 1.8
    results = simulate(SIM / "sub_parent.yaml", cases=12, seed=1)
    kpis = results.kpis
    assert kpis["status"]["completed"] == 12
    assert kpis["cycle_time"] == {"unit": "s", "mean": 1080.0, "p50": 1080.0, "p95": 1080.0, "max": 1080.0}
    assert kpis["cost"] == {"per_case": 1.8, "total": 21.6}
    assert kpis["outcomes"] == {"filed": 12}  # the sub's end (`signed`) does not end the case
    first = results.payloads[0]["cases"][0]
    assert _path(first) == ["start", "intake", "review__start", "review__check", "review__sign", "review__signed",
                            "review", "file", "done"]


def test_the_subworkflow_is_reported_as_a_whole_and_its_steps_one_by_one() -> None:
    results = simulate(SIM / "sub_parent.yaml", cases=12, seed=1)
    assert results.kpis["subworkflows"] == {"review": {
        "ref": "sub_review.yaml", "steps_prefix": "review__", "cases": 12, "visits": 12, "returned": 12,
        "time": {"unit": "s", "mean": 900.0, "p50": 900.0, "p95": 900.0, "max": 900.0},
        "cost": {"per_visit": 1.5, "total": 18.0},
    }}
    figures = results.node_figures()
    assert figures["review__check"]["visits"] == 12 and figures["review__sign"]["visits"] == 12
    steps = [s for s in results.iter_steps() if s["case_id"] == "0"]
    kinds = {s["node"]: s["kind"] for s in steps}
    assert kinds["review__start"] == "sub_start" and kinds["review__signed"] == "sub_end"
    assert kinds["review"] == "sub_return" and kinds["review__check"] == "task"
    assert next(s for s in steps if s["node"] == "review__signed")["decision"] == "signed"  # the sub's outcome
    check = next(s for s in steps if s["node"] == "review__check")
    assert (check["start"], check["end"], check["actor"], check["cost"]) == (60.0, 360.0, "robot", 0.5)
    assert results.kpis["interaction_network"] == [{"from": "robot", "to": "signer", "count": 12},
                                                   {"from": "signer", "to": "robot", "count": 12}]


def test_a_workflow_without_subworkflows_is_not_touched() -> None:
    workflow = fileio.load(SIM / "chain.yaml")
    assert expand(workflow).workflow is workflow
    compiled = compile(workflow)
    assert compiled.expanded is compiled.workflow and compiled.plan.subworkflows == ()
    assert "subworkflows" not in simulate(workflow, cases=5).kpis


def test_nested_subworkflows_with_two_ends_meet_a_join_and_approve_at_their_rate() -> None:
    # sub_approve approves 70% (then runs sub_review nested: 15m), rejects 30%; its decision reads
    # `sign_decision`, the approval's own field inside the parent too
    n = 400
    kernel, langgraph = _both(SIM / "sub_nested.yaml", cases=n, seed=21)
    _assert_identical(kernel, langgraph)
    kpis = kernel.kpis
    assert kpis["status"] == {"completed": n, "failed": 0, "killed": 0, "stuck": 0}
    subs = kpis["subworkflows"]
    assert set(subs) == {"outer", "outer__again"}
    approved = subs["outer__again"]["visits"]
    assert abs(approved - 0.7 * n) < 4 * math.sqrt(n * 0.7 * 0.3)
    assert subs["outer__again"]["time"]["mean"] == 900.0
    # in `outer`: 30m approval, plus 15m when approved
    assert subs["outer"]["time"]["p95"] == 2700.0
    assert subs["outer"]["time"]["mean"] == pytest.approx((approved * 2700 + (n - approved) * 1800) / n, rel=1e-5)
    ends = {s["decision"] for s in kernel.iter_steps() if s["node"] in ("outer__approved", "outer__rejected")}
    assert ends == {"approved", "rejected"}


def test_gold_paths_and_scripts_name_the_expanded_steps(tmp_path: Path) -> None:
    for name in ("sub_nested.yaml", "sub_approve.yaml", "sub_review.yaml"):
        shutil.copy(SIM / name, tmp_path / name)
    gold = tmp_path / "gold.csv"
    with gold.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "human_decisions", "expected_path", "expected_outcome"])
        # within a superstep, steps in file order: the subworkflow's steps stand where its node stands
        writer.writerow(["r", "outer__sign=reject", "start>fork>outer__start>notify>outer__sign>outer__signed>"
                         "outer__rejected>outer>both>done", "done"])
    report = run_gold(fileio.load(tmp_path / "sub_nested.yaml"), gold)
    assert report.passed == 1, report.summary()


def test_the_walkthrough_asks_at_the_subworkflows_approval() -> None:
    walk = Walkthrough(compile(fileio.load(SIM / "sub_nested.yaml")), case={"case_id": "w"})
    question = walk.start()
    assert question is not None and question["node"] == "outer__sign"


# --------------------------------------------------------------------------- both engines, CLI


def test_kernel_and_langgraph_agree_byte_for_byte(tmp_path: Path) -> None:
    kernel = simulate(SIM / "sub_parent.yaml", cases=30, seed=2, engine="kernel", verify=5, out=tmp_path / "k")
    langgraph = simulate(SIM / "sub_parent.yaml", cases=30, seed=2, engine="langgraph", out=tmp_path / "l")
    assert kernel.kpis["engine"] == {"name": "kernel", "verified": 5}
    assert langgraph.kpis["engine"] == {"name": "langgraph", "verified": 0}
    for name in ("cases.jsonl", "traces.jsonl"):
        assert (tmp_path / "k" / name).read_bytes() == (tmp_path / "l" / name).read_bytes(), name


def test_cli_simulates_a_parent_file_and_writes_the_expanded_event_log(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    log = tmp_path / "log.csv"
    code = main(["simulate", str(SIM / "sub_parent.yaml"), "--cases", "4", "--no-progress", "--out", str(out),
                 "--event-log", str(log)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "`review`  sub_review.yaml  4       15.0 min     1.50" in printed  # the summary's subworkflow table
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["cycle_time"]["mean"] == 1080.0 and kpis["subworkflows"]["review"]["visits"] == 4
    rows = list(csv.DictReader(log.read_text(encoding="utf-8").splitlines()))
    assert [row["activity"] for row in rows if row["case_id"] == "0"] == ["intake", "review__check", "review__sign",
                                                                         "file"]


def test_a_resumed_run_notices_a_changed_subworkflow(tmp_path: Path) -> None:
    for name in ("sub_parent.yaml", "sub_review.yaml"):
        shutil.copy(SIM / name, tmp_path / name)
    first = simulate(tmp_path / "sub_parent.yaml", cases=3, seed=1, out=tmp_path / "out")
    sub = tmp_path / "sub_review.yaml"
    sub.write_text(sub.read_text(encoding="utf-8").replace("duration: 5m", "duration: 7m"), encoding="utf-8")
    with pytest.raises(studio.StudioError, match="written by a different run"):
        simulate(tmp_path / "sub_parent.yaml", cases=3, seed=1, out=tmp_path / "out", resume=True)
    assert first.kpis["cycle_time"]["mean"] == 1080.0


# --------------------------------------------------------------------------- refused, or left as one step


def test_a_reference_cycle_is_refused_naming_the_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(WorkflowInvalid) as refused:
        compile(fileio.load(SUB / "cycle_a.yaml"))
    (finding,) = [f for f in refused.value.findings if f.is_error]
    assert finding.code == "M002" and finding.file is not None and finding.file.endswith("cycle_b.yaml")
    assert "`cycle_a.yaml` -> `cycle_b.yaml` -> `cycle_a.yaml`" in finding.message
    assert main(["simulate", str(SUB / "cycle_a.yaml"), "--no-progress", "--cases", "2", "--out",
                 str(tmp_path / "out")]) == 1
    assert "M002" in capsys.readouterr().err


def test_a_referenced_workflow_with_errors_is_refused_with_its_own_findings() -> None:
    with pytest.raises(WorkflowInvalid) as refused:
        compile(fileio.load(SUB / "broken.yaml"))
    codes = {(f.code, Path(f.file or "").name) for f in refused.value.findings}
    assert ("M004", "broken.yaml") in codes and ("S004", "broken_sub.yaml") in codes
    m004 = next(f for f in refused.value.findings if f.code == "M004")
    assert "`review` runs `broken_sub.yaml`" in m004.message and "studio validate broken_sub.yaml" in m004.hint


def test_a_shared_id_defined_differently_is_a_warning_and_the_parents_definition_is_used() -> None:
    compiled = compile(fileio.load(SUB / "conflict.yaml"))
    (finding,) = compiled.findings
    assert finding.code == "M003" and not finding.is_error
    assert "`robot` (actors) is defined differently in `review.yaml` and in `conflict.yaml`" in finding.message
    results = simulate(compiled, cases=2)
    check = next(s for s in results.iter_steps() if s["node"] == "review__check")
    assert check["end"] - check["start"] == 300.0  # the node's own behaviour still applies (5m)
    assert {a.id: a for a in compiled.expanded.actors}["robot"].behaviour.duration is not None


def test_a_ref_that_does_not_resolve_is_s010_and_stays_one_step() -> None:
    workflow = fileio.load(FIXTURES / "invalid" / "S010.yaml")
    assert [f.code for f in studio.validate(workflow) if f.is_error] == ["S010"]
    with pytest.raises(WorkflowInvalid):
        compile(workflow)
    expanded = expand(workflow)
    assert expanded.workflow is workflow and expanded.subworkflows == ()
    assert build_plan(expanded.workflow, expanded).nodes["kyc"].kind == "subworkflow"


def test_a_ref_is_a_file_next_to_the_workflow_first_then_a_template(tmp_path: Path) -> None:
    assert resolve_ref("sub_review.yaml", SIM) == SIM / "sub_review.yaml"
    assert resolve_ref("procurement", SIM) is not None and resolve_ref("procurement", SIM).name == "workflow.yaml"
    assert resolve_ref("../valid/base.yaml", SIM) is None  # outside the folder
    assert resolve_ref("nowhere.yaml", SIM) is None
    (tmp_path / "procurement").write_text("not a workflow", encoding="utf-8")
    assert resolve_ref("procurement", tmp_path) == tmp_path / "procurement"
    text = (SIM / "sub_parent.yaml").read_text(encoding="utf-8").replace("ref: sub_review.yaml", "ref: procurement")
    parent = tmp_path / "parent.yaml"
    parent.write_text(text, encoding="utf-8")
    (tmp_path / "procurement").unlink()
    expanded = expand(fileio.load(parent))
    assert [s.ref for s in expanded.subworkflows] == ["procurement"]
    assert any(node.id.startswith("review__") for node in expanded.workflow.nodes)


def test_exporters_keep_the_subworkflow_a_reference() -> None:
    from studio.export.langgraph_module import langgraph_findings

    workflow = fileio.load(SIM / "sub_parent.yaml")
    (finding,) = [f for f in langgraph_findings(workflow) if f.code == "R103"]
    assert "the simulator runs that workflow's steps in its place" in finding.message


def test_a_per_case_override_reaches_a_step_inside_the_subworkflow(tmp_path: Path) -> None:
    for name in ("sub_parent.yaml", "sub_review.yaml"):
        shutil.copy(SIM / name, tmp_path / name)
    parent = tmp_path / "sub_parent.yaml"
    text = parent.read_text(encoding="utf-8").replace(
        "  seed: 3\n", "  seed: 3\n  overrides: {check_seconds: review__check.duration}\n")
    parent.write_text(text, encoding="utf-8")
    results = simulate(parent, data=[{"case_id": "a", "check_seconds": 60}, {"case_id": "b"}], cases=2)
    cycle = {case["case_id"]: case["end"] - case["arrival"] for case in results.payloads[0]["cases"]}
    assert cycle == {"a": 1080.0 - 240.0, "b": 1080.0}  # 1m instead of 5m for case a
