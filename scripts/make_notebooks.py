"""Write the guided notebooks in ``notebooks/`` and (with ``--execute``) run them to store their outputs.

    .venv/bin/python scripts/make_notebooks.py --execute

The notebooks are tests (``pytest --nbval-lax notebooks/``): cells whose first line is
``# NBVAL_CHECK_OUTPUT`` must print exactly what is stored; every other cell must run without an
error and checks its figures with ``assert``. Outputs are stored after a fresh run, without widget
state or timings, and widget views are reduced to their short text form, so re-running this
script gives the same files. The notebooks write only into ``notebooks/.work/`` (git-ignored), or the
folder ``STUDIO_WORK`` names: this script and the notebook tests (``notebooks/conftest.py``) run them
in a fresh temporary folder, so they never open (or change) the working copies you edited there.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CHECK = "# NBVAL_CHECK_OUTPUT\n"

Cell = tuple[str, str]  # ("md" | "code" | "check", source)


def md(text: str) -> Cell:
    return ("md", text.strip("\n"))


def code(text: str) -> Cell:
    return ("code", text.strip("\n"))


def check(text: str) -> Cell:
    """A code cell whose printed output nbval compares with the stored one."""
    return ("check", CHECK + text.strip("\n"))


SETUP = code(
    """
import os
from pathlib import Path

from IPython.display import HTML, SVG, display

from studio.widgets import Studio, copy_template, present

# Everything these notebooks write goes here (git-ignored), never over the templates. Your working
# copies are kept: running a notebook again opens them with your edits (the tests use a fresh folder).
WORK = Path(os.environ.get("STUDIO_WORK", ".work"))
"""
)

WORKSHOP: list[Cell] = [
    md(
        """
# Workshop: map a workflow with the room, then simulate, walk a case and export

This notebook is the whole path on one template, the procurement process (purchase request to
payment). Run it top to bottom (**Run > Run All Cells**), then work in the studio below: no code is
needed for any step, and **every change is saved to the workflow file** shown under the title.

1. **Map**: add a step, say who does it, connect it; the diagram redraws and problems light up.
2. **Validate**: the problem list is the validator's findings; click one to jump to it.
3. **Simulate**: many cases in virtual time, with KPIs and charts.
4. **Walk a case**: one real case, answered by you as the approver would.
5. **Export**: the control-plane definition, refused while there are errors.

The code cells do the same through `studio.controller`, so the notebook also checks itself.
"""
    ),
    SETUP,
    check(
        """
path = copy_template("procurement", WORK / "00_workshop")  # made once; kept with its edits on a re-run
"""
    ),
    code(
        """
studio = Studio(path)
studio
"""
    ),
    md(
        """
## 1. Map

The room decides contracts need a legal review before goods are received. In the studio: **People &
agents** tab, add a human pool `legal_team`; **Steps** tab, add a task `legal_review` done by it;
**Connections** tab, connect it. The same through code:
"""
    ),
    check(
        """
c = studio.controller
if "legal_review" not in c.workflow.node_ids:  # not again when you run the notebook a second time
    c.add_actor("human", "legal_team", name="Legal reviewers", capacity=2, duration="2h", approve_rate=0.95)
    c.add_node("task", "legal_review", actor="legal_team", name="Legal reviews the contract", sla="1d",
               escalate_to="procurement_leads")
print("\\n".join(c.finding_lines()))  # a new step that nothing reaches lights up at once
"""
    ),
    check(
        """
old = next((i for i, e in enumerate(c.workflow.edges) if e.key == ("create_po", "receive_goods")), None)
if old is not None:  # connected already on an earlier run
    c.delete_edge(old)
    c.add_edge("create_po", "legal_review")
    c.add_edge("legal_review", "receive_goods")
print(c.finding_lines() or "no problems")
print(c.message)
"""
    ),
    md("## 2. Validate\n\nThe findings are what `studio validate` prints; none of them is an error now."),
    check(
        """
counts = c.counts()
print(counts)
assert counts["error"] == 0
assert "legal_review" in Path(path).read_text()  # every change was saved to the file
"""
    ),
    md(
        """
## 3. Simulate

