"""The main job: summarise and validate every template (``python -m studio.demo``).

Then one template the whole way (map -> validate -> simulate -> export, printing the KPIs), then
JupyterLab on ``notebooks/00_workshop.ipynb``::

    python -m studio.demo [--template procurement] [--cases 100] [--no-lab] [FILE...]

Lab is not opened with ``--no-lab``, when ``CI`` is set, or when stdin is not a terminal; the
command to open it is printed instead. Files go to ``out/demo/`` (the templates are never written).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from studio.cli import main as cli_main
from studio.export.langgraph_module import write_langgraph_app

ROOT = Path(__file__).resolve().parent.parent
WORKSHOP = ROOT / "notebooks" / "00_workshop.ipynb"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="procurement", help="the template to take the whole way")
    parser.add_argument("--cases", type=int, default=100, help="cases to simulate (default 100)")
    parser.add_argument("--out", default="out/demo", help="where the demo writes (default out/demo)")
    parser.add_argument("--no-lab", action="store_true", help="do not open JupyterLab at the end")
    return parser


def lab_command() -> list[str]:
    command = [sys.executable, "-m", "jupyterlab", str(WORKSHOP.relative_to(Path.cwd()) if _under_cwd() else WORKSHOP)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def _under_cwd() -> bool:
    try:
        WORKSHOP.relative_to(Path.cwd())
    except ValueError:
        return False
    return True


def should_open_lab(no_lab: bool) -> tuple[bool, str]:
    """Whether to open JupyterLab, and why not."""
    if no_lab:
        return False, "--no-lab"
    if os.environ.get("CI"):
        return False, "CI is set"
    if not sys.stdin.isatty():
        return False, "not run from a terminal"
    if not WORKSHOP.is_file():
        return False, f"{WORKSHOP} is not here (an installed package has no notebooks)"
    if importlib.util.find_spec("jupyterlab") is None:
        return False, "JupyterLab is not installed (pip install 'workflow-design-studio[lab]')"
    return True, ""


def one_template(name: str, cases: int, out: Path) -> int:
    """Map (a copy of the template), validate, simulate, export: what the workshop notebook does."""
    from studio.widgets.controller import StudioController, copy_template  # noqa: PLC0415

    folder = out / name
    # a fresh copy of the template each run; an earlier (perhaps edited) copy goes to .studio-backups/
    path = copy_template(name, folder, overwrite=True, say=None)
    studio = StudioController(path)
    wf = studio.workflow
    print(f"\n== {name}: map -> validate -> simulate -> export   (working copy: {path})")
    print(f"map       {len(wf.nodes)} steps, {len(wf.edges)} connections, {len(wf.actors)} actors, "
          f"{len(wf.tools)} tools")
    counts = studio.counts()
    print(f"validate  {counts['error']} error(s), {counts['warning']} warning(s)")
    for line in studio.finding_lines():
        print(f"          {line}")
    if counts["error"]:
        print("          (errors: not simulated or exported)")
        return 1
    if studio.can_simulate:
        from studio.widgets.present import kpi_rows, pointers  # noqa: PLC0415

        results = studio.run_simulation(cases=cases, progress=None)
        print(f"simulate  {studio.message}")
        for label, value in kpi_rows(results):
            print(f"          {label:<30} {value}")
        for line in pointers(results):
            print(f"          {line}")
    else:
        print("simulate  (studio.simulate is not installed here)")
    result = studio.export(folder / f"{name}.controlplane.yaml")
    print(f"export    {result.message}")
    if not result.ok:
        return 1
    for target, suffix in (("bpmn", ".bpmn"), ("serverless", ".serverless.yaml")):
        other = studio.export(folder / f"{name}{suffix}", target=target)
        print(f"          {other.message}")
        codes = Counter(loss.code for loss in other.losses)
        if codes:
            listed = ", ".join(f"{code} x{n}" for code, n in sorted(codes.items()))
            print(f"            not kept: {listed} (docs/codes.md)")
    app = folder / "app"
    write_langgraph_app(studio.workflow, app)
    print(f"          Exported the LangGraph application to `{app}/`: serve it with "
          f"`cd {app} && langgraph dev` (docs/controlplane.md#langgraph-application)")
    return 0



def workshop(args: argparse.Namespace, status: int) -> int:
    """One template the whole way, then JupyterLab on the workshop notebook (or the command to open it)."""
    status = max(status, one_template(args.template, args.cases, Path(args.out)))
    command = " ".join(lab_command())
    open_lab, why = should_open_lab(args.no_lab)
    if not open_lab:
        print(f"\nThe workshop notebook (map, simulate, walk a case, export in the studio): not opened ({why}).")
        print(f"Open it with:\n  {command}")
        return status
    print(f"\nOpening JupyterLab on the workshop notebook ({command}); stop it with Ctrl-C.")
    try:
        return subprocess.call(lab_command()) or status
    except KeyboardInterrupt:
        return status


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(argv if argv is not None else sys.argv[1:])
    print("Workflow Design Studio: the templates, validated against their sample data\n")
    args, files = _parser().parse_known_args(argv)
    status = cli_main(["summary", *files])
    return workshop(args, status)


if __name__ == "__main__":
    sys.exit(main())
