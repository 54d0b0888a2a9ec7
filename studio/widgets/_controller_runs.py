"""What the studio controller runs on the workflow: simulations, walkthroughs and exports (see
:mod:`studio.widgets.controller`)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from studio import fileio
from studio.errors import (
    Finding,
    WorkflowInvalid,
    has_errors,
)
from studio.widgets._controller_core import ControllerCore
from studio.widgets._edit_support import (
    EditRefused,
    ExportResult,
    _hours,
    _pct,
    parse_scenario,
)


class Runs(ControllerCore):
    """Simulating, walking a case and exporting the workflow being mapped."""

    # ------------------------------------------------------------------ simulation

    @staticmethod
    def _module(name: str) -> Any | None:
        try:
            return importlib.import_module(name)
        except ImportError:
            return None

    @property
    def can_simulate(self) -> bool:
        return self._module("studio.simulate") is not None

    def _require(self, name: str, what: str) -> Any:
        module = self._module(name)
        if module is None:
            raise EditRefused(f"{what} is not available in this installation (`{name}` is missing)")
        return module

    @property
    def evidence_dir(self) -> Path | None:
        """Where the last simulation of the workflow as mapped is kept for export (next to its file)."""
        if self.path is None:
            return None
        return self.path.with_name(f"{self.path.stem}.simulation")

    def run_simulation(
        self,
        cases: int | None = None,
        seed: int | None = None,
        scenario: Mapping[str, Any] | str | None = None,
        progress: Callable[[int, int], None] | None = None,
        replications: int = 1,
    ) -> Any:
        """Simulate the workflow against its sample data; returns the simulator's ``Results``.

        ``scenario`` is a dict or ``KEY=VALUE`` lines of what-if changes (for example
        ``actors.line_managers.capacity=10``); ``progress(done, total)`` is called as cases finish.
        A workflow with error findings is refused (:class:`~studio.errors.WorkflowInvalid`). A run
        of the workflow as mapped (no scenario) is kept next to the file as export evidence.
        """
        simulate = self._require("studio.simulate", "Simulation")
        changes = parse_scenario(scenario) if isinstance(scenario, str) else dict(scenario or {})
        results = simulate.simulate(
            self._workflow,
            data=self.cases,
            cases=None if cases is None else int(cases),
            seed=None if seed is None else int(seed),
            scenario=changes or None,
            replications=max(int(replications), 1),
            progress=progress or False,
        )
        self._sim = results
        folder = self.evidence_dir
        if not changes and folder is not None:
            try:
                results.save(folder, plots=False)
            except OSError:
                self._evidence = None
            else:
                self._evidence = (self._workflow, folder)
        kpis = results.kpis
        self.message = (
            f"Simulated {kpis['cases']} case(s) x {kpis['replications']} replication(s): "
            f"success {_pct(kpis.get('success_rate'))}, median cycle time {_hours(kpis['cycle_time'].get('p50'))}."
        )
        return results

    @property
    def last_results(self) -> Any:
        return self._sim

    def compare_scenarios(self, a: Any, b: Any) -> Any:
        """The simulator's A vs B comparison of two ``Results`` (B − A with 95% intervals per KPI)."""
        simulate = self._require("studio.simulate", "Simulation")
        return simulate.compare(a, b)

    # ------------------------------------------------------------------ walkthrough

    def case_ids(self) -> list[str]:
        """Ids of the sample cases (``case_id`` column, else the row number)."""
        cases = self.cases
        if cases is None:
            return []
        return [str(row.get("case_id", number)) for number, row in enumerate(cases.rows, start=1)]

    def case(self, case_id: str) -> dict[str, Any]:
        cases = self.cases
        if cases is None:
            raise EditRefused("this workflow has no sample data to pick a case from")
        for number, row in enumerate(cases.rows, start=1):
            if str(row.get("case_id", number)) == str(case_id):
                return dict(row)
        raise EditRefused(f"there is no case `{case_id}` in the sample data")

    def start_walkthrough(self, case_id: str) -> Any:
        """Start one case through the compiled graph; it stops at the first approval (or the end)."""
        simulate = self._require("studio.simulate", "The walkthrough")
        compiled = simulate.compile(self._workflow)
        walk = simulate.Walkthrough(compiled, self.case(case_id))
        walk.start()
        self._walk = walk
        return walk

    @property
    def walkthrough(self) -> Any:
        return self._walk

    def answer(self, decision: str, note: str | None = None) -> Any:
        """Answer the pending approval: ``approve``, ``reject`` or ``steer`` (with a note)."""
        if self._walk is None:
            raise EditRefused("start a walkthrough first: pick a case and press Start")
        if decision not in ("approve", "reject", "steer"):
            raise EditRefused(f"`{decision}` is not an answer; use approve, reject or steer")
        if getattr(self._walk, "done", False):
            raise EditRefused("this case has finished; start another one")
        self._walk.answer(decision, note=note or None)
        return self._walk

    # ------------------------------------------------------------------ export

    def export(
        self,
        path: str | os.PathLike[str] | None = None,
        fmt: str = "yaml",
        target: str = "controlplane",
    ) -> ExportResult:
        """Validate and export. ``target``: ``controlplane`` (``fmt`` yaml or json; with the last
        simulation of the workflow as mapped attached as evidence), ``bpmn``, ``serverless``,
        ``langgraph`` or ``mermaid`` (through :func:`studio.export.export_as`; what the target does not
        keep is in ``losses``); without :mod:`studio.export`, the
        validated workflow itself. A workflow with error findings is refused and the result lists
        them; with ``path`` the text is also written there atomically."""
        if fmt not in ("yaml", "json"):
            raise EditRefused(f"`{fmt}` is not an export format; use yaml or json")
        exporter = self._module("studio.export")
        targets = tuple(getattr(exporter, "TARGETS", ())) if exporter is not None else ()
        if target not in (*targets, "controlplane"):
            raise EditRefused(f"`{target}` is not an export target; use one of {', '.join(targets) or 'controlplane'}")
        evidence = None
        if self._evidence is not None and self._evidence[0] is self._workflow and target == "controlplane":
            evidence = self._evidence[1] if (self._evidence[1] / "kpis.json").is_file() else None
        found_losses: list[Finding] = []
        try:
            if exporter is not None and hasattr(exporter, "export_as"):
                data = exporter.export_as(self._workflow, target, fmt=fmt, evidence_dir=evidence, losses=found_losses)
                text = data.decode("utf-8") if isinstance(data, bytes) else str(data)
            else:
                found = self.findings
                if has_errors(found):
                    raise WorkflowInvalid(found, summary=f"`{self._workflow.metadata.name}` has error findings")
                text, target = fileio.dumps(self._workflow, fmt), "workflow"
        except WorkflowInvalid as exc:
            errors = tuple(f for f in exc.findings if f.is_error)
            message = (
                f"Not exported: `{self._workflow.metadata.name}` has {len(errors)} error(s). "
                "Fix them in the Map tab (click a problem to jump to it), then export again."
            )
            self.message = message
            return ExportResult(False, message, findings=errors, target=target)
        written: Path | None = None
        if path is not None and str(path).strip():
            try:
                written = fileio.atomic_write(path, text)
            except OSError as exc:
                message = f"Exported, but could not write `{path}`: {exc.strerror or exc}"
                self.message = message
                return ExportResult(False, message, text=text, target=target)
        where = f" to `{written}`" if written else ""
        what = {
            "controlplane": "control-plane definition",
            "bpmn": "BPMN 2.0 model",
            "langgraph": "LangGraph application",
            "serverless": "Serverless Workflow",
            "mermaid": "Mermaid diagram",
        }.get(target, "validated workflow")
        attached = " with the simulation KPIs as evidence" if evidence is not None else ""
        meta = self._workflow.metadata
        losses = tuple(found_losses)
        kept = f" The target does not keep {len(losses)} thing(s) (listed with the result)." if losses else ""
        message = f"Exported the {what} of `{meta.name}` {meta.version}{where}{attached}.{kept}"
        self.message = message
        return ExportResult(True, message, text=text, path=written, target=target, evidence=evidence is not None,
                            losses=losses)


