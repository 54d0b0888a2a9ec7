"""The workflow model: plain pydantic v2 data, the single source of truth.

Everything else in the studio takes a :class:`Workflow`. This module imports pydantic and the
standard library only; it never imports networkx, graphviz, ipywidgets or LangGraph, and loading
a model never executes anything from the file.

Shape of a workflow file (YAML or JSON)::

    apiVersion: studio/v1
    metadata: {name, version, owner, description}
    actors:        [agent | human | system]      discriminated by `kind`
    tools:         [{id, tier, rate_limit, timeout, ...}]
    data_sources:  [{id, system, freshness}]
    nodes:         [start | end | task | approval | decision | parallel | join | subworkflow | wait]
    edges:         [{from, to, when, default, label}]
    policies:      {max_turns, max_repeats, approval_sla, escalate_to | escalation, autonomy, audit}
    simulation:    {seed, cases, arrivals, sample_data, gold_data, tools, overrides}
    workshop:      {date, attendees, notes, nodes: {node id: {raci, questions, decisions}}}   (optional)

Durations are seconds internally and written back with units (``20s``, ``15m``, ``2h``, ``1d``).
Unknown fields are rejected everywhere: a typo is an error, not silently ignored.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

from studio import _display

API_VERSION: Literal["studio/v1"] = "studio/v1"

# --------------------------------------------------------------------------- scalar types

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|min|m|h|d|w)\s*$")
_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
_SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*)?(?:\+[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*)?$"
)


def parse_duration(value: Any) -> float:
    """Return seconds for ``"20s"``, ``"15m"``, ``"2h"``, ``"1d"``, ``"1.5h"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number with a unit such as `20s`, `15m`, `2h` or `1d`")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match is None:
            raise ValueError(
                f"`{value}` is not a duration; write a number with a unit: `500ms`, `20s`, `15m`, `2h`, `1d` or `1w`"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError("a duration is a number with a unit such as `20s`, `15m`, `2h` or `1d`")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration must be a finite, non-negative amount of time")
    return seconds


def _number(value: float) -> str:
    """A number without exponent or trailing zeros (at most six decimals)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def format_duration(seconds: float) -> str:
    """Write seconds back with the largest unit that keeps the number exact to three decimals."""
    if seconds == 0:
        return "0s"
    for unit in ("w", "d", "h", "m", "s"):
        amount = seconds / _UNITS[unit]
        if amount >= 1 and abs(amount * 1000 - round(amount * 1000)) < 1e-6:
            return f"{_number(round(amount, 3))}{unit}"
    if seconds < 1:
        return f"{_number(seconds * 1000)}ms"
    return f"{_number(seconds)}s"


def iso_duration(seconds: float) -> str:
    """Seconds as an ISO 8601 duration (exports): ``PT15M``, ``P1D``, ``P2DT4H``, ``PT0.5S``."""
    millis = round(seconds * 1000)
    days, millis = divmod(millis, 86_400_000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    out = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if secs or millis:
        clock += f"{secs}.{millis:03d}".rstrip("0").rstrip(".") + "S"
    if clock:
        out += "T" + clock
    return out if out != "P" else "PT0S"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _DURATION_RE.pattern},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration: `500ms`, `20s`, `15m`, `2h`, `1d`, `1w`, or seconds.",
        }
    ),
]
"""Seconds; written as ``20s``, ``15m``, ``2h``, ``1d`` in files."""

_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*(ms|s|min|m|h|d|w)\s*$")


def parse_rate(value: Any) -> float:
    """Return events per second for ``"12/h"``, ``"100/1m"`` or a number per second."""
    if isinstance(value, bool):
        raise ValueError("a rate is written `12/h`, `100/1m` or `0.5/s`")
    if isinstance(value, (int, float)):
        rate = float(value)
    elif isinstance(value, str):
        match = _RATE_RE.match(value)
        if match is None:
            raise ValueError(f"`{value}` is not a rate; write events per unit of time: `12/h`, `100/1m`")
        per = float(match.group(2) or 1) * _UNITS[match.group(3)]
        if per == 0:
            raise ValueError(f"`{value}`: the period of a rate must be longer than zero")
        rate = float(match.group(1)) / per
    else:
        raise ValueError("a rate is written `12/h`, `100/1m` or `0.5/s`")
    if not math.isfinite(rate) or rate < 0:
        raise ValueError("a rate must be a finite, non-negative number")
    return rate


def format_rate(per_second: float) -> str:
    """Write a rate per the smallest unit that makes it a whole number, else per day."""
    for unit in ("s", "m", "h", "d"):
        amount = per_second * _UNITS[unit]
        if amount >= 1 and abs(amount - round(amount)) < 1e-9:
            return f"{round(amount)}/{unit}"
    return f"{_number(per_second * 86400)}/d"


Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    PlainSerializer(format_rate, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _RATE_RE.pattern},
                {"type": "number", "minimum": 0},
            ],
            "description": "Events per unit of time: `12/h`, `100/1m`, `0.5/s`, or per second.",
        }
    ),
]
"""Events per second; written as ``12/h`` in files."""

Identifier = Annotated[str, Field(pattern=_ID_PATTERN, min_length=1, max_length=80)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
SemVer = Annotated[str, Field(pattern=_SEMVER_PATTERN)]


class StrEnum(str, Enum):
    """String enum that serialises as its value."""

    def __str__(self) -> str:
        return str(self.value)


class Tier(StrEnum):
    """Permission tier of a tool at the tool gateway."""

    READ_ONLY = "read_only"
    RESTRICTED_WRITE = "restricted_write"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return {"read_only": 0, "restricted_write": 1, "critical": 2}[self.value]


class Autonomy(StrEnum):
    FULLY_AUTONOMOUS = "fully_autonomous"
    HUMAN_IN_THE_LOOP = "human_in_the_loop"
    HUMAN_ON_THE_LOOP = "human_on_the_loop"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class Strict(BaseModel):
    """Base of every model: unknown fields are errors, names may be given by alias."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


# --------------------------------------------------------------------------- distributions

_BOUNDS = ("loc", "min", "max")


class _Shiftable(Strict):
    """What every distribution may add: a shift ``loc`` (added to each draw) and truncation to
    ``[min, max]`` (drawn by inverse transform on the truncated range; see docs/workflow-format.md)."""

    loc: Duration | None = Field(default=None, description="Shift added to every draw.")
    minimum: Duration | None = Field(default=None, alias="min", description="Truncate draws below this.")
    maximum: Duration | None = Field(default=None, alias="max", description="Truncate draws above this.")

    @model_validator(mode="after")
    def _bounds(self) -> Any:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("`min` must not be greater than `max`")
        return self

    @property
    def bounded(self) -> bool:
        """True when a shift or a truncation is set."""
        return self.loc is not None or self.minimum is not None or self.maximum is not None

    @model_serializer(mode="wrap")
    def _written(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(data, dict):  # the shift and the bounds after the distribution's own parameters
            data = {**{k: v for k, v in data.items() if k not in _BOUNDS},
                    **{k: data[k] for k in _BOUNDS if k in data}}
        return data


class Fixed(_Shiftable):
    """Always the same duration; written as just the duration (``duration: 20s``)."""

    dist: Literal["fixed"]
    value: Duration

    @model_serializer(mode="wrap")
    def _written(self, handler: Any) -> Any:
        if not self.bounded:
            return format_duration(self.value)
        return _Shiftable._written(self, handler)


class Uniform(_Shiftable):
    dist: Literal["uniform"]
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.low > self.high:
            raise ValueError("`low` must not be greater than `high`")
        return self


class Triangular(_Shiftable):
    dist: Literal["triangular"]
    low: Duration
    mode: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high:
            raise ValueError("a triangular distribution needs `low` <= `mode` <= `high`")
        return self


class Normal(_Shiftable):
    """Normal distribution, truncated at zero when sampled."""

    dist: Literal["normal"]
    mean: Duration
    sd: Duration


class LogNormal(_Shiftable):
    """Log-normal distribution given by the mean and standard deviation of the duration itself."""

    dist: Literal["lognormal"]
    mean: Duration
    sd: Duration

    @model_validator(mode="after")
    def _positive(self) -> LogNormal:
        if self.mean <= 0:
            raise ValueError("a lognormal distribution needs a `mean` greater than zero")
        return self


class Exponential(_Shiftable):
    dist: Literal["exponential"]
    mean: Duration


class Gamma(_Shiftable):
    """Gamma distribution: ``shape`` and ``scale`` (scipy's ``a`` and ``scale``), or the ``mean`` and
    ``sd`` of the (unshifted) duration; exactly one of the two pairs."""

    dist: Literal["gamma"]
    shape: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    scale: Duration | None = None
    mean: Duration | None = None
    sd: Duration | None = None

    @model_validator(mode="after")
    def _parameters(self) -> Gamma:
        by_shape = self.shape is not None or self.scale is not None
        by_moments = self.mean is not None or self.sd is not None
        if by_shape == by_moments or (by_shape and (self.shape is None or self.scale is None)) \
                or (by_moments and (self.mean is None or self.sd is None)):
            raise ValueError("a gamma distribution needs either `shape` and `scale`, or `mean` and `sd`")
        if (self.scale is not None and self.scale <= 0) or (self.mean is not None and self.mean <= 0) \
                or (self.sd is not None and self.sd <= 0):
            raise ValueError("a gamma distribution needs `scale`, `mean` and `sd` greater than zero")
        return self

    @property
    def shape_scale(self) -> tuple[float, float]:
        """(shape, scale), from whichever pair was given."""
        if self.shape is not None and self.scale is not None:
            return self.shape, self.scale
        mean, sd = self.mean or 0.0, self.sd or 0.0
        return (mean / sd) ** 2, sd * sd / mean


class ExponNorm(_Shiftable):
    """Exponentially modified normal, as scipy's ``exponnorm(K, loc, scale)`` (and Prosimos's
    ``exponnorm``): a normal with mean ``loc`` and sd ``scale`` plus an exponential with mean
    ``k * scale``. Draws below zero become zero (as for ``normal``)."""

    dist: Literal["exponnorm"]
    k: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    scale: Duration

    @model_validator(mode="after")
    def _positive(self) -> ExponNorm:
        if self.scale <= 0:
            raise ValueError("an exponnorm distribution needs a `scale` greater than zero")
        return self


Distribution = Annotated[
    Union[Fixed, Uniform, Triangular, Normal, LogNormal, Exponential, Gamma, ExponNorm],
    Field(discriminator="dist"),
]
AnyDistribution = Fixed | Uniform | Triangular | Normal | LogNormal | Exponential | Gamma | ExponNorm


def _duration_shorthand(value: Any) -> Any:
    """``duration: 20s`` is short for ``duration: {dist: fixed, value: 20s}``."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return {"dist": "fixed", "value": value}
    return value


DurationModel = Annotated[
    Distribution,
    BeforeValidator(_duration_shorthand, json_schema_input_type=Union[Duration, Distribution]),
]


def distribution_mean(dist: AnyDistribution) -> float:  # noqa: PLR0911 - one return per distribution
    """Expected value in seconds (used for critical paths and summaries), shift included; with
    ``min``/``max`` the truncated distribution's mean (integrated with scipy, see :func:`_truncated_mean`)."""
    if dist.minimum is not None or dist.maximum is not None:
        return _truncated_mean(dist)
    shift = dist.loc or 0.0
    if isinstance(dist, Fixed):
        return shift + dist.value
    if isinstance(dist, Uniform):
        return shift + (dist.low + dist.high) / 2
    if isinstance(dist, Triangular):
        return shift + (dist.low + dist.mode + dist.high) / 3
    if isinstance(dist, Gamma):
        shape, scale = dist.shape_scale
        return shift + shape * scale
    if isinstance(dist, ExponNorm):
        return shift + dist.k * dist.scale
    return shift + dist.mean


def _truncated_mean(dist: AnyDistribution) -> float:
    """Mean of ``loc + X`` given ``min <= loc + X <= max`` (scipy, imported only here; the floor at
    zero of `normal` and `exponnorm` is left out, as in the untruncated means)."""
    from scipy import stats  # noqa: PLC0415 - numerical integration only for truncated distributions

    shift = dist.loc or 0.0
    low = -math.inf if dist.minimum is None else dist.minimum - shift
    high = math.inf if dist.maximum is None else dist.maximum - shift
    frozen: Any
    if isinstance(dist, Fixed) or (isinstance(dist, (Normal, LogNormal)) and dist.sd == 0) \
            or (isinstance(dist, Exponential) and dist.mean == 0) \
            or (isinstance(dist, (Uniform, Triangular)) and dist.high == dist.low):
        value = dist.value if isinstance(dist, Fixed) else getattr(dist, "mean", getattr(dist, "low", 0.0))
        return shift + min(max(value, low), high)
    if isinstance(dist, Uniform):
        frozen = stats.uniform(dist.low, dist.high - dist.low)
    elif isinstance(dist, Triangular):
        frozen = stats.triang((dist.mode - dist.low) / (dist.high - dist.low), dist.low, dist.high - dist.low)
    elif isinstance(dist, Normal):
        frozen = stats.norm(dist.mean, dist.sd)
    elif isinstance(dist, LogNormal):
        sigma2 = math.log1p((dist.sd / dist.mean) ** 2)
        frozen = stats.lognorm(math.sqrt(sigma2), scale=dist.mean * math.exp(-sigma2 / 2))
    elif isinstance(dist, Exponential):
        frozen = stats.expon(scale=dist.mean)
    elif isinstance(dist, Gamma):
        shape, scale = dist.shape_scale
        frozen = stats.gamma(shape, scale=scale)
    else:
        frozen = stats.exponnorm(dist.k, scale=dist.scale)
    mass = float(frozen.cdf(high) - frozen.cdf(low))
    if not mass > 0.0:  # nothing inside the bounds: every draw is the nearer bound
        return shift + min(max(float(frozen.median()), low), high)
    return shift + float(frozen.expect(lambda x: x, lb=low, ub=high, conditional=True))


# --------------------------------------------------------------------------- behaviour models


class Failures(Strict):
    """Probability that one attempt of a step fails, by category."""

    tool: Probability = 0.0
    reasoning: Probability = 0.0
    handoff: Probability = 0.0

    @model_validator(mode="after")
    def _total(self) -> Failures:
        if self.tool + self.reasoning + self.handoff > 1.0:
            raise ValueError("failure probabilities add up to more than 1")
        return self

    @property
    def total(self) -> float:
        return self.tool + self.reasoning + self.handoff


class Behaviour(Strict):
    """How an actor or tool behaves in simulation. Every field is optional; unset means default."""

    duration: DurationModel | None = None
    failures: Failures | None = None
    retries: Annotated[int, Field(ge=0, le=20)] | None = None
    tokens_in: Annotated[int, Field(ge=0)] | None = None
    tokens_out: Annotated[int, Field(ge=0)] | None = None
    cost_per_1k_tokens: Annotated[float, Field(ge=0)] | None = None
    cost_per_call: Annotated[float, Field(ge=0)] | None = None
    cost_per_hour: Annotated[float, Field(ge=0)] | None = Field(
        default=None,
        description="Cost of each hour the actor works on a step: a person's service time, an agent's or "
        "system's own work time (tool time not counted), e.g. `45` for a clerk at 45 per hour.",
    )
    approve_rate: Probability | None = None
    send_back_rate: Probability | None = None

    @model_validator(mode="after")
    def _rates(self) -> Behaviour:
        if (self.approve_rate or 0.0) + (self.send_back_rate or 0.0) > 1.0:
            raise ValueError("`approve_rate` + `send_back_rate` add up to more than 1")
        return self


# --------------------------------------------------------------------------- actors


_TIME = r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d"
_DEFAULT_DAYS = ("mon", "tue", "wed", "thu", "fri")
_DEFAULT_HOURS = "09:00-17:00"
_DAY_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock_minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _unique_weekdays(days: list[Weekday]) -> list[Weekday]:
    if not days:
        raise ValueError("a calendar needs at least one working day")
    if len(set(days)) != len(days):
        raise ValueError("a calendar lists each working day once")
    return days


WorkingDays = Annotated[list[Weekday], AfterValidator(_unique_weekdays)]
"""At least one weekday, each once (a calendar's `days`, a shift's `days`)."""


def _intervals(hours: str) -> list[tuple[int, int]]:
    """``09:00-12:00,13:00-15:00`` -> minutes from the day's midnight; a range that ends before it
    starts (``22:00-06:00``) runs past midnight into the next day (its end is over 24:00)."""
    out: list[tuple[int, int]] = []
    for part in hours.split(","):
        start, end = (_clock_minutes(x) for x in part.split("-"))
        if end == start:
            raise ValueError(f"working hours `{part}` are empty; write a range such as `09:00-17:00`")
        if end < start:
            end += 24 * 60
        if out and start < out[-1][1]:
            raise ValueError(f"working hours `{hours}`: `{part}` starts before the range before it ends; "
                             "list the ranges of a day in order, without overlaps")
        out.append((start, end))
    return out


class Shift(Strict):
    """Working hours on some days of the week (one entry of a calendar's ``shifts``)."""

    days: WorkingDays = Field(description="The days these hours apply to, e.g. `[tue, wed, thu, fri]`.")
    hours: Annotated[str, Field(pattern=rf"^{_TIME}(\s*,\s*{_TIME})*$")] = Field(
        description="One or more ranges, in order: `09:00-17:00`, or with a lunch break `09:00-12:00,13:00-15:00`; "
        "a range that ends before it starts (`22:00-06:00`) runs past midnight into the next day.",
    )

    @field_validator("hours")
    @classmethod
    def _hours_ordered(cls, hours: str) -> str:
        hours = re.sub(r"\s+", "", hours)
        _intervals(hours)
        return hours


class Calendar(Strict):
    """Working time of a human pool; outside it, work waits.

    Either the simple form (``days`` and one range of ``hours``, the same every day) or ``shifts``
    (hours per day, several ranges a day, night shifts)."""

    days: WorkingDays = Field(
        default_factory=lambda: [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI],
        description="Working days, each with the same `hours` (leave out when `shifts` is given).",
    )
    hours: Annotated[str, Field(pattern=rf"^{_TIME}$")] = Field(
        default=_DEFAULT_HOURS, description="Working hours of each day in `days` (leave out when `shifts` is given).",
    )
    timezone: str = "UTC"
    shifts: list[Shift] = Field(
        default_factory=list,
        exclude_if=lambda shifts: not shifts,  # a simple calendar dumps as it always did
        description="Hours that differ by day: each entry gives days and their ranges (replaces `days` and `hours`).",
    )

    @field_validator("hours")
    @classmethod
    def _hours_ordered(cls, hours: str) -> str:
        start, end = hours.split("-")
        if start >= end:
            raise ValueError(f"working hours `{hours}` end before they start (for a night shift use `shifts`)")
        return hours

    @model_validator(mode="after")
    def _one_form(self) -> Calendar:
        if not self.shifts:
            return self
        if tuple(str(d) for d in self.days) != _DEFAULT_DAYS or self.hours != _DEFAULT_HOURS:
            raise ValueError("a calendar with `shifts` takes its days and hours from them; leave out `days` and "
                             "`hours`, or drop `shifts`")
        seen: set[str] = set()
        for shift in self.shifts:
            twice = sorted({str(d) for d in shift.days} & seen, key=_DAY_ORDER.index)
            if twice:
                raise ValueError(f"`{twice[0]}` is in more than one of the calendar's `shifts`; give each day "
                                 "its hours once (several ranges go in one `hours`, comma-separated)")
            seen.update(str(d) for d in shift.days)
        return self

    def week(self) -> list[tuple[int, int, int]]:
        """The working ranges of a week: (day 0 = Monday, start, end) in minutes from that day's
        midnight, sorted; an end past 24:00 runs into the next day."""
        if not self.shifts:
            start, end = (_clock_minutes(x) for x in self.hours.split("-"))
            return sorted((_DAY_ORDER.index(str(d)), start, end) for d in self.days)
        return sorted((_DAY_ORDER.index(str(d)), start, end)
                      for shift in self.shifts for d in shift.days for start, end in _intervals(shift.hours))

    def written(self) -> dict[str, Any]:
        """The calendar as plain data in the form it is written: ``days``, ``hours`` and ``timezone``, or
        ``shifts`` and ``timezone``."""
        return self.model_dump(mode="json", exclude={"days", "hours"} if self.shifts else None)

    def describe(self) -> str:
        """One line for people: ``mon,tue 09:00-17:00 UTC`` or ``mon 09:00-17:00; tue 09:00-12:00,13:00-15:00 UTC``."""
        if not self.shifts:
            return f"{','.join(str(d) for d in self.days)} {self.hours} {self.timezone}"
        parts = "; ".join(f"{','.join(str(d) for d in shift.days)} {shift.hours}" for shift in self.shifts)
        return f"{parts} {self.timezone}"


class ActorBase(Strict):
    id: Identifier
    name: str | None = None
    description: str | None = None
    owner: str | None = None
    behaviour: Behaviour = Field(default_factory=Behaviour)


class Agent(ActorBase):
    """An AI agent from the agent registry."""

    kind: Literal["agent"]
    capability: str | None = Field(default=None, description="Registry capability, e.g. `invoice-extraction`.")
    version: str | None = Field(default=None, description="Pinned registry version, e.g. `2.1.0`.")
    model: str | None = Field(default=None, description="Model label, e.g. `gpt-4o-2024-08-06`.")
    prompt: str | None = Field(default=None, description="Prompt template reference.")
    tools: list[Identifier] = Field(default_factory=list, description="Tools the agent may call.")
    autonomy: Autonomy | None = None
    llm: str | None = Field(
        default=None,
        description="Optional `module:factory` returning a LangChain chat model used in simulation.",
    )


class PoolMember(Strict):
    """One person of a pool, when people differ: their own working hours and pace (simulation only)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    calendar: Calendar | None = Field(default=None, description="Their working hours (default: the pool's).")
    speed: Annotated[float, Field(gt=0, le=100)] = Field(
        default=1.0, description="Pace against the pool's durations: 2 works twice as fast, 0.5 half as fast.",
    )
    durations: dict[Identifier, DurationModel] = Field(
        default_factory=dict,
        exclude_if=lambda durations: not durations,
        description="This person's own duration of some steps (node id -> duration), used instead of the step's "
        "when they do it; `speed` does not apply to these.",
    )


class Human(ActorBase):
    """A pool of people in one role."""

    kind: Literal["human"]
    role: str | None = None
    capacity: Annotated[int, Field(ge=1, le=100_000)] = 1
    calendar: Calendar | None = None
    members: list[PoolMember] = Field(
        default_factory=list,
        description="The people of the pool when they differ (own calendar, own pace); the capacity is their "
        "number. Simulation only: exports keep the pool's size.",
    )

    @model_validator(mode="after")
    def _capacity_of_members(self) -> Human:
        if self.members:
            if "capacity" in self.model_fields_set and self.capacity != len(self.members):
                raise ValueError(f"`capacity` is {self.capacity} but {len(self.members)} `members` are listed; "
                                 "leave `capacity` out (the members are the pool) or make them agree")
            self.capacity = len(self.members)
        return self


class System(ActorBase):
    """A deterministic service."""

    kind: Literal["system"]
    tools: list[Identifier] = Field(default_factory=list)
    capacity: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        default=None,
        description="Steps the system can work on at once; more wait in a queue (unset: no limit).",
    )
    calendar: Calendar | None = Field(
        default=None, description="When a system with a `capacity` works (e.g. a batch window); needs `capacity`."
    )

    @model_validator(mode="after")
    def _calendar_needs_capacity(self) -> System:
        if self.calendar is not None and self.capacity is None:
            raise ValueError("a system's `calendar` needs a `capacity` (how many steps it works on at once)")
        return self


Actor = Annotated[Union[Agent, Human, System], Field(discriminator="kind")]


# --------------------------------------------------------------------------- tools and data


class RateLimit(Strict):
    calls: Annotated[int, Field(ge=1)]
    per: Duration

    @field_validator("per")
    @classmethod
    def _positive(cls, per: float) -> float:
        if per <= 0:
            raise ValueError("a rate limit period must be longer than zero")
        return per


class Tool(Strict):
    id: Identifier
    name: str | None = None
    description: str | None = None
    tier: Tier
    rate_limit: RateLimit | None = None
    timeout: Duration | None = None
    credential: str | None = Field(
        default=None, description="Name of the secret the gateway uses; never the secret itself."
    )
    writes: list[Identifier] = Field(default_factory=list, description="Data sources this tool writes.")
    behaviour: Behaviour = Field(default_factory=Behaviour)


class DataSource(Strict):
    id: Identifier
    system: str | None = None
    description: str | None = None
    freshness: Duration | None = None
    contains_pii: bool = False


# --------------------------------------------------------------------------- nodes


class NodeBase(Strict):
    id: Identifier
    name: str | None = None
    description: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.id


class Start(NodeBase):
    kind: Literal["start"]


class End(NodeBase):
    kind: Literal["end"]
    outcome: str | None = Field(default=None, description="Outcome recorded when a case ends here.")


class OutputRule(Strict):
    """How simulation sets one output field of a step: a number drawn from a distribution (`value`), or
    a value picked with given probabilities (`choice`); `when` limits the rule to cases where a
    condition holds (the first rule that holds is used)."""

    when: str | None = Field(default=None, description="Condition on the case (docs/conditions.md).")
    value: DurationModel | None = Field(
        default=None, description="A number from a distribution, e.g. `{dist: uniform, low: 0, high: 1}`; "
        "a bare number is fixed. Draws below zero count as zero, as for durations.",
    )
    choice: dict[str, Probability] | None = Field(
        default=None, description="Value -> probability, e.g. `{low: 0.7, high: 0.3}`; they add up to 1.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> OutputRule:
        if (self.value is None) == (self.choice is None):
            raise ValueError("an output rule has exactly one of `value` (a distribution) or `choice` "
                             "(value: probability)")
        if self.choice is not None:
            total = math.fsum(self.choice.values())
            if not self.choice or abs(total - 1.0) > 1e-9:
                raise ValueError(f"the probabilities of `choice` add up to {total:.6g}; make them add up to 1")
        return self


def _rules(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


OutputRules = Annotated[list[OutputRule], BeforeValidator(_rules), Field(min_length=1)]


class Batch(Strict):
    """Cases collected at a person's step and done together (simulation and export): the step starts
    when `size` cases wait, or when the oldest has waited `timeout`. The pool does the work once per
    batch (one duration drawn per batch), and every case of the batch leaves when it ends."""

    size: int = Field(description="How many waiting cases fill a batch (at least 1).")
    timeout: Duration | None = Field(
        default=None, description="A batch that has not filled fires when its oldest case has waited "
        "this long (e.g. `4h`); without it a batch waits until it fills.",
    )


class EscalationLevel(Strict):
    """One level of an escalation chain: when nobody has started the step ``after`` it was handed to
    the current holder (level 1: after it was asked of the step's own pool), it is handed to ``to``."""

    to: Identifier = Field(description="The human pool the step is handed to at this level.")
    after: Duration = Field(
        description="How long the current holder (level 1: the step's own pool; level n: the pool of level "
        "n-1) has to start the step, counted from when it was handed to them, before this level fires.",
    )


EscalationChain = Annotated[list[EscalationLevel], Field(min_length=1)]

_CHAIN_DESCRIPTION = ("Escalation chain, levels in order: `[{to: team_leads, after: 4h}, {to: directors, after: 8h}]` "
                      "(docs/semantics.md, \"Approvals in time\"). The chain form of `sla` + `escalate_to`, which "
                      "means `[{to: <escalate_to>, after: <sla>}]`; give one form or the other.")


def _one_escalation_form(where: str, chain: list[EscalationLevel] | None, sla_field: str, sla: Any,
                         target: Any) -> None:
    """Refuse a chain given together with the one-level form (``sla``/``escalate_to``)."""
    if chain is None:
        return
    given = [f"`{name}`" for name, value in ((sla_field, sla), ("escalate_to", target)) if value is not None]
    if given:
        raise ValueError(f"{where} has both `escalation` (a chain) and {' and '.join(given)} (one level); keep one "
                         f"form: move them into the chain as `{{to: <pool>, after: <sla>}}`, or remove `escalation`")


class Task(NodeBase):
    """Work done by an actor, possibly calling tools and reading or writing data."""

    kind: Literal["task"]
    actor: Identifier | None = None
    tools: list[Identifier] = Field(default_factory=list)
    reads: list[Identifier] = Field(default_factory=list)
    writes: list[Identifier] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list, description="Case fields this step produces.")
    validates: bool = Field(default=False, description="This step checks the work before it (a control point).")
    sla: Duration | None = None
    escalate_to: Identifier | None = None
    batch: Batch | None = Field(default=None, description="Collect cases and do them together (human tasks).")
    escalation: EscalationChain | None = Field(default=None, description=_CHAIN_DESCRIPTION)
    behaviour: Behaviour = Field(default_factory=Behaviour)
    output_models: dict[str, OutputRules] = Field(
        default_factory=dict,
        description="Simulation only: how each output gets its value per visit (a rule or a list of rules "
        "with `when`); outputs without a model keep the sample data's column.",
    )

    @model_validator(mode="after")
    def _models_are_outputs(self) -> Task:
        unknown = sorted(set(self.output_models) - set(self.outputs))
        if unknown:
            raise ValueError(f"`output_models` names {', '.join(f'`{n}`' for n in unknown)}, which `outputs` "
                             "does not list; add it to `outputs` or remove its model")
        return self

    @model_validator(mode="after")
    def _one_escalation(self) -> Task:
        _one_escalation_form("this step", self.escalation, "sla", self.sla, self.escalate_to)
        return self


class Approval(NodeBase):
    """A human decision: approve, reject, or send back with a note."""

    kind: Literal["approval"]
    actor: Identifier | None = None
    reviews: list[Identifier] = Field(
        default_factory=list, description="Nodes whose work is approved (default: the step before)."
    )
    sla: Duration | None = None
    escalate_to: Identifier | None = None
    escalation: EscalationChain | None = Field(default=None, description=_CHAIN_DESCRIPTION)
    threshold: str | None = Field(default=None, description="Condition under which approval is needed.")
    outputs: list[str] = Field(default_factory=list)
    batch: Batch | None = Field(default=None, description="Collect cases and decide them together.")
    behaviour: Behaviour = Field(default_factory=Behaviour)

    @model_validator(mode="after")
    def _one_escalation(self) -> Approval:
        _one_escalation_form("this approval", self.escalation, "sla", self.sla, self.escalate_to)
        return self


class Decision(NodeBase):
    """Exclusive gateway: exactly one outgoing edge, chosen by its condition, or the default."""

    kind: Literal["decision"]


class Parallel(NodeBase):
    """Fork: every outgoing edge runs."""

    kind: Literal["parallel"]


class Join(NodeBase):
    """Waits for all incoming branches."""

    kind: Literal["join"]


class Subworkflow(NodeBase):
    """Another workflow, by reference (a path relative to this file, or a template name)."""

    kind: Literal["subworkflow"]
    ref: str | None = None
    actor: Identifier | None = None
    behaviour: Behaviour = Field(default_factory=Behaviour)


class Wait(NodeBase):
    """A timer: the case waits, holding no person, system or tool, for a ``delay`` (drawn per visit)
    or ``until`` a calendar next opens (e.g. the next working day at 09:00). Exactly one of the two;
    a wait with neither is reported by the validator (S015)."""

    kind: Literal["wait"]
    delay: DurationModel | None = Field(
        default=None,
        description="How long the case waits: a duration (`2h`) or a distribution, drawn per visit.",
    )
    until: Calendar | None = Field(
        default=None,
        description="Wait until these hours next open (no wait when they are open), e.g. weekdays "
        "`09:00-17:00`: a case arriving on Friday at 18:00 goes on on Monday at 09:00.",
    )

    @property
    def fixed_delay(self) -> float | None:
        """Seconds of a fixed ``delay`` (no shift, no bounds), else None: what a plain timer carries exactly."""
        delay = self.delay
        return delay.value if isinstance(delay, Fixed) and not delay.bounded else None

    @property
    def timer_text(self) -> str:
        """The timer in words: ``2h``, ``exponential, mean 30m``, ``until mon-fri 09:00-17:00 UTC``."""
        if self.fixed_delay is not None:
            return format_duration(self.fixed_delay)
        if self.delay is not None:
            return f"{self.delay.dist}, mean {format_duration(round(distribution_mean(self.delay), 3))}"
        if self.until is not None and self.until.shifts:
            return f"until {self.until.describe()}"
        if self.until is not None:
            days = sorted(_DAY_ORDER.index(str(day)) for day in self.until.days)
            names = _DAY_ORDER
            run = len(days) > 2 and days == list(range(days[0], days[-1] + 1))
            span = f"{names[days[0]]}-{names[days[-1]]}" if run else ",".join(names[d] for d in days)
            return f"until {span} {self.until.hours} {self.until.timezone}"
        return "no timer"

    @model_validator(mode="after")
    def _one_timer(self) -> Wait:
        if self.delay is not None and self.until is not None:
            raise ValueError("a wait has either `delay` (how long) or `until` (a calendar), not both; "
                             "remove one of them")
        return self


_WEEK_MINUTES = 7 * 24 * 60


def calendar_mean_wait(calendar: Calendar) -> float:
    """Mean seconds until ``calendar`` next opens for a moment drawn evenly over its week (no wait
    while it is open): each closed stretch of ``g`` seconds adds ``g * g / 2``, over the week's length.
    The expected time of an ``until`` wait in the analysis (the simulator waits the real time)."""
    spans = sorted((day * 1440 + begin, day * 1440 + end) for day, begin, end in calendar.week())
    closed: list[int] = []
    reach = spans[0][1]  # the open time so far runs to here (a night shift may run past midnight)
    for opens, closes in [*spans[1:], (spans[0][0] + _WEEK_MINUTES, 0)]:  # then next week's first opening
        if opens > reach:
            closed.append(opens - reach)
        reach = max(reach, closes)
    return math.fsum((gap * 60.0) ** 2 / 2.0 for gap in closed) / (_WEEK_MINUTES * 60.0)


def wait_mean(node: Wait) -> float:
    """Expected seconds of a wait: the mean of its ``delay``, or :func:`calendar_mean_wait` of ``until``."""
    if node.delay is not None:
        return distribution_mean(node.delay)
    if node.until is not None:
        return calendar_mean_wait(node.until)
    return 0.0


Node = Annotated[
    Union[Start, End, Task, Approval, Decision, Parallel, Join, Subworkflow, Wait],
    Field(discriminator="kind"),
]
NODE_KINDS: tuple[str, ...] = (
    "start", "end", "task", "approval", "decision", "parallel", "join", "subworkflow", "wait",
)


class Edge(Strict):
    source: Identifier = Field(alias="from")
    target: Identifier = Field(alias="to")
    when: str | None = Field(default=None, description="Condition in the studio's safe language.")
    default: bool = False
    label: str | None = None
    probability: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        default=None,
        description="Branch probability (0 < p <= 1) on an edge leaving a decision: the simulator routes such a "
        "decision by one random draw per visit, the default edge taking the remainder (docs/semantics.md).",
    )
    max_repeats: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Loop guard: the most times a case may take this transition (overrides the policy).",
    )

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.target)


