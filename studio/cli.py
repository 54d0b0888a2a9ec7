"""The ``studio`` command: a thin shell over the public functions, for pipelines and terminals.

Exit codes: 0 ok; 1 findings with errors, or a gate failed; 2 usage errors or unreadable input
(a missing file, broken YAML, wrong types), always with a one-line message and no traceback.

Start-up stays fast (``studio --help`` and ``studio templates``, see ``benchmarks/startup.py``):
each command imports what it needs when it runs, and the subcommands whose options need a heavier
module (``new``, ``export``, ``import``, ``diff``, ``simulate``) add them when they are chosen.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from studio import limits
from studio.errors import Finding, LoadError, StudioError, has_errors

if TYPE_CHECKING:  # pragma: no cover
    from studio import fileio
    from studio.model import Workflow

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

Command = Callable[[argparse.Namespace], int]


class UsageError(StudioError):
    """Bad arguments: exit 2 with the message."""


Setup = Callable[[argparse.ArgumentParser], None]


class _Parser(argparse.ArgumentParser):
    """Exit 2 on a usage error; a subcommand's arguments may be added when it is chosen (:meth:`defer`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[Setup] = []

    def defer(self, setup: Setup) -> None:
        """Run ``setup(self)`` just before this parser first parses (``studio X ...`` or ``studio X --help``)."""
        self._deferred.append(setup)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        while self._deferred:
            self._deferred.pop(0)(self)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"studio: error: {message}\n")


def _print_load_error(exc: LoadError, stream: TextIO) -> None:
    for finding in exc.findings:
        print(finding.format(), file=stream)


# --------------------------------------------------------------------------- validate


def _data_for(workflow: Workflow, explicit: str | None) -> fileio.Cases | None:
    from studio import fileio  # noqa: PLC0415 - each command loads what it needs (start-up time)

    return fileio.workflow_cases(workflow, explicit)


def cmd_validate(args: argparse.Namespace) -> int:
    from studio import fileio  # noqa: PLC0415
    from studio.validate import summary, validate  # noqa: PLC0415

    worst = EXIT_OK
    report: list[dict[str, Any]] = []
    for file in args.files:
        try:
            workflow = fileio.load(file)
            data = _data_for(workflow, args.data)
        except LoadError as exc:
            worst = EXIT_USAGE
            if args.format == "json":
                report.append({"file": file, "readable": False, "findings": [f.to_dict() for f in exc.findings]})
            else:
                _print_load_error(exc, sys.stdout)
            continue
        findings = validate(workflow, data=data)
        if has_errors(findings):
            worst = max(worst, EXIT_FINDINGS)
        if args.format == "json":
            report.append(
                {
                    "file": file,
                    "readable": True,
                    "summary": dict(summary(findings)),
                    "findings": [f.to_dict() for f in findings],
                }
            )
        else:
            for finding in findings:
                print(finding.format())
            counts = summary(findings)
            print(
                f"{file}: {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info",
                file=sys.stderr,
            )
    if args.format == "json":
        print(json.dumps(report, indent=2, sort_keys=True))
    return worst


# --------------------------------------------------------------------------- summary


def describe(workflow: Workflow, findings: Sequence[Finding]) -> str:
    """A few lines about a workflow: its size, who works in it, its tools by tier and its findings."""
    from studio.model import Agent, Human  # noqa: PLC0415

    kinds: dict[str, int] = {}
    for node in workflow.nodes:
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    agents = [a for a in workflow.actors if isinstance(a, Agent)]
    humans = [a for a in workflow.actors if isinstance(a, Human)]
    tiers: dict[str, int] = {}
    for tool in workflow.tools:
        tiers[tool.tier.value] = tiers.get(tool.tier.value, 0) + 1
    errors = sum(f.severity.value == "error" for f in findings)
    warnings = sum(f.severity.value == "warning" for f in findings)
    meta = workflow.metadata
    lines = [
        f"{meta.name} {meta.version}" + (f"  ({meta.owner})" if meta.owner else ""),
        f"  {len(workflow.nodes)} nodes: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())),
        f"  {len(workflow.edges)} edges; agents: " + (", ".join(f"{a.id}@{a.version}" for a in agents) or "none"),
        "  human pools: " + (", ".join(f"{h.id} x{h.capacity}" for h in humans) or "none"),
        "  tools by tier: " + (", ".join(f"{t} {n}" for t, n in sorted(tiers.items())) or "none"),
        f"  findings: {errors} error(s), {warnings} warning(s)",
    ]
    return "\n".join(lines)


