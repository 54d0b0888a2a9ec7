"""The five templates: realistic, valid against their own data, data reproducible from the generator."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

import studio
from studio import fileio
from studio.model import Agent, Human

NAMES = ["customer_onboarding", "finance_close", "maintenance_work_order", "procurement", "support_triage"]


def test_the_five_templates_are_listed() -> None:
    assert [t.name for t in studio.list_templates()] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_template_is_realistic_and_valid(name: str) -> None:
    template = next(t for t in studio.list_templates() if t.name == name)
    wf = studio.load_template(name)
    assert wf.metadata.name == name
    assert 10 <= len(wf.nodes) <= 25
    assert sum(isinstance(a, Agent) for a in wf.actors) >= 2
    assert any(isinstance(a, Human) for a in wf.actors)
    kinds = {n.kind for n in wf.nodes}
    assert {"approval", "decision", "start", "end"} <= kinds
    sample = fileio.load_cases(template.sample_path)
    gold = fileio.load_cases(template.gold_path)
    assert len(sample) >= 200 and len(gold) >= 20
    assert {"expected_path", "expected_outcome", "human_decisions"} <= set(gold.columns)
    assert studio.validate(wf, data=sample) == []
    outcomes = {getattr(n, "outcome", None) for n in wf.nodes if n.kind == "end"}
    for row in gold:
        path = str(row["expected_path"]).split(">")
        assert path[0] == "start" and set(path) <= set(wf.node_ids), row["case_id"]
        assert row["expected_outcome"] in outcomes


def test_across_templates_every_tier_and_two_parallel_splits() -> None:
    workflows = [studio.load_template(n) for n in NAMES]
    tiers = {t.tier.value for wf in workflows for t in wf.tools}
    assert tiers == {"read_only", "restricted_write", "critical"}
    assert sum(n.kind == "parallel" for wf in workflows for n in wf.nodes) >= 2


def test_committed_data_matches_the_seeded_generator() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_template_data.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
