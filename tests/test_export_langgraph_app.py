"""The exported LangGraph application runs every gold case as the simulator does, with people,
a tool gateway, loop guards, an audit log and durable checkpoints (docs/semantics.md)."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import FIXTURES, TEMPLATES
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from test_export_langgraph import load_module

from studio import fileio
from studio.cli import main
from studio.export import export_as
from studio.export.langgraph_module import langgraph_app_files, langgraph_findings, to_langgraph_module
from studio.model import Workflow
from studio.simulate import run_gold
from studio.simulate.runtime import parse_human_decisions

TEMPLATE_DIRS = sorted(p.parent for p in TEMPLATES.glob("*/workflow.yaml"))
GOLD_COLUMNS = ("human_decisions", "expected_path", "expected_outcome")

PAYOUT = """
apiVersion: studio/v1
metadata: {name: payout, version: 1.2.0}
actors:
  - {id: payer, kind: agent, capability: payout, version: 2.0.1, tools: [ledger_read, pay_out]}
  - {id: managers, kind: human, role: Payment manager}
  - {id: heads, kind: human, role: Head of finance}
tools:
  - {id: ledger_read, tier: read_only, rate_limit: {calls: 2, per: 1m}}
  - {id: pay_out, tier: critical, credential: BANK_TOKEN_REF}
  - {id: ledger_write, tier: restricted_write}
nodes:
  - {id: start, kind: start}
  - {id: check, kind: decision}
  - {id: approve_payout, kind: approval, actor: managers, sla: 4h, escalate_to: heads}
  - {id: gate, kind: decision}
  - {id: pay, kind: task, actor: payer, tools: [ledger_read, pay_out], outputs: [payment_id]}
  - {id: book_small, kind: task, actor: payer, tools: [ledger_read]}
  - {id: paid, kind: end, outcome: paid}
  - {id: refused, kind: end, outcome: refused}
edges:
  - {from: start, to: check}
  - {from: check, to: approve_payout, when: amount > 100}
  - {from: check, to: book_small, default: true}
  - {from: book_small, to: paid}
  - {from: approve_payout, to: gate}
  - {from: gate, to: pay, when: approve_payout_decision == "approve"}
  - {from: gate, to: approve_payout, when: approve_payout_decision == "send_back"}
  - {from: gate, to: refused, default: true}
  - {from: pay, to: paid}
policies: {max_repeats: 2}
"""
UNGATED = PAYOUT.replace("{from: check, to: book_small, default: true}", "{from: check, to: pay, default: true}")


def load_app(source: str, tmp_path: Path, name: str = "app") -> ModuleType:
    return load_module(source, tmp_path / f"{name}.py")


def drive(app: Any, case: Mapping[str, Any], script: Mapping[str, deque[str]], thread: str = "t"
          ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run a case to its end, answering each interrupt from the script (unlisted: approve / done)."""
    config = {"configurable": {"thread_id": thread}}
    asked: list[dict[str, Any]] = []
    result = app.invoke({"case": dict(case)}, config)
    while result.get("__interrupt__"):
        payload = result["__interrupt__"][0].value
        asked.append(payload)
        answers = script.get(payload["node"])
        decision = answers.popleft() if answers else ("approve" if payload["kind"] == "approval" else "done")
        result = app.invoke(Command(resume={"decision": decision, "by": "gold"}), config)
    return result, asked


def simulated(workflow: Any, case: Mapping[str, Any], decisions: str = "") -> tuple[list[str], str | None]:
    """The studio simulator's path and outcome for one case (the gold gate's deterministic run)."""
    row = {**case, "human_decisions": decisions, "expected_path": "", "expected_outcome": None}
    (result,) = run_gold(workflow, [row]).cases
    return result.actual_path, result.actual_outcome


