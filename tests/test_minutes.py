"""Workshop minutes (`studio.minutes`, `studio minutes`): every section, deterministic files, the
simulation's figures from a saved run, and a clear message with exit 2 for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES

from studio import fileio
from studio.cli import main
from studio.minutes import MinutesError, load_results, minutes_html, minutes_markdown, write_minutes
from studio.model import Workflow
from studio.simulate import Results, simulate

WORKSHOP = FIXTURES / "workshop"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the workshop fixture (workflow.yaml and sample.csv) to write next to."""
    target = tmp_path / "claims"
    shutil.copytree(WORKSHOP, target)
    return target


@pytest.fixture(scope="module")
def run() -> Results:
    return simulate(fileio.load(WORKSHOP / "workflow.yaml"), cases=20, seed=2)


@pytest.fixture(scope="module")
def saved(run: Results, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results") / "run"
    run.save(out, plots=False)
    return out


def _load(folder: Path, text: str | None = None) -> Workflow:
    if text is not None:
        (folder / "workflow.yaml").write_text(text)
    return fileio.load(folder / "workflow.yaml")


# --------------------------------------------------------------------------- what the minutes say


def test_markdown_has_every_section_with_names_not_ids(folder: Path, saved: Path) -> None:
    text = minutes_markdown(_load(folder), results=saved, image="minutes-map.png")
    assert text.startswith("# Workshop minutes: claims 1.2.0\n")
    assert "- **Date:** 2026-11-30" in text
    assert "- **Attendees:** Maria Lopez (claims lead), Tom Berg" in text
    assert "The room agreed to keep one approval for now." in text
    assert "![The claims workflow](minutes-map.png)" in text
    step = "Manager approves the claim (manager_approval)"
    assert f"| {step} | Who approves when both managers are away? | Maria Lopez (claims lead) |" in text
    assert f"| {step} | Is a 4h SLA realistic? | Yes on weekdays | Tom Berg |" in text
    assert f"| {step} | Claims under 500 skip the approval | 2026-11-30 | Maria Lopez (claims lead) |" in text
    assert f"| {step} | Directors take escalations | – | – |" in text
    assert (f"| {step} | Claims managers (managers) | Directors (directors) | Legal team | "
            "Finance, Claims intake agent (intake_agent) |") in text
    assert "| Read the claim (intake) | Claims intake agent (intake_agent) | Maria Lopez | – | – |" in text
    assert "2 open question(s), 2 decision(s), 0 error(s) and 0 warning(s) in the map." in text
    assert "None: the map validates clean." in text
    assert "| Completed successfully |" in text and "| Cycle time, median |" in text
    assert "Bottleneck:" in text and "Figures from the run saved in `run`." in text
    # questions and decisions follow the map's order of steps
    assert text.index("Which claim fields") < text.index("Who approves when both")


def test_findings_are_listed_where_people_look_for_them(folder: Path) -> None:
    text = (folder / "workflow.yaml").read_text().replace("accountable: [directors]", "accountable: [directrs]")
    text = text.replace("sla: 4h, escalate_to: directors}", "}")
    minutes = minutes_markdown(_load(folder, text))
    assert "0 error(s) and 2 warning(s) in the map." in minutes
    assert "| warning | A007 | workshop notes on Manager approves the claim (manager_approval) |" in minutes
    assert "| warning | G003 | step Manager approves the claim (manager_approval) |" in minutes
    assert "did you mean `directors`?" in minutes


def test_html_is_one_page_with_the_map_inside_and_the_text_escaped(folder: Path, saved: Path) -> None:
    text = (folder / "workflow.yaml").read_text().replace(
        "The room agreed", "<script>alert('x')</script> The room agreed")
    page = minutes_html(_load(folder, text), results=saved)
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</body></html>\n")
    assert page.count("<svg") == 1 and "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<td>Claims managers (managers)</td>" in page and "Completed successfully" in page
    markdown = minutes_markdown(_load(folder), results=saved)
    assert "<script>" not in minutes_markdown(_load(folder, text)) and "<script>" not in markdown


def test_secrets_in_notes_are_masked(folder: Path) -> None:
    text = (folder / "workflow.yaml").read_text().replace(
        "Revisit the send-back loop after the pilot.", "ERP key AKIAIOSFODNN7EXAMPLE for the pilot.")
    minutes = minutes_markdown(_load(folder, text))
    assert "AKIAIOSFODNN7EXAMPLE" not in minutes and "AKIA…" in minutes


def test_without_notes_or_a_run_the_minutes_say_so(folder: Path) -> None:
    bare = (folder / "workflow.yaml").read_text().split("\nworkshop:\n")[0] + "\n"
    minutes = minutes_markdown(_load(folder, bare))
    assert "- **Date:** not recorded" in minutes and "- **Attendees:** not recorded" in minutes
    assert "## Open questions\n\nNone." in minutes and "## RACI\n\nNone recorded." in minutes
    assert "Not simulated yet" in minutes and "## Notes" not in minutes


def test_a_results_object_or_the_run_kept_next_to_the_file_gives_the_figures(folder: Path, run: Results) -> None:
    workflow = _load(folder)
    direct = minutes_markdown(workflow, results=run)
    assert "Figures from the last run." in direct
    run.save(folder / "workflow.simulation", plots=False)  # where the studio keeps the run as mapped
    kept = minutes_markdown(workflow)
    assert "Figures from the run saved in `workflow.simulation`." in kept
    assert direct.split("| Figure | Value |")[1] == kept.split("| Figure | Value |")[1]


def test_a_run_of_an_older_version_is_marked(folder: Path, saved: Path) -> None:
    text = (folder / "workflow.yaml").read_text().replace("version: 1.2.0", "version: 1.3.0")
    minutes = minutes_markdown(_load(folder, text), results=saved)
    assert "it simulated version 1.2.0, the map is now version 1.3.0" in minutes


def test_results_that_cannot_be_used_are_refused_with_the_fix(folder: Path, saved: Path, tmp_path: Path) -> None:
    workflow = _load(folder)
    with pytest.raises(MinutesError, match=r"holds no `kpis\.json`"):
        load_results(tmp_path, workflow)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "kpis.json").write_text("{not json")
    with pytest.raises(MinutesError, match="not readable JSON"):
        load_results(broken, workflow)
    other = tmp_path / "other"
    shutil.copytree(saved, other)
    kpis = json.loads((other / "kpis.json").read_text())
    kpis["workflow"]["name"] = "procurement"
    (other / "kpis.json").write_text(json.dumps(kpis))
    with pytest.raises(MinutesError, match="run of workflow `procurement`, not `claims`"):
        load_results(other, workflow)