The **Simulate** tab runs cases from the sample data through the compiled LangGraph graph in
virtual time, with a progress bar, the KPIs and charts. Here the form is filled in and **Run
simulation** pressed from code:
"""
    ),
    code(
        """
studio.tabs.selected_index = 1
studio.sim_cases.value = 60
studio.sim_replications.value = 1
studio.sim_seed.value = 42
studio.sim_run.click()
results = c.last_results
display(HTML(present.kpi_table(results)))
"""
    ),
    code(
        """
kpis = results.kpis
assert kpis["cases"] == 60 and studio.sim_progress.value == studio.sim_progress.max
assert 0.8 <= kpis["success_rate"] <= 1.0
assert kpis["cycle_time"]["p50"] <= kpis["cycle_time"]["p95"]
assert "legal_team" in kpis["resources"]  # the new pool is a resource with a queue
again = c.run_simulation(cases=60, seed=42)
assert again.kpis == kpis  # seeded: the same inputs give the same numbers
results.plot_waits()
"""
    ),
    md(
        """
## 4. Walk one case

The **Walk a case** tab steps one case through the same graph and stops at every human step:
Approve, Reject or Steer (send back with a note), as the approver would.
"""
    ),
    code(
        """
studio.tabs.selected_index = 2
studio.case_pick.value = "PR-00001"
studio.walk_start.click()
print(studio.controller.walkthrough.pending["question"])
while not studio.controller.walkthrough.done:
    studio.walk_approve.click()
walk = studio.controller.walkthrough
print(" -> ".join(step["node"] for step in walk.history))
print("outcome:", walk.outcome)
assert "manager_approval" in walk.path and walk.outcome is not None
"""
    ),
    md("## 5. Export\n\nThe control-plane definition, with the validation report and the simulation KPIs as evidence."),
    check(
        """
result = c.export(WORK / "00_workshop" / "procurement.controlplane.yaml")
print(result.message)
assert result.ok and result.evidence
"""
    ),
    md("A workflow with errors is refused, and the refusal says what to fix:"),
    check(
        """
c.delete_actor("cfo_office")
refused = c.export()
print(refused.message)
for finding in refused.findings:
    print(finding.code, finding.location, finding.message)
c.undo()
assert not refused.ok and c.export().ok
"""
    ),
]

MAP: list[Cell] = [
    md(
        """
# Map a workflow in the studio

Open the studio on your own copy of a template (the template itself is never changed), then map:
**Steps** (what happens, who does it, how long it takes), **Connections** (with conditions checked
as you type), **People & agents**, **Tools** (with their permission tier) and **Data**. The diagram
redraws after every change, problems light up at once (click one to jump to it), **Undo** and
**Redo** step through the changes, and every change is saved to the file.
"""
    ),
    SETUP,
    check(
        """
path = copy_template("procurement", WORK / "01_map")  # made once; kept with its edits on a re-run
"""
    ),
    code(
        """
studio = Studio(path)
studio
"""
    ),
    md(
        """
Everything the buttons do is also a method of `studio.controller`, and the studio above redraws
after each. Add a legal review step, done by the line managers:
"""
    ),
    check(
        """
c = studio.controller
if "legal_review" not in c.workflow.node_ids:  # not again when you run the notebook a second time
    c.add_node("task", "legal_review", actor="line_managers", name="Legal reviews the contract",
               duration="30m", sla="1d", escalate_to="procurement_leads")
print(c.message)
for line in c.finding_lines():
    print(line)
"""
    ),
    md("Connect it between raising the purchase order and receiving the goods; the problems go away:"),
    check(
        """
old = next((i for i, e in enumerate(c.workflow.edges) if e.key == ("create_po", "receive_goods")), None)
if old is not None:  # connected already on an earlier run
    c.delete_edge(old)
    c.add_edge("create_po", "legal_review")
    c.add_edge("legal_review", "receive_goods")
print(c.finding_lines() or "no problems")
"""
    ),
    md("An edit that would break the model is refused with the reason, and nothing changes:"),
    check(
        """
from studio.widgets import EditRefused

for attempt in (
    lambda: c.add_edge("legal_review", "paid", when="amount >"),
    lambda: c.update_node("legal_review", sla="tomorrow"),
    lambda: c.add_node("task", "legal_review"),
):
    try:
        attempt()
    except EditRefused as refused:
        print(refused)