@pytest.mark.parametrize("folder", TEMPLATE_DIRS, ids=[p.name for p in TEMPLATE_DIRS])
def test_every_gold_case_takes_the_gold_path_in_the_exported_app(folder: Path, tmp_path: Path) -> None:
    workflow = fileio.load(folder / "workflow.yaml")
    module = load_app(export_as(workflow, "langgraph").decode("utf-8"), tmp_path)
    gold = fileio.load_cases(folder / "gold.csv")
    passed = 0
    for index, row in enumerate(gold.rows):
        records: list[dict[str, Any]] = []
        app = module.build_graph(InMemorySaver(), audit=records.append)
        case = {k: v for k, v in row.items() if k not in GOLD_COLUMNS}
        script = parse_human_decisions(row.get("human_decisions"))
        result, _ = drive(app, case, script, thread=f"case-{index}")
        assert not any(script.values()), f"{row['case_id']}: scripted answers left: {script}"
        assert result["path"] == str(row["expected_path"]).split(">"), row["case_id"]
        assert result["outcome"] == row["expected_outcome"], row["case_id"]
        assert result["status"] == "completed"
        steps = [r["node"] for r in records if r["event"] == "step"]
        assert sorted(steps) == sorted(result["path"])  # one audit record per step
        passed += 1
    assert passed == len(gold.rows) == 30


def test_an_approval_interrupts_with_node_role_sla_and_case(tmp_path: Path) -> None:
    workflow = fileio.loads(PAYOUT)
    module = load_app(to_langgraph_module(workflow), tmp_path)
    app = module.build_graph(InMemorySaver(), audit=module.AuditLog(None))
    config = {"configurable": {"thread_id": "p1"}}
    state = app.invoke({"case": {"case_id": "P-1", "amount": 500}}, config)
    (pending,) = state["__interrupt__"]
    payload = pending.value
    assert payload["node"] == "approve_payout" and payload["kind"] == "approval"
    assert payload["role"] == "Payment manager" and payload["actor"] == "managers"
    assert payload["sla_seconds"] == 4 * 3600
    assert payload["escalate_to"] == "heads" and payload["escalation_role"] == "Head of finance"
    assert payload["case"] == {"case_id": "P-1", "amount": 500} and payload["case_id"] == "P-1"
    assert payload["options"] == ["approve", "reject", "send_back"]
    assert payload["path"] == ["start", "check"]
    final = app.invoke(Command(resume={"decision": "approve", "by": "alice", "note": "ok"}), config)
    assert final["path"] == ["start", "check", "approve_payout", "gate", "pay", "paid"]
    assert final["outcome"] == "paid"
    assert final["case"]["approve_payout_decision"] == "approve" and final["case"]["approve_payout_note"] == "ok"
    assert final["case"]["payment_id"] is None  # an output the agent did not give


def test_a_wait_interrupts_with_when_it_is_due_and_the_case_goes_on_as_simulated(tmp_path: Path) -> None:
    workflow = fileio.load(FIXTURES / "bpmn_exec" / "wait.yaml")
    module = load_app(to_langgraph_module(workflow), tmp_path)
    friday_evening = "2026-11-27T18:00:00.000Z"  # a Friday, after office hours
    app = module.build_graph(InMemorySaver(), audit=module.AuditLog(None), clock=lambda: friday_evening)
    for amount, dues in ((500, {"cool_off": "2026-11-27T20:00:00.000Z", "chase": "2026-11-30T09:00:00.000Z"}),
                         (50, {"cool_off": "2026-11-27T20:00:00.000Z", "hold": "2026-11-27T19:00:00.000Z"})):
        final, asked = drive(app, {"amount": amount}, {}, thread=f"w{amount}")
        assert {p["node"]: p["due"] for p in asked} == dues  # fixed: 2h; until: Monday 09:00; drawn: its mean
        assert all(p["kind"] == "wait" and p["options"] == ["done"] for p in asked)
        path, outcome = simulated(workflow, {"amount": amount})
        assert (final["path"], final["outcome"]) == (path, outcome)
    assert [(f.code, f.location, str(f.severity)) for f in langgraph_findings(workflow)] == [
        ("R106", "nodes[5]", "warning"), ("R106", "nodes[2]", "info"), ("R106", "nodes[4]", "info")]


