"""Workshop minutes: what the room mapped, asked and decided, ready to mail.

``write_minutes(workflow, "minutes.md")`` (or ``.html``) writes, from the workflow file alone:

    the map          HTML: the diagram's SVG inline; Markdown: a PNG written next to the minutes
    who and when     the workshop's date, attendees and free notes (``workshop`` in the file)
    open questions   per step, who asked; then the questions answered since, with their answers
    decisions        per step: what, when, by whom
    RACI             per step: responsible, accountable, consulted, informed (actor names, not ids)
    findings         every finding of :func:`studio.validate.validate`, where it is and the fix
    simulation       the key figures and pointers of :mod:`studio.simulate.summary` for the last
                     run saved by ``studio simulate --out DIR`` (``results=DIR``), or the run the
                     studio keeps next to the workflow file (``<file stem>.simulation/``)

The text is deterministic (no clock is read: the date is the workshop's own) and every file is
written atomically. Free text from the file is shown with anything that looks like a secret
masked. Nothing here simulates: figures come from a saved run only.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from studio import fileio
from studio.errors import Finding, GraphvizMissing, LoadError, StudioError
from studio.model import RACI_ROLES, StepNotes, Workflow

__all__ = [
    "MinutesError",
    "load_results",
    "minutes_html",
    "minutes_markdown",
    "results_folder",
    "write_minutes",
]

FORMATS: dict[str, str] = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
_SVG_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.S)


class MinutesError(StudioError, ValueError):
    """The minutes cannot be written as asked: a wrong suffix, or simulation results that cannot be read."""


# --------------------------------------------------------------------------- simulation results


def results_folder(workflow: Workflow) -> Path | None:
    """Where the studio keeps the last simulation of the workflow as mapped (next to its file), or None."""
    path = getattr(workflow.source, "path", None)
    if not isinstance(path, Path):
        return None
    return path.with_name(f"{path.stem}.simulation")


def load_results(folder: str | os.PathLike[str], workflow: Workflow) -> Any:
    """The run ``studio simulate --out FOLDER`` saved, as an object :mod:`studio.simulate.summary` reads.

    Raises :class:`MinutesError` naming the folder and the fix when it holds no readable
    ``kpis.json`` or the run is of another workflow.
    """
    folder = Path(folder)
    kpis_path = folder / "kpis.json"
    if not folder.is_dir():
        raise MinutesError(f"`{folder}` is not a folder of simulation results; pass the folder "
                           "`studio simulate FILE --out DIR` wrote, or leave out --results")
    if not kpis_path.is_file():
        raise MinutesError(f"`{folder}` holds no `kpis.json`; run `studio simulate FILE --out {folder}` first, "
                           "or pass the folder a run wrote")
    try:
        kpis = json.loads(fileio.read_limited(kpis_path, "data_bytes", "results file"))
    except LoadError as exc:
        raise MinutesError(exc.findings[0].message + f" ({exc.findings[0].hint})") from None
    except ValueError as exc:
        raise MinutesError(f"`{kpis_path}` is not readable JSON ({exc}); simulate again with --out {folder}") from None
    figures = kpis.get("workflow") if isinstance(kpis, dict) else None
    if not isinstance(figures, dict) or not isinstance(kpis.get("cycle_time"), dict):
        raise MinutesError(f"`{kpis_path}` is not the KPIs of a simulation; simulate again with --out {folder}")
    if figures.get("name") != workflow.metadata.name:
        raise MinutesError(f"`{folder}` holds a run of workflow `{figures.get('name')}`, not "
                           f"`{workflow.metadata.name}`; pass that workflow's results folder")
    return SimpleNamespace(kpis=kpis, compiled=SimpleNamespace(workflow=workflow), folder=folder)


def _results(workflow: Workflow, results: Any) -> tuple[Any, str | None]:
    """``(results or None, a note for the minutes)``: a given run, a folder, or the one the studio kept."""
    if results is not None and not isinstance(results, (str, os.PathLike)):
        return results, None
    if results is not None:
        return load_results(results, workflow), None
    kept = results_folder(workflow)
    if kept is None or not (kept / "kpis.json").is_file():
        return None, None
    try:
        return load_results(kept, workflow), None
    except MinutesError as exc:
        return None, f"The simulation kept in `{kept.name}` could not be read: {exc}"


# --------------------------------------------------------------------------- the content


@dataclass
class _Content:
    """Everything the minutes say, worked out once; Markdown and HTML only lay it out."""

    title: str
    facts: list[tuple[str, str]]
    notes: str | None
    open_questions: list[tuple[str, str, str]] = field(default_factory=list)
    answered: list[tuple[str, str, str, str]] = field(default_factory=list)
    decisions: list[tuple[str, str, str, str]] = field(default_factory=list)
    raci: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    findings: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    figures_from: str | None = None
    pointers: list[str] = field(default_factory=list)
    resources: list[tuple[str, str, str, str, str]] = field(default_factory=list)


def _mask(text: str | None) -> str:
    if not text:
        return ""
    from studio.validate import mask_secrets  # noqa: PLC0415  (validation loads networkx)

    return mask_secrets(text.strip())


def _labels(workflow: Workflow) -> dict[str, str]:
    out: dict[str, str] = {}
    for section in (workflow.tools, workflow.actors, workflow.nodes):
        for item in section:
            out.setdefault(item.id, item.name or item.id)
    return out


def _step(workflow: Workflow, labels: Mapping[str, str], node_id: str) -> str:
    """``Manager approval (manager_approval)``; a step no longer in the map says so."""
    if node_id not in workflow.index.nodes:
        return f"{node_id} (not in the map)"
    name = labels.get(node_id, node_id)
    return name if name == node_id else f"{name} ({node_id})"


def _notes_in_order(workflow: Workflow) -> list[tuple[str, StepNotes]]:
    """Each step's notes in the map's order, then notes for steps no longer in it (by id)."""
    notes = workflow.workshop.nodes
    nodes = workflow.index.nodes  # in file order, the first of a repeated id
    ordered = [(node_id, notes[node_id]) for node_id in nodes if node_id in notes]
    ordered += [(node_id, notes[node_id]) for node_id in sorted(notes) if node_id not in nodes]
    return ordered


def _who(labels: Mapping[str, str], actors: set[str], entry: str) -> str:
    """A RACI entry as people read it: an actor's name (and id), or the name as written."""
    entry = entry.strip()
    if entry in actors and labels.get(entry, entry) != entry:
        return f"{labels[entry]} ({entry})"
    return _mask(entry)


