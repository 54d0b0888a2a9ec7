"""The studio controller's edits of steps, connections, actors, tools, data sources, policies and
simulation settings (see :mod:`studio.widgets.controller`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import EllipsisType
from typing import Any

from pydantic import ValidationError

from studio.model import (
    NODE_KINDS,
    Agent,
    End,
    Start,
    System,
    Workflow,
)
from studio.widgets._controller_core import ControllerCore
from studio.widgets._edit_support import (
    _ACTOR_MODELS,
    _NODE_MODELS,
    _SINGULAR,
    ACTOR_KINDS,
    ARRIVAL_EXAMPLES,
    ARRIVALS,
    AUTONOMY,
    POLICY_FIELDS,
    SIMULATION_FIELDS,
    TIERS,
    EditRefused,
    Section,
    _blank,
    _change_kind,
    _clean,
    _explain,
    _Rename,
    _rename_in_list,
    _set_fields,
)


class ItemEdits(ControllerCore):
    """Adding, changing and deleting the workflow's elements and settings, each through the edit cycle."""

    # ------------------------------------------------------------------ nodes

    def add_node(self, kind: str, id: str, actor: str | None = None, **fields: Any) -> Workflow:
        """Add a step (``kind`` one of the node kinds) after the last non-end step.

        ``fields`` are the node's fields (``name``, ``tools``, ``sla``, ``outcome``...) plus the
        behaviour shorthands (``duration="15m"`` or a distribution from :func:`make_distribution`).
        """
        if kind not in NODE_KINDS:
            raise EditRefused(f"`{kind}` is not a kind of step; use one of {', '.join(NODE_KINDS)}")
        node_id = self._require_new_id("nodes", id)
        item: dict[str, Any] = {"id": node_id, "kind": kind}
        self._apply_fields(item, {"actor": actor, **fields} if actor is not None else fields)
        data = self._data()
        nodes = data.setdefault("nodes", [])
        position = len(nodes)
        while position > 0 and nodes[position - 1].get("kind") == "end":
            position -= 1
        nodes.insert(position, item)
        who = f" done by `{actor}`" if actor else ""
        return self._commit(data, f"Added {kind} `{node_id}`{who}.")

    def update_node(self, node_id: str, /, **fields: Any) -> Workflow:
        """Change a step's fields; ``id=`` renames it (edges and reviews follow), ``kind=`` changes
        its kind (fields the new kind does not have are dropped)."""
        index = self._index_of("nodes", node_id)
        data = self._data()
        item = data["nodes"][index]
        new_id = fields.pop("id", None)
        new_id = new_id.strip() if isinstance(new_id, str) else new_id
        kind = fields.get("kind", item["kind"])
        if kind not in NODE_KINDS:
            raise EditRefused(f"`{kind}` is not a kind of step; use one of {', '.join(NODE_KINDS)}")
        self._apply_fields(item, fields)
        notes = [_change_kind(item, _NODE_MODELS)] if "kind" in fields else []
        if new_id and new_id != node_id:
            new_id = self._require_new_id("nodes", new_id)
            item["id"] = new_id
            for edge in data.get("edges", []):
                if edge.get("from") == node_id:
                    edge["from"] = new_id
                if edge.get("to") == node_id:
                    edge["to"] = new_id
            for node in data["nodes"]:
                if "reviews" in node:
                    node["reviews"] = _rename_in_list(node["reviews"], node_id, new_id)
            notes.insert(0, f" (renamed to `{new_id}`)")
        return self._commit(data, f"Changed step `{node_id}`{''.join(notes)}.")

    def insert_step(  # noqa: C901, PLR0912, PLR0913 - after a step, between two, or on a connection
        self,
        after: str | None = None,
        before: str | None = None,
        *,
        kind: str = "task",
        id: str | None = None,
        name: str | None = None,
        actor: str | None = None,
        **fields: Any,
    ) -> str:
        """Insert a new step after ``after``, between ``after`` and ``before``, or before ``before``;
        returns its id (made from ``name`` when ``id`` is not given).

        On an existing connection ``after -> before`` the step goes onto it: the connection now ends
        at the new step (keeping its condition and label) and a plain one leads on to ``before``.
        ``after`` alone with exactly one connection out of it is the same as inserting on that
        connection; with none or several, the step is only connected from ``after``. ``before``
        alone: every connection into ``before`` now ends at the new step, which leads on to it.
        """
        if after is None and before is None:
            raise EditRefused("select a step or a connection first: the new step goes after it or onto it")
        if kind not in NODE_KINDS:
            raise EditRefused(f"`{kind}` is not a kind of step; use one of {', '.join(NODE_KINDS)}")
        for end in (after, before):
            if end is not None:
                self._index_of("nodes", end)
        if after is not None and isinstance(self._workflow.node(after), End):
            raise EditRefused(f"`{after}` is an end: nothing comes after it; select the connection into it instead")
        if before is not None and isinstance(self._workflow.node(before), Start):
            raise EditRefused(
                f"`{before}` is a start: nothing comes before it; select the connection out of it instead"
            )
        node_id = self._require_new_id("nodes", id) if not _blank(id) else self.new_step_id(name)
        item: dict[str, Any] = {"id": node_id, "kind": kind}
        self._apply_fields(item, {"name": name, "actor": actor, **fields})
        data = self._data()
        edges: list[dict[str, Any]] = data.setdefault("edges", [])
        if after is not None and before is None:
            out = [e for e in edges if e.get("from") == after]
            if len(out) == 1:
                before = str(out[0]["to"])
        nodes = data["nodes"]
        anchor = after if after is not None else before
        position = next(i for i, n in enumerate(nodes) if n.get("id") == anchor) + (1 if after is not None else 0)
        nodes.insert(position, item)
        split = next((e for e in edges if (e.get("from"), e.get("to")) == (after, before)), None)
        if split is not None:
            split["to"] = node_id
            edges.insert(edges.index(split) + 1, {"from": node_id, "to": before})
            where = f"on `{after}` → `{before}`"
        elif after is not None and before is not None:
            edges.append({"from": after, "to": node_id})
            edges.append({"from": node_id, "to": before})
            where = f"between `{after}` and `{before}`"
        elif after is not None:
            edges.append({"from": after, "to": node_id})
            where = f"after `{after}` (connect it onwards)"
        else:
            for edge in edges:
                if edge.get("to") == before:
                    edge["to"] = node_id
            edges.append({"from": node_id, "to": before})
            where = f"before `{before}`"
        who = f" done by `{actor}`" if actor else ""
        self._commit(data, f"Inserted {kind} `{node_id}`{who} {where}.")
        return node_id

    def delete_node(self, id: str, rejoin: bool = False) -> Workflow:
        """Delete a step and every edge to or from it.

        ``rejoin=True``: when the step has exactly one connection in and one out, its neighbours are
        connected directly (the new connection keeps the incoming one's condition and label);
        otherwise (several ways in or out: which to join is not clear) nothing is re-joined and
        the message says so.
        """
        index = self._index_of("nodes", id)
        data = self._data()
        data["nodes"].pop(index)
        before = len(data.get("edges", []))
        incoming = [e for e in data.get("edges", []) if e.get("to") == id and e.get("from") != id]
        outgoing = [e for e in data.get("edges", []) if e.get("from") == id and e.get("to") != id]
        kept = [e for e in data.get("edges", []) if id not in (e.get("from"), e.get("to"))]
        joined = ""
        if rejoin and len(incoming) == 1 and len(outgoing) == 1:
            source, target = incoming[0]["from"], outgoing[0]["to"]
            if source != target and not any((e.get("from"), e.get("to")) == (source, target) for e in kept):
                position = sum(1 for e in data["edges"][: data["edges"].index(incoming[0])] if e in kept)
                kept.insert(position, {**incoming[0], "to": target})
                joined = f"; joined `{source}` → `{target}`"
        elif rejoin and (incoming or outgoing):
            joined = f" (not re-joined: {len(incoming)} way(s) in, {len(outgoing)} out; connect them as needed)"
        for node in data["nodes"]:
            if "reviews" in node:
                node["reviews"] = _rename_in_list(node["reviews"], id, None)
                if not node["reviews"]:
                    node.pop("reviews")
        data["edges"] = kept
        removed = before - len(kept) + (1 if joined.startswith(";") else 0)
        return self._commit(data, f"Deleted step `{id}` and its {removed} connection(s){joined}.")

    # ------------------------------------------------------------------ edges

    def _check_edge(self, source: str, target: str, when: str | None) -> None:
        known = set(self.options_for("nodes"))
        for end in (source, target):
            if end not in known:
                raise EditRefused(f"there is no step `{end}`; add it first or pick one from the list")
        if when:
            problem = self.check_condition(when)
            if problem is not None:
                raise EditRefused(problem)

    def add_edge(
        self,
        src: str,
        dst: str,
        when: str | None = None,
        default: bool = False,
        label: str | None = None,
        **fields: Any,
    ) -> Workflow:
        """Connect two steps; ``when`` is a condition in the safe language (checked first)."""
        when = when.strip() if isinstance(when, str) and when.strip() else None
        self._check_edge(src, dst, when)
        if any(e.source == src and e.target == dst for e in self._workflow.edges):
            raise EditRefused(f"`{src}` → `{dst}` is already connected; change that connection instead")
        item: dict[str, Any] = {"from": src, "to": dst}
        self._apply_fields(item, {"when": when, "default": default or None, "label": label, **fields})
        data = self._data()
        data.setdefault("edges", []).append(item)
        condition = f" when {when}" if when else " (otherwise)" if default else ""
        return self._commit(data, f"Connected `{src}` → `{dst}`{condition}.")

    def update_edge(self, index: int, **fields: Any) -> Workflow:
        """Change connection ``index`` (``source``/``target`` or ``from``/``to``, ``when``, ``default``, ``label``)."""
        if not 0 <= index < len(self._workflow.edges):
            raise EditRefused(f"there is no connection number {index}")
        data = self._data()
        item = data["edges"][index]
        if "default" in fields:
            fields["default"] = bool(fields["default"]) or None
        self._apply_fields(item, fields)
        self._check_edge(item["from"], item["to"], item.get("when"))
        for other, edge in enumerate(data["edges"]):
            if other != index and (edge.get("from"), edge.get("to")) == (item["from"], item["to"]):
                raise EditRefused(
                    f"`{item['from']}` → `{item['to']}` is already connected; change that connection instead"
                )
        return self._commit(data, f"Changed connection `{item['from']}` → `{item['to']}`.")

    def delete_edge(self, index: int) -> Workflow:
        if not 0 <= index < len(self._workflow.edges):
            raise EditRefused(f"there is no connection number {index}")
        edge = self._workflow.edges[index]
        data = self._data()
        data["edges"].pop(index)
        return self._commit(data, f"Deleted connection `{edge.source}` → `{edge.target}`.")

    # ------------------------------------------------------------------ actors, tools, data sources

    def add_actor(self, kind: str, id: str, name: str | None = None, **fields: Any) -> Workflow:
        """Add an agent, a human pool or a system (``capacity``, ``version``, ``tools``, ``duration``...)."""
        if kind not in ACTOR_KINDS:
            raise EditRefused(f"`{kind}` is not a kind of actor; use agent, human or system")
        actor_id = self._require_new_id("actors", id)
        item: dict[str, Any] = {"id": actor_id, "kind": kind}
        self._apply_fields(item, {"name": name, **fields})
        data = self._data()
        data.setdefault("actors", []).append(item)
        return self._commit(data, f"Added {kind} `{actor_id}`.")

    def update_actor(self, actor_id: str, /, **fields: Any) -> Workflow:
        """Change an actor; ``id=`` renames it everywhere it is used."""
        return self._update_item("actors", actor_id, fields, self._rename_actor)

    def delete_actor(self, id: str) -> Workflow:
        """Delete an actor; steps it did are left without an actor (the findings show them)."""
        return self._delete_item("actors", id, self._rename_actor)

    def add_tool(self, id: str, tier: str = "read_only", name: str | None = None, **fields: Any) -> Workflow:
        """Add a tool with its permission tier (``rate_limit={"calls": 60, "per": "1m"}``, ``timeout``...)."""
        if tier not in TIERS:
            raise EditRefused(f"`{tier}` is not a permission tier; use {', '.join(TIERS)}")
        tool_id = self._require_new_id("tools", id)
        item: dict[str, Any] = {"id": tool_id, "tier": tier}
        self._apply_fields(item, {"name": name, **fields})
        data = self._data()
        data.setdefault("tools", []).append(item)
        return self._commit(data, f"Added {tier.replace('_', ' ')} tool `{tool_id}`.")

    def update_tool(self, tool_id: str, /, **fields: Any) -> Workflow:
        return self._update_item("tools", tool_id, fields, self._rename_tool)

    def delete_tool(self, id: str) -> Workflow:
        """Delete a tool and take it off every agent and step that listed it."""
        return self._delete_item("tools", id, self._rename_tool)

    def add_data_source(self, id: str, system: str | None = None, **fields: Any) -> Workflow:
        """Add a data source (``freshness="15m"``, ``contains_pii=True``...)."""
        source_id = self._require_new_id("data_sources", id)
        item: dict[str, Any] = {"id": source_id}
        self._apply_fields(item, {"system": system, **fields})
        data = self._data()
        data.setdefault("data_sources", []).append(item)
        return self._commit(data, f"Added data source `{source_id}`.")

    def update_data_source(self, source_id: str, /, **fields: Any) -> Workflow:
        return self._update_item("data_sources", source_id, fields, self._rename_data_source)

    def delete_data_source(self, id: str) -> Workflow:
        return self._delete_item("data_sources", id, self._rename_data_source)

    def update_metadata(self, **fields: Any) -> Workflow:
        """Change the name, version, owner, description or tags."""
        data = self._data()
        self._apply_fields(data["metadata"], fields)
        return self._commit(data, "Changed the workflow's details.")

    # ------------------------------------------------------------------ policies and simulation settings

    def update_policies(self, **fields: Any) -> Workflow:
        """Change the guardrails: ``max_turns``, ``max_repeats`` (``"off"`` disables the loop guard),
        ``approval_sla`` (a duration such as ``4h``), ``escalate_to`` (a human pool), ``escalation`` (a
        chain: ``[{"to": "team_leads", "after": "4h"}, ...]``, instead of those two), ``retries``,
        ``autonomy`` (one of :data:`AUTONOMY`). None or empty puts a field back to its default."""
        unknown = sorted(set(fields) - set(POLICY_FIELDS))
        if unknown:
            raise EditRefused(f"`{unknown[0]}` is not a policy here; use one of {', '.join(POLICY_FIELDS)}")
        escalate = _clean(fields.get("escalate_to"))
        if not _blank(escalate) and escalate not in self.options_for("humans"):
            pools = ", ".join(f"`{h}`" for h in self.options_for("humans")) or "none yet: add one under People & agents"
            raise EditRefused(f"policies `escalate_to`: `{escalate}` is not a human pool; pick one of {pools}")
        autonomy = _clean(fields.get("autonomy"))
        if not _blank(autonomy) and autonomy not in AUTONOMY:
            raise EditRefused(f"policies `autonomy`: `{autonomy}` is not an autonomy level; use {', '.join(AUTONOMY)}")
        data = self._data()
        policies = data.setdefault("policies", {})
        if isinstance(fields.get("max_repeats"), str) and fields["max_repeats"].strip().lower() in ("off", "none"):
            policies["max_repeats"] = None  # an explicit null: the loop guard is off
            fields = {k: v for k, v in fields.items() if k != "max_repeats"}
        _set_fields(policies, fields)
        if not policies:
            data.pop("policies")
        try:
            after = Workflow.model_validate(data).policies.model_dump()
        except ValidationError as exc:
            self.message = f"Not changed: {_explain(exc, data)}"
            raise EditRefused(self.message) from None
        before = self._workflow.policies.model_dump()
        changed = [f"`{key}`" for key in POLICY_FIELDS if before.get(key) != after.get(key)]
        if not changed:
            self.message = "The policies are as they were: nothing to change."
            return self._workflow
        return self._commit(data, f"Changed the policies ({', '.join(changed)}).")

    def update_simulation(  # noqa: C901 - one branch per setting
        self,
        *,
        process: str | None = None,
        rate: str | float | None = None,
        interval: str | float | None = None,
        column: str | None = None,
        calendar: Mapping[str, Any] | EllipsisType | None = ...,
        **fields: Any,
    ) -> Workflow:
        """Change the simulation settings: ``seed``, ``start`` (ISO time of the first arrival),
        ``cases``, ``sample_data``, ``gold_data`` (paths relative to the workflow file, which must
        exist there) and the arrivals: ``process`` ``poisson`` with ``rate`` (``"30/h"``), ``fixed``
        with ``interval`` (``"2m"``) or ``column`` with ``column`` (a sample-data column holding each
        case's arrival). ``calendar`` (``{"days": [...], "hours": "09:00-17:00", "timezone": ...}``)
        limits poisson and fixed arrivals to working time; None removes it, left out it is kept (a
        column process has none). None or empty puts a field back to its default."""
        unknown = sorted(set(fields) - set(SIMULATION_FIELDS))
        if unknown:
            raise EditRefused(
                f"`{unknown[0]}` is not a simulation setting here; use one of {', '.join(SIMULATION_FIELDS)}, "
                "process, rate, interval or column"
            )
        for key in ("sample_data", "gold_data"):
            value = _clean(fields.get(key))
            if not _blank(value):
                self._check_data_file(key, str(value))
        data = self._data()
        simulation = data.setdefault("simulation", {})
        _set_fields(simulation, fields)
        arrival_params = {"rate": rate, "interval": interval, "column": column}
        note = ""
        arrivals_changed = (
            process is not None or calendar is not ... or any(not _blank(v) for v in arrival_params.values())
        )
        if arrivals_changed:
            current = self._workflow.simulation.arrivals.model_dump(mode="json")
            kind = _clean(process) or current["process"]
            if kind not in ARRIVALS:
                raise EditRefused(f"arrivals `process`: `{kind}` is not an arrival process; use {', '.join(ARRIVALS)}")
            param = ARRIVALS[kind]
            value = _clean(arrival_params[param])
            if _blank(value):
                value = current.get(param)  # kept when the process stays (each process has its own parameter)
            if _blank(value):
                raise EditRefused(f"arrivals `{kind}` needs `{param}` (e.g. `{ARRIVAL_EXAMPLES[param]}`)")
            if param == "column" and self.cases is not None and value not in self.cases.columns:
                raise EditRefused(
                    f"arrivals `column`: the sample data has no column `{value}`; "
                    f"pick one of {', '.join(f'`{c}`' for c in self.cases.columns[:12])}"
                )
            simulation["arrivals"] = {"process": kind, param: value}
            kept = current.get("calendar") if calendar is ... else calendar
            if kept and kind != "column":
                simulation["arrivals"]["calendar"] = dict(kept)
            elif kept and calendar is not ...:
                raise EditRefused(
                    "arrivals `calendar`: arrivals from a data column have no calendar (each case's arrival "
                    "is in the data); choose poisson or fixed arrivals, or leave the calendar empty"
                )
            elif kept:
                note = " (the arrival calendar is dropped: arrivals from a data column have none)"
        if not simulation:
            data.pop("simulation")
        changed = [*fields, *(["arrivals"] if arrivals_changed else [])]
        # another sample file is read on next use: the cache is keyed on the file's path and time
        return self._commit(
            data, f"Changed the simulation settings ({', '.join(f'`{k}`' for k in changed)}){note}."
        )

    def _check_data_file(self, key: str, name: str) -> None:
        folder = (self.path or self._base or Path("workflow.yaml")).parent
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise EditRefused(
                f"simulation `{key}`: `{name}` is outside the workflow's folder; copy the file next to the "
                "workflow and give its name (e.g. `sample.csv`)"
            )
        if not (folder / relative).is_file():
            raise EditRefused(
                f"simulation `{key}`: there is no file `{name}` in `{folder}`; put the CSV/JSONL there "
                "or give its path relative to the workflow file"
            )

    def _update_item(self, section: Section, item_id: str, fields: dict[str, Any], rename: _Rename) -> Workflow:
        index = self._index_of(section, item_id)
        data = self._data()
        item = data[section][index]
        new_id = fields.pop("id", None)
        new_id = new_id.strip() if isinstance(new_id, str) else new_id
        kind_given = section == "actors" and "kind" in fields
        if kind_given and fields["kind"] not in ACTOR_KINDS:
            raise EditRefused(f"`{fields['kind']}` is not a kind of actor; use agent, human or system")
        self._apply_fields(item, fields)
        dropped = _change_kind(item, _ACTOR_MODELS) if kind_given else ""
        note = ""
        if new_id and new_id != item_id:
            new_id = self._require_new_id(section, new_id)
            item["id"] = new_id
            rename(data, item_id, new_id)
            note = f" (renamed to `{new_id}`)"
        return self._commit(data, f"Changed {_SINGULAR[section]} `{item_id}`{note}{dropped}.")

    def _delete_item(self, section: Section, item_id: str, rename: _Rename) -> Workflow:
        index = self._index_of(section, item_id)
        data = self._data()
        data[section].pop(index)
        users = self._users_of(section, item_id)
        rename(data, item_id, None)
        note = f"; {', '.join(f'`{u}`' for u in users)} no longer use it" if users else ""
        return self._commit(data, f"Deleted {_SINGULAR[section]} `{item_id}`{note}.")

    def _users_of(self, section: Section, item_id: str) -> list[str]:
        users: list[str] = []
        wf = self._workflow
        for node in wf.nodes:
            refs: list[str] = []
            if section == "actors":
                refs = [getattr(node, "actor", None) or "", getattr(node, "escalate_to", None) or "",
                        *(level.to for level in getattr(node, "escalation", None) or ())]
            elif section == "tools":
                refs = list(getattr(node, "tools", []))
            elif section == "data_sources":
                refs = [*getattr(node, "reads", []), *getattr(node, "writes", [])]
            if item_id in refs:
                users.append(node.id)
        if section == "tools":
            users += [a.id for a in wf.actors if isinstance(a, (Agent, System)) and item_id in a.tools]
        return users

    @staticmethod
    def _rename_actor(data: dict[str, Any], old: str, new: str | None) -> None:
        for node in data.get("nodes", []):
            for key in ("actor", "escalate_to"):
                if node.get(key) == old:
                    if new is None:
                        node.pop(key)
                    else:
                        node[key] = new
            _rename_in_chain(node, old, new)
        policies = data.get("policies", {})
        if policies.get("escalate_to") == old:
            if new is None:
                policies.pop("escalate_to")
            else:
                policies["escalate_to"] = new
        _rename_in_chain(policies, old, new)

    @staticmethod
    def _rename_tool(data: dict[str, Any], old: str, new: str | None) -> None:
        for item in [*data.get("nodes", []), *data.get("actors", [])]:
            if "tools" in item:
                item["tools"] = _rename_in_list(item["tools"], old, new)
                if not item["tools"]:
                    item.pop("tools")
        tools = data.get("simulation", {}).get("tools")
        if isinstance(tools, dict) and old in tools:
            behaviour = tools.pop(old)
            if new is not None:
                tools[new] = behaviour

    @staticmethod
    def _rename_data_source(data: dict[str, Any], old: str, new: str | None) -> None:
        for item in [*data.get("nodes", []), *data.get("tools", [])]:
            for key in ("reads", "writes"):
                if key in item:
                    item[key] = _rename_in_list(item[key], old, new)
                    if not item[key]:
                        item.pop(key)


def _rename_in_chain(item: dict[str, Any], old: str, new: str | None) -> None:
    """Rename a pool in an escalation chain (``escalation``), or drop its levels when it is deleted (and
    the chain when no level is left)."""
    chain = item.get("escalation")
    if not chain:
        return
    kept = [{**level, "to": new} if level.get("to") == old else level
            for level in chain if new is not None or level.get("to") != old]
    if kept:
        item["escalation"] = kept
    else:
        item.pop("escalation")