def test_a_wrong_answer_is_refused_and_asked_again(tmp_path: Path) -> None:
    module = load_app(to_langgraph_module(fileio.loads(PAYOUT)), tmp_path)
    app = module.build_graph(InMemorySaver(), audit=module.AuditLog(None))
    config = {"configurable": {"thread_id": "p2"}}
    app.invoke({"case": {"amount": 500}}, config)
    again = app.invoke(Command(resume={"decision": "maybe"}), config)
    payload = again["__interrupt__"][0].value
    assert payload["node"] == "approve_payout"
    assert "`maybe` is not an answer" in payload["error"] and "approve, reject, send_back" in payload["error"]
    again = app.invoke(Command(resume={"decision": "reject", "fields": {"amount": 1}}), config)
    assert "does not set amount" in again["__interrupt__"][0].value["error"]
    final = app.invoke(Command(resume={"decision": "Rejected"}), config)  # a spelling people use
    assert final["outcome"] == "refused" and final["case"]["approve_payout_decision"] == "reject"


def test_the_gateway_holds_back_a_critical_tool_until_a_person_approved(tmp_path: Path) -> None:
    workflow = fileio.loads(UNGATED)  # the validator refuses this (G001); the gateway holds at run time too
    module = load_app(to_langgraph_module(workflow), tmp_path)
    gateway = module.ToolGateway()
    records: list[dict[str, Any]] = []
    app = module.build_graph(InMemorySaver(), gateway=gateway, audit=records.append)
    small, _ = drive(app, {"case_id": "S", "amount": 50}, {}, thread="small")  # no approval on this path
    assert small["status"] == "failed" and small["outcome"] == "failed:policy"
    assert small["stopped"]["node"] == "pay" and "critical" in small["stopped"]["reason"]
    assert small["path"] == ["start", "check", "pay"]
    denied = [c for c in gateway.calls if not c["allowed"]]
    assert [(c["tool"], c["tier"]) for c in denied] == [("pay_out", "critical")]
    assert any(r["event"] == "tool_call" and r["tool"] == "pay_out" and r["allowed"] is False for r in records)
    big, _ = drive(app, {"case_id": "B", "amount": 500}, {}, thread="big")
    assert big["outcome"] == "paid"
    assert [c["tool"] for c in gateway.calls if c["allowed"]] == ["ledger_read", "ledger_read", "pay_out"]


def test_an_agent_may_call_only_its_allowed_tools(tmp_path: Path) -> None:
    module = load_app(to_langgraph_module(fileio.loads(PAYOUT)), tmp_path)
    calls: list[str] = []

    def rogue(call: Any) -> dict[str, Any]:
        calls.append(call.node)
        call.call_tool("ledger_write", {"entry": 1})
        return {}

    app = module.build_graph(InMemorySaver(), agents={"payer": rogue}, audit=module.AuditLog(None))
    result, _ = drive(app, {"amount": 500}, {})
    assert result["outcome"] == "failed:policy"
    assert "`payer` may not call `ledger_write`" in result["stopped"]["reason"]
    assert calls == ["pay"]  # a refusal is not retried


def test_an_agent_implementation_and_tool_handlers_are_used(tmp_path: Path) -> None:
    module = load_app(to_langgraph_module(fileio.loads(PAYOUT)), tmp_path)
    seen: list[Any] = []
    gateway = module.ToolGateway({"pay_out": lambda args: seen.append(args) or "TX-9"})

    def payer(call: Any) -> dict[str, Any]:
        return {"payment_id": call.call_tool("pay_out", {"amount": call.case["amount"]}), "ignored": 1}

    app = module.build_graph(InMemorySaver(), gateway=gateway, agents={"payer": payer}, audit=module.AuditLog(None))
    result, _ = drive(app, {"amount": 700}, {})
    assert result["case"]["payment_id"] == "TX-9" and "ignored" not in result["case"]
    assert seen == [{"amount": 700}]


