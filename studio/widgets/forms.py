"""The Map tab's forms: steps, connections, people and agents, tools, data sources, settings.

Each form is a table (:class:`~studio.widgets.itemform.FormSpec` with one
:class:`~studio.widgets.itemform.Field` a row), built, laid out, loaded and read by the one
:class:`~studio.widgets.itemform.ItemForm`. A new field is a row; a new node or actor kind needs no
row at all for the fields its model shares with the others (a row shows for every kind whose
pydantic model has the field), and one row for each field of its own.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from studio.model import NODE_KINDS, Actor, DataSource, Edge, Node, Policies, Simulation, Tool
from studio.widgets._parts import StudioBase
from studio.widgets.controller import ARRIVAL_EXAMPLES, ARRIVALS, AUTONOMY, StudioController, models_by_kind
from studio.widgets.diagram import edge_id
from studio.widgets.itemform import (
    CHAIN,
    DURATION,
    LIST,
    NUMBER,
    Check,
    Choice,
    Condition,
    Count,
    Distribution,
    Field,
    FormSpec,
    ItemForm,
    Limit,
    Many,
    Models,
    Text,
    WorkingTime,
)

__all__ = ["FORMS", "ItemForms"]

NOBODY = ("— nobody —", "")


def _actors(c: StudioController) -> list[Any]:
    return [NOBODY, *[(f"{a.id}  ({a.kind})", a.id) for a in c.workflow.actors]]


def _humans(c: StudioController) -> list[Any]:
    return [NOBODY, *[(h, h) for h in c.options_for("humans")]]


def _tools(c: StudioController) -> list[Any]:
    return c.options_for("tools")


def _data(c: StudioController) -> list[Any]:
    return c.options_for("data_sources")


def _nodes(c: StudioController) -> list[Any]:
    return c.options_for("nodes")


def _edge_marks(wf: Any, index: Any) -> list[str]:
    edges = wf.edges
    return [edge_id(edges[index].source, edges[index].target)] if 0 <= index < len(edges) else []


STEPS = FormSpec(
    prefix="node", section="nodes", what="step", edit="node", models=models_by_kind(Node), kind="kind",
    pick="Step", new=("+ a new step", ""), item=lambda wf, key: wf.node(key),
    choices=lambda c: [(f"{n.id}  ({n.kind})", n.id) for n in c.workflow.nodes],
    add_tip="Add a new step with these details",
    delete_tip="Delete the step and its connections (one way in and one out: re-joined)",
    delete_options={"rejoin": True}, marks=lambda wf, key: [key] if key else [],
    more="More: how long it takes, SLA, tools, data",
    fields=(
        Field("id", "Id", "e.g. review_contract"),
        Field("name", "Name", "what happens, in plain words"),
        Field("kind", "Kind", widget=Choice(list(NODE_KINDS), "task")),
        Field("actor", "Done by", widget=Choice(_actors), labels={"approval": "Approver"}),
        Field("threshold", "Needed when", "condition, e.g. amount > 10000", Condition()),
        Field("outcome", "Outcome", "e.g. paid, rejected"),
        Field("ref", "Workflow", "path or template name"),
        Field("delay", "Waits for", widget=Distribution()),
        Field("until", "Or until", widget=WorkingTime("opens", "calendar it waits for")),
        Field("duration", "Takes", widget=Distribution(), path="behaviour.duration", more=True),
        Field("sla", "SLA", "e.g. 4h, 2d", DURATION, more=True),
        Field("escalate_to", "Escalate to", widget=Choice(_humans), name="escalate", more=True),
        Field("escalation", "Or a chain", "pool@time, ...: e.g. team_leads@4h, directors@8h", CHAIN, more=True),
        Field("tools", "Tools", widget=Many(_tools), more=True),
        Field("reads", "Reads", widget=Many(_data), more=True),
        Field("writes", "Writes", widget=Many(_data), more=True),
        Field("outputs", "Outputs", "case fields it produces, e.g. fraud_score, severity", LIST, kinds=("task",),
              more=True),
        Field("output_models", "Output models", widget=Models(), name="models", more=True,
              read=lambda c, node, _: c.output_models_text(node.id)),
    ),
)

CONNECTIONS = FormSpec(
    prefix="edge", section="edges", what="connection", edit="edge", models={"": Edge},
    pick="Connection", new=("+ a new connection", -1), item=lambda wf, index: wf.edges[index],
    choices=lambda c: c.edge_choices(), add_tip="Connect the two steps", marks=_edge_marks,
    add=lambda c, f: c.add_edge(f.pop("source"), f.pop("target"), **f),
    added=lambda wf, _: len(wf.edges) - 1,
    fields=(
        Field("source", "From", widget=Choice(_nodes), name="from"),
        Field("target", "To", widget=Choice(_nodes), name="to"),
        Field("when", "When", "condition, e.g. amount > 10000; out of an approval, decision == \"reject\"",
              Condition(check="check")),
        Field("default", "Otherwise (the default route out of a decision or an approval)", widget=Check()),
        Field("label", "Label", "shown on the arrow"),
        Field("probability", "Probability", "branch probability out of a decision, e.g. 0.3 (empty: none)", NUMBER),
    ),
)

ACTORS = FormSpec(
    prefix="actor", section="actors", what="actor", edit="actor", models=models_by_kind(Actor), kind="kind",
    pick="Actor", new=("+ a new actor", ""), item=lambda wf, key: wf.actor(key),
    choices=lambda c: [(f"{a.id}  ({a.kind})", a.id) for a in c.workflow.actors],
    add_tip="Add this agent, pool or system", more="More: role, registry, tools, how long work takes",
    fields=(
        Field("id", "Id", "e.g. legal_team"),
        Field("kind", "Kind", widget=Choice(
            [("AI agent", "agent"), ("people (a human pool)", "human"), ("system", "system")], "human")),
        Field("name", "Name", "e.g. Legal reviewers"),
        Field("capacity", "How many people", widget=Count(), kinds=("human",)),
        Field("capacity", "Capacity", "steps it works on at once, e.g. 4 (empty: no limit, no queue)",
              name="at_once", kinds=("system",)),
        Field("version", "Version", "pinned registry version, e.g. 2.1.0"),
        Field("role", "Role", "e.g. Contract lawyer", more=True),
        Field("capability", "Capability", "registry capability, e.g. contract-review", more=True),
        Field("model", "Model", "model label", more=True),
        Field("autonomy", "Autonomy", widget=Choice(
            [("not set", ""), ("human in the loop", "human_in_the_loop"), ("human on the loop", "human_on_the_loop"),
             ("fully autonomous", "fully_autonomous")], ""), more=True),
        Field("tools", "May call", widget=Many(_tools), more=True),
        Field("duration", "Work takes", widget=Distribution(), path="behaviour.duration", more=True),
        Field("approve_rate", "Approves (0-1)", "share of approvals, e.g. 0.9", NUMBER, name="approve",
              path="behaviour.approve_rate", kinds=("human",), more=True),
        Field("cost_per_hour", "Cost per hour", "of its working time, e.g. 45 (empty: none)", NUMBER, name="cost",
              path="behaviour.cost_per_hour", more=True),
        Field("calendar", "Working time", widget=WorkingTime("works"), more=True),
    ),
)

TOOLS = FormSpec(
    prefix="tool", section="tools", what="tool", edit="tool", models={"": Tool},
    pick="Tool", new=("+ a new tool", ""), item=lambda wf, key: wf.tool(key),
    choices=lambda c: [(f"{t.id}  ({t.tier})", t.id) for t in c.workflow.tools], add_tip="Add this tool",
    fields=(
        Field("id", "Id", "e.g. contract_store"),
        Field("name", "Name", "what it does"),
        Field("tier", "Permission", widget=Choice(
            [("read only", "read_only"), ("restricted write", "restricted_write"),
             ("critical (needs an approval before it)", "critical")], "read_only")),
        Field("rate_limit", "Rate limit: calls", "e.g. 60 (empty: no limit)", Limit(), name="calls"),
        Field("timeout", "Timeout", "e.g. 30s", DURATION),
        Field("credential", "Credential name", "the secret's name, never the secret"),
        Field("writes", "Writes to", widget=Many(_data)),
    ),
)

DATA_SOURCES = FormSpec(
    prefix="data", section="data_sources", what="data source", edit="data_source", models={"": DataSource},
    pick="Data source", new=("+ a new data source", ""), item=lambda wf, key: wf.index.data_sources[key],
    choices=lambda c: [(d.id, d.id) for d in c.workflow.data_sources], add_tip="Add this data source",
    fields=(
        Field("id", "Id", "e.g. crm"),
        Field("system", "System", "e.g. Salesforce"),
        Field("description", "Description", "what it holds"),
        Field("freshness", "Freshness", "how old the data may be, e.g. 15m", DURATION),
        Field("contains_pii", "Contains personal data", widget=Check(), name="pii"),
    ),
)

POLICIES = FormSpec(
    prefix="policy", section="policies", what="policies", edit="policies", models={"": Policies},
    item=lambda wf, _: wf.policies, title="<b>Policies</b> (guardrails the control plane enforces)",
    save=("Save policies", "Change the workflow's policies"),
    fields=(
        Field("max_turns", "Max turns", "steps a case may take, e.g. 100"),
        Field("max_repeats", "Max repeats", "loop guard per transition, e.g. 3; `off` disables it",
              Text(show=lambda v: "off" if v is None else str(v))),
        Field("approval_sla", "Approval SLA", "how long an approval may wait, e.g. 4h", DURATION, name="sla"),
        Field("escalate_to", "Escalate to", widget=Choice(_humans), name="escalate"),
        Field("escalation", "Or a chain", "pool@time, ...: e.g. team_leads@1d, directors@4h", CHAIN),
        Field("retries", "Retries", "retries of a failed agent or tool call, e.g. 1"),
        Field("autonomy", "Autonomy", widget=Choice(list(AUTONOMY), "human_in_the_loop")),
    ),
)

SIMULATION = FormSpec(
    prefix="sim_set", section="simulation", what="simulation settings", edit="simulation",
    models=dict.fromkeys(ARRIVALS, Simulation), kind="process", item=lambda wf, _: wf.simulation,
    title="<b>Simulation</b>", save=("Save simulation settings", "Change the simulation settings"),
    save_name="sim_settings_save",
    fields=(
        Field("seed", "Seed", "e.g. 0"),
        Field("start", "Start", "first arrival, ISO time, e.g. 2026-03-02T08:00:00Z (empty: 2024-01-01)"),
        Field("cases", "Run size", "cases per run (empty: every sample case)"),
        Field("process", "Arrivals", path="arrivals.process", widget=Choice(
            [("Poisson (random, at a rate)", "poisson"), ("Fixed interval", "fixed"),
             ("From a data column", "column")], "poisson")),
        Field(ARRIVALS, "Rate", name="arrival", path="arrivals",
              labels={kind: param.capitalize() for kind, param in ARRIVALS.items()},
              hints={kind: f"e.g. {ARRIVAL_EXAMPLES[param]}" for kind, param in ARRIVALS.items()},
              read=lambda _, simulation, param: simulation.arrivals.model_dump(mode="json").get(param)),
        # arrivals from a data column have no calendar
        Field("calendar", "Arrivals calendar", widget=WorkingTime("cases arrive", "arrivals calendar"),
              path="arrivals.calendar", kinds=("poisson", "fixed")),
        Field("sample_data", "Sample data", "CSV/JSONL next to the workflow, e.g. sample.csv", name="sample"),
        Field("gold_data", "Gold data", "gold cases, e.g. gold.csv", name="gold"),
    ),
)

FORMS: tuple[FormSpec, ...] = (STEPS, CONNECTIONS, ACTORS, TOOLS, DATA_SOURCES, POLICIES, SIMULATION)
"""Every form of the Map tab, in the order of its pages (the last two share the Settings page)."""


class ItemForms(StudioBase):
    """The Map tab's forms (:data:`FORMS`), each an :class:`~studio.widgets.itemform.ItemForm` in
    ``forms`` by its section; every widget is also an attribute (``node_pick``, ``sim_set_seed``...)."""

    forms: dict[str, ItemForm]

    def _build_forms(self) -> list[Any]:
        """The pages of the forms: steps, connections, people and agents, tools, data, settings."""
        self.forms = {}
        for spec in FORMS:
            form = self.forms[spec.section] = ItemForm(spec, self)
            for name, widget in form.parts().items():
                setattr(self, name, widget)
        pages = [self.forms[spec.section].box for spec in FORMS[:5]]
        return [*pages, w.VBox([self.forms["policies"].box, self.forms["simulation"].box])]

    def _refresh_forms(self) -> None:
        """The pick lists and choices from the current workflow."""
        for form in self.forms.values():
            form.refresh()

    def _load_forms(self) -> None:
        with self._quietly():
            for form in self.forms.values():
                form.load()