def _where(workflow: Workflow, labels: Mapping[str, str], finding: Finding) -> str:
    """A finding's place in words: the step, connection or actor it is about, else its location."""
    match = re.match(r"^(nodes|actors|tools|edges)\[(\d+)\]", finding.location)
    if match is not None:
        section, index = match.group(1), int(match.group(2))
        items: Sequence[Any] = getattr(workflow, section)
        if index < len(items):
            item = items[index]
            if section == "edges":
                return f"connection {labels.get(item.source, item.source)} → {labels.get(item.target, item.target)}"
            if section == "nodes":
                return f"step {_step(workflow, labels, item.id)}"
            what = {"actors": "actor", "tools": "tool"}[section]
            name = labels.get(item.id, item.id)
            return f"{what} {name}" + (f" ({item.id})" if name != item.id else "")
    workshop = re.match(r"^workshop\.nodes\.([^.\[]+)", finding.location)
    if workshop is not None:
        return f"workshop notes on {_step(workflow, labels, workshop.group(1))}"
    if finding.location:
        return finding.location
    return f"line {finding.line}" if finding.line is not None else "the workflow"


def _findings(workflow: Workflow) -> list[Finding]:
    from studio.validate import validate  # noqa: PLC0415

    data: Any = None
    extra: list[Finding] = []
    try:
        data = fileio.workflow_cases(workflow)
    except LoadError as exc:  # the minutes still go out; the data's problem is one of the findings
        extra = list(exc.findings)
    return extra + validate(workflow, data=data)


