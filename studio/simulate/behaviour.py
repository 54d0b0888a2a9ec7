"""Behaviour models resolved for simulation, and seeded sampling.

A step's behaviour is layered, later layers winning field by field::

    defaults for the actor kind  <-  actor.behaviour  <-  node.behaviour
        <-  per-case column overrides for the actor  <-  per-case column overrides for the node

Tools: ``tool.behaviour`` <- ``simulation.tools[tool]`` <- per-case overrides for the tool.
Retries: ``behaviour.retries``, else ``policies.retries``.

Randomness: every case draws from its own ``numpy.random.Generator`` (PCG64) seeded from
``SeedSequence(seed, spawn_key=(replication, case index))``, so a case's numbers never depend on
which other cases ran or in which order. Uniforms are drawn in small blocks and turned into
durations by inverse transform.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

import numpy as np

from studio.model import (
    AnyDistribution,
    Behaviour,
    Exponential,
    ExponNorm,
    Fixed,
    Gamma,
    LogNormal,
    Normal,
    Triangular,
    Uniform,
    parse_duration,
)

__all__ = ["DEFAULT_DURATIONS", "Resolved", "Rng", "layer", "override", "quantile", "sampler"]

DEFAULT_DURATIONS: dict[str, float] = {"agent": 30.0, "human": 900.0, "system": 1.0, "tool": 0.0, "none": 0.0}
"""Seconds a step takes when no behaviour gives a duration (per actor kind)."""

_BLOCK = 32
_BATCH_STREAMS = 1 << 40
"""Batch streams' second key starts here (a node's file position is added)."""
_NORMAL = NormalDist()
Sampler = Callable[["Rng"], float]


class Rng:
    """A case's random stream: uniforms in [0, 1) drawn in blocks from a seeded PCG64 generator."""

    __slots__ = ("_buffer", "_generator", "_index", "_key")

    def __init__(self, seed: int, replication: int, index: int, *, stream: tuple[int, ...] = ()) -> None:
        sequence = np.random.SeedSequence(seed % (1 << 64), spawn_key=(replication, index, *stream))
        self._generator = np.random.Generator(np.random.PCG64(sequence))
        self._buffer: list[float] = []
        self._index = 0
        self._key = (seed, replication)

    def batch(self, node: int, number: int) -> Rng:
        """The stream of batch ``number`` at the node in file position ``node``: the same whichever case
        of the batch fires it (its key is three long, a case's two, so it is no case's stream)."""
        seed, replication = self._key
        return Rng(seed, replication, _BATCH_STREAMS + node, stream=(number,))

    def u(self) -> float:
        index = self._index
        buffer = self._buffer
        if index >= len(buffer):
            buffer = self._buffer = self._generator.random(_BLOCK).tolist()
            index = 0
        self._index = index + 1
        return buffer[index]


def sampler(dist: AnyDistribution | None, default: float) -> Sampler:
    """A function drawing one duration (seconds) from ``dist`` with a case's :class:`Rng`.

    One uniform per draw, turned into a duration by inverse transform. A shift ``loc`` is added to
    the draw; ``min``/``max`` truncate it by drawing the uniform from ``[F(min), F(max)]`` (no
    rejection), so the result never leaves the bounds and stays one uniform per draw.
    """
    if dist is None:
        return _constant(default)
    if dist.minimum is not None or dist.maximum is not None:
        return _truncated(dist)
    if dist.loc is None:
        return _plain(dist)
    shift = dist.loc
    if isinstance(dist, (Normal, ExponNorm)):  # the floor at zero applies to the shifted draw
        q, _ = _functions(dist)
        return lambda rng: max(0.0, shift + q(rng.u()))
    base = _plain(dist)
    return lambda rng: shift + base(rng)


