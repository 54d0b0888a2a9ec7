"""Fidelity: the simulator against queueing theory and probability, and its reproducibility."""

from __future__ import annotations

import heapq
import math
import statistics
from pathlib import Path

import pytest

from studio import fileio
from studio.simulate import simulate
from studio.simulate.runtime import STEP_FIELDS

FIXTURES = Path(__file__).parent / "fixtures" / "simulate"


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load ``load`` = lambda/mu."""
    top = load**servers / math.factorial(servers) * servers / (servers - load)
    return top / (sum(load**k / math.factorial(k) for k in range(servers)) + top)


def batch_means(values: list[float], batches: int = 10) -> tuple[float, float]:
    size = len(values) // batches
    means = [statistics.fmean(values[i * size:(i + 1) * size]) for i in range(batches)]
    return statistics.fmean(means), statistics.stdev(means) / math.sqrt(batches)


def test_mmc_pool_matches_erlang_c() -> None:
    """M/M/2 at utilisation 0.8: mean wait and P(wait) agree with Erlang C.

    Tolerance: 5,000 seeded cases, the first 10% dropped as warm-up (the queue starts empty; the
    relaxation time at this load is about 70 arrivals), the rest cut into 10 batches of 450 in
    arrival order. We require the batch-means estimate within 4 standard errors of the formula
    and the standard error itself below 30% (mean wait) / 5% (P(wait)) of the formula, so that a
    wrong queue cannot pass by being noisy. Batch means understate the error a little when
    batches are correlated: checked against the exact FIFO recursion on 400 seeds, |z| > 4
    happens for about 3% of seeds (mean wait) and under 1% (P(wait)); the seed below is fixed,
    so the outcome is deterministic.
    The queue mechanics themselves are checked exactly: every simulated wait equals the
    Kiefer-Wolfowitz recursion for a FIFO c-server queue on the same arrivals and service times.
    """
    servers, service, utilisation = 2, 600.0, 0.8
    arrival_rate = utilisation * servers / service
    expected_p = erlang_c(servers, arrival_rate * service)
    expected_wait = expected_p / (servers / service - arrival_rate)  # 1066.7 s
    results = simulate(fileio.load(FIXTURES / "mmc.yaml"), cases=5000, seed=20240601)
    cases = sorted(results.payloads[0]["cases"], key=lambda case: case["arrival"])
    reviews = [dict(zip(STEP_FIELDS, step, strict=True)) for case in cases for step in case["steps"]
               if step[0] == "review"]
    assert len(reviews) == 5000
    free = [0.0] * servers  # the exact FIFO recursion on the simulated arrivals and service times
    for case, review in zip(cases, reviews, strict=True):
        start = max(case["arrival"], heapq.heappop(free))
        heapq.heappush(free, start + review["service"])
        assert review["wait"] == pytest.approx(start - case["arrival"], abs=1e-6)
    waits = [review["wait"] for review in reviews]

    kept = waits[len(waits) // 10:]
    mean_wait, se_wait = batch_means(kept)
    share, se_share = batch_means([1.0 if w > 0 else 0.0 for w in kept])
    assert se_wait < 0.30 * expected_wait
    print(f"mean wait {mean_wait:.1f} s (Erlang C {expected_wait:.1f}, batch-means SE {se_wait:.1f}); "
          f"P(wait) {share:.4f} (Erlang C {expected_p:.4f}, SE {se_share:.4f})")
    assert abs(mean_wait - expected_wait) < 4 * se_wait, (mean_wait, expected_wait, se_wait)
    assert se_share < 0.05 * expected_p
    assert abs(share - expected_p) < 4 * se_share, (share, expected_p, se_share)
    utilisation_seen = results.kpis["resources"]["approvers"]["utilisation"]
    assert utilisation_seen == pytest.approx(utilisation, abs=0.05)


def test_chain_success_is_the_product_of_step_rates() -> None:
    """Three agents with per-attempt failure 0.10, 0.05, 0.20 and no retries: success 0.684.

    Binomial: with n = 3,000 cases the standard error is sqrt(p(1-p)/n) = 0.0085; we allow 4 of
    them (dropping any one step's failures would move the rate by at least 0.036). Each failure
    is attributed to its category, node and actor.
    """
    n = 3000
    results = simulate(fileio.load(FIXTURES / "chain.yaml"), cases=n, seed=7)
    expected = (1 - 0.10) * (1 - 0.05) * (1 - 0.20)
    se = math.sqrt(expected * (1 - expected) / n)
    kpis = results.kpis
    assert abs(kpis["success_rate"] - expected) < 4 * se
    failures = kpis["failures"]
    assert failures["total"] == n - kpis["status"]["completed"]
    by_category = failures["by_category"]
    assert set(failures["by_node"]) == {"read", "check", "write"}
    assert by_category["data"] == by_category["policy"] == 0
    # the writer fails 20% of what reaches it; the checker's failures are all hand-offs
    reached_write = n - failures["by_node"]["read"] - failures["by_node"]["check"]
    assert abs(failures["by_node"]["write"] / reached_write - 0.2) < 4 * math.sqrt(0.16 / reached_write)
    assert failures["by_actor"]["checker"] == failures["by_node"]["check"]
    assert by_category["handoff"] == failures["by_node"]["check"]


def test_chain_retries_follow_policy() -> None:
    """One retry per step: a step fails only when both attempts fail, so success = prod(1 - p^2)."""
    n = 800
    results = simulate(fileio.load(FIXTURES / "chain.yaml"), cases=n, seed=8, scenario=["policies.retries=1"])
    expected = (1 - 0.10**2) * (1 - 0.05**2) * (1 - 0.20**2)
    se = math.sqrt(expected * (1 - expected) / n)
    assert abs(results.kpis["success_rate"] - expected) < 4 * se
    assert results.kpis["failures"]["retries"] > 0


def test_same_seed_same_kpis_different_seed_differs() -> None:
    workflow = fileio.load(FIXTURES / "approval.yaml")
    first = simulate(workflow, cases=40, seed=5, replications=2)
    second = simulate(workflow, cases=40, seed=5, replications=2)
    other = simulate(workflow, cases=40, seed=6, replications=2)
    assert first.kpis_json() == second.kpis_json()
    assert list(first.iter_steps()) == list(second.iter_steps())
    assert first.kpis_json() != other.kpis_json()


def test_worker_processes_give_the_same_results() -> None:
    workflow = fileio.load(FIXTURES / "approval.yaml")
    one = simulate(workflow, cases=20, seed=3, replications=3, workers=1)
    two = simulate(workflow, cases=20, seed=3, replications=3, workers=2)
    assert one.kpis_json() == two.kpis_json()
    assert [p["replication"] for p in two.payloads] == [0, 1, 2]
