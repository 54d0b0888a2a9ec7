"""``--to serverless``: Serverless Workflow 1.0 documents that pass the official schema, keep every
step, route like the studio, refuse what they cannot express and report what they keep as metadata.

The snapshot ``tests/snapshots/procurement.serverless.yaml`` pins the output; after a deliberate
change run ``STUDIO_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_export_serverless.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, ROOT, TEMPLATES
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from studio import fileio
from studio.cli import main
from studio.errors import Severity, WorkflowInvalid
from studio.export import TARGETS, export_as
from studio.export._jq import UntranslatableCondition, condition_to_jq
from studio.export.serverless import _unwrap, export_serverless, serverless_findings, to_serverless
from studio.expr import EvaluationError, parse
from studio.graph import with_outcome_routers
from studio.model import Approval, Decision, Parallel, Task, Workflow

VENDORED = ROOT / "schemas" / "serverlessworkflow-1.0.schema.yaml"
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "serverlessworkflow" / "workflow.schema.yaml"
SNAPSHOT = ROOT / "tests" / "snapshots" / "procurement.serverless.yaml"
UPDATE = os.environ.get("STUDIO_UPDATE_SNAPSHOTS") == "1"
BASE = FIXTURES / "valid" / "base.yaml"
WORKFLOWS = [*sorted(TEMPLATES.glob("*/workflow.yaml")), *sorted((FIXTURES / "valid").glob("*.yaml")),
             FIXTURES / "bpmn_exec" / "approval_outcome.yaml"]  # approvals that route on their outcome
IDS = [p.parent.name if p.name == "workflow.yaml" else p.stem for p in WORKFLOWS]


def _load_yaml(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = _load_yaml(VENDORED.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _tasks(task_list: list[dict[str, Any]], where: str = "do") -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every task of a task list and of the lists nested in it: (list path, name, task)."""
    for item in task_list:
        ((name, task),) = item.items()
        yield where, name, task
        for key in ("do", "try"):
            if isinstance(task.get(key), list):
                yield from _tasks(task[key], f"{where}/{name}/{key}")
        if isinstance(task.get("catch"), dict) and "do" in task["catch"]:
            yield from _tasks(task["catch"]["do"], f"{where}/{name}/catch")
        if "fork" in task:
            yield from _tasks(task["fork"]["branches"], f"{where}/{name}/fork")


def _find(document: dict[str, Any], name: str) -> dict[str, Any]:
    found = [task for _, n, task in _tasks(document["do"]) if n == name]
    assert len(found) == 1, f"task `{name}` appears {len(found)} times"
    return found[0]


def _with_edge_condition(path: Path, source: str, target: str, when: str) -> Workflow:
    data = fileio.to_data(fileio.load(path))
    for edge in data["edges"]:
        if edge["from"] == source and edge["to"] == target:
            edge["when"] = when
    return fileio.loads(fileio.dump_yaml(data), file=str(path))


# --------------------------------------------------------------------------- the schema


def test_vendored_schema_is_the_official_one() -> None:
    if not REFERENCE.is_file():
        pytest.skip(f"the reference copy is not at {REFERENCE} (../shared beside the repo)")
    assert VENDORED.read_bytes() == REFERENCE.read_bytes()
    notice = (VENDORED.parent / "serverlessworkflow-1.0.NOTICE").read_text(encoding="utf-8")
    assert "Apache License, Version 2.0" in notice and "serverlessworkflow/specification" in notice