def _plain(dist: AnyDistribution) -> Sampler:
    """The draw without shift or truncation (the numbers every earlier release drew)."""
    if isinstance(dist, Fixed):
        return _constant(dist.value)
    if isinstance(dist, Uniform):
        low, span = dist.low, dist.high - dist.low
        return lambda rng: low + rng.u() * span
    if isinstance(dist, Triangular):
        low, mode, high = dist.low, dist.mode, dist.high
        if high == low:
            return _constant(low)
        cut = (mode - low) / (high - low)
        left, right = (high - low) * (mode - low), (high - low) * (high - mode)

        def triangular(rng: Rng) -> float:
            u = rng.u()
            return low + math.sqrt(u * left) if u < cut else high - math.sqrt((1.0 - u) * right)

        return triangular
    if isinstance(dist, Normal):
        mean, sd = dist.mean, dist.sd

        def normal(rng: Rng) -> float:
            return max(0.0, mean + sd * _NORMAL.inv_cdf(_open(rng.u())))

        return normal
    if isinstance(dist, LogNormal):
        if dist.sd == 0:
            return _constant(dist.mean)
        sigma2 = math.log1p((dist.sd / dist.mean) ** 2)
        mu, sigma = math.log(dist.mean) - sigma2 / 2, math.sqrt(sigma2)

        def lognormal(rng: Rng) -> float:
            return math.exp(mu + sigma * _NORMAL.inv_cdf(_open(rng.u())))

        return lognormal
    if isinstance(dist, Gamma):
        gamma_q, _ = _functions(dist)
        return lambda rng: gamma_q(rng.u())
    if isinstance(dist, ExponNorm):
        q, _ = _functions(dist)
        return lambda rng: max(0.0, q(rng.u()))
    mean = dist.mean
    return lambda rng: -mean * math.log1p(-rng.u())


def _truncated(dist: AnyDistribution) -> Sampler:
    shift = dist.loc or 0.0
    low = dist.minimum if dist.minimum is not None else -math.inf
    high = dist.maximum if dist.maximum is not None else math.inf
    q, cdf = _functions(dist)
    bottom = cdf(low - shift) if dist.minimum is not None else 0.0
    top = cdf(high - shift) if dist.maximum is not None else 1.0
    span = top - bottom
    if not span > 0.0:  # no probability inside [min, max]: the nearest bound, always
        value = min(max(shift + q(0.5), low), high)
        return _constant(max(0.0, value))

    def truncated(rng: Rng) -> float:
        x = shift + q(bottom + rng.u() * span)
        return max(0.0, min(max(x, low), high))  # the clamp only absorbs rounding at the bounds

    return truncated


def quantile(dist: AnyDistribution, u: float) -> float:
    """The duration a uniform ``u`` in [0, 1) gives under ``dist``: what :func:`sampler` draws."""
    return sampler(dist, 0.0)(_Constant(u))


class _Constant(Rng):
    """A stream that always gives the same uniform (for :func:`quantile`)."""

    __slots__ = ("_value",)

    def __init__(self, value: float) -> None:  # no seeded generator: the one value is the stream
        self._value = value

    def u(self) -> float:
        return self._value


Quantile = Callable[[float], float]


def _functions(dist: AnyDistribution) -> tuple[Quantile, Quantile]:
    """(quantile, cdf) of the unshifted distribution; the normal ones are not floored at zero."""
    if isinstance(dist, Fixed):
        value = dist.value
        return (lambda u: value), (lambda x: 1.0 if x >= value else 0.0)
    if isinstance(dist, Uniform):
        low, high = dist.low, dist.high
        if high == low:
            return (lambda u: low), (lambda x: 1.0 if x >= low else 0.0)
        return (lambda u: low + u * (high - low)), (lambda x: min(1.0, max(0.0, (x - low) / (high - low))))
    if isinstance(dist, Triangular):
        low, mode, high = dist.low, dist.mode, dist.high
        if high == low:
            return (lambda u: low), (lambda x: 1.0 if x >= low else 0.0)
        cut = (mode - low) / (high - low)
        left, right = (high - low) * (mode - low), (high - low) * (high - mode)

        def tri_q(u: float) -> float:
            return low + math.sqrt(u * left) if u < cut else high - math.sqrt((1.0 - u) * right)

        def tri_cdf(x: float) -> float:
            if x <= low:
                return 0.0
            if x >= high:
                return 1.0
            return (x - low) ** 2 / left if x < mode else 1.0 - (high - x) ** 2 / right

        return tri_q, tri_cdf
    if isinstance(dist, Normal):
        mean, sd = dist.mean, dist.sd
        if sd == 0:
            return (lambda u: mean), (lambda x: 1.0 if x >= mean else 0.0)
        normal = NormalDist(mean, sd)
        return (lambda u: normal.inv_cdf(_open(u))), normal.cdf
    if isinstance(dist, LogNormal):
        mean = dist.mean
        if dist.sd == 0:
            return (lambda u: mean), (lambda x: 1.0 if x >= mean else 0.0)
        sigma2 = math.log1p((dist.sd / mean) ** 2)
        under = NormalDist(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))
        return (lambda u: math.exp(under.inv_cdf(_open(u)))), (lambda x: under.cdf(math.log(x)) if x > 0 else 0.0)
    if isinstance(dist, Exponential):
        rate_mean = dist.mean
        if rate_mean == 0:
            return (lambda u: 0.0), (lambda x: 1.0 if x >= 0 else 0.0)
        return (lambda u: -rate_mean * math.log1p(-u)), (lambda x: -math.expm1(-x / rate_mean) if x > 0 else 0.0)
    if isinstance(dist, Gamma):
        return _gamma(*dist.shape_scale)
    return _exponnorm(dist.k, dist.scale)