# --------------------------------------------------------------------------- files


def test_markdown_file_with_its_map_picture_written_twice_is_byte_identical(folder: Path, saved: Path) -> None:
    workflow = _load(folder)
    first = write_minutes(workflow, folder / "minutes.md", results=saved)
    picture = folder / "minutes-map.png"
    assert first == folder / "minutes.md" and picture.read_bytes().startswith(b"\x89PNG")
    assert "![The claims workflow](minutes-map.png)" in first.read_text()
    texts = (first.read_text(), picture.read_bytes())
    write_minutes(workflow, folder / "minutes.md", results=saved)
    assert (first.read_text(), picture.read_bytes()) == texts


def test_html_file_written_twice_is_byte_identical(folder: Path, saved: Path) -> None:
    workflow = _load(folder)
    path = write_minutes(workflow, folder / "minutes.html", results=saved)
    text = path.read_text()
    write_minutes(workflow, path, results=saved)
    assert path.read_text() == text
    assert sorted(p.name for p in folder.iterdir()) == ["minutes.html", "sample.csv", "workflow.yaml"]


def test_an_unknown_suffix_is_refused() -> None:
    with pytest.raises(MinutesError, match=r"name the minutes `\.md`"):
        write_minutes(fileio.load(WORKSHOP / "workflow.yaml"), "minutes.txt")


# --------------------------------------------------------------------------- the command


def test_cli_writes_the_minutes(folder: Path, saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = folder / "out" / "minutes.md"
    assert main(["minutes", str(folder / "workflow.yaml"), "-o", str(out), "--results", str(saved)]) == 0
    assert f"wrote {out}" in capsys.readouterr().err
    assert "| Completed successfully |" in out.read_text() and (out.parent / "minutes-map.png").is_file()
    page = folder / "minutes.html"
    assert main(["minutes", str(folder / "workflow.yaml"), "-o", str(page)]) == 0
    assert "<svg" in page.read_text()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "L001 error workflow file"),
        ("broken_yaml", "L002 error YAML syntax error"),
        ("wrong_model", "L003 error unknown field `nodez`"),
        ("suffix", "cannot tell the format of"),
        ("no_results", "holds no `kpis.json`"),
        ("not_a_folder", "is not a folder of simulation results"),
        ("unwritable", "cannot write"),
    ],
)
def test_cli_bad_input_exits_2_with_a_message(case: str, expected: str, folder: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    workflow = folder / "workflow.yaml"
    out = folder / "minutes.md"
    args = ["minutes", str(workflow), "-o", str(out)]
    if case == "missing":
        args[1] = str(folder / "nope.yaml")
    elif case == "broken_yaml":
        workflow.write_text("metadata: {name: claims\nnodes: [\n")
    elif case == "wrong_model":
        workflow.write_text("apiVersion: studio/v1\nmetadata: {name: claims}\nnodez: []\n")
    elif case == "suffix":
        args[3] = str(folder / "minutes.docx")
    elif case == "no_results":
        args += ["--results", str(tmp_path)]
    elif case == "not_a_folder":
        args += ["--results", str(workflow)]
    else:
        (folder / "blocked").write_text("a file where a folder is needed")
        args[3] = str(folder / "blocked" / "minutes.html")
    out.write_text("the minutes of last week")
    assert main(args) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and "Traceback" not in captured.err + captured.out
    assert out.read_text() == "the minutes of last week"  # nothing the user had is lost


def test_without_graphviz_the_minutes_still_go_out(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio import render
    from studio.errors import GraphvizMissing

    def missing(*_: object, **__: object) -> bytes:
        raise GraphvizMissing()

    monkeypatch.setattr(render, "_pipe", missing)
    workflow = _load(folder)
    markdown = write_minutes(workflow, folder / "minutes.md").read_text()
    assert "Not drawn here (Graphviz is needed): `studio render workflow.yaml -o map.svg --findings`." in markdown
    assert not (folder / "minutes-map.png").exists()
    page = write_minutes(workflow, folder / "minutes.html").read_text()
    assert "<svg" not in page and "needs Graphviz" in page and "Who approves when both" in page