AnyNode = Start | End | Task | Approval | Decision | Parallel | Join | Subworkflow | Wait
"""Any node (the members of :data:`Node`), for annotations."""


# --------------------------------------------------------------------------- policies


class Audit(Strict):
    enabled: bool = True
    fields: list[str] = Field(
        default_factory=lambda: [
            "case_id",
            "node",
            "actor",
            "agent_version",
            "tool",
            "decision",
            "started",
            "ended",
        ]
    )
    retention: Duration | None = None


class Policies(Strict):
    max_turns: Annotated[int, Field(ge=1)] = 100
    max_repeats: Annotated[int, Field(ge=1)] | None = Field(
        default=3,
        description="Loop guard: the most times a case may take any one transition; once more kills the case "
        "(docs/semantics.md). null disables the guard.",
    )
    approval_sla: Duration | None = None
    escalate_to: Identifier | None = None
    escalation: EscalationChain | None = Field(
        default=None,
        description="Default escalation chain (the chain form of `approval_sla` + `escalate_to`): every approval "
        "without its own escalation follows it, and a human task with its own `sla` (which then times level 1).",
    )
    autonomy: Autonomy = Autonomy.HUMAN_IN_THE_LOOP
    retries: Annotated[int, Field(ge=0, le=20)] = 1
    audit: Audit = Field(default_factory=Audit)

    @model_validator(mode="after")
    def _one_escalation(self) -> Policies:
        _one_escalation_form("`policies`", self.escalation, "approval_sla", self.approval_sla, self.escalate_to)
        return self


