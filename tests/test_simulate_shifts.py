"""Calendars whose hours differ by day (``shifts``: several ranges a day, night shifts) and people
of a pool with their own step durations. Every answer is computable by hand; both engines give the
same records."""

from __future__ import annotations

import itertools
import json
import math
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from ruamel.yaml import YAML

from studio import fileio
from studio.cli import main
from studio.errors import LoadError
from studio.model import Calendar, Workflow
from studio.simulate import simulate
from studio.simulate.clock import WorkCalendar, iso_to_seconds, seconds_to_iso

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
MINUTE = 60.0
SHIFTS: dict[str, Any] = {"shifts": [{"days": ["mon"], "hours": "09:00-17:00"},
                                     {"days": ["tue", "wed", "thu", "fri"], "hours": "09:00-15:00"}]}
"""Monday 09-17, Tuesday to Friday 09-15: 8 + 4 x 6 = 32 working hours a week."""
LUNCH: dict[str, Any] = {"shifts": [{"days": ["mon"], "hours": "09:00-17:00"},
                                    {"days": ["tue", "wed", "thu", "fri"], "hours": "09:00-12:00, 13:00-15:00"}]}
"""Monday 09-17, Tuesday to Friday 09-12 and 13-15: 8 + 4 x 5 = 28 working hours a week."""


def workflow(*, actors: list[dict[str, Any]], nodes: list[dict[str, Any]], arrivals: dict[str, Any]) -> Workflow:
    chain = ["start", *[n["id"] for n in nodes], "done"]
    return Workflow.model_validate({
        "apiVersion": "studio/v1",
        "metadata": {"name": "shifts", "version": "1.0.0", "owner": "tests@example.com"},
        "actors": actors,
        "nodes": [{"id": "start", "kind": "start"}, *nodes, {"id": "done", "kind": "end", "outcome": "done"}],
        "edges": [{"from": a, "to": b} for a, b in itertools.pairwise(chain)],
        "simulation": {"seed": 5, "arrivals": arrivals},
    })


def both(model: Workflow, *, cases: int | None = None, data: Any = None) -> Any:
    kernel = simulate(model, cases=cases, data=data, engine="kernel", verify=cases or len(data))
    langgraph = simulate(model, cases=cases, data=data, engine="langgraph")
    assert json.dumps(kernel.payloads) == json.dumps(langgraph.payloads)
    return kernel


def steps(results: Any, node: str) -> list[dict[str, Any]]:
    return [s for s in results.iter_steps() if s["node"] == node]


# --------------------------------------------------------------------------- the calendar itself


def test_open_seconds_of_a_week_with_different_hours_on_different_days() -> None:
    week = WorkCalendar(Calendar.model_validate(SHIFTS))
    assert week.open_seconds(0, WEEK) == 32 * HOUR
    assert week.open_seconds(0, DAY) == 8 * HOUR and week.open_seconds(DAY, 2 * DAY) == 6 * HOUR
    assert week.open_seconds(5 * WEEK, 6 * WEEK) == 32 * HOUR
    assert WorkCalendar(Calendar.model_validate(LUNCH)).open_seconds(0, WEEK) == 28 * HOUR


def test_work_spanning_days_ends_at_the_hand_computed_time() -> None:
    week = WorkCalendar(Calendar.model_validate(SHIFTS))
    monday_4pm = 16 * HOUR  # 1 h on Monday, 6 h on Tuesday, 3 h on Wednesday
    assert seconds_to_iso(week.add_work(monday_4pm, 10 * HOUR)) == "2024-01-03T12:00:00Z"
    assert seconds_to_iso(week.next_open(DAY + 15 * HOUR)) == "2024-01-03T09:00:00Z"  # Tuesday closes at 15:00
    lunch = WorkCalendar(Calendar.model_validate(LUNCH))
    tuesday_10am = DAY + 10 * HOUR  # 10-12, lunch, 13-15
    assert seconds_to_iso(lunch.add_work(tuesday_10am, 4 * HOUR)) == "2024-01-02T15:00:00Z"
    assert lunch.next_open(DAY + 12.5 * HOUR) == DAY + 13 * HOUR
    assert lunch.open_seconds(DAY + 11 * HOUR, DAY + 14 * HOUR) == 2 * HOUR