def test_a_failing_agent_is_retried_then_fails_the_case(tmp_path: Path) -> None:
    workflow = fileio.loads(PAYOUT.replace("policies: {max_repeats: 2}", "policies: {max_repeats: 2, retries: 2}"))
    module = load_app(to_langgraph_module(workflow), tmp_path)
    attempts: list[int] = []

    def flaky(call: Any) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("model timed out")
        return {}

    app = module.build_graph(InMemorySaver(), agents={"payer": flaky}, audit=module.AuditLog(None))
    result, _ = drive(app, {"amount": 500}, {}, thread="again")
    assert result["outcome"] == "paid" and len(attempts) == 3
    attempts.clear()
    app = module.build_graph(InMemorySaver(), agents={"payer": lambda call: 1 / 0}, audit=module.AuditLog(None))
    result, _ = drive(app, {"amount": 500}, {})
    assert result["outcome"] == "failed:reasoning" and "after 3 attempt(s)" in result["stopped"]["reason"]


def test_rate_limits_hold_per_tool(tmp_path: Path) -> None:
    module = load_app(to_langgraph_module(fileio.loads(PAYOUT)), tmp_path)
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    gateway = module.ToolGateway(clock=lambda: now[0], sleep=sleep)
    for _ in range(2):
        gateway.call("ledger_read", actor="payer", node="pay")
    assert slept == []
    now[0] = 10.0
    gateway.call("ledger_read", actor="payer", node="pay")  # third call within a minute waits
    assert slept == [50.0]
    gateway.call("pay_out", actor="payer", node="pay", approved=["approve_payout"])  # no limit
    assert slept == [50.0]
    with pytest.raises(module.ToolDenied, match="unknown tool"):
        gateway.call("nope", actor="payer", node="pay")


@pytest.mark.parametrize(("decisions", "outcome"), [
    ("approve_payout=send_back;approve_payout=approve", "paid"),
    ("approve_payout=send_back;approve_payout=send_back", "killed:loop_guard"),  # max_repeats: 2
    ("approve_payout=reject", "refused"),
])
def test_loop_guards_stop_the_case_where_the_simulator_does(decisions: str, outcome: str, tmp_path: Path) -> None:
    workflow = fileio.loads(PAYOUT)
    module = load_app(to_langgraph_module(workflow), tmp_path)
    app = module.build_graph(InMemorySaver(), audit=module.AuditLog(None))
    case = {"case_id": "L", "amount": 500}
    result, _ = drive(app, case, parse_human_decisions(decisions))
    path, expected = simulated(workflow, case, decisions)
    assert (result["path"], result["outcome"]) == (path, expected)
    assert result["outcome"] == outcome
    if outcome.startswith("killed"):
        # the third time `approve_payout` hands to `gate` is refused: the approval ran three times, the gate twice
        assert result["stopped"]["where"] == "approve_payout>gate" and result["status"] == "killed"
        assert result["path"].count("approve_payout") == 3 and result["path"].count("gate") == 2


def test_max_turns_stops_the_case_where_the_simulator_does(tmp_path: Path) -> None:
    workflow = fileio.loads(PAYOUT.replace("policies: {max_repeats: 2}", "policies: {max_repeats: 5, max_turns: 7}"))
    module = load_app(to_langgraph_module(workflow), tmp_path)
    app = module.build_graph(InMemorySaver(), audit=module.AuditLog(None))
    decisions = "approve_payout=send_back;approve_payout=send_back;approve_payout=approve"
    case = {"amount": 500}
    result, _ = drive(app, case, parse_human_decisions(decisions))
    assert (result["path"], result["outcome"]) == simulated(workflow, case, decisions)
    assert result["outcome"] == "killed:max_turns" and len(result["path"]) == 7