# --------------------------------------------------------------------------- simulation


class PoissonArrivals(Strict):
    process: Literal["poisson"]
    rate: Rate
    calendar: Calendar | None = Field(
        default=None,
        description="Cases arrive only in these hours, at `rate` per working hour (e.g. claims on weekdays).",
    )


class FixedArrivals(Strict):
    process: Literal["fixed"]
    interval: Duration
    calendar: Calendar | None = Field(
        default=None, description="Cases arrive only in these hours, one every `interval` of working time."
    )


class ColumnArrivals(Strict):
    process: Literal["column"]
    column: str = Field(description="Sample-data column holding each case's arrival (seconds or ISO time).")


Arrivals = Annotated[Union[PoissonArrivals, FixedArrivals, ColumnArrivals], Field(discriminator="process")]


class PriorityRule(Strict):
    """One rule of ``simulation.priority``: cases for which ``when`` holds queue at ``level``."""

    when: str | None = Field(
        default=None,
        description="Condition on the case's data as it arrives (the condition language, e.g. "
        "`amount > 10000`); no `when`: every case that reaches this rule.",
    )
    level: int = Field(
        description="Priority level: a higher level is served first by people who are busy; "
        "cases no rule matches are level 0.",
        ge=-1000, le=1000,
    )


class Simulation(Strict):
    seed: int = 0
    start: str | None = Field(
        default=None,
        description="When the first generated arrival may happen (ISO time, e.g. `2026-03-02T08:00:00Z`); "
        "default Monday 2024-01-01 00:00 UTC. Virtual time is counted from that Monday either way.",
    )
    cases: Annotated[int, Field(ge=1)] | None = None

    @field_validator("start")
    @classmethod
    def _start_is_a_time(cls, start: str | None) -> str | None:
        if start is None:
            return None
        try:
            moment = datetime.fromisoformat(start.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"`{start}` is not a time; write it like `2026-03-02T08:00:00Z`") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        if moment < datetime(2024, 1, 1, tzinfo=timezone.utc):
            raise ValueError(f"`{start}` is before 2024-01-01, where virtual time begins; choose a later start")
        return start.strip()
    arrivals: Arrivals = Field(default_factory=lambda: PoissonArrivals(process="poisson", rate=1 / 60))
    sample_data: str | None = Field(default=None, description="CSV/JSONL path relative to the workflow file.")
    gold_data: str | None = None
    tools: dict[Identifier, Behaviour] = Field(default_factory=dict)
    overrides: dict[str, str] = Field(
        default_factory=dict,
        description="Case column -> behaviour field it overrides, e.g. `review_minutes: approve_invoice.duration`.",
    )
    priority: list[PriorityRule] = Field(
        default_factory=list,
        description="Who people serve first when they are busy: the first rule whose `when` holds for a "
        "case gives its level (higher first; level 0 when none holds). Non-preemptive; first come, "
        "first served within a level.",
    )