def _content(workflow: Workflow, findings: Sequence[Finding] | None, results: Any) -> _Content:
    labels = _labels(workflow)
    actors = {actor.id for actor in workflow.actors}
    meta = workflow.metadata
    shop = workflow.workshop
    about = f" — {_mask(meta.description)}" if meta.description else ""
    facts = [("Workflow", f"{meta.name} {meta.version}{about}")]
    if meta.owner:
        facts.append(("Owner", _mask(meta.owner)))
    facts.append(("Date", shop.date or "not recorded"))
    facts.append(("Attendees", ", ".join(_mask(a) for a in shop.attendees) or "not recorded"))
    facts.append(("Map", f"{len(workflow.nodes)} steps, {len(workflow.edges)} connections, "
                         f"{len(workflow.actors)} actors"))
    content = _Content(title=f"Workshop minutes: {meta.name} {meta.version}", facts=facts,
                       notes=_mask(shop.notes) or None)
    for node_id, notes in _notes_in_order(workflow):
        step = _step(workflow, labels, node_id)
        for question in notes.questions:
            asked = _mask(question.asked_by) or "–"
            if question.status == "open":
                content.open_questions.append((step, _mask(question.text), asked))
            else:
                content.answered.append((step, _mask(question.text), _mask(question.answer) or "–", asked))
        for decision in notes.decisions:
            content.decisions.append((step, _mask(decision.text), decision.when or "–",
                                      _mask(decision.decided_by) or "–"))
        roles = [", ".join(_who(labels, actors, e) for e in getattr(notes.raci, role)) or "–" for role in RACI_ROLES]
        if any(cell != "–" for cell in roles):
            content.raci.append((step, roles[0], roles[1], roles[2], roles[3]))
    found = list(findings) if findings is not None else _findings(workflow)
    for finding in sorted(found, key=lambda f: f.sort_key()):
        content.findings.append((finding.severity.value, finding.code, _where(workflow, labels, finding),
                                 finding.message, finding.hint or "–"))
    run, note = _results(workflow, results)
    if note is not None:
        content.figures_from = note
    if run is not None:
        from studio.simulate import summary  # noqa: PLC0415  (plain Python: no LangGraph is loaded)

        content.figures = summary.headline_rows(run)
        content.pointers = summary.pointers(run)
        content.resources = summary.resource_rows(run)
        simulated = run.kpis.get("workflow") or {}
        where = getattr(run, "folder", None)
        origin = f"the run saved in `{where.name}`" if isinstance(where, Path) else "the last run"
        stale = (f"; it simulated version {simulated.get('version')}, the map is now version {meta.version}"
                 if simulated.get("version") not in (None, meta.version) else "")
        content.figures_from = f"Figures from {origin}{stale}."
    return content


# --------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    """Free text that stays text in Markdown: no raw HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_cell(text: str) -> str:
    return _md(" ".join(text.split())).replace("|", "\\|")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _counts(content: _Content) -> str:
    errors = sum(1 for f in content.findings if f[0] == "error")
    warnings = sum(1 for f in content.findings if f[0] == "warning")
    return (f"{len(content.open_questions)} open question(s), {len(content.decisions)} decision(s), "
            f"{errors} error(s) and {warnings} warning(s) in the map.")


