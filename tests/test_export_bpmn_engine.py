"""Exported BPMN runs on SpiffWorkflow case by case as the studio's simulator runs it (gold cases)."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, TEMPLATES
from lxml import etree

from studio import fileio
from studio.errors import WorkflowInvalid
from studio.export._bpmn_common import BPMN_NS, STUDIO_NS
from studio.export._bpmn_python import condition_to_python
from studio.export.bpmn import bpmn_findings, import_bpmn, to_bpmn
from studio.expr import parse
from studio.graph import with_outcome_routers
from studio.model import Workflow
from studio.simulate import run_gold
from studio.simulate.gold import REQUIRED
from studio.simulate.runtime import parse_human_decisions

pytest.importorskip("SpiffWorkflow")
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

EXEC = FIXTURES / "bpmn_exec"
TEMPLATE_FILES = sorted(TEMPLATES.glob("*/workflow.yaml"))
FIXTURE_FILES = sorted(EXEC.glob("*.yaml"))
NS = {"bpmn": BPMN_NS, "studio": STUDIO_NS}

load = functools.cache(fileio.load)


def _ids(paths: list[Path]) -> list[str]:
    return [p.parent.name if p.name == "workflow.yaml" else p.stem for p in paths]


# --------------------------------------------------------------------------- running a case on the engine


class Engine:
    """One exported workflow on SpiffWorkflow, and what its elements mean to the studio."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        data = to_bpmn(workflow)
        parser = BpmnParser()
        parser.add_bpmn_str(data)
        self.spec: BpmnProcessSpec = parser.get_spec(f"Process.{workflow.metadata.name}")
        root = etree.fromstring(data)
        runs = with_outcome_routers(workflow)  # the decision after an approval that routes on its outcome
        self.studio_id: dict[str, str] = {n.id: n.id for n in runs.nodes}
        self.kind: dict[str, str] = {n.id: n.kind for n in runs.nodes}
        for info in root.iterfind(".//studio:helper", NS):
            element = info.getparent().getparent()
            if info.get("role") in ("auto", "escalated"):  # the studio's step, done another way
                self.studio_id[element.get("id")] = info.get("of")
        self.outcome = {n.id: getattr(n, "outcome", None) or n.id for n in workflow.nodes if n.kind == "end"}

    def start(self, case: Mapping[str, Any]) -> BpmnWorkflow:
        run = BpmnWorkflow(self.spec)
        for task in run.get_tasks(state=TaskState.READY):
            task.set_data(**dict(case))
        return run

    def run(self, case: Mapping[str, Any], decisions: Any = None,
            before_person: Any = None) -> tuple[list[str], str, BpmnWorkflow]:
        """The studio node ids the engine completed, in order, and the outcome (``failed:data`` on an error)."""
        script = parse_human_decisions(decisions)
        run = self.start(case)
        path: list[str] = []

        def completed(task: Any) -> None:
            element = task.task_spec.bpmn_id
            if element in self.studio_id and task.state == TaskState.COMPLETED:
                path.append(self.studio_id[element])

        try:
            for _ in range(1000):
                run.do_engine_steps(did_complete_task=completed)
                waiting = run.get_tasks(state=TaskState.STARTED)  # service tasks: the agent's work
                for task in waiting:
                    task.complete()
                    completed(task)
                if waiting:
                    continue
                people = run.get_tasks(state=TaskState.READY, manual=True)
                if not people and self._ring(run):
                    continue
                if not people:
                    break
                task = people[0]
                if before_person is not None:
                    before_person(run, task)
                    if task.state != TaskState.READY:
                        continue
                element = task.task_spec.bpmn_id
                node_id = self.studio_id.get(element, element)
                if self.kind.get(node_id) == "approval":
                    answers = script.get(node_id)
                    task.data[f"{node_id}_decision"] = answers.popleft() if answers else "approve"
                task.run()
                completed(task)
        except SpiffWorkflowException:
            return path, "failed:data", run
        ends = [p for p in path if p in self.outcome]
        outcome = self.outcome[ends[-1]] if run.is_completed() and ends else "stuck"
        return path, outcome, run


    def _ring(self, run: BpmnWorkflow) -> bool:
        """Let the timers of wait steps go off now (the test does not wait the time); True when any did."""
        timers = [t for t in run.get_tasks(state=TaskState.WAITING)
                  if self.kind.get(t.task_spec.bpmn_id) == "wait"]
        for timer in timers:
            timer._set_internal_data(event_value=(datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat())
        if timers:
            run.refresh_timers()
        return bool(timers)


def _canonical(path: list[str], kinds: Mapping[str, str]) -> list[Any]:
    """The path with each parallel region's branch steps as a sorted tuple: order is checked everywhere else."""
    out: list[Any] = []
    stack: list[list[str]] = []
    for node in path:
        kind = kinds.get(node)
        if kind == "join" and stack:
            region = stack.pop()
            (stack[-1] if stack else out).append(tuple(sorted(region)))
        if stack:
            stack[-1].append(node)
        else:
            out.append(node)
        if kind == "parallel":
            stack.append([])
    return out + [tuple(sorted(region)) for region in stack]


def _gold_rows(workflow: Workflow, path: Path) -> list[dict[str, Any]]:
    gold = workflow.simulation.gold_data
    assert gold is not None
    table = fileio.as_cases(path.parent / gold)
    assert table is not None
    return table.rows


def _compare(workflow: Workflow, path: Path) -> list[str]:
    engine = Engine(workflow)
    problems = []
    for row in _gold_rows(workflow, path):
        case = {k: v for k, v in row.items() if k not in ("human_decisions", *REQUIRED)}
        expected = [p.strip() for p in str(row["expected_path"] or "").split(">") if p.strip()]
        actual, outcome, _ = engine.run(case, row.get("human_decisions"))
        same_steps = Counter(actual) == Counter(expected)
        same_order = _canonical(actual, engine.kind) == _canonical(expected, engine.kind)
        if not (same_steps and same_order and outcome == str(row["expected_outcome"])):
            problems.append(f"{row.get('case_id')}: expected {expected} -> {row['expected_outcome']}, "
                            f"engine {actual} -> {outcome}")
    return problems


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=_ids(TEMPLATE_FILES))
def test_every_gold_case_of_the_templates_runs_the_same_on_spiffworkflow(path: Path) -> None:
    workflow = load(path)
    assert len(_gold_rows(workflow, path)) == 30
    assert _compare(workflow, path) == []


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=_ids(FIXTURE_FILES))
def test_fixture_cases_route_as_the_studio_simulator_routes_them(path: Path) -> None:
    workflow = load(path)
    report = run_gold(workflow)  # the studio itself agrees with the file ...
    assert report.failures == []
    assert _compare(workflow, path) == []  # ... and so does the engine