# --------------------------------------------------------------------------- workshop notes
# What the room said while mapping: kept in the file for the minutes, read by nothing that runs or
# exports the workflow (simulation, every export and `studio diff` ignore it).

WorkshopText = Annotated[str, Field(min_length=1, max_length=4000)]
_DATE_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def _iso_date(value: Any) -> str:
    if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
        raise ValueError(f"`{value}` is not a day; write it YYYY-MM-DD, e.g. `2026-11-30`")
    return value.strip()


IsoDate = Annotated[
    str,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "pattern": _DATE_RE.pattern, "description": "A day: YYYY-MM-DD."}),
]
"""A day written ``YYYY-MM-DD``."""
RACI_ROLES: tuple[str, ...] = ("responsible", "accountable", "consulted", "informed")


class Raci(Strict):
    """Who is responsible, accountable, consulted and informed for a step.

    Each entry is an actor id (``ap_clerks``) or a person's or team's name as written (``Maria
    Lopez``, ``CFO``); an entry written like a lower-case id that names no actor is a typo (A007).
    """

    responsible: list[WorkshopText] = Field(default_factory=list)
    accountable: list[WorkshopText] = Field(default_factory=list)
    consulted: list[WorkshopText] = Field(default_factory=list)
    informed: list[WorkshopText] = Field(default_factory=list)


