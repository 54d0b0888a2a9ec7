"""Hostile input: each defect and concern of the hardening review, with the exact input it named.

Whatever file, data or BPMN a user (or an attacker) hands the studio, it answers with a clear
finding or error (exit 2 for unreadable input, 1 for findings), within bounded time and memory,
and never carries a secret into an export, a trace or a diff.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES

import studio
from studio import fileio, limits
from studio._secrets import scan_many
from studio.cli import main
from studio.export.diff import diff_workflows

SIM = FIXTURES / "simulate"
BASE = FIXTURES / "valid" / "base.yaml"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text
    return code, text


@pytest.fixture
def approval(tmp_path: Path) -> Path:
    for name in ("approval.yaml", "approval.csv", "approval_gold.csv"):
        shutil.copy(SIM / name, tmp_path / name)
    return tmp_path / "approval.yaml"


# --------------------------------------------------------------------------- 1-3, 7: loader limits


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_at_the_alias(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())
    assert path.stat().st_size == 478
    code, out = _run(capsys, "validate", str(path))
    assert code == 2
    assert f"{path}:7:" in out and "L005" in out and "aliases" in out


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("brackets", "[" * 400 + "]" * 400 + "\n"),
        ("mappings", "".join("  " * i + f"k{i}:\n" for i in range(2000)) + "  " * 2000 + "v\n"),
    ],
)
def test_deep_nesting_is_refused_before_recursing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    code, out = _run(capsys, "validate", str(path))
    assert code == 2
    assert "L005" in out and "levels deep" in out and f"{path}:" in out


def test_yaml_limits_can_be_raised_for_trusted_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "workflow.yaml"
    shutil.copy(BASE, path)
    code, out = _run(capsys, "validate", "--limit", "workflow_bytes=1KB", str(path))
    assert code == 2 and "L005" in out and "workflow_bytes" in out
    monkeypatch.setenv(limits.ENV["workflow_bytes"], "1KB")
    assert _run(capsys, "validate", str(path))[0] == 2
    assert _run(capsys, "validate", "--limit", "workflow_bytes=1MB", str(path))[0] == 0
    code, out = _run(capsys, "validate", "--limit", "nonsense=3", str(path))
    assert code == 2 and "is not a limit" in out


def test_dev_zero_stops_at_the_size_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    code, out = _run(capsys, "validate", "/dev/zero")
    assert code == 2 and "L005" in out and "longer than the limit" in out
    workflow = tmp_path / "workflow.yaml"
    shutil.copy(BASE, workflow)
    code, out = _run(capsys, "validate", "--data", "/dev/zero", str(workflow))
    assert code == 2 and "L005" in out and "data file" in out


def test_csv_cell_over_131072_characters(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("case_id,note\n1," + "x" * 131_073 + "\n")
    assert len(fileio.load_cases(path).rows[0]["note"]) == 131_073  # csv's own limit no longer bites
    with limits.override(field_chars=100_000), pytest.raises(studio.LoadError) as caught:
        fileio.load_cases(path)
    finding = caught.value.findings[0]
    assert (finding.code, finding.line) == ("L005", 2) and "field_chars" in finding.hint


def test_jsonl_integer_of_5001_digits(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"case_id": 1, "amount": ' + "9" * 5001 + "}\n")
    with pytest.raises(studio.LoadError) as caught:
        fileio.load_cases(path)
    assert [(f.code, f.line) for f in caught.value.findings] == [("L005", 1)]
    assert "5,001 digits" in caught.value.findings[0].message


def test_jsonl_nested_100k_deep(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"case_id": 1, "a": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(studio.LoadError) as caught:
        fileio.load_cases(path)
    assert [(f.code, f.line) for f in caught.value.findings] == [("L005", 1)]


def test_csv_number_over_the_digit_limit(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("case_id,amount\n1," + "9" * 5001 + "\n")
    with pytest.raises(studio.LoadError) as caught:
        fileio.load_cases(path)
    assert caught.value.findings[0].code == "L005"


def test_parsed_data_and_positions_match_the_round_trip_reader() -> None:
    text = BASE.read_text()
    data, positions = fileio.parse_text(text, "base.yaml")
    assert data["nodes"][1]["id"] == "intake"
    assert positions[("nodes", 1)] == (text.splitlines().index(
        next(line for line in text.splitlines() if "id: intake," in line)) + 1, 5)
    # YAML 1.2: yes/no/on stay text; tags other than the standard ones are refused
    assert fileio.parse_text("a: yes\nb: on\nc: 0x1F\nd: 1.5\ne: ~\n")[0] == {"a": "yes", "b": "on", "c": 31, "d": 1.5,
                                                                       "e": None}
    with pytest.raises(studio.LoadError) as caught:
        fileio.parse_text("a: !!python/object:os.system x\n", "evil.yaml")
    assert caught.value.findings[0].code == "L002" and "not supported" in caught.value.findings[0].message
    with pytest.raises(studio.LoadError):
        fileio.parse_text("a: 1\na: 2\n")


# --------------------------------------------------------------------------- 4: values in range


def test_huge_duration_is_a_finding_not_an_overflow(approval: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = approval.read_text().replace("behaviour: {duration: 20m,", "behaviour: {duration: {dist: exponential, "
                                        "mean: 99999999999999999999w},")
    approval.write_text(text)
    code, out = _run(capsys, "validate", str(approval))
    assert code == 1 and "V001" in out and "actors[1].behaviour.duration.mean" in out
    code, out = _run(capsys, "simulate", str(approval), "--cases", "3", "--out", str(approval.parent / "out"),
                     "--no-progress")
    assert code == 1 and "V001" in out and "OverflowError" not in out


def test_rates_and_costs_out_of_range(approval: Path) -> None:
    text = approval.read_text().replace("rate: 2/h", "rate: 1/52w").replace("cost_per_1k_tokens: 0.01",
                                                                           "cost_per_1k_tokens: 1e9")
    findings = studio.validate(studio.loads(text, approval))
    assert {(f.code, f.location) for f in findings if f.code == "V001"} == {
        ("V001", "actors[0].behaviour.cost_per_1k_tokens"),
    }
    text = text.replace("rate: 1/52w", "rate: 1/100000w")
    codes = [f.location for f in studio.validate(studio.loads(text, approval)) if f.code == "V001"]
    assert "simulation.arrivals.rate" in codes


# --------------------------------------------------------------------------- 5-6: --out and --resume


def test_out_that_is_an_existing_file(approval: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = approval.parent / "results.txt"
    target.write_text("keep me")
    code, out = _run(capsys, "simulate", str(approval), "--cases", "2", "--out", str(target), "--no-progress")
    assert code == 2 and len(out.strip().splitlines()) == 1 and "is a file" in out
    assert target.read_text() == "keep me"
    code, out = _run(capsys, "render", str(approval), "-o", str(target / "diagram.dot"))
    assert code == 2 and len(out.strip().splitlines()) == 1 and "cannot write" in out


def test_out_under_proc(approval: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not Path("/proc/self").exists():
        pytest.skip("no /proc here")
    code, out = _run(capsys, "simulate", str(approval), "--cases", "2", "--out", "/proc/studio-out", "--no-progress")
    assert code == 2 and len(out.strip().splitlines()) == 1
    code, out = _run(capsys, "schema", "-o", "/proc/self/studio-schema.json")
    assert code == 2 and len(out.strip().splitlines()) == 1 and "/proc/self/studio-schema.json" in out


@pytest.mark.parametrize(("number", "words"), [(errno.ENOSPC, "free some space"), (errno.EROFS, "read-only")])
def test_full_or_read_only_disk_while_saving_results(
    approval: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, number: int, words: str
) -> None:
    from studio.simulate import results

    out = approval.parent / "out"
    out.mkdir()
    (out / "kpis.json").write_text('{"old": true}')

    def failing(path: str | os.PathLike[str], text: str) -> Path:
        raise OSError(number, os.strerror(number), str(path))

    monkeypatch.setattr(results, "atomic_write", failing)
    code, text = _run(capsys, "simulate", str(approval), "--cases", "2", "--out", str(out), "--no-progress")
    errors = [line for line in text.splitlines() if line.startswith("studio: error")]
    assert code == 2 and len(errors) == 1 and words in errors[0] and "kpis.json" in errors[0]
    assert (out / "kpis.json").read_text() == '{"old": true}'  # nothing the user had is lost


HEADER = '{"format": 2, "fingerprint": "x", "replication": 0, "cases": 1}'


@pytest.mark.parametrize(
    "record",
    ["{not json", "[]", '{"format": 2, "fingerprint": "x", "replication": "zero", "cases": 1}',
     HEADER + '\n{"index": 0}\n', HEADER + "\n", ""],
)
def test_malformed_progress_record_is_named(approval: Path, capsys: pytest.CaptureFixture[str], record: str) -> None:
    out = approval.parent / "out"
    (out / "progress").mkdir(parents=True)
    bad = out / "progress" / "rep-0000.jsonl"
    bad.write_text(record)
    code, text = _run(capsys, "simulate", str(approval), "--cases", "2", "--out", str(out), "--resume",
                      "--no-progress")
    assert code == 2 and str(bad) in text and "progress record" in text
    assert bad.read_text() == record


# --------------------------------------------------------------------------- 8: secrets

SECRETS = [
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg==",
    "Authorization: Bearer abcdef0123456789abcdef",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "3f7a9c2e5b8d1f4a6c0e9b2d7f5a8c3e1b4d6f9a",
    "sk-proj-\u200bAbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_secrets_missed_before_are_g007(secret: str) -> None:
    text = BASE.read_text().replace("description: Intake, a check", f"description: {json.dumps(secret)} #")
    findings = studio.validate(studio.loads(text))
    assert [(f.code, f.location) for f in findings] == [("G007", "metadata.description")], secret


def test_secret_in_a_yaml_comment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "workflow.yaml"
    lines = BASE.read_text().splitlines()
    lines.insert(3, "# deploy with ghp_abcdefghijklmnopqrstuvwxyz0123456789")
    path.write_text("\n".join(lines) + "\n")
    code, out = _run(capsys, "validate", str(path))
    assert code == 1 and f"{path}:4:" in out and "G007" in out and "comment" in out


def test_a_secret_scanned_with_other_texts_is_found_in_its_own() -> None:
    token = "AKCp8jQ8fL2xkZ9vN3bR"  # its pattern may start on the whitespace before it
    assert scan_many(["AAAA plain text", token]) == {token: "an Artifactory Credentials"}


def test_secrets_are_masked_in_diffs() -> None:
    old = studio.load(BASE)
    new = old.model_copy(deep=True)
    new.metadata.description = f"key {SECRETS[0]}"
    result = diff_workflows(old, new)
    assert "secret_added" in {f.code for f in result.flags}
    for fmt in ("text", "json", "markdown"):
        shown = result.format(fmt)
        assert SECRETS[0] not in shown and SECRETS[0][4:] not in shown, fmt


def test_secrets_in_case_data_warn_and_are_redacted_in_traces(approval: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    data = approval.parent / "approval.csv"
    data.write_text(data.read_text().replace("A-1,", f"{token},", 1))
    code, out = _run(capsys, "validate", str(approval))
    assert code == 0 and "D006" in out and f"{data}:2:" in out and token not in out
    code, out = _run(capsys, "simulate", str(approval), "--cases", "4", "--out", str(approval.parent / "out"),
                     "--no-progress")
    assert code == 0
    traces = (approval.parent / "out" / "traces.jsonl").read_text()
    assert token not in traces and "ghp_…" in traces
    assert token not in (approval.parent / "out" / "cases.jsonl").read_text()


# --------------------------------------------------------------------------- concerns


def test_full_width_letters_in_a_condition(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = BASE.read_text().replace('when: "amount > 1000 and score >= 0.5"',
                                    'when: "amount > 1000 and ｖendor_status == 1"')
    assert "ｖendor_status" in text
    path = tmp_path / "workflow.yaml"
    path.write_text(text)
    code, out = _run(capsys, "validate", str(path))
    assert code == 1 and "S008" in out and "reads as `vendor_status`" in out


def test_sample_data_outside_the_folder_is_not_read(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "secret" / "passwd"
    outside.parent.mkdir()
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    folder = tmp_path / "wf"
    folder.mkdir()
    for name, ref in (("abs.yaml", "/etc/passwd"), ("rel.yaml", "../secret/passwd")):
        text = BASE.read_text() + f"simulation:\n  sample_data: {ref}\n"
        (folder / name).write_text(text)
        code, out = _run(capsys, "validate", str(folder / name))
        assert code == 1 and "D005" in out and "root:" not in out and "L004" not in out
        assert fileio.sample_path(studio.load(folder / name)) is None
    monkeypatch.setenv(fileio.ALLOW_OUTSIDE_ENV, "1")
    code, out = _run(capsys, "validate", str(folder / "rel.yaml"))
    assert "D005" not in out  # explicitly allowed: read (and refused as data, since it is no CSV of cases)


def test_subworkflow_ref_outside_the_folder(tmp_path: Path) -> None:
    text = BASE.read_text().replace("  - {id: check, kind: task, actor: checker_agent, tools: [crm_read], "
                                    "validates: true}", "  - {id: check, kind: subworkflow, ref: /etc/passwd}")
    assert "/etc/passwd" in text
    path = tmp_path / "workflow.yaml"
    path.write_text(text)
    findings = [f for f in studio.validate(studio.load(path)) if f.code == "S010"]
    assert findings and "outside this workflow's folder" in findings[0].message


def test_nan_in_jsonl_is_refused(approval: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = approval.parent / "cases.jsonl"
    data.write_text('{"case_id": "A-1", "amount": 500, "category": "office"}\n'
                    '{"case_id": "A-2", "amount": NaN, "category": "office"}\n')
    code, out = _run(capsys, "simulate", str(approval), "--data", str(data), "--out", str(approval.parent / "o"),
                     "--no-progress")
    assert code == 2 and f"{data}:2:" in out and "L004" in out and "NaN" in out


def test_header_only_data_is_refused(approval: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = approval.parent / "empty.csv"
    data.write_text("case_id,amount,category\n")
    code, out = _run(capsys, "simulate", str(approval), "--data", str(data), "--out", str(approval.parent / "o"),
                     "--no-progress")
    assert code == 2 and "L004" in out and "no cases" in out


def test_saving_onto_a_symlink_updates_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    shutil.copy(BASE, target)
    link = tmp_path / "link.yaml"
    link.symlink_to(target.name)
    workflow = studio.load(link)
    workflow.metadata.description = "changed through the link"
    studio.save(workflow, link)
    assert link.is_symlink() and os.readlink(link) == "real.yaml"
    assert "changed through the link" in target.read_text()


CALLED_PASSWD = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:test">
  <process id="p" name="Calls">
    <startEvent id="s"/>
    <callActivity id="c" name="Read it" calledElement="/etc/passwd"/>
    <endEvent id="e"/>
    <sequenceFlow id="a" sourceRef="s" targetRef="c"/>
    <sequenceFlow id="b" sourceRef="c" targetRef="e"/>
  </process>
</definitions>
"""


def test_bpmn_called_element_etc_passwd_does_not_become_a_ref(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    bpmn = tmp_path / "call.bpmn"
    bpmn.write_text(CALLED_PASSWD)
    out = tmp_path / "imported.yaml"
    code, text = _run(capsys, "import", str(bpmn), "-o", str(out))
    assert code == 0 and "B004 warning" in text and "outside the workflow's folder" in text
    assert "/etc/passwd" not in out.read_text()
    code, text = _run(capsys, "validate", str(out))
    assert code == 1 and "S010" in text


def test_bpmn_size_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from studio.export import import_bpmn

    bpmn = tmp_path / "call.bpmn"
    bpmn.write_text(CALLED_PASSWD)
    code, text = _run(capsys, "import", "--limit", "bpmn_bytes=100", str(bpmn), "-o", str(tmp_path / "w.yaml"))
    assert code == 2 and "L005" in text and "bpmn_bytes" in text
    with limits.override(bpmn_bytes=100), pytest.raises(studio.LoadError) as caught:
        import_bpmn(CALLED_PASSWD.encode())
    assert caught.value.findings[0].code == "L005"