"""
    ),
    md("Undo and redo step through the history; the file follows:"),
    check(
        """
from studio import fileio

print(c.history[-2:])
if c.can_undo:  # nothing to undo when a second run changed nothing
    c.undo()
    print("after undo:", ("legal_review", "receive_goods") in [e.key for e in fileio.load(path).edges])
    c.redo()
    print("after redo:", ("legal_review", "receive_goods") in [e.key for e in fileio.load(path).edges])
"""
    ),
    code(
        """
svg = c.diagram_svg()  # what the Map tab shows
assert "legal_review" in svg and "intake_request" in svg
assert "legal_review" in fileio.load(path).node_ids
display(SVG(svg))
"""
    ),
]

SIMULATE: list[Cell] = [
    md(
        """
# Simulate a workflow

The simulation compiles the workflow to a LangGraph graph and runs cases from the sample data
through it in virtual time: agents take time, cost tokens and sometimes fail; people work in pools
with calendars, so cases queue for them. Use the **Simulate** tab (cases, seed, what-if scenario,
**Run simulation**), or the same calls from code as below. Results are seeded: the same inputs give
the same numbers.
"""
    ),
    SETUP,
    check(
        """
path = copy_template("procurement", WORK / "02_simulate")  # made once; kept with its edits on a re-run
"""
    ),
    code(
        """
studio = Studio(path)
studio.tabs.selected_index = 1
studio.sim_cases.value = 50
studio.sim_replications.value = 1
studio.sim_seed.value = 7
studio
"""
    ),
    code(
        """
studio.sim_run.click()  # what the Run button does: the progress bar fills, KPIs and charts appear
results = studio.controller.last_results
kpis = results.kpis
assert kpis["cases"] == 50 and studio.sim_progress.value == 50
assert 0.8 <= kpis["success_rate"] <= 1.0
assert kpis["cycle_time"]["p50"] > 0
display(HTML(present.kpi_table(results)))
"""
    ),
    md(
        """
The table reads as the room talks: names instead of ids, percentages, hours or days, and under
**Look at** the bottleneck (the busiest pool of people) and risky set-ups: a pool above 85% busy,
or escalations that all land on one person.
"""
    ),
    check(
        """
for line in present.pointers(results):
    print(line)
"""
    ),
    md("## Charts: cycle times, utilisation per resource, where cases wait"),
    code("results.plot_cycle_times()"),
    code("results.plot_utilisation()"),
    code("results.plot_waits()"),
    md("## Who hands off to whom (counts from the simulation), and the diagram with waits and traffic"),
    code(
        """
network = present.network_svg(results, studio.controller.workflow)
assert "intake_agent" in network and "line_managers" in network
display(SVG(network))
"""
    ),
    code(
        """
overlay = present.overlay(results)
assert overlay.edges[("start", "intake_request")] == 50  # every case starts there
display(SVG(studio.controller.diagram_svg(overlay=overlay)))
"""
    ),
    md(
        """
## Compare two scenarios

Scenario B gives the line managers' pool fewer people. Three replications of each give a 95%
interval for every difference; "real difference?" says whether the interval excludes zero. The
same comparison is what `studio simulate FILE --scenario KEY=VALUE --replications 3` prints.
"""
    ),
    code(
        """
a = studio.controller.run_simulation(cases=30, seed=7, replications=3)
b = studio.controller.run_simulation(cases=30, seed=7, replications=3, scenario="actors.line_managers.capacity=1")
comparison = studio.controller.compare_scenarios(a, b)
assert b.kpis["resources"]["line_managers"]["capacity"] == 1
assert comparison["utilisation[line_managers]"]["diff"] > 0  # fewer people, each busier
display(HTML(present.comparison_table(comparison, b.compiled.workflow, "as mapped", "line managers x1")))
"""
    ),
    code(
        """
results.resources  # the same figures as a pandas table, for further analysis
"""
    ),
]

WALKTHROUGH: list[Cell] = [
    md(
        """
# Walk one case through

Pick a real case from the sample data and step it through the same compiled graph the simulation
uses. Agents do their work (simulated, seeded); at every human step the walkthrough stops and asks:
**Approve**, **Reject** or **Steer** (send back with a note). The state after each step shows the
case's fields and the path so far.
"""
    ),
    SETUP,
    check(
        """