# --------------------------------------------------------------------------- every workflow


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_exports_validate_and_keep_every_step(path: Path, validator: Draft202012Validator) -> None:
    workflow = fileio.load(path)
    text = to_serverless(workflow)
    document = _load_yaml(text)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]]
    assert document["document"]["dsl"].startswith("1.0.")
    assert document["document"]["version"] == workflow.metadata.version
    names = [name for _, name, _ in _tasks(document["do"])]
    for node in workflow.nodes:
        if isinstance(node, (Task, Approval, Decision, Parallel)) or node.kind in ("end", "subworkflow", "wait"):
            assert names.count(node.id) == 1, f"`{node.id}` should be one task of the document"
    first = next(e.target for e in workflow.edges if e.source == workflow.nodes[0].id)
    assert next(iter(document["do"][0])) == first, "the document starts with the start node's step"
    assert to_serverless(fileio.load(path)) == text, "same workflow, same bytes"
    assert export_as(workflow, "serverless") == text.encode("utf-8")


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_decisions_are_switches_in_edge_order(path: Path) -> None:
    loaded = fileio.load(path)
    document = _load_yaml(to_serverless(loaded))
    workflow = with_outcome_routers(loaded)  # an approval routing on its outcome: a switch right after it
    for node in workflow.nodes:
        if not isinstance(node, Decision):
            continue
        cases = _find(document, node.id)["switch"]
        edges = [e for e in workflow.edges if e.source == node.id]
        conditional = [e for e in edges if not e.default]
        assert len(cases) == len(edges)
        for case, edge in zip(cases, conditional, strict=False):
            ((name, body),) = case.items()
            assert body["then"] in (edge.target, "exit")
            assert body["when"] == "${ " + _unwrap(condition_to_jq(edge.when or "")) + " }"
            assert name.startswith(f"to_{edge.target}")
        if len(conditional) == len(edges):  # complementary branches (`x` / `not x`) need no default
            continue
        ((name, default),) = cases[-1].items()
        assert name == "default" and "when" not in default
        assert default["then"] in (next(e.target for e in edges if e.default), "exit")


def test_procurement_routes_and_people(validator: Draft202012Validator) -> None:
    document = _load_yaml(to_serverless(fileio.load(TEMPLATES / "procurement" / "workflow.yaml")))
    assert document["document"]["namespace"] == "studio" and document["document"]["name"] == "procurement"
    cases = _find(document, "manager_outcome")["switch"]
    assert [next(iter(c)) for c in cases] == ["to_cfo_approval", "to_create_po", "to_intake_request", "default"]
    assert cases[2]["to_intake_request"] == {"when": '${ .manager_approval_decision == "send_back" }',
                                             "then": "intake_request"}
    assert '.amount | if type == "number" then (. > 10000)' in cases[0]["to_cfo_approval"]["when"]
    # the approval: announced, a listen with the SLA as timeout, escalation to the role on timeout
    approval = _find(document, "manager_approval")
    steps = {name: task for item in approval["try"] for name, task in item.items()}
    assert list(steps) == ["request", "answer"]
    assert steps["request"]["emit"]["event"]["with"]["type"] == "studio.approval.requested"
    assert steps["answer"]["timeout"] == {"after": "P1D"}
    listened = steps["answer"]["listen"]["to"]["one"]["with"]
    assert listened == {"type": "studio.approval.decided", "approval": "manager_approval", "role": "line_managers"}
    catch = approval["catch"]
    assert catch["errors"]["with"]["status"] == 408
    escalated = catch["do"][1]["escalated_answer"]["listen"]["to"]["one"]["with"]
    assert escalated["role"] == "procurement_leads"
    assert '"manager_approval_decision": $answer.decision' in approval["output"]["as"]
    assert approval["then"] == "manager_outcome"
    # a human task listens for its completion and keeps its outputs
    mismatch = _find(document, "resolve_mismatch")
    assert mismatch["try"][-1]["answer"]["timeout"] == {"after": "P2D"}
    assert mismatch["try"][-1]["answer"]["listen"]["to"]["one"]["with"]["type"] == "studio.task.completed"
    assert '"mismatch_resolution"' in mismatch["output"]["as"]
    # agents are calls with their retry policy and the gateway's settings as metadata, secrets by name
    payment = _find(document, "release_payment")
    assert payment["try"][0]["invoke"]["call"] == "payment_agent"
    assert payment["catch"]["retry"] == "retry-1"
    assert document["use"]["retries"]["retry-1"] == {"limit": {"attempt": {"count": 1}}}
    tools = {t["id"]: t for t in payment["metadata"]["tools"]}
    assert tools["release_payment"]["tier"] == "critical"
    assert tools["release_payment"]["credential_secret"] == "BANK_GATEWAY_TOKEN_REF"
    assert tools["release_payment"]["rate_limit"] == {"calls": 30, "per": "PT1M"}
    assert payment["metadata"]["agent"]["version"] == "1.1.3"
    assert "BANK_GATEWAY_TOKEN_REF" in document["use"]["secrets"]
    assert "payment_agent" in document["use"]["functions"]
    # parallel checks are a fork whose branches end at the join; the fork continues after it
    fork = _find(document, "prechecks")
    assert [next(iter(b)) for b in fork["fork"]["branches"]] == ["check_vendor", "check_budget"]
    assert "then" not in fork["fork"]["branches"][0]["check_vendor"], "a one-step branch ends with its step"
    assert fork["then"] == "precheck_gate"
    # ends set the outcome and end the workflow; loop guards are metadata
    paid = _find(document, "paid")
    assert paid["then"] == "end" and '"outcome": "paid"' in paid["set"]
    assert document["document"]["metadata"]["studio"]["guardrails"]["max_repeats"] == 3


