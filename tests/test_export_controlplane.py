"""The control-plane definition: schema-valid, deterministic, refusing invalid workflows, with evidence."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import FIXTURES, ROOT, TEMPLATES
from ruamel.yaml import YAML

from studio import fileio
from studio.cli import main
from studio.errors import LoadError, WorkflowInvalid
from studio.export import controlplane_schema, dumps_definition, export_controlplane, to_controlplane
from studio.export._oversight import APPROVAL_DECISIONS, route_condition
from studio.export.controlplane import build_definition, canonical_json, schema_text
from studio.expr import EvaluationError, check, parse
from studio.model import Edge, Workflow

SCHEMA_PATH = ROOT / "schemas" / "controlplane.schema.json"
TEMPLATE_FILES = sorted(TEMPLATES.glob("*/workflow.yaml")) or [FIXTURES / "valid" / "base.yaml"]
WORKFLOWS = [*TEMPLATE_FILES, FIXTURES / "valid" / "base.yaml", FIXTURES / "valid" / "wait.yaml"]


def _ids(paths: list[Path]) -> list[str]:
    return [p.parent.name if p.name == "workflow.yaml" else p.stem for p in paths]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


load = functools.cache(fileio.load)  # read-only use: every file is parsed once per module


def _export(path: Path, **kwargs: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(dumps_definition(to_controlplane(load(path), **kwargs)))
    return data


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "schemas/controlplane.schema.json is stale; run `.venv/bin/python -m studio.export.write_schema`"
    )
    assert controlplane_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_every_workflow_exports_a_schema_valid_definition(
    path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    document = _export(path)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert document["apiVersion"] == "controlplane.studio/v1"
    assert document["kind"] == "AgentWorkflow"
    workflow = load(path)
    assert document["metadata"]["name"] == workflow.metadata.name
    assert document["metadata"]["version"] == workflow.metadata.version
    assert [n["id"] for n in document["spec"]["nodes"]] == [n.id for n in workflow.nodes]
    assert len(document["spec"]["routes"]) == len(workflow.edges)
    assert document["evidence"]["validation"]["passed"] is True


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_export_is_byte_identical_and_independent_of_the_folder(path: Path, tmp_path: Path) -> None:
    first = dumps_definition(to_controlplane(load(path)))
    assert dumps_definition(to_controlplane(fileio.load(path))) == first
    copy_dir = tmp_path / "elsewhere"
    shutil.copytree(path.parent, copy_dir)
    moved = dumps_definition(to_controlplane(fileio.load(copy_dir / path.name)))
    assert moved == first
    assert str(tmp_path) not in moved and str(ROOT) not in first  # no absolute paths, no timestamps


def test_a_wait_is_a_timer_node_and_only_waits_carry_a_timer(validator: jsonschema.Draft202012Validator) -> None:
    document = _export(FIXTURES / "valid" / "wait.yaml")
    validator.validate(document)
    nodes = {node["id"]: node for node in document["spec"]["nodes"]}
    assert nodes["remind"]["kind"] == "wait"
    assert nodes["remind"]["timer"] == {"delay_seconds": 86400.0, "distribution": None, "until": None}
    assert nodes["goods"]["timer"] == {"delay_seconds": 2 * 86400.0 + 16 * 3600.0,  # (1d + 2d + 5d) / 3
                                       "distribution": "triangular", "until": None}
    assert nodes["office"]["timer"]["until"] == {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00",
                                                 "timezone": "Europe/Berlin"}
    assert all("timer" not in node for node in document["spec"]["nodes"] if node["kind"] != "wait")
    assert all("timer" not in node for node in _export(FIXTURES / "valid" / "base.yaml")["spec"]["nodes"])


def test_content_hash_is_sha256_of_the_canonical_spec() -> None:
    document = _export(TEMPLATE_FILES[0])
    expected = hashlib.sha256(canonical_json(document["spec"]).encode("utf-8")).hexdigest()
    assert document["metadata"]["content_hash"] == f"sha256:{expected}"
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_spec_says_what_the_control_plane_enforces() -> None:
    document = _export(FIXTURES / "valid" / "base.yaml")
    spec = document["spec"]
    routes = {(r["from"], r["to"]): r for r in spec["routes"]}
    assert routes[("route", "review")]["condition"] == "amount > 1000 and score >= 0.5"
    assert routes[("route", "review")]["condition_fields"] == ["amount", "score"]
    assert routes[("route", "fork")]["default"] is True
    agents = {a["id"]: a for a in spec["agents"]}
    assert agents["checker_agent"]["version"] == "2.1.0"
    assert agents["checker_agent"]["capability"] == "checks"
    assert agents["intake_agent"]["allowed_tools"] == ["crm_read", "crm_write", "payments"]
    assert agents["intake_agent"]["autonomy"] == "human_in_the_loop"  # the policy default
    tools = {t["id"]: t for t in spec["tools"]}
    assert tools["payments"]["tier"] == "critical" and tools["payments"]["requires_approval"] is True
    assert tools["payments"]["rate_limit"] == {"calls": 10, "per_seconds": 60.0}
    assert tools["crm_write"]["credential_secret"] == "CRM_WRITE_TOKEN"
    roles = {h["id"]: h for h in spec["human_roles"]}
    assert roles["clerks"]["pool_size"] == 3
    oversight = spec["oversight"]
    review = next(a for a in oversight["approvals"] if a["node"] == "review")
    assert review["sla_seconds"] == 4 * 3600
    assert review["escalation_chain"] == ["directors"]
    assert review["gates"] == ["pay"]
    assert oversight["critical_actions"] == [
        {"node": "pay", "tools": ["payments"], "approvals": ["review"], "gated_on_every_path": True,
         "ungated_paths": []}
    ]
    assert spec["guardrails"]["max_repeats"] == 3
    assert spec["guardrails"]["loop_detection"]["enabled"] is True
    assert spec["data_bindings"][0]["freshness_seconds"] == 900
    assert spec["data_bindings"][0]["written_by"] == ["update"]
    assert spec["audit"]["format"] == "jsonl"
    assert "agent_version" in spec["audit"]["record_fields"]


def test_evidence_hashes_the_inputs(tmp_path: Path) -> None:
    template = TEMPLATE_FILES[0]
    document = _export(template)
    inputs = {i["role"]: i for i in document["evidence"]["inputs"]}
    assert inputs["workflow"]["sha256"] == hashlib.sha256(template.read_bytes()).hexdigest()
    for role, name in (("sample_data", "sample.csv"), ("gold_data", "gold.csv")):
        if (template.parent / name).is_file():
            assert inputs[role]["sha256"] == hashlib.sha256((template.parent / name).read_bytes()).hexdigest()
            assert inputs[role]["name"] == name


def test_evidence_reads_kpis_and_gold_results_from_a_results_folder(
    tmp_path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    kpis = {"cases": 200, "cycle_time": {"p50": 3600.0, "p95": 9000.5}, "gold_pass_rate": 0.95, "odd": float("nan")}
    (results / "kpis.json").write_text(json.dumps(kpis), encoding="utf-8")
    (results / "gold.json").write_text(json.dumps({"passed": 19, "failed": 1}), encoding="utf-8")
    document = _export(FIXTURES / "valid" / "base.yaml", evidence_dir=results)
    assert not list(validator.iter_errors(document))
    simulation = document["evidence"]["simulation"]
    assert simulation["gold_pass_rate"] == 0.95
    assert simulation["kpis"]["cycle_time"]["p95"] == 9000.5
    assert simulation["kpis"]["odd"] is None  # NaN is not JSON
    assert simulation["gold"] == {"passed": 19, "failed": 1}
    roles = {i["role"]: i["sha256"] for i in document["evidence"]["inputs"]}
    assert roles["kpis"] == hashlib.sha256((results / "kpis.json").read_bytes()).hexdigest()
    assert "gold_results" in roles
    # The evidence does not change the definition's identity.
    assert document["metadata"]["content_hash"] == _export(FIXTURES / "valid" / "base.yaml")["metadata"]["content_hash"]


@pytest.mark.parametrize(
    ("kpis", "gold", "rate"),
    [
        ({"cases": 3}, {"pass_rate": 0.5, "passed": 1, "total": 2}, 0.5),  # gold.json as the simulator writes it
        ({"gold": {"pass_rate": 0.75, "passed": 3, "total": 4}}, None, 0.75),  # nested in kpis.json
        ({"cases": 3}, None, None),
    ],
)
def test_gold_pass_rate_is_found_where_the_simulator_puts_it(
    kpis: dict[str, Any], gold: dict[str, Any] | None, rate: float | None, tmp_path: Path
) -> None:
    (tmp_path / "kpis.json").write_text(json.dumps(kpis), encoding="utf-8")
    if gold is not None:
        (tmp_path / "gold.json").write_text(json.dumps(gold), encoding="utf-8")
    document = _export(FIXTURES / "valid" / "base.yaml", evidence_dir=tmp_path)
    assert document["evidence"]["simulation"]["gold_pass_rate"] == rate


def test_a_results_folder_without_kpis_is_unreadable_input(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"kpis\.json"):
        to_controlplane(load(FIXTURES / "valid" / "base.yaml"), evidence_dir=tmp_path)
    (tmp_path / "kpis.json").write_text("[1, 2", encoding="utf-8")
    with pytest.raises(LoadError, match="cannot read"):
        to_controlplane(load(FIXTURES / "valid" / "base.yaml"), evidence_dir=tmp_path)


def test_export_refuses_a_workflow_with_error_findings() -> None:
    workflow = fileio.load(FIXTURES / "invalid" / "G001.yaml")
    with pytest.raises(WorkflowInvalid) as caught:
        to_controlplane(workflow)
    assert any(f.code == "G001" for f in caught.value.findings)


def test_warnings_pass_unless_strict() -> None:
    workflow = fileio.load(FIXTURES / "invalid" / "G003.yaml")
    document = json.loads(dumps_definition(to_controlplane(workflow)))
    validation = document["evidence"]["validation"]
    assert validation["passed"] is True and validation["warnings"] == 1
    assert validation["findings"][0]["code"] == "G003"
    with pytest.raises(WorkflowInvalid, match="strict"):
        to_controlplane(workflow, strict=True)


def test_yaml_output_holds_the_same_document(tmp_path: Path) -> None:
    workflow = load(FIXTURES / "valid" / "base.yaml")
    json_path = export_controlplane(workflow, tmp_path / "base.json")
    yaml_path = export_controlplane(workflow, tmp_path / "base.yaml")
    assert json.loads(json_path.read_text(encoding="utf-8")) == YAML(typ="safe").load(yaml_path.read_text())
    assert yaml_path.read_text(encoding="utf-8").startswith("apiVersion: controlplane.studio/v1\n")


def test_schema_rejects_a_tampered_definition(validator: jsonschema.Draft202012Validator) -> None:
    document = _export(FIXTURES / "valid" / "base.yaml")
    for path, value in (
        (("spec", "tools", 0, "tier"), "superuser"),
        (("metadata", "content_hash"), "md5:abc"),
        (("kind",), "Workflow"),
    ):
        broken = copy.deepcopy(document)
        target: Any = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert list(validator.iter_errors(broken)), path
    extra = copy.deepcopy(document)
    extra["spec"]["surprise"] = True
    assert list(validator.iter_errors(extra))


def test_workflow_built_in_memory_is_hashed_by_its_canonical_text() -> None:
    data = fileio.to_data(load(FIXTURES / "valid" / "base.yaml"))
    workflow = Workflow.model_validate(data)
    document = json.loads(dumps_definition(to_controlplane(workflow)))
    digest = next(i for i in document["evidence"]["inputs"] if i["role"] == "workflow")
    assert digest["sha256"] == hashlib.sha256(fileio.dumps(workflow).encode("utf-8")).hexdigest()


def test_evidence_does_not_depend_on_where_the_workflow_was_loaded_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "flow"
    folder.mkdir()
    text = (FIXTURES / "invalid" / "D003.yaml").read_text(encoding="utf-8")
    (folder / "workflow.yaml").write_text(text, encoding="utf-8")
    absolute = dumps_definition(to_controlplane(fileio.load(folder / "workflow.yaml")))
    assert str(tmp_path) not in absolute
    assert '"code": "D003"' in absolute
    monkeypatch.chdir(tmp_path)
    assert dumps_definition(to_controlplane(fileio.load("flow/workflow.yaml"))) == absolute


def test_a_workflow_edited_after_loading_is_hashed_as_it_is_now() -> None:
    workflow = fileio.load(FIXTURES / "valid" / "base.yaml")
    workflow.metadata.owner = "someone-else@example.com"
    document = json.loads(dumps_definition(to_controlplane(workflow)))
    digest = next(i for i in document["evidence"]["inputs"] if i["role"] == "workflow")
    assert digest == {"role": "workflow", "name": "base.yaml",
                      "sha256": hashlib.sha256(fileio.dumps(workflow).encode("utf-8")).hexdigest()}


# --------------------------------------------------------------------------- what a deployer needs

PROCUREMENT = TEMPLATES / "procurement" / "workflow.yaml"


def _base_data() -> dict[str, Any]:
    return copy.deepcopy(fileio.to_data(load(FIXTURES / "valid" / "base.yaml")))


def _node(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def _by(items: list[dict[str, Any]], key: str = "id") -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


def _document(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(dumps_definition(to_controlplane(Workflow.model_validate(data))))
    return out


def test_procurement_autonomy_is_what_the_graph_allows() -> None:
    agents = _by(_export(PROCUREMENT)["spec"]["agents"])
    # The payment agent calls the critical `release_payment` itself, but only after the manager's
    # (and, above 10,000, the CFO's) approval on every path: it stays human-in-the-loop.
    payment = agents["payment_agent"]
    assert (payment["autonomy"], payment["effective_autonomy"]) == ("human_in_the_loop", "human_in_the_loop")
    assert payment["reaches_critical_without_person"] == []
    assert agents["intake_agent"]["effective_autonomy"] == "human_in_the_loop"  # a person follows each step
    assert agents["vendor_risk_agent"]["effective_autonomy"] == "fully_autonomous"  # as declared
    # The match agent's result leads to the payment with no person between: the graph says so.
    match = agents["invoice_match_agent"]
    assert match["effective_autonomy"] == "human_on_the_loop"
    reach = _by(match["reaches_critical_without_person"], "node")
    assert reach["three_way_match"]["path"] == ["three_way_match", "match_gate", "post_invoice", "release_payment"]
    assert reach["three_way_match"]["tools"] == ["release_payment"]
    assert reach["three_way_match"]["when"] is None


def test_an_agent_reaching_a_critical_tool_with_no_person_between_is_not_in_the_loop(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = _base_data()
    # review -> prepare (checker agent, declared human-in-the-loop) -> pay (critical `payments`)
    data["nodes"].append({"id": "prepare", "kind": "task", "actor": "checker_agent", "tools": ["crm_read"]})
    data["edges"] = [e for e in data["edges"] if (e["from"], e["to"]) != ("review", "pay")]
    data["edges"] += [{"from": "review", "to": "prepare"}, {"from": "prepare", "to": "pay"}]
    next(a for a in data["actors"] if a["id"] == "checker_agent")["autonomy"] = "human_in_the_loop"
    document = _document(data)
    assert not list(validator.iter_errors(document))
    agents = _by(document["spec"]["agents"])
    checker = agents["checker_agent"]
    assert checker["autonomy"] == "human_in_the_loop"
    assert checker["effective_autonomy"] == "human_on_the_loop"
    assert checker["reaches_critical_without_person"] == [
        {"node": "prepare", "critical_node": "pay", "tools": ["payments"], "path": ["prepare", "pay"],
         "skippable_approvals": [], "when": None}
    ]
    # The agent doing `pay` is behind the approval on every path.
    assert agents["intake_agent"]["effective_autonomy"] == "human_in_the_loop"
    # Unchanged workflow: nobody reaches `pay` unseen.
    assert all(a["effective_autonomy"] == a["autonomy"] for a in _export(FIXTURES / "valid" / "base.yaml")
               ["spec"]["agents"])


def test_an_approval_gated_by_a_threshold_says_so_and_leaves_an_ungated_path() -> None:
    data = _base_data()
    _node(data, "review")["threshold"] = "amount >= 1000"
    document = _document(data)
    oversight = document["spec"]["oversight"]
    review = _by(oversight["approvals"], "node")["review"]
    assert review["gated_above"] == "amount >= 1000"
    assert review["decision_values"] == ["approve", "reject", "send_back"]
    assert review["gate_conditions"] == [
        {"from": "check", "via": ["route"], "when": "amount > 1000 and score >= 0.5"}
    ]
    [pay] = oversight["critical_actions"]
    assert pay["gated_on_every_path"] is True  # structurally an approval is there...
    assert pay["ungated_paths"] == [  # ...but it auto-approves below its threshold
        {"path": ["start", "intake", "check", "route", "review", "pay"], "skippable_approvals": ["review"],
         "when": "not (amount >= 1000)"}
    ]
    assert check(pay["ungated_paths"][0]["when"]) is None
    intake = _by(document["spec"]["agents"])["intake_agent"]
    assert intake["effective_autonomy"] == "human_on_the_loop"
    assert intake["reaches_critical_without_person"][0]["skippable_approvals"] == ["review"]


def test_procurement_approvals_name_the_conditions_that_lead_to_them() -> None:
    approvals = _by(_export(PROCUREMENT)["spec"]["oversight"]["approvals"], "node")
    cfo = approvals["cfo_approval"]
    assert cfo["gated_above"] is None  # a person always decides once a case is there
    assert cfo["gate_conditions"] == [{
        "from": "manager_approval", "via": ["manager_outcome"],
        "when": 'manager_approval_decision == "approve" and (amount > 10000 or budget_status == "over")',
    }]
    # The manager's approval is the default route of the vendor gate: taken when the vendor is not blocked.
    manager = approvals["manager_approval"]
    assert {c["when"] for c in manager["gate_conditions"]} == {'not (vendor_status == "blocked")'}
    assert {c["from"] for c in manager["gate_conditions"]} == {"check_vendor", "check_budget"}
    for approval in approvals.values():
        for condition in approval["gate_conditions"]:
            assert check(condition["when"]) is None, condition


def test_an_ungated_critical_action_is_listed_with_its_witness_path() -> None:
    data = _base_data()
    # A second way to `pay` that skips the approval (the validator refuses this; build_definition
    # does no checks, so the definition shows what the control plane would face).
    data["edges"].append({"from": "update", "to": "pay"})
    definition = build_definition(Workflow.model_validate(data), [])
    document = json.loads(dumps_definition(definition))
    [pay] = document["spec"]["oversight"]["critical_actions"]
    assert pay["gated_on_every_path"] is False
    assert pay["ungated_paths"] == [{
        "path": ["start", "intake", "check", "route", "fork", "enrich", "join", "update", "pay"],
        "skippable_approvals": [], "when": None,
    }]
    assert _by(document["spec"]["agents"])["intake_agent"]["effective_autonomy"] == "human_on_the_loop"


def test_agent_outputs_are_typed_from_the_sample_data(tmp_path: Path) -> None:
    data = _base_data()
    _node(data, "intake")["outputs"] = ["score", "priority", "urgent", "segment", "comment", "nothing", "absent"]
    data["simulation"] = {"sample_data": "cases.jsonl"}
    rows = [
        {"amount": 100 * i, "score": i / 10, "priority": i % 3, "urgent": i % 2 == 0,
         "segment": ["retail", "corporate"][i % 2], "comment": f"free text {i}", "nothing": None}
        for i in range(10)
    ]
    rows[3].pop("comment")
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = tmp_path / "workflow.yaml"
    fileio.save(Workflow.model_validate(data), path)
    document = _export(path)
    outputs = {o["name"]: o for o in _by(document["spec"]["agents"])["intake_agent"]["outputs"]}
    assert all(o["node"] == "intake" for o in outputs.values())
    assert {name: (o["type"], o["enum"]) for name, o in outputs.items()} == {
        "score": ("number", None),
        "priority": ("integer", [0, 1, 2]),
        "urgent": ("boolean", None),
        "segment": ("string", ["corporate", "retail"]),
        "comment": ("string", None),  # ten different texts: not an enum
        "nothing": ("null", None),
        "absent": ("unknown", None),
    }
    assert outputs["comment"]["nullable"] is True and outputs["score"]["nullable"] is False
    assert outputs["absent"]["source"] == "none" and outputs["score"]["source"] == "sample_data"
    # Procurement: from its sample.csv; fields the sample lacks are unknown.
    procurement = _by(_export(PROCUREMENT)["spec"]["agents"])
    vendor = {o["name"]: o for o in procurement["vendor_risk_agent"]["outputs"]}
    assert vendor["vendor_status"]["type"] == "string"
    assert vendor["vendor_status"]["enum"] == ["approved", "blocked", "new"]
    intake = {o["name"]: o for o in procurement["intake_agent"]["outputs"]}
    assert intake["po_number"]["type"] == "unknown"


def test_deployment_placeholders_follow_the_schema_pattern(validator: jsonschema.Draft202012Validator) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    defs = schema["$defs"]
    patterns = {defs["ToolSpec"]["properties"]["endpoint"]["pattern"],
                defs["HumanRoleSpec"]["properties"]["identity_group"]["pattern"],
                defs["AuditSpec"]["properties"]["sink"]["pattern"]}
    [pattern] = patterns
    for path in WORKFLOWS:
        spec = _export(path)["spec"]
        names = [t["endpoint"] for t in spec["tools"]] + [h["identity_group"] for h in spec["human_roles"]]
        names.append(spec["audit"]["sink"])
        assert all(re.fullmatch(pattern, name) for name in names), names
        assert len(set(names)) == len(names)  # one binding per element
    spec = _export(PROCUREMENT)["spec"]
    assert _by(spec["tools"])["erp_read"]["endpoint"] == "${TOOL_ERP_READ_URL}"
    assert _by(spec["human_roles"])["cfo_office"]["identity_group"] == "${HUMAN_CFO_OFFICE_GROUP}"
    assert spec["audit"]["sink"] == "${AUDIT_SINK_URL}"
    # Ids that differ only by `-` and `_` still get their own names.
    data = _base_data()
    data["tools"] += [{"id": "erp-read", "tier": "read_only"}, {"id": "erp_read", "tier": "read_only"}]
    tools = _by(_document(data)["spec"]["tools"])
    assert (tools["erp-read"]["endpoint"], tools["erp_read"]["endpoint"]) == ("${TOOL_ERP_READ_URL}",
                                                                              "${TOOL_ERP_READ_2_URL}")
    broken = _export(PROCUREMENT)
    broken["spec"]["tools"][0]["endpoint"] = "https://erp.example.com"
    assert list(validator.iter_errors(broken))
    broken["spec"]["tools"][0]["endpoint"] = "${tool_erp}"
    assert list(validator.iter_errors(broken))


def test_the_gold_gate_used_is_recorded(tmp_path: Path, validator: jsonschema.Draft202012Validator) -> None:
    base = FIXTURES / "valid" / "base.yaml"
    assert _export(base)["evidence"]["gold_gate"] == {
        "min_pass_rate": 1.0, "source": "default", "gold_pass_rate": None, "passed": None
    }
    (tmp_path / "kpis.json").write_text(json.dumps({"cases": 10}), encoding="utf-8")
    (tmp_path / "gold.json").write_text(json.dumps({"pass_rate": 0.95, "passed": 19, "total": 20}), encoding="utf-8")
    default = _export(base, evidence_dir=tmp_path)
    assert default["evidence"]["gold_gate"] == {
        "min_pass_rate": 1.0, "source": "default", "gold_pass_rate": 0.95, "passed": False
    }
    given = _export(base, evidence_dir=tmp_path, min_gold_pass=0.9)
    assert not list(validator.iter_errors(given))
    assert given["evidence"]["gold_gate"] == {
        "min_pass_rate": 0.9, "source": "given", "gold_pass_rate": 0.95, "passed": True
    }
    assert given["metadata"]["content_hash"] == default["metadata"]["content_hash"]  # evidence is not hashed
    with pytest.raises(ValueError, match="between 0 and 1"):
        to_controlplane(load(base), min_gold_pass=95)


def test_cli_export_carries_the_deployment_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(PROCUREMENT), "--to", "controlplane"]) == 0
    document = json.loads(capsys.readouterr().out)
    agents = _by(document["spec"]["agents"])
    assert agents["invoice_match_agent"]["effective_autonomy"] == "human_on_the_loop"
    assert document["evidence"]["gold_gate"]["min_pass_rate"] == 1.0
    assert document["spec"]["audit"]["sink"] == "${AUDIT_SINK_URL}"


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=_ids(TEMPLATE_FILES))
def test_route_conditions_pick_exactly_the_route_a_decision_takes(path: Path) -> None:
    """The `when` texts (earlier routes win, defaults spelled out) hold for exactly the route taken."""
    workflow = load(path)
    sample = fileio.sample_path(workflow)
    assert sample is not None
    rows = fileio.load_cases(sample).rows[:60]
    decisions = [f"{n.id}_decision" for n in workflow.nodes if n.kind == "approval"]
    cases = [{**row, **dict.fromkeys(decisions, answer)} for row in rows for answer in APPROVAL_DECISIONS]
    by_source: dict[str, list[Any]] = {}
    for edge in workflow.edges:
        by_source.setdefault(edge.source, []).append(edge)
    checked = 0
    for edges in by_source.values():
        if not any(e.when is not None for e in edges):
            continue
        texts = [route_condition(e, edges) for e in edges]
        for case in cases:
            try:
                taken = next((e for e in edges if e.when is not None and not e.default
                              and parse(e.when).evaluate_bool(case)), None)
                taken = taken or next((e for e in edges if e.default), None)
                holds = [e for e, text in zip(edges, texts, strict=True)
                         if text is not None and parse(text).evaluate_bool(case)]
            except EvaluationError:
                continue  # a field this sample does not carry
            assert holds == ([taken] if taken is not None else []), (case, texts)
            checked += 1
    assert checked


def test_overlapping_route_conditions_respect_edge_order() -> None:
    edges = [Edge.model_validate(e) for e in (
        {"from": "d", "to": "big", "when": "amount > 1000"},
        {"from": "d", "to": "some", "when": "amount > 10 or urgent"},
        {"from": "d", "to": "rest", "default": True},
    )]
    texts = [route_condition(e, edges) for e in edges]
    assert texts == ["amount > 1000", "not (amount > 1000) and (amount > 10 or urgent)",
                     "not (amount > 1000 or (amount > 10 or urgent))"]
    for amount, urgent, taken in ((5000, True, 0), (50, False, 1), (5, True, 1), (5, False, 2)):
        case = {"amount": amount, "urgent": urgent}
        assert [i for i, t in enumerate(texts) if parse(t).evaluate_bool(case)] == [taken], case


def test_a_calendar_with_shifts_is_carried_to_the_role(validator: jsonschema.Draft202012Validator) -> None:
    document = _export(FIXTURES / "valid" / "shifts.yaml")
    assert not list(validator.iter_errors(document))
    clerks = next(r for r in document["spec"]["human_roles"] if r["id"] == "clerks")
    assert clerks["pool_size"] == 3
    assert clerks["calendar"] == {"timezone": "Europe/Berlin", "shifts": [
        {"days": ["mon"], "hours": ["08:00-18:00"]},
        {"days": ["tue", "wed", "thu"], "hours": ["09:00-12:00", "13:00-17:00"]},
        {"days": ["fri"], "hours": ["22:00-06:00"]}]}
    managers = next(r for r in document["spec"]["human_roles"] if r["id"] == "managers")
    assert managers["calendar"] is None


def test_the_escalation_chain_is_the_one_the_simulator_walks() -> None:
    document = _export(FIXTURES / "simulate" / "escalation_chain.yaml")
    [sign_off] = document["spec"]["oversight"]["approvals"]
    assert sign_off["sla_seconds"] == 2 * 3600
    assert sign_off["escalation_chain"] == ["leads", "directors"]
    assert sign_off["escalation_levels"] == [{"role": "leads", "after_seconds": 7200.0},
                                             {"role": "directors", "after_seconds": 3600.0}]
    # the one-level form: the node's own target only (the policy's is not a second level)
    data = fileio.to_data(load(FIXTURES / "valid" / "base.yaml"))
    data["policies"] = {"escalate_to": "clerks"}
    document = to_controlplane(Workflow.model_validate(data)).model_dump(mode="json", by_alias=True)
    review = next(a for a in document["spec"]["oversight"]["approvals"] if a["node"] == "review")
    assert review["escalation_chain"] == ["directors"]
    assert review["escalation_levels"] == [{"role": "directors", "after_seconds": 14400.0}]
    # a policy chain: the defaults, and every approval without its own escalation follows it
    data["nodes"] = [{**n, "sla": None, "escalate_to": None} if n["id"] == "review" else n for n in data["nodes"]]
    data["policies"] = {"escalation": [{"to": "directors", "after": "8h"}, {"to": "clerks", "after": "1d"}]}
    oversight = to_controlplane(Workflow.model_validate(data)).model_dump(mode="json", by_alias=True)["spec"][
        "oversight"]
    review = next(a for a in oversight["approvals"] if a["node"] == "review")
    assert (review["sla_seconds"], review["escalation_chain"]) == (8 * 3600, ["directors", "clerks"])
    assert (oversight["default_approval_sla_seconds"], oversight["default_escalate_to"]) == (8 * 3600, "directors")
    assert oversight["default_escalation"] == [{"role": "directors", "after_seconds": 28800.0},
                                               {"role": "clerks", "after_seconds": 86400.0}]


def test_queue_priority_is_carried_only_when_the_workflow_has_rules(
        validator: jsonschema.Draft202012Validator) -> None:
    data = fileio.to_data(load(FIXTURES / "valid" / "base.yaml"))
    assert "queue_priority" not in _export(FIXTURES / "valid" / "base.yaml")["spec"]  # other exports unchanged
    data["simulation"] = {"priority": [{"when": "amount > 10000 and score >= 0.5", "level": 2}, {"level": -1}]}
    document = to_controlplane(Workflow.model_validate(data)).model_dump(mode="json", by_alias=True)
    assert not list(validator.iter_errors(document))
    assert document["spec"]["queue_priority"] == [
        {"condition": "amount > 10000 and score >= 0.5", "condition_fields": ["amount", "score"], "level": 2},
        {"condition": None, "condition_fields": [], "level": -1}]