path = copy_template("procurement", WORK / "03_walkthrough")  # made once; kept with its edits on a re-run
"""
    ),
    code(
        """
studio = Studio(path)
studio.tabs.selected_index = 2
studio.case_pick.value = "PR-00002"
studio.walk_start.click()  # what Start does
studio
"""
    ),
    check(
        """
walk = studio.controller.walkthrough
print(walk.pending["node"], "asks", walk.pending["actor"] + ":", walk.pending["question"])
print("options:", walk.pending["options"])
"""
    ),
    md("The manager sends it back with a note (Steer); the request goes back to intake and returns:"),
    code(
        """
studio.walk_note.value = "Please attach the supplier's quote."
studio.walk_steer.click()
walk = studio.controller.walkthrough
steered = [step for step in walk.history if step["node"] == "manager_approval"]
assert steered[0]["decision"] == "send_back" and steered[0]["note"] == "Please attach the supplier's quote."
assert walk.pending["node"] == "manager_approval"  # back for a second look
print(" -> ".join(walk.path))
"""
    ),
    md("This time the manager approves, and every later human step is confirmed:"),
    code(
        """
while not walk.done:
    studio.walk_approve.click()
print("outcome:", walk.outcome)
print(" -> ".join(walk.path))
assert walk.path.count("manager_approval") == 2
assert walk.outcome is not None
display(HTML(studio.walk_state.value))
"""
    ),
    md("A rejected request ends at once:"),
    check(
        """
studio.case_pick.value = "PR-00003"
studio.walk_start.click()
studio.walk_reject.click()
walk = studio.controller.walkthrough
print(walk.done, walk.outcome)
"""
    ),
]

EXPORT: list[Cell] = [
    md(
        """
# Export for the control plane

Export validates first: a workflow with error findings is refused, with the list of what to fix.
A clean workflow becomes a versioned control-plane definition (with a content hash and the evidence:
the validation report, and the simulation KPIs when a simulation was run). The same input always
gives the same bytes, so a pipeline can diff and check it.
"""
    ),
    SETUP,
    check(
        """
path = copy_template("procurement", WORK / "04_export")  # made once; kept with its edits on a re-run
"""
    ),
    code(
        """
studio = Studio(path)
studio.tabs.selected_index = 3
studio
"""
    ),
    md(
        """
Someone marks the ERP read API as a critical tool. The intake agent calls it before any person has
approved anything, so the export refuses, and says why:
"""
    ),
    check(
        """
c = studio.controller
c.update_tool("erp_read", tier="critical")
refused = c.export()
print(refused.message)
for finding in refused.findings:
    print(f"{finding.code} {finding.location}: {finding.message}")
"""
    ),
    check(
        """
c.undo()  # back to read-only
out = WORK / "04_export" / "procurement.controlplane.yaml"
result = c.export(out)
print(result.message)
text = out.read_text()
assert text.startswith("apiVersion: controlplane.studio/v1")
assert c.export(fmt="yaml").text == text  # deterministic: the same workflow gives the same bytes
"""
    ),
    code(
        """
print("\\n".join(text.splitlines()[:12]))
"""
    ),
    md("Other targets: BPMN 2.0 for process tools and BPMN engines, Serverless Workflow 1.0, and the Mermaid "
       "text of the diagram. What a target cannot keep (a loop guard a BPMN engine does not enforce) is listed:"),
    code(
        """
bpmn = c.export(WORK / "04_export" / "procurement.bpmn", target="bpmn")
mermaid = c.export(target="mermaid")
assert bpmn.ok and "definitions" in bpmn.text and (WORK / "04_export" / "procurement.bpmn").is_file()
assert mermaid.ok and "flowchart LR" in mermaid.text
for finding in bpmn.losses:
    print(f"{finding.code} {finding.message}")
serverless = c.export(WORK / "04_export" / "procurement.serverless.yaml", target="serverless")
assert serverless.ok and serverless.text.startswith("document:")
print(mermaid.text[:400])
"""
    ),
    md(
        """
## Run what you exported: the LangGraph application