def test_snapshot_of_procurement() -> None:
    text = to_serverless(fileio.load(TEMPLATES / "procurement" / "workflow.yaml"))
    if UPDATE:
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.is_file(), f"no snapshot {SNAPSHOT}; create it with STUDIO_UPDATE_SNAPSHOTS=1"
    assert SNAPSHOT.read_text(encoding="utf-8") == text, (
        "the Serverless Workflow export changed; if intended run "
        "STUDIO_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_export_serverless.py"
    )


# --------------------------------------------------------------------------- losses and refusals


def test_losses_are_reported_and_strict_refuses_them() -> None:
    workflow = fileio.load(BASE)
    result = export_serverless(workflow)
    codes = {f.code: f for f in result.findings}
    assert codes["W103"].severity is Severity.WARNING and "max_turns" in codes["W103"].message
    assert codes["W105"].severity is Severity.INFO and codes["W106"].severity is Severity.INFO
    timers = sorted(f.message.split("`")[1] for f in result.findings if f.code == "W107")
    assert timers == ["confirm", "review"], "each SLA timer says it runs until the answer, not the start"
    assert result.document["document"]["metadata"]["studio"]["guardrails"]["max_turns"] == 100
    with pytest.raises(WorkflowInvalid) as refused:
        export_serverless(workflow, strict=True)
    assert [f.code for f in refused.value.findings] == ["W103"]


def test_a_wait_is_the_dsls_wait_task(validator: Draft202012Validator) -> None:
    result = export_serverless(fileio.load(FIXTURES / "valid" / "wait.yaml"))
    assert not list(validator.iter_errors(result.document))
    remind, goods, office = (_find(result.document, name) for name in ("remind", "goods", "office"))
    assert (remind["wait"], remind["then"]) == ("P1D", "receive")  # a fixed delay: exactly
    assert goods["wait"] == "P2DT16H" and goods["metadata"]["delay"]["dist"] == "triangular"  # its mean
    assert office["wait"] == "PT15H14M17.143S" and office["metadata"]["until"]["hours"] == "09:00-17:00"
    assert sorted(f.location for f in result.findings if f.code == "W110") == ["nodes[2]", "nodes[6]"]
    assert all(f.severity is Severity.WARNING for f in result.findings if f.code == "W110")


@pytest.mark.parametrize(("condition", "construct"), [
    ("round(amount) > 1000", "round"),
    ("lower(category) == 'x'", "lower"),
    ("amount ** 2 > 1000", "**"),
    ("(amount or 0) > 1000", "used as a value"),
])
def test_an_untranslatable_condition_is_refused_by_name(condition: str, construct: str) -> None:
    workflow = _with_edge_condition(BASE, "route", "review", condition)
    with pytest.raises(WorkflowInvalid) as refused:
        to_serverless(workflow)
    (finding,) = refused.value.findings
    assert finding.code == "W101" and finding.is_error
    assert finding.location == "edges[3].when" and finding.line is not None
    assert condition in finding.message and construct in finding.message
    with pytest.raises(UntranslatableCondition, match="cannot be translated to jq faithfully"):
        condition_to_jq(condition)


