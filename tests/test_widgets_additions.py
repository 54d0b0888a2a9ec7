"""Forms for the modelling additions: branch probabilities, cost per hour, system capacity and
calendars, simulation start and arrival calendars, gamma/exponnorm durations with shift and bounds,
and a task's output models. Driven through the widget models (values set, buttons clicked) and
checked in the saved file; bad values are refused with a message and change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import fileio
from studio.model import ExponNorm, Gamma, Human, LogNormal, System, Task
from studio.widgets import Studio
from studio.widgets.controller import (
    EditRefused,
    StudioController,
    copy_template,
    describe_distribution,
    make_distribution,
    parse_output_models,
)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return copy_template("procurement", tmp_path, say=None)


@pytest.fixture
def studio(work: Path) -> Studio:
    return Studio(work)


def _refused(studio: Studio, work: Path, button: object, *words: str) -> None:
    """Click ``button``; the status line is a refusal holding ``words`` and the file is as it was."""
    text = work.read_text(encoding="utf-8")
    button.click()  # type: ignore[attr-defined]
    assert "wds-bad" in studio.status.value, studio.status.value
    for word in words:
        assert word in studio.status.value, studio.status.value
    assert work.read_text(encoding="utf-8") == text


# ------------------------------------------------------------------ connections


def test_edge_probability_is_saved_shown_and_cleared(studio: Studio, work: Path) -> None:
    index = studio.controller.edge_index("precheck_gate", "vendor_blocked")
    assert index is not None
    studio.edge_pick.value = index
    assert studio.edge_probability.value == ""
    studio.edge_probability.value = "0.2"
    studio.edge_update.click()
    assert fileio.load(work).edges[index].probability == pytest.approx(0.2)
    label = next(text for text, value in studio.edge_pick.options if value == index)
    assert label == "precheck_gate -> vendor_blocked [blocked vendor, p=0.2]"
    studio.edge_pick.value = -1
    studio.edge_pick.value = index
    assert studio.edge_probability.value == "0.2"  # the form shows what is saved

    studio.edge_probability.value = "1.5"
    _refused(studio, work, studio.edge_update, "probability", "precheck_gate → vendor_blocked")
    studio.edge_probability.value = "often"
    _refused(studio, work, studio.edge_update, "probability", "not a number")

    studio.edge_probability.value = ""
    studio.edge_update.click()
    assert fileio.load(work).edges[index].probability is None
    studio.undo_button.click()
    assert fileio.load(work).edges[index].probability == pytest.approx(0.2)


def test_a_new_connection_takes_a_probability(studio: Studio, work: Path) -> None:
    studio.edge_pick.value = -1
    studio.edge_from.value = "match_gate"
    studio.edge_to.value = "rejected"
    studio.edge_probability.value = "0.05"
    studio.edge_add.click()
    index = studio.controller.edge_index("match_gate", "rejected")
    assert index is not None and fileio.load(work).edges[index].probability == pytest.approx(0.05)
    assert studio.controller.edge_label(index) == "match_gate -> rejected [p=0.05]"


# ------------------------------------------------------------------ actors


def test_system_with_capacity_calendar_and_cost(studio: Studio, work: Path) -> None:
    studio.actor_pick.value = ""
    studio.actor_kind.value = "system"
    assert studio.actor_at_once.layout.display is None and studio.actor_calendar.box.layout.display is None
    studio.actor_id.value = "batch_runner"
    studio.actor_name.value = "Nightly batch"
    studio.actor_at_once.value = "2"
    studio.actor_calendar.days.value = "mon-fri"
    studio.actor_calendar.hours.value = "18:00-23:00"
    studio.actor_cost.value = "12.5"
    studio.actor_add.click()
    system = fileio.load(work).actor("batch_runner")
    assert isinstance(system, System)
    assert system.capacity == 2 and system.behaviour.cost_per_hour == 12.5
    assert system.calendar is not None
    assert [d.value for d in system.calendar.days] == ["mon", "tue", "wed", "thu", "fri"]
    assert (system.calendar.hours, system.calendar.timezone) == ("18:00-23:00", "UTC")

    studio.actor_pick.value = "batch_runner"  # the form shows what is saved
    assert (studio.actor_at_once.value, studio.actor_cost.value) == ("2", "12.5")
    assert studio.actor_calendar.days.value == "mon, tue, wed, thu, fri"
    studio.actor_at_once.value = ""
    _refused(studio, work, studio.actor_update, "calendar", "needs a `capacity`")
    studio.actor_at_once.value = "0"
    _refused(studio, work, studio.actor_update, "capacity")
    studio.actor_at_once.value = "2"
    studio.actor_calendar.days.value = "fri-mon"
    _refused(studio, work, studio.actor_update, "fri-mon", "mon-fri")
    studio.actor_calendar.days.value = "someday"
    _refused(studio, work, studio.actor_update, "days")
    studio.actor_calendar.days.value = "sat"
    studio.actor_calendar.timezone.value = "Mars/Olympus"
    _refused(studio, work, studio.actor_update, "calendar `timezone`", "`Mars/Olympus`", "Europe/Berlin")
    studio.actor_calendar.timezone.value = "UTC"
    studio.actor_calendar.days.value = ""
    studio.actor_calendar.hours.value = ""
    studio.actor_calendar.timezone.value = ""  # all three empty: no calendar
    studio.actor_at_once.value = ""
    studio.actor_update.click()
    system = fileio.load(work).actor("batch_runner")
    assert isinstance(system, System) and system.calendar is None and system.capacity is None


def test_human_pool_calendar_and_cost_per_hour(studio: Studio, work: Path) -> None:
    studio.actor_pick.value = "ap_team"
    assert studio.actor_at_once.layout.display == "none"  # a pool's size is the people field
    hours = studio.actor_calendar.hours.value or "09:00-17:00"
    studio.actor_calendar.days.value = "mon, wed"
    studio.actor_calendar.timezone.value = "Europe/Berlin"
    studio.actor_cost.value = "45"
    studio.actor_update.click()
    pool = fileio.load(work).actor("ap_team")
    assert isinstance(pool, Human) and pool.behaviour.cost_per_hour == 45
    assert pool.calendar is not None and [d.value for d in pool.calendar.days] == ["mon", "wed"]
    assert (pool.calendar.hours, pool.calendar.timezone) == (hours, "Europe/Berlin")
    studio.actor_cost.value = "-3"
    _refused(studio, work, studio.actor_update, "cost_per_hour")
    studio.actor_calendar.hours.value = "17:00-09:00"
    studio.actor_cost.value = "45"
    _refused(studio, work, studio.actor_update, "end before they start")


def test_agent_cost_per_hour_and_no_calendar(studio: Studio, work: Path) -> None:
    studio.actor_pick.value = "intake_agent"
    assert studio.actor_calendar.box.layout.display == "none"
    studio.actor_cost.value = "3"
    studio.actor_update.click()
    assert fileio.load(work).actor("intake_agent").behaviour.cost_per_hour == 3


# ------------------------------------------------------------------ settings


def test_simulation_start_and_arrival_calendar(studio: Studio, work: Path) -> None:
    studio.sim_set_start.value = "2026-03-02T08:00:00Z"
    studio.sim_set_calendar.days.value = "mon-fri"
    studio.sim_set_calendar.hours.value = "09:00-17:00"
    studio.sim_set_calendar.timezone.value = "Europe/Berlin"
    studio.sim_settings_save.click()
    simulation = fileio.load(work).simulation
    assert simulation.start == "2026-03-02T08:00:00Z"
    calendar = simulation.arrivals.calendar  # type: ignore[union-attr]
    assert calendar is not None and calendar.timezone == "Europe/Berlin" and len(calendar.days) == 5
    assert studio.sim_settings_save.description == "Save simulation settings"

    studio.controller.update_simulation(rate="40/h")  # another rate keeps the calendar
    assert fileio.load(work).simulation.arrivals.calendar == calendar  # type: ignore[union-attr]

    studio.sim_set_process.value = "fixed"
    assert studio.sim_set_calendar.box.layout.display is None
    studio.sim_set_arrival.value = "3m"
    studio.sim_settings_save.click()
    arrivals = fileio.load(work).simulation.arrivals
    assert arrivals.process == "fixed" and arrivals.calendar == calendar  # type: ignore[union-attr]

    studio.sim_set_start.value = "next monday"
    _refused(studio, work, studio.sim_settings_save, "start", "2026-03-02T08:00:00Z")
    studio.sim_set_start.value = "2023-05-01T00:00:00Z"
    _refused(studio, work, studio.sim_settings_save, "before 2024-01-01")
    studio.sim_set_start.value = ""
    studio.sim_set_calendar.hours.value = "9-5"
    _refused(studio, work, studio.sim_settings_save, "arrivals calendar `hours`", "`09:00-17:00`")

    studio.sim_set_calendar.hours.value = ""
    studio.sim_set_calendar.days.value = ""
    studio.sim_set_calendar.timezone.value = ""
    studio.sim_settings_save.click()
    simulation = fileio.load(work).simulation
    assert simulation.start is None and simulation.arrivals.calendar is None  # type: ignore[union-attr]


def test_column_arrivals_have_no_calendar(studio: Studio, work: Path) -> None:
    controller = studio.controller
    controller.update_simulation(calendar={"days": ["mon", "tue"]})
    studio.sim_set_process.value = "column"
    assert studio.sim_set_calendar.box.layout.display == "none"
    with pytest.raises(EditRefused, match="arrivals from a data column have no calendar"):
        controller.update_simulation(process="column", column="arrival_s", calendar={"days": ["mon"]})
    controller.update_simulation(process="column", column="arrival_s")
    assert "calendar is dropped" in controller.message
    assert fileio.load(work).simulation.arrivals.process == "column"


# ------------------------------------------------------------------ durations


def test_gamma_and_exponnorm_durations_with_bounds(studio: Studio, work: Path) -> None:
    assert {"gamma", "exponnorm"} <= {value for _, value in studio.node_duration.dist.options}
    studio.node_pick.value = "check_vendor"
    duration = studio.node_duration
    duration.dist.value = "gamma"
    assert [p.description.strip() for p in duration.params] == ["shape", "scale", "mean", "sd"]
    for widget, value in zip(duration.params, ["2.5", "4m", "", ""], strict=True):
        widget.value = value
    duration.bounds["max"].value = "2h"
    studio.node_update.click()
    node = fileio.load(work).node("check_vendor")
    assert isinstance(node, Task)
    gamma = node.behaviour.duration
    assert isinstance(gamma, Gamma) and (gamma.shape, gamma.scale, gamma.maximum) == (2.5, 240, 7200)

    studio.node_pick.value = ""
    studio.node_pick.value = "check_vendor"  # loaded back as saved
    assert [p.value for p in duration.params] == ["2.5", "4m", "", ""] and duration.bounds["max"].value == "2h"

    duration.params[2].value = "10m"  # both pairs: refused
    _refused(studio, work, studio.node_update, "gamma", "`shape` and `scale`", "`mean` and `sd`")

    duration.dist.value = "exponnorm"
    assert [p.description.strip() for p in duration.params] == ["k", "loc", "scale"]
    assert duration.bounds["loc"].layout.display == "none"  # exponnorm's own loc is the shift
    for widget, value in zip(duration.params, ["1.5", "10m", "1m"], strict=True):
        widget.value = value
    duration.bounds["min"].value = "5m"
    studio.node_update.click()
    expo = fileio.load(work).node("check_vendor").behaviour.duration  # type: ignore[union-attr]
    assert isinstance(expo, ExponNorm) and (expo.k, expo.loc, expo.scale, expo.minimum) == (1.5, 600, 60, 300)

    duration.params[0].value = ""
    _refused(studio, work, studio.node_update, "exponnorm", "`k`")
    duration.params[0].value = "1.5"
    duration.bounds["min"].value = "3h"
    duration.bounds["max"].value = "1h"
    _refused(studio, work, studio.node_update, "`min` must not be greater than `max`")


def test_actor_duration_with_shift(studio: Studio, work: Path) -> None:
    studio.actor_pick.value = "ap_team"
    studio.actor_duration.dist.value = "lognormal"
    for widget, value in zip(studio.actor_duration.params, ["20m", "15m"], strict=True):
        widget.value = value
    studio.actor_duration.bounds["loc"].value = "2m"
    studio.actor_update.click()
    duration = fileio.load(work).actor("ap_team").behaviour.duration
    assert isinstance(duration, LogNormal) and (duration.mean, duration.loc, duration.maximum) == (1200, 120, None)


def test_make_and_describe_distribution_round_trip() -> None:
    for dist, params in [
        ("gamma", {"mean": "10m", "sd": "6m"}),
        ("exponnorm", {"k": "1.5", "scale": "1m"}),
        ("fixed", {"value": "5m", "min": "1m"}),
        ("triangular", {"low": "1m", "mode": "2m", "high": "4m", "loc": "30s"}),
    ]:
        data = make_distribution(dist, **params)
        behaviour = Task.model_validate({"id": "t", "kind": "task", "behaviour": {"duration": data}}).behaviour
        assert describe_distribution(behaviour.duration) == (dist, params)
    assert make_distribution("fixed", value="5m", min="") == "5m"  # no bounds: the short form
    with pytest.raises(EditRefused, match="has no `shape`"):
        make_distribution("normal", mean="1m", sd="1s", shape="2")


# ------------------------------------------------------------------ output models


def test_output_models_as_yaml_through_the_task_form(studio: Studio, work: Path) -> None:
    studio.node_pick.value = "intake_request"
    assert studio.node_outputs.value == "category, cost_center" and studio.node_models.value == ""
    assert studio.node_models not in studio.node_models_box.children  # opened on demand
    studio.node_models_open.value = True
    assert studio.node_models in studio.node_models_box.children
    studio.node_models.value = (
        "category:\n"
        "  - {when: 'amount > 10000', choice: {capex: 0.6, opex: 0.4}}\n"
        "  - {choice: {opex: 1}}\n"
        "cost_center: {value: {dist: uniform, low: 100, high: 200}}\n"
    )
    studio.node_update.click()
    node = fileio.load(work).node("intake_request")
    assert isinstance(node, Task) and set(node.output_models) == {"category", "cost_center"}
    assert node.output_models["category"][0].when == "amount > 10000"
    assert node.output_models["category"][1].choice == {"opex": 1.0}
    studio.node_pick.value = ""
    studio.node_pick.value = "intake_request"
    assert "capex: 0.6" in studio.node_models.value  # the form shows the file's YAML
    assert studio.node_models_open.description == "Output models (YAML): 2 set"
    saved = fileio.to_data(fileio.load(work))
    assert parse_output_models(studio.node_models.value) == saved["nodes"][1]["output_models"]

    studio.node_models.value = "category: [1, 2"
    _refused(studio, work, studio.node_update, "output models line", "fraud_score: {value:")
    studio.node_models.value = "__import__('os').system('true')"
    _refused(studio, work, studio.node_update, "output models: write a mapping")
    studio.node_models.value = "colour: {choice: {red: 1}}"
    _refused(studio, work, studio.node_update, "`colour`", "add it to `outputs`")
    studio.node_models.value = "category: {choice: {capex: 0.6, opex: 0.6}}"
    _refused(studio, work, studio.node_update, "add up to 1.2")

    studio.node_outputs.value = "category, cost_center, colour"  # a new output, with its model
    studio.node_models.value = "colour: {choice: {red: 0.5, blue: 0.5}}"
    studio.node_update.click()
    node = fileio.load(work).node("intake_request")
    assert isinstance(node, Task) and node.outputs == ["category", "cost_center", "colour"]
    assert list(node.output_models) == ["colour"]
    studio.node_models.value = ""
    studio.node_update.click()
    assert fileio.load(work).node("intake_request").output_models == {}  # type: ignore[union-attr]
    studio.undo_button.click()
    assert list(fileio.load(work).node("intake_request").output_models) == ["colour"]  # type: ignore[union-attr]


def test_output_models_field_only_on_tasks(studio: Studio) -> None:
    studio.node_pick.value = "manager_approval"
    assert studio.node_models_box.layout.display == "none" and studio.node_outputs.layout.display == "none"
    studio.node_pick.value = "check_budget"
    assert studio.node_models_box.layout.display is None


def test_parse_output_models_refusals() -> None:
    assert parse_output_models("  \n") is None
    assert parse_output_models("score: {value: 3}") == {"score": {"value": 3}}
    for text in ("- a\n- b", "just words"):
        with pytest.raises(EditRefused, match="write a mapping of output name"):
            parse_output_models(text)
    with pytest.raises(EditRefused, match=r"output models line 2: YAML syntax error"):
        parse_output_models("a: 1\n b: [")


def test_controller_edits_are_undoable(work: Path) -> None:
    controller = StudioController(work)
    before = fileio.load(work)
    controller.update_actor("ap_team", cost_per_hour="45", calendar={"days": ["mon"]})
    controller.update_simulation(start="2026-03-02T08:00:00Z")
    controller.undo()
    controller.undo()
    assert fileio.load(work) == before


def test_a_press_in_a_running_kernel_waits_for_the_field_edits_still_on_their_way() -> None:
    """In a kernel, a click from the browser can reach Python before the value typed just before it
    (ipywidgets holds value updates back while the kernel is busy, not clicks): the handler runs after
    a short wait. ``button.click()`` from Python acts at once."""
    import asyncio

    import ipywidgets as w

    from studio.widgets._parts import SETTLE_SECONDS, _button

    field = w.Text(value="100")
    seen: list[str] = []
    save = _button("Save")
    save.on_click(lambda _: seen.append(field.value))

    async def type_then_click() -> None:
        save._handle_button_msg(None, {"event": "click"}, [])  # what the browser's click sends
        field.value = "120"  # the held-back update arrives after the click
        assert seen == []
        await asyncio.sleep(SETTLE_SECONDS + 0.2)
        assert seen == ["120"]
        field.value = "130"
        save.click()  # from Python (a notebook cell): at once
        assert seen == ["120", "130"]

    asyncio.run(type_then_click())
    field.value = "140"
    save._handle_button_msg(None, {"event": "click"}, [])  # no event loop: at once
    assert seen == ["120", "130", "140"]


def test_human_pool_hours_per_day_are_shifts(studio: Studio, work: Path) -> None:
    studio.actor_pick.value = "ap_team"
    studio.actor_calendar.days.value = ""
    studio.actor_calendar.hours.value = "mon 09:00-17:00; tue-fri 09:00-12:00, 13:00-15:00"
    studio.actor_calendar.timezone.value = "Europe/Berlin"
    studio.actor_update.click()
    pool = fileio.load(work).actor("ap_team")
    assert isinstance(pool, Human) and pool.calendar is not None
    assert pool.calendar.describe() == "mon 09:00-17:00; tue,wed,thu,fri 09:00-12:00,13:00-15:00 Europe/Berlin"
    studio.actor_pick.value = ""
    studio.actor_pick.value = "ap_team"  # the form shows the shifts back, and saving again keeps them
    assert studio.actor_calendar.days.value == ""
    assert studio.actor_calendar.hours.value == "mon 09:00-17:00; tue, wed, thu, fri 09:00-12:00,13:00-15:00"
    studio.actor_update.click()
    again = fileio.load(work).actor("ap_team")
    assert isinstance(again, Human) and again.calendar == pool.calendar
    studio.actor_calendar.days.value = "mon"
    _refused(studio, work, studio.actor_update, "leave the working days empty")
    studio.actor_calendar.days.value = ""
    studio.actor_calendar.hours.value = "mon 9-5"
    _refused(studio, work, studio.actor_update, "`mon 9-5`", "mon 09:00-17:00")
    studio.actor_calendar.hours.value = "mon 09:00-12:00; mon 13:00-17:00"
    _refused(studio, work, studio.actor_update, "`mon` is in more than one")