def _gamma(shape: float, scale: float) -> tuple[Quantile, Quantile]:
    from scipy.special import gammainc, gammaincinv  # noqa: PLC0415 - scipy loads only for these

    def q(u: float) -> float:
        return float(gammaincinv(shape, u)) * scale

    def cdf(x: float) -> float:
        return float(gammainc(shape, x / scale)) if x > 0 else 0.0

    return q, cdf


def _exponnorm(k: float, scale: float) -> tuple[Quantile, Quantile]:
    """scipy's ``exponnorm(K)`` scaled: Y = Z + K E with Z standard normal, E standard exponential.

    The quantile solves F(y) = u by Newton's method kept inside a bracket (bisection when a step
    leaves it): F(y) = Phi(y) - exp(1/(2K^2) - y/K + log Phi(y - 1/K)).
    """
    from scipy.special import log_ndtr, ndtr, ndtri  # noqa: PLC0415 - scipy loads only for these

    inv_k = 1.0 / k
    half = 0.5 * inv_k * inv_k

    def cdf_std(y: float) -> float:
        tail = math.exp(half - y * inv_k + float(log_ndtr(y - inv_k)))
        return min(1.0, max(0.0, float(ndtr(y)) - tail))

    def pdf_std(y: float) -> float:
        return inv_k * math.exp(half - y * inv_k + float(log_ndtr(y - inv_k)))

    def q(u: float) -> float:
        u = _open(u)
        if u >= 1.0:
            return math.inf
        lo = float(ndtri(u))  # Y is larger than Z in distribution
        v = 0.5 * (1.0 + u)  # P(Z <= a, KE <= b) = v * v >= u
        hi = float(ndtri(v)) - k * math.log1p(-v)
        y = min(max(k + float(ndtri(u)) * math.sqrt(1.0 + k * k), lo), hi)  # moment-matched start
        for _ in range(200):
            f = cdf_std(y) - u
            if f == 0.0:
                break
            if f > 0:
                hi = y
            else:
                lo = y
            density = pdf_std(y)
            step = y - f / density if density > 0 else math.nan
            if abs(step - y) <= 1e-13 * max(1.0, abs(y)) or hi - lo <= 1e-13 * max(1.0, abs(y)):
                y = step if lo <= step <= hi else y
                break
            y = step if lo < step < hi else 0.5 * (lo + hi)
        return y * scale

    return q, (lambda x: cdf_std(x / scale))


def _open(u: float) -> float:
    return u if u > 0.0 else 5e-324


def _constant(value: float) -> Sampler:
    return lambda rng: value


@dataclass(frozen=True)
class Resolved:
    """A step's behaviour with every layer applied: plain numbers, fast to read in the hot path."""

    duration: Sampler
    fail_tool: float = 0.0
    fail_reasoning: float = 0.0
    fail_handoff: float = 0.0
    retries: int = 1
    tokens_in: int = 0
    tokens_out: int = 0
    cost_per_1k_tokens: float = 0.0
    cost_per_call: float = 0.0
    cost_per_hour: float = 0.0
    approve_rate: float = 1.0
    send_back_rate: float = 0.0

    @property
    def fail_total(self) -> float:
        return self.fail_tool + self.fail_reasoning + self.fail_handoff

    def time_cost(self, seconds: float) -> float:
        """What ``seconds`` of this actor's working time cost (``cost_per_hour``; 0.0 without a rate)."""
        return seconds / 3600.0 * self.cost_per_hour if self.cost_per_hour else 0.0

    @property
    def call_cost(self) -> float:
        """Cost of one attempt: per call plus tokens."""
        return self.cost_per_call + (self.tokens_in + self.tokens_out) / 1000.0 * self.cost_per_1k_tokens