def test_a_shape_without_a_structured_form_is_refused() -> None:
    # a task whose two plain edges both run (an implicit fork with no join): no `then` can say that
    data = fileio.to_data(fileio.load(BASE))
    data["edges"].append({"from": "check", "to": "update"})
    workflow = fileio.loads(fileio.dump_yaml(data))
    with pytest.raises(WorkflowInvalid) as refused:
        to_serverless(workflow)
    (finding,) = refused.value.findings
    assert finding.code == "W102" and finding.is_error and finding.location == "nodes[2]"
    assert "`check` has 2 outgoing edges" in finding.message


def test_a_subworkflow_runs_the_referenced_workflow_by_version(validator: Draft202012Validator) -> None:
    data = fileio.to_data(fileio.load(BASE))
    data["nodes"].append({"id": "sub", "kind": "subworkflow", "ref": "procurement"})
    data["edges"] = [e for e in data["edges"] if e["from"] != "update"]
    data["edges"] += [{"from": "update", "to": "sub"}, {"from": "sub", "to": "done"}]
    result = export_serverless(fileio.loads(fileio.dump_yaml(data)))
    assert not list(validator.iter_errors(result.document))
    sub = _find(result.document, "sub")
    assert sub["run"]["workflow"] == {"namespace": "studio", "name": "procurement", "version": "1.0.0"}
    assert sub["then"] == "done" and _find(result.document, "update")["then"] == "sub"
    (finding,) = [f for f in result.findings if f.code == "W104"]
    assert finding.severity is Severity.WARNING and "studio/procurement" in finding.message


def test_a_node_named_like_a_flow_directive_is_renamed() -> None:
    text = BASE.read_text(encoding="utf-8").replace("done", "end")
    document = _load_yaml(to_serverless(fileio.loads(text)))
    ending = _find(document, "end_node")
    assert ending["then"] == "end" and ending["metadata"]["node"] == "end"
    assert _find(document, "pay")["then"] == "end_node", "`then: end` would end the workflow before the outcome"


def test_conditions_keep_the_studios_meaning() -> None:
    # the studio's truthiness, not jq's (0, "" and [] are false), on a bare field
    truthy = '(. != null and . != false and . != 0 and . != "" and . != [] and . != {})'
    assert condition_to_jq("flag") == f"(.flag | {truthy})"
    # `//` is floor division (jq's `//` is "alternative"), `%` follows the divisor's sign
    floor_division = '((.amount | if type == "number" then ((. / 2) | floor) else'
    assert condition_to_jq("amount // 2 == 3").startswith(floor_division)
    modulo = '(.amount | if type == "number" then (. - (3 * ((. / 3) | floor))) else'
    assert modulo in condition_to_jq("amount % 3 == 1")
    # membership in a literal list, a flat dotted column before the nested record
    assert condition_to_jq("category in ['a', 'b']") == '(.category as $item | any(["a", "b"][]; . == $item))'
    assert 'has("vendor.country")' in condition_to_jq("vendor.country == 'DE'")
    # ordering only between numbers or between texts; the studio stops the case otherwise
    assert 'error("cannot compare `amount` with `10` using `<`' in condition_to_jq("amount < 10")
    # literals are written as JSON, never pasted: quotes and backslashes stay inside the string
    assert condition_to_jq('note == "a\\" or true"') == '(.note == "a\\" or true")'


JQ_CASES = [
    {"amount": 10001, "status": "over", "flag": 0, "category": "a", "tags": ["vip"], "score": 0.5, "note": ""},
    {"amount": 9999.5, "status": "ok", "flag": "", "category": "c", "tags": "vipers", "score": 1, "note": None},
    {"amount": "12000", "status": "ok", "flag": [1], "category": None, "tags": {"vip": 1}, "score": 2, "note": "x"},
]
JQ_CONDITIONS = [
    "amount > 10000", "status == 'over' and (amount > 10000 or flag)", "not flag", "category in ['a', 'b']",
    "'vip' in tags", "0 < score <= 1", "amount // 3 == 3333", "amount % 7 == 5", "is_empty(note)",
    "coalesce(note, 'n') == ''",
]


