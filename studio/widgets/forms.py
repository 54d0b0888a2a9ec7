"""The Map tab's forms: steps, connections, people and agents, tools, data sources, settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from studio.model import (
    NODE_KINDS,
    Agent,
    Approval,
    End,
    Human,
    Subworkflow,
    System,
    Task,
    format_duration,
)
from studio.widgets._parts import (
    FIELD,
    FORM_WIDTH,
    NEW,
    StudioBase,
    _button,
    _Calendar,
    _details,
    _dropdown,
    _Duration,
    _esc,
    _multi,
    _show,
    _text,
)
from studio.widgets.controller import (
    ARRIVAL_EXAMPLES,
    ARRIVALS,
    AUTONOMY,
    parse_output_models,
)
from studio.widgets.diagram import edge_id

__all__ = ["ItemForms"]


def _item_buttons(what: str, add_tip: str, add: Callable[[], None], update: Callable[[], None], *,  # noqa: PLR0913 - a form's three actions
                  delete: Callable[[], Any], act: Callable[[Callable[[], Any]], Any]) -> tuple[Any, Any, Any]:
    """An item form's Add, Save changes and Delete buttons, wired (delete goes through ``act``)."""
    add_button = _button(f"Add {what}", "success", add_tip, "plus")
    update_button = _button("Save changes", "primary", f"Change the selected {what}", "check")
    delete_button = _button(f"Delete {what}", "danger", f"Delete the selected {what}", "trash")
    add_button.on_click(lambda _: add())
    update_button.on_click(lambda _: update())
    delete_button.on_click(lambda _: act(delete))
    return add_button, update_button, delete_button