class WorkshopQuestion(Strict):
    """A question the room could not answer yet (or has answered since)."""

    text: WorkshopText
    asked_by: str | None = None
    status: Literal["open", "answered"] = "open"
    answer: str | None = None


class WorkshopDecision(Strict):
    """A decision the room took about a step."""

    text: WorkshopText
    when: IsoDate | None = Field(default=None, description="The day it was taken (YYYY-MM-DD).")
    decided_by: str | None = None


class StepNotes(Strict):
    """The workshop's notes on one step."""

    raci: Raci = Field(default_factory=Raci)
    questions: list[WorkshopQuestion] = Field(default_factory=list)
    decisions: list[WorkshopDecision] = Field(default_factory=list)


class Workshop(Strict):
    """Workshop mode: who was there, when, free notes, and per step (by node id) RACI, questions and
    decisions. Written into the minutes (``studio minutes``); ignored by simulation and exports."""

    date: IsoDate | None = Field(default=None, description="The day of the workshop (YYYY-MM-DD).")
    attendees: list[WorkshopText] = Field(default_factory=list)
    notes: str | None = None
    nodes: dict[Identifier, StepNotes] = Field(default_factory=dict, description="Node id -> its notes.")


# --------------------------------------------------------------------------- workflow


class Metadata(Strict):
    name: Identifier
    version: SemVer = "0.1.0"
    owner: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)