def cmd_summary(args: argparse.Namespace) -> int:
    from studio import fileio, templates  # noqa: PLC0415
    from studio.validate import validate  # noqa: PLC0415

    files = args.files or [str(t.workflow_path) for t in templates.list_templates()]
    worst = EXIT_OK
    for file in files:
        try:
            workflow = fileio.load(file)
            data = _data_for(workflow, None)
        except LoadError as exc:
            _print_load_error(exc, sys.stderr)
            worst = EXIT_USAGE
            continue
        findings = validate(workflow, data=data)
        if has_errors(findings):
            worst = max(worst, EXIT_FINDINGS)
        rows = f"; {len(data)} sample cases" if data is not None else ""
        print(describe(workflow, findings) + rows)
    return worst


# --------------------------------------------------------------------------- new, templates, schema


def cmd_new(args: argparse.Namespace) -> int:
    from studio import _backup, fileio, templates  # noqa: PLC0415
    from studio.model import Metadata  # noqa: PLC0415

    template = None
    if args.template is not None:
        try:
            template = templates.get_template(args.template)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
    target = Path(args.directory) / args.name
    if target.exists() and not args.force:
        raise UsageError(f"`{target}` already exists; pick another name or pass --force to overwrite it "
                         "(the files there are backed up first)")
    try:
        Metadata(name=args.name)
    except ValueError:
        raise UsageError(
            f"`{args.name}` is not a valid workflow name; use letters, digits, `_` and `-`, starting with a letter"
        ) from None
    if template is None:
        workflow = templates.blank_workflow(args.name)
    else:
        workflow = template.load()
        workflow.metadata.name = args.name
        workflow.metadata.version = "0.1.0"
    target.mkdir(parents=True, exist_ok=True)
    for extra in (template.sample_path, template.gold_path) if template is not None else ():
        if extra.is_file():
            _backup.backup(target / extra.name)
            fileio.atomic_write(target / extra.name, extra.read_text(encoding="utf-8"))
    kept = _backup.backup(target / "workflow.yaml")
    fileio.save(workflow, target / "workflow.yaml")
    origin = f"from template `{template.name}`" if template is not None else "(blank: start -> first_step -> end)"
    print(f"wrote {target / 'workflow.yaml'} {origin}")
    if kept is not None:
        print(f"the previous workflow.yaml is kept as {kept}", file=sys.stderr)
    return EXIT_OK


def cmd_templates(args: argparse.Namespace) -> int:
    for name, description in template_descriptions():
        print(f"{name:<24} {description}".rstrip())
    return EXIT_OK


def template_descriptions() -> list[tuple[str, str]]:
    """Each template's name and ``metadata.description``, read from its YAML without the model.

    The listing needs two fields, and importing the pydantic model alone costs more than the
    whole command may take (goal: under 0.5 s, ``benchmarks/startup.py``). The folders are the
    ones :func:`studio.templates.templates_dir` looks in (a test checks both agree); the templates
    themselves are validated by the test-suite and loaded in full by ``studio new``.
    """
    from studio import _yamlread  # noqa: PLC0415

    here = Path(__file__).resolve().parent
    folder = next((c for c in (here / "_templates", here.parent / "templates") if c.is_dir()), None)
    files = sorted(folder.glob("*/workflow.yaml"), key=lambda p: p.parent.name) if folder is not None else []
    out = []
    for file in files:
        data, _ = _yamlread.read(file.read_text(encoding="utf-8"), str(file), limits.current())
        metadata = data.get("metadata") if isinstance(data, dict) else None
        description = metadata.get("description") if isinstance(metadata, dict) else None
        out.append((file.parent.name, str(description or "")))
    return out