def test_the_condition_fixture_reaches_every_route_and_fails_where_the_studio_fails() -> None:
    path = EXEC / "conditions.yaml"
    outcomes = Counter(str(row["expected_outcome"]) for row in _gold_rows(load(path), path))
    ends = {n.id for n in load(path).nodes if n.kind == "end"}
    assert set(outcomes) == ends | {"failed:data"}
    assert outcomes["failed:data"] >= 3


# --------------------------------------------------------------------------- the pieces the engine relies on


CONDITIONS = [
    "case.amount > 10", "vendor.country in ['DE', 'FR']", "lower(name) == 'bob'", "upper(coalesce(name, 'x'))",
    "contains(tags, 'vip')", "startswith(code, ['A', 'B'])", "endswith(code, 'Z')", "is_empty(note)",
    "coalesce(discount, rebate, 0) + 1", "min(scores)", "max(1, amount)", "round(amount / 3, 2)",
    "len(tags) >= 2", "abs(-amount) % 7", "amount ** 2 > 100", "a.b.c == 1", "is_empty(a.b.c)",
    "coalesce(a.x.y, 5)", "null == note", "true and not false", "'x' if amount > 5 else 'y'", "0 < amount <= 100",
    "id == 3", "name % 2", "neg ** 0.5", "amount ** 200", "amount // 3 - 1 * 2", "-amount < +3",
    "(1, 2) == (1, 2)", "lower(upper(name))", "contains(name, 'o')", "min(name)", "coalesce(missing, 1)",
    "amount < 1e400", "min([amount, 3])", "startswith(code, ('A', 'Q'))", "upper(name) if is_empty(note) else 1",
    "abs(amount) ** -1", "amount != null or not tags", "is_empty(missing.deeper)", "contains(a, 'b')",
    "coalesce(a.b, 'none') == 5", "missing > 1", "a.b.c.d == 1",
]
CASES: list[dict[str, Any]] = [
    {"amount": 50, "vendor": {"country": "DE"}, "name": "Bob", "tags": ["vip", "x"], "code": "AZ", "note": None,
     "discount": None, "rebate": 3, "scores": [3, 1], "a": {"b": {"c": 1}}, "id": 3, "neg": -8},
    {"amount": None, "vendor.country": "FR", "vendor": {"country": "XX"}, "name": None, "tags": [], "code": None,
     "note": "", "a": {"b.c": 1}, "scores": "abc"},
    {"amount": 5.5, "name": 7, "tags": "novip", "code": 5, "a": {"b": 5}, "scores": [], "note": [1]},
    {},
]


