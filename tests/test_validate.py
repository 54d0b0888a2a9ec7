"""Every rule has a fixture that yields exactly its code; valid workflows yield no errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES

import studio
from studio import fileio
from studio.errors import Severity
from studio.validate import RULES

INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))


def _findings(path: Path) -> list[studio.Finding]:
    try:
        workflow = studio.load(path)
    except studio.LoadError as exc:
        return exc.findings
    data = fileio.sample_path(workflow)
    return studio.validate(workflow, data=data if data is not None and data.is_file() else None)


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_each_invalid_fixture_yields_exactly_its_code(path: Path) -> None:
    findings = _findings(path)
    assert {f.code for f in findings} == {path.stem}, [f.format() for f in findings]
    for finding in findings:
        assert finding.message and finding.hint, finding
        assert finding.line is not None, f"{finding.code} has no line: {finding.format()}"


def test_every_rule_has_a_fixture_and_a_docs_entry() -> None:
    fixtures = {p.stem for p in INVALID}
    docs = (FIXTURES.parents[1] / "docs" / "codes.md").read_text()
    for code in RULES:
        assert code in fixtures, f"rule {code} has no fixture under tests/fixtures/invalid/"
        assert f"`{code}`" in docs, f"rule {code} is missing from docs/codes.md"
    for code in ("L001", "L002", "L003", "L004"):
        assert f"`{code}`" in docs


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_fixtures_have_no_findings(path: Path) -> None:
    assert _findings(path) == []


def test_findings_are_sorted_and_located(base_path: Path) -> None:
    text = base_path.read_text()
    text = text.replace("actor: clerks,", "actor: clerkz,").replace("tools: [crm_read]}", "tools: [crm_raed]}")
    workflow = studio.loads(text, "broken.yaml")
    findings = studio.validate(workflow)
    assert [f.sort_key() for f in findings] == sorted(f.sort_key() for f in findings)
    codes = [f.code for f in findings]
    assert "A002" in codes and "A003" in codes
    a002 = next(f for f in findings if f.code == "A002")
    assert a002.file == "broken.yaml"
    assert text.splitlines()[a002.line - 1].lstrip().startswith("- {id: confirm")
    assert a002.location.endswith(".actor")
    assert "`clerkz`" in a002.message and "clerks" in a002.hint


def test_validate_never_raises_on_an_empty_workflow() -> None:
    workflow = studio.Workflow.model_validate({"metadata": {"name": "empty"}})
    codes = {f.code for f in studio.validate(workflow)}
    assert codes == {"S001", "S002"}


def test_critical_tool_needs_an_approval_on_every_path(base_path: Path) -> None:
    text = (
        base_path.read_text()
        .replace(
            "  - {from: route, to: fork, default: true}\n",
            "  - {from: route, to: fork, default: true}\n  - {from: update, to: pay}\n",
        )
        .replace("  - {from: update, to: done}\n", "")
    )
    findings = studio.validate(studio.loads(text))
    assert [f.code for f in findings if f.severity is Severity.ERROR] == ["G001"]


def test_data_check_accepts_rows_and_fields_produced_upstream(base_path: Path) -> None:
    workflow = studio.load(base_path)
    # `score` is produced by `intake`; `amount` must come from the data.
    assert studio.validate(workflow, data=[{"case_id": 1, "amount": 10, "score": 0.4}]) == []
    # without a `score` column the simulated agent has no value to route on: a warning
    assert [f.code for f in studio.validate(workflow, data=[{"case_id": 1, "amount": 10}])] == ["D004"]
    findings = studio.validate(workflow, data=[{"case_id": 1, "total": 10, "score": 0.4}])
    assert [(f.code, f.location) for f in findings] == [("D001", "edges[3].when")]
    assert "did you mean" not in findings[0].hint or "total" not in findings[0].hint


@pytest.mark.parametrize(
    "secret",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "password=hunter2hunter2",
        "-----BEGIN RSA PRIVATE KEY-----",
        "https://admin:s3cret@erp.example.com/api",
    ],
)
def test_secrets_anywhere_are_errors(base_path: Path, secret: str) -> None:
    text = (
        base_path.read_text()
        .replace("description: Intake, a check", f'description: "{secret} Intake, a check')
        .replace("payment behind an approval.", 'payment behind an approval."')
    )
    findings = studio.validate(studio.loads(text))
    assert [f.code for f in findings] == ["G007"]
    assert findings[0].location == "metadata.description"


def test_secret_names_are_fine(base_path: Path) -> None:
    text = base_path.read_text().replace("CRM_WRITE_TOKEN", "vault/crm/write-token")
    assert studio.validate(studio.loads(text)) == []
