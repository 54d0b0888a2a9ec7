"""The ``studio export``, ``studio import`` and ``studio diff`` commands (wired in :mod:`studio.cli`).

Exit codes as for ``validate``: 0 ok; 1 error findings, a refusal (an existing file without
``--force``) or, for ``diff``, governance-weakening changes not accepted; 2 unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio import fileio
from studio.errors import Finding, Severity, WorkflowInvalid
from studio.model import Workflow

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    from studio.export import TARGETS  # noqa: PLC0415

    p.add_argument("file", metavar="FILE")
    p.add_argument("--to", required=True, choices=TARGETS, help="what to write")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="file to write (atomically; control plane: .yaml/.yml gives YAML, else JSON); "
                        "default: standard output")
    p.add_argument("--evidence", metavar="DIR",
                   help="simulation results folder (kpis.json, gold.json) to attach (control plane only)")
    p.add_argument("--min-pass", type=float, metavar="P",
                   help="the gold gate the evidence was checked against (`studio simulate --gold --min-pass`; "
                        "default 1.0), recorded in the definition (control plane only)")
    p.add_argument("--strict", action="store_true", help="refuse warnings too, not only errors")


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE.bpmn")
    p.add_argument("-o", "--output", required=True, metavar="workflow.yaml", help="workflow file to write")
    p.add_argument("--process", help="id or name of the process to import (default: the largest)")
    p.add_argument("--name", help="name of the workflow (default: from the process)")
    p.add_argument("--simulation", metavar="PARAMS.json",
                   help="a Prosimos simulation-parameter JSON: branch probabilities, pools and their calendars, "
                        "task durations and arrivals come from it (what it cannot carry is reported)")
    p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")


def add_diff_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.add_argument("--accept", action="store_true",
                   help="a reviewer accepts the governance flags: exit 0 even when governance weakens")


def _refused(file: str, exc: WorkflowInvalid) -> int:
    for finding in exc.findings:
        print(finding.format())
    refused = "warnings (--strict)" if not any(f.is_error for f in exc.findings) else "error findings"
    print(f"{file}: not exported: {refused}; fix them and export again", file=sys.stderr)
    return EXIT_FINDINGS


def cmd_export(args: argparse.Namespace) -> int:
    from studio.export import export_as  # noqa: PLC0415

    if (args.evidence is not None or args.min_pass is not None) and args.to != "controlplane":
        print("studio: error: --evidence and --min-pass apply to `--to controlplane` only", file=sys.stderr)
        return EXIT_USAGE
    if args.min_pass is not None and not 0.0 <= args.min_pass <= 1.0:
        print(f"studio: error: --min-pass must be between 0 and 1, got {args.min_pass}", file=sys.stderr)
        return EXIT_USAGE
    workflow = fileio.load(args.file)
    if args.to == "langgraph" and args.output and (args.output.endswith(("/", "\\")) or Path(args.output).is_dir()):
        return _export_langgraph_folder(workflow, args)
    fmt = "yaml" if args.output and Path(args.output).suffix.lower() in (".yaml", ".yml") else "json"
    losses: list[Finding] = []
    try:
        data = export_as(workflow, args.to, fmt=fmt, evidence_dir=args.evidence, strict=args.strict,
                         min_gold_pass=args.min_pass, losses=losses)
    except WorkflowInvalid as exc:
        return _refused(args.file, exc)
    for finding in losses:  # what the target does not keep or enforce, with file:line:col
        print(finding.format(), file=sys.stderr)
    if args.output:
        fileio.atomic_write(args.output, data.decode("utf-8"))
        print(f"wrote {args.output} ({args.to})", file=sys.stderr)
    else:
        sys.stdout.write(data.decode("utf-8"))
    return EXIT_OK


def _export_langgraph_folder(workflow: Workflow, args: argparse.Namespace) -> int:
    """``--to langgraph -o DIR/``: the application with ``langgraph.json``, requirements and a README."""
    from studio.export.controlplane import check_exportable  # noqa: PLC0415
    from studio.export.langgraph_module import write_langgraph_app  # noqa: PLC0415

    try:
        check_exportable(workflow, strict=args.strict)
    except WorkflowInvalid as exc:
        return _refused(args.file, exc)
    folder = Path(args.output)
    try:
        written = write_langgraph_app(workflow, folder)
    except OSError as exc:
        print(f"studio: error: cannot write the folder `{folder}`: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    from studio.export import export_losses  # noqa: PLC0415

    for finding in export_losses(workflow, "langgraph"):
        print(finding.format(), file=sys.stderr)
    names = ", ".join(path.name for path in written)
    print(f"wrote {folder}/ ({names}); serve it with `langgraph dev` in that folder", file=sys.stderr)
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from studio.export.bpmn import read_bpmn  # noqa: PLC0415

    target = Path(args.output)
    if target.exists() and not args.force:
        print(f"studio: error: `{target}` already exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_FINDINGS
    result = read_bpmn(args.file, process=args.process, name=args.name, simulation=args.simulation)
    for finding in result.findings:
        print(finding.format())
    from studio import _backup  # noqa: PLC0415

    kept = _backup.backup(target)  # --force: the file that was there stays in .studio-backups/
    fileio.save(result.workflow, target)
    if kept is not None:
        print(f"the previous {target.name} is kept as {kept}", file=sys.stderr)
    warnings = sum(f.severity is Severity.WARNING for f in result.findings)
    workflow = result.workflow
    print(f"wrote {target}: {len(workflow.nodes)} nodes, {len(workflow.edges)} edges, {len(workflow.actors)} "
          f"actors from process `{result.process_id}`; {len(result.findings)} finding(s), {warnings} warning(s); "
          f"run `studio validate {target}` next", file=sys.stderr)
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from studio.export.diff import diff_workflows  # noqa: PLC0415

    old, new = fileio.load(args.old), fileio.load(args.new)
    result = diff_workflows(old, new)
    sys.stdout.write(result.format(args.format))
    if result.weakens_governance and args.accept:
        print(f"{len(result.flags)} governance flag(s) accepted (--accept)", file=sys.stderr)
        return EXIT_OK
    return EXIT_FINDINGS if result.weakens_governance else EXIT_OK