class ItemForms(StudioBase):
    """One form per section of the workflow file, each with its pick list and Add/Save/Delete."""

    # ------------------------------------------------------------------ steps

    def _node_form(self) -> Any:
        self.node_pick = _dropdown("Step", [("+ a new step", NEW)], NEW)
        self.node_id = _text("Id", "e.g. review_contract")
        self.node_name = _text("Name", "what happens, in plain words")
        self.node_kind = _dropdown("Kind", list(NODE_KINDS), "task")
        self.node_actor = _dropdown("Done by", [("— nobody —", "")], "")
        self.node_tools = _multi("Tools")
        self.node_reads = _multi("Reads")
        self.node_writes = _multi("Writes")
        self.node_duration = _Duration("Takes")
        self.node_sla = _text("SLA", "e.g. 4h, 2d")
        self.node_escalate = _dropdown("Escalate to", [("— nobody —", "")], "")
        self.node_threshold = _text("Needed when", "condition, e.g. amount > 10000")
        self.node_threshold_check = w.HTML()
        self.node_outcome = _text("Outcome", "e.g. paid, rejected")
        self.node_ref = _text("Workflow", "path or template name")
        self.node_outputs = _text("Outputs", "case fields it produces, e.g. fraud_score, severity")
        self.node_models = w.Textarea(
            description="Output models",
            placeholder="YAML, simulation only, e.g.\nfraud_score: {value: {dist: uniform, low: 0, high: 1}}\n"
            "severity: {choice: {low: 0.7, high: 0.3}}",
            rows=5,
            style=FIELD,
            layout=w.Layout(width=FORM_WIDTH),
        )
        # the text area joins the page only when opened: the form stays short (and the page's other
        # text areas, the scenarios, keep their places)
        self.node_models_open = w.ToggleButton(
            description="Output models (YAML)", tooltip="How simulation sets each output", icon="pencil"
        )
        self.node_models_box = w.VBox([self.node_models_open])
        self.node_models_open.observe(lambda _: self._node_models_layout(), names="value")
        self.node_add = _button("Add step", "success", "Add a new step with these details", "plus")
        self.node_update = _button("Save changes", "primary", "Change the selected step", "check")
        self.node_delete = _button(
            "Delete step", "danger", "Delete the step and its connections (one way in and one out: re-joined)", "trash"
        )
        self.node_pick.observe(self._unless_quiet(self._on_node_pick), names="value")
        self.node_kind.observe(lambda _: self._node_layout(), names="value")
        self.node_threshold.observe(lambda ch: self._show_check(self.node_threshold_check, ch["new"]), names="value")
        self.node_add.on_click(lambda _: self._add_node())
        self.node_update.on_click(lambda _: self._update_node())
        self.node_delete.on_click(lambda _: self._delete_node())
        self._node_layout()
        self.node_details = _details(
            "More: how long it takes, SLA, tools, data",
            [
                self.node_duration.box,
                self.node_sla,
                self.node_escalate,
                self.node_tools,
                self.node_reads,
                self.node_writes,
                self.node_outputs,
                self.node_models_box,
            ],
        )
        return w.VBox(
            [
                self.node_pick,
                self.node_id,
                self.node_name,
                self.node_kind,
                self.node_actor,
                self.node_threshold,
                self.node_threshold_check,
                self.node_outcome,
                self.node_ref,
                w.HBox([self.node_add, self.node_update, self.node_delete]),
                self.node_details,
            ]
        )

    def _node_layout(self) -> None:
        kind = self.node_kind.value
        worked = kind in ("task", "approval", "subworkflow")
        _show(self.node_actor, worked)
        _show(self.node_duration.box, worked)
        for widget in (self.node_tools, self.node_reads, self.node_writes, self.node_outputs, self.node_models_box):
            _show(widget, kind == "task")
        for widget in (self.node_sla, self.node_escalate):
            _show(widget, kind in ("task", "approval"))
        _show(self.node_threshold, kind == "approval")
        _show(self.node_threshold_check, kind == "approval")
        _show(self.node_outcome, kind == "end")
        _show(self.node_ref, kind == "subworkflow")
        self.node_actor.description = "Approver" if kind == "approval" else "Done by"

    def _node_models_layout(self) -> None:
        opened = self.node_models_open.value
        self.node_models_box.children = [self.node_models_open, *([self.node_models] if opened else [])]
        count = sum(1 for line in self.node_models.value.splitlines() if line[:1] not in " #-\t" and ":" in line)
        self.node_models_open.description = "Output models (YAML)" + (f": {count} set" if count else "")

    def _on_node_pick(self) -> None:
        with self._quietly():
            self._load_node()
        self._mark([self.node_pick.value] if self.node_pick.value else [])

    def _load_node(self) -> None:
        node_id = self.node_pick.value
        new = node_id == NEW
        self.node_update.disabled = new
        self.node_delete.disabled = new
        if new:
            for widget in (
                self.node_id,
                self.node_name,
                self.node_sla,
                self.node_threshold,
                self.node_outcome,
                self.node_ref,
                self.node_outputs,
                self.node_models,
            ):
                widget.value = ""
            self.node_actor.value = ""
            self.node_escalate.value = ""
            for multi in (self.node_tools, self.node_reads, self.node_writes):
                multi.value = ()
            self.node_duration.set(None)
            self._node_models_layout()
            self._node_layout()
            return
        node = self.controller.workflow.node(node_id)
        self.node_id.value = node.id
        self.node_name.value = node.name or ""
        self.node_kind.value = node.kind
        actor = getattr(node, "actor", None) or ""
        self.node_actor.value = actor if actor in [v for _, v in self.node_actor.options] else ""
        escalate = getattr(node, "escalate_to", None) or ""
        self.node_escalate.value = escalate if escalate in [v for _, v in self.node_escalate.options] else ""
        for multi, attr in ((self.node_tools, "tools"), (self.node_reads, "reads"), (self.node_writes, "writes")):
            multi.value = tuple(x for x in getattr(node, attr, []) if x in multi.options)
        sla = getattr(node, "sla", None)
        self.node_sla.value = format_duration(sla) if sla is not None else ""
        self.node_threshold.value = node.threshold or "" if isinstance(node, Approval) else ""
        self.node_outcome.value = (node.outcome or "") if isinstance(node, End) else ""
        self.node_ref.value = (node.ref or "") if isinstance(node, Subworkflow) else ""
        self.node_outputs.value = ", ".join(node.outputs) if isinstance(node, Task) else ""
        self.node_models.value = self.controller.output_models_text(node.id) if isinstance(node, Task) else ""
        self._node_models_layout()
        behaviour = getattr(node, "behaviour", None)
        self.node_duration.set(behaviour.duration if behaviour is not None else None)
        self._node_layout()

    def _node_fields(self) -> dict[str, Any]:
        kind = self.node_kind.value
        fields: dict[str, Any] = {"name": self.node_name.value}
        if kind in ("task", "approval", "subworkflow"):
            fields["actor"] = self.node_actor.value or None
            fields["duration"] = self.node_duration.value()
        if kind == "task":
            fields["tools"] = list(self.node_tools.value)
            fields["reads"] = list(self.node_reads.value)
            fields["writes"] = list(self.node_writes.value)
            fields["outputs"] = [x.strip() for x in self.node_outputs.value.split(",") if x.strip()]
            fields["output_models"] = parse_output_models(self.node_models.value)
        if kind in ("task", "approval"):
            fields["sla"] = self.node_sla.value
            fields["escalate_to"] = self.node_escalate.value or None
        if kind == "approval":
            fields["threshold"] = self.node_threshold.value
        if kind == "end":
            fields["outcome"] = self.node_outcome.value
        if kind == "subworkflow":
            fields["ref"] = self.node_ref.value
        return fields

    def _commit_item(self, action: Callable[[], Any], pick: Any, new_id: str, load: Callable[[], None]) -> bool:
        """Every item form's Add and Save: run the controller call; when it is accepted, select the item
        under its (new) id and load its form again. False when it was refused (the form keeps its text)."""
        if self._act(action) is None:
            return False
        with self._quietly():
            pick.value = new_id
            load()
        return True

    def _add_node(self) -> None:
        def add() -> Any:
            fields = self._node_fields()
            actor = fields.pop("actor", None)
            return self.controller.add_node(self.node_kind.value, self.node_id.value, actor=actor, **fields)

        new_id = self.node_id.value.strip()
        if self._commit_item(add, self.node_pick, new_id, self._load_node):
            self._mark([self.node_pick.value])

    def _update_node(self) -> None:
        old = self.node_pick.value
        new_id = self.node_id.value.strip()

        def update() -> Any:
            return self.controller.update_node(old, id=new_id, kind=self.node_kind.value, **self._node_fields())

        if self._commit_item(update, self.node_pick, new_id, self._load_node):
            self._mark([new_id])

    def _delete_node(self) -> None:
        if self._act(lambda: self.controller.delete_node(self.node_pick.value, rejoin=True)) is not None:
            self._mark([])

    def _show_check(self, target: Any, text: str) -> None:
        caret = self.controller.condition_caret(text)
        if not text.strip():
            target.value = ""
        elif caret is None:
            target.value = '<span class="wds-ok">✓ valid condition</span>'
        else:
            column, message = caret
            pointer = " " * (column - 1) + "^"
            target.value = (
                f'<div class="wds-bad">✗ column {column}: {_esc(message)}</div>'
                f'<div class="wds-mono">{_esc(text)}\n{pointer}</div>'
            )

    # ------------------------------------------------------------------ connections

    def _edge_form(self) -> Any:
        self.edge_pick = _dropdown("Connection", [("+ a new connection", -1)], -1)
        self.edge_from = _dropdown("From", [])
        self.edge_to = _dropdown("To", [])
        self.edge_when = w.Text(
            description="When",
            placeholder="condition, e.g. amount > 10000 (empty: always)",
            style=FIELD,
            layout=w.Layout(width=FORM_WIDTH),
            continuous_update=True,
        )
        self.edge_check = w.HTML()
        self.edge_default = w.Checkbox(description="Otherwise (the default route out of a decision)", style=FIELD)
        self.edge_label = _text("Label", "shown on the arrow")
        self.edge_probability = _text("Probability", "branch probability out of a decision, e.g. 0.3 (empty: none)")
        self.edge_add = _button("Add connection", "success", "Connect the two steps", "plus")
        self.edge_update = _button("Save changes", "primary", "Change the selected connection", "check")
        self.edge_delete = _button("Delete connection", "danger", "Delete the selected connection", "trash")
        self.edge_pick.observe(self._unless_quiet(self._on_edge_pick), names="value")
        self.edge_when.observe(lambda ch: self._show_check(self.edge_check, ch["new"]), names="value")
        self.edge_add.on_click(lambda _: self._add_edge())
        self.edge_update.on_click(lambda _: self._update_edge())
        self.edge_delete.on_click(lambda _: self._delete_edge())
        return w.VBox(
            [
                self.edge_pick,
                self.edge_from,
                self.edge_to,
                self.edge_when,
                self.edge_check,
                self.edge_default,
                self.edge_label,
                self.edge_probability,
                w.HBox([self.edge_add, self.edge_update, self.edge_delete]),
            ]
        )

    def _on_edge_pick(self) -> None:
        with self._quietly():
            self._load_edge()
        index = self.edge_pick.value
        edges = self.controller.workflow.edges
        self._mark([edge_id(edges[index].source, edges[index].target)] if 0 <= index < len(edges) else [])

    def _load_edge(self) -> None:
        index = self.edge_pick.value
        new = index is None or index < 0
        self.edge_update.disabled = new
        self.edge_delete.disabled = new
        if new:
            self.edge_when.value = ""
            self.edge_label.value = ""
            self.edge_probability.value = ""
            self.edge_default.value = False
            self.edge_check.value = ""
            return
        edge = self.controller.workflow.edges[index]
        if edge.source in self.edge_from.options:
            self.edge_from.value = edge.source
        if edge.target in self.edge_to.options:
            self.edge_to.value = edge.target
        self.edge_when.value = edge.when or ""
        self._show_check(self.edge_check, edge.when or "")
        self.edge_default.value = edge.default
        self.edge_label.value = edge.label or ""
        self.edge_probability.value = "" if edge.probability is None else f"{edge.probability:g}"

    def _add_edge(self) -> None:
        c = self.controller
        if (
            self._act(
                lambda: c.add_edge(
                    self.edge_from.value,
                    self.edge_to.value,
                    when=self.edge_when.value,
                    default=self.edge_default.value,
                    label=self.edge_label.value,
                    probability=self.edge_probability.value,
                )
            )
            is not None
        ):
            with self._quietly():
                self.edge_pick.value = len(c.workflow.edges) - 1
                self._load_edge()

    def _update_edge(self) -> None:
        index = self.edge_pick.value
        self._act(
            lambda: self.controller.update_edge(
                index,
                source=self.edge_from.value,
                target=self.edge_to.value,
                when=self.edge_when.value,
                default=self.edge_default.value,
                label=self.edge_label.value,
                probability=self.edge_probability.value,
            )
        )

    def _delete_edge(self) -> None:
        self._act(lambda: self.controller.delete_edge(self.edge_pick.value))

    # ------------------------------------------------------------------ actors

    def _actor_form(self) -> Any:
        self.actor_pick = _dropdown("Actor", [("+ a new actor", NEW)], NEW)
        self.actor_id = _text("Id", "e.g. legal_team")
        self.actor_kind = _dropdown(
            "Kind", [("AI agent", "agent"), ("people (a human pool)", "human"), ("system", "system")], "human"
        )
        self.actor_name = _text("Name", "e.g. Legal reviewers")
        self.actor_capacity = w.BoundedIntText(
            value=1, min=1, max=100000, description="How many people", style=FIELD, layout=w.Layout(width="260px")
        )
        self.actor_at_once = _text("Capacity", "steps it works on at once, e.g. 4 (empty: no limit, no queue)")
        self.actor_calendar = _Calendar("works")
        self.actor_cost = _text("Cost per hour", "of its working time, e.g. 45 (empty: none)")
        self.actor_role = _text("Role", "e.g. Contract lawyer")
        self.actor_version = _text("Version", "pinned registry version, e.g. 2.1.0")
        self.actor_capability = _text("Capability", "registry capability, e.g. contract-review")
        self.actor_model = _text("Model", "model label")
        self.actor_autonomy = _dropdown(
            "Autonomy",
            [
                ("not set", ""),
                ("human in the loop", "human_in_the_loop"),
                ("human on the loop", "human_on_the_loop"),
                ("fully autonomous", "fully_autonomous"),
            ],
            "",
        )
        self.actor_tools = _multi("May call")
        self.actor_duration = _Duration("Work takes")
        self.actor_approve = _text("Approves (0-1)", "share of approvals, e.g. 0.9")
        self.actor_add, self.actor_update, self.actor_delete = _item_buttons(
            "actor", "Add this agent, pool or system", self._add_actor, self._update_actor,
            delete=lambda: self.controller.delete_actor(self.actor_pick.value), act=self._act)
        self.actor_pick.observe(self._unless_quiet(self._load_actor), names="value")
        self.actor_kind.observe(lambda _: self._actor_layout(), names="value")
        self._actor_layout()
        self.actor_details = _details(
            "More: role, registry, tools, how long work takes",
            [
                self.actor_role,
                self.actor_capability,
                self.actor_model,
                self.actor_autonomy,
                self.actor_tools,
                self.actor_duration.box,
                self.actor_approve,
                self.actor_cost,
                self.actor_calendar.box,
            ],
        )
        return w.VBox(
            [
                self.actor_pick,
                self.actor_id,
                self.actor_kind,
                self.actor_name,
                self.actor_capacity,
                self.actor_at_once,
                self.actor_version,
                w.HBox([self.actor_add, self.actor_update, self.actor_delete]),
                self.actor_details,
            ]
        )

    def _actor_layout(self) -> None:
        kind = self.actor_kind.value
        for widget in (self.actor_capacity, self.actor_role, self.actor_approve):
            _show(widget, kind == "human")
        for widget in (self.actor_version, self.actor_capability, self.actor_model, self.actor_autonomy):
            _show(widget, kind == "agent")
        _show(self.actor_tools, kind in ("agent", "system"))
        _show(self.actor_at_once, kind == "system")
        _show(self.actor_calendar.box, kind in ("human", "system"))

    def _load_actor(self) -> None:
        actor_id = self.actor_pick.value
        new = actor_id == NEW
        self.actor_update.disabled = new
        self.actor_delete.disabled = new
        if new:
            for widget in (
                self.actor_id,
                self.actor_name,
                self.actor_role,
                self.actor_version,
                self.actor_capability,
                self.actor_model,
                self.actor_approve,
                self.actor_at_once,
                self.actor_cost,
            ):
                widget.value = ""
            self.actor_calendar.set(None)
            self.actor_capacity.value = 1
            self.actor_autonomy.value = ""
            self.actor_tools.value = ()
            self.actor_duration.set(None)
            self._actor_layout()
            return
        actor = self.controller.workflow.actor(actor_id)
        self.actor_id.value = actor.id
        self.actor_kind.value = actor.kind
        self.actor_name.value = actor.name or ""
        if isinstance(actor, Human):
            self.actor_capacity.value = actor.capacity
            self.actor_role.value = actor.role or ""
            rate = actor.behaviour.approve_rate
            self.actor_approve.value = "" if rate is None else f"{rate:g}"
        if isinstance(actor, Agent):
            self.actor_version.value = actor.version or ""
            self.actor_capability.value = actor.capability or ""
            self.actor_model.value = actor.model or ""
            self.actor_autonomy.value = actor.autonomy.value if actor.autonomy is not None else ""
        if isinstance(actor, (Agent, System)):
            self.actor_tools.value = tuple(t for t in actor.tools if t in self.actor_tools.options)
        self.actor_duration.set(actor.behaviour.duration)
        cost = actor.behaviour.cost_per_hour
        self.actor_cost.value = "" if cost is None else f"{cost:g}"
        at_once = actor.capacity if isinstance(actor, System) else None
        self.actor_at_once.value = "" if at_once is None else str(at_once)
        self.actor_calendar.set(actor.calendar if isinstance(actor, (Human, System)) else None)
        self._actor_layout()

    def _actor_fields(self) -> dict[str, Any]:
        kind = self.actor_kind.value
        fields: dict[str, Any] = {
            "name": self.actor_name.value,
            "duration": self.actor_duration.value(),
            "cost_per_hour": self.actor_cost.value,
        }
        if kind in ("human", "system"):
            fields["calendar"] = self.actor_calendar.value()
        if kind == "system":
            fields["capacity"] = self.actor_at_once.value
        if kind == "human":
            fields.update(
                capacity=self.actor_capacity.value, role=self.actor_role.value, approve_rate=self.actor_approve.value
            )
        if kind == "agent":
            fields.update(
                version=self.actor_version.value,
                capability=self.actor_capability.value,
                model=self.actor_model.value,
                autonomy=self.actor_autonomy.value or None,
            )
        if kind in ("agent", "system"):
            fields["tools"] = list(self.actor_tools.value)
        return fields

    def _add_actor(self) -> None:
        new_id = self.actor_id.value.strip()
        self._commit_item(lambda: self.controller.add_actor(self.actor_kind.value, new_id, **self._actor_fields()),
                          self.actor_pick, new_id, self._load_actor)

    def _update_actor(self) -> None:
        old, new_id = self.actor_pick.value, self.actor_id.value.strip()
        self._commit_item(
            lambda: self.controller.update_actor(old, id=new_id, kind=self.actor_kind.value, **self._actor_fields()),
            self.actor_pick, new_id, self._load_actor,
        )

    # ------------------------------------------------------------------ tools

    def _tool_form(self) -> Any:
        self.tool_pick = _dropdown("Tool", [("+ a new tool", NEW)], NEW)
        self.tool_id = _text("Id", "e.g. contract_store")
        self.tool_name = _text("Name", "what it does")
        self.tool_tier = _dropdown(
            "Permission",
            [
                ("read only", "read_only"),
                ("restricted write", "restricted_write"),
                ("critical (needs an approval before it)", "critical"),
            ],
            "read_only",
        )
        self.tool_calls = _text("Rate limit: calls", "e.g. 60 (empty: no limit)")
        self.tool_per = _text("  per", "e.g. 1m")
        self.tool_timeout = _text("Timeout", "e.g. 30s")
        self.tool_credential = _text("Credential name", "the secret's name, never the secret")
        self.tool_writes = _multi("Writes to")
        self.tool_add, self.tool_update, self.tool_delete = _item_buttons(
            "tool", "Add this tool", self._add_tool, self._update_tool,
            delete=lambda: self.controller.delete_tool(self.tool_pick.value), act=self._act)
        self.tool_pick.observe(self._unless_quiet(self._load_tool), names="value")
        return w.VBox(
            [
                self.tool_pick,
                self.tool_id,
                self.tool_name,
                self.tool_tier,
                self.tool_calls,
                self.tool_per,
                self.tool_timeout,
                self.tool_credential,
                self.tool_writes,
                w.HBox([self.tool_add, self.tool_update, self.tool_delete]),
            ]
        )

    def _tool_fields(self) -> dict[str, Any]:
        calls, per = self.tool_calls.value.strip(), self.tool_per.value.strip()
        limit = {"calls": calls, "per": per or "1m"} if calls else None
        return {
            "name": self.tool_name.value,
            "tier": self.tool_tier.value,
            "rate_limit": limit,
            "timeout": self.tool_timeout.value,
            "credential": self.tool_credential.value,
            "writes": list(self.tool_writes.value),
        }

    def _load_tool(self) -> None:
        tool_id = self.tool_pick.value
        new = tool_id == NEW
        self.tool_update.disabled = new
        self.tool_delete.disabled = new
        if new:
            for widget in (
                self.tool_id,
                self.tool_name,
                self.tool_calls,
                self.tool_per,
                self.tool_timeout,
                self.tool_credential,
            ):
                widget.value = ""
            self.tool_writes.value = ()
            return
        tool = self.controller.workflow.tool(tool_id)
        self.tool_id.value = tool.id
        self.tool_name.value = tool.name or ""
        self.tool_tier.value = tool.tier.value
        self.tool_calls.value = str(tool.rate_limit.calls) if tool.rate_limit else ""
        self.tool_per.value = format_duration(tool.rate_limit.per) if tool.rate_limit else ""
        self.tool_timeout.value = format_duration(tool.timeout) if tool.timeout is not None else ""
        self.tool_credential.value = tool.credential or ""
        self.tool_writes.value = tuple(x for x in tool.writes if x in self.tool_writes.options)

    def _add_tool(self) -> None:
        new_id = self.tool_id.value.strip()
        self._commit_item(lambda: self.controller.add_tool(new_id, **self._tool_fields()),
                          self.tool_pick, new_id, self._load_tool)

    def _update_tool(self) -> None:
        old, new_id = self.tool_pick.value, self.tool_id.value.strip()
        self._commit_item(lambda: self.controller.update_tool(old, id=new_id, **self._tool_fields()),
                          self.tool_pick, new_id, self._load_tool)

    # ------------------------------------------------------------------ data sources

    def _data_form(self) -> Any:
        self.data_pick = _dropdown("Data source", [("+ a new data source", NEW)], NEW)
        self.data_id = _text("Id", "e.g. crm")
        self.data_system = _text("System", "e.g. Salesforce")
        self.data_description = _text("Description", "what it holds")
        self.data_freshness = _text("Freshness", "how old the data may be, e.g. 15m")
        self.data_pii = w.Checkbox(description="Contains personal data", style=FIELD)
        self.data_add, self.data_update, self.data_delete = _item_buttons(
            "data source", "Add this data source", self._add_data, self._update_data,
            delete=lambda: self.controller.delete_data_source(self.data_pick.value), act=self._act)
        self.data_pick.observe(self._unless_quiet(self._load_data), names="value")
        return w.VBox(
            [
                self.data_pick,
                self.data_id,
                self.data_system,
                self.data_description,
                self.data_freshness,
                self.data_pii,
                w.HBox([self.data_add, self.data_update, self.data_delete]),
            ]
        )

    def _data_fields(self) -> dict[str, Any]:
        return {
            "system": self.data_system.value,
            "description": self.data_description.value,
            "freshness": self.data_freshness.value,
            "contains_pii": self.data_pii.value or None,
        }

    def _load_data(self) -> None:
        source_id = self.data_pick.value
        new = source_id == NEW
        self.data_update.disabled = new
        self.data_delete.disabled = new
        if new:
            for widget in (self.data_id, self.data_system, self.data_description, self.data_freshness):
                widget.value = ""
            self.data_pii.value = False
            return
        source = self.controller.workflow.index.data_sources[source_id]
        self.data_id.value = source.id
        self.data_system.value = source.system or ""
        self.data_description.value = source.description or ""
        self.data_freshness.value = format_duration(source.freshness) if source.freshness is not None else ""
        self.data_pii.value = source.contains_pii

    def _add_data(self) -> None:
        new_id = self.data_id.value.strip()
        self._commit_item(lambda: self.controller.add_data_source(new_id, **self._data_fields()),
                          self.data_pick, new_id, self._load_data)

    def _update_data(self) -> None:
        old, new_id = self.data_pick.value, self.data_id.value.strip()
        self._commit_item(lambda: self.controller.update_data_source(old, id=new_id, **self._data_fields()),
                          self.data_pick, new_id, self._load_data)

    # ------------------------------------------------------------------ policies and simulation settings

    def _settings_form(self) -> Any:
        self.policy_max_turns = _text("Max turns", "steps a case may take, e.g. 100")
        self.policy_max_repeats = _text("Max repeats", "loop guard per transition, e.g. 3; `off` disables it")
        self.policy_sla = _text("Approval SLA", "how long an approval may wait, e.g. 4h")
        self.policy_escalate = _dropdown("Escalate to", [("— nobody —", "")], "")
        self.policy_retries = _text("Retries", "retries of a failed agent or tool call, e.g. 1")
        self.policy_autonomy = _dropdown("Autonomy", list(AUTONOMY), "human_in_the_loop")
        self.policy_save = _button("Save policies", "primary", "Change the workflow's policies", "check")
        self.sim_set_seed = _text("Seed", "e.g. 0")
        self.sim_set_start = _text("Start", "first arrival, ISO time, e.g. 2026-03-02T08:00:00Z (empty: 2024-01-01)")
        self.sim_set_calendar = _Calendar("cases arrive", "arrivals calendar")
        self.sim_set_cases = _text("Run size", "cases per run (empty: every sample case)")
        self.sim_set_process = _dropdown(
            "Arrivals",
            [("Poisson (random, at a rate)", "poisson"), ("Fixed interval", "fixed"), ("From a data column", "column")],
            "poisson",
        )
        self.sim_set_arrival = _text("Rate", "e.g. 30/h")
        self.sim_set_sample = _text("Sample data", "CSV/JSONL next to the workflow, e.g. sample.csv")
        self.sim_set_gold = _text("Gold data", "gold cases, e.g. gold.csv")
        self.sim_settings_save = _button(
            "Save simulation settings", "primary", "Change the simulation settings", "check"
        )
        self.sim_set_process.observe(self._unless_quiet(self._settings_layout), names="value")
        for field in (
            self.policy_max_turns,
            self.policy_max_repeats,
            self.policy_sla,
            self.policy_escalate,
            self.policy_retries,
            self.policy_autonomy,
        ):
            field.observe(self._unless_quiet(lambda: self._mark_unsaved(self.policy_save, True)), names="value")
        for field in (
            self.sim_set_seed,
            self.sim_set_start,
            self.sim_set_cases,
            self.sim_set_process,
            self.sim_set_arrival,
            self.sim_set_calendar.days,
            self.sim_set_calendar.hours,
            self.sim_set_calendar.timezone,
            self.sim_set_sample,
            self.sim_set_gold,
        ):
            field.observe(self._unless_quiet(lambda: self._mark_unsaved(self.sim_settings_save, True)), names="value")
        self.policy_save.on_click(lambda _: self._act(lambda: self.controller.update_policies(**self._policy_fields())))
        self.sim_settings_save.on_click(
            lambda _: self._act(lambda: self.controller.update_simulation(**self._simulation_fields()))
        )
        return w.VBox(
            [
                w.HTML("<b>Policies</b> (guardrails the control plane enforces)"),
                self.policy_max_turns,
                self.policy_max_repeats,
                self.policy_sla,
                self.policy_escalate,
                self.policy_retries,
                self.policy_autonomy,
                self.policy_save,
                w.HTML("<b>Simulation</b>"),
                self.sim_set_seed,
                self.sim_set_start,
                self.sim_set_cases,
                self.sim_set_process,
                self.sim_set_arrival,
                self.sim_set_calendar.box,
                self.sim_set_sample,
                self.sim_set_gold,
                self.sim_settings_save,
            ]
        )

    def _settings_layout(self) -> None:
        kind = str(self.sim_set_process.value)
        param = ARRIVALS[kind]
        self.sim_set_arrival.description = param.capitalize()
        self.sim_set_arrival.placeholder = f"e.g. {ARRIVAL_EXAMPLES[param]}"
        _show(self.sim_set_calendar.box, kind != "column")  # arrivals from a data column have no calendar
        # the current value as the file writes it (`30/h`, `2m`); empty when another process is picked
        current = self.controller.workflow.simulation.arrivals.model_dump(mode="json")
        self.sim_set_arrival.value = str(current.get(param, ""))

    def _policy_fields(self) -> dict[str, Any]:
        return {
            "max_turns": self.policy_max_turns.value,
            "max_repeats": self.policy_max_repeats.value,
            "approval_sla": self.policy_sla.value,
            "escalate_to": self.policy_escalate.value,
            "retries": self.policy_retries.value,
            "autonomy": self.policy_autonomy.value,
        }

    def _simulation_fields(self) -> dict[str, Any]:
        param = ARRIVALS[str(self.sim_set_process.value)]
        kind = str(self.sim_set_process.value)
        return {
            "seed": self.sim_set_seed.value,
            "start": self.sim_set_start.value,
            "calendar": None if kind == "column" else self.sim_set_calendar.value(),
            "cases": self.sim_set_cases.value,
            "sample_data": self.sim_set_sample.value,
            "gold_data": self.sim_set_gold.value,
            "process": self.sim_set_process.value,
            param: self.sim_set_arrival.value,
        }

    @staticmethod
    def _mark_unsaved(button: Any, unsaved: bool) -> None:
        """A settings form's Save button says when the form holds values not saved yet."""
        text = button.description.removesuffix(" (changed)")
        button.description = f"{text} (changed)" if unsaved else text
        button.button_style = "warning" if unsaved else "primary"

    def _load_settings(self) -> None:
        self._mark_unsaved(self.policy_save, False)
        self._mark_unsaved(self.sim_settings_save, False)
        wf = self.controller.workflow
        policies, simulation = wf.policies, wf.simulation
        humans = self.controller.options_for("humans")
        self.policy_escalate.options = [("— nobody —", "")] + [(h, h) for h in humans]
        self.policy_max_turns.value = str(policies.max_turns)
        self.policy_max_repeats.value = "off" if policies.max_repeats is None else str(policies.max_repeats)
        self.policy_sla.value = format_duration(policies.approval_sla) if policies.approval_sla is not None else ""
        self.policy_escalate.value = policies.escalate_to if policies.escalate_to in humans else ""
        self.policy_retries.value = str(policies.retries)
        self.policy_autonomy.value = policies.autonomy.value
        self.sim_set_seed.value = str(simulation.seed)
        self.sim_set_start.value = simulation.start or ""
        self.sim_set_calendar.set(getattr(simulation.arrivals, "calendar", None))
        self.sim_set_cases.value = "" if simulation.cases is None else str(simulation.cases)
        self.sim_set_process.value = simulation.arrivals.process
        self._settings_layout()
        self.sim_set_sample.value = simulation.sample_data or ""
        self.sim_set_gold.value = simulation.gold_data or ""
