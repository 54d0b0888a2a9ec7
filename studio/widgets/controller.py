"""The studio's editing logic in plain Python: no widgets here, so all of it is tested without a browser.

:class:`StudioController` holds one :class:`~studio.model.Workflow` and changes it only through
its methods. Every edit works on a plain-data copy of the workflow, is validated by pydantic into a
new ``Workflow`` and only then replaces the old one, so an edit that would make the model invalid
is refused (:class:`EditRefused`, with a message naming the element and the fix) and nothing
changes. Each accepted edit is one step on the undo stack and, when the studio was opened on a
file, is saved to that file at once (atomically; a failed save keeps the edit in memory and says
why in :attr:`StudioController.message`).

The view (``studio.widgets.studio``) only wires ipywidgets to these methods and properties::

    edits      add_node, insert_step, update_node, delete_node (rejoin=), add_edge, update_edge, delete_edge,
               add_actor / update_actor / delete_actor, add_tool / ..., add_data_source / ...,
               update_metadata, update_policies, update_simulation, undo, redo
    files      save, load, new_blank, from_template, copy_template (keeps an existing copy),
               rotating backups of every autosave (studio._backup)
    reading    workflow, findings, diagram_svg, check_condition, select_finding, options_for
    simulate   run_simulation, compare_scenarios, parse_scenario   (studio.simulate)
    walk       start_walkthrough, answer, walkthrough_state          (studio.simulate.Walkthrough)
    export     export                                                (studio.export when present)
"""

from __future__ import annotations

from studio.widgets._controller_edits import ItemEdits
from studio.widgets._controller_runs import Runs
from studio.widgets._edit_support import (
    ACTOR_KINDS,
    ARRIVAL_EXAMPLES,
    ARRIVALS,
    AUTONOMY,
    BOUNDS,
    DISTRIBUTIONS,
    NUMBER_PARAMS,
    POLICY_FIELDS,
    SIMULATION_FIELDS,
    TIERS,
    EditRefused,
    ExportResult,
    copy_template,
    describe_distribution,
    make_distribution,
    models_by_kind,
    parse_output_models,
    parse_scenario,
)

__all__ = [
    "ACTOR_KINDS",
    "ARRIVALS",
    "ARRIVAL_EXAMPLES",
    "AUTONOMY",
    "BOUNDS",
    "DISTRIBUTIONS",
    "NUMBER_PARAMS",
    "POLICY_FIELDS",
    "SIMULATION_FIELDS",
    "TIERS",
    "EditRefused",
    "ExportResult",
    "StudioController",
    "copy_template",
    "describe_distribution",
    "make_distribution",
    "models_by_kind",
    "parse_output_models",
    "parse_scenario",
]


class StudioController(ItemEdits, Runs):
    """Holds the workflow being mapped, with undo/redo, autosave, findings and the diagram.

    ``workflow_or_path`` is a :class:`Workflow`, or the path of a workflow file: then every
    accepted edit is saved to that file (``autosave=False`` turns that off). ``lanes`` chooses the
    diagram's swimlanes (``"actor"``, ``"kind"`` or ``"none"``), ``direction`` its layout
    (``"TB"`` top to bottom, the default, or ``"LR"`` left to right as ``studio render`` draws it)
    and ``key`` whether the diagram carries its key of shapes and colours.
    """