def test_translated_conditions_decide_as_the_studio_does() -> None:
    jq = pytest.importorskip("jq")  # only where a jq implementation is installed; the studio does not need it
    for condition, case in ((c, k) for c in JQ_CONDITIONS for k in JQ_CASES):
        program = jq.compile(condition_to_jq(condition))
        try:
            expected: object = bool(parse(condition).evaluate(case))
        except EvaluationError:
            expected = "error"
        try:
            run = program.input_value(case) if hasattr(program, "input_value") else program.input(case)
            got: object = run.first()
        except ValueError:
            got = "error"
        assert got == expected, (condition, case)


# --------------------------------------------------------------------------- the command line


def test_cli_writes_the_document_and_prints_the_losses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "serverless" in TARGETS
    source = TEMPLATES / "procurement" / "workflow.yaml"
    out = tmp_path / "out.yaml"
    assert main(["export", str(source), "--to", "serverless", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == to_serverless(fileio.load(source))
    err = capsys.readouterr().err
    assert "W103 warning" in err and f"wrote {out}" in err


def test_cli_refuses_error_findings_and_untranslatable_conditions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.yaml"
    assert main(["export", str(FIXTURES / "invalid" / "G001.yaml"), "--to", "serverless", "-o", str(out)]) == 1
    assert "G001 error" in capsys.readouterr().out and not out.exists()
    bad = tmp_path / "bad.yaml"
    fileio.save(_with_edge_condition(BASE, "route", "review", "round(amount) > 1000"), bad)
    assert main(["export", str(bad), "--to", "serverless", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "W101 error" in captured.out and "round(amount) > 1000" in captured.out
    assert "not exported" in captured.err and not out.exists()
    assert main(["export", str(BASE), "--to", "serverless", "--strict", "-o", str(out)]) == 1
    assert "W103" in capsys.readouterr().out and not out.exists()


def test_a_pools_shifts_are_in_the_task_metadata() -> None:
    document = YAML(typ="safe").load(to_serverless(fileio.load(FIXTURES / "valid" / "shifts.yaml")))
    found: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            meta = value.get("metadata")
            if isinstance(meta, dict) and meta.get("actor") == "clerks" and "calendar" in meta:
                found.append(meta["calendar"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    assert found and found[0] == {"timezone": "Europe/Berlin", "shifts": [
        {"days": ["mon"], "hours": ["08:00-18:00"]},
        {"days": ["tue", "wed", "thu"], "hours": ["09:00-12:00", "13:00-17:00"]},
        {"days": ["fri"], "hours": ["22:00-06:00"]}]}


def test_an_escalation_chain_nests_one_timeout_per_level(validator: Draft202012Validator) -> None:
    workflow = fileio.load(FIXTURES / "simulate" / "escalation_chain.yaml")
    document = _load_yaml(to_serverless(workflow))
    assert not list(validator.iter_errors(document))
    approval = _find(document, "sign_off")
    assert approval["try"][-1]["answer"]["timeout"] == {"after": "PT2H"}  # the approver has 2 h
    first = approval["catch"]
    assert first["errors"]["with"]["status"] == 408
    announce = first["do"][0]["escalate"]["emit"]["event"]["with"]
    assert (announce["type"], announce["role"], announce["data"]["escalated_from"]) == (
        "studio.approval.escalated", "leads", "approver")
    leads = first["do"][1]["escalated_answer"]  # the leads have 1 h from the hand-over
    assert leads["try"][0]["answer"]["timeout"] == {"after": "PT1H"}
    assert leads["try"][0]["answer"]["listen"]["to"]["one"]["with"]["role"] == "leads"
    second = leads["catch"]
    announce = second["do"][0]["escalate"]["emit"]["event"]["with"]
    assert (announce["role"], announce["data"]["escalated_from"]) == ("directors", "leads")
    last = second["do"][1]["escalated_answer"]
    assert "timeout" not in last and last["listen"]["to"]["one"]["with"]["role"] == "directors"
    assert approval["metadata"]["escalate_to"] == "leads"
    assert approval["metadata"]["escalation"] == [{"to": "leads", "after": "PT2H"},
                                                  {"to": "directors", "after": "PT1H"}]
    [w107] = [f for f in serverless_findings(workflow) if f.code == "W107"]
    assert "each level of the escalation chain of `sign_off` (PT2H, PT1H)" in w107.message