def step_sla(node: Task | Approval, policies: Policies) -> float | None:
    """A person's step's SLA (how long its own pool has to start it): its own (``sla``, or its chain's
    first level), else (approvals only) ``policies.approval_sla`` or the policy chain's first level."""
    if node.escalation is not None:
        return node.escalation[0].after
    if node.sla is not None:
        return node.sla
    if not isinstance(node, Approval):
        return None
    if policies.escalation is not None:
        return policies.escalation[0].after
    return policies.approval_sla


def declared_levels(node: Task | Approval, policies: Policies) -> list[tuple[float | None, str]]:
    """The step's escalation chain as written, before the pools are checked (docs/semantics.md): its own
    chain, else its own `escalate_to`, else the policy's; level 1 is timed by the step's SLA (None when
    it has none, and then it never escalates)."""
    if node.escalation is not None:
        return [(level.after, level.to) for level in node.escalation]
    sla = step_sla(node, policies)
    if node.escalate_to is not None:  # the step names its own (one-level) escalation
        return [(sla, node.escalate_to)]
    if policies.escalation is not None:  # the policy chain, level 1 timed by the step's SLA
        first, *rest = policies.escalation
        return [(sla, first.to), *((level.after, level.to) for level in rest)]
    return [(sla, policies.escalate_to)] if policies.escalate_to is not None else []


