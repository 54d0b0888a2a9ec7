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
    Behaviour,
    Exponential,
    Fixed,
    LogNormal,
    Normal,
    Triangular,
    Uniform,
    parse_duration,
)

__all__ = ["DEFAULT_DURATIONS", "Resolved", "Rng", "layer", "override", "sampler"]

DEFAULT_DURATIONS: dict[str, float] = {"agent": 30.0, "human": 900.0, "system": 1.0, "tool": 0.0, "none": 0.0}
"""Seconds a step takes when no behaviour gives a duration (per actor kind)."""

_BLOCK = 32
_NORMAL = NormalDist()
Sampler = Callable[["Rng"], float]


class Rng:
    """A case's random stream: uniforms in [0, 1) drawn in blocks from a seeded PCG64 generator."""

    __slots__ = ("_buffer", "_generator", "_index")

    def __init__(self, seed: int, replication: int, index: int) -> None:
        sequence = np.random.SeedSequence(seed % (1 << 64), spawn_key=(replication, index))
        self._generator = np.random.Generator(np.random.PCG64(sequence))
        self._buffer: list[float] = []
        self._index = 0

    def u(self) -> float:
        index = self._index
        buffer = self._buffer
        if index >= len(buffer):
            buffer = self._buffer = self._generator.random(_BLOCK).tolist()
            index = 0
        self._index = index + 1
        return buffer[index]


def sampler(dist: Fixed | Uniform | Triangular | Normal | LogNormal | Exponential | None, default: float) -> Sampler:
    """A function drawing one duration (seconds) from ``dist`` with a case's :class:`Rng`."""
    if dist is None:
        return _constant(default)
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
    mean = dist.mean
    return lambda rng: -mean * math.log1p(-rng.u())


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
    approve_rate: float = 1.0
    send_back_rate: float = 0.0

    @property
    def fail_total(self) -> float:
        return self.fail_tool + self.fail_reasoning + self.fail_handoff

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
        approve_rate=float(approve) if approve is not None else 1.0 - send_back,
        send_back_rate=send_back,
    )


_FLOATS = {"cost_per_1k_tokens", "cost_per_call", "approve_rate", "send_back_rate"}
_INTS = {"retries", "tokens_in", "tokens_out"}
_FAILURES = {"tool": "fail_tool", "reasoning": "fail_reasoning", "handoff": "fail_handoff"}
OVERRIDE_FIELDS = (
    "duration", "failures.tool", "failures.reasoning", "failures.handoff", "retries", "tokens_in", "tokens_out",
    "cost_per_1k_tokens", "cost_per_call", "approve_rate", "send_back_rate",
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
