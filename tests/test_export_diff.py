"""``studio diff``: element and field changes, governance flags with severities, the review gate."""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, TEMPLATES

from studio import fileio
from studio.cli import main
from studio.export import diff as diff_module
from studio.export import diff_workflows
from studio.model import Workflow

BASE = FIXTURES / "valid" / "base.yaml"
TEMPLATE_FILES = sorted(TEMPLATES.glob("*/workflow.yaml")) or [BASE]


load = functools.cache(fileio.load)  # read-only use: every file is parsed once per module


def _data(path: Path = BASE) -> dict[str, Any]:
    return copy.deepcopy(fileio.to_data(load(path)))


def _node(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def _actor(data: dict[str, Any], actor_id: str) -> dict[str, Any]:
    return next(a for a in data["actors"] if a["id"] == actor_id)


def without_approvals(data: dict[str, Any]) -> dict[str, Any]:
    """The workflow with every approval removed and its predecessors wired to its successors."""
    data = copy.deepcopy(data)
    approvals = [n["id"] for n in data["nodes"] if n["kind"] == "approval"]
    for approval in approvals:
        into = [e for e in data["edges"] if e["to"] == approval]
        out = [e for e in data["edges"] if e["from"] == approval]
        data["edges"] = [e for e in data["edges"] if approval not in (e["from"], e["to"])]
        for a in into:
            for b in out:
                data["edges"].append({**a, "to": b["to"]})
        data["nodes"] = [n for n in data["nodes"] if n["id"] != approval]
    return data


def _flags(change: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    new = _data()
    change(new)
    result = diff_workflows(load(BASE), Workflow.model_validate(new))
    return {f.code: f.severity for f in result.flags}


def test_identical_workflows_have_no_changes() -> None:
    result = diff_workflows(load(BASE), fileio.load(BASE))
    assert result.is_empty and not result.flags
    assert result.summary().endswith("no changes")


def test_field_level_changes_per_section() -> None:
    new = _data()
    _node(new, "check")["name"] = "Check the intake"
    new["nodes"].append({"id": "extra", "kind": "end"})
    new["edges"] = [e for e in new["edges"] if (e["from"], e["to"]) != ("pay", "done")]
    new["edges"].append({"from": "pay", "to": "extra"})
    new["tools"][1]["timeout"] = "30s"
    new["metadata"]["version"] = "1.1.0"
    result = diff_workflows(load(BASE), Workflow.model_validate(new))
    by_key = {(c.section, c.kind, c.key): c for c in result.changes}
    changed = by_key[("nodes", "changed", "check")]
    assert [(f.path, f.old, f.new) for f in changed.fields] == [("name", None, "Check the intake")]
    assert ("nodes", "added", "extra") in by_key
    assert ("edges", "removed", "pay -> done") in by_key
    assert ("edges", "added", "pay -> extra") in by_key
    assert [(f.path, f.new) for f in by_key[("tools", "changed", "crm_write")].fields] == [("timeout", "30s")]
    assert [(f.path, f.old, f.new) for f in by_key[("metadata", "changed", "metadata")].fields] == [
        ("version", "1.0.0", "1.1.0")
    ]
    assert result.counts() == {"added": 2, "removed": 1, "changed": 3}


def test_a_changed_wait_is_a_change_of_its_timer() -> None:
    path = FIXTURES / "valid" / "wait.yaml"
    new = _data(path)
    _node(new, "remind")["delay"] = "2d"
    _node(new, "office")["until"]["hours"] = "08:00-16:00"
    _node(new, "goods")["delay"] = {"dist": "exponential", "mean": "2d"}
    result = diff_workflows(load(path), Workflow.model_validate(new))
    fields = {c.key: [(f.path, f.old, f.new) for f in c.fields] for c in result.changes}
    assert fields["remind"] == [("delay", "1d", "2d")]
    assert fields["office"] == [("until.hours", "09:00-17:00", "08:00-16:00")]
    assert [(path, str(new)) for path, _, new in fields["goods"] if path in ("delay.dist", "delay.mean")] == [
        ("delay.dist", "exponential"), ("delay.mean", "2d")]
    assert diff_workflows(load(path), fileio.load(path)).is_empty


def test_an_agent_hand_off_through_a_wait_is_still_a_hand_off() -> None:
    data = _data()
    data["nodes"].append({"id": "pause", "kind": "wait", "delay": "1h"})
    data["edges"] = [e for e in data["edges"] if (e["from"], e["to"]) != ("intake", "check")]
    data["edges"] += [{"from": "intake", "to": "pause"}, {"from": "pause", "to": "check"}]
    assert ("intake", "check") in diff_module.agent_handoffs(Workflow.model_validate(data))


def test_removing_the_approval_before_a_critical_tool_is_a_high_flag() -> None:
    old = load(BASE)
    result = diff_workflows(old, Workflow.model_validate(without_approvals(_data())))
    flags = {f.code: f for f in result.flags}
    assert flags["approval_removed"].severity == "high"
    assert flags["approval_removed"].location == "nodes.pay"
    assert "payments" in flags["approval_removed"].message
    assert flags["approval_deleted"].severity == "medium"
    assert result.flags[0].severity == "high"  # sorted by severity


@pytest.mark.parametrize(
    ("change", "code", "severity"),
    [
        (lambda d: d["tools"][2].update(tier="restricted_write"), "tier_lowered", "high"),
        (lambda d: d["tools"][0].update(tier="restricted_write"), "tier_raised", "medium"),
        (lambda d: _actor(d, "checker_agent")["tools"].append("payments"), "tool_granted", "high"),
        (lambda d: _node(d, "review").pop("sla"), "sla_removed", "medium"),
        (lambda d: _node(d, "review").update(sla="8h"), "sla_lengthened", "low"),
        (lambda d: _node(d, "confirm").pop("escalate_to"), "escalation_removed", "medium"),
        (lambda d: d.setdefault("policies", {}).update(max_repeats=None), "loop_guard_disabled", "high"),
        (lambda d: d.setdefault("policies", {}).update(max_repeats=5), "loop_guard_loosened", "medium"),
        (lambda d: d.setdefault("policies", {}).update(max_turns=500), "max_turns_raised", "low"),
        (lambda d: _actor(d, "checker_agent").update(version="2.2.0"), "agent_version_changed", "low"),
        (lambda d: _actor(d, "intake_agent").update(autonomy="fully_autonomous"), "autonomy_raised", "medium"),
        (lambda d: d.setdefault("policies", {}).update(audit={"enabled": False}), "audit_reduced", "high"),
        (lambda d: d.setdefault("policies", {}).update(audit={"fields": ["case_id", "node"]}), "audit_reduced",
         "medium"),
    ],
)
def test_governance_flags(change: Callable[[dict[str, Any]], None], code: str, severity: str) -> None:
    assert _flags(change).get(code) == severity


def test_new_agent_to_agent_handoff_through_gateways() -> None:
    # Without the approval, checker `check` hands straight to intake `pay` through the decision `route`.
    flags = diff_workflows(load(BASE), Workflow.model_validate(without_approvals(_data()))).flags
    handoffs = {f.location: f.severity for f in flags if f.code == "agent_handoff_added"}
    assert handoffs == {"edges.check -> pay": "medium"}


def test_loosening_an_edge_loop_guard() -> None:
    old_data = _data()
    old_data["edges"][1]["max_repeats"] = 2
    new_data = copy.deepcopy(old_data)
    new_data["edges"][1]["max_repeats"] = 4
    result = diff_workflows(Workflow.model_validate(old_data), Workflow.model_validate(new_data))
    assert [(f.code, f.location) for f in result.flags] == [("loop_guard_loosened", "edges.intake -> check")]


def test_tightening_is_not_flagged() -> None:
    def tighten(data: dict[str, Any]) -> None:
        _node(data, "review")["sla"] = "2h"
        data.setdefault("policies", {})["max_repeats"] = 2
        data["tools"][0]["tier"] = "read_only"

    assert _flags(tighten) == {}


def test_output_formats() -> None:
    result = diff_workflows(load(BASE), Workflow.model_validate(without_approvals(_data())))
    document = json.loads(result.format("json"))
    assert document["weakens_governance"] is True
    assert {f["code"] for f in document["flags"]} >= {"approval_removed", "approval_deleted"}
    markdown = result.format("markdown")
    lines = markdown.splitlines()
    assert lines[0].startswith(":warning: **Workflow diff**")
    assert "| Severity | Flag | Where | What |" in lines
    assert any(line.startswith("| high | `approval_removed` | `nodes.pay` |") for line in lines)
    assert "### Changes" in lines and "- removed `review`" in lines
    text = result.format("text")
    assert "HIGH" in text and "approval_removed" in text
    with pytest.raises(ValueError, match="unknown format"):
        result.format("html")


@pytest.mark.parametrize("template", TEMPLATE_FILES, ids=[p.parent.name for p in TEMPLATE_FILES])
def test_cli_gate_on_a_template_with_its_approvals_removed(
    template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = load(template)
    copy_path = tmp_path / "workflow.yaml"
    fileio.save(Workflow.model_validate(without_approvals(fileio.to_data(workflow))), copy_path)
    assert main(["diff", str(template), str(copy_path), "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "approval_deleted" in out
    critical = {t.id for t in workflow.tools if t.tier.value == "critical"}
    if any(set(getattr(n, "tools", [])) & critical for n in workflow.nodes):
        assert "| high | `approval_removed` |" in out


def test_cli_accept_and_no_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy_path = tmp_path / "workflow.yaml"
    fileio.save(Workflow.model_validate(without_approvals(_data())), copy_path)
    assert main(["diff", str(BASE), str(copy_path), "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["weakens_governance"] is True
    assert main(["diff", str(BASE), str(copy_path), "--accept"]) == 0
    assert "accepted" in capsys.readouterr().err
    assert main(["diff", str(BASE), str(BASE)]) == 0
    assert "no changes" in capsys.readouterr().out


def test_cli_diff_unreadable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("metadata: [", encoding="utf-8")
    assert main(["diff", str(BASE), str(broken)]) == 2
    assert main(["diff", str(tmp_path / "missing.yaml"), str(BASE)]) == 2
    assert "does not exist" in capsys.readouterr().err


# --------------------------------------------------------------------------- gates, escalations, secrets

PROCUREMENT = TEMPLATES / "procurement" / "workflow.yaml"
CFO_ROUTE = "edges.manager_outcome -> cfo_approval"


def _procurement_diff(change: Callable[[dict[str, Any]], None]) -> Any:
    new = _data(PROCUREMENT)
    change(new)
    return diff_workflows(load(PROCUREMENT), Workflow.model_validate(new))


def _raise_cfo_limit(data: dict[str, Any]) -> None:
    edge = next(e for e in data["edges"] if (e["from"], e["to"]) == ("manager_outcome", "cfo_approval"))
    assert "amount > 10000" in edge["when"]
    edge["when"] = edge["when"].replace("amount > 10000", "amount > 50000")


def test_a_changed_condition_on_the_route_into_an_approval_is_flagged(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    result = _procurement_diff(_raise_cfo_limit)
    [flag] = [f for f in result.flags if f.code == "gate_changed"]
    assert (flag.severity, flag.location) == ("high", CFO_ROUTE)  # the CFO gates the payment release
    assert "amount > 10000" in flag.message and "amount > 50000" in flag.message
    assert "release_payment" in flag.message
    # Through the CLI, on a copy of the YAML file, in every format; exit 1 unless accepted.
    text = PROCUREMENT.read_text(encoding="utf-8")
    copy_path = tmp_path / "workflow.yaml"
    copy_path.write_text(text.replace("(amount > 10000 or", "(amount > 50000 or"), encoding="utf-8")
    for fmt in ("text", "json", "markdown"):
        assert main(["diff", str(PROCUREMENT), str(copy_path), "--format", fmt]) == 1
        out = capsys.readouterr().out
        assert "gate_changed" in out and "amount > 50000" in out, fmt
    assert main(["diff", str(PROCUREMENT), str(copy_path), "--accept"]) == 0


def test_a_changed_threshold_is_flagged_with_its_old_and_new_text() -> None:
    old_data = _data()
    _node(old_data, "review")["threshold"] = "amount >= 1000"
    new_data = copy.deepcopy(old_data)
    _node(new_data, "review")["threshold"] = "amount >= 5000"
    result = diff_workflows(Workflow.model_validate(old_data), Workflow.model_validate(new_data))
    assert [(f.code, f.severity, f.location) for f in result.flags] == [
        ("gate_changed", "high", "nodes.review.threshold")
    ]
    assert "`amount >= 1000` -> `amount >= 5000`" in result.flags[0].message
    # A threshold added to an approval that had none: a person no longer sees every case.
    assert _flags(lambda d: _node(d, "review").update(threshold="amount > 1")) == {"gate_changed": "high"}
    # Dropping the threshold (a person always decides) is tightening.
    assert diff_workflows(Workflow.model_validate(old_data), load(BASE)).flags == ()


def test_gate_changes_away_from_critical_tools_are_medium_or_not_flagged() -> None:
    data = _data()
    data["nodes"].append({"id": "second_look", "kind": "approval", "actor": "directors"})
    data["nodes"].append({"id": "done_too", "kind": "end"})
    data["edges"] += [{"from": "update", "to": "second_look", "when": "amount > 10"},
                      {"from": "second_look", "to": "done_too"}]
    old = Workflow.model_validate(data)
    into_approval = copy.deepcopy(data)
    into_approval["edges"][-2]["when"] = "amount > 20"
    flags = diff_workflows(old, Workflow.model_validate(into_approval)).flags
    assert [(f.code, f.severity, f.location) for f in flags] == [
        ("gate_changed", "medium", "edges.update -> second_look")
    ]
    elsewhere = copy.deepcopy(data)  # the route to the parallel review: no approval, no critical tool after it
    next(e for e in elsewhere["edges"] if (e["from"], e["to"]) == ("route", "fork")).update(when="amount < 5")
    assert not [f for f in diff_workflows(old, Workflow.model_validate(elsewhere)).flags if f.code == "gate_changed"]


def test_a_route_added_or_removed_before_an_approval_is_a_gate_change() -> None:
    def shortcut(data: dict[str, Any]) -> None:  # small requests straight to the purchase order
        edges = data["edges"]
        at = next(i for i, e in enumerate(edges) if (e["from"], e["to"]) == ("precheck_gate", "manager_approval"))
        edges.insert(at, {"from": "precheck_gate", "to": "create_po", "when": "amount < 500"})

    flags = {(f.code, f.location): f for f in _procurement_diff(shortcut).flags}
    added = flags[("gate_changed", "edges.precheck_gate -> create_po")]
    assert added.severity == "high"
    assert "added, taken when `amount < 500`" in added.message and "release_payment" in added.message

    def drop_cfo(data: dict[str, Any]) -> None:
        data["edges"] = [e for e in data["edges"] if (e["from"], e["to"]) != ("manager_outcome", "cfo_approval")]

    flags = {(f.code, f.location): f for f in _procurement_diff(drop_cfo).flags}
    removed = flags[("gate_changed", CFO_ROUTE)]
    assert removed.severity == "high" and "removed" in removed.message and "amount > 10000" in removed.message


def test_a_changed_escalation_target_is_flagged() -> None:
    def to_leads(data: dict[str, Any]) -> None:
        _node(data, "cfo_approval")["escalate_to"] = "procurement_leads"

    [flag] = [f for f in _procurement_diff(to_leads).flags if f.code == "escalation_changed"]
    assert (flag.severity, flag.location) == ("medium", "nodes.cfo_approval")
    assert "`deputy_cfo` -> `procurement_leads`" in flag.message
    assert "fallback" not in flag.message


def test_an_escalation_falling_back_to_the_policy_default_is_flagged() -> None:
    result = _procurement_diff(lambda d: _node(d, "cfo_approval").pop("escalate_to"))
    [flag] = [f for f in result.flags if f.code == "escalation_changed"]
    assert flag.location == "nodes.cfo_approval"
    assert "`deputy_cfo` -> `procurement_leads`" in flag.message and "fallback to the policy default" in flag.message
    assert "escalation_removed" not in {f.code for f in result.flags}  # it still escalates

    def new_default(data: dict[str, Any]) -> None:
        _node(data, "cfo_approval").pop("escalate_to")
        data["policies"]["escalate_to"] = "deputy_cfo"

    # The node now falls back to a default that happens to be its old target: nothing moved for it,
    # but the default itself changed for everyone relying on it.
    flags = {f.location: f for f in _procurement_diff(new_default).flags if f.code == "escalation_changed"}
    assert set(flags) == {"policies.escalate_to"}
    assert "`procurement_leads` -> `deputy_cfo`" in flags["policies.escalate_to"].message

    # A node that already relied on the default moves with it.
    old_data = _data(PROCUREMENT)
    _node(old_data, "cfo_approval").pop("escalate_to")
    new_data = copy.deepcopy(old_data)
    new_data["policies"]["escalate_to"] = "deputy_cfo"
    result = diff_workflows(Workflow.model_validate(old_data), Workflow.model_validate(new_data))
    flags = {f.location: f for f in result.flags if f.code == "escalation_changed"}
    assert set(flags) == {"policies.escalate_to", "nodes.cfo_approval"}
    assert flags["nodes.cfo_approval"].severity == "medium"
    assert "`procurement_leads` -> `deputy_cfo`; a fallback to the policy default, which changed" in (
        flags["nodes.cfo_approval"].message)


def test_a_changed_escalation_chain_is_a_governance_change() -> None:
    chain = [{"to": "managers", "after": "1h"}, {"to": "directors", "after": "2h"}]
    old = _data()
    confirm = _node(old, "confirm")
    del confirm["sla"], confirm["escalate_to"]
    confirm["escalation"] = chain

    def flags(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        new = copy.deepcopy(old)
        change(_node(new, "confirm"))
        result = diff_workflows(Workflow.model_validate(old), Workflow.model_validate(new))
        return {f.code: f for f in result.flags}

    # the same first level, a shorter chain: the step no longer reaches the directors
    shorter = flags(lambda node: node.update(escalation=chain[:1]))
    assert set(shorter) == {"escalation_changed"}
    assert "chain `managers` then `directors` -> `managers`" in shorter["escalation_changed"].message
    # a later level waits longer before it hands on
    longer = flags(lambda node: node.update(escalation=[chain[0], {**chain[1], "after": "1d"}]))
    assert set(longer) == {"sla_lengthened"} and longer["sla_lengthened"].severity == "low"
    assert "level 2 of the escalation of `confirm` lengthened 2h -> 1d" in longer["sla_lengthened"].message
    # level 1's time is the SLA; the chain dropped altogether is an escalation removed
    assert set(flags(lambda node: node.update(escalation=[{**chain[0], "after": "3h"}, chain[1]]))) == {
        "sla_lengthened"}
    gone = flags(lambda node: node.pop("escalation"))
    assert set(gone) == {"sla_removed", "escalation_removed"}
    assert "was `managers` then `directors`" in gone["escalation_removed"].message
    # the one-level form written as a one-level chain changes nothing that is enforced
    same = _data()
    one = _node(same, "confirm")
    one["escalation"] = [{"to": one.pop("escalate_to"), "after": one.pop("sla")}]
    assert not diff_workflows(load(BASE), Workflow.model_validate(same)).flags
    # the policy chain
    policy_old, policy_new = _data(), _data()
    policy_old["policies"] = {"escalation": chain}
    policy_new["policies"] = {"escalation": chain[:1]}
    result = diff_workflows(Workflow.model_validate(policy_old), Workflow.model_validate(policy_new))
    assert {f.location for f in result.flags if f.code == "escalation_changed"} == {"policies.escalation"}


def _flags_result(change: Callable[[dict[str, Any]], None]) -> Any:
    new = _data()
    change(new)
    return diff_workflows(load(BASE), Workflow.model_validate(new))


SECRET = "sk-live4f9Qz8Xw2Lm7Np3Rt6Vb1Kd5"


def test_a_secret_added_is_flagged_and_never_shown_in_full(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def leak(data: dict[str, Any]) -> None:
        data["tools"][0]["credential"] = SECRET
        _node(data, "intake")["description"] = f"call the CRM with api_key={SECRET} if it fails"

    new = _data()
    leak(new)
    result = diff_workflows(load(BASE), Workflow.model_validate(new))
    secrets = {f.location: f for f in result.flags if f.code == "secret_added"}
    assert set(secrets) == {"tools.crm_read.credential", "nodes.intake.description"}
    assert all(f.severity == "high" for f in secrets.values())
    assert "`sk-l…`" in secrets["tools.crm_read.credential"].message
    changed = {(c.key, fc.path): fc.new for c in result.changes for fc in c.fields}
    assert changed[("crm_read", "credential")] == "sk-l…"
    assert changed[("intake", "description")] == "call the CRM with api_key=sk-l… if it fails"
    for fmt in ("text", "json", "markdown"):
        out = result.format(fmt)
        assert "secret_added" in out and SECRET not in out and SECRET[4:] not in out, fmt
    path = tmp_path / "workflow.yaml"
    fileio.save(Workflow.model_validate(new), path)
    for fmt in ("text", "json", "markdown"):
        assert main(["diff", str(BASE), str(path), "--format", fmt]) == 1
        captured = capsys.readouterr()
        assert "secret_added" in captured.out
        assert SECRET not in captured.out + captured.err
    # Removing it again is no new secret, and the old value is masked in the change list too.
    back = diff_workflows(Workflow.model_validate(new), load(BASE))
    assert "secret_added" not in {f.code for f in back.flags}
    assert SECRET not in back.format("json")


@pytest.mark.parametrize(
    ("secret", "kept"),
    [
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq9\n-----END RSA PRIVATE KEY-----",
         "MIIEowIBAAKCAQEA7bq9"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
         "dozjgNryP4J3jVmNHl0w5N"),
        ("https://admin:s3cr3tPassw0rd@erp.example.com/api", "s3cr3tPassw0rd"),
    ],
)
def test_masking_hides_the_whole_secret(secret: str, kept: str) -> None:
    result = _flags_result(lambda d: _node(d, "intake").update(description=secret))
    assert "secret_added" in {f.code for f in result.flags}
    for fmt in ("text", "json", "markdown"):
        assert kept not in result.format(fmt)


def test_every_flag_kind_is_documented() -> None:
    docs = (FIXTURES.parents[1] / "docs" / "controlplane.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Review: `studio diff"):]
    codes = set(re.findall(r"^([a-z_]+)\s{2,}(?:high|medium|low)", diff_module.__doc__ or "", re.MULTILINE))
    assert {"gate_changed", "escalation_changed", "secret_added", "approval_removed"} <= codes
    for code in codes:
        assert f"`{code}`" in section, f"{code} is missing from the diff section of docs/controlplane.md"