def test_a_night_shift_runs_past_midnight_and_follows_daylight_saving() -> None:
    night = WorkCalendar(Calendar.model_validate(
        {"shifts": [{"days": ["sat"], "hours": "22:00-06:00"}], "timezone": "Europe/Berlin"}))
    # 2024-03-30 22:00 CET (21:00 UTC) to 2024-03-31 06:00 CEST (04:00 UTC): the clocks skip an hour
    saturday = iso_to_seconds("2024-03-30T12:00:00Z")
    assert seconds_to_iso(night.next_open(saturday)) == "2024-03-30T21:00:00Z"
    assert night.open_seconds(saturday, saturday + DAY) == 7 * HOUR
    assert seconds_to_iso(night.add_work(saturday, 7.5 * HOUR)) == "2024-04-06T20:30:00Z"  # next Sat, 22:00 CEST
    assert night.open_seconds(saturday + WEEK, saturday + WEEK + DAY) == 8 * HOUR
    # a night shift that runs into the next morning's shift is one stretch of work
    joined = WorkCalendar(Calendar.model_validate(
        {"shifts": [{"days": ["mon"], "hours": "22:00-06:00"}, {"days": ["tue"], "hours": "05:00-09:00"}]}))
    assert joined.open_seconds(0, WEEK) == 11 * HOUR
    assert joined.add_work(0, 10 * HOUR) == DAY + 8 * HOUR


def test_the_simple_form_and_the_shift_form_are_the_same_calendar() -> None:
    simple = Calendar.model_validate({"days": ["mon", "wed"], "hours": "08:00-12:00", "timezone": "Europe/Berlin"})
    shifts = Calendar.model_validate({"shifts": [{"days": ["mon", "wed"], "hours": "08:00-12:00"}],
                                      "timezone": "Europe/Berlin"})
    assert simple.week() == shifts.week() == [(0, 480, 720), (2, 480, 720)]
    assert simple.describe() == "mon,wed 08:00-12:00 Europe/Berlin"
    assert Calendar.model_validate(LUNCH).describe() == "mon 09:00-17:00; tue,wed,thu,fri 09:00-12:00,13:00-15:00 UTC"