`--to langgraph` is a deployable application (`langgraph dev` serves it; see `docs/controlplane.md`).
It runs each case exactly as the simulation did: it stops at every approval and waits for a person,
sends every tool call through a gateway that enforces the tool's tier, and writes an audit log.
Here one gold case runs through it; the approval is answered the way the room would:
"""
    ),
    check(
        """
import importlib.util
import sys

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from studio.fileio import load_cases

app_path = WORK / "04_export" / "procurement_app.py"
assert c.export(app_path, target="langgraph").ok
spec = importlib.util.spec_from_file_location("procurement_app", app_path)
app = importlib.util.module_from_spec(spec)
sys.modules["procurement_app"] = app
spec.loader.exec_module(app)

audit = []  # the application's audit records (a JSONL file in production)
graph = app.build_graph(InMemorySaver(), audit=audit.append)
gold = load_cases(path.parent / "gold.csv").rows[2]  # a request over 10,000: manager, then CFO
case = {k: v for k, v in gold.items() if k not in ("human_decisions", "expected_path", "expected_outcome")}
config = {"configurable": {"thread_id": gold["case_id"]}}
state = graph.invoke({"case": case}, config)
while state.get("__interrupt__"):
    asked = state["__interrupt__"][0].value
    print(f"waiting for {asked['role']} at `{asked['node']}` (SLA {asked['sla_seconds'] / 3600:.0f} h)")
    state = graph.invoke(Command(resume={"decision": "approve", "by": "the room"}), config)
print(state["outcome"], "via", " > ".join(state["path"]))
assert state["path"] == gold["expected_path"].split(">") and state["outcome"] == gold["expected_outcome"]
print(sum(r["event"] == "tool_call" for r in audit), "tool calls through the gateway, all audited")
"""
    ),
    md("The **Export** tab does the same: pick the format, press **Validate and export**."),
    code(
        """
studio.export_button.click()
assert "Exported" in studio.export_result.value
"""
    ),
]

NOTEBOOK_CELLS: dict[str, list[Cell]] = {
    "00_workshop.ipynb": WORKSHOP,
    "01_map.ipynb": MAP,
    "02_simulate.ipynb": SIMULATE,
    "03_walkthrough.ipynb": WALKTHROUGH,
    "04_export.ipynb": EXPORT,
}


def build(cells: list[Cell]) -> nbformat.NotebookNode:
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    for index, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell["id"] = f"cell-{index:02d}"
        notebook.cells.append(cell)
    return notebook


def tidy(notebook: nbformat.NotebookNode) -> None:
    """Keep stored outputs stable: no widget views or state, no timings, no execution metadata."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data is not None:
                data.pop("application/vnd.jupyter.widget-view+json", None)
            output.get("metadata", {}).pop("application/vnd.jupyter.widget-view+json", None)


def execute(notebook: nbformat.NotebookNode, folder: Path) -> None:
    """Run ``notebook`` with its working copies in a fresh temporary folder (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="studio-notebooks-") as work:
        os.environ["STUDIO_WORK"] = str(Path(work) / ".work")
        try:
            _execute(notebook, folder)
        finally:
            os.environ.pop("STUDIO_WORK", None)
    for cell in notebook.cells:  # stored outputs show `.work/...`, as a reader's own run does
        for output in cell.get("outputs", []):
            if isinstance(output.get("text"), str):
                output["text"] = output["text"].replace(f"{work}/", "")
            data = output.get("data") or {}
            if isinstance(data.get("text/plain"), str):
                data["text/plain"] = data["text/plain"].replace(f"{work}/", "")


def _execute(notebook: nbformat.NotebookNode, folder: Path) -> None:
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}},
        store_widget_state=False, record_timing=False,
    )
    client.execute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run each notebook and store its outputs")
    parser.add_argument("names", nargs="*", help="only these notebooks (e.g. 01_map.ipynb)")
    args = parser.parse_args(argv)
    NOTEBOOKS.mkdir(exist_ok=True)
    for name, cells in NOTEBOOK_CELLS.items():
        if args.names and name not in args.names:
            continue
        notebook = build(cells)
        if args.execute:
            execute(notebook, NOTEBOOKS)
            tidy(notebook)
        nbformat.validate(notebook)
        nbformat.write(notebook, NOTEBOOKS / name)
        print(f"wrote notebooks/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