def test_a_condition_that_cannot_be_evaluated_fails_the_case_as_in_the_simulator(tmp_path: Path) -> None:
    workflow = fileio.loads(PAYOUT)
    module = load_app(to_langgraph_module(workflow), tmp_path)
    app = module.build_graph(InMemorySaver(), audit=module.AuditLog(None))
    for case in ({"amount": "lots"}, {"other": 1}):
        result, _ = drive(app, case, {}, thread=str(case))
        assert (result["path"], result["outcome"]) == simulated(workflow, case)
        assert result["outcome"] == "failed:data" and "amount" in result["stopped"]["reason"]


def test_the_audit_log_records_steps_tools_and_decisions(tmp_path: Path) -> None:
    workflow = fileio.loads(PAYOUT)
    module = load_app(to_langgraph_module(workflow), tmp_path)
    log = tmp_path / "audit.jsonl"
    stamps = iter(f"t{n}" for n in range(1000))
    app = module.build_graph(InMemorySaver(), audit=str(log), clock=lambda: next(stamps))
    drive(app, {"case_id": "A-1", "amount": 500}, {"approve_payout": deque(["approve"])}, thread="audit-1")
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert {r["case_id"] for r in records} == {"A-1"} and {r["thread_id"] for r in records} == {"audit-1"}
    assert {(r["workflow"], r["workflow_version"]) for r in records} == {("payout", "1.2.0")}
    steps = [r for r in records if r["event"] == "step"]
    assert [r["node"] for r in steps] == ["start", "check", "approve_payout", "gate", "pay", "paid"]
    decision = next(r for r in records if r["event"] == "human_decision")
    assert (decision["node"], decision["decision"], decision["by"], decision["actor"]) == (
        "approve_payout", "approve", "gold", "managers")
    tools = [r for r in records if r["event"] == "tool_call"]
    assert [(r["tool"], r["tier"], r["allowed"], r["agent_version"]) for r in tools] == [
        ("ledger_read", "read_only", True, "2.0.1"), ("pay_out", "critical", True, "2.0.1")]
    pay = next(r for r in steps if r["node"] == "pay")
    assert pay["actor"] == "payer" and pay["agent_version"] == "2.0.1" and pay["started"].startswith("t")
    policy = ["case_id", "node", "actor", "agent_version", "tool", "decision", "started", "ended"]
    assert all(set(policy) <= set(r) for r in records)  # the audit policy's fields, in every record
    assert records[-1]["event"] == "case_end" and records[-1]["outcome"] == "paid"


DURABLE_START = """
import json, sqlite3, sys
sys.path.insert(0, sys.argv[1])
import app
from langgraph.checkpoint.sqlite import SqliteSaver
saver = SqliteSaver(sqlite3.connect(sys.argv[2], check_same_thread=False))
graph = app.build_graph(saver, audit=sys.argv[3])
state = graph.invoke({"case": json.loads(sys.argv[4])}, {"configurable": {"thread_id": "case-7"}})
print(state["__interrupt__"][0].value["node"], flush=True)
sys.stdin.read()  # the case waits here until the test kills the process
"""

DURABLE_RESUME = """
import json, sqlite3, sys
sys.path.insert(0, sys.argv[1])
import app
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
saver = SqliteSaver(sqlite3.connect(sys.argv[2], check_same_thread=False))
graph = app.build_graph(saver, audit=sys.argv[3])
config = {"configurable": {"thread_id": "case-7"}}
state = graph.invoke(Command(resume={"decision": "approve", "by": "next-day"}), config)
while state.get("__interrupt__"):
    state = graph.invoke(Command(resume={"decision": "approve", "by": "next-day"}), config)
print(json.dumps({"path": state["path"], "outcome": state["outcome"]}))
"""


