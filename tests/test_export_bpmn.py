"""BPMN 2.0: exports pass the OMG XSD and SpiffWorkflow's parser; imports account for every element."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, TEMPLATES
from lxml import etree

from studio import fileio
from studio.errors import LoadError, Severity
from studio.export import export_as
from studio.export._bpmn_common import BPMN_NS, STUDIO_NS, TASK_TAGS
from studio.export.bpmn import bpmn_census, import_bpmn, read_bpmn, to_bpmn
from studio.model import Workflow, distribution_mean
from studio.validate import validate

MIWG = Path(__file__).resolve().parents[2] / "shared" / "bpmn-miwg"
BPMN_FIXTURES = FIXTURES / "bpmn"
TEMPLATE_FILES = sorted(TEMPLATES.glob("*/workflow.yaml")) or [FIXTURES / "valid" / "base.yaml"]
WORKFLOWS = [*TEMPLATE_FILES, FIXTURES / "valid" / "base.yaml", FIXTURES / "valid" / "wait.yaml"]
NS = {"bpmn": BPMN_NS, "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC", "di": "http://www.omg.org/spec/DD/20100524/DI",
      "studio": STUDIO_NS}
README_COLUMNS = ("tasks", "exclusive_gateways", "parallel_gateways", "inclusive_gateways", "sub_processes",
                  "boundary_events", "lanes", "sequence_flows")
COUNTED = TASK_TAGS | {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "subProcess", "boundaryEvent",
                       "lane", "sequenceFlow"}


load = functools.cache(fileio.load)  # read-only use: every file is parsed once per module


def _ids(paths: list[Path]) -> list[str]:
    return [p.parent.name if p.name == "workflow.yaml" else p.stem for p in paths]


@pytest.fixture(scope="module")
def xsd() -> etree.XMLSchema:
    spec = importlib.util.find_spec("SpiffWorkflow")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "bpmn" / "parser" / "schema" / "BPMN20.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def _assert_valid(xsd: etree.XMLSchema, data: bytes) -> None:
    document = etree.fromstring(data)
    assert xsd.validate(document), [str(e) for e in xsd.error_log][:5]


def _signature(workflow: Workflow) -> tuple[list[Any], list[Any]]:
    nodes = sorted((n.id, n.kind, n.name) for n in workflow.nodes)
    edges = sorted((e.source, e.target, e.when or "", e.default) for e in workflow.edges)
    return nodes, edges


# --------------------------------------------------------------------------- export


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_export_passes_the_bpmn_xsd_and_spiffworkflow(path: Path, xsd: etree.XMLSchema) -> None:
    from SpiffWorkflow.bpmn.parser import BpmnParser

    workflow = load(path)
    data = export_as(workflow, "bpmn")
    assert data == to_bpmn(fileio.load(path))  # deterministic: same input, same bytes
    _assert_valid(xsd, data)
    parser = BpmnParser()
    parser.add_bpmn_str(data)
    spec = parser.get_spec(f"Process.{workflow.metadata.name}")
    for node in workflow.nodes:
        assert node.id in spec.task_specs, node.id
    assert spec.task_specs[workflow.nodes[0].id].__class__.__name__ == "StartEvent"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_export_maps_kinds_lanes_and_studio_details(path: Path) -> None:
    workflow = load(path)
    root = etree.fromstring(to_bpmn(workflow))
    process = root.find("bpmn:process", NS)
    assert process is not None
    tags = {e.get("id"): etree.QName(e).localname for e in process}
    for node in workflow.nodes:
        actor = workflow.actor_of(node.id)
        expected = {
            "start": "startEvent", "end": "endEvent", "decision": "exclusiveGateway", "parallel": "parallelGateway",
            "join": "parallelGateway", "approval": "userTask", "subworkflow": "callActivity",
            "wait": "intermediateCatchEvent",
            "task": "userTask" if actor is not None and actor.kind == "human" else "serviceTask",
        }[node.kind]
        assert tags[node.id] == expected, node.id
        ext = process.find(f"*[@id='{node.id}']/bpmn:extensionElements/studio:node", NS)
        assert ext is not None and ext.get("kind") == node.kind
    tiers = {t.id: t.tier.value for t in workflow.tools}
    for node in workflow.nodes:
        for tool in getattr(node, "tools", []):
            found = process.find(f"*[@id='{node.id}']/bpmn:extensionElements/studio:tool[@key='{tool}']", NS)
            assert found is not None and found.get("tier") == tiers[tool]
    lanes = {lane.get("id"): [r.text for r in lane.findall("bpmn:flowNodeRef", NS)]
             for lane in process.iterfind("bpmn:laneSet/bpmn:lane", NS)}
    placed = [ref for refs in lanes.values() for ref in refs]
    helpers = {e.get("id") for e in process if e.find("bpmn:extensionElements/studio:helper", NS) is not None}
    assert len(placed) == len(set(placed))  # every node (and helper element) in exactly one lane
    assert sorted(ref for ref in placed if ref not in helpers) == sorted(n.id for n in workflow.nodes)
    for node in workflow.nodes:
        actor_id = getattr(node, "actor", None)
        if actor_id:
            assert node.id in lanes[f"Lane.{actor_id}"]
    for gateway in process.iterfind("bpmn:exclusiveGateway", NS):
        default = gateway.get("default")
        if default is not None:
            flow = process.find(f"bpmn:sequenceFlow[@id='{default}']", NS)
            assert flow is not None and flow.get("sourceRef") == gateway.get("id")
    for condition in process.iterfind("bpmn:sequenceFlow/bpmn:conditionExpression", NS):
        assert condition.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "bpmn:tFormalExpression"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_export_has_a_diagram_with_nodes_inside_their_lanes(path: Path) -> None:
    workflow = load(path)
    root = etree.fromstring(to_bpmn(workflow))
    bounds: dict[str, tuple[float, ...]] = {}
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        b = shape.find("dc:Bounds", NS)
        assert b is not None
        bounds[shape.get("bpmnElement")] = tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))
    for node in workflow.nodes:
        assert node.id in bounds
    lanes = {lane.get("id"): [r.text for r in lane.findall("bpmn:flowNodeRef", NS)]
             for lane in root.iterfind(".//bpmn:lane", NS)}
    for lane_id, refs in lanes.items():
        lx, ly, lw, lh = bounds[lane_id]
        for ref in refs:
            x, y, w, h = bounds[ref]
            assert lx <= x and x + w <= lx + lw and ly <= y and y + h <= ly + lh, (ref, lane_id)
    flows = {f.get("id") for f in root.iterfind(".//bpmn:sequenceFlow", NS)}
    edges = {e.get("bpmnElement"): e.findall("di:waypoint", NS) for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    assert set(edges) == flows
    assert all(len(points) >= 2 for points in edges.values())


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_studio_to_bpmn_to_studio_keeps_the_workflow(path: Path) -> None:
    workflow = load(path)
    back, findings = import_bpmn(to_bpmn(workflow))
    assert findings == []
    assert [(n.id, n.kind, n.name) for n in back.nodes] == [(n.id, n.kind, n.name) for n in workflow.nodes]
    assert [(e.source, e.target, e.when, e.default, e.label) for e in back.edges] == [
        (e.source, e.target, e.when, e.default, e.label) for e in workflow.edges
    ]
    assert sorted((a.id, a.kind) for a in back.actors) == sorted((a.id, a.kind) for a in workflow.actors)
    assert sorted((t.id, t.tier) for t in back.tools) == sorted((t.id, t.tier) for t in workflow.tools)
    assert back.policies == workflow.policies
    assert [f for f in validate(back) if f.is_error] == []


# --------------------------------------------------------------------------- import: the MIWG corpus


def _readme_counts() -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = {}
    for line in (MIWG / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and cells[2].isdigit():
            rows[cells[0]] = dict(zip(README_COLUMNS, (int(c) for c in cells[2:]), strict=True))
    return rows


MIWG_ROWS = _readme_counts() if MIWG.is_dir() else {}
miwg = pytest.mark.skipif(not MIWG.is_dir(),
                          reason=f"the BPMN MIWG corpus is not at {MIWG} (../shared beside the repo)")


@miwg
def test_readme_lists_every_model() -> None:
    assert sorted(MIWG_ROWS) == sorted(p.stem for p in MIWG.glob("*.bpmn"))
    assert len(MIWG_ROWS) == 8


@miwg
@pytest.mark.parametrize("name", sorted(MIWG_ROWS) or ["none"])
def test_miwg_model_imports_with_the_listed_counts(name: str) -> None:
    path = MIWG / f"{name}.bpmn"
    result = read_bpmn(path)
    assert result.census == MIWG_ROWS[name]
    assert bpmn_census(path) == MIWG_ROWS[name]
    # every counted element is accounted for: imported, inlined, approximated or dropped with a reason
    root = etree.parse(str(path)).getroot()
    counted = [e.get("id") for e in root.iter() if isinstance(e.tag, str)
               and etree.QName(e).namespace == BPMN_NS and etree.QName(e).localname in COUNTED]
    assert [i for i in counted if i not in result.fate] == []
    # the workflow loads, and findings name BPMN elements with warning/info severity
    assert fileio.loads(fileio.dumps(result.workflow)) == result.workflow
    assert all(f.severity in (Severity.WARNING, Severity.INFO) for f in result.findings)
    ids = {e.get("id") for e in root.iter() if isinstance(e.tag, str)}
    assert all(f.location in ids or f.location == "" for f in result.findings)
    tasks = sum(1 for n in result.workflow.nodes if n.kind in ("task", "approval"))
    dropped_tasks = sum(1 for i, fate in result.fate.items() if fate.startswith("not imported")
                        and etree.QName(root.find(f".//*[@id='{i}']")).localname in TASK_TAGS)
    assert tasks >= MIWG_ROWS[name]["tasks"] - dropped_tasks


@miwg
@pytest.mark.parametrize("name", sorted(MIWG_ROWS) or ["none"])
def test_miwg_model_round_trips(name: str, xsd: etree.XMLSchema) -> None:
    first = read_bpmn(MIWG / f"{name}.bpmn").workflow
    data = to_bpmn(first)
    _assert_valid(xsd, data)
    second = read_bpmn(data).workflow
    assert _signature(second) == _signature(first)
    assert sorted((a.id, a.kind) for a in second.actors) == sorted((a.id, a.kind) for a in first.actors)


@miwg
def test_supported_models_keep_their_exact_shape() -> None:
    def kinds(name: str) -> dict[str, int]:
        workflow = read_bpmn(MIWG / f"{name}.bpmn").workflow
        out: dict[str, int] = {}
        for node in workflow.nodes:
            out[node.kind] = out.get(node.kind, 0) + 1
        out["edges"] = len(workflow.edges)
        return out

    assert kinds("A.1.0") == {"start": 1, "task": 3, "end": 1, "edges": 4}
    assert kinds("A.2.0") == {"start": 1, "task": 4, "decision": 2, "end": 1, "edges": 9}
    # A.2.1: two tasks with conditional flows get an explicit decision each (+2 nodes, +2 edges)
    assert kinds("A.2.1") == {"start": 1, "task": 4, "decision": 4, "end": 1, "edges": 13}


@miwg
def test_miwg_findings_name_what_was_dropped() -> None:
    a3 = read_bpmn(MIWG / "A.3.0.bpmn")
    boundary = [f for f in a3.findings if f.code == "B001"]
    assert len(boundary) == 2 and all("boundary event" in f.message for f in boundary)
    a4 = read_bpmn(MIWG / "A.4.0.bpmn")
    assert {f.code for f in a4.findings} >= {"B006", "B007", "B004"}
    assert a4.process_id == "WFP-6-2"  # the largest process, not the small first pool
    other = read_bpmn(MIWG / "A.4.0.bpmn", process="WFP-6-1")
    assert other.process_id == "WFP-6-1"
    b2 = read_bpmn(MIWG / "B.2.0.bpmn")
    codes = {f.code for f in b2.findings}
    assert codes >= {"B001", "B002", "B004", "B005", "B006", "B008", "B010", "B011"}


# --------------------------------------------------------------------------- import: own fixtures


def test_camunda_style_process() -> None:
    result = read_bpmn(BPMN_FIXTURES / "camunda_invoice.bpmn")
    workflow = result.workflow
    by_code: dict[str, list[str]] = {}
    for finding in result.findings:
        by_code.setdefault(finding.code, []).append(finding.location)
    assert by_code["B008"] == ["start_again"]
    assert by_code["B001"] == ["review_timeout", "erp"]
    assert by_code["B003"] == ["f_odd"]
    assert by_code["B012"] == ["f_lost"]
    assert sorted(by_code["B002"]) == ["notify_join", "notify_split"]
    assert by_code["B005"] == ["wait", "link_out", "link_in"]
    actors = {a.id: a for a in workflow.actors}
    assert actors["finance_clerks"].kind == "human" and actors["booking_bot"].kind == "agent"
    assert "complete capability/version" in (actors["booking_bot"].description or "")
    edges = {(e.source, e.target, e.when): e for e in workflow.edges}
    assert ("amount", "cfo_approves", "amount > 10000") in edges  # ${...} unwrapped, parses
    odd = edges[("amount", "cfo_approves", None)]
    assert odd.label is not None and "getVariable" in odd.label  # kept as a label, never evaluated
    assert edges[("amount", "book_invoice", None)].default
    assert ("wait_a_day", "audit_trail", None) in edges  # the link pair is joined
    wait = workflow.node("wait_a_day")  # a timer catch event is a wait of its duration
    assert wait.kind == "wait" and wait.delay is not None and distribution_mean(wait.delay) == 86400  # type: ignore[union-attr]
    kinds = {n.id: n.kind for n in workflow.nodes}
    assert kinds["notify"] == "parallel" and kinds["notify_join"] == "join" and kinds["audit_trail"] == "subworkflow"
    assert workflow.node("audit_trail").ref == "audit-process"  # type: ignore[union-attr]
    assert workflow.metadata.name == "invoice_approval"
    assert fileio.loads(fileio.dumps(workflow)) == workflow


def test_a_wait_is_a_timer_catch_event_and_comes_back_exactly() -> None:
    workflow = load(FIXTURES / "valid" / "wait.yaml")
    process = etree.fromstring(to_bpmn(workflow)).find("bpmn:process", NS)
    assert process is not None
    durations = {e.get("id"): e.findtext("bpmn:timerEventDefinition/bpmn:timeDuration", namespaces=NS)
                 for e in process.iterfind("bpmn:intermediateCatchEvent", NS)}
    # fixed: exact; drawn: its mean (1d + 2d + 5d) / 3; until weekdays 09-17: the mean wait over the week
    assert durations == {"goods": "'P2DT16H'", "remind": "'P1D'", "office": "'PT15H14M17.143S'"}
    back, findings = import_bpmn(to_bpmn(workflow))
    assert findings == []
    assert [n for n in back.nodes if n.kind == "wait"] == [n for n in workflow.nodes if n.kind == "wait"]
    data = fileio.to_data(workflow)  # a calendar with shifts comes back as written, too
    for node in data["nodes"]:
        if "until" in node:
            node["until"] = {"timezone": "Europe/Berlin", "shifts": [{"days": ["sat"], "hours": "22:00-06:00"}]}
    shifted = Workflow.model_validate(data)
    back, findings = import_bpmn(to_bpmn(shifted))
    assert findings == []
    assert [n for n in back.nodes if n.kind == "wait"] == [n for n in shifted.nodes if n.kind == "wait"]


def test_timer_events_of_other_tools_become_waits() -> None:
    def process(timer: str) -> bytes:
        return (f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}" id="d"><bpmn:process id="p">'
                '<bpmn:startEvent id="s"/><bpmn:intermediateCatchEvent id="t" name="Cool off">'
                f'<bpmn:timerEventDefinition>{timer}</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>'
                '<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>'
                '<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/></bpmn:process></bpmn:definitions>'
                ).encode()

    result = read_bpmn(process("<bpmn:timeDuration>PT1H30M</bpmn:timeDuration>"))
    wait = result.workflow.node("cool_off")
    assert wait.kind == "wait" and fileio.dumps(result.workflow).count("delay: 1.5h") == 1
    assert [(f.code, f.severity) for f in result.findings if f.location == "t"] == [("B005", Severity.INFO)]
    dated = read_bpmn(process("<bpmn:timeDate>2026-12-24T09:00:00Z</bpmn:timeDate>"))
    (finding,) = [f for f in dated.findings if f.location == "t"]
    assert finding.severity == Severity.WARNING and "timeDate `2026-12-24T09:00:00Z`" in finding.message
    assert [f.code for f in validate(dated.workflow)] == ["S015"]  # the analyst must say how long


def test_import_never_resolves_entities() -> None:
    workflow, _ = import_bpmn(BPMN_FIXTURES / "entity.bpmn")
    assert workflow.metadata.description == "Before after end"
    with pytest.raises(LoadError) as caught:
        import_bpmn(BPMN_FIXTURES / "entity_attribute.bpmn")
    assert caught.value.findings[0].code == "B000"
    assert "never resolves" in caught.value.findings[0].hint


@pytest.mark.parametrize(("name", "words"), [("not_bpmn.xml", "not a BPMN 2.0 document"),
                                              ("broken.bpmn", "not readable XML"),
                                              ("missing.bpmn", "does not exist")])
def test_unreadable_files_raise_load_error(name: str, words: str) -> None:
    with pytest.raises(LoadError) as caught:
        import_bpmn(BPMN_FIXTURES / name)
    assert words in caught.value.findings[0].message


def test_import_from_bytes_and_a_chosen_name() -> None:
    data = (BPMN_FIXTURES / "camunda_invoice.bpmn").read_bytes()
    workflow, _ = import_bpmn(data, name="invoices")
    assert workflow.metadata.name == "invoices"
    with pytest.raises(LoadError, match="process"):
        import_bpmn(data, process="no_such_process")


def test_policies_and_audit_travel_in_the_studio_namespace() -> None:
    data = fileio.to_data(load(FIXTURES / "valid" / "base.yaml"))
    data["policies"] = {"max_repeats": None, "max_turns": 40, "audit": {"fields": ["case_id", "node"],
                                                                        "retention": "30d"}}
    workflow = Workflow.model_validate(data)
    back, _ = import_bpmn(to_bpmn(workflow))
    assert back.policies == workflow.policies


def test_every_import_finding_code_is_documented() -> None:
    docs = (FIXTURES.parents[1] / "docs" / "controlplane.md").read_text(encoding="utf-8")
    sources = [*sorted(MIWG.glob("*.bpmn")), BPMN_FIXTURES / "camunda_invoice.bpmn", BPMN_FIXTURES / "entity.bpmn"]
    codes = {f.code for source in sources for f in read_bpmn(source).findings} | {"B000"}
    assert len(codes) >= 12
    for code in sorted(codes):
        assert f"`{code}`" in docs, f"{code} is missing from docs/controlplane.md"