@pytest.mark.parametrize(("calendar", "message"), [
    ({**SHIFTS, "hours": "08:00-16:00"}, "leave out `days` and `hours`"),
    ({**SHIFTS, "days": ["mon"]}, "leave out `days` and `hours`"),
    ({"shifts": [{"days": ["mon"], "hours": "09:00-12:00"}, {"days": ["mon"], "hours": "13:00-17:00"}]},
     "`mon` is in more than one"),
    ({"shifts": [{"days": ["mon"], "hours": "13:00-17:00,09:00-12:00"}]}, "in order, without overlaps"),
    ({"shifts": [{"days": ["mon"], "hours": "09:00-09:00"}]}, "are empty"),
    ({"shifts": [{"days": [], "hours": "09:00-17:00"}]}, "at least one working day"),
    ({"shifts": [{"days": ["mon"], "hours": "9-17"}]}, "pattern"),
    ({"hours": "22:00-06:00"}, "for a night shift use `shifts`"),
])
def test_a_calendar_that_does_not_add_up_is_refused_with_the_fix(calendar: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Calendar.model_validate(calendar)


def test_the_shift_form_round_trips_through_a_file(tmp_path: Any) -> None:
    model = workflow(actors=[{"id": "clerks", "kind": "human", "calendar": LUNCH}],
                     nodes=[{"id": "file", "kind": "task", "actor": "clerks"}],
                     arrivals={"process": "fixed", "interval": "1h"})
    path = tmp_path / "shifts.yaml"
    fileio.save(model, path)
    assert "shifts:" in path.read_text()
    again = fileio.load(path)
    assert again.actor("clerks").calendar == model.actor("clerks").calendar
    dumped = Workflow.model_validate(model.model_dump(mode="json", by_alias=True))  # defaults written out too
    assert dumped.actor("clerks").calendar == model.actor("clerks").calendar


# --------------------------------------------------------------------------- in a simulation


def test_a_pool_with_shifts_pauses_work_outside_them() -> None:
    model = workflow(actors=[{"id": "clerks", "kind": "human", "capacity": 1, "calendar": SHIFTS,
                              "behaviour": {"duration": "10h"}}],
                     nodes=[{"id": "file", "kind": "task", "actor": "clerks"}],
                     arrivals={"process": "column", "column": "arrival"})
    results = both(model, data=[{"case_id": "late-monday", "arrival": 16 * HOUR}])
    (step,) = steps(results, "file")
    assert (step["start"], seconds_to_iso(step["end"]), step["service"]) == (16 * HOUR, "2024-01-03T12:00:00Z",
                                                                             10 * HOUR)


def test_utilisation_counts_only_the_open_hours_of_the_shifts() -> None:
    """Ten 1 h jobs at Monday 00:00 for one clerk: 8 on Monday (09-17), 2 on Tuesday (09-11); the
    clerk worked through all 10 open hours."""
    model = workflow(actors=[{"id": "clerks", "kind": "human", "capacity": 1, "calendar": SHIFTS,
                              "behaviour": {"duration": "1h"}}],
                     nodes=[{"id": "file", "kind": "task", "actor": "clerks"}],
                     arrivals={"process": "fixed", "interval": "0s"})
    results = both(model, cases=10)
    assert [s["end"] / HOUR for s in steps(results, "file")] == [*range(10, 18), 34, 35]
    assert results.kpis["resources"]["clerks"]["utilisation"] == pytest.approx(1.0)
    assert results.kpis["resources"]["clerks"]["calendar"] == "mon 09:00-17:00; tue,wed,thu,fri 09:00-15:00 UTC"


def test_a_member_with_shifts_and_a_system_with_shifts() -> None:
    """Ana works Monday only (09-12, 13-17), Ben the pool's simple hours; a system works Tuesday 22:00 to
    Wednesday 02:00. Four 2 h jobs at Monday 00:00: Ana 09-11, Ben 09-11, Ana 11-12 + 13-14, Ben 11-13;
    then each goes to the system (one at a time, 1 h each) from Tuesday 22:00."""
    model = workflow(
        actors=[{"id": "clerks", "kind": "human", "calendar": {"days": ["mon"], "hours": "09:00-17:00"},
                 "behaviour": {"duration": "2h"},
                 "members": [{"name": "Ana",
                              "calendar": {"shifts": [{"days": ["mon"], "hours": "09:00-12:00,13:00-17:00"}]}},
                             {"name": "Ben"}]},
                {"id": "batch", "kind": "system", "capacity": 1, "behaviour": {"duration": "1h"},
                 "calendar": {"shifts": [{"days": ["tue"], "hours": "22:00-02:00"}]}}],
        nodes=[{"id": "file", "kind": "task", "actor": "clerks"}, {"id": "post", "kind": "task", "actor": "batch"}],
        arrivals={"process": "fixed", "interval": "0s"},
    )
    results = both(model, cases=4)
    assert sorted((s["start"] / HOUR, s["end"] / HOUR) for s in steps(results, "file")) == [
        (9, 11), (9, 11), (11, 13), (11, 14)]
    assert sorted(s["end"] / HOUR for s in steps(results, "post")) == [47, 48, 49, 50]


def test_poisson_arrivals_come_only_in_the_shifts_at_the_rate_per_working_hour() -> None:
    model = workflow(actors=[{"id": "bot", "kind": "system", "behaviour": {"duration": "1s"}}],
                     nodes=[{"id": "log", "kind": "task", "actor": "bot"}],
                     arrivals={"process": "poisson", "rate": "20/h", "calendar": LUNCH})
    n = 3000
    arrivals = [case["arrival"] for case in simulate(model, cases=n, verify=0).iter_cases()]
    for t in arrivals:
        day, clock = divmod(t, DAY)
        weekday = int(day) % 7
        if weekday == 0:
            assert 9 * HOUR <= clock <= 17 * HOUR, seconds_to_iso(t)
        else:
            in_hours = 9 * HOUR <= clock <= 12 * HOUR or 13 * HOUR <= clock <= 15 * HOUR
            assert weekday < 5 and in_hours, seconds_to_iso(t)
    weeks, rest = divmod(arrivals[-1], WEEK)  # 28 working hours a week, then the days of the last
    partial = min(max(rest - 9 * HOUR, 0), 8 * HOUR) + sum(
        min(max(rest - d * DAY - 9 * HOUR, 0), 3 * HOUR) + min(max(rest - d * DAY - 13 * HOUR, 0), 2 * HOUR)
        for d in range(1, 5))
    working_hours = weeks * 28 + partial / HOUR
    rate = n / working_hours  # within 4 standard errors of 20 per working hour
    assert abs(rate - 20) < 4 * 20 / math.sqrt(n)


# --------------------------------------------------------------------------- people's own durations


def members_model(interval: str = "10m") -> Workflow:
    return workflow(
        actors=[{"id": "clerks", "kind": "human", "behaviour": {"duration": "1h"}, "members": [
            {"name": "Ana", "speed": 2, "durations": {"file": "30m"}},
            {"name": "Ben", "durations": {"file": {"dist": "fixed", "value": "10m"}}}]}],
        nodes=[{"id": "file", "kind": "task", "actor": "clerks"}, {"id": "stamp", "kind": "task", "actor": "clerks"}],
        arrivals={"process": "fixed", "interval": interval},
    )


def test_each_person_works_at_their_own_duration_and_the_mean_is_exact() -> None:
    """A case every 10 minutes; Ana (listed first) takes 30 m to file, Ben 10 m. Ana: 0-30; Ben 10-20,
    20-30; both free at 30, Ana again: a period of 30 minutes in which Ana files one case and Ben two,
    so the mean filing time is (30 + 10 + 10) / 3 minutes. `stamp` has no own duration: the pool's 1 h
    at each person's pace (Ana twice as fast)."""
    model = workflow(
        actors=[{"id": "clerks", "kind": "human", "behaviour": {"duration": "1h"}, "members": [
            {"name": "Ana", "speed": 2, "durations": {"file": "30m"}},
            {"name": "Ben", "durations": {"file": {"dist": "fixed", "value": "10m"}}}]},
                {"id": "desk", "kind": "human", "behaviour": {"duration": "1h"}, "members": [
            {"name": "Cy", "speed": 2}, {"name": "Di", "durations": {"file": "5h"}}]}],
        nodes=[{"id": "file", "kind": "task", "actor": "clerks"}, {"id": "stamp", "kind": "task", "actor": "desk"}],
        arrivals={"process": "fixed", "interval": "10m"},
    )
    results = both(model, cases=30)
    filing = steps(results, "file")
    assert [s["service"] / MINUTE for s in filing[:6]] == [30, 10, 10, 30, 10, 10]
    assert sum(s["service"] for s in filing) / len(filing) == pytest.approx(50 / 3 * MINUTE)
    assert sorted({s["service"] / MINUTE for s in steps(results, "stamp")}) == [30, 60]  # Cy 1 h / 2, Di 1 h


def test_own_durations_with_a_distribution_are_drawn_once_a_step() -> None:
    model = workflow(
        actors=[{"id": "clerks", "kind": "human", "behaviour": {"duration": "1h"}, "members": [
            {"name": "Ana", "durations": {"file": {"dist": "uniform", "low": "10m", "high": "20m"}}}]}],
        nodes=[{"id": "file", "kind": "task", "actor": "clerks"}],
        arrivals={"process": "fixed", "interval": "1h"},
    )
    services = [s["service"] for s in steps(both(model, cases=400), "file")]
    assert all(10 * MINUTE <= s <= 20 * MINUTE for s in services)
    mean = sum(services) / len(services)  # uniform(10, 20) minutes: mean 15, sd 10 / sqrt(12)
    assert abs(mean - 15 * MINUTE) < 4 * (10 * MINUTE / math.sqrt(12)) / math.sqrt(len(services))


def test_an_own_duration_for_an_unknown_step_is_a_finding_naming_the_person(tmp_path: Any,
                                                                           capsys: Any) -> None:
    model = members_model()
    data = model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["actors"][0]["members"][1]["durations"] = {"flie": "10m"}
    path = tmp_path / "typo.yaml"
    path.write_text(json.dumps(data))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "A010" in out and "member Ben" in out and "`flie`" in out and "did you mean `file`?" in out


def test_the_documented_shift_calendar_loads() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "workflow-format.md").read_text(encoding="utf-8")
    match = re.search(r"\*\*Hours that differ by day\*\*.*?```yaml\n(.*?)```", doc, flags=re.S)
    assert match is not None
    calendar = Calendar.model_validate(YAML(typ="safe").load(textwrap.dedent(match.group(1)))["calendar"])
    assert calendar.week()[-1] == (5, 22 * 60, 30 * 60)  # Saturday 22:00 to Sunday 06:00
    assert WorkCalendar(calendar).open_seconds(0, WEEK) == 8 * HOUR + 4 * 5 * HOUR + 8 * HOUR