def _wait_for_interrupt_row(db: Path, thread_id: str, process: subprocess.Popen[str]) -> None:
    """Until the checkpointer has committed the case's interrupt (its pending approval) to ``db``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the process ended before it was killed"
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
                (count,) = connection.execute(
                    "SELECT count(*) FROM writes WHERE thread_id = ? AND channel = '__interrupt__'", (thread_id,)
                ).fetchone()
        except sqlite3.OperationalError:  # no file or no tables yet
            count = 0
        if count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no interrupt for {thread_id} committed to {db}")


def test_a_case_waiting_at_an_approval_survives_a_killed_process(tmp_path: Path) -> None:
    folder = TEMPLATES / "procurement"
    workflow = fileio.load(folder / "workflow.yaml")
    for name, text in langgraph_app_files(workflow).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    rows = fileio.load_cases(folder / "gold.csv").rows
    row = next(r for r in rows if r["human_decisions"] == "manager_approval=approve")
    case = {k: v for k, v in row.items() if k not in GOLD_COLUMNS}
    db, audit = tmp_path / "cases.db", tmp_path / "audit.jsonl"
    args = [str(tmp_path), str(db), str(audit), json.dumps(case)]
    with subprocess.Popen([sys.executable, "-c", DURABLE_START, *args], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as first:
        assert first.stdout is not None and first.stderr is not None
        waiting_at = first.stdout.readline().strip()  # blocks until the case is at the approval
        assert waiting_at == "manager_approval", first.stderr.read() if first.poll() is not None else waiting_at
        _wait_for_interrupt_row(db, "case-7", first)
        first.kill()  # SIGKILL while the case waits: no clean-up runs in the app
        assert first.wait(timeout=60) == -signal.SIGKILL
    second = subprocess.run([sys.executable, "-c", DURABLE_RESUME, *args], check=False, capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stderr
    final = json.loads(second.stdout)
    assert final == {"path": str(row["expected_path"]).split(">"), "outcome": row["expected_outcome"]}
    events = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    steps = [e["node"] for e in events if e["event"] == "step"]
    assert sorted(steps) == sorted(final["path"])  # nothing lost, nothing written twice
    decided = [(e["node"], e["by"]) for e in events if e["event"] == "human_decision"]
    assert decided == [("manager_approval", "next-day"), ("receive_goods", "next-day")]


def test_cli_writes_a_langgraph_dev_folder(tmp_path: Path) -> None:
    out = tmp_path / "procurement_app"
    assert main(["export", str(TEMPLATES / "procurement" / "workflow.yaml"), "--to", "langgraph", "-o", f"{out}/"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "app.py", "langgraph.json", "requirements.txt"]
    config = json.loads((out / "langgraph.json").read_text(encoding="utf-8"))
    assert config["graphs"] == {"procurement": "./app.py:graph"} and config["dependencies"] == ["."]
    assert "langgraph dev" in (out / "README.md").read_text(encoding="utf-8")
    module = load_app((out / "app.py").read_text(encoding="utf-8"), tmp_path, "served")
    assert "manager_approval" in module.graph.get_graph().nodes
    single = tmp_path / "single.py"
    assert main(["export", str(TEMPLATES / "procurement" / "workflow.yaml"), "--to", "langgraph", "-o", str(single)]
                ) == 0
    assert single.read_text(encoding="utf-8") == (out / "app.py").read_text(encoding="utf-8")


def test_the_module_runs_a_case_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "payout_app.py"
    path.write_text(to_langgraph_module(fileio.loads(PAYOUT)), encoding="utf-8")
    done = subprocess.run([sys.executable, str(path), '{"amount": 500}', "--answer", "approve_payout=reject"],
                          check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"] == "refused" and result["path"][-1] == "refused"
    assert not (tmp_path / "audit.jsonl").exists()


def test_a_workflow_with_errors_is_not_exported_as_an_app(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "ungated.yaml"
    source.write_text(UNGATED, encoding="utf-8")
    out = tmp_path / "app"
    assert main(["export", str(source), "--to", "langgraph", "-o", f"{out}/"]) == 1
    captured = capsys.readouterr()
    assert "G001" in captured.out and "not exported" in captured.err
    assert not out.exists()


def test_an_escalation_chain_is_in_the_interrupt_level_by_level(tmp_path: Path) -> None:
    workflow = fileio.load(Path(__file__).parent / "fixtures" / "simulate" / "escalation_chain.yaml")
    module = load_app(to_langgraph_module(workflow), tmp_path)
    app = module.build_graph(InMemorySaver(), audit=module.AuditLog(None))
    config = {"configurable": {"thread_id": "c1"}}
    state = app.invoke({"case": {"case_id": "C-1"}}, config)
    (pending,) = state["__interrupt__"]
    payload = pending.value
    assert (payload["node"], payload["sla_seconds"], payload["escalate_to"]) == ("sign_off", 7200.0, "leads")
    assert payload["escalation"] == [{"to": "leads", "role": None, "after_seconds": 7200.0},
                                     {"to": "directors", "role": None, "after_seconds": 3600.0}]
    final = app.invoke(Command(resume={"decision": "approve", "by": "a director"}), config)
    assert final["outcome"] == "signed"
    [r101] = [f for f in langgraph_findings(workflow) if f.code == "R101"]
    assert "escalation chain `leads` then `directors`" in r101.message and "`escalation`" in r101.message
    # a one-level escalation keeps the payload it had
    payout_app = load_app(to_langgraph_module(fileio.loads(PAYOUT)), tmp_path, "payout")
    payout = payout_app.build_graph(InMemorySaver(), audit=[].append)  # the audit log kept in memory
    state = payout.invoke({"case": {"case_id": "P-1", "amount": 500}}, {"configurable": {"thread_id": "p"}})
    assert "escalation" not in state["__interrupt__"][0].value


def test_what_the_app_does_differently_is_reported_with_its_place(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = TEMPLATES / "procurement" / "workflow.yaml"
    assert main(["export", str(path), "--to", "langgraph", "-o", str(tmp_path / "app.py")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if " R10" in line]
    assert len(lines) == 4 and all(line.startswith(f"{path}:") and " R101 info " in line for line in lines)
    assert any("`cfo_approval` and escalation to `deputy_cfo`" in line for line in lines)
    extra = PAYOUT.replace("version: 2.0.1,", "version: 2.0.1, llm: 'my_models:payer',").replace(
        "  - {id: book_small, kind: task, actor: payer, tools: [ledger_read]}",
        "  - {id: book_small, kind: subworkflow, ref: small_payments, actor: payer}")
    codes = [(f.code, f.location) for f in langgraph_findings(fileio.loads(extra))]
    assert codes == [("R103", "nodes[5]"), ("R101", "nodes[2]"), ("R102", "actors[0].llm")]  # warnings first


def test_no_audit_file_when_the_policy_turns_audit_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDIT_LOG_PATH", raising=False)
    quiet = PAYOUT.replace("policies: {max_repeats: 2}", "policies: {max_repeats: 2, audit: {enabled: false}}")
    for text, written in ((PAYOUT, True), (quiet, False)):
        folder = tmp_path / str(written)
        folder.mkdir()
        monkeypatch.chdir(folder)
        module = load_app(to_langgraph_module(fileio.loads(text)), folder)
        drive(module.build_graph(InMemorySaver()), {"amount": 5}, {}, thread=str(written))
        assert (folder / "audit.jsonl").exists() is written


RELAYED = """
apiVersion: studio/v1
metadata: {name: relayed, version: 1.0.0}
actors:
  - {id: bot, kind: agent, capability: check, version: 1.0.0}
