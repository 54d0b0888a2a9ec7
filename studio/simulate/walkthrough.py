"""Step one case through the compiled graph by hand, answering each human step yourself.

The same compiled graph as Monte Carlo, with an in-memory checkpointer: every human task and
approval calls ``interrupt()`` with what is to be decided and why; :meth:`Walkthrough.answer`
resumes it with ``Command(resume=...)``. Agents behave per their behaviour model (seeded), in
virtual time, with nobody else competing for resources::

    wt = Walkthrough(compiled, case=0)        # row 0 of the sample data, or a dict of fields
    wt.start()                                # runs to the first human step
    wt.pending                                # {"node", "actor", "question", "why", "case", "path", ...}
    wt.answer("approve", note="fine")         # or "reject", or "steer" (send back) with a note
    wt.history, wt.state, wt.done, wt.outcome
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from studio.fileio import workflow_cases
from studio.model import Workflow
from studio.simulate.behaviour import Rng
from studio.simulate.clock import seconds_to_iso
from studio.simulate.compiler import RUNTIME_KEY, CompiledWorkflow, compile_workflow, superstep_limit
from studio.simulate.engine import run_sync
from studio.simulate.runtime import STEP_FIELDS, CaseRun, CaseStop, Env, InteractiveHumans

__all__ = ["Walkthrough"]


class Walkthrough:
    """One case, stepped by a person. See the module docstring."""

    def __init__(self, workflow: CompiledWorkflow | Workflow, case: Mapping[str, Any] | int = 0, *,
                 data: Any = None, seed: int | None = None, arrival: float = 0.0) -> None:
        self.compiled = workflow if isinstance(workflow, CompiledWorkflow) else compile_workflow(workflow)
        model = self.compiled.workflow
        if isinstance(case, int):
            table = workflow_cases(model, data)
            if table is None or not table.rows:
                raise IndexError(f"`{model.metadata.name}` has no sample data to take case {case} from")
            if not -len(table.rows) <= case < len(table.rows):
                raise IndexError(f"case {case} is out of range: the data has {len(table.rows)} row(s)")
            index, row = case % len(table.rows), dict(table.rows[case])
        else:
            index, row = 0, dict(case)
        self.case: dict[str, Any] = row
        plan = self.compiled.plan
        env = Env(plan, clock=None, decider=InteractiveHumans(), failures=True, models=self.compiled.models())
        self._run = CaseRun(env, index=index, case_id=str(row.get("case_id", row.get("id", index))), row=row,
                            arrival=arrival, rng=Rng(seed if seed is not None else model.simulation.seed, 0, index))
        self._graph = self.compiled.interactive
        self._config: dict[str, Any] = {
            "configurable": {RUNTIME_KEY: self._run, "thread_id": f"walkthrough-{uuid.uuid4().hex}"},
            "recursion_limit": superstep_limit(plan),
        }
        self._started = False
        self._done = False
        self._pending: dict[str, Any] | None = None
        self._interrupt_id: str | None = None

    # ------------------------------------------------------------------ driving

    def _invoke(self, value: Any) -> dict[str, Any] | None:
        graph, config = self._graph, self._config
        try:
            run_sync(lambda: graph.ainvoke(value, config))
        except CaseStop:
            self._done = True
            self._pending = None
            return None
        snapshot = graph.get_state(config)
        interrupts = list(snapshot.interrupts)
        if interrupts:
            first = interrupts[0]
            self._interrupt_id = first.id
            self._pending = dict(first.value)
            self._pending["interrupt_id"] = first.id
            self._pending["waiting"] = [i.value.get("node") for i in interrupts]
        else:
            self._pending = None
            self._interrupt_id = None
            self._done = not snapshot.next
        return self._pending

    def start(self) -> dict[str, Any] | None:
        """Run until the first human step (returns what it asks) or the end (returns None)."""
        if self._started:
            raise RuntimeError("this walkthrough has already started; use answer()")
        self._started = True
        return self._invoke({"case": dict(self.case)})

    def answer(self, decision: str = "approve", note: str | None = None,
               fields: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Answer the pending step: ``approve``, ``reject`` or ``steer`` (send back, with a note).

        ``fields`` sets case fields the step produces. Returns the next pending step, or None.
        """
        from langgraph.types import Command  # noqa: PLC0415

        if self._pending is None or self._interrupt_id is None:
            raise RuntimeError("nothing is waiting for an answer" + (" (the case has ended)" if self._done else
                                                                      "; call start() first"))
        value = {"decision": decision, "note": note, "fields": dict(fields or {})}
        return self._invoke(Command(resume={self._interrupt_id: value}))

    # ------------------------------------------------------------------ what there is to see

    @property
    def pending(self) -> dict[str, Any] | None:
        """The step waiting for a person: node, actor, question, why, the case fields, the path so far."""
        return self._pending

    @property
    def done(self) -> bool:
        return self._done

    @property
    def status(self) -> str:
        """``not started``, ``waiting``, ``completed``, ``failed``, ``killed`` or ``stuck``."""
        if not self._started:
            return "not started"
        if not self._done:
            return "waiting"
        return self._run.status if self._run.status != "running" else "stuck"

    @property
    def outcome(self) -> str | None:
        """The end node's outcome; ``failed:<category>`` / ``killed:<reason>`` when the case stopped."""
        if not self._done:
            return None
        run = self._run
        if run.status == "completed":
            return run.outcome
        if run.stop is not None:
            return f"{run.stop.status}:{run.stop.category if run.stop.status == 'failed' else run.stop.reason}"
        return "stuck"

    @property
    def stop_reason(self) -> str | None:
        stop = self._run.stop
        return None if stop is None else f"{stop.reason} at `{stop.where}`"

    @property
    def state(self) -> dict[str, Any]:
        """The LangGraph state (case fields, trace, transitions, route, outcome)."""
        values: dict[str, Any] = dict(self._graph.get_state(self._config).values)
        return values

    @property
    def history(self) -> list[dict[str, Any]]:
        """Steps so far: node, actor, decision, note, virtual start/end (seconds and ISO), wait, cost."""
        steps = []
        for record in self._run.steps:
            step = dict(zip(STEP_FIELDS, record, strict=True))
            step["start_iso"] = seconds_to_iso(step["start"])
            step["end_iso"] = seconds_to_iso(step["end"])
            steps.append(step)
        return steps

    @property
    def path(self) -> list[str]:
        return [step[0] for step in self._run.steps]

    def __repr__(self) -> str:
        where = f" at `{self._pending['node']}`" if self._pending else ""
        return f"<Walkthrough {self._run.case_id}: {self.status}{where}, {len(self._run.steps)} step(s)>"