def minutes_markdown(
    workflow: Workflow,
    *,
    findings: Sequence[Finding] | None = None,
    results: Any = None,
    image: str | None = None,
) -> str:
    """The minutes as Markdown. ``image`` is the (relative) link of the map picture written next to
    them; without one the minutes say how to draw the map. ``findings`` default to
    :func:`studio.validate.validate` (with the sample data); ``results`` is a saved results folder
    or a ``Results`` object (default: the run the studio kept next to the workflow file)."""
    content = _content(workflow, findings, results)
    lines = [f"# {_md(content.title)}", ""]
    lines += [f"- **{name}:** {_md(value)}" for name, value in content.facts]
    lines += ["", _counts(content), "", "## The map", ""]
    if image is not None:
        lines.append(f"![The {_md(workflow.metadata.name)} workflow]({image.replace(' ', '%20')})")
    else:
        path = getattr(workflow.source, "path", None)
        name = path.name if isinstance(path, Path) else "FILE"
        lines.append(f"Not drawn here (Graphviz is needed): `studio render {_md(name)} -o map.svg --findings`.")
    if content.notes:
        lines += ["", "## Notes", "", _md(content.notes)]
    lines += ["", "## Open questions", ""]
    lines += _md_table(["Step", "Question", "Asked by"], content.open_questions) if content.open_questions else [
        "None."]
    if content.answered:
        lines += ["", "## Answered questions", ""]
        lines += _md_table(["Step", "Question", "Answer", "Asked by"], content.answered)
    lines += ["", "## Decisions", ""]
    lines += _md_table(["Step", "Decision", "When", "By"], content.decisions) if content.decisions else ["None."]
    lines += ["", "## RACI", ""]
    lines += (_md_table(["Step", "Responsible", "Accountable", "Consulted", "Informed"], content.raci)
              if content.raci else ["None recorded."])
    lines += ["", "## Findings", ""]
    lines += (_md_table(["Severity", "Code", "Where", "Problem", "How to fix"], content.findings)
              if content.findings else ["None: the map validates clean."])
    lines += ["", "## Simulation", ""]
    if content.figures:
        lines += [_md(content.figures_from or ""), ""]
        lines += _md_table(["Figure", "Value"], content.figures)
        if content.resources:
            lines += ["", "People and rate-limited tools:", ""]
            lines += _md_table(["Resource", "Capacity", "Busy", "Mean wait", "95th percentile wait"],
                               content.resources)
        if content.pointers:
            lines += ["", "Look at:", ""] + [f"- {_md(pointer)}" for pointer in content.pointers]
    else:
        lines.append(_md(content.figures_from) if content.figures_from else
                     "Not simulated yet (`studio simulate FILE --out DIR`, then `studio minutes FILE -o "
                     "minutes.md --results DIR`).")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 15px; color: #212121;
       max-width: 1100px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 28px; border-bottom: 1px solid #CFD8DC; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #CFD8DC; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #ECEFF1; }