def cmd_schema(args: argparse.Namespace) -> int:
    from studio import fileio  # noqa: PLC0415
    from studio.model import json_schema  # noqa: PLC0415

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        fileio.atomic_write(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# --------------------------------------------------------------------------- render, analyze


def cmd_render(args: argparse.Namespace) -> int:
    from studio import fileio, render  # noqa: PLC0415

    try:
        fmt = render.format_for(args.output, args.format)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    workflow = fileio.load(args.file)
    findings: list[Finding] | None = None
    if args.findings:
        from studio.validate import validate  # noqa: PLC0415

        findings = validate(workflow, data=_data_for(workflow, None))
    opts: dict[str, Any] = {"lanes": args.lanes, "findings": findings}
    if fmt != "mmd":
        opts["direction"] = args.direction
    path = render.render(workflow, args.output, fmt=fmt, **opts)
    print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    from studio import fileio  # noqa: PLC0415
    from studio.analysis import analyze  # noqa: PLC0415

    workflow = fileio.load(args.file)
    report = analyze(workflow, route_limit=args.routes)
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        sys.stdout.write(report.format_text())
    return EXIT_OK


def cmd_minutes(args: argparse.Namespace) -> int:
    from studio import fileio  # noqa: PLC0415
    from studio.minutes import MinutesError, minutes_format, write_minutes  # noqa: PLC0415

    try:
        minutes_format(args.output)
        workflow = fileio.load(args.file)
        path = write_minutes(workflow, args.output, results=args.results)
    except MinutesError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    from studio import fileio  # noqa: PLC0415
    from studio.calibrate import calibrate, read_log  # noqa: PLC0415
    from studio.validate import validate  # noqa: PLC0415

    log = read_log(args.log, case=args.case, activity=args.activity, resource=args.resource, start=args.start,
                   end=args.end)
    result = calibrate(log, name=args.name, min_share=args.min_share)
    print("\n".join(result.report))
    findings = validate(result.workflow)
    for finding in findings:
        print(finding.format(), file=sys.stderr)
    print(f"wrote {fileio.save(result.workflow, args.output)}", file=sys.stderr)
    return EXIT_FINDINGS if has_errors(findings) else EXIT_OK


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="studio", description="Map, simulate and export governed agent workflows.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_check_commands(sub)
    _add_file_commands(sub)
    _add_drawing_commands(sub)
    # export, import, diff and simulate live with their layers (and `new` lists the templates): their
    # options are added when the command is chosen, so `studio --help` imports none of those modules.
    for name, text, setup in _DEFERRED:
        sub.add_parser(name, help=text).defer(setup)
    for command in sub.choices.values():
        command.defer(_add_limit_argument)
    return parser


def _add_check_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser("validate", help="check workflows and print every finding")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--data", metavar="CSV", help="case data to check conditions against (default: the workflow's own sample data)"
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("summary", help="summarise workflows (default: every template)")
    p.add_argument("files", nargs="*", metavar="FILE")
    p.set_defaults(func=cmd_summary)


def _add_file_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    sub.add_parser("new", help="start a new workflow: blank (valid, minimal) or from a template").defer(_setup_new)

    p = sub.add_parser("templates", help="list the templates")
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("schema", help="print the JSON Schema of workflow files")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_schema)


def _add_drawing_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser("render", help="draw a workflow (svg, png, dot or Mermaid mmd, from the -o suffix)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.svg, OUT.png, OUT.dot or OUT.mmd")
    p.add_argument("--format", choices=["svg", "png", "dot", "mmd"], help="override the format the suffix gives")
    p.add_argument("--lanes", choices=["actor", "kind", "none"], default="actor",
                   help="a swimlane per actor (default), per kind of actor, or none")
    p.add_argument("--direction", choices=["LR", "TB"], default="LR",
                   help="left to right (default) or top to bottom")
    p.add_argument("--findings", action="store_true",
                   help="validate (against the sample data when there is some) and outline the findings")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("analyze", help="interaction network, hand-offs, loops, blast radius, reliability")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--routes", type=int, default=200, metavar="N", help="at most N routes (default 200)")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("minutes", help="workshop minutes: the map, open questions, decisions, RACI, findings, "
                       "the last simulation's figures (.md or .html)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.md (map as a PNG next to it) or OUT.html")
    p.add_argument("--results", metavar="DIR", help="a folder `studio simulate --out` wrote (default: the run the "
                   "studio keeps next to the workflow file, if any)")
    p.set_defaults(func=cmd_minutes)