def _levels(node: Task | Approval, policies: Policies) -> list[tuple[float, str]]:
    """The levels that can fire: none when level 1 has no time (the step has no SLA)."""
    levels = declared_levels(node, policies)
    return [] if not levels or levels[0][0] is None else [(after, to) for after, to in levels if after is not None]


def escalation_chain(node: Any, actors: dict[str, Agent | Human | System], policies: Policies
                     ) -> tuple[tuple[float, str], ...]:
    """The levels ``(after seconds, pool)`` a step escalates through (docs/semantics.md), empty when it
    does not escalate: a task or approval done by a human pool, with its own chain (``escalation``), else
    ``sla`` + ``escalate_to``, else the policies' (``escalation``, or ``approval_sla`` + ``escalate_to``).

    Level n fires when the pool holding the step (the step's own, or level n-1's) has not started it
    ``after`` seconds from its hand-over. A level naming the pool that holds the step (or held it before)
    hands nothing over: it is skipped and its time added to the next level's. The chain ends at a level
    whose pool is not a human pool (the validator reports it: A002, A011). Every engine and export asks
    this."""
    if not isinstance(node, (Task, Approval)):
        return ()
    actor = actors.get(node.actor) if node.actor is not None else None
    if not isinstance(actor, Human):
        return ()
    chain: list[tuple[float, str]] = []
    held = {actor.id}
    carried = 0.0
    for after, target in _levels(node, policies):
        if target in held:
            carried += after
            continue
        if not isinstance(actors.get(target), Human):
            break
        chain.append((after + carried if carried else after, target))
        held.add(target)
        carried = 0.0
    return tuple(chain)


