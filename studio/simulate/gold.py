"""The gold gate: replay gold cases deterministically and compare path and outcome.

Each gold case (a row of ``simulation.gold_data``) runs alone through the compiled graph: its
``human_decisions`` (``manager_approval=approve;cfo_approval=reject``; an approval visited twice
takes its answers in order) answer the human steps, unlisted approvals approve, agents and tools
do not fail unless a per-case override column sets a failure rate, and nobody queues. The path is
the visited node ids in execution order (LangGraph superstep, then the order of the nodes in the
file for parallel branches); ``expected_path`` lists them joined by ``>``; ``expected_outcome`` is
the end node's ``outcome`` (``failed:<category>`` or ``killed:<reason>`` when the case stops).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from studio.errors import StudioError
from studio.fileio import as_cases, sample_path
from studio.model import Workflow
from studio.simulate.behaviour import Rng
from studio.simulate.compiler import CompiledWorkflow, compile_workflow
from studio.simulate.engine import invoke, run_sync
from studio.simulate.runtime import S_NODE, S_STEP, CaseRun, Env, ScriptedHumans, parse_human_decisions

__all__ = ["GoldCase", "GoldReport", "run_gold"]

REQUIRED = ("expected_path", "expected_outcome")


@dataclass
class GoldCase:
    case_id: str
    passed: bool
    expected_path: list[str]
    actual_path: list[str]
    expected_outcome: str | None
    actual_outcome: str | None
    first_difference: dict[str, Any] | None = None
    """``{"index", "expected", "actual", "after"}``: the first node where the paths differ."""


@dataclass
class GoldReport:
    cases: list[GoldCase] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.cases)

    @property
    def passed(self) -> int:
        return sum(case.passed for case in self.cases)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 1.0

    @property
    def failures(self) -> list[GoldCase]:
        return [case for case in self.cases if not case.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pass_rate": round(self.pass_rate, 6),
            "passed": self.passed,
            "total": self.total,
            "cases": [asdict(case) for case in self.cases],
        }

    def summary(self) -> str:
        lines = [f"gold cases: {self.passed}/{self.total} pass ({self.pass_rate:.0%})"]
        for case in self.failures:
            diff = case.first_difference
            if diff is not None:
                lines.append(f"  {case.case_id}: path differs at step {diff['index']}: expected "
                             f"`{diff['expected']}`, got `{diff['actual']}` (after `{diff['after']}`)")
            else:
                lines.append(f"  {case.case_id}: outcome `{case.actual_outcome}`, expected `{case.expected_outcome}`")
        return "\n".join(lines)


def first_difference(expected: Sequence[str], actual: Sequence[str]) -> dict[str, Any] | None:
    for index in range(max(len(expected), len(actual))):
        want = expected[index] if index < len(expected) else None
        got = actual[index] if index < len(actual) else None
        if want != got:
            return {"index": index, "expected": want, "actual": got, "after": actual[index - 1] if index else None}
    return None


def _outcome(run: CaseRun) -> str | None:
    if run.status == "completed":
        return run.outcome
    if run.stop is not None:
        detail = run.stop.category if run.stop.status == "failed" else run.stop.reason
        return f"{run.stop.status}:{detail}"
    return "stuck"


def run_gold(workflow: Workflow | CompiledWorkflow, data: Any = None, *, seed: int | None = None,
             allow_llm: bool = False) -> GoldReport:
    """Run every gold case (default: ``simulation.gold_data``) and compare with the expectations."""
    compiled = workflow if isinstance(workflow, CompiledWorkflow) else compile_workflow(workflow, allow_llm=allow_llm)
    model = compiled.workflow
    if data is None:
        path = sample_path(model, "gold")
        if path is None:
            raise StudioError(f"`{model.metadata.name}` has no `simulation.gold_data`; pass the gold cases")
        data = path
    table = as_cases(data)
    assert table is not None
    missing = [column for column in REQUIRED if column not in table.columns]
    if missing:
        raise StudioError("gold data needs the column(s) " + ", ".join(f"`{c}`" for c in missing))
    plan = compiled.plan
    env = Env(plan, clock=None, decider=ScriptedHumans(), failures=False, models=compiled.models())
    graph = compiled.graph
    chosen_seed = seed if seed is not None else model.simulation.seed
    order = plan.node_order
    report = GoldReport()

    async def run_all() -> None:
        for index, row in enumerate(table.rows):
            case = {k: v for k, v in row.items() if k not in ("human_decisions", *REQUIRED)}
            case_id = str(row.get("case_id", row.get("id", index)))
            run = CaseRun(env, index=index, case_id=case_id, row=case, arrival=0.0,
                          rng=Rng(chosen_seed, 0, index), script=parse_human_decisions(row.get("human_decisions")))
            await invoke(graph, run, case)  # a stopped case is an outcome like any other
            steps = sorted(run.steps, key=lambda s: (s[S_STEP], order.get(s[S_NODE], 0)))
            actual = [s[S_NODE] for s in steps]
            expected = [p.strip() for p in str(row.get("expected_path") or "").split(">") if p.strip()]
            want = row.get("expected_outcome")
            got = _outcome(run)
            difference = first_difference(expected, actual)
            report.cases.append(GoldCase(
                case_id=case_id,
                passed=difference is None and (want is None or str(want) == str(got)),
                expected_path=expected, actual_path=actual,
                expected_outcome=None if want is None else str(want), actual_outcome=got,
                first_difference=difference,
            ))

    run_sync(run_all)
    return report


def gold_rows(report: GoldReport) -> list[Mapping[str, Any]]:
    return [asdict(case) for case in report.cases]