def layer(default_seconds: float, retries: int, *behaviours: Behaviour | None) -> Resolved:
    """Resolve layered behaviours (later wins) on top of the defaults."""
    fields: dict[str, Any] = {}
    for behaviour in behaviours:
        if behaviour is None:
            continue
        for name in Behaviour.model_fields:
            value = getattr(behaviour, name)
            if value is not None:
                fields[name] = value
    failures = fields.get("failures")
    send_back = float(fields.get("send_back_rate", 0.0))
    approve = fields.get("approve_rate")
    return Resolved(
        duration=sampler(fields.get("duration"), default_seconds),
        fail_tool=failures.tool if failures is not None else 0.0,
        fail_reasoning=failures.reasoning if failures is not None else 0.0,
        fail_handoff=failures.handoff if failures is not None else 0.0,
        retries=int(fields.get("retries", retries)),
        tokens_in=int(fields.get("tokens_in", 0)),
        tokens_out=int(fields.get("tokens_out", 0)),
        cost_per_1k_tokens=float(fields.get("cost_per_1k_tokens", 0.0)),
        cost_per_call=float(fields.get("cost_per_call", 0.0)),
        cost_per_hour=float(fields.get("cost_per_hour", 0.0)),
        approve_rate=float(approve) if approve is not None else 1.0 - send_back,
        send_back_rate=send_back,
    )


_FLOATS = {"cost_per_1k_tokens", "cost_per_call", "cost_per_hour", "approve_rate", "send_back_rate"}
_INTS = {"retries", "tokens_in", "tokens_out"}
_FAILURES = {"tool": "fail_tool", "reasoning": "fail_reasoning", "handoff": "fail_handoff"}
OVERRIDE_FIELDS = (
    "duration", "failures.tool", "failures.reasoning", "failures.handoff", "retries", "tokens_in", "tokens_out",
    "cost_per_1k_tokens", "cost_per_call", "cost_per_hour", "approve_rate", "send_back_rate",
)
"""Behaviour fields a case column may override (``simulation.overrides``)."""


def override(base: Resolved, fields: Mapping[str, Any]) -> Resolved:
    """``base`` with per-case values (``{"duration": "15m", "failures.tool": 0.2, ...}``) applied.

    Raises ``ValueError`` with a readable message when a value does not fit its field.
    """
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "duration":
            seconds = parse_duration(value)
            changes["duration"] = _constant(seconds)
        elif name.startswith("failures."):
            changes[_FAILURES[name.split(".", 1)[1]]] = _probability(name, value)
        elif name in ("approve_rate", "send_back_rate"):
            changes[name] = _probability(name, value)
        elif name in _FLOATS:
            changes[name] = _non_negative(name, value)
        elif name in _INTS:
            changes[name] = int(_non_negative(name, value))
        else:  # pragma: no cover - names are checked when the plan is compiled
            raise ValueError(f"`{name}` cannot be overridden per case")
    if "approve_rate" not in fields and "send_back_rate" in changes:
        changes["approve_rate"] = 1.0 - changes["send_back_rate"]
    resolved = replace(base, **changes)
    if resolved.fail_total > 1.0 + 1e-12:
        raise ValueError("failure probabilities add up to more than 1")
    return resolved


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"`{name}` needs a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"`{name}` needs a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"`{name}` needs a finite number, got {value!r}")
    return number


def _probability(name: str, value: Any) -> float:
    number = _number(name, value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"`{name}` is a probability between 0 and 1, got {value!r}")
    return number


def _non_negative(name: str, value: Any) -> float:
    number = _number(name, value)
    if number < 0:
        raise ValueError(f"`{name}` must not be negative, got {value!r}")
    return number