nodes:
  - {id: start, kind: start}
  - {id: fork, kind: parallel}
  - {id: check_a, kind: task, actor: bot}
  - {id: route, kind: decision}
  - {id: both, kind: join}
  - {id: done, kind: end, outcome: done}
edges:
  - {from: start, to: fork}
  - {from: fork, to: check_a}
  - {from: fork, to: route}
  - {from: check_a, to: both}
  - {from: route, to: both, when: "flag == 'odd'", label: odd}
  - {from: route, to: both, default: true}
  - {from: both, to: done}
"""


@pytest.mark.parametrize("flag", ["even", "odd"])
def test_a_decision_into_a_join_counts_as_its_branch(flag: str, tmp_path: Path) -> None:
    workflow = fileio.loads(RELAYED)
    module = load_app(to_langgraph_module(workflow), tmp_path)
    result, _ = drive(module.build_graph(InMemorySaver(), audit=module.AuditLog(None)), {"flag": flag}, {})
    assert (result["path"], result["outcome"]) == simulated(workflow, {"flag": flag})
    # the decision routes straight into the join (through a relay node, as in the simulator)
    assert result["path"] == ["start", "fork", "check_a", "route", "both", "done"]
    assert {"check_a>both", "route>both"} <= set(result["transitions"])  # the decision, not its relay


def test_approvals_that_route_on_their_outcome_run_in_the_app_as_simulated(tmp_path: Path) -> None:
    path = FIXTURES / "bpmn_exec" / "approval_outcome.yaml"
    workflow = fileio.load(path)
    module = load_app(export_as(workflow, "langgraph").decode("utf-8"), tmp_path)
    rows = fileio.load_cases(path.parent / "approval_outcome_gold.csv").rows
    guarded = {"amount": 90000, "human_decisions": "approve_spend=send_back;" * 3}  # the loop guard stops it
    for index, row in enumerate([*rows, guarded]):
        case = {k: v for k, v in row.items() if k not in (*GOLD_COLUMNS, "case_id")}
        expected_path, expected_outcome = simulated(workflow, case, str(row["human_decisions"]))
        app = module.build_graph(InMemorySaver(), audit=[].append)  # the audit log kept in memory
        result, _ = drive(app, case, parse_human_decisions(row["human_decisions"]), thread=f"case-{index}")
        assert result["path"] == expected_path, row
        assert result["outcome"] == expected_outcome, row
        if "expected_path" in row:
            assert expected_path == str(row["expected_path"]).split(">")
    assert expected_outcome == "killed:loop_guard"


def test_a_wait_until_shifts_is_due_when_the_next_shift_opens(tmp_path: Path) -> None:
    data = fileio.to_data(fileio.load(FIXTURES / "bpmn_exec" / "wait.yaml"))
    night = {"timezone": "UTC", "shifts": [{"days": ["fri"], "hours": "22:00-06:00"},
                                          {"days": ["mon"], "hours": "07:00-12:00,13:00-15:00"}]}
    for node in data["nodes"]:
        if "until" in node:
            node["until"] = night
    workflow = Workflow.model_validate(data)
    module = load_app(to_langgraph_module(workflow), tmp_path)
    for now, due in (("2026-11-27T18:00:00.000Z", "2026-11-27T22:00:00.000Z"),  # Friday evening: the night shift
                     ("2026-11-28T03:00:00.000Z", "2026-11-28T03:00:00.000Z"),  # Saturday 03:00: still open
                     ("2026-11-28T07:00:00.000Z", "2026-11-30T07:00:00.000Z")):  # Saturday morning: Monday 07:00
        app = module.build_graph(InMemorySaver(), audit=module.AuditLog(None), clock=lambda now=now: now)
        _, asked = drive(app, {"amount": 500}, {}, thread=now)
        assert {p["node"]: p["due"] for p in asked}["chase"] == due
        assert next(p for p in asked if p["node"] == "chase")["until"] == night
