"""Branch probabilities on decisions: validation, and routing by one fresh draw per visit."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

import studio
from studio.cli import main
from studio.simulate import simulate

Z_999 = 3.2905  # two-sided 99.9% normal quantile

HEADER = """apiVersion: studio/v1
metadata: {name: branches, version: 1.0.0, owner: tests@example.com}
actors:
  - {id: bot, kind: agent, version: 1.0.0, owner: tests@example.com, behaviour: {duration: 1m}}
simulation:
  seed: 11
  arrivals: {process: fixed, interval: 1m}
"""

SPLIT = HEADER + """nodes:
  - {id: start, kind: start}
  - {id: gate, kind: decision}
  - {id: small, kind: end, outcome: small}
  - {id: large, kind: end, outcome: large}
edges:
  - {from: start, to: gate}
  - {from: gate, to: small, probability: 0.2}
  - {from: gate, to: large, probability: 0.8}
"""

# Rework goes round with probability 0.3 on every pass; the guard is far above any likely count.
LOOP = HEADER + """nodes:
  - {id: start, kind: start}
  - {id: work, kind: task, actor: bot}
  - {id: check, kind: decision}
  - {id: done, kind: end, outcome: done}
edges:
  - {from: start, to: work}
  - {from: work, to: check}
  - {from: check, to: work, probability: 0.3}
  - {from: check, to: done, default: true}
policies: {max_turns: 10000, max_repeats: 1000}
"""


def _binomial_ok(hits: int, n: int, p: float) -> bool:
    return abs(hits / n - p) <= Z_999 * math.sqrt(p * (1 - p) / n)


def _codes(text: str) -> list[str]:
    return [f.code for f in studio.validate(studio.loads(text, "branches.yaml"))]


def test_split_measured_on_20000_cases_lies_in_the_binomial_interval() -> None:
    results = simulate(studio.loads(SPLIT, "split.yaml"), cases=20_000, seed=3)
    outcomes = Counter(case["outcome"] for case in results.payloads[0]["cases"])
    assert sum(outcomes.values()) == 20_000
    assert _binomial_ok(outcomes["small"], 20_000, 0.2), outcomes
    assert _binomial_ok(outcomes["large"], 20_000, 0.8), outcomes


def test_default_edge_takes_the_remainder_and_conditions_are_not_used() -> None:
    text = SPLIT.replace(
        "  - {from: gate, to: small, probability: 0.2}\n  - {from: gate, to: large, probability: 0.8}\n",
        "  - {from: gate, to: small, when: 'amount > 1e9', probability: 0.25}\n"
        "  - {from: gate, to: large, default: true}\n",
    )
    assert _codes(text) == []
    results = simulate(studio.loads(text, "remainder.yaml"), cases=4_000, seed=8)
    outcomes = Counter(case["outcome"] for case in results.payloads[0]["cases"])
    # `amount` is not in any case: a simulator that evaluated the condition would fail every case.
    assert outcomes["small"] + outcomes["large"] == 4_000
    assert _binomial_ok(outcomes["small"], 4_000, 0.25), outcomes


def test_a_loop_draws_afresh_on_every_pass() -> None:
    """Passes through `work` are geometric: P(n) = 0.3^(n-1) 0.7, mean 1/0.7, variance 0.3/0.49.

    Reusing one draw per case would give one pass (70%) or a case the guard kills (30%)."""
    n = 5_000
    results = simulate(studio.loads(LOOP, "loop.yaml"), cases=n, seed=17)
    cases = results.payloads[0]["cases"]
    assert {case["outcome"] for case in cases} == {"done"}
    passes = [sum(1 for step in case["steps"] if step[0] == "work") for case in cases]
    mean = sum(passes) / n
    assert abs(mean - 1 / 0.7) <= Z_999 * math.sqrt(0.3 / 0.49 / n), mean
    assert _binomial_ok(sum(1 for k in passes if k == 1), n, 0.7)
    assert _binomial_ok(sum(1 for k in passes if k >= 3), n, 0.09)
    assert max(passes) >= 4


def test_the_same_seed_gives_the_same_routes() -> None:
    workflow = studio.loads(SPLIT, "split.yaml")
    first = simulate(workflow, cases=200, seed=5).payloads[0]["cases"]
    again = simulate(workflow, cases=200, seed=5).payloads[0]["cases"]
    assert [c["outcome"] for c in first] == [c["outcome"] for c in again]
    other = simulate(workflow, cases=200, seed=6).payloads[0]["cases"]
    assert [c["outcome"] for c in first] != [c["outcome"] for c in other]


@pytest.mark.parametrize(
    ("edges", "code", "words"),
    [
        ("  - {from: gate, to: small, probability: 0.2}\n  - {from: gate, to: large, when: 'x > 1'}\n"
         "  - {from: gate, to: mid, default: true}\n", "S014", "has no probability"),
        ("  - {from: gate, to: small, probability: 0.7}\n  - {from: gate, to: large, probability: 0.5}\n"
         "  - {from: gate, to: mid, default: true}\n", "S014", "more than 1"),
        ("  - {from: gate, to: small, probability: 0.2}\n  - {from: gate, to: large, probability: 0.7}\n"
         "  - {from: gate, to: mid, probability: 0.05}\n", "S014", "not 1"),
        ("  - {from: gate, to: small, probability: 0.2}\n  - {from: gate, to: large, probability: 0.7}\n"
         "  - {from: gate, to: mid, default: true, probability: 0.2}\n", "S014", "takes the remainder"),
    ],
    ids=["missing", "over_one", "not_one_without_default", "default_not_remainder"],
)
def test_probability_rules(edges: str, code: str, words: str) -> None:
    text = HEADER + """nodes:
  - {id: start, kind: start}
  - {id: gate, kind: decision}
  - {id: small, kind: end}
  - {id: mid, kind: end}
  - {id: large, kind: end}