def _studio(text: str, case: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return ("value", parse(text).evaluate(case))
    except ValueError:
        return ("error",)


def _engine(python: str, case: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return ("value", TaskDataEnvironment().evaluate(python, dict(case)))
    except Exception:
        return ("error",)


@pytest.mark.parametrize("text", CONDITIONS)
def test_translated_conditions_evaluate_like_the_studio_on_the_engine(text: str) -> None:
    python = condition_to_python(text).text
    assert [_engine(python, case) for case in CASES] == [_studio(text, case) for case in CASES]


def test_translation_reads_like_python_for_plain_conditions() -> None:
    assert condition_to_python('case.vendor_status == "blocked" and amount > 10_000').text == \
        "((vendor_status == 'blocked') and (amount > 10000))"
    assert condition_to_python("lower(region) in ['eu', null]").text == \
        "((None if region is None else region.lower()) in ['eu', None])"
    assert condition_to_python("id == 1").text == "(globals()['id'] == 1)"  # a field named like a builtin


def test_a_field_hiding_a_builtin_the_conditions_call_is_refused() -> None:
    data = fileio.to_data(load(EXEC / "conditions.yaml"))
    data["edges"][2]["when"] = "len > 3"  # the field `len`, while another condition calls len()
    workflow = Workflow.model_validate(data)
    with pytest.raises(WorkflowInvalid) as caught:
        to_bpmn(workflow)
    (finding,) = caught.value.findings
    assert finding.code == "B101" and finding.location == "edges[2]"
    assert "`route` -> `end_de_big`" in finding.message and "`len > 3`" in finding.message
    assert "`len`" in str(caught.value)


def test_a_condition_outside_the_language_is_refused_naming_the_edge() -> None:
    data = fileio.to_data(load(EXEC / "conditions.yaml"))
    data["edges"][3]["when"] = "vendor.__class__ == 1"
    workflow = Workflow.model_validate(data)
    findings = bpmn_findings(workflow)
    assert [(f.code, f.location) for f in findings if f.is_error] == [("B101", "edges[3]")]
    with pytest.raises(WorkflowInvalid, match="end_vip"):
        to_bpmn(workflow)


# --------------------------------------------------------------------------- thresholds, SLAs, losses


def test_threshold_auto_approval_sets_the_decision_and_note_as_the_studio_does() -> None:
    engine = Engine(load(EXEC / "threshold.yaml"))
    path, outcome, run = engine.run({"amount": 100}, "approve_spend=reject")
    assert (path, outcome) == (["start", "prepare", "approve_spend", "gate", "paid"], "paid")
    assert run.data["approve_spend_decision"] == "approve"
    assert run.data["approve_spend_note"] == "auto-approved: `amount > 5000` is false"


def test_sla_timer_hands_the_approval_to_the_escalation_role() -> None:
    workflow = load(EXEC / "threshold.yaml")
    engine = Engine(workflow)
    seen: list[str] = []

    def expire(run: BpmnWorkflow, task: Any) -> None:
        if task.task_spec.bpmn_id != "approve_spend":
            return
        (timer,) = [t for t in run.get_tasks(state=TaskState.WAITING) if t.task_spec.bpmn_id == "approve_spend.sla"]
        due = datetime.fromisoformat(timer._get_internal_data("event_value"))
        assert timedelta(hours=3, minutes=59) < due - datetime.now(timezone.utc) <= timedelta(hours=4)
        timer._set_internal_data(event_value=(datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat())
        run.refresh_timers()
        run.do_engine_steps()
        people = run.get_tasks(state=TaskState.READY, manual=True)
        seen.extend(t.task_spec.bpmn_id for t in people)
        assert task.state == TaskState.CANCELLED

    path, outcome, _ = engine.run({"amount": 9000}, "approve_spend=reject", before_person=expire)
    assert seen == ["approve_spend.escalated"]
    assert (path, outcome) == (["start", "prepare", "approve_spend", "gate", "rejected"], "rejected")
    lanes = etree.fromstring(to_bpmn(workflow)).find(".//bpmn:lane[@id='Lane.directors']", NS)
    assert lanes is not None and "approve_spend.escalated" in [r.text for r in lanes]


def _expire(run: BpmnWorkflow, timer_id: str, hours: float) -> list[str]:
    """Let the SLA timer ``timer_id`` (due in ``hours``) run out; the people's tasks then ready."""
    (timer,) = [t for t in run.get_tasks(state=TaskState.WAITING) if t.task_spec.bpmn_id == timer_id]
    due = datetime.fromisoformat(timer._get_internal_data("event_value"))
    assert timedelta(hours=hours, minutes=-1) < due - datetime.now(timezone.utc) <= timedelta(hours=hours)
    timer._set_internal_data(event_value=(datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat())
    run.refresh_timers()
    run.do_engine_steps()
    return [t.task_spec.bpmn_id for t in run.get_tasks(state=TaskState.READY, manual=True)]


def test_an_escalation_chain_is_one_timer_per_level_on_whoever_holds_the_step() -> None:
    workflow = load(FIXTURES / "simulate" / "escalation_chain.yaml")
    engine = Engine(workflow)
    seen: list[list[str]] = []

    def expire(run: BpmnWorkflow, task: Any) -> None:
        if task.task_spec.bpmn_id == "sign_off":  # the approver has not started in 2 h: the leads
            seen.append(_expire(run, "sign_off.sla", 2))
            assert task.state == TaskState.CANCELLED
        elif task.task_spec.bpmn_id == "sign_off.escalated":  # nor the leads within 1 h: the directors
            seen.append(_expire(run, "sign_off.sla.2", 1))
            assert task.state == TaskState.CANCELLED

    path, outcome, run = engine.run({}, "sign_off=reject", before_person=expire)
    assert seen == [["sign_off.escalated"], ["sign_off.escalated.2"]]
    assert (path, outcome) == (["start", "prepare", "sign_off", "done"], "signed")
    assert run.data["sign_off_decision"] == "reject"  # decided by the directors
    root = etree.fromstring(to_bpmn(workflow))
    timer = root.find(".//bpmn:boundaryEvent[@id='sign_off.sla.2']", NS)
    assert timer is not None and timer.get("attachedToRef") == "sign_off.escalated"
    for lane, task in (("leads", "sign_off.escalated"), ("directors", "sign_off.escalated.2")):
        refs = root.find(f".//bpmn:lane[@id='Lane.{lane}']", NS)
        assert refs is not None and task in [r.text for r in refs]
    # a studio export folds back into the same chain
    back, findings = import_bpmn(to_bpmn(workflow))
    assert findings == []
    assert back.node("sign_off").escalation == workflow.node("sign_off").escalation
    [b103] = [f for f in bpmn_findings(workflow) if f.code == "B103"]
    assert "one interrupting timer per level (PT2H, PT1H)" in b103.message
    assert "`leads` then `directors`" in b103.message


def test_losses_are_reported_with_their_codes() -> None:
    findings = bpmn_findings(load(EXEC / "threshold.yaml"))
    assert sorted((f.code, f.location) for f in findings) == [
        ("B102", "edges[4]"), ("B102", "policies.max_repeats"), ("B102", "policies.max_turns"),
        ("B103", "nodes[2]"),  # `approve_spend`: a location the CLI turns into its line and column
    ]
    collected: list[Any] = []
    to_bpmn(load(EXEC / "threshold.yaml"), findings=collected)
    assert collected == findings
    assert bpmn_findings(load(EXEC / "conditions.yaml")) == []  # nothing lost: a straight decision


def test_a_fixed_wait_is_a_timer_due_after_its_delay_and_other_waits_are_reported() -> None:
    workflow = load(EXEC / "wait.yaml")
    run = Engine(workflow).start({"amount": 50})
    run.do_engine_steps()
    for task in run.get_tasks(state=TaskState.STARTED):
        task.complete()
    run.do_engine_steps()
    (timer,) = run.get_tasks(state=TaskState.WAITING)
    assert timer.task_spec.bpmn_id == "cool_off"
    due = datetime.fromisoformat(timer._get_internal_data("event_value"))
    assert timedelta(hours=1, minutes=59) < due - datetime.now(timezone.utc) <= timedelta(hours=2)
    losses = {(f.code, f.location) for f in bpmn_findings(workflow)}
    assert losses == {("B107", "nodes[4]"), ("B107", "nodes[5]")}  # `chase` (until) and `hold` (drawn)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=_ids(FIXTURE_FILES))
def test_helpers_fold_back_on_import(path: Path) -> None:
    workflow = with_outcome_routers(load(path))  # an approval routing on its outcome comes back with its decision
    back, findings = import_bpmn(to_bpmn(workflow))
    assert findings == []
    assert [(n.id, n.kind, getattr(n, "threshold", None)) for n in back.nodes] == [
        (n.id, n.kind, getattr(n, "threshold", None)) for n in workflow.nodes]
    assert [(e.source, e.target, e.when, e.default, e.max_repeats) for e in back.edges] == [
        (e.source, e.target, e.when, e.default, e.max_repeats) for e in workflow.edges]
    assert sorted(a.id for a in back.actors) == sorted(a.id for a in workflow.actors)


# --------------------------------------------------------------------------- the command line


def test_cli_prints_the_losses_on_stderr_and_refuses_untranslatable_conditions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from studio.cli import main

    out = tmp_path / "threshold.bpmn"
    assert main(["export", str(EXEC / "threshold.yaml"), "--to", "bpmn", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "B102 warning" in err and "B103 info" in err and "approve_spend" in err
    assert out.read_bytes() == to_bpmn(load(EXEC / "threshold.yaml"))

    data = fileio.to_data(load(EXEC / "conditions.yaml"))
    data["edges"][2]["when"] = "len > 3"
    data["simulation"].pop("gold_data")
    source = tmp_path / "hidden.yaml"
    fileio.save(Workflow.model_validate(data), source)
    assert main(["export", str(source), "--to", "bpmn", "-o", str(tmp_path / "hidden.bpmn")]) == 1
    captured = capsys.readouterr()
    assert "B101 error" in captured.out and "`len > 3`" in captured.out
    assert "not exported" in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "hidden.bpmn").exists()
