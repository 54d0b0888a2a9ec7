"""Small, dependency-free statistics: quantiles, rounding for reports, Welch's t interval.

scipy is not a dependency. The two-sided 95% t quantile comes from a table for 1..30 degrees of
freedom (and 40, 60, 120), interpolated linearly in 1/df between entries (exact to about 1e-3),
and from the normal quantile 1.959964 beyond 120.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

__all__ = ["mean", "quantile", "sig", "t975", "welch"]

_T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
    11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
    20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
    29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}
_T975_KEYS = sorted(_T975)
_Z975 = NormalDist().inv_cdf(0.975)


def t975(df: float) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (two-sided 95%)."""
    if df <= 0 or math.isnan(df):
        return math.inf
    if df < 1:
        return _T975[1]
    if df > 120:
        return _Z975
    if df in _T975:
        return _T975[int(df)]
    lower = max(k for k in _T975_KEYS if k < df)
    upper = min(k for k in _T975_KEYS if k > df)
    weight = (1 / lower - 1 / df) / (1 / lower - 1 / upper)
    return _T975[lower] + weight * (_T975[upper] - _T975[lower])


def mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def quantile(values: Sequence[float], q: float, *, is_sorted: bool = False) -> float | None:
    """Linear-interpolation quantile (numpy's default method) of ``values``."""
    if not values:
        return None
    data = values if is_sorted else sorted(values)
    position = (len(data) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


def sig(value: float | None, digits: int = 6) -> float | None:
    """Round to ``digits`` significant digits (None stays None): stable numbers for reports."""
    if value is None:
        return None
    if value == 0 or not math.isfinite(value):
        return 0.0 if value == 0 else value
    return float(f"{value:.{digits}g}")


def welch(a: Sequence[float], b: Sequence[float]) -> dict[str, float | None]:
    """Difference of means ``mean(b) - mean(a)`` with a 95% Welch t confidence interval."""
    mean_a, mean_b = mean(a), mean(b)
    if mean_a is None or mean_b is None:
        return {"a": mean_a, "b": mean_b, "diff": None, "low": None, "high": None, "df": None}
    diff = mean_b - mean_a
    if len(a) < 2 or len(b) < 2:
        return {"a": mean_a, "b": mean_b, "diff": diff, "low": None, "high": None, "df": None}
    var_a = math.fsum((x - mean_a) ** 2 for x in a) / (len(a) - 1)
    var_b = math.fsum((x - mean_b) ** 2 for x in b) / (len(b) - 1)
    se2 = var_a / len(a) + var_b / len(b)
    if se2 == 0:
        return {"a": mean_a, "b": mean_b, "diff": diff, "low": diff, "high": diff, "df": math.inf}
    df = se2**2 / ((var_a / len(a)) ** 2 / (len(a) - 1) + (var_b / len(b)) ** 2 / (len(b) - 1))
    half = t975(df) * math.sqrt(se2)
    return {"a": mean_a, "b": mean_b, "diff": diff, "low": diff - half, "high": diff + half, "df": df}