edges:
  - {from: start, to: gate}
""" + edges
    findings = studio.validate(studio.loads(text, "rules.yaml"))
    assert [f.code for f in findings] == [code], [f.format() for f in findings]
    assert words in findings[0].message and "gate" in findings[0].message
    assert findings[0].hint and findings[0].line is not None


@pytest.mark.parametrize(("third", "codes"), [("0.333333333333", []), ("0.3333", ["S014"])])
def test_probabilities_without_default_add_up_to_one_within_1e9(third: str, codes: list[str]) -> None:
    text = SPLIT.replace(
        "  - {from: gate, to: small, probability: 0.2}\n  - {from: gate, to: large, probability: 0.8}\n",
        f"  - {{from: gate, to: small, probability: {third}}}\n  - {{from: gate, to: large, probability: {third}}}\n"
        f"  - {{from: gate, to: small, probability: {third}}}\n",
    )
    assert _codes(text) == codes


def test_probability_on_a_step_edge_is_a_warning() -> None:
    text = SPLIT.replace("  - {from: start, to: gate}\n", "  - {from: start, to: gate, probability: 0.5}\n")
    findings = studio.validate(studio.loads(text, "stray.yaml"))
    assert [(f.code, f.severity.value) for f in findings] == [("S013", "warning")]
    assert "`start`" in findings[0].message


@pytest.mark.parametrize("value", ["0", "1.5", "-0.1"])
def test_probability_outside_zero_to_one_does_not_load(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SPLIT.replace("probability: 0.2", f"probability: {value}"))
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr()
    assert "L003" in out.out + out.err and "probability" in out.out + out.err


@pytest.mark.parametrize(
    ("first", "second", "accepted"),
    [
        ("approved", "not approved", True),
        ("not case.approved", "approved", True),
        ("amount > 5", "amount <= 5", True),
        ("tier == 'gold'", "tier != 'gold'", True),
        ("x in ['a', 'b']", "x not in ['a', 'b']", True),
        ("amount > 5", "amount < 5", False),
        ("amount > 5", "total <= 5", False),
        ("approved", "rejected", False),
    ],
)
def test_complementary_conditions_need_no_default(first: str, second: str, accepted: bool) -> None:
    text = HEADER + f"""nodes:
  - {{id: start, kind: start}}
  - {{id: gate, kind: decision}}
  - {{id: yes, kind: end}}
  - {{id: no, kind: end}}
edges:
  - {{from: start, to: gate}}
  - {{from: gate, to: yes, when: "{first}"}}
  - {{from: gate, to: no, when: "{second}"}}
"""
    assert _codes(text) == ([] if accepted else ["S007"])


def test_complementary_branches_route_every_case_in_simulation() -> None:
    text = HEADER + """nodes:
  - {id: start, kind: start}
  - {id: gate, kind: decision}
  - {id: yes, kind: end, outcome: big}
  - {id: no, kind: end, outcome: small}
