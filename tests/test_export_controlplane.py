"""The control-plane definition: schema-valid, deterministic, refusing invalid workflows, with evidence."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import FIXTURES, ROOT, TEMPLATES
from ruamel.yaml import YAML

from studio import io
from studio.errors import LoadError, WorkflowInvalid
from studio.export import controlplane_schema, dumps_definition, export_controlplane, to_controlplane
from studio.export.controlplane import canonical_json, schema_text
from studio.model import Workflow

SCHEMA_PATH = ROOT / "schemas" / "controlplane.schema.json"
TEMPLATE_FILES = sorted(TEMPLATES.glob("*/workflow.yaml")) or [FIXTURES / "valid" / "base.yaml"]
WORKFLOWS = [*TEMPLATE_FILES, FIXTURES / "valid" / "base.yaml"]


def _ids(paths: list[Path]) -> list[str]:
    return [p.parent.name if p.name == "workflow.yaml" else p.stem for p in paths]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


load = functools.cache(io.load)  # read-only use: every file is parsed once per module


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
    assert dumps_definition(to_controlplane(io.load(path))) == first
    copy_dir = tmp_path / "elsewhere"
    shutil.copytree(path.parent, copy_dir)
    moved = dumps_definition(to_controlplane(io.load(copy_dir / path.name)))
    assert moved == first
    assert str(tmp_path) not in moved and str(ROOT) not in first  # no absolute paths, no timestamps


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
    workflow = io.load(FIXTURES / "invalid" / "G001.yaml")
    with pytest.raises(WorkflowInvalid) as caught:
        to_controlplane(workflow)
    assert any(f.code == "G001" for f in caught.value.findings)


def test_warnings_pass_unless_strict() -> None:
    workflow = io.load(FIXTURES / "invalid" / "G003.yaml")
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
    data = io.to_data(load(FIXTURES / "valid" / "base.yaml"))
    workflow = Workflow.model_validate(data)
    document = json.loads(dumps_definition(to_controlplane(workflow)))
    digest = next(i for i in document["evidence"]["inputs"] if i["role"] == "workflow")
    assert digest["sha256"] == hashlib.sha256(io.dumps(workflow).encode("utf-8")).hexdigest()


def test_evidence_does_not_depend_on_where_the_workflow_was_loaded_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "flow"
    folder.mkdir()
    text = (FIXTURES / "invalid" / "D003.yaml").read_text(encoding="utf-8")
    (folder / "workflow.yaml").write_text(text, encoding="utf-8")
    absolute = dumps_definition(to_controlplane(io.load(folder / "workflow.yaml")))
    assert str(tmp_path) not in absolute
    assert '"code": "D003"' in absolute
    monkeypatch.chdir(tmp_path)
    assert dumps_definition(to_controlplane(io.load("flow/workflow.yaml"))) == absolute


def test_a_workflow_edited_after_loading_is_hashed_as_it_is_now() -> None:
    workflow = io.load(FIXTURES / "valid" / "base.yaml")
    workflow.metadata.owner = "someone-else@example.com"
    document = json.loads(dumps_definition(to_controlplane(workflow)))
    digest = next(i for i in document["evidence"]["inputs"] if i["role"] == "workflow")
    assert digest == {"role": "workflow", "name": "base.yaml",
                      "sha256": hashlib.sha256(io.dumps(workflow).encode("utf-8")).hexdigest()}