class WorkflowIndex:
    """A workflow's elements by id, built once: the one lookup every layer uses (the first of
    repeated ids wins, as everywhere; the validator reports the repeats)."""

    __slots__ = ("actors", "data_sources", "node_order", "nodes", "tools")

    def __init__(self, workflow: Workflow) -> None:
        self.nodes: dict[str, AnyNode] = {}
        self.node_order: dict[str, int] = {}
        for position, node in enumerate(workflow.nodes):
            if node.id not in self.nodes:
                self.nodes[node.id] = node
                self.node_order[node.id] = position
        self.actors: dict[str, Agent | Human | System] = {}
        for actor in workflow.actors:
            self.actors.setdefault(actor.id, actor)
        self.tools: dict[str, Tool] = {}
        for tool in workflow.tools:
            self.tools.setdefault(tool.id, tool)
        self.data_sources: dict[str, DataSource] = {}
        for source in workflow.data_sources:
            self.data_sources.setdefault(source.id, source)


class Workflow(Strict):
    """A named, versioned workflow: the single source of truth the studio maps, simulates, exports."""

    api_version: Literal["studio/v1"] = Field(default=API_VERSION, alias="apiVersion")
    metadata: Metadata
    actors: list[Actor] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=list)
    data_sources: list[DataSource] = Field(default_factory=list)
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    policies: Policies = Field(default_factory=Policies)
    simulation: Simulation = Field(default_factory=Simulation)
    workshop: Workshop = Field(
        default_factory=Workshop,
        description="Workshop notes (RACI, open questions, decisions): kept for the minutes, ignored by "
        "simulation, every export and `studio diff`.",
    )

    _source: Any = PrivateAttr(default=None)
    _index: Any = PrivateAttr(default=None)

    @property
    def index(self) -> WorkflowIndex:
        """Nodes, actors, tools and data sources by id (built on first use; rebuilt if a list is
        replaced or grows: workflows are not edited in place, edits make new ones)."""
        key = (id(self.nodes), len(self.nodes), id(self.actors), len(self.actors), id(self.tools), len(self.tools),
               id(self.data_sources), len(self.data_sources))
        cached = self._index
        if cached is None or cached[0] != key:
            cached = self._index = (key, WorkflowIndex(self))
        index: WorkflowIndex = cached[1]
        return index

    def __eq__(self, other: object) -> bool:
        """Equal when the content is equal, wherever each was loaded from."""
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    # ---- lookups (first occurrence wins when ids repeat; the validator reports the repeats)

    def node(self, node_id: str) -> AnyNode:
        return self.index.nodes[node_id]

    def actor(self, actor_id: str) -> Agent | Human | System:
        return self.index.actors[actor_id]

    def tool(self, tool_id: str) -> Tool:
        return self.index.tools[tool_id]

    @property
    def node_ids(self) -> list[str]:
        return [node.id for node in self.nodes]

    def actor_of(self, node_id: str) -> Agent | Human | System | None:
        """The actor responsible for a node, or None (gateways, start/end, unknown ids)."""
        try:
            node = self.node(node_id)
        except KeyError:
            return None
        actor_id = getattr(node, "actor", None)
        if actor_id is None:
            return None
        try:
            return self.actor(actor_id)
        except KeyError:
            return None

    @property
    def source(self) -> Any:
        """Where this workflow was loaded from (a ``studio.fileio.Source``), or None."""
        return self._source

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Draw the workflow in a notebook (SVG when Graphviz is available, else Mermaid text)."""
        return _display.mimebundle(self)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow file (committed as ``schemas/workflow.schema.json``)."""
    schema = Workflow.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://workflow-design-studio.dev/schemas/workflow.schema.json"
    return schema
