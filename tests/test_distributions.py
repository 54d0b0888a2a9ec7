"""Duration distributions: gamma, exponnorm, a shift (`loc`) and truncation (`min`/`max`) on every one.

Each draw is one uniform from the case's stream turned into a duration by inverse transform, so the
moments of 50,000 seeded draws are checked against theory within a few standard errors.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from scipy import stats

from studio import fileio
from studio.model import DurationModel, Workflow, distribution_mean, parse_duration
from studio.simulate.behaviour import Rng, quantile, sampler

N = 50_000
ADAPTER: TypeAdapter[Any] = TypeAdapter(DurationModel)


def parse(data: Any) -> Any:
    return ADAPTER.validate_python(data)


def draws(data: Any, n: int = N, seed: int = 7) -> list[float]:
    draw = sampler(parse(data), 0.0)
    rng = Rng(seed, 0, 0)
    return [draw(rng) for _ in range(n)]


def assert_moments(xs: list[float], mean: float, var: float, excess_kurtosis: float, z: float = 4.5) -> None:
    """Sample mean and variance within ``z`` standard errors of the theory."""
    n = len(xs)
    sample_mean, sample_var = statistics.fmean(xs), statistics.variance(xs)
    se_mean = math.sqrt(var / n)
    se_var = var * math.sqrt((excess_kurtosis + 2.0) / n)
    assert abs(sample_mean - mean) < z * se_mean, (sample_mean, mean, se_mean)
    assert abs(sample_var - var) < z * se_var, (sample_var, var, se_var)


def theory(frozen: Any) -> tuple[float, float, float]:
    mean, var, kurt = frozen.stats(moments="mvk")
    return float(mean), float(var), float(kurt)


@pytest.mark.parametrize(
    ("data", "frozen"),
    [
        ({"dist": "gamma", "shape": 2.5, "scale": "100s"}, stats.gamma(2.5, scale=100)),
        ({"dist": "gamma", "shape": 0.6, "scale": "1h"}, stats.gamma(0.6, scale=3600)),
        ({"dist": "gamma", "mean": "5m", "sd": "1m"}, stats.gamma(25.0, scale=12.0)),
        ({"dist": "gamma", "shape": 3, "scale": "20s", "loc": "1m"}, stats.gamma(3, loc=60, scale=20)),
        ({"dist": "exponnorm", "k": 1.5, "loc": "10m", "scale": "1m"}, stats.exponnorm(1.5, loc=600, scale=60)),
        ({"dist": "exponnorm", "k": 0.2, "loc": "10m", "scale": "1m"}, stats.exponnorm(0.2, loc=600, scale=60)),
        ({"dist": "exponnorm", "k": 20, "loc": "10m", "scale": "6s"}, stats.exponnorm(20, loc=600, scale=6)),
    ],
    ids=["gamma-shape-scale", "gamma-small-shape", "gamma-mean-sd", "gamma-loc", "exponnorm",
         "exponnorm-near-normal", "exponnorm-near-exponential"],
)
def test_new_distributions_match_their_theory(data: dict[str, Any], frozen: Any) -> None:
    mean, var, kurt = theory(frozen)
    xs = draws(data)
    assert_moments(xs, mean, var, kurt)
    assert distribution_mean(parse(data)) == pytest.approx(mean, rel=1e-12)


def test_gamma_by_mean_and_sd_is_the_same_distribution_as_by_shape_and_scale() -> None:
    by_moments = draws({"dist": "gamma", "mean": "5m", "sd": "1m"}, n=200)
    by_shape = draws({"dist": "gamma", "shape": 25, "scale": "12s"}, n=200)
    assert by_moments == pytest.approx(by_shape, rel=1e-12)


def test_exponnorm_draws_are_scipys_quantiles_of_the_same_uniforms() -> None:
    dist = parse({"dist": "exponnorm", "k": 1.5, "loc": "10m", "scale": "1m"})
    for u in (1e-6, 0.01, 0.25, 0.5, 0.75, 0.99, 0.999999):
        assert quantile(dist, u) == pytest.approx(float(stats.exponnorm.ppf(u, 1.5, loc=600, scale=60)), rel=1e-9)


SHIFTED = [
    {"dist": "fixed", "value": "20s", "loc": "10s"},
    {"dist": "uniform", "low": "1m", "high": "3m", "loc": "30s"},
    {"dist": "triangular", "low": "1m", "mode": "2m", "high": "5m", "loc": "1m"},
    {"dist": "normal", "mean": "10m", "sd": "1m", "loc": "1m"},
    {"dist": "lognormal", "mean": "10m", "sd": "5m", "loc": "1m"},
    {"dist": "exponential", "mean": "10m", "loc": "2m"},
]


@pytest.mark.parametrize("data", SHIFTED, ids=[d["dist"] for d in SHIFTED])
def test_loc_shifts_every_draw_of_every_distribution(data: dict[str, Any]) -> None:
    plain = {k: v for k, v in data.items() if k != "loc"}
    shift = parse_duration(data["loc"])
    shifted, unshifted = draws(data, n=500), draws(plain, n=500)
    assert [a - shift for a in shifted] == pytest.approx(unshifted, rel=1e-12, abs=1e-9)
    assert distribution_mean(parse(data)) == pytest.approx(distribution_mean(parse(plain)) + shift)


TRUNCATED = [
    ({"dist": "fixed", "value": "20s", "max": "15s"}, None),
    ({"dist": "uniform", "low": "1m", "high": "5m", "min": "2m", "max": "3m"}, stats.uniform(60, 240)),
    ({"dist": "triangular", "low": "1m", "mode": "2m", "high": "5m", "min": "90s"}, stats.triang(0.25, 60, 240)),
    ({"dist": "normal", "mean": "10m", "sd": "3m", "min": "8m", "max": "15m"}, stats.norm(600, 180)),
    ({"dist": "lognormal", "mean": "10m", "sd": "5m", "max": "12m"}, None),
    ({"dist": "exponential", "mean": "10m", "min": "1m", "max": "20m"}, stats.expon(scale=600)),
    ({"dist": "gamma", "shape": 2, "scale": "5m", "loc": "1m", "min": "5m", "max": "30m"},
     stats.gamma(2, loc=60, scale=300)),
    ({"dist": "exponnorm", "k": 2, "loc": "10m", "scale": "1m", "min": "9m", "max": "14m"},
     stats.exponnorm(2, loc=600, scale=60)),
]


@pytest.mark.parametrize(("data", "frozen"), TRUNCATED, ids=[d["dist"] for d, _ in TRUNCATED])
def test_truncation_never_leaves_min_max_and_has_the_truncated_mean(data: dict[str, Any], frozen: Any) -> None:
    dist = parse(data)
    low = dist.minimum if dist.minimum is not None else 0.0
    high = dist.maximum if dist.maximum is not None else math.inf
    xs = draws(data, n=20_000)
    assert min(xs) >= low
    assert max(xs) <= high
    if frozen is not None:
        lb = dist.minimum if dist.minimum is not None else -math.inf
        ub = dist.maximum if dist.maximum is not None else math.inf
        mean = float(frozen.expect(lambda x: x, lb=lb, ub=ub, conditional=True))
        second = float(frozen.expect(lambda x: x * x, lb=lb, ub=ub, conditional=True))
        sd = math.sqrt(second - mean * mean)
        assert abs(statistics.fmean(xs) - mean) < 4.5 * sd / math.sqrt(len(xs))
        assert distribution_mean(dist) == pytest.approx(mean, rel=1e-3)


def test_truncation_draws_one_uniform_per_draw() -> None:
    """The truncated sampler is the plain quantile of a rescaled uniform: same stream, no rejection."""
    data = {"dist": "exponential", "mean": "10m", "min": "1m", "max": "20m"}
    xs = draws(data, n=100, seed=3)
    rng = Rng(3, 0, 0)
    low, high = stats.expon(scale=600).cdf(60), stats.expon(scale=600).cdf(1200)
    expected = [float(stats.expon(scale=600).ppf(low + rng.u() * (high - low))) for _ in range(100)]
    assert xs == pytest.approx(expected, rel=1e-9)


def test_a_range_with_no_probability_gives_the_nearest_bound() -> None:
    assert set(draws({"dist": "uniform", "low": "1m", "high": "2m", "min": "5m", "max": "6m"}, n=10)) == {300.0}


def test_existing_distributions_draw_the_same_numbers_as_before() -> None:
    """Without loc/min/max, the plain inverse transforms of earlier releases (exact values)."""
    rng = Rng(11, 0, 0)
    us = [rng.u() for _ in range(5)]
    assert draws({"dist": "uniform", "low": "1m", "high": "3m"}, n=5, seed=11) == [60 + u * 120 for u in us]
    assert draws({"dist": "exponential", "mean": "10m"}, n=5, seed=11) == [-600 * math.log1p(-u) for u in us]
    normal = statistics.NormalDist()
    assert draws({"dist": "normal", "mean": "10m", "sd": "1m"}, n=5, seed=11) == [
        max(0.0, 600 + 60 * normal.inv_cdf(u)) for u in us
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dist": "gamma", "shape": 2}, "either `shape` and `scale`, or `mean` and `sd`"),
        ({"dist": "gamma", "shape": 2, "scale": "1m", "mean": "2m"}, "either `shape` and `scale`, or `mean` and `sd`"),
        ({"dist": "gamma", "shape": 0, "scale": "1m"}, "greater than 0"),
        ({"dist": "gamma", "mean": "0s", "sd": "1m"}, "greater than zero"),
        ({"dist": "exponnorm", "k": 1.5, "scale": "0s"}, "`scale` greater than zero"),
        ({"dist": "exponnorm", "k": -1, "scale": "1m"}, "greater than 0"),
        ({"dist": "uniform", "low": "1m", "high": "2m", "min": "5m", "max": "1m"}, "`min` must not be greater"),
        ({"dist": "normal", "mean": "1m", "sd": "1s", "lower": "1s"}, "Extra inputs"),
    ],
)
def test_bad_parameters_are_clear_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse(data)
    assert message in str(caught.value)


def test_load_save_load_is_exact() -> None:
    durations = [
        {"dist": "gamma", "shape": 2.5, "scale": "2m", "loc": "30s", "min": "1m", "max": "1h"},
        {"dist": "gamma", "mean": "5m", "sd": "1.5m"},
        {"dist": "exponnorm", "k": 1.25, "loc": "10m", "scale": "45s", "max": "30m"},
        {"dist": "fixed", "value": "20s", "loc": "5s"},
        {"dist": "normal", "mean": "10m", "sd": "2m", "min": "0s"},
        "15m",
    ]
    nodes: list[dict[str, Any]] = [{"id": "start", "kind": "start"}]
    edges: list[dict[str, Any]] = []
    previous = "start"
    for i, duration in enumerate(durations):
        node = f"step_{i}"
        nodes.append({"id": node, "kind": "task", "actor": "bot", "behaviour": {"duration": duration}})
        edges.append({"from": previous, "to": node})
        previous = node
    nodes.append({"id": "done", "kind": "end"})
    edges.append({"from": previous, "to": "done"})
    workflow = Workflow.model_validate({
        "apiVersion": "studio/v1", "metadata": {"name": "durations"},
        "actors": [{"id": "bot", "kind": "agent"}], "nodes": nodes, "edges": edges,
    })
    text = fileio.dumps(workflow)
    again = fileio.loads(text)
    assert again == workflow
    assert fileio.dumps(again) == text
    assert "dist: gamma\n" in text and "shape: 2.5\n" in text and "dist: exponnorm\n" in text
    written = [n["behaviour"]["duration"] for n in fileio.to_data(again)["nodes"][1:-1]]
    assert written[0] == {"dist": "gamma", "shape": 2.5, "scale": "2m", "loc": "30s", "min": "1m", "max": "1h"}
    assert written[1] == {"dist": "gamma", "mean": "5m", "sd": "1.5m"}
    assert written[3] == {"dist": "fixed", "value": "20s", "loc": "5s"}
    assert written[5] == "15m"
