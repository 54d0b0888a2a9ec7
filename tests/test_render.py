"""Diagrams: DOT and Mermaid pinned by snapshots, SVG/PNG drawn by Graphviz, overlays, escaping.

Snapshots live in ``tests/snapshots/<name>.dot`` and ``.mmd``. After a deliberate change to the
renderer or a template, regenerate them with::

    STUDIO_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_render.py
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, TEMPLATES

from studio import fileio, render
from studio.errors import Finding, GraphvizMissing, Severity, StudioError
from studio.model import Workflow
from studio.render import Overlay, to_dot, to_mermaid
from studio.validate import validate

SNAPSHOTS = ROOT / "tests" / "snapshots"
UPDATE = os.environ.get("STUDIO_UPDATE_SNAPSHOTS") == "1"
SOURCES = {p.parent.name: p for p in sorted(TEMPLATES.glob("*/workflow.yaml"))} | {
    "base": FIXTURES / "valid" / "base.yaml", "wait": FIXTURES / "valid" / "wait.yaml",
}


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        fileio.atomic_write(path, text)
        return
    assert path.is_file(), f"no snapshot {path}; create it with STUDIO_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; if that is intended, run STUDIO_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_render.py"
    )


@pytest.fixture(scope="module", params=sorted(SOURCES))
def named(request: pytest.FixtureRequest) -> tuple[str, Workflow]:
    name: str = request.param
    return name, fileio.load(SOURCES[name])


def test_every_template_has_a_snapshot_pair() -> None:
    assert len(SOURCES) >= 6
    if not UPDATE:
        for name in SOURCES:
            assert (SNAPSHOTS / f"{name}.dot").is_file() and (SNAPSHOTS / f"{name}.mmd").is_file(), name


def test_dot_snapshot(named: tuple[str, Workflow]) -> None:
    name, workflow = named
    check_snapshot(f"{name}.dot", to_dot(workflow))


def test_mermaid_snapshot(named: tuple[str, Workflow]) -> None:
    name, workflow = named
    check_snapshot(f"{name}.mmd", to_mermaid(workflow))


def test_renders_to_svg_and_png(named: tuple[str, Workflow], tmp_path: Path) -> None:
    name, workflow = named
    svg = render.render(workflow, tmp_path / f"{name}.svg")
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for node in workflow.nodes:
        assert f"<title>{node.id}</title>" in text
    png = render.render(workflow, tmp_path / f"{name}.png")
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{name}.png", f"{name}.svg"])  # no temp files


def test_output_is_byte_stable(named: tuple[str, Workflow]) -> None:
    name, workflow = named
    again = fileio.load(SOURCES[name])
    assert to_dot(workflow) == to_dot(again)
    assert to_mermaid(workflow, lanes="kind") == to_mermaid(again, lanes="kind")
    assert render.to_svg(workflow) == render.to_svg(again)


# --------------------------------------------------------------------------- what the diagram shows


@pytest.fixture
def base() -> Workflow:
    return fileio.load(SOURCES["base"])


def node_line(dot: str, node_id: str) -> str:
    return next(line for line in dot.splitlines() if line.strip().startswith(f"{node_id} ["))


def test_shapes_per_kind(base: Workflow) -> None:
    dot = to_dot(base)
    assert "shape=circle" in node_line(dot, "start")
    assert "shape=doublecircle" in node_line(dot, "done")
    assert "rounded" in node_line(dot, "intake") and "shape=box" in node_line(dot, "intake")
    assert "diagonals" in node_line(dot, "review")
    assert "shape=diamond" in node_line(dot, "route")
    assert 'fillcolor="#263238"' in node_line(dot, "fork") and "height=0.7" in node_line(dot, "join")


def test_a_wait_is_a_timer_event() -> None:
    workflow = fileio.load(SOURCES["wait"])
    line = node_line(to_dot(workflow), "goods")
    assert "shape=doublecircle" in line and 'label="◷"' in line and "(triangular, mean 64h)" in line
    assert "until mon-fri 09:00-17:00 Europe/Berlin" in node_line(to_dot(workflow), "office")
    mermaid = to_mermaid(workflow)
    assert 'n_remind(["◷ Wait a day before chasing<br/><small>1d</small>"])' in mermaid
    assert "class n_goods,n_remind,n_office timer" in mermaid


def test_lanes_per_actor_kind_and_none(base: Workflow) -> None:
    by_actor = to_dot(base, lanes="actor")
    assert re.findall(r"subgraph (cluster_\w+)", by_actor) == [
        "cluster_intake_agent", "cluster_checker_agent", "cluster_clerks", "cluster_managers", "cluster_legend"]
    by_kind = to_dot(base, lanes="kind")
    assert re.findall(r"subgraph (cluster_\w+)", by_kind) == ["cluster_agent", "cluster_human", "cluster_legend"]
    assert "checker_agent" in node_line(by_kind, "check")  # the actor is named in the node when lanes do not
    assert re.findall(r"subgraph (cluster_\w+)", to_dot(base, lanes="none")) == ["cluster_legend"]
    assert "subgraph lane_" not in to_mermaid(base, lanes="none")
    with pytest.raises(ValueError, match="lanes"):
        to_dot(base, lanes="team")


def test_conditions_and_else_on_edges(base: Workflow) -> None:
    dot = to_dot(base)
    assert 'route -> review [label="amount > 1000 and score >= 0.5"' in dot
    assert "route -> fork [label=else" in dot
    mermaid = to_mermaid(base)
    assert 'n_route -->|"amount #gt; 1000 and score #gt;= 0.5"| n_review' in mermaid
    assert 'n_route -->|"else"| n_fork' in mermaid


def test_tool_tiers_are_coloured(base: Workflow) -> None:
    dot = to_dot(base)
    assert "#C62828" in node_line(dot, "pay") and "payments" in node_line(dot, "pay")
    assert "#B26A00" in node_line(dot, "update")
    assert "#2E7D32" in node_line(dot, "intake")
    mermaid = to_mermaid(base)
    assert "class n_pay critical" in mermaid and "class n_update restricted_write" in mermaid


def test_loops_are_dashed() -> None:
    workflow = fileio.load(TEMPLATES / "procurement" / "workflow.yaml")
    line = next(x for x in to_dot(workflow).splitlines() if "manager_outcome -> intake_request" in x)
    assert "style=dashed" in line
    assert "n_manager_outcome -.->" in to_mermaid(workflow)


def test_findings_are_outlined_with_messages(base: Workflow) -> None:
    findings = [
        Finding("G001", Severity.ERROR, "nodes[5]", "`pay` calls critical tool `payments` ..."),
        Finding("G003", Severity.WARNING, "nodes[8].sla", "human task `confirm` has no SLA"),
        Finding("S011", Severity.WARNING, "edges[3].when", "edge has a condition"),
        Finding("G009", Severity.WARNING, "actors", "too many agents"),
    ]
    dot = to_dot(base, findings=findings)
    assert 'color="#D32F2F"' in node_line(dot, "pay") and "G001 error" in node_line(dot, "pay")
    assert 'color="#F9A825"' in node_line(dot, "confirm")
    assert "1 error(s), 3 warning(s)" in dot and "too many agents" in dot
    edge = next(x for x in dot.splitlines() if "route -> review" in x)
    assert "penwidth=3" in edge and "S011" in edge
    assert "class n_pay error" in to_mermaid(base, findings=findings)


def test_findings_from_the_validator_map_to_nodes() -> None:
    workflow = fileio.load(FIXTURES / "invalid" / "G001.yaml")
    findings = validate(workflow)
    flagged = [f for f in findings if f.code == "G001"]
    assert flagged
    dot = to_dot(workflow, findings=findings)
    index = int(re.match(r"nodes\[(\d+)\]", flagged[0].location).group(1))  # type: ignore[union-attr]
    assert 'color="#D32F2F"' in node_line(dot, workflow.nodes[index].id)


def test_simulation_overlay_heat_and_traffic(base: Workflow) -> None:
    overlay = Overlay(nodes={"review": 1.0, "confirm": 0.5}, edges={("start", "intake"): 40, ("route", "fork"): 10},
                      label="utilisation")
    dot = to_dot(base, overlay=overlay)
    assert 'fillcolor="#EF6C64"' in node_line(dot, "review") and "utilisation 100%" in node_line(dot, "review")
    assert "utilisation 50%" in node_line(dot, "confirm")
    assert "penwidth=6.00" in next(x for x in dot.splitlines() if "start -> intake" in x)
    assert "penwidth=2.25" in next(x for x in dot.splitlines() if "route -> fork" in x)
    raw = Overlay(nodes={"review": 7200.0, "confirm": 1800.0}, text={"review": "2h"}, label="wait")
    dot = to_dot(base, overlay=raw)
    assert "wait 2h" in node_line(dot, "review") and "wait 1.8e+03" in node_line(dot, "confirm")
    assert 'fillcolor="#FBDAD8"' in node_line(dot, "confirm")  # a quarter of the largest wait


def test_text_is_escaped_everywhere(tmp_path: Path) -> None:
    workflow = fileio.loads(
        'metadata: {name: tricky, description: "say \\"hi\\" \\\\ <b>"}\n'
        "actors: [{id: a, kind: agent, name: 'R&D <bots> \"x\"'}]\n"
        "nodes:\n"
        "  - {id: start, kind: start, name: '<start>'}\n"
        "  - {id: t, kind: task, actor: a, name: 'Quote \"me\" & back\\slash <tag>'}\n"
        "  - {id: d, kind: decision, name: 'a|b?'}\n"
        "  - {id: end, kind: end, name: '\"done\"'}\n"
        "edges:\n"
        "  - {from: start, to: t}\n"
        "  - {from: t, to: d}\n"
        "  - {from: d, to: end, when: 'name == \"x\\\\y\"'}\n"
        "  - {from: d, to: end, default: true}\n"
    )
    dot = to_dot(workflow)
    assert "<B>Quote &quot;me&quot; &amp;</B>" in dot and "<B>back\\slash &lt;tag&gt;</B>" in dot
    assert "R&amp;D &lt;bots&gt; &quot;x&quot;" in dot
    assert 'label="name == \\"x\\\\\\\\y\\""' in dot  # DOT string: quotes and backslashes escaped
    svg = render.render(workflow, tmp_path / "tricky.svg").read_text(encoding="utf-8")
    assert "back\\slash &lt;tag&gt;</text>" in svg
    assert "name == &quot;x\\\\y&quot;</text>" in svg  # the condition exactly as written
    mermaid = to_mermaid(workflow)
    assert 'n_t("Quote #quot;me#quot; #amp; back\\slash #lt;tag#gt;")' in mermaid
    assert 'n_d{"a#124;b?"}' in mermaid and "n_end(((" in mermaid  # `end` is a Mermaid keyword


def test_format_from_suffix_and_atomic_text(base: Workflow, tmp_path: Path) -> None:
    assert render.format_for("x.SVG") == "svg" and render.format_for("x.gv") == "dot"
    assert render.format_for("x.txt", "mmd") == "mmd"
    with pytest.raises(ValueError, match="diagram format"):
        render.format_for("x.pdf")
    out = render.render(base, tmp_path / "deep" / "base.mmd")
    assert out.read_text(encoding="utf-8") == to_mermaid(base)
    out = render.render(base, tmp_path / "base.dot", lanes="kind")
    assert out.read_text(encoding="utf-8") == to_dot(base, lanes="kind")


def test_missing_graphviz_says_how_to_install(base: Workflow, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    target = tmp_path / "old.svg"
    target.write_text("previous", encoding="utf-8")
    with pytest.raises(GraphvizMissing) as caught:
        render.render(base, target)
    assert isinstance(caught.value, StudioError) and isinstance(caught.value, RuntimeError)
    message = str(caught.value)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "conda install graphviz" in message and ".dot" in message and "\n" not in message
    assert target.read_text(encoding="utf-8") == "previous"
    assert render.render(base, tmp_path / "ok.dot").is_file()  # text formats need no binary
    bundle = render.mimebundle(base)
    assert set(bundle) == {"text/markdown", "text/plain"}
    assert bundle["text/markdown"].startswith("```mermaid\nflowchart LR")
    assert "install Graphviz" in bundle["text/plain"]


def test_notebook_shows_svg(base: Workflow) -> None:
    assert shutil.which("dot"), "Graphviz is part of the project set-up (scripts/run.sh installs it)"
    bundle = base._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"}
    assert "<svg" in bundle["image/svg+xml"]
    assert bundle["text/plain"].startswith("Workflow base 1.0.0: 12 nodes")


def test_notebook_drops_lanes_for_large_workflows(base: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    assert base._repr_mimebundle_()["image/svg+xml"].count('class="cluster"') == 5  # four lanes and the key
    monkeypatch.setattr(render, "LANES_UP_TO", 5)
    assert base._repr_mimebundle_()["image/svg+xml"].count('class="cluster"') == 1