def _setup_new(p: argparse.ArgumentParser) -> None:
    from studio import templates  # noqa: PLC0415

    p.add_argument("name")
    p.add_argument("--template", "-t", help="one of: " + ", ".join(templates.template_names())
                   + " (default: a blank workflow, start -> one task -> end)")
    p.add_argument("--directory", "-C", default=".", help="where to create the workflow's folder")
    p.add_argument("--force", action="store_true",
                   help="write into an existing folder (its files are backed up in .studio-backups/ first)")
    p.set_defaults(func=cmd_new)


def _setup_export(p: argparse.ArgumentParser) -> None:
    from studio.export import _cli as export_cli  # noqa: PLC0415

    export_cli.add_export_arguments(p)
    p.set_defaults(func=export_cli.cmd_export)


def _setup_import(p: argparse.ArgumentParser) -> None:
    from studio.export import _cli as export_cli  # noqa: PLC0415

    export_cli.add_import_arguments(p)
    p.set_defaults(func=export_cli.cmd_import)


def _setup_diff(p: argparse.ArgumentParser) -> None:
    from studio.export import _cli as export_cli  # noqa: PLC0415

    export_cli.add_diff_arguments(p)
    p.set_defaults(func=export_cli.cmd_diff)


def _setup_simulate(p: argparse.ArgumentParser) -> None:
    from studio.simulate import _cli as simulate_cli  # noqa: PLC0415

    simulate_cli.add_arguments(p)
    p.set_defaults(func=simulate_cli.cmd_simulate)


def _setup_sweep(p: argparse.ArgumentParser) -> None:
    from studio.simulate.sweeps import add_arguments, cmd_sweep  # noqa: PLC0415

    add_arguments(p)
    p.set_defaults(func=cmd_sweep)


def _setup_calibrate(p: argparse.ArgumentParser) -> None:
    from studio.calibrate import setup_arguments  # noqa: PLC0415

    setup_arguments(p)
    p.set_defaults(func=cmd_calibrate)


def _add_limit_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--limit", action="append", default=[], metavar="NAME=VALUE",
        help="raise (or lower) an input limit for trusted files, e.g. workflow_bytes=64MB "
             "(see docs/security.md; also STUDIO_MAX_<NAME>)",
    )


_DEFERRED: tuple[tuple[str, str, Setup], ...] = (
    ("export", "write the control-plane definition, BPMN, a LangGraph module or Mermaid", _setup_export),
    ("import", "import a BPMN 2.0 process as a workflow", _setup_import),
    ("diff", "what changed between two workflows, and which changes weaken governance", _setup_diff),
    ("simulate", "run cases in virtual time: cycle time, waits, cost, failures, gold gate", _setup_simulate),
    ("sweep", "run a grid of what-if scenarios with replications: one table with 95%% intervals, a plot",
     _setup_sweep),
    ("calibrate", "discover a simulation-ready workflow from an event log (CSV or XES)", _setup_calibrate),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        changes = dict(limits.parse_assignment(text) for text in getattr(args, "limit", []))
        with limits.override(**changes):
            return func(args)
    except LoadError as exc:
        _print_load_error(exc, sys.stderr)
        return EXIT_USAGE
    except (UsageError, StudioError) as exc:
        print(f"studio: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # writing an output: a file where a folder belongs, /proc, read-only, disk full
        print(f"studio: error: {describe_os_error(exc)}", file=sys.stderr)
        return EXIT_USAGE


_OS_HINTS = {
    errno.ENOSPC: "free some space (the previous output files are untouched) and run again",
    errno.EDQUOT: "free some space (the previous output files are untouched) and run again",
    errno.EROFS: "the file system is read-only; choose another place with --out/-o",
    errno.EACCES: "you may not write there; choose another place with --out/-o",
    errno.EPERM: "you may not write there; choose another place with --out/-o",
    errno.ENOTDIR: "a file stands where a folder is needed; choose another path with --out/-o",
    errno.EEXIST: "a file stands where a folder is needed; choose another path with --out/-o",
    errno.EISDIR: "a folder stands where a file is needed; name a file with --out/-o",
    errno.ENOENT: "the folder does not exist and cannot be made; check the path",
}


def describe_os_error(exc: OSError) -> str:
    """One line for a failed write: what, where, and how to fix it (no traceback)."""
    where = exc.filename if exc.filename is not None else "the output"
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = _OS_HINTS.get(exc.errno or -1, "check the path given with --out/-o")
    return f"cannot write `{where}`: {reason} ({hint})"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["build_parser", "describe", "main", "template_descriptions"]