def test_a_bad_shift_in_a_file_is_a_message_naming_the_place(tmp_path: Path) -> None:
    source = (Path(__file__).parent / "fixtures" / "valid" / "shifts.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(source.replace('hours: "09:00-12:00,13:00-17:00"', 'hours: "9:00-12:00"'), encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        fileio.load(bad)
    (finding,) = caught.value.findings
    assert finding.location == "actors[2].calendar.shifts[1].hours" and finding.line is not None
    assert "`9:00-12:00` is not working hours" in finding.message and "09:00-17:00" in finding.hint
    both_forms = source.replace("      shifts:\n", '      hours: "08:00-12:00"\n      shifts:\n', 1)
    bad.write_text(both_forms, encoding="utf-8")
    with pytest.raises(LoadError, match="leave out `days` and `hours`"):
        fileio.load(bad)


@st.composite
def shift_calendars(draw: st.DrawFn) -> Calendar:
    days = draw(st.permutations(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]))
    cuts = sorted(draw(st.lists(st.integers(1, 6), min_size=0, max_size=2, unique=True)))
    groups = [list(days[a:b]) for a, b in itertools.pairwise([0, *cuts, draw(st.integers(max(cuts, default=1), 7))])]
    shifts = []
    for group in (g for g in groups if g):
        marks = sorted(draw(st.lists(st.integers(0, 95), min_size=2, max_size=4, unique=True)))
        ranges = [(marks[i] * 15, marks[i + 1] * 15) for i in range(0, len(marks) - 1, 2)]
        text = [f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in ranges]
        if draw(st.booleans()):  # a night shift after the day's last range
            start = max(ranges[-1][1] + 15, 20 * 60)
            if start < 24 * 60:
                text.append(f"{start // 60:02d}:{start % 60:02d}-0{draw(st.integers(1, 8))}:00")
        shifts.append({"days": group, "hours": ",".join(text)})
    zone = draw(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
    return Calendar.model_validate({"shifts": shifts, "timezone": zone})


@settings(max_examples=150, deadline=None, derandomize=True)
@given(shift_calendars(), st.floats(0, 60 * WEEK), st.floats(0, 3 * WEEK))
def test_work_added_is_the_open_time_it_spans(calendar: Calendar, t: float, seconds: float) -> None:
    """For any shift calendar (breaks, night shifts, daylight saving): the work added from ``t`` spans
    exactly that much open time, it starts at the next opening, and nothing is open before it."""
    hours = WorkCalendar(calendar)
    end = hours.add_work(t, seconds)
    assert hours.open_seconds(t, end) == pytest.approx(seconds, rel=1e-9, abs=1e-6)
    opens = hours.next_open(t)
    assert opens >= t and hours.open_seconds(t, opens) == 0 and hours.add_work(t, 0) == opens
    if calendar.timezone == "UTC":  # a week's open time: the minutes its ranges cover, overlaps once
        minutes = {(day * 1440 + m) % (7 * 1440) for day, start, stop in calendar.week() for m in range(start, stop)}
        assert hours.open_seconds(5 * WEEK, 6 * WEEK) == len(minutes) * 60