edges:
  - {from: start, to: gate}
  - {from: gate, to: yes, when: "amount > 5"}
  - {from: gate, to: no, when: "amount <= 5"}
"""
    rows = [{"amount": value} for value in (1, 5, 6, 10)]
    results = simulate(studio.loads(text, "pair.yaml"), data=rows, cases=4, seed=1)
    assert [c["outcome"] for c in results.payloads[0]["cases"]] == ["small", "small", "big", "big"]


def test_validate_cli_names_the_edge_and_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "over.yaml"
    path.write_text(SPLIT.replace("probability: 0.8", "probability: 0.9"))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "S014" in out and "add up to 1.1, more than 1" in out and "over.yaml:" in out and "default: true" in out


# --------------------------------------------------------------------------- exports

EXPORTED = """apiVersion: studio/v1
metadata: {name: branches, version: 1.0.0, owner: tests@example.com}
actors:
  - {id: bot, kind: agent, version: 1.0.0, owner: tests@example.com}
nodes:
  - {id: start, kind: start}
  - {id: work, kind: task, actor: bot, outputs: [risk]}
  - {id: gate, kind: decision}
  - {id: fast, kind: end, outcome: fast}
  - {id: slow, kind: end, outcome: slow}
edges:
  - {from: start, to: work}
  - {from: work, to: gate}
  - {from: gate, to: fast, probability: 0.6}
  - {from: gate, to: slow, default: true}
"""


@pytest.mark.parametrize(("target", "code"), [("bpmn", "B105"), ("serverless", "W108"), ("langgraph", "R104")])
def test_exports_report_a_branch_taken_only_by_probability(target: str, code: str) -> None:
    from studio.export import export_as, export_losses

    workflow = studio.loads(EXPORTED, "branches.yaml")
    losses: list[studio.Finding] = []
    export_as(workflow, target, losses=losses)
    found = [f for f in losses if f.code == code]
    assert len(found) == 1, [f.format() for f in losses]
    assert found[0].location == "edges[2]" and "`gate` -> `fast`" in found[0].message
    assert "when:" in found[0].hint and found[0].line == 14
    assert [f.code for f in export_losses(workflow, target) if f.code == code] == [code]
    conditioned = studio.loads(EXPORTED.replace("probability: 0.6", "when: 'risk == \"low\"', probability: 0.6"),
                               "branches.yaml")
    losses = []
    export_as(conditioned, target, losses=losses)
    assert code not in {f.code for f in losses}


def test_control_plane_definition_drops_probabilities() -> None:
    from studio.export import to_controlplane

    conditioned = EXPORTED.replace("probability: 0.6", "when: 'risk == \"low\"', probability: 0.6")
    with_probability = to_controlplane(studio.loads(conditioned, "branches.yaml"))
    without = to_controlplane(studio.loads(conditioned.replace(", probability: 0.6", ""), "branches.yaml"))
    assert with_probability.spec == without.spec  # only the provenance hash of the file differs
    assert with_probability.metadata.content_hash == without.metadata.content_hash


def test_a_decision_by_condition_draws_nothing_from_the_stream() -> None:
    """The step after a condition-routed decision draws exactly what it draws with no decision before it."""
    base = HEADER.replace("behaviour: {duration: 1m}", "behaviour: {duration: {dist: uniform, low: 1m, high: 9m}}")
    plain = base + """nodes:
  - {id: start, kind: start}
  - {id: work, kind: task, actor: bot}
  - {id: done, kind: end}
edges:
  - {from: start, to: work}
  - {from: work, to: done}
"""
    routed = base + """nodes:
  - {id: start, kind: start}
  - {id: gate, kind: decision}
  - {id: work, kind: task, actor: bot}
  - {id: done, kind: end}
edges:
  - {from: start, to: gate}
  - {from: gate, to: work, when: "n >= 0"}
  - {from: gate, to: done, default: true}
  - {from: work, to: done}
"""
    rows = [{"n": i} for i in range(50)]

    def services(text: str) -> list[float]:
        cases = simulate(studio.loads(text, "w.yaml"), data=rows, cases=50, seed=9).payloads[0]["cases"]
        return [step[3] - step[2] for case in cases for step in case["steps"] if step[0] == "work"]

    assert services(routed) == services(plain)
    drawn = routed.replace('when: "n >= 0"', 'when: "n >= 0", probability: 1.0')
    assert services(drawn) != services(plain)  # a probability decision takes one draw first
