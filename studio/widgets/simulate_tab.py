"""The studio's Simulate tab: run a scenario, compare two, the summary table and charts."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from studio.errors import StudioError
from studio.widgets._parts import (
    FIELD,
    StudioBase,
    _button,
    _fit_width,
    _png,
)
from studio.widgets.present import _esc

__all__ = ["SimulateTab"]


class SimulateTab(StudioBase):
    """Cases, replications, seed, scenarios A and B, a progress bar, the results."""

    def _build_simulate(self) -> Any:
        wf = self.controller.workflow
        small = w.Layout(width="220px")
        self.sim_cases = w.BoundedIntText(
            value=wf.simulation.cases or 200, min=1, max=1_000_000, description="Cases", style=FIELD, layout=small
        )
        self.sim_replications = w.BoundedIntText(
            value=3,
            min=1,
            max=100,
            description="Replications",
            style=FIELD,
            layout=small,
            tooltip="independent runs; two or more give confidence intervals when comparing",
        )
        self.sim_seed = w.IntText(value=wf.simulation.seed, description="Seed", style=FIELD, layout=small)
        self._sim_settings = (wf.simulation.seed, wf.simulation.cases)
        self.sim_scenario = w.Textarea(
            description="Scenario A",
            placeholder="what-if changes, one a line, e.g.\nactors.line_managers.capacity=10\n(empty: as mapped)",
            style=FIELD,
            layout=w.Layout(width="48%", height="96px"),
        )
        self.sim_scenario_b = w.Textarea(
            description="Scenario B",
            placeholder="the scenario to compare with A, e.g.\nactors.cfo_office.capacity=2",
            style=FIELD,
            layout=w.Layout(width="48%", height="96px"),
        )
        self.sim_run = _button("Run simulation", "success", "Simulate scenario A against the sample data", "play")
        self.sim_compare = _button("Compare A and B", "primary", "Run both scenarios and compare them", "balance-scale")
        self.sim_progress = w.IntProgress(
            value=0, min=0, max=1, description="Progress", style=FIELD, layout=w.Layout(width="60%")
        )
        self.sim_note = w.HTML()
        self.sim_kpis = w.HTML()
        self.sim_plots = w.Tab(layout=w.Layout(width="100%"))
        self.sim_compare_out = w.HTML()
        self.sim_run.on_click(lambda _: self.run_simulation())
        self.sim_compare.on_click(lambda _: self.compare())
        if not self.controller.can_simulate:
            self.sim_note.value = '<span class="wds-warn">Simulation is not installed in this environment.</span>'
            self.sim_run.disabled = self.sim_compare.disabled = True
        return w.VBox(
            [
                w.HBox([self.sim_cases, self.sim_replications, self.sim_seed]),
                w.HBox([self.sim_scenario, self.sim_scenario_b], layout=w.Layout(justify_content="space-between")),
                w.HBox([self.sim_run, self.sim_compare]),
                self.sim_progress,
                self.sim_note,
                self.sim_kpis,
                self.sim_plots,
                self.sim_compare_out,
            ]
        )

    def _follow_simulation_settings(self) -> None:
        """The Simulate tab's seed and cases follow the workflow's settings when those change (a value
        typed into the tab for one run stays until then)."""
        simulation = self.controller.workflow.simulation
        settings = (simulation.seed, simulation.cases)
        if settings != self._sim_settings:
            self._sim_settings = settings
            self.sim_seed.value = simulation.seed
            if simulation.cases is not None:
                self.sim_cases.value = simulation.cases

    def _progress(self, done: int, total: int | None = None, *_: Any) -> None:
        if total:
            self.sim_progress.max = max(int(total), 1)
        self.sim_progress.value = min(int(done), self.sim_progress.max)

    def _simulate(self, scenario: str) -> Any:
        self.sim_progress.value = 0
        self.sim_progress.max = max(int(self.sim_cases.value) * int(self.sim_replications.value), 1)
        self.sim_progress.bar_style = "info"
        results = self._act(
            lambda: self.controller.run_simulation(
                cases=self.sim_cases.value,
                seed=self.sim_seed.value,
                scenario=scenario,
                replications=self.sim_replications.value,
                progress=self._progress,
            )
        )
        if results is None:
            self.sim_progress.bar_style = "danger"
            return None
        self.sim_progress.value = self.sim_progress.max
        self.sim_progress.bar_style = "success"
        return results

    def run_simulation(self) -> Any:
        """Run scenario A with the form's settings (what Run simulation does); returns the results."""
        results = self._simulate(self.sim_scenario.value)
        if results is not None:
            self._show_results(results)
        return results

    def _show_results(self, results: Any) -> None:
        from studio.widgets import present  # noqa: PLC0415

        self.sim_kpis.value = present.kpi_table(results)
        pages: list[tuple[str, Any]] = []
        for title, figure in present.figures(results):
            pages.append((title, w.Image(value=_png(figure), format="png", layout=w.Layout(max_width="900px"))))
        try:
            network = present.network_svg(results, self.controller.workflow)
            overlaid = self.controller.diagram_svg(overlay=present.overlay(results))
        except StudioError as exc:
            network = overlaid = f'<div class="wds-bad">{_esc(exc)}</div>'
        pages.append(("Hand-offs", w.HTML(f'<div class="wds-diagram wds-fit">{_fit_width(network)}</div>')))
        pages.append(
            (
                "Waits on the map",
                w.HTML(f'<div class="wds-diagram wds-fit">{_fit_width(overlaid)}</div>'),
            )
        )
        self.sim_plots.children = [page for _, page in pages]
        for index, (title, _) in enumerate(pages):
            self.sim_plots.set_title(index, title)

    def compare(self) -> Any:
        """Run scenario A and scenario B and show the A vs B table (what Compare does)."""
        a = self.run_simulation()
        if a is None:
            return None
        b = self._simulate(self.sim_scenario_b.value)
        if b is None:
            return None
        comparison = self._act(lambda: self.controller.compare_scenarios(a, b))
        if comparison is None:
            return None
        from studio.simulate.summary import scenario_name  # noqa: PLC0415
        from studio.widgets import present  # noqa: PLC0415

        note = ""
        if int(self.sim_replications.value) < 2:
            note = "<p><i>Run two or more replications to get confidence intervals.</i></p>"
        name_a, name_b = scenario_name(a), scenario_name(b)
        self.sim_compare_out.value = (
            f"<h4>A: {_esc(name_a)} &nbsp; vs &nbsp; B: {_esc(name_b)} "
            f"(means over {_esc(self.sim_replications.value)} replication(s); B − A with its 95% interval)</h4>"
            + note
            + present.comparison_table(comparison, b.compiled.workflow, "A", "B")
        )
        return comparison