.map svg { max-width: 100%; height: auto; }
.notes { white-space: pre-wrap; }
.error { color: #C62828; font-weight: 600; } .warning { color: #B26A00; font-weight: 600; }
""".strip()


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, severity_column: bool = False) -> str:
    head = "".join(f"<th>{_h(cell)}</th>" for cell in header)
    body = []
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            css = f' class="{_h(cell)}"' if severity_column and index == 0 else ""
            cells.append(f"<td{css}>{_h(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>" + "".join(body) + "</tbody></table>"


def _map_svg(workflow: Workflow, findings: Sequence[Finding] | None) -> str | None:
    from studio import render  # noqa: PLC0415

    try:
        svg = render.to_svg(workflow, lanes="actor", findings=list(findings or ()), direction="TB")
    except GraphvizMissing:
        return None
    return _SVG_PROLOGUE.sub("", svg, count=1).strip()


def minutes_html(
    workflow: Workflow,
    *,
    findings: Sequence[Finding] | None = None,
    results: Any = None,
) -> str:
    """The minutes as one self-contained HTML page (the map's SVG inline), ready to mail or print.
    ``findings`` and ``results`` as in :func:`minutes_markdown`."""
    found = list(findings) if findings is not None else _findings(workflow)
    content = _content(workflow, found, results)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_h(content.title)}</title>",
        f"<style>\n{_CSS}\n</style></head><body>",
        f"<h1>{_h(content.title)}</h1>",
        "<ul>" + "".join(f"<li><strong>{_h(name)}:</strong> {_h(value)}</li>" for name, value in content.facts)
        + "</ul>",
        f"<p>{_h(_counts(content))}</p>",
        "<h2>The map</h2>",
    ]
    svg = _map_svg(workflow, found)
    parts.append(f'<div class="map">{svg}</div>' if svg is not None else
                 "<p>The map needs Graphviz to be drawn here (install it, then write the minutes again).</p>")
    if content.notes:
        parts += ["<h2>Notes</h2>", f'<p class="notes">{_h(content.notes)}</p>']
    parts.append("<h2>Open questions</h2>")
    parts.append(_html_table(["Step", "Question", "Asked by"], content.open_questions)
                 if content.open_questions else "<p>None.</p>")
    if content.answered:
        parts += ["<h2>Answered questions</h2>",
                  _html_table(["Step", "Question", "Answer", "Asked by"], content.answered)]
    parts.append("<h2>Decisions</h2>")
    parts.append(_html_table(["Step", "Decision", "When", "By"], content.decisions)
                 if content.decisions else "<p>None.</p>")
    parts.append("<h2>RACI</h2>")
    parts.append(_html_table(["Step", "Responsible", "Accountable", "Consulted", "Informed"], content.raci)
                 if content.raci else "<p>None recorded.</p>")
    parts.append("<h2>Findings</h2>")
    parts.append(_html_table(["Severity", "Code", "Where", "Problem", "How to fix"], content.findings,
                             severity_column=True)
                 if content.findings else "<p>None: the map validates clean.</p>")
    parts.append("<h2>Simulation</h2>")
    if content.figures:
        parts.append(f"<p>{_h(content.figures_from or '')}</p>")
        parts.append(_html_table(["Figure", "Value"], content.figures))
        if content.resources:
            parts += ["<p>People and rate-limited tools:</p>",
                      _html_table(["Resource", "Capacity", "Busy", "Mean wait", "95th percentile wait"],
                                  content.resources)]
        if content.pointers:
            parts.append("<p>Look at:</p><ul>" + "".join(f"<li>{_h(p)}</li>" for p in content.pointers) + "</ul>")
    else:
        parts.append(f"<p>{_h(content.figures_from)}</p>" if content.figures_from else
                     "<p>Not simulated yet.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- files


def minutes_format(path: str | os.PathLike[str]) -> str:
    """``markdown`` or ``html`` from the file's suffix; :class:`MinutesError` for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise MinutesError(f"cannot tell the format of `{path}`; name the minutes `.md` (Markdown, with the map "
                           "as a PNG next to it) or `.html` (one page, the map inside)")
    return FORMATS[suffix]


def write_minutes(
    workflow: Workflow,
    path: str | os.PathLike[str],
    *,
    findings: Sequence[Finding] | None = None,
    results: Any = None,
) -> Path:
    """Write the minutes to ``path`` (``.md`` or ``.html``, atomically) and return it.

    Markdown gets the map as ``<name>-map.png`` next to it (when Graphviz is installed); HTML holds
    the map inside. ``results`` is a folder ``studio simulate --out`` wrote or a ``Results``
    object; by default the run the studio keeps next to the workflow file is used when there is one.
    Raises :class:`MinutesError` for an unknown suffix or unreadable results, :class:`OSError`
    naming ``path`` when it cannot be written (what was there before is kept).
    """
    target = Path(path)
    fmt = minutes_format(target)
    found = list(findings) if findings is not None else _findings(workflow)
    if fmt == "html":
        return fileio.atomic_write(target, minutes_html(workflow, findings=found, results=results))
    from studio import render  # noqa: PLC0415

    picture = target.with_name(f"{target.stem}-map.png")
    link: str | None = picture.name
    try:
        render.render(workflow, picture, lanes="actor", findings=found, direction="TB")
    except GraphvizMissing:
        link = None
    except OSError as exc:
        raise fileio.os_error_at(exc, picture) from exc
    return fileio.atomic_write(target, minutes_markdown(workflow, findings=found, results=results, image=link))
