"""The `studio` command: exit codes, one finding a line, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

import studio
from studio.cli import main

TEMPLATE_FILES = sorted(str(p) for p in (ROOT / "templates").glob("*/workflow.yaml"))


def test_validate_every_template_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(TEMPLATE_FILES) == 5
    assert main(["validate", *TEMPLATE_FILES]) == 0
    out, err = capsys.readouterr()
    assert " error " not in out
    assert err.count("0 error(s)") == 5


def test_findings_one_a_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "invalid" / "S004.yaml"
    assert main(["validate", str(path)]) == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{path}:")
    location, code, severity, *_ = line.split(" ")
    assert (code, severity) == ("S004", "error")
    assert location.count(":") == 2 and all(part.isdigit() for part in location.split(":")[1:])
    assert line.endswith(")") and "`sign`" in line


def test_warnings_alone_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(FIXTURES / "invalid" / "G003.yaml")]) == 0
    assert " G003 warning " in capsys.readouterr().out


def test_broken_yaml_exits_2_naming_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "invalid" / "L002.yaml"
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr().out
    assert f"{path}:7:5 L002 error YAML syntax error" in out


def test_missing_file_and_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "no/such/file.yaml"]) == 2
    assert "does not exist" in capsys.readouterr().out
    with pytest.raises(SystemExit) as caught:
        main(["validate", "--format", "xml", "x.yaml"])
    assert caught.value.code == 2


def test_data_flag_checks_conditions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "cases.csv"
    data.write_text("case_id,total\n1,5\n")
    assert main(["validate", str(FIXTURES / "valid" / "base.yaml"), "--data", str(data)]) == 1
    assert " D001 error " in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("case_id,total\n1,5,6\n")
    assert main(["validate", str(FIXTURES / "valid" / "base.yaml"), "--data", str(bad)]) == 2


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "validate",
                "--format",
                "json",
                str(FIXTURES / "invalid" / "G001.yaml"),
                str(FIXTURES / "invalid" / "L003.yaml"),
            ]
        )
        == 2
    )
    report = json.loads(capsys.readouterr().out)
    assert [r["readable"] for r in report] == [True, False]
    assert report[0]["summary"] == {"error": 1, "warning": 0, "info": 0}
    assert report[0]["findings"][0]["code"] == "G001"
    assert {f["code"] for f in report[1]["findings"]} == {"L003"}


def test_new_from_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "my_p2p", "--template", "procurement", "-C", str(tmp_path)]) == 0
    made = studio.load(tmp_path / "my_p2p" / "workflow.yaml")
    assert (made.metadata.name, made.metadata.version) == ("my_p2p", "0.1.0")
    assert (tmp_path / "my_p2p" / "sample.csv").is_file()
    assert main(["validate", str(tmp_path / "my_p2p" / "workflow.yaml")]) == 0
    (tmp_path / "my_p2p" / "workflow.yaml").write_text("mine\n")
    assert main(["new", "my_p2p", "--template", "procurement", "-C", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "my_p2p" / "workflow.yaml").read_text() == "mine\n"
    assert main(["new", "my_p2p", "--template", "procurement", "-C", str(tmp_path), "--force"]) == 0
    assert main(["new", "x", "--template", "nope", "-C", str(tmp_path)]) == 2
    assert "choose one of" in capsys.readouterr().err
    assert main(["new", "bad name!", "--template", "procurement", "-C", str(tmp_path)]) == 2


def test_summary_of_templates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    for name in ("customer_onboarding", "finance_close", "procurement", "maintenance_work_order", "support_triage"):
        assert f"{name} 1.0.0" in out
    assert "0 error(s)" in out


@pytest.mark.parametrize(
    "content",
    ["metadata: [\n", "metadata: {name: x}\nnodes: 5\n", "\x00\x01binary"],
)
def test_console_script_never_shows_a_traceback(tmp_path: Path, content: str) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(content)
    proc = subprocess.run(
        [sys.executable, "-m", "studio.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert str(path) in proc.stdout
